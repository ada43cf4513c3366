"""What every command shares: exit codes, the epilog, the options of a run."""

from __future__ import annotations

from collections.abc import Callable
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


#: who and why, for the versions a run writes (docs/versions.md)
WHO_OPTIONS = [
    click.option("--runas", metavar="USER",
                 help="The user the versions name (default: the handler's runas, else"
                      " $SYNCLINE_RUNAS)."),
    click.option("--comment", metavar="TEXT", help="Why: kept with the versions' transaction."),
]
VERSION_OPTIONS = [
    click.option("--versions/--no-versions", "versions", default=True, show_default=True,
                 help="Write versions of tables that keep them (--no-versions warns)."),
    *WHO_OPTIONS,
]


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
        click.option("--rows-out", metavar="FILE.jsonl",
                     help="Write each row's outcome (new, update, delete, skip, error) as one"
                          " JSON line; written only when the run commits (never in a dry"
                          " run), never an input of the run."),
        click.option("--report-skipped", is_flag=True,
                     help="List unchanged rows too in the row results (--rows-out)."),
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
        click.option("--lock-wait", type=click.FloatRange(min=0), default=0,
                     show_default=True, metavar="SECONDS",
                     help="Keep trying this long when another run holds the table (the"
                          " datasync daemon's batches hold it for milliseconds); 0: exit 5"
                          " at once."),
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
        *VERSION_OPTIONS,
        click.option("--diff", "show_diff", is_flag=True, help="Print the per-row changes."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print the run result as one JSON object on stdout."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def project(ctx: click.Context) -> Any:
    """The project's settings (:mod:`syncline.config`), loaded once per command."""
    from syncline.config import load_config

    root = ctx.find_root()
    if root.obj is None:
        root.obj = {}
    if "config" not in root.obj:
        root.obj["config"] = load_config(root.obj.get("config_path"))
    return root.obj["config"]

