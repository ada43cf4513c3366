"""Watchers: how source changes are noticed and put on the queue.

Each has one method, ``move() -> int``: carry what changed since the last call onto the
queue, and return how many source changes it carried (0: nothing new). Carrying is
at-least-once: the queue's insert commits before the source side forgets the change, so a
crash in between queues a change twice, which is harmless (applying is idempotent).

- :class:`TriggerWatcher` reads the change log the installed triggers write
  (``syncline datasync install``; :mod:`syncline.targets.triggers`).
- :class:`PollingWatcher` reads a table's rows whose ``--since-column`` value is past the
  position it remembers in the target (deletes: a periodic comparison of the keys).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from syncline.datasync.queue import NewChange, Queue, key_json, now
from syncline.errors import ConfigError
from syncline.guards import mass_delete
from syncline.sources.sql import in_type
from syncline.targets import triggers

if TYPE_CHECKING:
    from syncline.datasync.redis_queue import RedisQueue


def utc(moment: Any) -> datetime:
    """A source timestamp as naive UTC (a text one, as SQLite keeps it, parsed)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        return now()
    when: datetime = moment
    return when if when.tzinfo is None else when.astimezone(UTC).replace(tzinfo=None)


#: the most keys a polling position remembers at its value (see PollingWatcher._changed)
MAX_SEEN = 1000


class TriggerWatcher:
    """Moves the trigger-written change log of ``tables`` onto the queue."""

    def __init__(self, source: sa.Engine, queue: Queue | RedisQueue,
                 models_of: dict[str, list[str]], batch: int = 5000) -> None:
        self.source = source
        self.queue = queue
        self.models_of = models_of
        self.batch = batch
        self.changes = triggers.changes_table(sa.MetaData())

    def move(self) -> int:
        c = self.changes.c
        with self.source.connect() as conn:
            rows = conn.execute(sa.select(self.changes)
                                .where(c.table_name.in_(list(self.models_of)))
                                .order_by(c.id).limit(self.batch)).all()
        if not rows:
            return 0
        new = [NewChange(model, tuple(json.loads(r.key_json, parse_float=Decimal)), r.op,
                         utc(r.changed_at))
               for r in rows for model in self.models_of[r.table_name]]
        self.queue.put(None, new)  # committed (Redis: added) before the log is cleared
        ids = [r.id for r in rows]
        with self.source.begin() as conn:
            for start in range(0, len(ids), 500):
                conn.execute(self.changes.delete().where(c.id.in_(ids[start:start + 500])))
        return len(rows)


