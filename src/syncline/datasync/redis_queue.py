"""The datasync queue in a Redis stream, for sites that already run Redis (``--queue
redis://HOST:PORT/DB``; docs/datasync.md, "Redis Streams as the queue").

Same methods as :class:`~syncline.datasync.queue.Queue`, on these keys (``STREAM`` is
``syncline:datasync`` unless the URL says ``?stream=NAME``):

- ``STREAM``: the pending changes, one entry each (model, key_json, op, changed_at, tries,
  not_before), read by the consumer group ``syncline`` (XREADGROUP); an entry a consumer
  holds longer than ``lease`` seconds is taken over by another (XAUTOCLAIM).
- ``STREAM:delayed``: failed changes waiting for their next try (a sorted set by
  not_before); ``claim`` moves the due ones back onto the stream, atomically (a script).
- ``STREAM:dead``: the dead letters, with their error.
- ``STREAM:consumers``: each consumer's last sign of life (a hash).

Delivery is at-least-once with an idempotent apply, as with the tables, but the ack cannot
be in the target's transaction: the consumer acknowledges (XACK + XDEL) right after the
target committed (:meth:`RedisQueue.committed`). A crash between the commit and the ack
repeats the apply once the lease expires: harmless, applying a key twice changes nothing.
``put`` adds to the stream at once (it has no transaction to join): the watcher's
at-least-once still holds, because the source's change log is cleared only after ``put``
returned.

``redis`` is imported here only, and this module only when ``--queue`` is used.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from syncline.datasync.queue import (
    ALIVE_WITHIN,
    FIRST_BACKOFF,
    MAX_BACKOFF,
    Change,
    NewChange,
    key_json,
    now,
)
from syncline.errors import ConfigError, QueueError, TransientError
from syncline.masking import mask_url

DEFAULT_STREAM = "syncline:datasync"
GROUP = "syncline"
#: entries read at a time by status, dead_letters, retry and purge_dead
PAGE = 1000
#: the idle time (ms) a released entry gets: any consumer's next claim takes it over
RELEASED_IDLE = 10**11

# the due delayed changes back onto the stream, in one atomic step (nothing lost between)
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local fields = cjson.decode(member)['fields']
  redis.call('XADD', KEYS[1], '*', unpack(fields))
  redis.call('ZREM', KEYS[2], member)
end
return #due
"""

T = TypeVar("T")


