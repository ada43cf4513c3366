"""The durable queue of pending changes, in the target database.

A consumer *claims* a batch: in one short transaction it picks the oldest unclaimed
changes (``FOR UPDATE SKIP LOCKED`` where the database has it, so that two consumers never
wait on, nor pick, the same rows) and writes its name and a lease expiry on them. It then
applies them and, in the transaction that applies them, deletes them — compare-and-set on
its name, so a consumer whose lease expired and was taken over cannot also complete them
(:meth:`Queue.complete`): a crash repeats work, never loses it. A change that failed is
released with a later ``not_before`` (exponential backoff), or after ``max_tries`` moved to
the dead letters with its error.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from syncline.errors import ConfigError, QueueError
from syncline.targets import datasync_tables as t

#: the first retry waits this long; each next one twice as long, up to MAX_BACKOFF
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 300.0
#: a consumer not seen for this long is not alive (it beats every few seconds)
ALIVE_WITHIN = 30.0


def now() -> datetime:
    """UTC, naive (as the queue's timestamp columns hold it)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Change:
    """One queued change: a source record of a model, by its key."""

    id: int
    model: str
    key: tuple[Any, ...]
    op: str
    changed_at: datetime
    tries: int = 0


@dataclass(frozen=True)
class NewChange:
    """A change to queue (what a watcher noticed)."""

    model: str
    key: tuple[Any, ...]
    op: str
    changed_at: datetime


def key_json(key: Sequence[Any]) -> str:
    return json.dumps(list(key), separators=(",", ":"), default=str)


def consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Queue:
    """The queue tables of one target database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        tables = t.tables()
        self.queue = tables[t.QUEUE]
        self.dead = tables[t.DEAD]
        self.consumers = tables[t.CONSUMERS]
        self.positions = tables[t.POSITIONS]

    def create(self) -> None:
        """Create the tables that are missing (the daemon's first start)."""
        t.create(self.engine)

    # -- watchers ------------------------------------------------------------------------
    def put(self, conn: sa.Connection | None, changes: Sequence[NewChange]) -> None:
        """Queue ``changes`` in ``conn``'s transaction (the caller commits); with None, in
        a transaction of its own, committed when this returns."""
        if not changes:
            return
        if conn is None:
            with self.engine.begin() as own:
                self.put(own, changes)
        else:
            queued = now()
            conn.execute(self.queue.insert(), [
                {"model": c.model, "key_json": key_json(c.key), "op": c.op,
                 "changed_at": c.changed_at, "queued_at": queued, "tries": 0}
                for c in changes])

    def position(self, conn: sa.Connection, watcher: str) -> str | None:
        return conn.execute(sa.select(self.positions.c.position).where(
            self.positions.c.watcher == watcher)).scalar_one_or_none()

    def move_position(self, conn: sa.Connection, watcher: str, position: str) -> None:
        """Remember a polling watcher's position, in ``conn``'s transaction."""
        done = conn.execute(self.positions.update().where(
            self.positions.c.watcher == watcher).values(position=position, moved_at=now()))
        if done.rowcount == 0:
            conn.execute(self.positions.insert().values(
                watcher=watcher, position=position, moved_at=now()))

    # -- consumers -----------------------------------------------------------------------
    def claim(self, consumer: str, limit: int, lease: float,
              models: Sequence[str] | None = None) -> list[Change]:
        """Up to ``limit`` of the oldest changes that are due and not leased to another
        consumer, leased to ``consumer`` for ``lease`` seconds (committed at once)."""
        q = self.queue.c
        at = now()
        query = (sa.select(q.id, q.model, q.key_json, q.op, q.changed_at, q.tries)
                 .where(sa.or_(q.lease_until.is_(None), q.lease_until < at))
                 .where(sa.or_(q.not_before.is_(None), q.not_before <= at))
                 .order_by(q.id).limit(limit).with_for_update(skip_locked=True))
        if models is not None:
            query = query.where(q.model.in_(list(models)))
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            conn.execute(self.queue.update().where(q.id.in_(ids)).values(
                claimed_by=consumer, lease_until=at + timedelta(seconds=lease)))
        # decimals as Decimal: a float cannot hold every NUMERIC key (the consumer gives
        # each value its source column's type)
        return [Change(r.id, r.model, tuple(json.loads(r.key_json, parse_float=Decimal)),
                       r.op, r.changed_at, r.tries) for r in rows]

    def complete(self, conn: sa.Connection, consumer: str, changes: Sequence[Change]) -> None:
        """Delete ``changes`` from the queue in ``conn``'s transaction (the one that applied
        them): all of them, still leased to ``consumer``, or :class:`QueueError`."""
        q = self.queue.c
        ids = [c.id for c in changes]
        for part in _parts(ids):
            done = conn.execute(self.queue.delete().where(q.id.in_(part))
                                .where(q.claimed_by == consumer))
            if done.rowcount != len(part):
                raise QueueError(
                    f"{len(part) - done.rowcount} of {len(part)} claimed changes were taken"
                    f" over by another consumer (consumer {consumer}'s lease expired); the"
                    " run was rolled back and they stay queued")

    def committed(self, consumer: str, changes: Sequence[Change]) -> None:
        """After the commit of the run that completed ``changes``: nothing to do here
        (they were deleted in its transaction; a Redis queue acknowledges them now)."""

    def release(self, consumer: str, changes: Sequence[Change]) -> None:
        """Give ``changes`` back untouched (no try counted): another may take them now."""
        q = self.queue.c
        with self.engine.begin() as conn:
            for part in _parts([c.id for c in changes]):
                conn.execute(self.queue.update().where(q.id.in_(part))
                             .where(q.claimed_by == consumer)
                             .values(claimed_by=None, lease_until=None))

    def fail(self, consumer: str, changes: Sequence[Change], error: str, max_tries: int
             ) -> tuple[int, int]:
        """Count a failed try of ``changes``: retried later (backoff), or after
        ``max_tries`` moved to the dead letters. Returns (retried, dead)."""
        q = self.queue.c
        at = now()
        retried = dead = 0
        with self.engine.begin() as conn:
            for change in changes:
                tries = change.tries + 1
                mine = (q.id == change.id) & (q.claimed_by == consumer)
                if tries >= max_tries:
                    gone = conn.execute(self.queue.delete().where(mine))
                    if gone.rowcount:
                        conn.execute(self.dead.insert().values(
                            model=change.model, key_json=key_json(change.key), op=change.op,
                            changed_at=change.changed_at, tries=tries, error=error,
                            died_at=at))
                        dead += 1
                    continue
                wait = min(FIRST_BACKOFF * 2 ** (tries - 1), MAX_BACKOFF)
                conn.execute(self.queue.update().where(mine).values(
                    tries=tries, last_error=error, claimed_by=None, lease_until=None,
                    not_before=at + timedelta(seconds=wait)))
                retried += 1
        return retried, dead

    def beat(self, consumer: str, *, started: datetime, batches: int, applied: int,
             stopped: bool = False) -> None:
        """A consumer's sign of life (and its counts)."""
        values = {"seen_at": now(), "batches": batches, "applied": applied,
                  "stopped": stopped}
        with self.engine.begin() as conn:
            done = conn.execute(self.consumers.update().where(
                self.consumers.c.name == consumer).values(**values))
            if done.rowcount == 0:
                host, _, pid = consumer.rpartition(":")
                conn.execute(self.consumers.insert().values(
                    name=consumer, pid=int(pid) if pid.isdigit() else 0, host=host,
                    started_at=started, **values))

    # -- operations ----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Queue depth, oldest change, dead letters, consumers alive, per model."""
        q, d, c = self.queue.c, self.dead.c, self.consumers.c
        at = now()
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table(t.QUEUE):  # no daemon ran here yet
                return {"queued": 0, "oldest_seconds": None, "dead": 0,
                        "consumers_alive": 0, "consumers": [], "models": {}}
            per_model = conn.execute(
                sa.select(q.model, sa.func.count(), sa.func.min(q.changed_at),
                          sa.func.sum(sa.case((q.tries > 0, 1), else_=0)))
                .group_by(q.model).order_by(q.model)).all()
            dead: dict[str, int] = {m: n for m, n in conn.execute(
                sa.select(d.model, sa.func.count()).group_by(d.model))}
            consumers = conn.execute(sa.select(c.name, c.seen_at, c.batches, c.applied,
                                               c.stopped).order_by(c.name)).all()
        models: dict[str, dict[str, Any]] = {}
        for model, depth, oldest, retrying in per_model:
            models[model] = {"queued": depth, "retrying": int(retrying or 0),
                             "lag_seconds": round((at - oldest).total_seconds(), 3),
                             "dead": dead.get(model, 0)}
        for model, count in dead.items():
            models.setdefault(model, {"queued": 0, "retrying": 0, "lag_seconds": 0.0,
                                      "dead": count})
        oldest_all = [m["lag_seconds"] for m in models.values() if m["queued"]]
        alive = [r for r in consumers
                 if not r.stopped and (at - r.seen_at).total_seconds() <= ALIVE_WITHIN]
        return {
            "queued": sum(m["queued"] for m in models.values()),
            "oldest_seconds": max(oldest_all) if oldest_all else None,
            "dead": sum(dead.values()),
            "consumers_alive": len(alive),
            "consumers": [{"name": r.name, "alive": r in alive, "batches": r.batches,
                           "applied": r.applied,
                           "seen_seconds_ago": round((at - r.seen_at).total_seconds(), 1)}
                          for r in consumers],
            "models": models,
        }

    def dead_letters(self, ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        d = self.dead.c
        query = sa.select(self.dead).order_by(d.id)
        if ids is not None:
            query = query.where(d.id.in_(list(ids)))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def retry(self, ids: Sequence[int] | None) -> int:
        """Queue dead letters again (``ids``, or all for None) with their tries reset."""
        d = self.dead.c
        with self.engine.begin() as conn:
            query = sa.select(self.dead).with_for_update()
            if ids is not None:
                query = query.where(d.id.in_(list(ids)))
            rows = conn.execute(query).all()
            if ids is not None:
                unknown = sorted(set(ids) - {r.id for r in rows})
                if unknown:  # nothing queued: the caller named a letter that is not there
                    raise ConfigError(
                        f"no dead letter with id {', '.join(map(str, unknown))}; nothing was"
                        " queued again (the dead letters are the rows of the target's"
                        " syncline_datasync_dead table)")
            if not rows:
                return 0
            queued = now()
            conn.execute(self.queue.insert(), [
                {"model": r.model, "key_json": r.key_json, "op": r.op,
                 "changed_at": r.changed_at, "queued_at": queued, "tries": 0}
                for r in rows])
            for part in _parts([r.id for r in rows]):
                conn.execute(self.dead.delete().where(d.id.in_(part)))
        return len(rows)

    def purge_dead(self, before: datetime) -> int:
        """Delete the dead letters that died before ``before``."""
        with self.engine.begin() as conn:
            return conn.execute(self.dead.delete().where(self.dead.c.died_at < before)).rowcount


def _parts(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