class PollingWatcher:
    """Rows of ``table`` whose ``since`` column is past the remembered position; every
    ``delete_check`` seconds, the target's keys the source no longer has, as deletes.

    A row written with a ``since`` value at or before the position after the watcher
    passed it (a long transaction committing an older timestamp) is missed until the next
    full sync: where that can happen, use triggers (docs/datasync.md, "Polling")."""

    def __init__(self, source: sa.Engine, queue: Queue, table: str, key: Sequence[str],
                 since: str, models: Sequence[tuple[str, str, Sequence[str]]],
                 batch: int = 5000, delete_check: float = 60.0,
                 log: Callable[[str], None] | None = None) -> None:
        self.log = log or (lambda message: None)
        self.source = source
        self.queue = queue
        self.key = tuple(key)
        self.since = since
        #: (model, target table, target key) fed by this table
        self.models = list(models)
        self.batch = batch
        self.delete_check = delete_check
        self.name = f"poll {table}.{since}"
        try:
            self.table = sa.Table(table, sa.MetaData(), autoload_with=source)
        except sa.exc.NoSuchTableError:
            raise ConfigError(f"source table {table!r} does not exist") from None
        for column in (*self.key, since):
            if column not in self.table.c:
                raise ConfigError(f"source table {table!r} has no column {column!r}")
        self._checked = 0.0

    def move(self) -> int:
        moved = self._changed()
        if time.monotonic() - self._checked >= self.delete_check:
            moved += self._gone()
            self._checked = time.monotonic()
        return moved

    def _changed(self) -> int:
        """Rows past the position, and rows holding the position's value itself that were
        not carried yet (written after the last look, in the same second of a coarse
        column, or by a transaction stamped earlier that committed later)."""
        since = self.table.c[self.since]
        columns = (*(self.table.c[k] for k in self.key), since)
        with self.queue.engine.connect() as conn:
            stored = self.queue.position(conn, self.name)
        position, seen = _position(stored)
        query = sa.select(*columns).order_by(since)
        with self.source.connect() as conn:
            at_position: list[Any] = []
            if position is not None:
                value = in_type(since, position)
                query = query.where(since > value)
            if position is not None and seen is not None:
                at_position = [r for r in conn.execute(
                    sa.select(*columns).where(since == value)).all()
                    if key_json(r[:-1]) not in seen]
            rows = conn.execute(query.limit(self.batch)).all()
            if rows:
                last = rows[-1][-1]
                if len(rows) == self.batch and rows[0][-1] != last:
                    # the next batch starts past `last`: rows sharing it must all be here
                    rows = [r for r in rows if r[-1] != last]
                    last = rows[-1][-1]
                elif len(rows) == self.batch:
                    # the whole batch shares one value (one bulk UPDATE stamps every row
                    # with its transaction's time): every row holding it is carried now
                    rows = conn.execute(sa.select(*columns).where(since == last)).all()
        if not rows and not at_position:
            return 0
        if rows:
            moved_to = _plain(last)
            carried = {key_json(r[:-1]) for r in rows if r[-1] == last}
        else:
            moved_to = position
            carried = (seen or set()) | {key_json(r[:-1]) for r in at_position}
        rows = [*at_position, *rows]
        # the keys at the position are remembered up to MAX_SEEN (a TEXT column of MariaDB
        # holds 64 KB); past that, the rows at the position's value are taken as carried
        keys: list[str] | None = sorted(carried) if len(carried) <= MAX_SEEN else None
        at = now()
        new = [NewChange(model, tuple(r[:-1]), "u", at)
               for r in rows for model, _, _ in self.models]
        with self.queue.engine.begin() as conn:
            self.queue.put(conn, new)
            self.queue.move_position(conn, self.name, json.dumps(
                {"at": moved_to, "keys": keys}))
        return len(rows)

    def _gone(self) -> int:
        """The target's keys that the source no longer has (each model's table)."""
        with self.source.connect() as conn:
            present = {tuple(r) for r in conn.execute(
                sa.select(*(self.table.c[k] for k in self.key)))}
        new: list[NewChange] = []
        at = now()
        for model, table_name, key in self.models:
            target = sa.Table(table_name, sa.MetaData(), autoload_with=self.queue.engine)
            gone: list[NewChange] = []
            with self.queue.engine.connect() as conn:
                target_rows = 0
                for row in conn.execute(sa.select(*(target.c[k] for k in key))):
                    target_rows += 1
                    if tuple(row) not in present:
                        gone.append(NewChange(model, tuple(row), "d", at))
            # these deletes were not logged by the source but inferred from its keys: the
            # consumers pass --allow-mass-delete, so the importer's guards are kept here
            # (an emptied or truncated source, a table reloaded at the moment of the look)
            if gone and (not present or mass_delete(len(gone), target_rows)):
                self.log(f"{model}: the delete check found {len(gone)} of {target_rows}"
                         f" target records missing from a source of {len(present)}: that"
                         " looks like an emptied or truncated source, so none is deleted"
                         " (the mass-delete guard); run syncline sync --allow-mass-delete"
                         " if it is intended")
                continue
            new += gone
        if new:
            with self.queue.engine.begin() as conn:
                self.queue.put(conn, new)
        return len(new)


def _position(stored: str | None) -> tuple[Any, set[str] | None]:
    """A stored position: the since value, and the keys (as JSON) carried at that value
    (None: too many were to remember, or an older plain value: only rows past it count)."""
    if stored is None:
        return None, set()
    position = json.loads(stored)
    if isinstance(position, dict) and "at" in position:
        keys = position.get("keys")
        return position["at"], None if keys is None else set(keys)
    return position, None


def _plain(value: Any) -> Any:
    """A since value for JSON (read back by :func:`in_type`)."""
    if isinstance(value, Decimal):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else value
