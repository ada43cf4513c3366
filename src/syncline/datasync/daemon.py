"""The datasync daemon: a watcher and consumers, in the foreground, until SIGTERM.

The first process watches (moves source changes onto the queue) and consumes; with
``consumers=N`` it starts N-1 more consumer processes and starts again any that dies.
SIGTERM or Ctrl-C: each process finishes the batch in hand and exits; the daemon exits 0.
When the target (or the source) cannot be reached, each process waits — 0.5 s, doubling up
to 10 s — and tries again: nothing is lost meanwhile, the changes wait in the source's
change log or the queue.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from syncline.datasync.consumer import Consumer, Settings
from syncline.datasync.files import SETTLE, FolderWatcher
from syncline.datasync.queue import Queue
from syncline.datasync.watchers import PollingWatcher, TriggerWatcher
from syncline.errors import ConfigError, SynclineError, TransientError
from syncline.handler import Handler
from syncline.importer import Importer
from syncline.masking import mask_url
from syncline.targets import triggers
from syncline.targets.sql import make_engine

if TYPE_CHECKING:
    from syncline.datasync.redis_queue import RedisQueue

Log = Callable[[str], None]

#: the longest wait between two tries to reach an unreachable database
MAX_WAIT = 10.0
#: a consumer process that died is started again this long after its last start at most
RESTART_AFTER = 5.0
#: seconds between a consumer's signs of life in the consumers table
BEAT_EVERY = 5.0


@dataclass(frozen=True)
class Job:
    """What one daemon runs: picklable, so that each consumer process builds its own."""

    target_url: str
    source_url: str | None = None
    #: zero-code: source tables, each synced into the target table of the same name
    tables: tuple[str, ...] = ()
    #: a handler (entry point name or module:Class) instead of ``tables``
    handler: str | None = None
    settings: Settings = field(default_factory=Settings)
    #: seconds between looks at an idle source and queue (PostgreSQL wakes at once)
    idle: float = 0.2
    #: polling instead of triggers: the source column that grows on every change
    since_column: str | None = None
    #: polling: seconds between two looks for deleted records
    delete_check: float = 60.0

    #: polling: the key columns of the polled tables (triggers record theirs when installed)
    key: tuple[str, ...] = ()
    #: the queue: a Redis stream (``redis://HOST:PORT/DB``); None: the target's tables
    queue_url: str | None = None
    #: files instead of a database: each model's file in this folder, synced whole when
    #: it is new or replaced (:mod:`syncline.datasync.files`)
    watch_dir: str | None = None
    #: the folder watcher: seconds a file must be left unwritten before it is synced
    settle: float = SETTLE

    def queue(self, target: sa.Engine) -> Queue | RedisQueue:
        """The queue: the Redis stream of ``queue_url``, else the target's tables."""
        if self.queue_url is None:
            return Queue(target)
        from syncline.datasync.redis_queue import RedisQueue

        return RedisQueue(self.queue_url)

    def build(self) -> Built:
        """The handler, the source key of each model, and the models of each source table."""
        if self.watch_dir is not None:
            return self._build_for_files()
        if self.handler is None and (self.source_url is None or not self.tables):
            raise ConfigError("datasync run needs --source and --table, or --handler")
        if self.queue_url is not None and self.since_column is not None:
            raise ConfigError("polling (--since-column) keeps its position in the target's"
                              " queue tables: it cannot use --queue; install triggers")
        if self.handler is not None:
            from syncline.plugins import load_handler

            handler = load_handler(self.handler)(source_url=self.source_url,
                                                 target_url=self.target_url)
            if handler.source_url is None:
                raise ConfigError(f"handler {handler.name} has no source_url: pass --source")
            source = make_engine(handler.source_url)
            watched = self._watched(source, handler.source_url)
        else:
            assert self.source_url is not None
            source = make_engine(self.source_url)
            watched = self._watched(source, self.source_url)
            handler = Handler(source_url=self.source_url, target_url=self.target_url,
                              importers=[Importer(table=t, key=watched[t])
                                         for t in self.tables], name="datasync")
        runas = self.settings.runas or handler.runas
        handler.runas = runas or os.environ.get("SYNCLINE_RUNAS") or "datasync"
        keys: dict[str, tuple[str, ...]] = {}
        models_of: dict[str, list[str]] = {}
        for model in handler.models:
            importer = handler.importer(model)
            table = importer.source_table or importer.table
            if importer.source_query is not None or table not in watched:
                continue
            if tuple(importer.key) != watched[table]:
                raise ConfigError(
                    f"model {model}: its key ({', '.join(importer.key)}) is not the watched"
                    f" key of source table {table!r} ({', '.join(watched[table])}): reinstall"
                    " the triggers with the importer's key")
            keys[model] = watched[table]
            models_of.setdefault(table, []).append(model)
        if not keys:
            raise ConfigError(f"no model of handler {handler.name} reads a watched source"
                              f" table in {mask_url(source.url)}: run syncline datasync"
                              " install --source URL --table T --key K first")
        target = make_engine(self.target_url)
        handler.target_url = target  # one connection pool for every batch
        return Built(handler, source, target, keys, models_of)

    def _build_for_files(self) -> Built:
        """The folder watcher's: no source database, nothing queued."""
        assert self.watch_dir is not None
        if not Path(self.watch_dir).is_dir():
            raise ConfigError(f"--watch-dir {self.watch_dir}: no such folder")
        if self.queue_url is not None:
            raise ConfigError("the folder watcher keeps what it synced in the target's"
                              " tables: it cannot use --queue")
        if self.handler is not None:
            from syncline.plugins import load_handler

            handler = load_handler(self.handler)(target_url=self.target_url)
        else:
            if not self.tables or not self.key:
                raise ConfigError("--watch-dir needs --table (one or more) and --key, or"
                                  " --handler")
            handler = Handler(target_url=self.target_url, name="datasync",
                              importers=[Importer(table=t, key=self.key) for t in self.tables])
        handler.runas = (self.settings.runas or handler.runas
                         or os.environ.get("SYNCLINE_RUNAS") or "datasync")
        target = make_engine(self.target_url)
        handler.target_url = target
        return Built(handler, None, target, {}, {})

    def _watched(self, source: sa.Engine, url: str) -> dict[str, tuple[str, ...]]:
        """Each watched source table's key: as the triggers were installed, or (polling)
        ``key`` for each of ``tables``."""
        if self.since_column is not None:
            if not self.key:
                raise ConfigError("polling (--since-column) needs --key")
            return {table: self.key for table in self.tables}
        found = triggers.watched(source)
        for table in self.tables:
            if table not in found:
                raise ConfigError(
                    f"source table {table!r} is not watched in {mask_url(url)}: run"
                    f" syncline datasync install --source URL --table {table} --key K first")
        return found


