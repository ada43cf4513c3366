"""Source records to validated, typed rows — shared by both diff engines.

Values are coerced column by column (``map`` over a batch's column is several times
cheaper than a call per value from Python); a batch with a bad value is re-done row by
row to name every error. Rows whose key is empty are refused here; duplicates are the
engines' business (a dict in memory, ``GROUP BY`` in the database).

Every call of a user hook goes through :func:`shape_source` or :func:`shape_target`: what
a hook raises (or returns that is not a record) becomes a :class:`HookError` naming the
hook, model, row and key, with the hook's exception as its ``__cause__`` (docs/hooks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from syncline.columns import column_coercer
from syncline.diff import Key, Values
from syncline.engines.plan import LEFT_OUT, Computed, Flagged, Plan, RowSkipped, Shaped
from syncline.errors import CoercionError, HookError, KeyProblemError, SynclineError
from syncline.faults import pause_point
from syncline.lifecycle import RowResult, call_hook
from syncline.options import RunOptions
from syncline.rejects import Rejected
from syncline.sources.base import BATCH  # rows (and keys of rejected rows) at a time
from syncline.types import source_coercer

#: row errors kept as objects; beyond this they are only counted
ERRORS_KEPT = 1000


@dataclass
class Block:
    """A batch of valid rows, column by column (rows and keys are derived on demand)."""

    numbers: list[int]
    columns: list[list[Any]]
    key_index: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.numbers)

    def rows(self) -> Iterator[Values]:
        return zip(*self.columns, strict=True)

    def keys(self) -> Iterator[Key]:
        if len(self.key_index) == 1:
            return ((v,) for v in self.columns[self.key_index[0]])
        return zip(*(self.columns[i] for i in self.key_index), strict=True)


def validated_batches(plan: Plan, options: RunOptions, computed: Computed,
                      progress: Callable[[int], None] | None = None) -> Iterator[Block]:
    """Blocks of valid, coerced rows, read from ``plan.source`` through the importer's
    ``normalize_source`` hook; bad rows go to ``computed`` (as errors, and to its rejected
    spool under ``--on-error=skip``). Both engines read the source through here."""
    importer, fields, key_index = plan.importer, plan.fields, plan.key_index
    model, file = importer.name, plan.source.name
    coercers = [source_coercer(plan.specs[f], plan.types_for(f)) for f in fields]
    by_column = [column_coercer(plan.specs[f], plan.types_for(f)) for f in fields]
    hooked = importer.has_source_hook
    names = plan.read_fields  # what the source is read with: its own columns for a hook
    at = {name: i for i, name in enumerate(names)}
    as_fields = [at.get(f) for f in fields]  # a hook's source record in ``fields`` order
    blank_rows: list[int] = []
    skip = options.on_error == "skip"

    #: this batch's rejected rows, handed to the spool in row order (flush)
    pending: list[Rejected] = []

    def reject(error: SynclineError, row: int, raw: tuple[Any, ...]) -> None:
        reject_row(plan, computed, skip, error, row, raw, pending)

    def row_by_row(batch: list[tuple[int, tuple[Any, ...]]]) -> list[tuple[int, Values]]:
        good = []
        for row, raw in batch:
            try:
                good.append((row, tuple([c(v) for c, v in zip(coercers, raw, strict=True)])))
            except CoercionError:
                error = first_error(coercers, raw)
                if error is not None:
                    reject(error, row, raw)
        return good

    key_coercers = [source_coercer(plan.specs[k], plan.key_types) for k in importer.key]

    def flag(row: int, record: dict[str, Any]) -> SynclineError | None:
        """Note the key of a record ``for_delete`` flagged; the error of a bad key."""
        try:
            key = tuple(c(record[k]) for c, k in zip(key_coercers, importer.key, strict=True))
        except KeyError as exc:
            return HookError(f"for_delete flagged a record without the key column {exc}",
                             hook="for_delete", model=model, row=row, file=file)
        except SynclineError as exc:
            return exc
        if any(part is None or part == "" for part in key):
            return HookError("for_delete flagged a record with an empty key",
                             hook="for_delete", model=model, row=row, file=file)
        computed.flagged[plan.fold_key(key)] = row
        return None

    count = 0
    def shaped(batch: list[tuple[int, tuple[Any, ...]]]) -> list[tuple[int, tuple[Any, ...]]]:
        """The hook's records as values in ``fields`` order; its failures are row errors."""
        out = []
        for row, raw in batch:
            outcome = plan.hook_ahead.pop(row, None) if plan.hook_ahead else None
            if outcome is None:
                outcome = shape_source(importer, names, row, raw, file)
            if outcome is LEFT_OUT:
                continue
            if isinstance(outcome, RowSkipped):
                key = tuple(raw[at[k]] if k in at else None for k in importer.key)
                computed.skips.append(RowResult(model, "skip", key, row, reason=outcome.reason))
                continue
            if isinstance(outcome, Flagged):
                problem = flag(row, outcome.record)
                if problem is not None:
                    reject(problem, row, tuple(None if i is None else raw[i] for i in as_fields))
                continue
            if isinstance(outcome, dict):
                values = _carried(plan, outcome)
                if not isinstance(values, HookError):
                    out.append((row, values))
                    continue
                values.locate(row=row, file=file)
                outcome = values
            if isinstance(outcome, HookError):
                reject(outcome, row, tuple(None if i is None else raw[i] for i in as_fields))
        return out

    for batch in plan.source.read(names):
        flush_rejected(computed, pending)
        if count:
            pause_point("mid_read")  # between the first batch and the next
        count += len(batch)
        computed.source_rows += len(batch)
        if progress is not None:
            progress(count)
        if hooked:
            batch = shaped(batch)
        if not batch:
            continue
        try:
            columns = [c(list(col)) for c, col in
                       zip(by_column, zip(*(raw for _, raw in batch), strict=True), strict=True)]
            numbers = [row for row, _ in batch]
        except CoercionError:
            good = row_by_row(batch)
            numbers = [row for row, _ in good]
            columns = [list(col) for col in zip(*(v for _, v in good), strict=True)]
        if any(None in columns[i] or "" in columns[i] for i in key_index if columns):
            kept = []
            for row, values in zip(numbers, zip(*columns, strict=True), strict=True):
                if any(values[i] is None or values[i] == "" for i in key_index):
                    blank_rows.append(row)
                    if skip:
                        pending.append(Rejected(row, values, "the key is empty"))
                else:
                    kept.append((row, values))
            numbers = [row for row, _ in kept]
            columns = [list(col) for col in zip(*(v for _, v in kept), strict=True)]
        if numbers:
            yield Block(numbers, columns, key_index)
    flush_rejected(computed, pending)
    if blank_rows:
        blank_keys(plan, blank_rows, computed, skip)


