"""Run a handler for the command line and report: progress, diff, summary, JSON, exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from syncline.cli.main import EXIT_CHANGES, EXIT_ERROR, EXIT_GUARD, EXIT_LOCKED

if TYPE_CHECKING:
    from syncline.errors import SynclineError
    from syncline.result import Result


def exit_code_for(exc: SynclineError) -> int:
    from syncline.errors import AlreadyRunningError, GuardError

    if isinstance(exc, GuardError):
        return EXIT_GUARD
    if isinstance(exc, AlreadyRunningError):
        return EXIT_LOCKED
    return EXIT_ERROR


def fail(ctx: click.Context, exc: SynclineError) -> NoReturn:
    if ctx.obj and ctx.obj.get("traceback"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"Error: {exc}", err=True)
    details = getattr(exc, "errors", None)
    if details and len(details) > 1:
        from syncline.result import ERRORS_SHOWN

        for error in details[:ERRORS_SHOWN]:
            click.echo(f"  - {error}", err=True)
        if len(details) > ERRORS_SHOWN:
            click.echo(f"  ... and {len(details) - ERRORS_SHOWN} more", err=True)
    ctx.exit(exit_code_for(exc))
    raise AssertionError("unreachable")  # pragma: no cover


def run_and_report(ctx: click.Context, build: Callable[[], Any], kw: dict[str, Any]) -> None:
    from syncline.errors import SynclineError

    as_json: bool = kw["as_json"]
    result: Result | None = None
    try:
        handler, options, models = build()
        with _progress(enabled=not as_json and sys.stderr.isatty()) as progress:
            result = handler.run(options, models, progress)
    except SynclineError as exc:
        result = getattr(exc, "result", None)
        if result is not None:
            _report(result, as_json=as_json, show_diff=kw["show_diff"])
        fail(ctx, exc)
    assert result is not None
    _report(result, as_json=as_json, show_diff=kw["show_diff"])
    if kw["check"] and result.total_changes:
        ctx.exit(EXIT_CHANGES)


def _report(result: Result, *, as_json: bool, show_diff: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.as_dict(changes=show_diff), default=str))
        return
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if show_diff:
        print_diff(console, result)
    for model in result.models.values():
        for warning in model.warnings:
            console.print(f"[yellow]Warning:[/] {warning}", markup=True)
    print_summary(console, result)


def print_diff(console: Any, result: Result) -> None:
    from rich.markup import escape

    from syncline.diff import Create, Update
    from syncline.errors import format_key

    for name, model in result.models.items():
        if model.changes is None:
            continue
        for change in model.changes:
            key = escape(format_key(change.key))
            if isinstance(change, Create):
                values = ", ".join(f"{k}={v!r}" for k, v in change.new.items())
                console.print(f"[green]+ {name} {key}[/]: {escape(values)}")
            elif isinstance(change, Update):
                old, new = change.old, change.new
                parts = ", ".join(f"{f}: {old[f]!r} -> {new[f]!r}" for f in change.changed)
                console.print(f"[yellow]~ {name} {key}[/]: {escape(parts)}")
            else:
                console.print(f"[red]- {name} {key}[/]")


def print_summary(console: Any, result: Result) -> None:
    from rich.table import Table

    if result.dry_run:
        title = "Dry run: nothing was written"
    elif result.committed:
        title = "Committed"
    else:
        title = "Rolled back: nothing was written"
    table = Table(title=f"{title} ({result.seconds:.2f} s)")
    for column in ("model", "created", "updated", "deleted", "unchanged", "skipped", "errors"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, model in result.models.items():
        table.add_row(name, str(model.created), str(model.updated), str(model.deleted),
                      str(model.unchanged), str(model.skipped),
                      str(max(model.error_count, len(model.errors))))
    console.print(table)


class _progress:
    """A progress bar per model on a terminal; nothing otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._tasks: dict[tuple[str, str], Any] = {}

    def __enter__(self) -> Callable[[str, str, int, int | None], None] | None:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                             MofNCompleteColumn(), transient=True)
        self._bar.start()
        return self.update

    def update(self, model: str, phase: str, done: int, total: int | None) -> None:
        task = self._tasks.get((model, phase))
        if task is None:
            task = self._bar.add_task(f"{model}: {phase}", total=total)
            self._tasks[(model, phase)] = task
        self._bar.update(task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