@dataclass
class Built:
    handler: Handler
    #: None for the folder watcher
    source: sa.Engine | None
    target: sa.Engine
    keys: dict[str, tuple[str, ...]]
    models_of: dict[str, list[str]]


class Stop:
    """Set by SIGTERM/SIGINT: finish the batch in hand, then exit."""

    def __init__(self) -> None:
        self.event = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._set)

    def _set(self, signum: int, frame: Any) -> None:
        self.event.set()

    @property
    def stopping(self) -> bool:
        return self.event.is_set()

    def sleep(self, seconds: float) -> None:
        self.event.wait(seconds)


def stderr_log(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    print(f"{stamp}Z datasync[{os.getpid()}] {message}", file=sys.stderr, flush=True)


def run(job: Job, *, consumers: int = 1, log: Log = stderr_log,
        stop: Stop | None = None) -> None:
    """Run the daemon in the foreground until ``stop`` (SIGTERM, Ctrl-C)."""
    stop = stop or Stop()
    built = job.build()  # refuse a bad configuration before anything starts
    queue = job.queue(built.target)
    queue.create()
    if isinstance(queue, Queue):
        queue_name = mask_url(built.target.url)
    else:
        queue_name = f"{mask_url(queue.url)} (stream {queue.stream})"
        queue.close()
    context = multiprocessing.get_context("spawn")
    children: list[Any] = []

    def start(number: int) -> Any:
        child = context.Process(target=_consume_only, args=(job, number), daemon=False,
                                name=f"syncline-datasync-{number}")
        child.start()
        return child

    try:
        children = [start(n) for n in range(1, consumers)]
        where = (f"files in {job.watch_dir}" if built.source is None
                 else mask_url(built.source.url))
        models = built.handler.models if built.source is None else list(built.keys)
        log(f"started: {', '.join(models)} from {where} to"
            f" {mask_url(built.target.url)}, queue in {queue_name}, {consumers} consumer(s)")

        started = [time.monotonic()] * len(children)

        def supervise() -> None:
            for i, child in enumerate(children):
                if child.is_alive() or stop.stopping:
                    continue
                if time.monotonic() - started[i] < RESTART_AFTER:
                    continue  # one that dies at once (a bad setting) is not started in a loop
                log(f"consumer process {child.pid} exited ({child.exitcode}); starting"
                    " another")
                children[i] = start(i + 1)
                started[i] = time.monotonic()

        _loop(job, built, stop, log, watch=True, between=supervise)
    finally:
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)
        for child in children:
            child.join(timeout=60)
            if child.is_alive():
                child.kill()
        log("stopped")