def flush_rejected(computed: Computed, pending: list[Rejected]) -> None:
    """A batch's rejected rows into the spool, in row order (whatever rejected them: a
    bad value, an empty key, a hook), so the rejects file lists rows in file order."""
    for rejected in sorted(pending, key=lambda r: r.row):
        computed.rejected.append(rejected)
    pending.clear()


def reject_row(plan: Plan, computed: Computed, skip: bool, error: SynclineError, row: int,
               raw: tuple[Any, ...], pending: list[Rejected]) -> None:
    """A bad source row: its error located (model, row, file, key) and kept (counted only
    beyond :data:`ERRORS_KEPT`); under ``--on-error=skip`` the row goes to ``pending``
    (see :func:`flush_rejected`)."""
    key = tuple(raw[i] for i in plan.key_index)
    error.locate(model=plan.importer.name, row=row, file=plan.source.name,
                 key=key if all(part not in (None, "") for part in key) else None)
    computed.error_count += 1
    if len(computed.errors) < ERRORS_KEPT:
        computed.errors.append(error)
    if skip:
        pending.append(Rejected(row, raw, str(error)))


def first_error(coercers: Sequence[Callable[[Any], Any]], raw: tuple[Any, ...]
                ) -> SynclineError | None:
    """The error of the first value of ``raw`` its column's coercer refuses, or None."""
    for coerce, value in zip(coercers, raw, strict=True):
        try:
            coerce(value)
        except CoercionError as exc:
            return exc
    return None


