"""``syncline versions enable|status|catch-up`` and ``syncline history`` (docs/versions.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from syncline.cli.options import EPILOG, EXIT_OK, WHO_OPTIONS, project


@click.group("versions")
def versions_group() -> None:
    """Version tables: every change kept, as SQLAlchemy-Continuum keeps it."""


@versions_group.command("enable")
@click.argument("tables", nargs=-1, required=True)
@click.option("--target", help="Target database URL (default: the project's config).")
@click.pass_context
def enable_command(ctx: click.Context, /, tables: tuple[str, ...], target: str | None) -> None:
    """Create what versions of TABLES need (idempotent): transaction, transaction_meta and
    each TABLE_version."""
    from syncline.cli.report import fail
    from syncline.errors import SynclineError
    from syncline.versions.admin import enable

    try:
        created = enable(project(ctx).require_target(target, "versions enable"), tables)
    except SynclineError as exc:
        fail(ctx, exc)
    for name in created:
        click.echo(f"created {name}")
    click.echo(f"versions kept for {', '.join(tables)}")


@versions_group.command("status")
@click.option("--target", help="Target database URL (default: the project's config).")
@click.option("--json", "as_json", is_flag=True, help="Print the tables as JSON.")
@click.pass_context
def status_command(ctx: click.Context, /, target: str | None, as_json: bool) -> None:
    """List the versioned tables with their row and version counts."""
    from syncline.cli.report import fail
    from syncline.errors import SynclineError
    from syncline.versions.admin import status

    try:
        found = status(project(ctx).require_target(target, "versions status"))
    except SynclineError as exc:
        fail(ctx, exc, as_json=as_json)
    if as_json:
        click.echo(json.dumps({"tables": [t.as_dict() for t in found]}))
        return
    if not found:
        click.echo("no versioned tables")
    for table in found:
        note = (f"  (the version table lacks {', '.join(table.missing)})"
                if table.missing else "")
        click.echo(f"{table.table}: {table.rows} rows, {table.versions} versions{note}")


class _CatchUp:
    """What :func:`run_and_report` runs: a catch-up, in a handler's shape."""

    def __init__(self, target: str, tables: Sequence[str]) -> None:
        self.target, self.tables = target, tables

    def run(self, options: Any, models: Any, progress: Any) -> Any:
        from syncline.versions.catchup import catch_up

        return catch_up(self.target, self.tables, options)


F = TypeVar("F", bound=Callable[..., Any])


def _with(options: list[Any]) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


@versions_group.command("catch-up", epilog=EPILOG)
@click.argument("tables", nargs=-1)
@click.option("--target", help="Target database URL (default: the project's config).")
@click.option("--delete/--no-delete", default=True, show_default=True,
              help="Write delete versions for records whose live row is gone.")
@click.option("--dry-run", is_flag=True, help="Compute and show the versions; write nothing.")
@click.option("--check", is_flag=True, help="Dry run that exits with code 3 when behind.")
@click.option("--max-create", type=click.IntRange(min=0), metavar="N")
@click.option("--max-update", type=click.IntRange(min=0), metavar="N")
@click.option("--max-delete", type=click.IntRange(min=0), metavar="N")
@click.option("--max-total", type=click.IntRange(min=0), metavar="N")
@click.option("--allow-mass-delete", is_flag=True,
              help="Let delete versions for most of the table through.")
@click.option("--lock-timeout", type=click.FloatRange(min=0, min_open=True), default=30,
              show_default=True, metavar="SECONDS")
@_with(WHO_OPTIONS)
@click.option("--diff", "show_diff", is_flag=True, help="Print the per-record differences.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.pass_context
def catch_up_command(ctx: click.Context, /, tables: tuple[str, ...], target: str | None,
                     **kw: Any) -> None:
    """Bring the versions of TABLES (default: every versioned table) up to the live rows:
    each difference becomes a new version, under one transaction."""
    from syncline.cli.report import run_and_report

    def build() -> Any:
        from syncline.options import RunOptions

        config = project(ctx)
        options = RunOptions(
            create=True, update=True, delete=kw["delete"], dry_run=kw["dry_run"] or kw["check"],
            max_create=kw["max_create"], max_update=kw["max_update"],
            max_delete=kw["max_delete"], max_total=kw["max_total"],
            allow_mass_delete=kw["allow_mass_delete"], lock_timeout=kw["lock_timeout"],
            collect_changes=kw["show_diff"], runas=kw["runas"] or config.runas,
            comment=kw["comment"])
        return _CatchUp(config.require_target(target, "versions catch-up"), tables), options, None

    run_and_report(ctx, build, kw)


@click.command("history")
@click.argument("table")
@click.argument("key", nargs=-1, required=True)
@click.option("--target", help="Target database URL (default: the project's config).")
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
@click.pass_context
def history_command(ctx: click.Context, /, table: str, key: tuple[str, ...], target: str | None,
                    as_json: bool) -> None:
    """Every version of the record of TABLE with primary key KEY, oldest first."""
    from syncline.cli.report import fail
    from syncline.errors import SynclineError
    from syncline.versions.history import record_history

    try:
        versions = record_history(project(ctx).require_target(target, "history"), table, key)
    except SynclineError as exc:
        fail(ctx, exc, as_json=as_json)
    if as_json:
        click.echo(json.dumps({"table": table, "key": list(key),
                               "versions": [v.as_dict() for v in versions]}))
        ctx.exit(EXIT_OK)
    if not versions:
        click.echo(f"{table} {' '.join(key)}: no versions")
    for v in versions:
        when = v.issued_at.isoformat(sep=" ", timespec="seconds") if v.issued_at else "?"
        who = f" by {v.user}" if v.user is not None else ""
        where = f" from {v.remote_addr}" if v.remote_addr else ""
        why = f": {v.comment}" if v.comment else ""
        click.echo(f"#{v.transaction_id} {when} {v.operation}{who}{where}{why}")
        for name, (old, new) in v.changed.items():
            click.echo(f"    {name}: {old!r} -> {new!r}" if v.operation == "update"
                       else f"    {name}: {new!r}")
