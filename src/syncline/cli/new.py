"""``syncline new``: a project for custom tables (library: :mod:`syncline.project.scaffold`)."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("new", epilog="Exit codes: 0 made; 1 error (nothing is left behind);"
                             " 2 usage error.")
@click.argument("name")
@click.argument("folder", metavar="[DIR]", required=False)
@click.pass_context
def new_command(ctx: click.Context, /, name: str, folder: str | None) -> None:
    """Create the project NAME in DIR (default: ./NAME, which must not exist or be empty):
    syncline.toml, pyproject.toml, models Widget and Component (tables NAME_widget and
    NAME_component), their migrations folder (branch NAME), a handler NAME-csv that fills
    them from CSV files, sample data, tests and a README with the checklist.

    \b
    Example:
      syncline new poser && cd poser && pip install -e '.[test]'
    """
    from syncline.cli.report import fail
    from syncline.errors import SynclineError

    try:
        from syncline.project.scaffold import create_project

        made = create_project(name, folder)
    except SynclineError as exc:
        fail(ctx, exc)
    shown = _shown(made.folder)
    click.echo(f"created {shown}/ (project {name}: prefix {name}_, migration branch {name},"
               f" handler {name}-csv)")
    for path in made.files:
        click.echo(f"  {path.as_posix()}")
    click.echo("next (README.md has the whole checklist):")
    for step in (f"cd {shown}", "pip install -e '.[test]'",
                 f'syncline db revision --autogenerate -m "add widgets, components"'
                 f" --head {name}@head",
                 "syncline db upgrade heads", f"syncline import {name}-csv --source data",
                 f"syncline history {name}_widget 1", "syncline db check", "pytest"):
        click.echo(f"  {step}")


def _shown(folder: Path) -> str:
    """The folder as the user would type it: relative to here when it is below."""
    try:
        return os.path.relpath(folder) if folder.is_relative_to(Path.cwd()) else str(folder)
    except (OSError, ValueError):
        return str(folder)
