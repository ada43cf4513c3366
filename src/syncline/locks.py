"""One writer per target table at a time.

:func:`run_lock` is held for the whole run, one lock per target table the run writes
(whatever job or handler writes it: ``sync --table items`` and a handler importing into
``items`` exclude each other). A table's lock name is its name as the database resolves
it (case-folded where the database folds names). A second run does not wait: it raises
:class:`~syncline.errors.AlreadyRunningError` at once, naming the table and the holder's
pid, host and start time — unless it was told to wait (``--lock-wait SECONDS``: a nightly
full sync beside the datasync daemon, whose batches hold a table for milliseconds). A
lock left by a process that died is never an obstacle: every kind of lock is released by
the operating system or the database server when its holder's process or connection ends.

How a database is locked is its dialect's business (``Dialect.take_run_locks`` in
:mod:`syncline.targets`): a lock file next to a database that is a file, a server lock
taken on a separate connection otherwise, or no lock where the database offers none
syncline knows. Several tables are locked in sorted order, each without waiting, so two
runs never deadlock: the second is refused at the first table the first run holds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncline.errors import AlreadyRunningError
from syncline.targets import lockfile
from syncline.targets.refusals import translate
from syncline.targets.sql import SqlTarget


@contextmanager
def run_lock(target: SqlTarget, name: str, tables: Sequence[str] = (),
             wait: float = 0.0) -> Iterator[None]:
    """Hold the run locks of ``tables`` on ``target`` for the ``with`` block.

    ``name`` (the job) is what a refused run is told; without ``tables`` the job's name
    itself is locked. ``wait`` (``--lock-wait``): seconds to keep trying while another run
    holds a lock (none taken is kept between tries: never a deadlock); 0, refused at once.
    """
    deadline = time.monotonic() + wait
    pause = 0.05
    while True:
        with ExitStack() as stack:
            try:
                target.dialect.take_run_locks(_Locking(target, stack), name, tables)
            except lockfile.LockHeld as held:
                if time.monotonic() + pause > deadline:
                    raise _refused(target, name, held.name, *held.holder) from None
                stack.close()  # what this try took goes back before the next
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            except sa.exc.DBAPIError as exc:
                raise translate(exc, f"cannot take the run lock on {target.name}") from exc
            yield
            return


@contextmanager
def file_lock(path: Path, name: str) -> Iterator[None]:
    """Hold the lock file ``path`` (see :mod:`syncline.targets.lockfile`); remove it when
    done.

    Raises :class:`AlreadyRunningError` (a bare one, for tests and other callers) when
    another process holds it.
    """
    try:
        with lockfile.hold(path, name):
            yield
    except lockfile.LockHeld as held:
        pid, host, since, _job = held.holder
        raise AlreadyRunningError(f"{path} is held by pid {pid}", pid=pid, host=host,
                                  since=since) from None


def _refused(target: SqlTarget, name: str, table: str, pid: int | None, host: str | None,
             since: str | None, job: str | None = None) -> AlreadyRunningError:
    if pid is None and host is None and since is None:
        holder = "holder unknown"
    else:
        holder = (f"pid {pid if pid is not None else '?'} on host {host or '?'}"
                  f" since {since or '?'}")
    if job and job != name:
        holder += f", job {job!r}"
    what = table[len("job "):] if table.startswith("job ") else f"table {table!r}"
    return AlreadyRunningError(
        f"a run is already running against {what} of {target.name} ({holder}); {name!r}"
        " did nothing. Wait for that run to finish, or stop it: a lock of a stopped process"
        " is freed", pid=pid, host=host, since=since)


class _Locking:
    """What a dialect takes the run's locks with (``targets.dialect.Locking``)."""

    def __init__(self, target: SqlTarget, stack: ExitStack) -> None:
        self.target = target
        self.url = target.engine.url
        self.stack = stack

    def connect(self) -> sa.Connection:
        try:
            conn = self.target.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise translate(exc, f"cannot connect to {self.target.name}") from exc
        try:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            conn.close()
            raise
        self.stack.callback(_end_lock_connection, conn)
        return conn

    def release(self, conn: sa.Connection, statement: str, params: dict[str, Any]) -> None:
        self.stack.callback(_release, conn, statement, params)


def _release(conn: sa.Connection, statement: str, params: dict[str, Any]) -> None:
    try:
        conn.execute(sa.text(statement), params)
    except sa.exc.SQLAlchemyError:
        # ending the lock connection frees the lock anyway; a connection lost while the lock
        # was being taken says PendingRollbackError here, which must not hide that error
        pass


def _end_lock_connection(conn: sa.Connection) -> None:
    """Close the lock connection for good (after an explicit unlock, which is synchronous):
    it never goes back to the pool holding a lock or a session setting (application_name)."""
    try:
        conn.invalidate()
    finally:
        conn.close()
