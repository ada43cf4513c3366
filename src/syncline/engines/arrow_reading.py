"""Source records to validated, typed rows on Apache Arrow: the columnar path.

Where a source can give its records as Arrow record batches (``read_arrow``, a CSV file)
and every field has an Arrow type, each batch's columns are coerced whole
(:func:`syncline.columnar.arrow_coercer`, or the column coercer of
:mod:`syncline.columns` where there is none) and the valid rows go on as an Arrow batch,
to be staged in bulk. The rule book is the per-value coercer, as on the row path
(:func:`syncline.engines.reading.validated_batches`): a row any column refuses is
re-done per value — those rows only — for the error that names it; rows with an empty
key are refused the same way; the errors, rejects, counts and row numbers are exactly
the row path's (``tests/test_arrow_path.py``).

Not taken (:func:`arrow_plan` is None) with a source hook (a record is shaped in
Python), a source without ``read_arrow``, or a field without an Arrow type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncline.columnar import arrow_coercer, arrow_type
from syncline.columns import column_coercer
from syncline.engines.plan import Computed, Plan
from syncline.engines.reading import blank_keys, first_error, reject_row
from syncline.errors import CoercionError
from syncline.faults import pause_point
from syncline.options import RunOptions
from syncline.rejects import Rejected
from syncline.types import source_coercer

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class ArrowBlock:
    """A batch of valid rows: their row numbers and canonical values (``fields`` order)."""

    numbers: pa.Array
    batch: pa.RecordBatch

    def __len__(self) -> int:
        return int(self.batch.num_rows)

    def columns(self) -> list[list[Any]]:
        """The values as Python lists (canonical values), column by column."""
        return [column.to_pylist() for column in self.batch.columns]


ColumnStep = Callable[["pa.Array"], tuple["pa.Array", "pa.Array | None"]]


def arrow_plan(plan: Plan) -> list[ColumnStep] | None:
    """Per field, the function coercing a column of raw text to ``(values, bad)``; None
    where the columnar path cannot take this plan."""
    importer = plan.importer
    if importer.has_source_hook or plan.hook_ahead or not hasattr(plan.source, "read_arrow"):
        return None
    if tuple(plan.read_fields or plan.fields) != tuple(plan.fields):
        return None
    steps: list[ColumnStep] = []
    for f in plan.fields:
        spec, types = plan.specs[f], plan.types_for(f)
        kind = arrow_type(spec)
        if kind is None:
            return None
        steps.append(arrow_coercer(spec, types)
                     or _per_value(column_coercer(spec, types), source_coercer(spec, types),
                                   kind))
    return steps


def _per_value(by_column: Callable[[list[Any]], list[Any]], one: Callable[[Any], Any],
               kind: Any) -> ColumnStep:
    """A column without a whole-column coercer: coerced in Python, a list at a time."""
    import pyarrow as pa

    def step(raw: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        values = raw.to_pylist()
        try:
            return pa.array(by_column(values), kind), None
        except CoercionError:
            out: list[Any] = []
            bad: list[bool] = []
            for value in values:
                try:
                    out.append(one(value))
                    bad.append(False)
                except CoercionError:
                    out.append(None)
                    bad.append(True)
            return pa.array(out, kind), pa.array(bad, pa.bool_())

    return step


def arrow_blocks(plan: Plan, steps: list[ColumnStep], options: RunOptions,
                 computed: Computed, progress: Callable[[int], None] | None = None
                 ) -> Iterator[ArrowBlock]:
    """Blocks of valid, coerced rows as Arrow batches, read from ``plan.source``; bad
    rows go to ``computed`` exactly as :func:`validated_batches` sends them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fields, key_index = list(plan.fields), plan.key_index
    skip = options.on_error == "skip"
    coercers = [source_coercer(plan.specs[f], plan.types_for(f)) for f in fields]
    blank_rows: list[int] = []
    count = 0
    for lines, raw in plan.source.read_arrow(fields):  # type: ignore[attr-defined]
        if count:
            pause_point("mid_read")  # between the first batch and the next
        count += raw.num_rows
        computed.source_rows += raw.num_rows
        if progress is not None:
            progress(count)
        if not raw.num_rows:
            continue
        columns: list[pa.Array] = []
        bad: pa.Array | None = None
        for step, column in zip(steps, raw.columns, strict=True):
            values, refused = step(column)
            columns.append(values)
            if refused is not None:
                bad = refused if bad is None else pc.or_(bad, refused)
        if bad is not None and bad.true_count:
            for i in pc.indices_nonzero(bad).to_pylist():
                record = tuple(column[i].as_py() for column in raw.columns)
                error = first_error(coercers, record)
                assert error is not None, "the rule book and the columnar path disagree"
                reject_row(plan, computed, skip, error, lines[i].as_py(), record)
            keep = pc.invert(bad)
            columns = [pc.filter(c, keep) for c in columns]
            lines = pc.filter(lines, keep)
        empty = _empty_key(pc, [columns[i] for i in key_index])
        if empty is not None:
            for i in pc.indices_nonzero(empty).to_pylist():
                row = lines[i].as_py()
                blank_rows.append(row)
                if skip:
                    computed.rejected.append(Rejected(
                        row, tuple(c[i].as_py() for c in columns), "the key is empty"))
            keep = pc.invert(empty)
            columns = [pc.filter(c, keep) for c in columns]
            lines = pc.filter(lines, keep)
        if len(lines):
            yield ArrowBlock(lines, pa.RecordBatch.from_arrays(columns, names=fields))
    if blank_rows:
        blank_keys(plan, blank_rows, computed, skip)


def _empty_key(pc: Any, keys: list[pa.Array]) -> pa.Array | None:
    """The mask of rows whose key has a NULL or empty-text part; None when none has."""
    import pyarrow as pa

    mask = None
    for column in keys:
        empty = pc.is_null(column)
        if pa.types.is_string(column.type):
            empty = pc.or_(empty, pc.fill_null(pc.equal(column, ""), False))
        mask = empty if mask is None else pc.or_(mask, empty)
    if mask is None or not mask.true_count:
        return None
    return mask
