"""Source records to validated, typed rows — shared by both diff engines.

Values are coerced column by column (``map`` over a batch's column is several times
cheaper than a call per value from Python); a batch with a bad value is re-done row by
row to name every error. Rows whose key is empty are refused here; duplicates are the
engines' business (a dict in memory, ``GROUP BY`` in the database).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from syncline.diff import Key, Values
from syncline.errors import CoercionError, KeyProblemError, SynclineError
from syncline.types import source_coercer

if TYPE_CHECKING:
    from syncline.engine import Computed, Plan
    from syncline.options import RunOptions

#: row errors kept as objects; beyond this they are only counted
ERRORS_KEPT = 1000

Row = tuple[int, Key, Values]


def validated_batches(plan: Plan, options: RunOptions, computed: Computed,
                      progress: Callable[[int], None] | None = None) -> Iterator[list[Row]]:
    """Batches of ``(row number, key, values)``; bad rows go to ``computed``."""
    from syncline.engine import Rejected

    importer, fields, key_index = plan.importer, plan.fields, plan.key_index
    model, file = importer.name, plan.source.name
    coercers = [source_coercer(plan.specs[f], options.types) for f in fields]
    hook = importer.normalize_source if importer.has_source_hook else None
    blank_rows: list[int] = []
    single = key_index[0] if len(key_index) == 1 else None
    skip = options.on_error == "skip"

    def reject(error: SynclineError, row: int, raw: tuple[Any, ...]) -> None:
        error.locate(model=model, row=row, file=file)
        computed.error_count += 1
        if len(computed.errors) < ERRORS_KEPT:
            computed.errors.append(error)
        if skip:
            computed.rejected.append(Rejected(row, raw, str(error)))

    count = 0
    for batch in plan.source.read(fields):
        count += len(batch)
        if progress is not None:
            progress(count)
        if hook is not None:
            batch = _shaped(batch, hook, fields)
        if not batch:
            continue
        numbers = [row for row, _ in batch]
        try:
            columns = [list(map(c, col)) for c, col in
                       zip(coercers, zip(*(raw for _, raw in batch), strict=True), strict=True)]
        except CoercionError:
            out: list[Row] = []
            for row, raw in batch:
                try:
                    values = tuple([c(v) for c, v in zip(coercers, raw, strict=True)])
                except CoercionError:
                    for c, v in zip(coercers, raw, strict=True):
                        try:
                            c(v)
                        except CoercionError as exc:
                            reject(exc, row, raw)
                            break
                    continue
                out.append((row, _key(values, single, key_index), values))
        else:
            rows_values = list(zip(*columns, strict=True))
            if single is not None:
                keys: list[Key] = [(v,) for v in columns[single]]
            else:
                keys = list(zip(*(columns[i] for i in key_index), strict=True))
            out = list(zip(numbers, keys, rows_values, strict=True))
        good: list[Row] = []
        for item in out:
            if any(part is None or part == "" for part in item[1]):
                blank_rows.append(item[0])
                if skip:
                    computed.rejected.append(Rejected(item[0], item[2], "the key is empty"))
                continue
            good.append(item)
        if good:
            yield good
    if blank_rows:
        _blank_keys(plan, blank_rows, computed, skip)


def _key(values: Values, single: int | None, key_index: tuple[int, ...]) -> Key:
    return (values[single],) if single is not None else tuple(values[i] for i in key_index)


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
