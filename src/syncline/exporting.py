"""Runs of one importer into a :class:`~syncline.targets.protocol.Target` that is not a SQL
database: a file (``syncline export``), a web API (``examples/webapi_target.py``).

:class:`TargetHandler` is the seam: the SQL :class:`~syncline.handler.Handler` drives a
database session (staging, locks, versions); this one drives a ``Target`` with the same
parts everywhere else — the source is read and coerced by the in-memory engine
(:func:`~syncline.engines.memory.read_source`), the diff is :func:`~syncline.diff.diff`,
row errors, the guards (``--max-*``, the mass-delete guard, ``--delete``) and the hooks
``before_run``/``before_import``/``before_apply``/``after_import``/``after_run`` judge it
exactly as for a database, and the :class:`~syncline.result.Result` is the same, so the
command line reports it with the same code (``--dry-run``, ``--diff``, ``--json``,
``--check``). A dry run and a refused run never call the target's ``begin``.

The column types of the records are the source's: a SQL table's own column types, else
inferred from a sample of the values (:func:`source_specs`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from syncline.diff import Key, Values, diff
from syncline.engines.memory import read_source
from syncline.engines.plan import Computed, Plan
from syncline.engines.planning import resolve_types
from syncline.engines.reading import protected_batches
from syncline.errors import (
    ConfigError,
    GuardError,
    PartlyAppliedError,
    RowErrors,
)
from syncline.faults import pause_point
from syncline.guards import check_guards, check_rejected
from syncline.importer import Importer
from syncline.inference import infer_spec
from syncline.lifecycle import Context, call_after_run, call_hook
from syncline.options import RunOptions
from syncline.rejects import source_files
from syncline.result import ModelResult, Result
from syncline.sources.base import Source
from syncline.sources.replay import ReplaySource
from syncline.spec import ColumnSpec, TypeOptions
from syncline.targets.protocol import Applied, Target, TargetModel
from syncline.targets.registry import dialect_of_type
from syncline.text import to_text

#: rows sampled to infer the column types of a source that does not declare them
SAMPLE_ROWS = 10_000
#: called as progress(model, phase, done, total), as for Handler.run
Progress = Callable[[str, str, int, int | None], None]


def source_specs(source: Source) -> tuple[dict[str, ColumnSpec], Source]:
    """The column types of the source's records, and the source to read them from (a
    replay of it when a sample had to be read to infer them)."""
    columns = source.columns()
    specs: dict[str, ColumnSpec] = {}
    untyped = [c.name for c in columns if c.sql_type is None]
    sample: list[tuple[Any, ...]] = []
    if untyped:
        replay = source if isinstance(source, ReplaySource) else ReplaySource(source)
        sample = [values for _, values in replay.head(SAMPLE_ROWS)]
        source = replay
    names = [c.name for c in columns]
    for column in columns:
        if column.sql_type is not None:
            specs[column.name] = dialect_of_type(column.sql_type).column_spec(
                sa.Column(column.name, column.sql_type))
        else:
            i = names.index(column.name)
            texts = [v if isinstance(v, str) else to_text(v)
                     for v in (row[i] for row in sample) if v is not None]
            specs[column.name] = infer_spec(column.name, texts)
    return specs, source


class TargetHandler:
    """One model, from a source into a :class:`Target` (see the module's docstring)."""

    def __init__(self, importer: Importer, target: Target, *, name: str | None = None) -> None:
        if importer.given_source is None:
            raise ConfigError(f"importer {importer.name} has no source")
        self.importer = importer
        self.target = target
        self.name = name or f"export {importer.name}"

    @property
    def models(self) -> list[str]:
        return [self.importer.name]

    # -- the lifecycle (docs/lifecycle.md); as Handler's ----------------------------
    def before_run(self, context: Context) -> None:
        """First of all; raising refuses the run."""

    def after_run(self, result: Result, error: BaseException | None) -> None:
        """Last of all, after a committed, dry, refused or failed run."""

    def run(self, options: RunOptions | None = None, models: Sequence[str] | None = None,
            progress: Progress | None = None) -> Result:
        """One run; raises a SynclineError (with ``.result`` attached) when it fails. A
        target that cannot roll back and failed while applying raises a
        :class:`~syncline.errors.PartlyAppliedError` whose ``applied`` lists what it did."""
        options = options or RunOptions()
        if models and list(models) != self.models:
            raise ConfigError(f"{self.name} has one model: {self.importer.name}")
        importer, target = self.importer, self.target
        result = Result(dry_run=options.dry_run)
        started = time.perf_counter()
        context = Context(self.name, options, self.models)
        try:
            call_hook(self.before_run, "before_run", context)
            source = importer.given_source
            assert source is not None
            check = getattr(target, "check_inputs", None)
            if check is not None:  # RELIABILITY row 36: never an input of the run
                check(source_files(source))
            self._run(source, context, options, result, progress)
        except BaseException as exc:
            call_after_run(self.after_run, result, exc)
            raise
        finally:
            result.seconds = time.perf_counter() - started
            target.close()
            importer.close_source()
            importer.context = None
        call_after_run(self.after_run, result, None)
        return result


    def _run(self, source: Source, context: Context, options: RunOptions, result: Result,
             progress: Progress | None) -> None:
        importer, target = self.importer, self.target
        model = ModelResult(importer.name)
        model.engine = "memory"
        result.models[importer.name] = model
        importer.context = context.for_model(importer.name)
        call_hook(importer.before_import, "before_import", importer.context,
                  model=importer.name)
        if progress:
            progress(importer.name, "read", 0, None)
        plan = self._plan(source, options)
        source_map, computed = read_source(plan, options, None if progress is None else (
            lambda done: progress(importer.name, "read", done, None)))
        target.open(TargetModel(importer.name, plan.fields, importer.key, plan.specs,
                          TypeOptions(zone=options.types.zone, typed_source=True)))
        allowed = plan.allowed(options)
        if not computed.fatal:
            computed.changes = diff(
                importer.name, plan.fields, importer.key, source_map,
                _keyed(target.read(), plan.key_index),
                create=allowed.create, update=allowed.update, delete=allowed.delete,
                protected={k for batch in protected_batches(plan, computed) for k in batch})
        computed.warnings = plan.warnings + computed.warnings
        model.changes = computed.changes
        model.errors = computed.errors
        model.error_count = computed.error_count
        model.rejected = len(computed.rejected)
        model.warnings = computed.warnings
        model.skips = computed.skips
        computed.rejected.close()
        pause_point("after_read")
        _judge(plan, computed, options, model)
        call_hook(importer.before_apply, "before_apply", computed.changes, model=importer.name)
        if options.dry_run:
            call_hook(importer.after_import, "after_import", model, model=importer.name)
            return
        result.writing = True
        applied = Applied()
        if progress:
            progress(importer.name, "apply", 0, computed.changes.total)
        try:
            target.begin()
            target.apply(computed.changes, applied)
            call_hook(importer.after_import, "after_import", model, model=importer.name)
            pause_point("before_commit")
            target.commit()
            result.committed = True
        except BaseException as exc:
            target.rollback()
            if not target.capabilities.can_rollback:
                raise _partly_applied(target, applied, exc) from exc
            raise
        pause_point("after_commit")

    def _plan(self, source: Source, options: RunOptions) -> Plan:
        importer = self.importer
        if options.delete and not importer.allow_delete:
            raise ConfigError(f"importer {importer.name} never deletes (allow_delete is off)",
                              model=importer.name)
        if importer.has_source_hook or importer.has_target_hook or importer.has_skip_hook:
            raise ConfigError(f"{self.name}: an export runs no normalize_source,"
                              " normalize_target, before_row, for_delete nor skip_row hook;"
                              " shape the records in the source query", model=importer.name)
        specs, source = source_specs(source)
        columns = list(specs)
        fields, warnings = importer.resolve_fields(columns, columns)
        types, key_types = resolve_types(options.types, source)
        key_index = tuple(fields.index(k) for k in importer.key)
        return Plan(importer, source, fields, specs, key_index,
                    tuple(False for _ in importer.key), warnings, types, key_types,
                    read_fields=fields)


def _keyed(records: Iterator[Values], key_index: tuple[int, ...]
           ) -> Iterator[tuple[Key, Values]]:
    for values in records:
        yield tuple(values[i] for i in key_index), values


def _judge(plan: Plan, computed: Computed, options: RunOptions, model: ModelResult) -> None:
    """Row errors, then the guards, as :class:`~syncline.handler.Handler` judges them."""
    errors = computed.errors
    if computed.rejected and options.on_error == "skip":
        raise ConfigError(f"{plan.importer.name}: {len(computed.rejected)} row(s) rejected;"
                          " --on-error=skip needs a rejects file, which an export does not"
                          " write yet: rejected rows are never dropped silently; nothing was"
                          " written", model=plan.importer.name)
    if errors and (options.on_error == "abort" or computed.fatal):
        total = computed.error_count
        raise RowErrors(f"{total} row error(s); nothing was written (first: {errors[0]})",
                        errors, total=total)
    refusals: list[GuardError] = []
    rejected = check_rejected(plan.importer.name, len(computed.rejected),
                              computed.source_rows, options)
    if rejected is not None:
        refusals.append(rejected)
    refusals += check_guards(computed.changes, options, computed.source_rows)
    model.errors.extend(refusals)
    if len(refusals) == 1:
        raise refusals[0]
    if refusals:
        raise GuardError("; ".join(r.message for r in refusals),
                         guard=refusals[0].guard, flag=refusals[0].flag)


def _partly_applied(target: Target, applied: Applied, exc: BaseException
                    ) -> PartlyAppliedError:
    """A target that cannot roll back failed: what it did stays done; say exactly what."""
    done = (f"{len(applied.created)} created, {len(applied.updated)} updated,"
            f" {len(applied.deleted)} deleted")
    return PartlyAppliedError(
        f"{target.name} failed after applying {applied.total} change(s) ({done}); they stay"
        f" applied: this target cannot roll back. Run again to converge (its changes are"
        f" idempotent). The failure: {exc}", applied=applied.as_dict())