def shape_source(importer: Any, names: Sequence[str], row: int, raw: tuple[Any, ...],
                 file: str | None) -> Shaped:
    """The per-row hooks on one source record, in their order (docs/lifecycle.md):
    ``before_row`` (RowSkipped when it returns None), ``normalize_source`` (LEFT_OUT when
    it returns None), ``for_delete`` (Flagged when it says True)."""
    record: Any = dict(zip(names, raw, strict=True))
    where = {"model": importer.name, "row": row, "file": file}
    if importer.has_row_hooks:
        try:
            record = importer.before_row(record, importer.context)
        except Exception as exc:  # the user's code: any failure is this row's error
            return _hook_error("before_row", f"raised {type(exc).__name__}: {exc}", exc,
                               **where)
        if record is None:
            return RowSkipped("before_row")
        if not isinstance(record, Mapping):
            return _hook_error("before_row", f"returned a {type(record).__name__}, not a"
                               " record (a dict) or None", None, **where)
        record = dict(record)
    try:
        record = importer.normalize_source(record)
    except Exception as exc:  # the user's code: any failure is this row's error
        return _hook_error("normalize_source", f"raised {type(exc).__name__}: {exc}", exc,
                           **where)
    if record is None:
        return LEFT_OUT
    if not isinstance(record, Mapping):
        return _hook_error("normalize_source", f"returned a {type(record).__name__}, not a"
                           " record (a dict) or None", None, **where)
    shaped: dict[str, Any] = record if isinstance(record, dict) else dict(record)
    if importer.has_row_hooks:
        try:
            flagged = importer.for_delete(shaped)
        except Exception as exc:  # the user's code
            return _hook_error("for_delete", f"raised {type(exc).__name__}: {exc}", exc,
                               **where)
        if flagged:
            return Flagged(shaped)
    return shaped


def shape_target(importer: Any, fields: Sequence[str], values: tuple[Any, ...],
                 key: tuple[Any, ...]) -> tuple[Any, ...]:
    """``normalize_target`` on one target record: its values in ``fields`` order.

    A failure stops the run whatever ``on_error`` says: a target record left out would look
    absent, and its key would be created a second time or its update missed."""
    try:
        record = importer.normalize_target(dict(zip(fields, values, strict=True)))
    except Exception as exc:  # the user's code
        raise _hook_error("normalize_target", f"raised {type(exc).__name__}: {exc}", exc,
                          model=importer.name, key=key) from exc
    if not isinstance(record, Mapping):
        raise _hook_error("normalize_target", f"returned a {type(record).__name__}, not a"
                          " record (a dict)", None, model=importer.name, key=key)
    missing = [f for f in fields if f not in record]
    if missing:
        raise _hook_error("normalize_target", f"returned a record without {', '.join(missing)}"
                          " (a target hook must return every field)", None,
                          model=importer.name, key=key, field=missing[0])
    return tuple(record[f] for f in fields)


def learn_fields(importer: Any, source: Any, names: Sequence[str]
                 ) -> tuple[list[str], dict[int, Shaped]]:
    """The names the records of ``normalize_source`` carry: those of the first record it
    returns in the source's first batch (the source's own columns when it returns none
    there), and what it made of the records on the way (never shaped twice)."""
    ahead: dict[int, Shaped] = {}
    for row, raw in source.head(1):
        outcome = shape_source(importer, names, row, raw, source.name)
        ahead[row] = outcome
        if isinstance(outcome, dict):
            return list(outcome), ahead
    return list(names), ahead


def _carried(plan: Plan, record: dict[str, Any]) -> tuple[Any, ...] | HookError:
    """A hook's record as values in ``plan.fields`` order, or the error of a record that
    lacks a field, or carries a target column the first record did not (docs/hooks.md)."""
    try:
        values = tuple([record[f] for f in plan.fields])
    except KeyError:
        missing = [f for f in plan.fields if f not in record]
        return HookError(f"normalize_source returned a record without {', '.join(missing)},"
                         " a field the first record it returned carries", hook="normalize_source",
                         model=plan.importer.name, field=missing[0])
    if plan.carried is not None and record.keys() != plan.carried:
        extra = [c for c in record if c in plan.specs and c not in plan.carried
                 and c not in plan.importer.exclude]
        if extra:
            return HookError(
                f"normalize_source returned a record with {', '.join(extra)}, a target column"
                " the first record it returned does not carry (so it is not written)",
                hook="normalize_source", model=plan.importer.name, field=extra[0])
    return values


def _hook_error(hook: str, what: str, cause: BaseException | None, **where: Any) -> HookError:
    error = HookError(f"{hook} {what}", hook=hook, **where)
    error.__cause__ = cause  # --traceback shows where in the hook it failed
    return error


