"""Handler: several importers, in dependency order, in ONE target transaction.

A run computes every importer's change set first, lets the guards judge them, and only
then applies: creates and updates in the order of ``importers`` (parents first), deletes
in reverse order (children first). It commits on success, rolls back on any error, and
never writes in a dry run (the dry run does not apply and roll back: it never applies).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any, ClassVar

from syncline.engine import Computed, Plan, compute, make_plan
from syncline.errors import ConfigError, GuardError, RowErrors, SynclineError
from syncline.faults import pause_point
from syncline.guards import check_guards
from syncline.importer import Importer
from syncline.locks import run_lock
from syncline.options import RunOptions
from syncline.result import ModelResult, Result
from syncline.sources.base import Source
from syncline.sources.sql import SqlSource
from syncline.targets.sql import SqlTarget, TargetSession

#: called as progress(model, phase, done, total): phase is "read", "apply"
Progress = Callable[[str, str, int, int | None], None]


class Handler:
    """A job that keeps several models of a target in step with a source."""

    #: the name used for the run lock and in messages (default: the class name)
    name: str = ""
    #: importer classes in dependency order: parents before children
    importers: ClassVar[Sequence[type[Importer]]] = ()
    #: default URLs; the command line or the constructor can replace them
    source_url: str | None = None
    target_url: str | None = None

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

    @property
    def models(self) -> list[str]:
        return [i.name for i in self._importers]

    def importer(self, model: str) -> Importer:
        for candidate in self._importers:
            if candidate.name == model:
                return candidate
        raise ConfigError(f"handler {self.name} has no model {model!r}"
                          f" (models: {', '.join(self.models)})")

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

    # -- running --------------------------------------------------------------
    def run(self, options: RunOptions | None = None, models: Sequence[str] | None = None,
            progress: Progress | None = None) -> Result:
        """One run; raises a SynclineError (with ``.result`` attached) when it fails."""
        options = options or RunOptions()
        chosen = [self.importer(m) for m in models] if models else list(self._importers)
        chosen.sort(key=self._importers.index)
        result = Result(dry_run=options.dry_run)
        started = time.perf_counter()
        target = self.make_target()
        try:
            # a dry run writes nothing anywhere, not even a lock
            with nullcontext() if options.dry_run else run_lock(target, self.name):
                session = target.session(options.lock_timeout)
                try:
                    self._run(session, chosen, options, result, progress)
                finally:
                    session.close()
        except SynclineError as exc:
            result.error = exc
            exc.result = result  # type: ignore[attr-defined]
            raise
        finally:
            result.seconds = time.perf_counter() - started
            target.close()
            for importer in chosen:
                importer.close_source()
        return result

    def _run(self, session: TargetSession, chosen: list[Importer], options: RunOptions,
             result: Result, progress: Progress | None) -> None:
        plans: list[tuple[Plan, Computed]] = []
        for importer in chosen:
            began = time.perf_counter()
            model = ModelResult(importer.name)
            result.models[importer.name] = model
            if progress:
                progress(importer.name, "read", 0, None)
            # staging and comparing run SQL too: their driver errors (a lock wait, a lost
            # connection) are translated like those of applying
            with session.translating(f"cannot compare with table {importer.table}",
                                     model=importer.name):
                plan = make_plan(importer, importer.source(self), session, options)
                computed = compute(plan, session, options, _reading(progress, importer.name))
            model.changes = computed.changes
            model.errors = computed.errors
            model.error_count = computed.error_count
            model.rejected = len(computed.rejected)
            model.warnings = computed.warnings
            model.seconds = time.perf_counter() - began
            plans.append((plan, computed))
        pause_point("after_read")
        errors = [e for _, c in plans for e in c.errors]
        fatal = any(c.fatal for _, c in plans)  # duplicate keys: --on-error=skip is no way out
        if not fatal:
            self._write_rejects(plans, options)
        if errors and (options.on_error == "abort" or fatal):
            total = sum(c.error_count for _, c in plans)
            if fatal and all(e.file is None for _, c in plans for e in c.fatal):
                advice = ""  # the target's duplicate keys: the error says what to do
            elif fatal:
                advice = (". Duplicate keys are never skipped: fix the source, or pass"
                          " --on-duplicate=first or --on-duplicate=last to keep one row")
            elif isinstance(errors[0], GuardError):
                advice = ""
            else:
                advice = (". Fix the source, or pass --on-error=skip --rejects FILE to apply"
                          " the rest")
            raise RowErrors(
                f"{total} row error(s); nothing was written (first: {errors[0]}){advice}", errors)
        refusals = [g for _, c in plans for g in check_guards(c.changes, options)]
        for refusal in refusals:
            result.models[refusal.model or ""].errors.append(refusal)
        if refusals:
            if len(refusals) == 1:
                raise refusals[0]
            raise GuardError("; ".join(r.message for r in refusals),
                             guard=refusals[0].guard, flag=refusals[0].flag)
        if options.dry_run:
            return
        for plan, computed in plans:
            began = time.perf_counter()
            if progress:
                progress(plan.importer.name, "apply", 0, computed.changes.total)
            session.apply_upserts(plan.importer.table, computed.changes, plan.specs,
                                  options.types, as_read=not plan.importer.has_target_hook)
            pause_point("mid_apply")
            result.models[plan.importer.name].seconds += time.perf_counter() - began
        for plan, computed in reversed(plans):
            began = time.perf_counter()
            session.apply_deletes(plan.importer.table, computed.changes, plan.specs,
                                  options.types, as_read=not plan.importer.has_target_hook)
            result.models[plan.importer.name].seconds += time.perf_counter() - began
        pause_point("before_commit")
        session.commit()
        result.committed = True
        pause_point("after_commit")

    def _write_rejects(self, plans: list[tuple[Plan, Computed]], options: RunOptions) -> None:
        rejected = [(p, r) for p, c in plans for r in c.rejected]
        if options.on_error != "skip":
            return
        if options.rejects is None:
            if rejected:
                raise ConfigError("--on-error=skip needs --rejects FILE: rejected rows are never"
                                  " dropped silently")
            return
        with open(options.rejects, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["model", "row", "reason", *_all_fields(plans)])
            fields = _all_fields(plans)
            for plan, rejected_row in rejected:
                by_name = dict(zip(plan.fields, rejected_row.values, strict=False))
                writer.writerow([plan.importer.name, rejected_row.row, rejected_row.reason,
                                 *(by_name.get(f, "") for f in fields)])


def _all_fields(plans: list[tuple[Plan, Computed]]) -> list[str]:
    names: dict[str, Any] = {}
    for plan, _ in plans:
        names.update(dict.fromkeys(plan.fields))
    return list(names)


def _reading(progress: Progress | None, model: str) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda done: progress(model, "read", done, None)
