"""``syncline sync`` and ``syncline import``: parse options, call the library, report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from syncline.cli.options import EPILOG, F, project, run_options
from syncline.sources.formats import FORMATS


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _run_options(kw: dict[str, Any], **extra: Any) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from syncline.errors import ConfigError
    from syncline.options import RunOptions
    from syncline.types import TypeOptions

    try:
        zone = ZoneInfo(kw["zone"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {kw['zone']!r}") from exc
    return RunOptions(
        create=kw["create"], update=kw["update"], delete=kw["delete"],
        dry_run=kw["dry_run"] or kw["check"],
        max_create=kw["max_create"], max_update=kw["max_update"],
        max_delete=kw["max_delete"], max_total=kw["max_total"],
        allow_mass_delete=kw["allow_mass_delete"], on_duplicate=kw["on_duplicate"],
        on_error=kw["on_error"], rejects=Path(kw["rejects"]) if kw["rejects"] else None,
        max_rejected=kw["max_rejected"], escape_formulas=kw["escape_formulas"],
        types=TypeOptions(strip_text=kw["strip_whitespace"], zone=zone,
                          null_tokens=frozenset(kw["null_tokens"])),
        engine=kw["engine"], collect_changes=kw["show_diff"],
        lock_timeout=kw["lock_timeout"], lock_wait=kw["lock_wait"],
        rows_out=Path(kw["rows_out"]) if kw["rows_out"] else None,
        report_skipped=kw["report_skipped"],
        tracebacks=bool((click.get_current_context().find_root().obj or {}).get("traceback")),
        versions=kw["versions"], runas=kw["runas"], comment=kw["comment"],
        **extra,
    )


def _looks_like_url(text: str) -> bool:
    return "://" in text and not os.path.exists(text)


def source_options(func: F) -> F:
    """The options that say how SOURCE is read (``sync``, ``export``)."""
    options = [
        click.option("--source-table", help="Table to read when SOURCE is a database URL."),
        click.option("--source-query", help="Query to read when SOURCE is a database URL."),
        click.option("--format", "file_format", type=click.Choice(FORMATS),
                     help="Format of a SOURCE file (default: by its extension: .csv .tsv"
                          " .jsonl .ndjson .parquet .xlsx .xls .ods; else csv)."),
        click.option("--sheet", help="The sheet of a spreadsheet SOURCE (default: the first)."),
        click.option("--encoding", default="utf-8", show_default=True,
                     help="Encoding of a CSV or JSON Lines source."),
        click.option("--delimiter", default=",", show_default=True,
                     help="Delimiter of a CSV source."),
        click.option("--allow-no-final-newline", is_flag=True,
                     help="Read a CSV or JSON Lines file whose last line has no line break (by"
                          " default it is refused as possibly still being written)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _make_source(config: Any, source: str, kw: dict[str, Any]) -> Any:
    """SOURCE of ``sync`` and ``export``: a database URL, a source system named in the
    config, or a file (CSV, JSON Lines, Parquet, a spreadsheet: ``--format`` or the
    extension), read as the :func:`source_options` in ``kw`` say."""
    from syncline.errors import ConfigError

    source_url = config.resolve_source(source)
    table, query = kw["source_table"], kw["source_query"]
    if _looks_like_url(source_url):
        from syncline.sources.sql import SqlSource

        return SqlSource(source_url, table=table, query=query)
    if table or query:
        raise ConfigError("--source-table/--source-query need a database URL as SOURCE")
    delimiter = kw["delimiter"]
    sep = "\t" if delimiter in ("\\t", "tab") else delimiter
    from syncline.sources.formats import file_source

    if not os.path.exists(source):
        raise ConfigError(f"source file {source} does not exist")
    return file_source(source, format=kw["file_format"], encoding=kw["encoding"],
                       delimiter=sep, sheet=kw["sheet"],
                       allow_no_final_newline=kw["allow_no_final_newline"])


@click.command("sync", epilog=EPILOG)
@click.argument("source")
@click.argument("target", required=False)
@click.option("--table", required=True, help="Target table (also the model's name).")
@click.option("--key", required=True, metavar="COL[,COL...]", help="Key column(s).")
@click.option("--fields", metavar="COL[,COL...]",
              help="Fields to compare and write (default: the target's columns in the source).")
@click.option("--exclude", metavar="COL[,COL...]", help="Fields never compared nor written.")
@source_options
@click.option("--strict-columns", is_flag=True,
              help="A CSV column that is not in the target table is an error, not a warning.")
@click.option("--create-table", is_flag=True,
              help="Create a missing target table from the source's columns.")
@run_options
@click.pass_context
def sync_command(ctx: click.Context, /, source: str, target: str | None, table: str, key: str,
                 fields: str | None, exclude: str | None, strict_columns: bool,
                 create_table: bool, **kw: Any) -> None:
    """Make table TABLE of database TARGET match SOURCE (a file — CSV, JSON Lines, Parquet,
    a spreadsheet —, a database URL, or a source system named in the project's config).
    TARGET defaults to the config's.

    \b
    Examples:
      syncline sync products.csv sqlite:///shop.db --table products --key upc --dry-run --diff
      syncline sync postgresql://pos/db sqlite:///shop.db --table products --key upc \\
          --source-table item --delete
    """
    from syncline.cli.report import run_and_report

    def build() -> Any:
        from syncline.handler import Handler
        from syncline.importer import Importer

        config = project(ctx)
        src = _make_source(config, source, kw)
        importer = Importer(table=table, key=_split(key), fields=_split(fields),
                            exclude=_split(exclude) or (), source=src)
        handler = Handler(target_url=config.require_target(target, "sync"),
                          importers=[importer], name=f"sync {table}")
        handler.runas = config.runas
        options = _run_options(kw, strict_columns=strict_columns, create_table=create_table)
        return handler, options, None

    run_and_report(ctx, build, kw)


@click.command("export", epilog=EPILOG)
@click.argument("source")
@click.argument("dest")
@click.option("--key", required=True, metavar="COL[,COL...]", help="Key column(s).")
@click.option("--fields", metavar="COL[,COL...]",
              help="Columns to export (default: every column of the source).")
@click.option("--exclude", metavar="COL[,COL...]", help="Columns never exported.")
@source_options
@click.option("--allow-formulas", is_flag=True,
              help="Write CSV/XLSX cells starting with = + - @ as they are (by default they"
                   " get a leading ' so that a spreadsheet never runs them as formulas).")
@run_options
@click.pass_context
def export_command(ctx: click.Context, /, source: str, dest: str, key: str,
                   fields: str | None, exclude: str | None, allow_formulas: bool,
                   **kw: Any) -> None:
    """Export SOURCE (a database URL, a source system named in the config, or a file)
    to the file DEST: .csv, .jsonl, .xlsx (extra "xlsx") or .parquet (extra "parquet").

    A first export writes DEST; against an existing DEST it is a sync, reported like
    `sync` (--dry-run, --diff, --json, --check, the guards, --delete), and DEST is replaced
    atomically, rows in key order. See docs/exporters.md.

    \b
    Examples:
      syncline export sqlite:///shop.db products.csv --source-table products --key upc
      syncline export sqlite:///shop.db products.xlsx --source-table products --key upc \\
          --delete --diff
    """
    from syncline.cli.report import run_and_report

    def build() -> Any:
        from syncline.errors import ConfigError
        from syncline.exporting import TargetHandler
        from syncline.importer import Importer
        from syncline.targets.files import FileTarget

        for option, flag in (("rejects", "--rejects"), ("rows_out", "--rows-out")):
            if kw[option]:
                raise ConfigError(f"{flag} is not available for export (yet)")
        if kw["engine"] == "database":
            raise ConfigError("an export diffs in memory: --engine database does not apply")
        config = project(ctx)
        src = _make_source(config, source, kw)
        target = FileTarget(dest, escape_formulas=not allow_formulas)
        model = kw["source_table"] or Path(dest).stem or "export"
        importer = Importer(table=model, key=_split(key), fields=_split(fields),
                            exclude=_split(exclude) or (), source=src)
        handler = TargetHandler(importer, target, name=f"export {model}")
        return handler, _run_options(kw), None

    run_and_report(ctx, build, kw)


@click.command("import", epilog=EPILOG)
@click.argument("handler_name", metavar="HANDLER")
@click.argument("models", nargs=-1)
@click.option("--source", "source_url", help="Source database URL, or a source system of the"
              " project's config ([sources.NAME]) (default: the handler's).")
@click.option("--target", "target_url", help="Target database URL (default: the handler's).")
@click.option("--list-models", is_flag=True, help="List the handler's models and exit.")
@run_options
@click.pass_context
def import_command(ctx: click.Context, /, handler_name: str, models: tuple[str, ...],
                   source_url: str | None, target_url: str | None, list_models: bool,
                   **kw: Any) -> None:
    """Run a code-defined HANDLER: an entry point name (group syncline.handlers) or module:Class.

    MODEL names limit the run to those models (default: all, in dependency order).
    """
    from syncline.cli.report import fail, run_and_report
    from syncline.errors import SynclineError
    from syncline.plugins import load_handler

    try:
        config = project(ctx)
        handler_class = load_handler(handler_name)
        handler = handler_class(source_url=config.resolve_source(source_url),
                                target_url=target_url or config.target_url)
        if handler.runas is None:
            handler.runas = config.runas
    except SynclineError as exc:
        fail(ctx, exc, as_json=kw["as_json"])
    if list_models:
        for model in handler.models:
            click.echo(model)
        return

    def build() -> Any:
        return handler, _run_options(kw), list(models) or None

    run_and_report(ctx, build, kw)


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@click.pass_context
def config_command(ctx: click.Context, /, as_json: bool) -> None:
    """Print the project's resolved settings (passwords masked)."""
    import json

    from syncline.cli.report import fail
    from syncline.errors import SynclineError

    try:
        settings = project(ctx).as_dict()
    except SynclineError as exc:
        fail(ctx, exc, as_json=as_json)
    if as_json:
        click.echo(json.dumps(settings))
        return
    for name, value in settings.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                click.echo(f"{name}.{sub} = {item if item is not None else '-'}")
        elif isinstance(value, list):
            click.echo(f"{name} = {', '.join(value) if value else '-'}")
        else:
            click.echo(f"{name} = {value if value is not None else '-'}")

