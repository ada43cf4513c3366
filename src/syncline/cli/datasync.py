"""``syncline datasync install|uninstall|run|status|retry|purge`` (docs/datasync.md)."""

from __future__ import annotations

import json
import signal
from datetime import datetime
from typing import Any

import click

from syncline.cli.options import EPILOG, EXIT_OK, project


@click.group("datasync")
def datasync_group() -> None:
    """Real-time sync: each source change carried to the target within a second."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _engine(url: str) -> Any:
    from syncline.targets.sql import make_engine

    return make_engine(url)


@datasync_group.command("install", epilog=EPILOG)
@click.option("--source", required=True, help="Source database URL.")
@click.option("--table", "tables", required=True, multiple=True, help="Table to watch.")
@click.option("--key", required=True, metavar="COL[,COL...]", help="The table's key column(s).")
@click.pass_context
def install_command(ctx: click.Context, /, source: str, tables: tuple[str, ...],
                    key: str) -> None:
    """Install triggers that log every change of TABLE (with its key) in the source's
    syncline_changes table; on PostgreSQL they also wake the daemon (NOTIFY)."""
    from syncline.cli.report import fail
    from syncline.errors import SynclineError
    from syncline.targets import triggers

    engine = _engine(source)
    try:
        for table in tables:
            triggers.install(engine, table, _split(key))
            click.echo(f"watching {table} (key {key})")
    except SynclineError as exc:
        fail(ctx, exc)
    finally:
        engine.dispose()


@datasync_group.command("uninstall", epilog=EPILOG)
@click.option("--source", required=True, help="Source database URL.")
@click.option("--table", "tables", required=True, multiple=True, help="Table to stop watching.")
@click.pass_context
def uninstall_command(ctx: click.Context, /, source: str, tables: tuple[str, ...]) -> None:
    """Remove TABLE's triggers and its changes not yet carried to a queue."""
    from syncline.cli.report import fail
    from syncline.errors import SynclineError
    from syncline.targets import triggers

    engine = _engine(source)
    try:
        for table in tables:
            triggers.uninstall(engine, table)
            click.echo(f"no longer watching {table}")
    except SynclineError as exc:
        fail(ctx, exc)
    finally:
        engine.dispose()


@datasync_group.command("run", epilog=EPILOG)
@click.option("--source", help="Source database URL (default: the handler's).")
@click.option("--target", help="Target database URL (default: the project's config).")
@click.option("--table", "tables", multiple=True,
              help="Watched source table, synced into the target table of the same name.")
@click.option("--handler", "handler_name", help="A handler instead of --table: entry point"
              " name or module:Class; its models that read a watched table are synced.")