def _consume_only(job: Job, number: int) -> None:
    stop = Stop()
    parent = os.getppid()

    def orphaned() -> None:  # the daemon was killed: its consumers stop with it
        if os.getppid() != parent:
            stop.event.set()

    try:
        _loop(job, job.build(), stop, stderr_log, watch=False, between=orphaned)
    except SynclineError as exc:
        stderr_log(f"consumer {number} failed: {exc}")
        sys.exit(1)


def _loop(job: Job, built: Built, stop: Stop, log: Log, *, watch: bool,
          between: Callable[[], None] | None = None) -> None:
    queue = job.queue(built.target)
    consumer = Consumer(built.handler, queue, built.keys, job.settings, log)
    watchers: list[Any] = []
    waiter: triggers.ChangeWaiter | None = None
    listening = watch and job.since_column is None and built.source is not None
    if built.source is None:  # the folder watcher
        if watch:
            assert isinstance(queue, Queue) and job.watch_dir is not None
            watchers.append(FolderWatcher(Path(job.watch_dir), built.handler, queue, log,
                                          built.handler.runas, job.settle))
    elif listening:
        watchers.append(TriggerWatcher(built.source, queue, built.models_of))
        waiter = triggers.ChangeWaiter(built.source, tables=list(built.models_of))
    elif watch and job.since_column is not None:
        for table, models in built.models_of.items():
            targets = [(m, built.handler.importer(m).table, built.handler.importer(m).key)
                       for m in models]
            assert isinstance(queue, Queue)  # refused with a Redis queue (Job.build)
            watchers.append(PollingWatcher(built.source, queue, table,
                                           built.keys[models[0]], job.since_column,
                                           targets, delete_check=job.delete_check,
                                           log=log))
    wait = 0.0
    beaten = 0.0
    try:
        while not stop.stopping:
            if between is not None:
                between()
            try:
                if time.monotonic() - beaten >= BEAT_EVERY:
                    consumer.beat()
                    beaten = time.monotonic()
                moved = sum(w.move() for w in watchers)
                handled = consumer.step()
            except (TransientError, sa.exc.DBAPIError) as exc:
                wait = min(max(wait * 2, 0.5), MAX_WAIT)
                log(f"cannot reach a database ({_first_line(exc)}); trying again in"
                    f" {wait:g} s")
                stop.sleep(wait)
                continue
            wait = 0.0
            if moved or handled:
                continue
            if listening and waiter is None:
                waiter = _listen(built, log)
            if waiter is not None:
                try:
                    waiter.wait(job.idle)
                except Exception as exc:  # the driver's own error class
                    # the listening connection was lost (a source restart, a reaper): the
                    # wake-ups are a shortcut, the change log is the truth; listen again
                    log(f"lost the source's notifications ({_first_line(exc)}); listening"
                        " again")
                    _quietly_close(waiter)
                    waiter = None
                    stop.sleep(job.idle)
            else:
                stop.sleep(job.idle)
    finally:
        if waiter is not None:
            waiter.close()
        try:
            consumer.beat(stopped=True)
        except (SynclineError, sa.exc.SQLAlchemyError):
            pass
        if built.source is not None:
            built.source.dispose()
        built.target.dispose()
        if not isinstance(queue, Queue):
            queue.close()


def _listen(built: Built, log: Log) -> triggers.ChangeWaiter | None:
    """A new waiter on the source's notifications, or None while it cannot be reached
    (the next idle look tries again)."""
    assert built.source is not None
    try:
        return triggers.ChangeWaiter(built.source, tables=list(built.models_of))
    except Exception as exc:  # the driver's own error class
        log(f"cannot listen to the source ({_first_line(exc)}); trying again")
        return None


def _quietly_close(waiter: triggers.ChangeWaiter) -> None:
    try:
        waiter.close()
    except Exception:  # the connection is gone already
        pass


def _first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0]
