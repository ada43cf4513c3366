"""Entry point: the command group, and what ends every command (errors, Ctrl-C).

Heavy modules (SQLAlchemy, Rich, the engine) are imported inside the commands, so that
``syncline --version`` and ``--help`` start fast.
"""

from __future__ import annotations

import sys
from importlib.metadata import version

import click

from syncline.cli.options import EPILOG, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(version("syncline"), "--version", prog_name="syncline")
@click.option("--traceback", is_flag=True, help="Show the Python traceback of an error.")
@click.option("--config", "config_path", metavar="FILE",
              help="The project's config file (default: syncline.toml, or pyproject.toml's"
                   " [tool.syncline], from here upwards).")
@click.pass_context
def cli(ctx: click.Context, traceback: bool, config_path: str | None) -> None:
    """Keep a target in step with a source: diff per row, apply in one transaction."""
    ctx.obj = {"traceback": traceback, "config_path": config_path}


def _register() -> None:
    from syncline.cli import commands, datasync, db, new, versions

    cli.add_command(commands.sync_command)
    cli.add_command(commands.export_command)
    cli.add_command(commands.import_command)
    cli.add_command(versions.versions_group)
    cli.add_command(commands.config_command)
    cli.add_command(versions.history_command)
    cli.add_command(db.db_group)
    cli.add_command(new.new_command)
    cli.add_command(datasync.datasync_group)


def main(argv: list[str] | None = None) -> None:
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
