"""``syncline db``: the project's migrations (library: :mod:`syncline.project.migrations`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from syncline.cli.options import EXIT_ERROR, project

if TYPE_CHECKING:
    from syncline.project.migrations import RevisionInfo, Step

F = TypeVar("F", bound=Callable[..., Any])

TARGET = click.option("--target", help="Target database URL (default: the project's config).")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _guarded(func: Callable[..., None]) -> Callable[..., None]:
    """Report a syncline error (a missing Alembic included) as one line, exit 1."""

    def run(ctx: click.Context, /, **kw: Any) -> None:
        from syncline.cli.report import fail
        from syncline.errors import SynclineError

        try:
            func(ctx, **kw)
        except SynclineError as exc:
            fail(ctx, exc, as_json=kw.get("as_json", False))

    run.__name__, run.__doc__ = func.__name__, func.__doc__
    return run


@click.group("db", epilog="Exit codes: 0 success (check: clean); 1 error, or check found"
                          " differences; 2 usage error.")
def db_group() -> None:
    """The project's tables: Alembic migrations of its models (on branch NAME), next to
    syncline's own tables (on branch syncline)."""


@db_group.command("init")
@click.pass_context
@_guarded
def init_command(ctx: click.Context, /) -> None:
    """Create the project's migrations folder (env.py, script.py.mako, versions/ with the
    first, empty revision of branch NAME)."""
    from syncline.project.migrations import history, init_migrations

    config = project(ctx)
    folder = init_migrations(config)
    click.echo(f"created {folder} (env.py, script.py.mako, versions/)")
    for rev in history(config):
        if config.name in rev.branches:
            click.echo(f"created {rev.path} (branch {config.name}, revision {rev.revision})")


@db_group.command("revision")
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--autogenerate", is_flag=True,
              help="Write the differences between the models and the database.")
@click.option("--head", metavar="BRANCH@head",
              help="The revision to build on (default: the project's NAME@head).")
@TARGET
@click.pass_context
@_guarded
def revision_command(ctx: click.Context, /, message: str, autogenerate: bool, head: str | None,
                     target: str | None) -> None:
    """Write a new revision script on the project's branch (the prefix rule holds). With
    --autogenerate it holds what the models add to the database as the heads leave it (a
    database behind them is upgraded first)."""
    from syncline.project.migrations import revision

    config = project(ctx)
    url = config.require_target(target, "db revision") if autogenerate else None
    made = revision(config, message, autogenerate=autogenerate, head=head, url=url)
    if made.applied:
        click.echo("the database was behind the heads; applied first:")
        _steps(list(made.applied), False)
    click.echo(f"created {made.path} (revision {made.revision})")
    for change in made.changes:
        click.echo(f"  {change}")
    if autogenerate and not made.changes:
        click.echo("  no differences found: the revision is empty")


@db_group.command("upgrade")
@click.argument("revision", default="heads")
@TARGET
@AS_JSON
@click.pass_context
@_guarded
def upgrade_command(ctx: click.Context, /, revision: str, target: str | None,
                    as_json: bool) -> None:
    """Apply revisions up to REVISION (default: heads — every branch, syncline's too)."""
    from syncline.project.migrations import upgrade

    config = project(ctx)
    _steps(upgrade(config, config.require_target(target, "db upgrade"), revision), as_json)


@db_group.command("downgrade")
@click.argument("revision")
@TARGET
@AS_JSON
@click.pass_context
@_guarded
def downgrade_command(ctx: click.Context, /, revision: str, target: str | None,
                      as_json: bool) -> None:
    """Undo revisions down to REVISION (NAME@base: all of the project's; -1: one)."""
    from syncline.project.migrations import downgrade

    config = project(ctx)
    _steps(downgrade(config, config.require_target(target, "db downgrade"), revision), as_json)


@db_group.command("current")
@TARGET
@AS_JSON
@click.pass_context
@_guarded
def current_command(ctx: click.Context, /, target: str | None, as_json: bool) -> None:
    """The revisions the database is at."""
    from syncline.project.migrations import current

    config = project(ctx)
    found = current(config, config.require_target(target, "db current"))
    _revisions(found, as_json, "no revision applied (the database was never migrated)")


@db_group.command("heads")
@AS_JSON
@click.pass_context
@_guarded
def heads_command(ctx: click.Context, /, as_json: bool) -> None:
    """The newest revision of each branch."""
    from syncline.project.migrations import heads

    _revisions(heads(project(ctx)), as_json, "no revisions")


@db_group.command("history")
@AS_JSON
@click.pass_context
@_guarded
def history_command(ctx: click.Context, /, as_json: bool) -> None:
    """Every revision, newest first."""
    from syncline.project.migrations import history

    _revisions(history(project(ctx)), as_json, "no revisions")


@db_group.command("check")
@TARGET
@AS_JSON
@click.pass_context
@_guarded
def check_command(ctx: click.Context, /, target: str | None, as_json: bool) -> None:
    """Exit 1 when the database is behind the heads or differs from the models (a
    revision is missing), 0 when clean."""
    from syncline.project.migrations import check

    config = project(ctx)
    result = check(config, config.require_target(target, "db check"))
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    elif not result.up_to_date:
        at = ", ".join(result.current) or "no revision"
        click.echo(f"the database is not up to date: at {at}; the heads are"
                   f" {', '.join(result.heads)} (syncline db upgrade heads)")
    elif result.changes:
        click.echo("the models differ from the database (a revision is missing:"
                   " syncline db revision --autogenerate -m ...):")
        for change in result.changes:
            click.echo(f"  {change}")
    else:
        click.echo("the database matches the models and the heads")
    if not result.clean:
        ctx.exit(EXIT_ERROR)


def _steps(steps: list[Step], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"steps": [s.as_dict() for s in steps]}))
        return
    for step in steps:
        verb = "applied" if step.upgrade else "undid"
        click.echo(f"{verb} {step.revision}: {step.message}")
    if not steps:
        click.echo("nothing to do: the database is there already")


def _revisions(found: list[RevisionInfo], as_json: bool, none: str) -> None:
    if as_json:
        click.echo(json.dumps({"revisions": [r.as_dict() for r in found]}))
        return
    if not found:
        click.echo(none)
    for rev in found:
        down = ", ".join(rev.down) or "base"
        branches = f" ({', '.join(rev.branches)})" if rev.branches else ""
        head = " (head)" if rev.is_head else ""
        click.echo(f"{down} -> {rev.revision}{branches}{head}: {rev.message}")
