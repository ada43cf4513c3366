"""The in-database diff engine: the database does the join.

Source rows are validated and coerced exactly as for the in-memory engine (same code,
:mod:`syncline.engines.reading`), then staged in a temporary table of the target in batches; the
change set is counted — and, when asked, read back (only the changed rows) — with
set-based SQL, and applied the same way (:mod:`syncline.targets.staging`). Memory stays
bounded by the batch, not by the table.

It must agree with the in-memory engine on counts, changes, errors and the final table;
where they could differ, the rules in docs/engines.md decide (duplicate keys refused with
no change set, protected and NULL-key target records counted as skipped), and
``tests/test_engine_equivalence.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from typing import Any

import sqlalchemy as sa

from syncline.diff import ChangeSet, Create, Delete, Key, Update
from syncline.engines.arrow_reading import arrow_blocks, arrow_plan
from syncline.engines.plan import Computed, Plan
from syncline.engines.readahead import read_ahead
from syncline.engines.reading import (
    Defaults,
    duplicate_error,
    duplicate_warning,
    protected_batches,
    validated_batches,
)
from syncline.errors import RefusedRow, SynclineError
from syncline.lifecycle import RowResult
from syncline.options import RunOptions
from syncline.result import change_rows
from syncline.sources.base import BATCH
from syncline.targets import staging
from syncline.targets.sql import TargetSession
from syncline.types import is_identity, target_normalizer, to_db


class DatabaseEngine:
    """Stage the source in the target and diff there; apply from the stage in SQL. One
    instance per model and run: it owns its stage, so the change set stays a value."""

    name = "database"

    def __init__(self) -> None:
        self.stage: staging.Stage | None = None
        #: the change set's lists hold the changes (``collect_changes``)
        self.read_back = True

    def compute(self, plan: Plan, session: TargetSession, options: RunOptions,
                progress: Callable[[int], None] | None = None) -> Computed:
        """Stage the valid source rows, classify them against the target, count (and with
        ``collect_changes`` read back) the changes."""
        self.read_back = options.collect_changes
        try:
            computed, self.stage = _compute(plan, session, options, progress)
        except SynclineError as exc:
            exc.locate(model=plan.importer.name)
            raise
        return computed

    def apply(self, plan: Plan, session: TargetSession, computed: Computed,
              options: RunOptions) -> list[RefusedRow]:
        """Creates, then updates, from the stage (see :meth:`TargetSession.apply_upserts`)."""
        return session.apply_upserts(plan.importer.table, computed.changes, plan.specs,
                                     options.types, stage=self.stage,
                                     skip=options.on_error == "skip")

    def apply_deletes(self, plan: Plan, session: TargetSession, computed: Computed,
                      options: RunOptions) -> None:
        """The deletes the stage's diff table names, joined by key and values read."""
        session.apply_deletes(plan.importer.table, computed.changes, plan.specs, options.types,
                              stage=self.stage)

    def changed(self, plan: Plan, session: TargetSession, computed: Computed,
                ops: tuple[str, ...]) -> sa.Select[tuple[object, ...]]:
        """From the stage's diff table (see :meth:`DiffEngine.changed`)."""
        assert self.stage is not None, "compute() first"
        return staging.changed_keys(self.stage, ops)

    def row_results(self, plan: Plan, session: TargetSession,
                    computed: Computed) -> Iterator[RowResult] | None:
        """Where the change set was not read back (``collect_changes`` off, as under
        ``--rows-out`` without ``--diff``): each row's outcome streamed from the stage,
        after the writes (bounded memory). None: the change set holds them."""
        if self.stage is None or self.read_back:
            return None
        return _stream_rows(plan, session, self.stage, computed)

    def close(self) -> None:
        """The stage is temporary: the session drops it when it ends."""
        self.stage = None


