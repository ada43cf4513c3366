"""Entry point and the options every run command shares.

Heavy modules (SQLAlchemy, Rich, the engine) are imported inside the commands, so that
``syncline --version`` and ``--help`` start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, TypeVar

import click

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
    " Nothing is written when the exit code is not 0."
)

F = TypeVar("F", bound=Callable[..., Any])


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
        click.option("--rejects", type=click.Path(dir_okay=False), metavar="FILE",
                     help="CSV file for rows rejected with --on-error=skip."),
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
    try:
        code = cli.main(args=args, prog_name="syncline", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as usage:
        usage.show()
        sys.exit(usage.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("Error: interrupted; nothing was written", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # the last boundary: a bug must still read as one line
        if "--traceback" in args:
            raise
        click.echo(f"Error: unexpected {type(exc).__name__}: {exc}"
                   " (run with --traceback for details)", err=True)
        sys.exit(EXIT_ERROR)
