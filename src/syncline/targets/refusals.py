"""What the target refused, as syncline errors: driver errors translated once, at the
boundary, from the driver's own exception and code (:mod:`~syncline.targets.codes`) —
never from SQLAlchemy's text, which ends in a link to its website.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from syncline.errors import RefusedRow, RowErrors, TargetError, TransientTargetError
from syncline.targets.codes import CONFLICT, LOCK_WAIT, classify, is_unique_violation

if TYPE_CHECKING:
    from syncline.targets.staging import CountMismatch

#: refused rows named before giving up (the run is not committed anyway)
ERRORS_KEPT = 1_000

TRANSIENT = "nothing was written (transient: a retry may succeed)"


def translate(exc: BaseException, doing: str, *, conn: sa.Connection | None = None,
              **where: Any) -> TargetError:
    """A driver error as a syncline error; lost connections, a server that is down or
    starting, deadlocks, lock waits and write conflicts are transient. ``exc`` is
    SQLAlchemy's wrapper or the driver's own exception (raised on a DBAPI cursor of
    ``conn``)."""
    failure = classify(exc, conn)
    if failure.transient:
        why = ""
        if failure.code in LOCK_WAIT:
            why = ("; another session held a lock this run needed for longer than"
                   " --lock-timeout")
        elif failure.code in CONFLICT:
            why = "; another session changed rows this run had read"
        return TransientTargetError(f"{doing}: {failure.describe(why)}; {TRANSIENT}",
                                    code=failure.code, **where)
    return TargetError(f"{doing}: {failure.describe()}", code=failure.code, **where)


def count_mismatch(exc: CountMismatch, doing: str, **where: Any) -> TargetError:
    """Fewer rows than counted: another session changed or removed rows after the run read
    them (retry); more: the table holds rows the run could not tell apart."""
    if exc.actual < exc.expected:
        return TransientTargetError(
            f"{doing}: the {exc.what} changed {exc.actual} rows where {exc.expected} were"
            " counted: another session changed the table after this run read it;"
            f" {TRANSIENT}", **where)
    return TargetError(
        f"{doing}: the {exc.what} would change {exc.actual} rows where {exc.expected} were"
        " counted and checked by the guards (does the table hold duplicate keys?); nothing"
        " was written", **where)


#: what a unique violation may mean, until the run has looked whether the key is there
UNIQUE_HINT = (" (another session may have inserted this key after the run read the table —"
               " a retry may succeed — or the column's collation calls two keys equal)")
#: what it means when the key is not there: another unique column
OTHER_UNIQUE = " (another record holds this value of a unique column)"


def not_the_key(refused: RefusedRow) -> None:
    """A unique refusal whose key is not in the table: a unique column other than the key
    refused the row — an ordinary refusal of that row (skippable), said so."""
    refused.message = refused.message.replace(UNIQUE_HINT, OTHER_UNIQUE)
    refused.args = (refused.message, *refused.args[1:])
    refused.unique = False


def refused_row(exc: sa.exc.DBAPIError, values: tuple[Any, ...] = (), **where: Any
                ) -> RefusedRow:
    """One row the target refused, named by source row and key. A unique key's refusal
    means the table changed since it was read or its collation merges two keys: it ends
    the run even under --on-error=skip (skipping it could leave the key's record wrong)."""
    failure = classify(exc)
    # MySQL counts rows within its statement ("at row 1"): the source row is named instead
    detail = re.sub(r",? at row \d+\b", "", failure.describe())
    unique = is_unique_violation(exc)
    if unique:
        detail += UNIQUE_HINT
    return RefusedRow(f"the target refused the row: {detail}", values=values, unique=unique,
                      code=failure.code, **where)


def refused_rows(table: str, errors: Sequence[TargetError]) -> RowErrors:
    more = "" if len(errors) < ERRORS_KEPT else " (at least)"
    return RowErrors(
        f"cannot write to table {table}: it refused {len(errors)}{more} row(s); nothing was"
        f" written (first: {errors[0]}). Fix the source, or pass --on-error=skip --rejects"
        " FILE to apply the rest", errors)