def _compute(plan: Plan, session: TargetSession, options: RunOptions,
             progress: Callable[[int], None] | None) -> tuple[Computed, staging.Stage]:
    importer, fields = plan.importer, plan.fields
    computed = Computed(ChangeSet(importer.name, fields, importer.key))
    stage = staging.create_stage(session, importer.table, fields, importer.key)
    converters = _driver_converters(plan, session)
    staged = 0
    steps = arrow_plan(plan)
    if steps is not None:  # the columnar path: Arrow batches, staged in bulk
        # the next batch is read while this one is staged (stopped if staging fails)
        with closing(read_ahead(arrow_blocks(plan, steps, options, computed,
                                             progress))) as blocks:
            for arrow_block in blocks:
                batch = arrow_block.batch()  # None: a column holds Python values
                if batch is None or not staging.load_arrow(
                        session, stage, batch.append_column(staging.ROW, arrow_block.numbers)):
                    _load(session, stage, converters, arrow_block.columns(),
                          arrow_block.numbers.to_pylist())
                staged += len(arrow_block)
    else:
        for block in validated_batches(plan, options, computed, progress):
            _load(session, stage, converters, block.columns, block.numbers)
            staged += len(block)
    staging.index(session, stage)
    dropped = _duplicates(plan, session, stage, computed, options)
    computed.warnings = plan.warnings + computed.warnings
    if computed.fatal:
        # refused whatever the options say: no change set (docs/engines.md, rule 1)
        return computed, stage
    key_converters = [converters[i] for i in plan.key_index]
    for protected in protected_batches(plan, computed):  # streamed: bounded memory
        staging.protect(session, stage, [
            tuple(v if c is None else c(v) for c, v in zip(key_converters, k, strict=True))
            for k in protected])
    create, update, delete = plan.allowed(options)
    staging.classify(session, stage, deletes=delete)
    counts = staging.counts(session, stage, staged - dropped)
    changes = computed.changes
    changes.target_rows = counts["target_rows"]
    created = counts["created"] if create else 0
    updated = counts["updated"] if update else 0
    deleted = counts["deleted"] if delete else 0
    changes.unchanged = counts["unchanged"]
    changes.skipped = ((0 if create else counts["created"]) + (0 if update else counts["updated"])
                       + counts["left"])
    changes.created, changes.updated, changes.deleted = created, updated, deleted
    if importer.has_init_hook and created:
        _init_records(plan, session, stage, changes)
    if options.collect_changes:
        _read_back(plan, session, stage, changes, create=created > 0, update=updated > 0,
                   delete=deleted > 0)
    if options.report_skipped and changes.unchanged and options.collect_changes:
        keys = _key_normalizer(plan)
        computed.same = [(keys(raw[:-1]), raw[-1]) for batch in session.fetch(
            staging.unchanged_rows(session, stage)) for raw in batch]
    elif options.report_skipped and changes.unchanged:
        staging.mark_unchanged(session, stage)  # streamed by row_results (bounded memory)
    return computed, stage


def _load(session: TargetSession, stage: staging.Stage,
          converters: list[Callable[[Any], Any] | None], columns: list[list[Any]],
          numbers: list[int]) -> None:
    """Canonical values, column by column, through the driver converters into the stage."""
    driver = [col if conv is None else list(map(conv, col))
              for conv, col in zip(converters, columns, strict=True)]
    staging.load(session, stage, list(zip(*driver, numbers, strict=True)))


def _key_normalizer(plan: Plan) -> Callable[[Sequence[Any]], Key]:
    """A key as read from the stage (driver values) -> canonical values."""
    normalize = [target_normalizer(plan.specs[k], plan.types) for k in plan.importer.key]
    return lambda raw: tuple(n(v) for n, v in zip(normalize, raw, strict=True))


def _init_records(plan: Plan, session: TargetSession, stage: staging.Stage,
                  changes: ChangeSet) -> None:
    """``init_record`` on the key of each create, read from the stage in batches; the
    defaults go to a table of the target that the INSERT joins (set-based)."""
    defaults = Defaults(plan)
    keys = _key_normalizer(plan)
    width = len(plan.importer.key)
    # loaded once the read is done: a streaming cursor (MySQL's) allows no other statement
    with closing(session.fetch(staging.created_keys(stage))) as batches:  # a hook may raise
        rows = [(*raw[:width], *defaults(keys(raw[:width]), raw[width]))
                for batch in batches for raw in batch]
    if defaults.columns:
        for start in range(0, len(rows), BATCH):
            staging.load_initial(session, stage, defaults.columns, rows[start:start + BATCH])
    changes.initial_fields = defaults.columns


def _driver_converters(plan: Plan, session: TargetSession
                       ) -> list[Callable[[Any], Any] | None]:
    """canonical value -> what the driver is handed (through SQLAlchemy's bind processor);
    None where the value goes as it is."""
    table = session.table(plan.importer.table)
    out: list[Callable[[Any], Any] | None] = []
    for f in plan.fields:
        db = to_db(plan.specs[f], plan.types)
        bind = table.c[f].type.dialect_impl(session.conn.dialect).bind_processor(
            session.conn.dialect)  # the driver's own (psycopg wraps JSON values)
        if plan.specs[f].kind == "boolean" and is_identity(db):
            bind = None  # canonical values are already bool or None: every driver takes them
        if bind is None:
            out.append(None if is_identity(db) else db)
        else:
            out.append(bind if is_identity(db) else _compose(bind, db))
    return out


