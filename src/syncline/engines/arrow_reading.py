"""Source records to validated, typed rows on Apache Arrow: the columnar path.

Where a source can give its records as Arrow record batches (``read_arrow``, a CSV file),
each batch's columns are coerced whole (:func:`syncline.columnar.arrow_coercer`, or the
column coercer of :mod:`syncline.columns` where there is none) and the valid rows go on as
Arrow arrays, to be staged in bulk; a column without an Arrow type (datetime, JSON...)
is coerced in Python and goes on as a list of Python values (the block is then staged
row by row, but read and checked as fast as the rest). The rule book is the per-value
coercer, as on the row path (:func:`syncline.engines.reading.validated_batches`): a row
any column refuses is re-done per value — those rows only — for the error that names it;
rows with an empty key are refused the same way; the errors, rejects, counts and row
numbers are exactly the row path's (``tests/test_arrow_path.py``).

Not taken (:func:`arrow_plan` is None) with a source hook (a record is shaped in
Python) or a source without ``read_arrow``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncline.columnar import arrow_coercer, arrow_type
from syncline.columns import column_coercer
from syncline.engines.plan import Computed, Plan
from syncline.engines.reading import blank_keys, first_error, flush_rejected, reject_row
from syncline.errors import CoercionError
from syncline.faults import pause_point
from syncline.options import RunOptions
from syncline.rejects import Rejected
from syncline.types import source_coercer

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class ArrowBlock:
    """A batch of valid rows: their row numbers and canonical values (``fields`` order),
    a column an Arrow array, or a list of Python values where it has no Arrow type."""

    numbers: pa.Array
    values: list[Any]
    fields: list[str]

    def __len__(self) -> int:
        return len(self.numbers)

    def batch(self) -> pa.RecordBatch | None:
        """The values as one Arrow batch; None when a column is Python values."""
        import pyarrow as pa

        if any(isinstance(column, list) for column in self.values):
            return None
        return pa.RecordBatch.from_arrays(self.values, names=self.fields)

    def columns(self) -> list[list[Any]]:
        """The values as Python lists (canonical values), column by column."""
        return [column if isinstance(column, list) else column.to_pylist()
                for column in self.values]


#: raw text -> (values: an Arrow array, or a list of Python values; the mask of bad rows)
ColumnStep = Callable[["pa.Array"], tuple[Any, "pa.Array | None"]]


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
        by_column, one = column_coercer(spec, types), source_coercer(spec, types)
        kind = arrow_type(spec)
        if kind is None:  # no Arrow type (datetime, JSON...): Python values, per value
            steps.append(_python_values(by_column, one))
        else:
            steps.append(arrow_coercer(spec, types) or _per_value(by_column, one, kind))
    return steps


def _python_values(by_column: Callable[[list[Any]], list[Any]], one: Callable[[Any], Any]
                   ) -> ColumnStep:
    """A column coerced in Python, a list at a time; its values stay Python values."""
    import pyarrow as pa

    def step(raw: pa.Array) -> tuple[Any, pa.Array | None]:
        values = raw.to_pylist()
        try:
            return by_column(values), None
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
            return out, pa.array(bad, pa.bool_())

    return step


def _per_value(by_column: Callable[[list[Any]], list[Any]], one: Callable[[Any], Any],
               kind: Any) -> ColumnStep:
    """A column with an Arrow type but no whole-column coercer: coerced in Python."""
    import pyarrow as pa

    python = _python_values(by_column, one)

    def step(raw: pa.Array) -> tuple[Any, pa.Array | None]:
        values, bad = python(raw)
        return pa.array(values, kind), bad

    return step


def _keep(columns: list[Any], keep: pa.Array) -> list[Any]:
    """The rows of ``columns`` (Arrow arrays or lists) where ``keep`` is true."""
    import pyarrow.compute as pc

    if not any(isinstance(c, list) for c in columns):
        return [pc.filter(c, keep) for c in columns]
    rows = pc.indices_nonzero(keep).to_pylist()
    return [[c[i] for i in rows] if isinstance(c, list) else pc.filter(c, keep)
            for c in columns]


def _row(columns: list[Any], i: int) -> tuple[Any, ...]:
    return tuple(c[i] if isinstance(c, list) else c[i].as_py() for c in columns)


def arrow_blocks(plan: Plan, steps: list[ColumnStep], options: RunOptions,
                 computed: Computed, progress: Callable[[int], None] | None = None
                 ) -> Iterator[ArrowBlock]:
    """Blocks of valid, coerced rows as Arrow batches, read from ``plan.source``; bad
    rows go to ``computed`` exactly as :func:`validated_batches` sends them."""
    import pyarrow.compute as pc

    fields, key_index = list(plan.fields), plan.key_index
    skip = options.on_error == "skip"
    coercers = [source_coercer(plan.specs[f], plan.types_for(f)) for f in fields]
    blank_rows: list[int] = []
    pending: list[Rejected] = []  # this batch's rejected rows (flush_rejected)
    count = 0
    for lines, raw in plan.source.read_arrow(fields):  # type: ignore[attr-defined]
        flush_rejected(computed, pending)
        if count:
            pause_point("mid_read")  # between the first batch and the next
        count += raw.num_rows
        computed.source_rows += raw.num_rows
        if progress is not None:
            progress(count)
        if not raw.num_rows:
            continue
        columns: list[Any] = []
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
                reject_row(plan, computed, skip, error, lines[i].as_py(), record, pending)
            keep = pc.invert(bad)
            columns = _keep(columns, keep)
            lines = pc.filter(lines, keep)
        empty = _empty_key(pc, [columns[i] for i in key_index])
        if empty is not None:
            for i in pc.indices_nonzero(empty).to_pylist():
                row = lines[i].as_py()
                blank_rows.append(row)
                if skip:
                    pending.append(Rejected(row, _row(columns, i), "the key is empty"))
            keep = pc.invert(empty)
            columns = _keep(columns, keep)
            lines = pc.filter(lines, keep)
        if len(lines):
            yield ArrowBlock(lines, columns, fields)
    flush_rejected(computed, pending)
    if blank_rows:
        blank_keys(plan, blank_rows, computed, skip)


def _empty_key(pc: Any, keys: list[Any]) -> pa.Array | None:
    """The mask of rows whose key has a NULL or empty-text part; None when none has."""
    import pyarrow as pa

    mask = None
    for column in keys:
        if isinstance(column, list):
            empty = pa.array([v is None or v == "" for v in column], pa.bool_())
        else:
            empty = pc.is_null(column)
        if not isinstance(column, list) and pa.types.is_string(column.type):
            empty = pc.or_(empty, pc.fill_null(pc.equal(column, ""), False))
        mask = empty if mask is None else pc.or_(mask, empty)
    if mask is None or not mask.true_count:
        return None
    return mask