def blank_keys(plan: Plan, rows: list[int], computed: Computed, skip: bool) -> None:
    listing = ", ".join(map(str, rows[:20])) + (f" and {len(rows) - 20} more"
                                                if len(rows) > 20 else "")
    error = KeyProblemError(
        f"{len(rows)} source row(s) have an empty key ({', '.join(plan.importer.key)}):"
        f" rows {listing}", problems=[(None, rows)], model=plan.importer.name,
        file=plan.source.name, field=", ".join(plan.importer.key))
    computed.error_count += 1
    if skip:
        computed.warnings.append(str(error) + " (rejected)")
    else:
        computed.errors.insert(0, error)


def duplicate_error(plan: Plan, duplicates: list[tuple[Key, list[int]]]) -> KeyProblemError:
    """The error for duplicate source keys, listing keys and rows."""
    shown = sorted(duplicates, key=lambda kv: kv[1][0])
    listing = "; ".join(f"{_fmt(k)} on rows {', '.join(map(str, rows[:10]))}"
                        for k, rows in shown[:20])
    more = f" and {len(shown) - 20} more" if len(shown) > 20 else ""
    return KeyProblemError(
        f"{len(shown)} duplicate key(s) in the source: {listing}{more}"
        " (use --on-duplicate=first or --on-duplicate=last to keep one)",
        problems=shown, model=plan.importer.name, file=plan.source.name)


def _fmt(key: Key) -> str:
    return repr(key[0]) if len(key) == 1 else repr(key)


def protected_batches(plan: Plan, computed: Computed, size: int = BATCH
                      ) -> Iterator[list[Key]]:
    """The keys of rejected rows, batch by batch, streamed from the spool (bounded memory;
    a key may come twice), then those of the rows ``before_row`` left out: their target
    records are left as they are, never updated nor deleted."""
    coercers = [source_coercer(plan.specs[k], plan.key_types) for k in plan.importer.key]
    batch: list[Key] = []
    keys = chain((tuple(r.values[i] for i in plan.key_index)
                  for r in computed.rejected if r.values),
                 (s.key for s in computed.skips if s.reason == "before_row"))
    for given in keys:
        try:
            key = tuple(c(part) for c, part in zip(coercers, given, strict=True))
        except SynclineError:
            continue  # a key that cannot be read cannot match a target record
        if all(p not in (None, "") for p in key):
            batch.append(plan.fold_key(key))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def duplicate_warning(plan: Plan, count: int, options: RunOptions) -> str:
    """The warning for duplicate source keys that ``--on-duplicate`` resolved."""
    return (f"{plan.importer.name}: {count} duplicate key(s) in the source;"
            f" kept the {options.on_duplicate} row of each")


class Defaults:
    """``init_record(key)`` on each record a run creates: its defaults, as values of
    :attr:`columns` — the columns the first call named, less the fields the source carries
    (the source's values win). Every call must name the same columns, of the target table:
    else, or when the hook raises, a :class:`HookError` naming the hook, model and key."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.columns: tuple[str, ...] = ()
        self._named: frozenset[str] | None = None

    def __call__(self, key: Key, row: int | None = None) -> Values:
        importer = self.plan.importer
        where: dict[str, Any] = {"model": importer.name, "key": key, "row": row}
        given = call_hook(importer.init_record, "init_record", key, **where)
        if given is None:
            given = {}
        if not isinstance(given, Mapping):
            raise HookError(f"init_record returned a {type(given).__name__}, not a dict of"
                            " column defaults (or None)", hook="init_record", **where)
        names = frozenset(c for c in given if c not in self.plan.fields)
        if self._named is None:
            unknown = sorted(c for c in names if c not in self.plan.specs)
            if unknown:
                raise HookError(f"init_record returned {', '.join(unknown)}, not a column of"
                                f" table {importer.table}", hook="init_record",
                                field=unknown[0], **where)
            self._named = names
            self.columns = tuple(c for c in self.plan.specs if c in names)
        elif names != self._named:
            raise HookError(f"init_record returned the columns {', '.join(sorted(names))} but"
                            f" {', '.join(self.columns) or 'none'} for the first new record:"
                            " it must name the same columns for every key",
                            hook="init_record", **where)
        return tuple(given[c] for c in self.columns)
