"""A consumer: claim a batch of changes, apply it through the importers' keys mode.

Each model's changed keys go through one run of the handler (same hooks, types, guards and
versions as a full sync), with the model's source narrowed to those keys, and the changes
are deleted from the queue in that run's transaction (:meth:`Queue.complete`). A batch that
fails is split in halves until the failing keys are found: the others apply, the failing
ones are retried with backoff and, after ``max_tries``, moved to the dead letters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from syncline.datasync.queue import Change, Queue, consumer_name, now
from syncline.errors import (
    AlreadyRunningError,
    QueueError,
    SynclineError,
    TransientError,
    TransientTargetError,
)
from syncline.handler import Handler
from syncline.options import RunOptions
from syncline.sources.sql import SqlSource

if TYPE_CHECKING:
    from syncline.datasync.redis_queue import RedisQueue

Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """How a consumer works (``syncline datasync run`` options)."""

    #: changes claimed at a time
    batch: int = 500
    #: seconds a claim is this consumer's; then another may take the changes over
    lease: float = 120.0
    #: a change that failed this many times goes to the dead letters
    max_tries: int = 5
    #: who makes the changes (the versions' transaction user)
    runas: str | None = None


@dataclass
class Counts:
    """What a consumer did so far."""

    batches: int = 0
    applied: int = 0
    retried: int = 0
    dead: int = 0


class Busy(Exception):
    """Another run holds the model's table: the changes were given back, try again soon."""


class Consumer:
    """Applies queued changes of a handler's models (see the module's docstring)."""

    def __init__(self, handler: Handler, queue: Queue | RedisQueue,
                 source_keys: dict[str, tuple[str, ...]], settings: Settings, log: Log) -> None:
        #: the source's key columns of each model: the queued keys are theirs
        self.source_keys = source_keys
        self.handler = handler
        self.queue = queue
        self.settings = settings
        self.log = log
        self.name = consumer_name()
        self.started = now()
        self.counts = Counts()
        self.order = {model: i for i, model in enumerate(handler.models)}
        #: batches in a row given back because another run held the table
        self._busy = 0

    def step(self) -> int:
        """Claim one batch and apply it; the number of changes claimed (0: none due).
        Raises TransientError (or a driver error) when the target cannot be reached."""
        changes = self.queue.claim(self.name, self.settings.batch, self.settings.lease,
                                   list(self.source_keys))
        if not changes:
            return 0
        by_model: dict[str, list[Change]] = {}
        for change in changes:
            by_model.setdefault(change.model, []).append(change)
        busy: list[Change] = []
        pending = sorted(by_model, key=self.order.__getitem__)  # dependency order
        while pending:
            model = pending[0]
            try:
                self._apply(model, by_model[model])
            except Busy as exc:
                busy.extend(exc.args[0])
            except BaseException:
                # what was applied is off the queue already; the rest goes back now
                # (when the target cannot be reached either, the lease expires instead)
                rest = [c for m in pending for c in by_model[m]]
                _quietly(self.queue.release, self.name, rest + busy)
                raise
            pending.pop(0)
        if busy:
            self.queue.release(self.name, busy)
            # a datasync batch holds a table for milliseconds, a full sync for minutes:
            # look again soon, then less and less often
            time.sleep(min(0.05 * 2 ** self._busy, 2.0))
            self._busy += 1
        else:
            self._busy = 0
        self.counts.batches += 1
        return len(changes)

    def _apply(self, model: str, changes: Sequence[Change]) -> None:
        keys = list(dict.fromkeys(c.key for c in changes))
        began = time.perf_counter()
        try:
            result = self._run(model, keys, changes)
        except AlreadyRunningError:
            raise Busy(list(changes)) from None
        except QueueError as exc:
            # another consumer holds them now (this one's lease expired): the run rolled
            # back and they are that consumer's to apply; no record failed, none is retried
            self.log(f"{model}: {len(changes)} changes left to another consumer: {exc}")
            return
        except TransientTargetError as exc:
            if not self._target_reachable():
                raise
            # the target answers: not a lost connection but a refusal that looks transient
            # (a unique violation on a non-key column is reported as a key race); count a
            # try of the records, found by halving, else it blocks the whole queue forever
            self._failed(model, keys, changes, exc)
            return
        except TransientError:
            raise
        except SynclineError as exc:
            self._failed(model, keys, changes, exc)
            return
        except Exception as exc:  # a bug in a hook must not stop the other records
            self._failed(model, keys, changes, exc)
            return
        self.counts.applied += len(changes)
        ended = now()
        lag = max((ended - c.changed_at).total_seconds() for c in changes)
        counts = result.models[model]
        self.log(f"{model}: {len(changes)} changes of {len(keys)} records:"
                 f" {counts.created} created, {counts.updated} updated, {counts.deleted}"
                 f" deleted in {time.perf_counter() - began:.3f} s; lag {lag:.3f} s")

    def _run(self, model: str, keys: list[tuple[Any, ...]], changes: Sequence[Change]) -> Any:
        importer = self.handler.importer(model)
        source = self.handler.source_for(importer)
        narrowed = isinstance(source, SqlSource) and source.table_name is not None
        if narrowed:
            assert isinstance(source, SqlSource)
            importer.use_source(source.only(self.source_keys[model], keys))
        # keys_exact: a hook that changes the key fails the record, never drops it silently
        options = RunOptions(keys=keys, delete=True, allow_mass_delete=True,
                             runas=self.settings.runas, comment="datasync",
                             keys_exact=narrowed)

        def complete(conn: sa.Connection) -> None:
            self.queue.complete(conn, self.name, changes)

        try:
            result = self.handler.run(options, [model], in_transaction=complete)
        finally:
            importer.use_source(source)
        self.queue.committed(self.name, changes)  # a Redis queue acknowledges them now
        return result

    def _target_reachable(self) -> bool:
        target = self.handler.target_url
        engine = target if isinstance(target, sa.Engine) else self.queue.engine
        if engine is None:
            return True  # nothing to probe with: count the try
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def _failed(self, model: str, keys: list[tuple[Any, ...]], changes: Sequence[Change],
                error: BaseException) -> None:
        """Split a failed batch until the failing records are alone; count their try."""
        if len(keys) > 1:
            half = set(keys[: len(keys) // 2])
            for part in ([c for c in changes if c.key in half],
                         [c for c in changes if c.key not in half]):
                try:
                    self._apply(model, part)
                except Busy as exc:
                    self.queue.release(self.name, exc.args[0])
            return
        retried, dead = self.queue.fail(self.name, changes, _describe(error),
                                        self.settings.max_tries)
        self.counts.retried += retried
        self.counts.dead += dead
        tries = max(c.tries for c in changes) + 1
        where = "moved to the dead letters" if dead else "will be retried"
        self.log(f"{model}: record {_key_text(keys[0])} failed (try {tries} of"
                 f" {self.settings.max_tries}), {where}: {_describe(error)}")

    def beat(self, *, stopped: bool = False) -> None:
        self.queue.beat(self.name, started=self.started, batches=self.counts.batches,
                        applied=self.counts.applied, stopped=stopped)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, SynclineError) else f"{type(error).__name__}: {text}"


def _key_text(key: tuple[Any, ...]) -> str:
    return ", ".join(map(repr, key)) if len(key) > 1 else repr(key[0])


def _quietly(call: Callable[..., Any], *args: Any) -> None:
    try:
        call(*args)
    except (sa.exc.SQLAlchemyError, SynclineError):
        pass  # the lease expires instead
