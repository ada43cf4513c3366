"""Source records to validated, typed rows — shared by both diff engines.

Values are coerced column by column (``map`` over a batch's column is several times
cheaper than a call per value from Python); a batch with a bad value is re-done row by
row to name every error. Rows whose key is empty are refused here; duplicates are the
engines' business (a dict in memory, ``GROUP BY`` in the database).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncline.columns import column_coercer
from syncline.diff import Key, Values
from syncline.errors import CoercionError, KeyProblemError, SynclineError
from syncline.faults import pause_point
from syncline.types import source_coercer

if TYPE_CHECKING:
    from syncline.engine import Computed, Plan
    from syncline.options import RunOptions

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
    """Blocks of valid, coerced rows; bad rows go to ``computed``."""
    from syncline.rejects import Rejected

    importer, fields, key_index = plan.importer, plan.fields, plan.key_index
    model, file = importer.name, plan.source.name
    coercers = [source_coercer(plan.specs[f], plan.types_for(f)) for f in fields]
    by_column = [column_coercer(plan.specs[f], plan.types_for(f)) for f in fields]
    hook = importer.normalize_source if importer.has_source_hook else None
    blank_rows: list[int] = []
    skip = options.on_error == "skip"

    def reject(error: SynclineError, row: int, raw: tuple[Any, ...]) -> None:
        key = tuple(raw[i] for i in key_index)
        error.locate(model=model, row=row, file=file,
                     key=key if all(part not in (None, "") for part in key) else None)
        computed.error_count += 1
        if len(computed.errors) < ERRORS_KEPT:
            computed.errors.append(error)
        if skip:
            computed.rejected.append(Rejected(row, raw, str(error)))

    def row_by_row(batch: list[tuple[int, tuple[Any, ...]]]) -> list[tuple[int, Values]]:
        good = []
        for row, raw in batch:
            try:
                good.append((row, tuple([c(v) for c, v in zip(coercers, raw, strict=True)])))
            except CoercionError:
                for c, v in zip(coercers, raw, strict=True):
                    try:
                        c(v)
                    except CoercionError as exc:
                        reject(exc, row, raw)
                        break
        return good

    count = 0
    for batch in plan.source.read(fields):
        if count:
            pause_point("mid_read")  # between the first batch and the next
        count += len(batch)
        computed.source_rows += len(batch)
        if progress is not None:
            progress(count)
        if hook is not None:
            batch = _shaped(batch, hook, fields)
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
                        computed.rejected.append(Rejected(row, values, "the key is empty"))
                else:
                    kept.append((row, values))
            numbers = [row for row, _ in kept]
            columns = [list(col) for col in zip(*(v for _, v in kept), strict=True)]
        if numbers:
            yield Block(numbers, columns, key_index)
    if blank_rows:
        _blank_keys(plan, blank_rows, computed, skip)


def _shaped(batch: list[tuple[int, tuple[Any, ...]]], hook: Callable[..., Any],
            fields: tuple[str, ...]) -> list[tuple[int, tuple[Any, ...]]]:
    shaped = []
    for row, raw in batch:
        record = hook(dict(zip(fields, raw, strict=True)))
        if record is not None:
            shaped.append((row, tuple(record.get(f) for f in fields)))
    return shaped


def _blank_keys(plan: Plan, rows: list[int], computed: Computed, skip: bool) -> None:
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