def _compose(outer: Callable[[Any], Any], inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: outer(inner(value))


def _duplicates(plan: Plan, session: TargetSession, stage: staging.Stage, computed: Computed,
                options: RunOptions) -> int:
    """Report or resolve duplicate keys; the number of staged rows dropped."""
    found = staging.duplicates(session, stage)
    if not found:
        return 0
    if options.on_duplicate == "error":
        error = duplicate_error(plan, found)
        computed.error_count += 1
        computed.errors.insert(0, error)
        computed.fatal.append(error)
        return 0
    keep = min if options.on_duplicate == "first" else max
    drop = [r for _, rows in found for r in rows if r != keep(rows)]
    staging.drop_rows(session, stage, drop)
    computed.warnings.append(duplicate_warning(plan, len(found), options))
    return len(drop)


def _read_back(plan: Plan, session: TargetSession, stage: staging.Stage, changes: ChangeSet,
               *, create: bool, update: bool, delete: bool,
               rows: Sequence[Sequence[Any]] | None = None) -> None:
    """The changes, from the stage into ``changes``'s lists (``rows``: only these rows,
    as the query of the one kind asked for returned them)."""
    fields = plan.fields
    normalizers = [target_normalizer(plan.specs[f], plan.types) for f in fields]
    key_index = plan.key_index
    n = len(fields)
    initial = [target_normalizer(plan.specs[c], plan.types) for c in changes.initial_fields]

    def canonical(raw: Any) -> tuple[Any, ...]:
        return tuple(norm(v) for norm, v in zip(normalizers, raw, strict=True))

    def batches(query: sa.Select[Any]) -> Iterator[Sequence[Sequence[Any]]]:
        return iter([rows]) if rows is not None else session.fetch(query)

    if create:
        for batch in batches(staging.created_rows(stage)):
            for raw in batch:
                values = canonical(raw[:n])
                key = tuple(values[i] for i in key_index)
                changes.creates.append(Create(key, values, fields, raw[n]))
                if initial:
                    changes.initial[key] = tuple(
                        norm(v) for norm, v in zip(initial, raw[n + 1:], strict=True))
    if update:
        for batch in batches(staging.updated_rows(stage)):
            for raw in batch:
                new, old = canonical(raw[:n]), canonical(raw[n + 1:])
                changed = tuple(f for f, a, b in zip(fields, old, new, strict=True) if a != b)
                changes.updates.append(Update(tuple(old[i] for i in key_index), old, new,
                                              fields, changed, raw[n]))
    if delete:
        for batch in batches(staging.deleted_rows(stage)):
            for raw in batch:
                old = canonical(raw)
                changes.deletes.append(Delete(tuple(old[i] for i in key_index), old, fields))


def _stream_rows(plan: Plan, session: TargetSession, stage: staging.Stage,
                 computed: Computed) -> Iterator[RowResult]:
    """Each row's outcome read back from the stage batch by batch (bounded memory): the
    creates, updates and deletes as applied (rows the target refused were dropped from the
    stage), the rows a hook skipped, then the unchanged ones :func:`mark_unchanged` kept."""
    changes, model = computed.changes, plan.importer.name
    fold = plan.fold_key
    for part in (("creates", changes.created), ("updates", changes.updated),
                 ("deletes", changes.deleted)):
        if not part[1]:
            continue
        # closed as soon as the reader stops (an after_row hook raised): not by the GC later
        with closing(_changes_read_back(plan, session, stage, changes, part[0])) as parts:
            for batch in parts:
                yield from change_rows(model, batch, computed.flagged, fold)
    yield from computed.skips
    if stage.same is not None:
        keys = _key_normalizer(plan)
        with closing(session.fetch(staging.marked_unchanged(stage))) as batches:
            for rows in batches:
                for raw in rows:
                    yield RowResult(model, "skip", keys(raw[:-1]), raw[-1],
                                    reason="unchanged")


def _changes_read_back(plan: Plan, session: TargetSession, stage: staging.Stage,
                       changes: ChangeSet, which: str) -> Generator[ChangeSet, None, None]:
    """The ``creates``, ``updates`` or ``deletes`` of the stage, a change set a batch."""
    query = {"creates": staging.created_rows, "updates": staging.updated_rows,
             "deletes": staging.deleted_rows}[which](stage)
    with closing(session.fetch(query)) as batches:
        for batch in batches:
            part = ChangeSet(changes.model, changes.fields, changes.key,
                             initial_fields=changes.initial_fields)
            _read_back(plan, session, stage, part, create=which == "creates",
                       update=which == "updates", delete=which == "deletes", rows=batch)
            yield part
