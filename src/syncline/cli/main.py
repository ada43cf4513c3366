"""Entry point and the options every run command shares.

Heavy modules (SQLAlchemy, Rich, the engine) are imported inside the commands, so that
``syncline --version`` and ``--help`` start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from syncline.options import RejectedLimit

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHANGES = 3
EXIT_GUARD = 4
EXIT_LOCKED = 5
EXIT_INTERRUPTED = 130

EPILOG = (
    "Exit codes: 0 success; 1 error; 2 usage error; 3 --check found changes;"
    " 4 a guard refused the change set; 5 already running; 130 interrupted."
    " Nothing is written when the exit code is not 0. A run that committed exits 0 even when"
    " its report is cut short by Ctrl-C or a closed output (a note on stderr says so)."
)

F = TypeVar("F", bound=Callable[..., Any])


class _RejectedLimitType(click.ParamType["RejectedLimit"]):
    name = "N|P%"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> RejectedLimit:
        from syncline.options import RejectedLimit

        if isinstance(value, RejectedLimit):
            return value
        try:
            return RejectedLimit.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def run_options(func: F) -> F:
    """Options shared by every command that runs importers."""
    decorators = [
        click.option("--create/--no-create", default=True, show_default=True,
                     help="Create records the target lacks."),
        click.option("--update/--no-update", default=True, show_default=True,
                     help="Update records that differ."),
        click.option("--delete/--no-delete", default=False, show_default=True,
                     help="Delete target records the source lacks (off unless asked)."),
        click.option("--dry-run", is_flag=True,
                     help="Compute and show the changes; write nothing."),
        click.option("--check", is_flag=True,
                     help="Dry run that exits with code 3 when there are changes."),
        click.option("--max-create", type=click.IntRange(min=0), metavar="N",
                     help="Refuse the run (write nothing) if it would create more than N rows."),
        click.option("--max-update", type=click.IntRange(min=0), metavar="N",
                     help="Refuse the run if it would update more than N rows."),
        click.option("--max-delete", type=click.IntRange(min=0), metavar="N",
                     help="Refuse the run if it would delete more than N rows"
                          " (replaces the mass-delete guard)."),
        click.option("--max-total", type=click.IntRange(min=0), metavar="N",
                     help="Refuse the run if a model would change more than N rows."),
        click.option("--allow-mass-delete", is_flag=True,
                     help="Let deletes of most of the table through (an empty source!)."),
        click.option("--on-duplicate", type=click.Choice(["error", "first", "last"]),
                     default="error", show_default=True,
                     help="What to do with duplicate source keys."),
        click.option("--on-error", type=click.Choice(["abort", "skip"]), default="abort",
                     show_default=True,
                     help="abort: any row error writes nothing; skip: apply the rest and"
                          " write rejected rows to --rejects."),
        click.option("--rejects", metavar="FILE",
                     help="CSV file for rows rejected with --on-error=skip; written only when"
                          " the run commits (never in a dry run)."),
        click.option("--max-rejected", type=_RejectedLimitType(), default="10%",
                     show_default=True, metavar="N|P%",
                     help="With --on-error=skip: refuse the run (write nothing) when more"
                          " than N rows, or P% of the source rows, are rejected."),
        click.option("--escape-formulas/--no-escape-formulas", default=True,
                     show_default=True,
                     help="Prefix ' to rejects cells starting with = + - @ tab or CR, so a"
                          " spreadsheet never runs them as formulas."),
        click.option("--lock-timeout", type=click.FloatRange(min=0, min_open=True),
                     default=30, show_default=True, metavar="SECONDS",
                     help="Longest wait for a lock another session holds; then the run"
                          " fails as transient, writing nothing."),
        click.option("--timezone", "zone", default="UTC", show_default=True,
                     help="Zone in which naive datetimes are read."),
        click.option("--strip-whitespace/--keep-whitespace", "strip_whitespace", default=None,
                     help="Strip surrounding whitespace from source text. Default: stripped"
                          " from files (keys always), kept from SQL sources (copied exactly)."),
        click.option("--null", "null_tokens", multiple=True, metavar="TOKEN",
                     help="Read this source value as NULL in every column (repeatable,"
                          " e.g. --null NA --null '\\N'). The empty string is NULL anyway."),
        click.option("--engine", type=click.Choice(["auto", "memory", "database"]),
                     default="auto", show_default=True,
                     help="Diff engine: database stages the source in the target and diffs"
                          " in SQL; memory diffs in Python. auto picks by target."),
        click.option("--diff", "show_diff", is_flag=True, help="Print the per-row changes."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print the run result as one JSON object on stdout."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(version("syncline"), "--version", prog_name="syncline")
@click.option("--traceback", is_flag=True, help="Show the Python traceback of an error.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """Keep a target in step with a source: diff per row, apply in one transaction."""
    ctx.obj = {"traceback": traceback}


def _register() -> None:
    from syncline.cli import commands

    cli.add_command(commands.sync_command)
    cli.add_command(commands.import_command)


def main(argv: list[str] | None = None) -> None:
    import logging

    # psycopg logs what it ignores while ending a failed pipeline; the error itself is
    # reported once, by syncline, so nothing of that reaches the user's terminal
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    _register()
    args = sys.argv[1:] if argv is None else argv
    _remember_secrets(args)
    as_json = "--json" in args
    try:
        code = cli.main(args=args, prog_name="syncline", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as usage:
        usage.show()
        _json_error(as_json, usage, usage.exit_code)
        sys.exit(usage.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort) as stop:
        # only reached outside a run (run_and_report tells a committed run apart)
        click.echo("Error: interrupted; nothing was written", err=True)
        _json_error(as_json, stop, EXIT_INTERRUPTED)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # the last boundary: a bug must still read as one line
        from syncline.cli.report import _print_error

        _print_error(exc, traceback="--traceback" in args)
        _json_error(as_json, exc, EXIT_ERROR)
        sys.exit(EXIT_ERROR)


def _remember_secrets(args: list[str]) -> None:
    """Credentials in database URLs on the command line are never printed back."""
    if any("://" in a or "=" in a for a in args):
        from syncline.masking import remember_url

        for arg in args:
            if "://" in arg or "=" in arg:
                remember_url(arg)


def _json_error(as_json: bool, exc: BaseException, code: int) -> None:
    """``--json`` promises ONE object on stdout, whatever happened."""
    if as_json:
        from syncline.cli.report import json_text

        click.echo(json_text(None, exc, code))
