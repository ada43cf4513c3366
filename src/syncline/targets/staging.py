"""The in-database engine's target side: stage source rows in a temporary table of the
target, then count, read and apply the differences with set-based SQL.

The stage has the target columns' own types, so the database compares like with like;
``IS DISTINCT FROM`` (``<=>`` on MySQL, ``IS NOT`` on SQLite, rendered by SQLAlchemy)
makes NULLs compare equal. Text is compared byte for byte where the target's collation
would call 'a' and 'A' equal. Temporary tables live and die with the run's connection, are
never seen by other sessions, carry a name no other run shares, and are dropped by their
temporary-schema name, so a dry run leaves the target (and any user table) as it was.

Applying is compare-and-set: :func:`classify` keeps the target's values as it read them
(``old``), and every UPDATE and DELETE touches a row only while it still holds exactly
those values; every statement must change exactly the number of rows that was counted
and judged by the guards (:class:`CountMismatch` otherwise, and the run rolls back). So a
row an application changed after the run read it is never overwritten or deleted, and a
row it inserted meanwhile is never deleted.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from syncline.diff import Key
from syncline.targets.dialect import Session

ROW = "_syncline_row"
OP = "_syncline_op"
#: the diff table's copy of the target's values as read, per field: ``_syncline_old_<i>``
OLD = "_syncline_old_{}"


class CountMismatch(Exception):
    """A statement changed another number of rows than the run counted (and guarded)."""

    def __init__(self, what: str, expected: int, actual: int) -> None:
        super().__init__(f"{what}: {actual} rows changed where {expected} were counted")
        self.what, self.expected, self.actual = what, expected, actual


def execute_counted(session: Session, what: str, expected: int, statement: Any,
                    params: Any = None) -> None:
    """Execute ``statement``: it must change exactly ``expected`` rows."""
    result = session.conn.execute(statement, params,
                                  execution_options={"preserve_rowcount": True})
    if result.rowcount != expected:
        raise CountMismatch(what, expected, result.rowcount)


@dataclass
class Stage:
    """A temporary table holding one importer's validated source rows."""

    table: sa.Table
    target: sa.Table
    key: tuple[str, ...]
    fields: tuple[str, ...]
    #: where rows are loaded: the stage itself, or a heap to be copied in key order
    loading: sa.Table
    protect: sa.Table | None = None
    #: the stage's key index is unique: no duplicate keys were staged
    unique: bool = False
    #: the creates and updates, with their values (see :func:`classify`)
    diff: sa.Table | None = None
    #: the target was empty: every staged row is a create (no diff table)
    all_new: bool = False
    #: ``init_record``'s defaults of the creates, by key (see :func:`load_initial`)
    initial: sa.Table | None = None
    initial_fields: tuple[str, ...] = ()
    #: key and row number of the unchanged rows (see :func:`mark_unchanged`)
    same: sa.Table | None = None


def create_stage(session: Session, name: str, fields: Sequence[str],
                 key: Sequence[str]) -> Stage:
    target = session.table(name)
    # never a name a user table could already have by accident, nor another run's
    number = secrets.token_hex(6)
    metadata = sa.MetaData()

    # where index DDL would end the transaction (MySQL), the key is indexed from the start
    keyed = session.dialect.implicit_commit_ddl

    def temporary(table_name: str) -> sa.Table:
        table = sa.Table(table_name, metadata,
                         *(sa.Column(f, target.c[f].type, primary_key=keyed and f in key)
                           for f in fields),
                         sa.Column(ROW, sa.Integer, primary_key=keyed, autoincrement=False),
                         prefixes=["TEMPORARY"])
        table.create(session.conn)
        session.temporary.append(table.name)
        return table

    stage = temporary(f"syncline_stage_{number}")
    loading = (temporary(f"syncline_load_{number}")
               if session.dialect.sort_stage else stage)
    return Stage(stage, target, tuple(key), tuple(fields), loading)


