"""Handler: several importers, in dependency order, in ONE target transaction.

A run computes every importer's change set first, lets the guards judge them, and only
then applies: creates and updates in the order of ``importers`` (parents first), deletes
in reverse order (children first). It commits on success, rolls back on any error, and
never writes in a dry run (the dry run does not apply and roll back: it never applies).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from itertools import chain
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from syncline.engines.base import DiffEngine, choose_engine
from syncline.engines.plan import Computed, Plan
from syncline.engines.planning import make_plan
from syncline.errors import ConfigError, GuardError, RowErrors
from syncline.faults import pause_point
from syncline.guards import check_guards, check_rejected
from syncline.importer import Importer
from syncline.lifecycle import Context, RowResult, RowsFile, call_after_run, call_hook
from syncline.locks import run_lock
from syncline.options import RunOptions
from syncline.rejects import Rejected, RejectsFile, check_path, database_files, source_files
from syncline.result import ModelResult, Result
from syncline.sources.base import Source
from syncline.sources.sql import SqlSource
from syncline.target_keys import check_target_keys
from syncline.targets.sql import SqlTarget, TargetSession
from syncline.versions.writer import (
    VersionWriter,
    Who,
    is_versioned,
    require_version_columns,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

#: called as progress(model, phase, done, total): phase is "read", "apply"
Progress = Callable[[str, str, int, int | None], None]


class Planned(NamedTuple):
    """One model of a run: its plan, the engine that computed it, and what it found."""

    plan: Plan
    engine: DiffEngine
    computed: Computed


class Handler:
    """A job that keeps several models of a target in step with a source."""

    #: the name used for the run lock and in messages (default: the class name)
    name: str = ""
    #: importer classes in dependency order: parents before children
    importers: ClassVar[Sequence[type[Importer]]] = ()
    #: default URLs; the command line or the constructor can replace them
    source_url: str | None = None
    #: a URL, or an engine whose connection pool every run shares (the datasync's)
    target_url: str | sa.Engine | None = None
    #: who a run's versions say made the changes, unless the run says (``--runas``)
    runas: str | None = None

    def __init__(self, *, source_url: str | None = None, target_url: str | None = None,
                 importers: Sequence[Importer] | None = None, name: str | None = None) -> None:
        if source_url is not None:
            self.source_url = source_url
        if target_url is not None:
            self.target_url = target_url
        if name is not None:
            self.name = name
        self.name = self.name or type(self).__name__
        self._importers = list(importers) if importers is not None else [
            cls() for cls in type(self).importers]
        names = [i.name for i in self._importers]
        if len(set(names)) != len(names):
            raise ConfigError(f"handler {self.name} has two importers with the same model name")
        self._one_importer_per_table()

    def _one_importer_per_table(self) -> None:
        """Two importers writing one table would each delete what the other creates, and
        the counts the guards judge would not be what happens to the table: refused. Names
        are compared case-insensitively (SQLite and some MariaDB setups fold them)."""
        seen: dict[str, Importer] = {}
        for importer in self._importers:
            other = seen.setdefault(importer.table.casefold(), importer)
            if other is not importer:
                raise ConfigError(
                    f"handler {self.name}: importers {other.name} and {importer.name} both"
                    f" write table {importer.table}; one importer per table (merge them into"
                    " one, or use a source query that unites their records)",
                    model=importer.name)

    @property
    def models(self) -> list[str]:
        return [i.name for i in self._importers]

    def importer(self, model: str) -> Importer:
        for candidate in self._importers:
            if candidate.name == model:
                return candidate
        raise ConfigError(f"handler {self.name} has no model {model!r}"
                          f" (models: {', '.join(self.models)})")

    def source_for(self, importer: Importer) -> Source:
        """The source of an importer's records: the one it was given, else (once) the
        handler's own (:meth:`make_source`)."""
        source = importer.given_source
        if source is None:
            source = self.make_source(importer)
            importer.use_source(source)
        return source

    def make_source(self, importer: Importer) -> Source:
        """The source of an importer that was not given one: the handler's SQL source."""
        if self.source_url is None:
            raise ConfigError(f"importer {importer.name} has no source and handler {self.name}"
                              " has no source_url")
        if importer.source_query is not None:
            return SqlSource(self.source_url, query=importer.source_query)
        return SqlSource(self.source_url, table=importer.source_table or importer.table)

    def make_target(self) -> SqlTarget:
        if self.target_url is None:
            raise ConfigError(f"handler {self.name} has no target_url")
        return SqlTarget(self.target_url)

    # -- the lifecycle (docs/lifecycle.md) ----------------------------------------
    def before_run(self, context: Context) -> None:
        """First of all, before the target is opened (also in a dry run); raising refuses
        the run (``after_run`` is still called, with the error)."""

    def after_run(self, result: Result, error: BaseException | None) -> None:
        """Last of all, after a committed, dry, refused or failed run: ``error`` is what
        the run raises (None when it succeeded). What this hook raises after a run that
        succeeded is the run's error (the commit stands: ``result.committed``); after a
        failed run the run's error stands, with a note about this hook's failure."""

    # -- running --------------------------------------------------------------
    def run(self, options: RunOptions | None = None, models: Sequence[str] | None = None,
            progress: Progress | None = None,
            in_transaction: Callable[[sa.Connection], None] | None = None) -> Result:
        """One run; raises a SynclineError (with ``.result`` attached) when it fails.

        ``in_transaction`` is called with the run's connection after every write, right
        before the commit: what it writes commits or rolls back with the run (datasync
        removes the changes it applied from its queue this way); what it raises fails the
        run, and nothing is written."""
        options = options or RunOptions()
        self._in_transaction = in_transaction
        chosen = [self.importer(m) for m in models] if models else list(self._importers)
        chosen.sort(key=self._importers.index)
        result = Result(dry_run=options.dry_run)
        started = time.perf_counter()
        target = self.make_target()
        self._rejects: RejectsFile | None = None
        self._rows: RowsFile | None = None
        self._plans: list[Planned] = []
        self._context = Context(self.name, options, [i.name for i in chosen])
        try:
            call_hook(self.before_run, "before_run", self._context)
            target.require_database(create=options.create_table, dry_run=options.dry_run)
            self._check_rejects_path(chosen, target, options)
            # a dry run writes nothing anywhere, not even a lock
            with nullcontext() if options.dry_run else run_lock(
                    target, self.name, [importer.table for importer in chosen],
                    options.lock_wait):
                session = target.session(options.lock_timeout)
                try:
                    self._run(session, chosen, options, result, progress)
                except BaseException:
                    # the run's own error is the one reported: a connection its Ctrl-C
                    # broke mid-statement (LOAD DATA, COPY) fails the rollback as well
                    with suppress(Exception):
                        session.close()
                    raise
                session.close()
        except BaseException as exc:  # Ctrl-C too: the CLI must know whether it committed
            call_after_run(self.after_run, result, exc)
            raise
        finally:
            if self._rejects is not None and result.committed:
                self._rejects.publish()  # even when Ctrl-C came between commit and rename
            elif self._rejects is not None:
                self._rejects.discard()  # written but not committed: nothing is left
            if self._rows is not None and result.committed:
                self._rows.publish()
            elif self._rows is not None:
                self._rows.discard()
            for _, engine, computed in self._plans:
                computed.rejected.close()  # the spooled rejected rows
                engine.close()
            result.seconds = time.perf_counter() - started
            target.close()
            for importer in chosen:
                importer.close_source()
                importer.context = None
        call_after_run(self.after_run, result, None)
        return result


    def _run(self, session: TargetSession, chosen: list[Importer], options: RunOptions,
             result: Result, progress: Progress | None) -> None:
        plans: list[Planned] = []
        self._plans = plans
        session.models = {importer.table: importer.name for importer in chosen}
        for importer in chosen:
            began = time.perf_counter()
            model = ModelResult(importer.name)
            result.models[importer.name] = model
            if progress:
                progress(importer.name, "read", 0, None)
            importer.context = self._context.for_model(importer.name)
            call_hook(importer.before_import, "before_import", importer.context,
                      model=importer.name)
            # staging and comparing run SQL too: their driver errors (a lock wait, a lost
            # connection) are translated like those of applying
            with session.translating(f"cannot compare with table {importer.table}",
                                     model=importer.name):
                plan = make_plan(importer, self.source_for(importer), session, options)
                check_target_keys(session, importer.table, importer.key, importer.name,
                                  keys=plan.db_keys())
                engine = choose_engine(plan, session, options)
                computed = engine.compute(plan, session, options,
                                          _reading(progress, importer.name))
            model.engine = engine.name
            model.skips = computed.skips
            model.same = computed.same
            model.flagged = computed.flagged
            model.fold_key = plan.fold_key
            model.changes = computed.changes
            model.errors = computed.errors
            model.error_count = computed.error_count
            model.rejected = len(computed.rejected)
            model.warnings = computed.warnings
            model.seconds = time.perf_counter() - began
            plans.append(Planned(plan, engine, computed))
        pause_point("after_read")
        if options.on_error == "skip" and options.rejects is None and any(
                c.rejected for _, _, c in plans):
            raise ConfigError("--on-error=skip needs --rejects FILE: rejected rows are never"
                              " dropped silently")
        errors = [e for _, _, c in plans for e in c.errors]
        fatal = any(c.fatal for _, _, c in plans)  # duplicate keys: --on-error=skip is no way out
        if errors and (options.on_error == "abort" or fatal):
            total = sum(c.error_count for _, _, c in plans)
            if fatal:
                advice = (". Duplicate keys are never skipped: fix the source, or pass"
                          " --on-duplicate=first or --on-duplicate=last to keep one row")
            else:
                advice = (". Fix the source, or pass --on-error=skip --rejects FILE to apply"
                          " the rest")
            # --traceback shows where a hook failed: the first error with a cause
            cause = next((e for e in errors if e.__cause__ is not None), None)
            raise RowErrors(
                f"{total} row error(s); nothing was written (first: {errors[0]}){advice}", errors,
                total=total) from cause
        refusals = [g for p, _, c in plans for g in [check_rejected(
            p.importer.name, len(c.rejected), c.source_rows, options)] if g is not None]
        refusals += [g for _, _, c in plans
                     for g in check_guards(c.changes, options, c.source_rows)]
        refusals += [_flagged_without_delete(p, c) for p, _, c in plans
                     if c.flagged and not p.allowed(options).delete]
        for refusal in refusals:
            result.models[refusal.model or ""].errors.append(refusal)
        if refusals:
            if len(refusals) == 1:
                raise refusals[0]
            raise GuardError("; ".join(r.message for r in refusals),
                             guard=refusals[0].guard, flag=refusals[0].flag)
        for plan, _, computed in plans:  # the last word before anything is written
            call_hook(plan.importer.before_apply, "before_apply", computed.changes,
                      model=plan.importer.name)
        versioned = self._versioned(session, plans, options, result)
        if options.dry_run:
            self._report_rows(session, plans, result, None)
            return  # a dry run writes nothing anywhere: no rejects file either
        result.writing = True
        writer = VersionWriter(session, self._who(options)) if versioned else None
        for plan, engine, computed in plans:
            began = time.perf_counter()
            if progress:
                progress(plan.importer.name, "apply", 0, computed.changes.total)
            refused = engine.apply(plan, session, computed, options)
            if refused:  # --on-error=skip: the target refused these rows; the rest applies
                model = result.models[plan.importer.name]
                model.errors.extend(refused)
                model.error_count += len(refused)
                model.rejected += len(refused)
                for error in refused:  # to the rejects file too, with the row's values
                    computed.rejected.append(Rejected(error.row or 0, error.values, str(error)))
                # the rows the target refused count against --max-rejected as well
                limit = check_rejected(plan.importer.name, len(computed.rejected),
                                       computed.source_rows, options)
                if limit is not None:
                    model.errors.append(limit)
                    raise limit
            if writer is not None and plan.importer.table in versioned:
                changes = computed.changes
                writer.write(plan.importer.table, plan.importer.key,
                             engine.changed(plan, session, computed, ("c", "u")), ("c", "u"),
                             changes.created + changes.updated)
            pause_point("mid_apply")
            result.models[plan.importer.name].seconds += time.perf_counter() - began
        for plan, engine, computed in reversed(plans):
            began = time.perf_counter()
            if writer is not None and plan.importer.table in versioned:
                writer.write(plan.importer.table, plan.importer.key,
                             engine.changed(plan, session, computed, ("d",)), ("d",),
                             computed.changes.deleted)  # before: the rows are still there
            engine.apply_deletes(plan, session, computed, options)
            result.models[plan.importer.name].seconds += time.perf_counter() - began
        self._write_rejects(plans, options)
        if options.rows_out is not None:
            self._rows = RowsFile(check_path(options.rows_out, []), options.tracebacks)
        self._report_rows(session, plans, result, self._rows)
        pause_point("before_commit")
        if self._in_transaction is not None:
            with session.translating("cannot finish the run's transaction"):
                self._in_transaction(session.conn)
        if writer is not None:
            result.transaction_id = writer.transaction_id
            for plan, _, _ in plans:
                if plan.importer.table in versioned:
                    result.models[plan.importer.name].versions = writer.written.get(
                        plan.importer.table, 0)
        with _interrupt_after():  # Ctrl-C never lands between COMMIT and `committed`
            session.commit()
            result.committed = True
        if self._rejects is not None:
            self._rejects.publish()
        if self._rows is not None:
            self._rows.publish()
        pause_point("after_commit")

    def _report_rows(self, session: TargetSession, plans: list[Planned], result: Result,
                     rows: RowsFile | None) -> None:
        """Each model's row results to ``after_row`` and the rows file, then
        ``after_import``: after every write, before the commit (docs/lifecycle.md)."""
        options = self._context.options
        for plan, engine, computed in plans:
            importer, model = plan.importer, result.models[plan.importer.name]
            hooked = importer.overrides("after_row")
            if hooked or rows is not None:
                streamed = engine.row_results(plan, session, computed)  # bounded memory
                rows_of = model.rows() if streamed is None else chain(streamed,
                                                                      model.error_rows())
                for row in _closing(rows_of, streamed):
                    if row.reason == "unchanged" and not options.report_skipped:
                        continue
                    if hooked:
                        call_hook(importer.after_row, "after_row", row, model=model.model,
                                  row=row.row, key=row.key)
                    if rows is not None:
                        rows.write(row)
            call_hook(importer.after_import, "after_import", model, model=model.model)
        if rows is not None:
            rows.finish()

    def _versioned(self, session: TargetSession, plans: list[Planned], options: RunOptions,
                   result: Result) -> set[str]:
        """The tables of this run that keep versions (docs/versions.md); with
        ``--no-versions`` none, and a warning for each table that has them."""
        tables = {p.importer.table for p, _, _ in plans
                  if is_versioned(session, p.importer.table)}
        if tables and not options.versions:
            for plan, _, _ in plans:
                if plan.importer.table in tables:
                    result.models[plan.importer.name].warnings.append(
                        f"{plan.importer.name}: table {plan.importer.table} keeps versions,"
                        " but --no-versions: this run's changes get none (a catch-up run"
                        " can add them later)")
            return set()
        for table in sorted(tables):  # --no-versions is the way out while a migration lags
            require_version_columns(session, table)
        return tables

    def _who(self, options: RunOptions) -> Who:
        """The user and comment of this run's versions."""
        user = options.runas or self.runas or os.environ.get("SYNCLINE_RUNAS") or None
        return Who(user=user, comment=options.comment)

    def _check_rejects_path(self, chosen: list[Importer], target: SqlTarget,
                            options: RunOptions) -> None:
        """Refuse, before the run, a rejects or rows path that is an input of the run or
        unusable (RELIABILITY row 36), or both the same file."""
        if options.rejects is None and options.rows_out is None:
            return
        inputs = database_files(target.engine.url, "the target database")
        for importer in chosen:
            inputs += source_files(self.source_for(importer))
        if options.rejects is not None:
            inputs.append((check_path(options.rejects, inputs), "the rejects file"))
        if options.rows_out is not None:
            check_path(options.rows_out, inputs, option="--rows-out")

    def _write_rejects(self, plans: list[Planned], options: RunOptions) -> None:
        """The rejects file, to a temporary file: renamed into place after the commit."""
        if options.on_error != "skip" or options.rejects is None:
            return
        self._rejects = RejectsFile(check_path(options.rejects, []),
                                    escape_formulas=options.escape_formulas)
        self._rejects.write([(p.importer.name, p.fields, c.rejected) for p, _, c in plans])


def _flagged_without_delete(plan: Plan, computed: Computed) -> GuardError:
    """for_delete asked for deletes this run may not do: refused, never silently ignored."""
    name = plan.importer.name
    return GuardError(
        f"{name}: for_delete flagged {len(computed.flagged)} record(s) for deletion, but"
        " deletes are off for this run; nothing was written (pass --delete,"
        " RunOptions(delete=True), to delete them)", guard="for_delete", flag="--delete",
        model=name)


def _closing(rows: Iterator[RowResult], streamed: Iterator[RowResult] | None
             ) -> Iterator[RowResult]:
    """``rows``; a stream read from the target is closed as soon as the loop stops (a
    hook raised), while the connection is still open."""
    try:
        yield from rows
    finally:
        close = getattr(streamed, "close", None)
        if close is not None:
            close()


@contextmanager
def _interrupt_after() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block is done, then raise it: a report then
    knows for sure whether the run committed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _reading(progress: Progress | None, model: str) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda done: progress(model, "read", done, None)