@click.option("--consumers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Consumer processes.")
@click.option("--batch", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Changes claimed at a time.")
@click.option("--max-tries", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="A record failing this many times goes to the dead letters.")
@click.option("--lease", type=click.FloatRange(1), default=120.0, show_default=True,
              help="Seconds a claimed batch is a consumer's before another may take it.")
@click.option("--idle", type=click.FloatRange(0.01), default=0.2, show_default=True,
              help="Seconds between looks at an idle source (a source that notifies wakes the"
              " daemon at once).")
@click.option("--since-column", help="Poll instead of triggers: the source column that"
              " grows on every change (e.g. updated_at); needs --key.")
@click.option("--key", help="Polling: the key column(s) of the --table(s).")
@click.option("--delete-check", type=click.FloatRange(1), default=60.0, show_default=True,
              help="Polling: seconds between two looks for deleted records.")
@click.option("--runas", help="Who the versions say made the changes (default: the"
              " config's runas, SYNCLINE_RUNAS, else 'datasync').")
@click.option("--queue", "queue_url", metavar="URL", help="The queue: a Redis stream"
              " (redis://HOST:PORT/DB[?stream=NAME]); default: the target database's tables.")
@click.option("--watch-dir", metavar="DIR", help="Files instead of a source database: each"
              " model's file DIR/MODEL.csv (.jsonl, .parquet, .xlsx ...) is synced whole"
              " when it is new or replaced; with --table and --key, or --handler.")
@click.option("--settle", type=click.FloatRange(0), default=2.0, show_default=True,
              metavar="SECONDS", help="--watch-dir: seconds a file must be left unwritten"
              " before it is synced (a copy still going on is not taken half-written).")
@click.pass_context
def run_command(ctx: click.Context, /, source: str | None, target: str | None,
                tables: tuple[str, ...], handler_name: str | None, consumers: int,
                batch: int, max_tries: int, lease: float, idle: float,
                since_column: str | None, key: str | None, delete_check: float,
                runas: str | None, queue_url: str | None, watch_dir: str | None,
                settle: float) -> None:
    """Run the datasync daemon in the foreground: watch, queue, apply; one log line per
    batch. SIGTERM finishes the batch in hand and exits 0.

    \b
    Examples:
      syncline datasync run --source postgresql://pos/db --target postgresql://office/db \\
          --table products --table customers --consumers 2
      syncline datasync run --handler pos-example --consumers 2
      syncline datasync run --watch-dir /srv/exports --target sqlite:///shop.db \
          --table products --key upc
    """
    from syncline.cli.report import fail
    from syncline.datasync.consumer import Settings
    from syncline.datasync.daemon import Job, run
    from syncline.errors import ConfigError, SynclineError

    # a SIGTERM before the daemon's own handler is in place: nothing is in hand, exit 0
    signal.signal(signal.SIGTERM, _stopped_while_starting)
    config = project(ctx)
    try:
        if bool(tables) == bool(handler_name):
            raise ConfigError("datasync run needs --table (one or more) or --handler")
        job = Job(target_url=config.require_target(target, "datasync run"),
                  source_url=config.resolve_source(source),
                  tables=tables, handler=handler_name,
                  settings=Settings(batch=batch, lease=lease, max_tries=max_tries,
                                    runas=runas or config.runas),
                  idle=idle, since_column=since_column,
                  key=_split(key) if key else (), delete_check=delete_check,
                  queue_url=queue_url, watch_dir=watch_dir, settle=settle)
        run(job, consumers=consumers)
    except SynclineError as exc:
        fail(ctx, exc)
    ctx.exit(EXIT_OK)


@datasync_group.command("status", epilog=EPILOG)
@click.option("--target", help="Target database URL (default: the project's config).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--queue", "queue_url", metavar="URL", help="The queue: a Redis stream"
              " (redis://HOST:PORT/DB[?stream=NAME]); default: the target database's tables.")
@click.pass_context
def status_command(ctx: click.Context, /, target: str | None, as_json: bool,
                   queue_url: str | None) -> None:
    """Queue depth, oldest change's age, dead letters, consumers alive, lag per model."""
    from syncline.cli.report import fail
    from syncline.errors import SynclineError

    try:
        queue = _queue(ctx, target, "datasync status", queue_url, create=False)
        found = queue.status()
        _close(queue)
    except SynclineError as exc:
        fail(ctx, exc, as_json=as_json)
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    oldest = found["oldest_seconds"]
    click.echo(f"queued {found['queued']}"
               + (f" (oldest {oldest:.1f} s)" if oldest is not None else "")
               + f", dead letters {found['dead']}, consumers alive"
                 f" {found['consumers_alive']}")
    for model, m in found["models"].items():
        click.echo(f"  {model}: queued {m['queued']}, retrying {m['retrying']}, lag"
                   f" {m['lag_seconds']:.1f} s, dead {m['dead']}")


def _stopped_while_starting(signum: int, frame: Any) -> None:
    raise SystemExit(EXIT_OK)


def _queue(ctx: click.Context, target: str | None, command: str,
           queue_url: str | None = None, *, create: bool = True) -> Any:
    """The queue: the Redis stream of ``--queue``, else the target's tables (made when
    missing, unless ``create`` is off: ``status`` only looks, and never makes a database
    file out of a mistyped path)."""
    if queue_url is not None:
        from syncline.datasync.redis_queue import RedisQueue

        redis_queue = RedisQueue(queue_url)
        redis_queue.create()
        return redis_queue
    import sqlalchemy as sa

    from syncline.datasync.queue import Queue
    from syncline.masking import mask_url
    from syncline.targets.refusals import translate

    url = project(ctx).require_target(target, command)
    if not create:
        from syncline.targets.sql import SqlTarget

        SqlTarget(url).require_database()  # a database file that is not there: refused
    queue = Queue(_engine(url))
    try:
        if create:
            queue.create()
        else:
            with queue.engine.connect():
                pass
    except sa.exc.DBAPIError as exc:  # the target cannot be reached
        raise translate(exc, f"cannot open the datasync queue in {mask_url(queue.engine.url)}"
                        ) from exc
    return queue


def _close(queue: Any) -> None:
    if queue.engine is None:
        queue.close()
    else:
        queue.engine.dispose()


@datasync_group.command("retry", epilog=EPILOG)
@click.argument("ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Queue every dead letter again.")
@click.option("--target", help="Target database URL (default: the project's config).")
@click.option("--queue", "queue_url", metavar="URL", help="The queue: a Redis stream"
              " (redis://HOST:PORT/DB[?stream=NAME]); default: the target database's tables.")
@click.pass_context
def retry_command(ctx: click.Context, /, ids: tuple[str, ...], everything: bool,
                  target: str | None, queue_url: str | None) -> None:
    """Queue dead letters (by ID, or --all) again, their tries reset."""
    from syncline.cli.report import fail
    from syncline.errors import ConfigError, SynclineError

    try:
        if bool(ids) == everything:
            raise ConfigError("name dead letter IDs or pass --all (not both)")
        chosen: list[Any] = list(ids)
        if queue_url is None:  # the tables' dead letters are numbered
            bad = [i for i in ids if not i.isdigit()]
            if bad:
                raise ConfigError(f"dead letter IDs are numbers: {', '.join(bad)}")
            chosen = [int(i) for i in ids]
        queue = _queue(ctx, target, "datasync retry", queue_url)
        count = queue.retry(None if everything else chosen)
        _close(queue)
    except SynclineError as exc:
        fail(ctx, exc)
    click.echo(f"queued {count} dead letter(s) again")


@datasync_group.command("purge", epilog=EPILOG)
@click.option("--dead", is_flag=True, required=True, help="Purge dead letters.")
@click.option("--before", required=True, metavar="DATE",
              help="Purge those that died before DATE (ISO, e.g. 2026-11-01; UTC).")
@click.option("--target", help="Target database URL (default: the project's config).")
@click.option("--queue", "queue_url", metavar="URL", help="The queue: a Redis stream"
              " (redis://HOST:PORT/DB[?stream=NAME]); default: the target database's tables.")
@click.pass_context
def purge_command(ctx: click.Context, /, dead: bool, before: str, target: str | None,
                  queue_url: str | None) -> None:
    """Delete the dead letters that died before DATE."""
    from syncline.cli.report import fail
    from syncline.errors import ConfigError, SynclineError

    try:
        try:
            when = datetime.fromisoformat(before)
        except ValueError:
            raise ConfigError(f"--before {before!r} is not an ISO date or time") from None
        if when.tzinfo is not None:
            from datetime import UTC

            when = when.astimezone(UTC).replace(tzinfo=None)
        queue = _queue(ctx, target, "datasync purge", queue_url)
        count = queue.purge_dead(when)
        _close(queue)
    except SynclineError as exc:
        fail(ctx, exc)
    click.echo(f"purged {count} dead letter(s)")