def load(session: Session, stage: Stage, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows (driver values in ``fields`` order, then the row number)."""
    if rows:
        session.dialect.bulk_load(session, stage.loading, [*stage.fields, ROW], rows)


def load_arrow(session: Session, stage: Stage, batch: Any) -> bool:
    """Insert a ``pyarrow.RecordBatch`` of canonical values (``fields``, then the row
    number) in bulk; False where the database has no Arrow path (nothing was loaded)."""
    return session.dialect.bulk_load_arrow(session, stage.loading, [*stage.fields, ROW], batch)


def index(session: Session, stage: Stage) -> None:
    """Make the loaded stage ready to join: in key order where the database joins by
    walking an index (SQLite: a join that visits the target in key order reads each page
    once; in file order it jumps about the pages), indexed by key, with statistics."""
    s = stage.table
    if stage.loading is not s:
        rows: Any = stage.loading
        elsewhere = session.dialect.loaded_elsewhere(session, stage.loading)
        if elsewhere is not None:  # rows a bulk path put in a table of its own
            rows = sa.union_all(sa.select(stage.loading), sa.select(elsewhere)).subquery()
        session.conn.execute(s.insert().from_select(
            [c.name for c in s.columns],
            sa.select(rows).order_by(*(rows.c[k] for k in stage.key), rows.c[ROW])))
        # still dropped again when the session closes: a rollback may bring it back
        session.drop_temporary(stage.loading.name)
        stage.loading = s
    dialect = session.dialect
    if dialect.implicit_commit_ddl or not dialect.index_stage:
        dialect.analyze(session.conn, s)
        return
    # a unique index proves there are no duplicate keys for the price of the index;
    # only when it fails are the duplicates looked for (stage.unique tells which)
    try:
        with session.conn.begin_nested():
            sa.Index(f"{s.name}_key", *(s.c[k] for k in stage.key), unique=True).create(
                session.conn)
        stage.unique = True
    except sa.exc.IntegrityError:
        sa.Index(f"{s.name}_key", *(s.c[k] for k in stage.key)).create(session.conn)
    dialect.analyze(session.conn, s)


def duplicates(session: Session, stage: Stage) -> list[tuple[Key, list[int]]]:
    """Keys staged more than once, with their row numbers."""
    if stage.unique:
        return []
    s = stage.table
    keys = [s.c[k] for k in stage.key]
    dup_keys = session.conn.execute(
        sa.select(*keys).group_by(*keys).having(sa.func.count() > 1)).all()
    if not dup_keys:
        return []
    found: dict[Key, list[int]] = {}
    for start in range(0, len(dup_keys), 500):
        chunk = [tuple(k) for k in dup_keys[start:start + 500]]
        condition = (keys[0].in_([k[0] for k in chunk]) if len(keys) == 1
                     else sa.tuple_(*keys).in_(chunk))
        for row in session.conn.execute(sa.select(*keys, s.c[ROW]).where(condition)):
            key = tuple(row[:-1])
            if session.dialect.case_insensitive_keys:
                # the database grouped 'abc' with 'ABC': so must the report
                key = tuple(session.dialect.fold_text_key(p) if isinstance(p, str) else p
                            for p in key)
            found.setdefault(key, []).append(row[-1])
    return [(k, sorted(rows)) for k, rows in found.items()]


def drop_rows(session: Session, stage: Stage, rows: Sequence[int]) -> None:
    for start in range(0, len(rows), 1000):
        session.conn.execute(stage.table.delete().where(
            stage.table.c[ROW].in_(rows[start:start + 1000])))


def protect(session: Session, stage: Stage, keys: Sequence[tuple[Any, ...]]) -> None:
    """Keys whose source rows were rejected: never updated nor deleted (called once per
    batch of keys)."""
    table = stage.protect
    if table is None:
        table = sa.Table(f"{stage.table.name}_protect", sa.MetaData(),
                         *(sa.Column(k, stage.target.c[k].type) for k in stage.key),
                         prefixes=["TEMPORARY"])
        table.create(session.conn)
        session.temporary.append(table.name)
    session.conn.execute(table.insert(), [dict(zip(stage.key, k, strict=True)) for k in keys])
    stage.protect = table


def _key_not_null(stage: Stage) -> list[sa.ColumnElement[bool]]:
    return [stage.target.c[k].is_not(None) for k in stage.key]


# -- the three sets, as SQL -----------------------------------------------------------
def _match(stage: Stage, other: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(*(stage.target.c[k] == other.c[k] for k in stage.key))


def _unprotected(stage: Stage) -> list[sa.ColumnElement[bool]]:
    if stage.protect is None:
        return []
    return [~sa.exists().where(_match(stage, stage.protect))]


def _differs(session: Session, stage: Stage) -> sa.ColumnElement[bool]:
    s, t = stage.table, stage.target
    compare = session.dialect.comparable
    parts = [compare(s.c[f]).is_distinct_from(compare(t.c[f])) for f in stage.fields]
    return sa.or_(*parts) if parts else sa.false()


def classify(session: Session, stage: Stage, *, deletes: bool) -> None:
    """ONE pass over the join: the staged rows that are creates ('c') or updates ('u'),
    with their new values and the target's old ones, into a small table that counting,
    reading back and applying use; with ``deletes``, the target rows the source lacks
    ('d', old values only) too — so a delete removes only rows this run saw."""
    s, t = stage.table, stage.target
    if session.conn.execute(sa.select(sa.literal(1)).select_from(t).limit(1)).first() is None:
        stage.all_new = True  # an empty target: every staged row is a create, no join
        return
    diff = sa.Table(f"{s.name}_diff", sa.MetaData(),
                    *(sa.Column(f, t.c[f].type) for f in stage.fields),
                    sa.Column(ROW, sa.Integer), sa.Column(OP, sa.String(1)),
                    *(sa.Column(OLD.format(i), t.c[f].type) for i, f in enumerate(stage.fields)),
                    prefixes=["TEMPORARY"])
    diff.create(session.conn)
    session.temporary.append(diff.name)
    stage.diff = diff
    olds = [OLD.format(i) for i in range(len(stage.fields))]
    missing = t.c[stage.key[0]].is_(None)
    changed = sa.and_(_differs(session, stage), *_unprotected(stage))
    query = (sa.select(*(s.c[f] for f in stage.fields), s.c[ROW],
                       sa.case((missing, "c"), else_="u"), *(t.c[f] for f in stage.fields))
             .select_from(s.outerjoin(t, _match(stage, s)))
             .where(sa.or_(missing, changed)))
    session.conn.execute(diff.insert().from_select([*stage.fields, ROW, OP, *olds], query))
    if deletes:
        # a NULL key matches nothing and cannot be addressed: never a delete (skipped)
        gone = (sa.select(sa.literal("d"), *(t.c[f] for f in stage.fields)).select_from(t)
                .where(~sa.exists().where(_match(stage, s)), *_unprotected(stage),
                       *_key_not_null(stage)))
        session.conn.execute(diff.insert().from_select([OP, *olds], gone))
        dialect = session.dialect
        if dialect.index_stage and not dialect.implicit_commit_ddl:
            # the delete probes the diff table once per target row it could remove
            sa.Index(f"{diff.name}_old", *(diff.c[OLD.format(stage.fields.index(k))]
                                          for k in stage.key)).create(session.conn)


def _creates(stage: Stage) -> tuple[sa.Table, list[sa.ColumnElement[bool]]]:
    """The table the creates are in, and the condition that picks them."""
    if stage.all_new:
        return stage.table, []
    d = _diff(stage)
    return d, [d.c[OP] == "c"]


def created_keys(stage: Stage) -> sa.Select[Any]:
    """Key and row number of the creates."""
    table, where = _creates(stage)
    return sa.select(*(table.c[k] for k in stage.key), table.c[ROW]).where(*where)


def load_initial(session: Session, stage: Stage, columns: Sequence[str],
                 rows: Sequence[tuple[Any, ...]]) -> None:
    """``init_record``'s defaults of some creates: rows of the key (as staged), then the
    values of ``columns``; the creates are inserted joined with them (one statement)."""
    table = stage.initial
    if table is None:
        t = stage.target
        table = sa.Table(f"{stage.table.name}_init", sa.MetaData(),
                         *(sa.Column(k, t.c[k].type, primary_key=True) for k in stage.key),
                         *(sa.Column(c, t.c[c].type) for c in columns),
                         prefixes=["TEMPORARY"])
        table.create(session.conn)
        session.temporary.append(table.name)
        stage.initial, stage.initial_fields = table, tuple(columns)
    if rows:
        names = table.c.keys()
        session.conn.execute(table.insert(), [dict(zip(names, r, strict=True)) for r in rows])


def _with_initial(stage: Stage, table: sa.Table
                  ) -> tuple[Any, list[sa.ColumnElement[Any]]]:
    """``table`` joined with the creates' defaults, and the defaults' columns."""
    i = stage.initial
    if i is None:
        return table, []
    joined = table.outerjoin(i, sa.and_(*(table.c[k] == i.c[k] for k in stage.key)))
    return joined, [i.c[c] for c in stage.initial_fields]


def created_rows(stage: Stage) -> sa.Select[Any]:
    """Values and row numbers of the creates, then their ``init_record`` defaults."""
    table, where = _creates(stage)
    joined, extra = _with_initial(stage, table)
    return (sa.select(*(table.c[f] for f in stage.fields), table.c[ROW], *extra)
            .select_from(joined).where(*where))


def updated_rows(stage: Stage) -> sa.Select[Any]:
    """New values, row number, then the target's old values, of the updates."""
    d = _diff(stage)
    return (sa.select(*(d.c[f] for f in stage.fields), d.c[ROW],
                      *(d.c[OLD.format(i)] for i in range(len(stage.fields))))
            .where(d.c[OP] == "u"))


def unchanged_rows(session: Session, stage: Stage) -> sa.Select[Any]:
    """Key and row number of the staged rows equal to their target record."""
    s, t = stage.table, stage.target
    return (sa.select(*(s.c[k] for k in stage.key), s.c[ROW])
            .select_from(s.join(t, _match(stage, s)))
            .where(sa.not_(_differs(session, stage))).order_by(s.c[ROW]))


def mark_unchanged(session: Session, stage: Stage) -> None:
    """Keep the key and row number of the unchanged rows (:func:`unchanged_rows`) in a
    table of their own, before applying makes the updated rows equal too: read back after
    the commit's writes, in batches, by :func:`marked_unchanged`."""
    s = stage.table
    table = sa.Table(f"{s.name}_same", sa.MetaData(),
                     *(sa.Column(k, s.c[k].type) for k in stage.key),
                     sa.Column(ROW, sa.Integer), prefixes=["TEMPORARY"])
    table.create(session.conn)
    session.temporary.append(table.name)
    query = unchanged_rows(session, stage).order_by(None)
    session.conn.execute(table.insert().from_select([*stage.key, ROW], query))
    stage.same = table


def marked_unchanged(stage: Stage) -> sa.Select[Any]:
    """Key and row number of the rows :func:`mark_unchanged` kept, by row number."""
    assert stage.same is not None, "mark_unchanged() first"
    return sa.select(stage.same).order_by(stage.same.c[ROW])


def deleted_rows(stage: Stage) -> sa.Select[Any]:
    """The old values of the deletes."""
    d = _diff(stage)
    return (sa.select(*(d.c[OLD.format(i)] for i in range(len(stage.fields))))
            .where(d.c[OP] == "d"))


def changed_keys(stage: Stage, ops: Sequence[str]) -> sa.Select[Any]:
    """The key of each create and update (as written) or delete (as read) among ``ops``,
    then its operation letter, named as the key columns and :data:`OP`."""
    key = stage.key
    if stage.all_new:
        s = stage.table
        return (sa.select(*(s.c[k] for k in key), sa.literal("c").label(OP))
                .where(sa.literal("c").in_(list(ops))))
    d = _diff(stage)
    writes = [op for op in ops if op != "d"]
    parts = []
    if writes:
        parts.append(sa.select(*(d.c[k] for k in key), d.c[OP]).where(d.c[OP].in_(writes)))
    if "d" in ops:
        parts.append(sa.select(*(d.c[OLD.format(stage.fields.index(k))].label(k) for k in key),
                               d.c[OP]).where(d.c[OP] == "d"))
    return parts[0] if len(parts) == 1 else sa.union_all(*parts).subquery().select()


def _diff(stage: Stage) -> sa.Table:
    assert stage.diff is not None, "classify() first"
    return stage.diff


def counts(session: Session, stage: Stage, staged: int) -> dict[str, int]:
    """Counted by the database: ``created``, ``updated`` (the diff table's rows),
    ``unchanged`` (matched target rows equal to their source row), ``deleted`` (exact
    when :func:`classify` listed the deletes, else 0), ``left`` (target rows neither
    matched-and-equal, updated nor deleted: unmatched ones when deletes are off, NULL
    keys, and the records of protected keys that differ from the source) and
    ``target_rows``. The stage must hold one row per key (duplicates resolved), and the
    target too (:func:`target_duplicates`): then ``staged - created`` target rows matched.
    ``unchanged + updated + deleted + left == target_rows`` (docs/engines.md)."""
    if stage.all_new:
        return {"created": staged, "updated": 0, "unchanged": 0, "deleted": 0, "left": 0,
                "target_rows": 0}
    s, d, t = stage.table, _diff(stage), stage.target
    conn = session.conn
    by_op = {op: int(n) for op, n in conn.execute(
        sa.select(d.c[OP], sa.func.count()).group_by(d.c[OP]))}
    created, updated, deleted = by_op.get("c", 0), by_op.get("u", 0), by_op.get("d", 0)
    matched = staged - created
    target_rows = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
    protected_differing = 0
    if stage.protect is not None:
        protected_differing = conn.execute(
            sa.select(sa.func.count()).select_from(s.join(t, _match(stage, s)))
            .where(_differs(session, stage), sa.exists().where(_match(stage, stage.protect))
                   )).scalar_one()
    unchanged = matched - updated - protected_differing
    left = target_rows - matched - deleted + protected_differing
    return {"created": created, "updated": updated, "unchanged": unchanged,
            "deleted": deleted, "left": left, "target_rows": target_rows}


# -- apply: compare-and-set, each statement checked against its count -------------------
def _as_read(session: Session, stage: Stage, d: sa.Table) -> sa.ColumnElement[bool]:
    """The target row still holds exactly the values the run read (by key and values)."""
    compare = session.dialect.comparable
    t = stage.target
    return sa.and_(*(compare(t.c[f]).is_not_distinct_from(compare(d.c[OLD.format(i)]))
                     for i, f in enumerate(stage.fields)))


#: an inclusive range of source row numbers: apply only these rows (see pinpoint.py)
Rows = tuple[int, int] | None


def _rows(column: Any, rows: Rows) -> list[sa.ColumnElement[bool]]:
    return [] if rows is None else [column.between(*rows)]


def row_numbers(session: Session, stage: Stage, op: str) -> list[int]:
    """The source row numbers of the creates ('c') or updates ('u'), in order."""
    table = stage.table if stage.all_new else _diff(stage)
    query = sa.select(table.c[ROW]).order_by(table.c[ROW])
    if not stage.all_new:
        query = query.where(table.c[OP] == op)
    return [int(r) for r in session.conn.execute(query).scalars()]


def values_of_rows(session: Session, stage: Stage, rows: Sequence[int]
                   ) -> dict[int, tuple[Any, ...]]:
    """The staged values (``fields`` order) of each source row number."""
    table = stage.table
    found: dict[int, tuple[Any, ...]] = {}
    for start in range(0, len(rows), 500):
        query = sa.select(table.c[ROW], *(table.c[f] for f in stage.fields)).where(
            table.c[ROW].in_(rows[start:start + 500]))
        found.update({int(r[0]): tuple(r[1:]) for r in session.conn.execute(query)})
    return found


def drop_refused(session: Session, stage: Stage, rows: Sequence[int]) -> None:
    """Leave refused rows out of what is applied (and read back)."""
    table = stage.table if stage.all_new else _diff(stage)
    for start in range(0, len(rows), 1000):
        session.conn.execute(table.delete().where(table.c[ROW].in_(rows[start:start + 1000])))


def apply_creates(session: Session, stage: Stage, expected: int, rows: Rows = None
                  ) -> None:
    t = stage.target
    table, where = _creates(stage)
    joined, extra = _with_initial(stage, table)  # init_record's defaults, in the same INSERT
    source = (sa.select(*(table.c[f] for f in stage.fields), *extra).select_from(joined)
              .where(*where, *_rows(table.c[ROW], rows))
              .order_by(*(table.c[k] for k in stage.key)))  # key order: fills a B-tree best
    execute_counted(session, "insert", expected,
                    t.insert().from_select([*stage.fields, *stage.initial_fields], source))


def apply_updates(session: Session, stage: Stage, expected: int, rows: Rows = None
                  ) -> None:
    d, t = _diff(stage), stage.target
    # the key too: on a case-insensitive target 'abc' matches 'ABC' and must become it
    statement = (t.update().where(_match(stage, d), d.c[OP] == "u", _as_read(session, stage, d),
                                  *_rows(d.c[ROW], rows))
                 .values({f: d.c[f] for f in stage.fields}))
    execute_counted(session, "update", expected, statement)


def apply_deletes(session: Session, stage: Stage, expected: int) -> None:
    d, t = _diff(stage), stage.target
    criteria = [d.c[OP] == "d", _as_read(session, stage, d),
                *(t.c[k] == d.c[OLD.format(stage.fields.index(k))] for k in stage.key)]
    if session.dialect.delete_using:
        # DELETE ... USING: the planner walks the small diff table and probes the target by
        # its key (MySQL cannot index the diff table without ending the transaction, and a
        # correlated EXISTS there scans it once per target row)
        statement = t.delete().where(*criteria)
    else:
        statement = t.delete().where(sa.exists().where(*criteria))
    execute_counted(session, "delete", expected, statement)
