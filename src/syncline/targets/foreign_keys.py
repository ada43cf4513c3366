"""Foreign keys a run would break, named: the model, the key and the constraint.

Immediate foreign keys refuse the statement that breaks them. An insert or update that
points at a missing parent is a row error, found and named by
:mod:`~syncline.targets.pinpoint`. A delete of a parent that rows of another table still
reference is not split into parts: the whole run fails, and :func:`orphaning_delete` names
the first such key, the child table and the constraint. Deferred foreign keys are checked
once, at the end of the run (PostgreSQL: ``SET CONSTRAINTS ALL IMMEDIATE`` before commit;
SQLite: its own COMMIT, which refuses only violations this transaction added, so rows that
were orphans before the run never block it); :func:`deferred_violation` then names them
while the transaction is still open (from the driver's diagnostics, or by asking the
dialect, ``Dialect.deferred_violation``). Either way nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from syncline.diff import ChangeSet
from syncline.errors import TargetError
from syncline.targets import staging
from syncline.targets.dialect import Session
from syncline.types import ColumnSpec, TypeOptions, to_db

#: deleted keys looked up per query when naming the one still referenced
_KEYS_PER_QUERY = 1_000
_NOTHING = "nothing was written"


def _referencing(session: Session, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(child table, foreign key) of every foreign key that references table ``name``."""
    inspector = sa.inspect(session.conn)
    for child in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(child):
            if fk.get("referred_table") == name and not fk.get("referred_schema"):
                yield child, dict(fk)


def _describe(child: str, fk: dict[str, Any], parent: str) -> str:
    named = f" {fk['name']}" if fk.get("name") else ""
    return (f"foreign key{named} {child}({', '.join(fk['constrained_columns'])})"
            f" -> {parent}({', '.join(fk['referred_columns'])})")


def _doomed(session: Session, parent: sa.Table, changes: ChangeSet,
            specs: dict[str, ColumnSpec], options: TypeOptions, stage: staging.Stage | None
            ) -> Iterator[sa.ColumnElement[bool]]:
    """Conditions on the parent table that together select the rows the run deletes."""
    key_columns = [parent.c[k] for k in changes.key]
    target: Any = key_columns[0] if len(key_columns) == 1 else sa.tuple_(*key_columns)
    if stage is not None:
        deleted = staging.deleted_rows(stage).subquery()
        yield target.in_(sa.select(*(deleted.c[staging.OLD.format(changes.fields.index(k))]
                                     for k in changes.key)))
        return
    index = [changes.fields.index(k) for k in changes.key]
    conv = [to_db(specs[k], options) for k in changes.key]
    for start in range(0, len(changes.deletes), _KEYS_PER_QUERY):
        keys = [tuple(c(d.old_values[i]) for c, i in zip(conv, index, strict=True))
                for d in changes.deletes[start:start + _KEYS_PER_QUERY]]
        yield (key_columns[0].in_([k[0] for k in keys]) if len(keys[0]) == 1
               else sa.tuple_(*key_columns).in_(keys))


def orphaning_delete(session: Session, name: str, changes: ChangeSet,
                     specs: dict[str, ColumnSpec], options: TypeOptions,
                     exc: sa.exc.DBAPIError, stage: staging.Stage | None = None
                     ) -> TargetError:
    """The error for deletes a foreign key refused: the first deleted key that rows of
    another table still reference, that table and the constraint. Runs after the failed
    delete was rolled back to its savepoint, so the rows are there to look at."""
    parent = session.table(name)
    advice = (f"; {_NOTHING}. Delete the referencing rows in the same run (run their model"
              " too, with --delete) or first; a run of some models only may delete a record"
              " only when no other table still refers to it")
    for child_name, fk in _referencing(session, name):
        child = session.table(child_name)
        on = sa.and_(*(child.c[a] == parent.c[b] for a, b in
                       zip(fk["constrained_columns"], fk["referred_columns"], strict=True)))
        keys = [parent.c[k] for k in changes.key]
        for doomed in _doomed(session, parent, changes, specs, options, stage):
            found = session.conn.execute(
                sa.select(*keys, sa.func.count()).select_from(child.join(parent, on))
                .where(doomed).group_by(*keys).limit(1)).first()
            if found is not None:
                key = tuple(found[:-1])
                shown = key[0] if len(key) == 1 else key
                return TargetError(
                    f"cannot delete from table {name}: key {shown!r} is still referenced by"
                    f" {found[-1]} row(s) of table {child_name}"
                    f" ({_describe(child_name, fk, name)}){advice}",
                    model=changes.model, key=key)
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    return TargetError(f"cannot delete from table {name}: a foreign key refused it"
                       f" ({detail}){advice}", model=changes.model)


def deferred_violation(session: Session, exc: sa.exc.DBAPIError) -> TargetError:
    """The error for a commit that deferred foreign keys refused, with the table, key and
    constraint of the first violation (read while the transaction is still open)."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:  # PostgreSQL names them itself
        detail = " ".join(part for part in (str(exc.orig).strip().splitlines()[0],
                                            diag.message_detail) if part)
        return TargetError(f"cannot commit: {detail}; {_NOTHING}",
                           model=_model_of(session, [diag.table_name]))
    found = session.dialect.deferred_violation(session.conn)
    if found is None:
        return TargetError(f"cannot commit: a deferred foreign key refused it; {_NOTHING}")
    child, parent = found.child, found.parent
    fk = {"constrained_columns": found.columns, "referred_columns": found.referred}
    shown = dict(zip(found.columns, found.values or (), strict=False))
    # the parent's model when this run deleted from it; else the child's
    model = _model_of(session, [parent, child] if parent in session.deleted_from
                      else [child, parent])
    return TargetError(
        f"cannot commit: {found.rows} row(s) of table {child} would refer to rows"
        f" missing from table {parent} ({_describe(child, fk, parent)}); first:"
        f" {found.row} with {shown}; {_NOTHING}",
        model=model, key=tuple(shown.values()) if shown else None)


def _model_of(session: Session, tables: Sequence[str | None]) -> str | None:
    for table in tables:
        if table is not None and table in session.models:
            return session.models[table]
    return None
