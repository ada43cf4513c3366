"""Run a handler for the command line and report: progress, diff, summary, JSON, exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from syncline.cli.options import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_GUARD,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_OK,
)

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


def fail(ctx: click.Context, exc: SynclineError, *, as_json: bool = False) -> NoReturn:
    """Report an error that happened before a run started, and exit."""
    code = exit_code_for(exc)
    _print_error(exc, traceback=_wants_traceback(ctx))
    if as_json:
        click.echo(json_text(None, exc, code))
    ctx.exit(code)
    raise AssertionError("unreachable")  # pragma: no cover


def _wants_traceback(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.obj and root.obj.get("traceback"))


def _print_error(exc: BaseException, *, traceback: bool) -> None:
    """``Error: ...`` on stderr (credentials masked); the listing of row errors adds up."""
    from syncline.errors import SynclineError
    from syncline.masking import mask_text

    if traceback:
        import traceback as tb

        click.echo(mask_text("".join(tb.format_exception(exc))), err=True, nl=False)
    if not isinstance(exc, SynclineError):
        click.echo(mask_text(f"Error: unexpected {type(exc).__name__}: {exc}"
                             + ("" if traceback else " (run with --traceback for details)")),
                   err=True)
        return
    click.echo(mask_text(f"Error: {exc}"), err=True)
    details = getattr(exc, "errors", None)
    if details and len(details) > 1:
        from syncline.result import ERRORS_SHOWN

        total = max(getattr(exc, "total", None) or 0, len(details))
        for error in details[:ERRORS_SHOWN]:
            click.echo(mask_text(f"  - {error}"), err=True)
        shown = min(len(details), ERRORS_SHOWN)
        if total > shown:
            click.echo(f"  ... and {total - shown} more", err=True)


def error_as_dict(exc: BaseException | None, code: int) -> dict[str, Any] | None:
    """The ``error`` object of the JSON report (any exception, syncline's or not)."""
    from syncline.errors import SynclineError

    if exc is None:
        return None
    if isinstance(exc, SynclineError):
        data = exc.as_dict()
        listed = getattr(exc, "errors", None)
        if listed:  # several row errors: where the first is, and the first few
            from syncline.result import ERRORS_SHOWN

            for name, value in listed[0].as_dict().items():
                if data.get(name) is None:
                    data[name] = value
            data["errors"] = [e.as_dict() for e in listed[:ERRORS_SHOWN]]
            data["error_count"] = max(getattr(exc, "total", 0) or 0, len(listed))
    else:
        interrupted = isinstance(exc, KeyboardInterrupt | click.exceptions.Abort)
        message = "interrupted; nothing was written" if interrupted else str(exc)
        data = {"type": type(exc).__name__, "message": message or type(exc).__name__,
                "model": None, "key": None, "row": None, "field": None, "column": None,
                "value": None, "file": None}
    data["exit_code"] = code
    return data


def json_text(result: Result | None, exc: BaseException | None, code: int, *,
              changes: bool = False, dry_run: bool = False) -> str:
    """The ONE JSON object of a run, whatever its outcome (credentials masked)."""
    from syncline.masking import mask_text

    if result is not None:
        data = result.as_dict(changes=changes)
    else:
        data = {"dry_run": dry_run, "committed": False, "seconds": 0.0, "error": None,
                "models": {}}
    data["error"] = error_as_dict(exc, code)
    data["exit_code"] = code
    return mask_text(json.dumps(data, default=str))


class _Outcome:
    """What the command knows so far, so that an interruption can still tell the truth."""

    def __init__(self, ctx: click.Context, kw: dict[str, Any]) -> None:
        self.as_json: bool = kw["as_json"]
        self.show_diff: bool = kw["show_diff"]
        self.check: bool = kw["check"]
        self.dry_run: bool = bool(kw["dry_run"] or kw["check"])
        self.traceback = _wants_traceback(ctx)
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.code = EXIT_ERROR
        self.json_done = False

    def report(self) -> int:
        from syncline.errors import SynclineError

        if isinstance(self.error, SynclineError):
            self.code = exit_code_for(self.error)
        elif self.error is not None:
            self.code = EXIT_ERROR
        elif self.check and self.result is not None and self.result.total_changes:
            self.code = EXIT_CHANGES
        else:
            self.code = EXIT_OK
        if self.as_json:
            self.json_done = True
            click.echo(json_text(self.result, self.error, self.code, changes=self.show_diff,
                                 dry_run=self.dry_run))
        elif self.result is not None:
            _report(self.result, show_diff=self.show_diff)
        if self.error is not None:
            _print_error(self.error, traceback=self.traceback)
        return self.code

    def cut_short(self, exc: BaseException) -> int:
        """Ctrl-C or a closed stdout: say what happened to the data, which is what counts."""
        committed = self.result is not None and self.result.committed
        pipe = isinstance(exc, BrokenPipeError)
        if pipe:
            _silence_stdout()
        what = "the output was closed" if pipe else "interrupted"
        if committed:
            assert self.result is not None
            counts = ", ".join(f"{name}: created {m.created}, updated {m.updated},"
                               f" deleted {m.deleted}" for name, m in self.result.models.items())
            _stderr(f"Note: {what} after the run committed: the changes ARE written"
                    f" ({counts}); only the report was cut short")
            code = EXIT_OK
        elif pipe:  # the exit code stays the run's own (3 for --check with changes...)
            _stderr("Note: the output was closed before the report was complete;"
                    " nothing was written")
            code = self.code
        else:
            _stderr("Error: interrupted; nothing was written")
            code = EXIT_INTERRUPTED
        if self.as_json and not self.json_done and not pipe:
            self.json_done = True
            error = None if committed else exc
            click.echo(json_text(self.result, error, code, dry_run=self.dry_run))
        return code


def _stderr(text: str) -> None:
    try:
        click.echo(text, err=True)
    except OSError:
        pass  # stderr is gone too: the exit code still tells


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so that the exit's flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run_and_report(ctx: click.Context, build: Callable[[], Any], kw: dict[str, Any]) -> None:
    """Build the run, run it, report it; every outcome ends in ``ctx.exit(code)``."""
    from syncline.errors import SynclineError

    outcome = _Outcome(ctx, kw)
    try:
        try:
            handler, options, models = build()
            with _progress(enabled=not outcome.as_json and sys.stderr.isatty()) as progress:
                outcome.result = handler.run(options, models, progress)
        except SynclineError as exc:
            outcome.result, outcome.error = getattr(exc, "result", None), exc
        except (KeyboardInterrupt, BrokenPipeError) as exc:
            outcome.result = getattr(exc, "result", None)
            raise
        except Exception as exc:  # a bug still reads as one line, in the JSON too
            outcome.result, outcome.error = getattr(exc, "result", None), exc
        code = outcome.report()
    except (KeyboardInterrupt, BrokenPipeError) as exc:
        code = outcome.cut_short(exc)
    ctx.exit(code)


def _report(result: Result, *, show_diff: bool) -> None:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # Rich exits 1 silently; the command must say whether the run committed
            self.quiet = True
            raise BrokenPipeError("the output was closed")

    console = _Console(highlight=False, soft_wrap=True)
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


def summary_title(result: Result) -> str:
    """What the counts below it are: done, or only what the run would have done."""
    from syncline.errors import GuardError

    if result.committed:
        return "Committed"
    if isinstance(result.error, GuardError):
        return ("Dry run, refused by a guard" if result.dry_run else "Refused by a guard") + \
            ": nothing was written; would-be counts"
    if result.error is not None and result.writing:
        return "Rolled back: the target refused a change; nothing was written; would-be counts"
    if result.error is not None:
        return "Refused: nothing was written; would-be counts of the rows that were read"
    if result.dry_run:
        return "Dry run: nothing was written; would-be counts"
    return "Not committed: nothing was written; would-be counts"


def print_summary(console: Any, result: Result) -> None:
    from rich.table import Table

    title = summary_title(result)
    table = Table(title=f"{title} ({result.seconds:.2f} s)")
    for column in ("model", "created", "updated", "deleted", "unchanged", "skipped", "errors"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, model in result.models.items():
        table.add_row(name, str(model.created), str(model.updated), str(model.deleted),
                      str(model.unchanged), str(model.skipped),
                      str(max(model.error_count, len(model.errors))))
    console.print(table)
    if result.committed and result.transaction_id is not None:
        written = sum(m.versions or 0 for m in result.models.values())
        console.print(f"Versions: {written} row(s) under transaction {result.transaction_id}")


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
