"""A target table whose key holds duplicates is refused before anything is read or written.

syncline matches each source record to ONE target record by key. A table without a unique
constraint on the key can hold two rows with the same key; then no diff is right (which row
is "the" record to update? a delete by key removes both), and counts would not match what
the SQL does. So a run first asks the database: when the key columns carry a primary key or
a unique constraint/index, nothing is scanned; otherwise one ``GROUP BY key HAVING
count(*) > 1`` query looks for duplicates, and any found fail the run with
:class:`~syncline.errors.KeyProblemError` naming the first keys and their row counts.

Keys are compared as the database compares them (so case-insensitively under MariaDB's
usual collations, as syncline then folds keys). Rows with a NULL key part never match a
source record, so they are not duplicates here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from syncline.errors import KeyProblemError
from syncline.targets.sql import TargetSession, key_in

__all__ = ["check_target_keys", "find_duplicate_keys", "key_is_unique"]

#: duplicate keys named in the error
SHOWN = 10


def check_target_keys(session: TargetSession, table: str, key: Sequence[str],
                      model: str | None = None, keys: Sequence[Any] | None = None) -> None:
    """Raise :class:`KeyProblemError` when ``table`` holds two rows with the same ``key``.

    In keys mode (``keys``: the given keys as bound for the database) only the rows the
    database compares equal to a given key are looked at: a datasync change neither scans
    the whole table nor waits on duplicates of other keys."""
    if session.is_assumed(table) or key_is_unique(session, table, key):
        return
    found, total = find_duplicate_keys(session, table, key, keys=keys)
    if not found:
        return
    shown = ", ".join(f"{_show(k)} ({n} rows)" for k, n in found)
    more = f" and {total - len(found)} more" if total > len(found) else ""
    columns = ", ".join(key)
    raise KeyProblemError(
        f"{model or table}: target table {table!r} has {total} duplicate key(s) in"
        f" ({columns}): {shown}{more}. syncline matches each source record to one target"
        " row by key, so it cannot tell which of them to update or delete; nothing was"
        f" written. Remove the duplicate rows, or add a unique constraint on ({columns})",
        model=model, key=found[0][0], field=key[0],
        problems=[(k, []) for k, _ in found])


def key_is_unique(session: TargetSession, table: str, key: Sequence[str]) -> bool:
    """True when a primary key or unique constraint/index lies within the key columns."""
    inspector = sa.inspect(session.conn)
    wanted = set(key)
    candidates: list[list[Any]] = [
        inspector.get_pk_constraint(table).get("constrained_columns") or []]
    candidates += [u["column_names"] for u in inspector.get_unique_constraints(table)]
    candidates += [list(i["column_names"]) for i in inspector.get_indexes(table)
                   if i.get("unique")]
    return any(columns and None not in columns and set(columns) <= wanted
               for columns in candidates)


def find_duplicate_keys(session: TargetSession, table: str, key: Sequence[str],
                        limit: int = SHOWN, keys: Sequence[Any] | None = None,
                        ) -> tuple[list[tuple[Any, int]], int]:
    """([(key, rows), ...] for the first ``limit`` duplicated keys, number of them); with
    ``keys`` (tuples of key values as bound for the database) only among their rows."""
    target = session.table(table)
    columns = [target.c[k] for k in key]
    where: list[sa.ColumnElement[bool]] = [c.is_not(None) for c in columns]
    if keys is not None:
        where.append(key_in(target, key, keys))
    grouped = (sa.select(*columns, sa.func.count().label("n"))
               .where(*where)
               .group_by(*columns)
               .having(sa.func.count() > 1))
    rows = session.conn.execute(grouped.order_by(*columns).limit(limit)).all()
    if not rows:
        return [], 0
    found = [(row[0] if len(key) == 1 else tuple(row[:-1]), int(row[-1])) for row in rows]
    total = len(found)
    if total == limit:
        total = int(session.conn.execute(
            sa.select(sa.func.count()).select_from(grouped.subquery())).scalar_one())
    return found, total


def _show(key: Any) -> str:
    return repr(key)
