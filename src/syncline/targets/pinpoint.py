"""Apply a set-based write in parts when the database refuses some of its rows.

A set-based statement (``INSERT ... SELECT``, ``UPDATE ... FROM``, an executemany batch)
fails as a whole when one row breaks a constraint, and the database's message names no
source row. Each write runs in a savepoint; when it fails with a row error (see
:func:`~syncline.targets.codes.is_row_error`), the rows are halved and each half tried
again, until every refused row stands alone: k bad rows among n cost about
``2 k log2(n)`` statements, and the good rows are written on the way. Transient errors
and count mismatches are never split: they end the run.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from syncline.targets.codes import is_row_error

#: (index of the refused item, the database's error)
Refusal = tuple[int, sa.exc.DBAPIError]


def apply_in_parts(conn: sa.Connection, total: int, attempt: Callable[[int, int], None],
                   *, stop_after: int | None = None) -> list[Refusal]:
    """Call ``attempt(lo, hi)`` for items ``lo..hi-1``, first all at once, halving what the
    database refuses; the refused items, in order. ``stop_after``: give up splitting after
    that many (the run will not be committed anyway)."""
    refused: list[Refusal] = []
    pending = [(0, total)]
    while pending:
        lo, hi = pending.pop()
        try:
            with conn.begin_nested():
                attempt(lo, hi)
        except sa.exc.DBAPIError as exc:
            if not is_row_error(exc):
                raise
            if hi - lo == 1:
                refused.append((lo, exc))
                if stop_after is not None and len(refused) >= stop_after:
                    break
                continue
            mid = (lo + hi) // 2
            pending += [(mid, hi), (lo, mid)]
    return sorted(refused, key=lambda r: r[0])