def _reaching(method: Callable[..., T]) -> Callable[..., T]:
    """Redis not reachable: a TransientError (the daemon waits and tries again)."""

    @functools.wraps(method)
    def wrapper(self: RedisQueue, *args: Any, **kwargs: Any) -> T:
        import redis

        try:
            return method(self, *args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise TransientError(f"cannot reach the Redis queue at {mask_url(self.url)}:"
                                 f" {exc}") from exc

    return wrapper


@dataclass(frozen=True)
class StreamChange(Change):
    """A claimed change and its stream entry's ID."""

    entry: str = ""


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()


class RedisQueue:
    """The datasync queue in a Redis stream (see the module's docstring)."""

    #: no database: the watchers put without a connection
    engine: None = None

    def __init__(self, url: str, *, stream: str | None = None) -> None:
        import redis

        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.url = url
        self.stream = stream or (query.pop("stream", [DEFAULT_STREAM])[0])
        plain = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
        try:
            # a Redis that hangs must not hang the daemon (the URL's own options win)
            self.redis: Any = redis.Redis.from_url(plain, decode_responses=True,
                                                   socket_connect_timeout=5,
                                                   socket_timeout=30)
        except ValueError as exc:
            raise ConfigError(f"--queue {mask_url(url)}: {exc}") from None
        self.delayed = f"{self.stream}:delayed"
        self.dead = f"{self.stream}:dead"
        self.consumers = f"{self.stream}:consumers"
        self._promote = self.redis.register_script(_PROMOTE)

    @_reaching
    def create(self) -> None:
        """The stream and its consumer group, unless they exist."""
        import redis

        try:
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def close(self) -> None:
        self.redis.close()

    # -- watchers ------------------------------------------------------------------------
    @_reaching
    def put(self, conn: sa.Connection | None, changes: Sequence[NewChange]) -> None:
        """Add ``changes`` to the stream at once (``conn`` is ignored): the caller clears
        the source's change log only after this returned, so nothing is lost."""
        if not changes:
            return
        with self.redis.pipeline(transaction=True) as pipe:
            for c in changes:
                pipe.xadd(self.stream, self._fields(c.model, key_json(c.key), c.op,
                                                    c.changed_at, 0, None))
            pipe.execute()

    @staticmethod
    def _fields(model: str, key: str, op: str, changed_at: datetime | str, tries: int,
                not_before: datetime | None) -> dict[str, str]:
        return {"model": model, "key_json": key, "op": op,
                "changed_at": changed_at if isinstance(changed_at, str) else _iso(changed_at),
                "tries": str(tries), "not_before": "" if not_before is None else _iso(
                    not_before)}

    # -- consumers -----------------------------------------------------------------------
    @_reaching
    def claim(self, consumer: str, limit: int, lease: float,
              models: Sequence[str] | None = None) -> list[Change]:
        """Up to ``limit`` changes for ``consumer``: first those another consumer has held
        longer than ``lease`` seconds (XAUTOCLAIM), then new ones (XREADGROUP)."""
        self._promote(keys=[self.stream, self.delayed], args=[_epoch(now()), limit])
        entries: list[tuple[str, dict[str, str] | None]] = []
        start = "0-0"
        while len(entries) < limit:
            found = self.redis.xautoclaim(self.stream, GROUP, consumer,
                                          min_idle_time=int(lease * 1000), start_id=start,
                                          count=limit - len(entries))
            start, claimed = found[0], found[1]
            entries.extend(claimed)
            if start == "0-0" or not claimed:
                break
        if len(entries) < limit:
            read = self.redis.xreadgroup(GROUP, consumer, {self.stream: ">"},
                                         count=limit - len(entries))
            for _, stream_entries in read or []:
                entries.extend(stream_entries)
        changes: list[Change] = []
        gone: list[str] = []
        for entry, fields in entries:
            if not fields:  # deleted meanwhile (completed by a consumer taken over)
                gone.append(entry)
                continue
            if models is not None and fields["model"] not in models:
                continue  # not this daemon's: stays pending (one stream per daemon)
            changes.append(StreamChange(
                0, fields["model"], tuple(json.loads(fields["key_json"])), fields["op"],
                datetime.fromisoformat(fields["changed_at"]), int(fields["tries"]),
                entry=entry))
        if gone:
            self.redis.xack(self.stream, GROUP, *gone)
        return changes

    def _mine(self, consumer: str, changes: Sequence[Change]) -> list[StreamChange]:
        """Those of ``changes`` still pending for ``consumer`` (not taken over)."""
        entries = [_entry(c) for c in changes]
        if not entries:
            return []
        held: set[str] = set()
        ordered = sorted(entries, key=_entry_order)
        for part in _parts(ordered):
            pending = self.redis.xpending_range(self.stream, GROUP, min=part[0].entry,
                                                max=part[-1].entry, count=10**6,
                                                consumername=consumer)
            held.update(p["message_id"] for p in pending)
        return [c for c in entries if c.entry in held]

    @_reaching
    def complete(self, conn: sa.Connection, consumer: str, changes: Sequence[Change]
                 ) -> None:
        """Check, in the run's transaction (before its commit), that ``changes`` are still
        ``consumer``'s, or :class:`QueueError` (the run rolls back). The ack itself comes
        after the commit: :meth:`committed`."""
        mine = self._mine(consumer, changes)
        if len(mine) != len(changes):
            raise QueueError(
                f"{len(changes) - len(mine)} of {len(changes)} claimed changes were taken"
                f" over by another consumer (consumer {consumer}'s lease expired); the run"
                " was rolled back and they stay queued")

    @_reaching
    def committed(self, consumer: str, changes: Sequence[Change]) -> None:
        """The target committed ``changes``: off the stream (XACK + XDEL)."""
        entries = [_entry(c).entry for c in changes]
        for part in _parts(entries):
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.xack(self.stream, GROUP, *part)
                pipe.xdel(self.stream, *part)
                pipe.execute()

    @_reaching
    def release(self, consumer: str, changes: Sequence[Change]) -> None:
        """Give ``changes`` back untouched: any consumer's next claim takes them."""
        mine = [c.entry for c in self._mine(consumer, changes)]
        for part in _parts(mine):
            self.redis.xclaim(self.stream, GROUP, consumer, 0, part, idle=RELEASED_IDLE,
                              justid=True)

    @_reaching
    def fail(self, consumer: str, changes: Sequence[Change], error: str, max_tries: int
             ) -> tuple[int, int]:
        """Count a failed try: the change waits (backoff) in ``STREAM:delayed``, or after
        ``max_tries`` goes to ``STREAM:dead``; its entry is acknowledged either way."""
        at = now()
        retried = dead = 0
        for change in self._mine(consumer, changes):
            tries = change.tries + 1
            with self.redis.pipeline(transaction=True) as pipe:
                if tries >= max_tries:
                    fields = self._fields(change.model, key_json(change.key), change.op,
                                          change.changed_at, tries, None)
                    del fields["not_before"]
                    pipe.xadd(self.dead, {**fields, "error": error, "died_at": _iso(at)})
                    dead += 1
                else:
                    wait = min(FIRST_BACKOFF * 2 ** (tries - 1), MAX_BACKOFF)
                    due = at + timedelta(seconds=wait)
                    fields = self._fields(change.model, key_json(change.key), change.op,
                                          change.changed_at, tries, due)
                    fields["last_error"] = error
                    pipe.zadd(self.delayed, {_member(fields): _epoch(due)})
                    retried += 1
                pipe.xack(self.stream, GROUP, change.entry)
                pipe.xdel(self.stream, change.entry)
                pipe.execute()
        return retried, dead

    @_reaching
    def beat(self, consumer: str, *, started: datetime, batches: int, applied: int,
             stopped: bool = False) -> None:
        self.redis.hset(self.consumers, consumer, json.dumps({
            "seen_at": _iso(now()), "started_at": _iso(started), "batches": batches,
            "applied": applied, "stopped": stopped}))

    # -- operations ----------------------------------------------------------------------
    def _entries(self, stream: str) -> Iterator[tuple[str, dict[str, str]]]:
        start = "-"
        while True:
            page = self.redis.xrange(stream, min=start, max="+", count=PAGE)
            yield from page
            if len(page) < PAGE:
                return
            start = "(" + page[-1][0]

    @_reaching
    def status(self) -> dict[str, Any]:
        """The same keys as :meth:`Queue.status`."""
        at = now()
        queued: list[dict[str, str]] = [f for _, f in self._entries(self.stream)]
        queued += [json.loads(m)["fields_map"] for m in self.redis.zrange(self.delayed, 0, -1)]
        dead: dict[str, int] = {}
        for _, fields in self._entries(self.dead):
            dead[fields["model"]] = dead.get(fields["model"], 0) + 1
        models: dict[str, dict[str, Any]] = {}
        oldest: dict[str, datetime] = {}
        for fields in queued:
            model = fields["model"]
            m = models.setdefault(model, {"queued": 0, "retrying": 0, "lag_seconds": 0.0,
                                          "dead": dead.get(model, 0)})
            m["queued"] += 1
            m["retrying"] += int(fields["tries"]) > 0
            changed = datetime.fromisoformat(fields["changed_at"])
            oldest[model] = min(oldest.get(model, changed), changed)
        for model, moment in oldest.items():
            models[model]["lag_seconds"] = round((at - moment).total_seconds(), 3)
        for model, count in dead.items():
            models.setdefault(model, {"queued": 0, "retrying": 0, "lag_seconds": 0.0,
                                      "dead": count})
        models = dict(sorted(models.items()))
        consumers = []
        for name, text in sorted(self.redis.hgetall(self.consumers).items()):
            c = json.loads(text)
            seen = (at - datetime.fromisoformat(c["seen_at"])).total_seconds()
            consumers.append({"name": name,
                              "alive": not c["stopped"] and seen <= ALIVE_WITHIN,
                              "batches": c["batches"], "applied": c["applied"],
                              "seen_seconds_ago": round(seen, 1)})
        lags = [m["lag_seconds"] for m in models.values() if m["queued"]]
        return {
            "queued": len(queued),
            "oldest_seconds": max(lags) if lags else None,
            "dead": sum(dead.values()),
            "consumers_alive": sum(c["alive"] for c in consumers),
            "consumers": consumers,
            "models": models,
        }

    @_reaching
    def dead_letters(self, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The dead letters (their ``id`` is the stream entry's ID)."""
        wanted = None if ids is None else set(ids)
        found = []
        for entry, fields in self._entries(self.dead):
            if wanted is None or entry in wanted:
                found.append({"id": entry, **fields, "tries": int(fields["tries"])})
        return found

    @_reaching
    def retry(self, ids: Sequence[str] | None) -> int:
        """Queue dead letters again (``ids``, or all for None) with their tries reset."""
        count = 0
        for letter in self.dead_letters(ids):
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.xadd(self.stream, self._fields(letter["model"], letter["key_json"],
                                                    letter["op"], letter["changed_at"], 0,
                                                    None))
                pipe.xdel(self.dead, letter["id"])
                pipe.execute()
            count += 1
        return count

    @_reaching
    def purge_dead(self, before: datetime) -> int:
        """Delete the dead letters that died before ``before`` (naive UTC)."""
        old = [entry for entry, fields in self._entries(self.dead)
               if datetime.fromisoformat(fields["died_at"]) < before]
        for part in _parts(old):
            self.redis.xdel(self.dead, *part)
        return len(old)


def _entry(change: Change) -> StreamChange:
    if not isinstance(change, StreamChange):
        raise TypeError(f"not a change claimed from a Redis stream: {change!r}")
    return change


def _entry_order(change: StreamChange) -> tuple[int, int]:
    ms, _, seq = change.entry.partition("-")
    return int(ms), int(seq or 0)


def _member(fields: dict[str, str]) -> str:
    """A delayed change as a sorted-set member: unique (a nonce), and the stream fields as
    a flat list for the promoting script."""
    flat = [x for pair in fields.items() for x in pair]
    return json.dumps({"nonce": uuid.uuid4().hex, "fields": flat, "fields_map": fields})


def _parts(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
