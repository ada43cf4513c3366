"""One writer per target table at a time.

:func:`run_lock` is held for the whole run, one lock per target table the run writes
(whatever job or handler writes it: ``sync --table items`` and a handler importing into
``items`` exclude each other). A table's lock name is its name as the database resolves
it: ASCII case-folded on SQLite (``ITEMS`` and ``items`` are one table there) and on
MariaDB/MySQL with ``lower_case_table_names`` set; as written on PostgreSQL, where syncline
quotes names, so ``ITEMS`` and ``items`` are two tables. A second run does not wait: it
raises :class:`~syncline.errors.AlreadyRunningError` at once, naming the table and the
holder's pid, host and start time. A lock left by a process that died is never an
obstacle, because every kind of lock below is released by the operating system or the
database server when its holder's process or connection ends.

- **SQLite file database**: a lock file next to the database per table,
  ``<db path>.<table>-<hash>.syncline-lock`` (the name reduced to ``[A-Za-z0-9_.-]`` plus
  a short hash of the folded name, so two tables never share a file), held with
  ``fcntl.flock(LOCK_EX | LOCK_NB)`` and holding JSON ``{pid, host, since, name}``. The
  holder deletes the file when its run ends, *while still holding the lock*; a process
  that opened the file before and then gets the lock sees that the path no longer names
  the file it locked (device and inode differ, or it is gone) and starts again, so two
  runs never both hold "the" lock. A lock file of a dead holder is taken over (the OS
  dropped its flock) and deleted at the end of that run.
- **In-memory SQLite**: no lock (no other process can see the database).
- **PostgreSQL**: ``pg_try_advisory_lock(key)`` on a separate autocommit connection,
  ``key`` a stable signed 64-bit hash of the table's lock name (advisory locks are per
  database, so the target is part of the lock by construction). Before locking, the
  connection's ``application_name`` is set to ``syncline pid=.. since=.. host=..``;
  a refused run finds the holder through ``pg_locks`` joined to ``pg_stat_activity``.
- **MariaDB/MySQL**: ``GET_LOCK(name, 0)`` on a separate connection. Lock names are
  server-wide, so the name includes the database; names longer than 64 characters are
  hashed. The holder writes its pid, host and start time to the small table
  ``syncline_lock`` (created when missing), which a refused run reads.
- **Any other database**: no lock, no error.

Several tables are locked in sorted order, each without waiting, so two runs never
deadlock: the second is refused at the first table the first run holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncline.errors import AlreadyRunningError, TargetError
from syncline.targets.sql import SqlTarget, sqlite_file, translate

#: longest lock name MariaDB/MySQL accept in GET_LOCK
MYSQL_NAME_MAX = 64
#: PostgreSQL truncates application_name to this many bytes
PG_APPLICATION_NAME_MAX = 63
#: table of MariaDB/MySQL lock holders
MYSQL_HOLDER_TABLE = "syncline_lock"


@contextmanager
def run_lock(target: SqlTarget, name: str, tables: Sequence[str] = ()) -> Iterator[None]:
    """Hold the run locks of ``tables`` on ``target`` for the ``with`` block.

    ``name`` (the job) is what a refused run is told; without ``tables`` the job's name
    itself is locked.
    """
    dialect = target.engine.dialect.name
    with ExitStack() as stack:
        if dialect == "sqlite":
            path = sqlite_file(target.engine.url)
            if path is not None:
                for table in sorted({_ascii_fold(t) for t in tables} or {f"job {name}"}):
                    stack.enter_context(
                        _file_lock_for(target, _lock_file(path, table), name, table))
        elif dialect == "postgresql":
            for table in sorted(set(tables) or {f"job {name}"}):
                stack.enter_context(_pg_lock(target, name, table))
        elif dialect in ("mysql", "mariadb"):
            stack.enter_context(_mysql_locks(target, name, tables))
        yield


def _ascii_fold(name: str) -> str:
    """SQLite folds only ASCII letters when it compares names."""
    return name.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# -- holder details -----------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _host() -> str:
    return socket.gethostname()


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


# -- SQLite: a lock file --------------------------------------------------------------------
def _lock_file(db: Path, table: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", table).strip("._")[:60] or "run"
    digest = hashlib.sha256(table.encode()).hexdigest()[:8]
    return db.with_name(f"{db.name}.{slug}-{digest}.syncline-lock")


@contextmanager
def _file_lock_for(target: SqlTarget, path: Path, name: str, table: str) -> Iterator[None]:
    try:
        with _file_lock(path, name):
            yield
    except _Held as held:
        raise _refused(target, name, table, *held.holder) from None


class _Held(Exception):
    """The lock file is held: ``holder`` is (pid, host, since, job)."""

    def __init__(self, holder: tuple[int | None, str | None, str | None, str | None]) -> None:
        super().__init__("held")
        self.holder = holder


@contextmanager
def file_lock(path: Path, name: str) -> Iterator[None]:
    """Hold the lock file ``path`` (see the module docstring); remove it when done.

    Raises :class:`AlreadyRunningError` (a bare one, for tests and other callers) when
    another process holds it.
    """
    try:
        with _file_lock(path, name):
            yield
    except _Held as held:
        pid, host, since, _job = held.holder
        raise AlreadyRunningError(f"{path} is held by pid {pid}", pid=pid, host=host,
                                  since=since) from None


@contextmanager
def _file_lock(path: Path, name: str) -> Iterator[None]:
    import fcntl

    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise TargetError(f"cannot open the run lock file {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                if not _names_file(path, fd):
                    continue  # a removed lock file, its holder just finishing: start again
                holder = _read_holder_file(fd)
            finally:
                os.close(fd)
            raise _Held((_int(holder.get("pid")), _str(holder.get("host")),
                         _str(holder.get("since")), _str(holder.get("name")))) from None
        except BaseException:
            os.close(fd)
            raise
        # the lock is ours, but is it the lock file's? its holder may have removed it
        # between our open and our flock: then start again with the file now at the path
        if _names_file(path, fd):
            break
        os.close(fd)  # frees the flock of the removed file
    try:
        content = json.dumps({"pid": os.getpid(), "host": _host(), "since": _now(),
                              "name": name}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, content, 0)
        os.fsync(fd)
        yield
    finally:
        try:
            # removed while still locked: whoever opened it meanwhile will see that the
            # path no longer names it (above) and retry; nobody can lock a removed file
            # and believe it holds the lock
            os.unlink(path)
        except OSError:
            os.ftruncate(fd, 0)  # cannot remove it (a read-only folder): leave it empty
        finally:
            os.close(fd)  # drops the flock


def _names_file(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    opened = os.fstat(fd)
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    return (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino)


def _read_holder_file(fd: int) -> dict[str, Any]:
    """The holder's JSON; it may still be writing it, so look again for a moment."""
    for _ in range(20):
        size = os.fstat(fd).st_size
        if size:
            try:
                data = json.loads(os.pread(fd, size, 0).decode())
            except (ValueError, UnicodeDecodeError):
                data = None
            if isinstance(data, dict):
                return data
        time.sleep(0.01)
    return {}


# -- PostgreSQL: an advisory lock -----------------------------------------------------------
def _pg_key(name: str) -> int:
    digest = hashlib.sha256(f"syncline run lock:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _pg_application_name(pid: int, since: str, host: str) -> str:
    text = f"syncline pid={pid} since={since} host={host}"
    return text.encode("ascii", "replace").decode()[:PG_APPLICATION_NAME_MAX]


_PG_APP = re.compile(r"^syncline pid=(\d+) since=(\S+) host=(.*)$")


@contextmanager
def _pg_lock(target: SqlTarget, name: str, table: str) -> Iterator[None]:
    key = _pg_key(table)
    conn = _lock_connection(target)
    try:
        try:
            conn.execute(sa.text("SELECT set_config('application_name', :v, false)"),
                         {"v": _pg_application_name(os.getpid(), _now(), _host())})
            for _ in range(3):
                if conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                    break
                holder = _pg_holder(conn, key)
                if holder is not None:
                    raise _refused(target, name, table, *holder)
            else:  # refused three times, and the holder vanished each time
                raise _refused(target, name, table, None, None, None)
        except sa.exc.DBAPIError as exc:
            raise translate(exc, f"cannot take the run lock on {target.name}") from exc
        with _released(conn, "SELECT pg_advisory_unlock(:k)", {"k": key}):
            yield
    finally:
        _end_lock_connection(conn)


def _pg_holder(conn: sa.Connection, key: int) -> tuple[int | None, str | None, str | None] | None:
    """(pid, host, since) of the session holding advisory lock ``key``; None if none."""
    row = conn.execute(sa.text(
        "SELECT a.application_name, a.pid, a.client_addr::text,"
        " to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid::bigint = :hi AND l.objid::bigint = :lo"
        " LIMIT 1"), {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}).first()
    if row is None:
        return None
    application, backend_pid, client, started = row
    found = _PG_APP.match(application or "")
    if found:
        return int(found.group(1)), found.group(3) or None, found.group(2)
    # not a syncline session (or one that changed its name): say what the server knows
    return None, f"{client or 'local'} (server backend pid {backend_pid})", started


# -- MariaDB/MySQL: GET_LOCK and a holder table ---------------------------------------------
def _mysql_lock_name(database: str | None, name: str) -> str:
    full = f"syncline:{database or ''}:{name}"
    if len(full) <= MYSQL_NAME_MAX:
        return full
    return "syncline:" + hashlib.sha256(full.encode()).hexdigest()[:MYSQL_NAME_MAX - 9]


@contextmanager
def _mysql_locks(target: SqlTarget, name: str, tables: Sequence[str]) -> Iterator[None]:
    """GET_LOCK for each table, on one connection (MariaDB 10.0.2+ and MySQL 5.7+ let a
    session hold several)."""
    conn = _lock_connection(target)
    try:
        with ExitStack() as stack:
            try:
                database, folds = conn.execute(
                    sa.text("SELECT DATABASE(), @@lower_case_table_names")).one()
                names = {t.lower() if folds else t for t in tables} or {f"job {name}"}
                for table in sorted(names):
                    lock_name = _mysql_lock_name(database, table)
                    got = conn.execute(sa.text("SELECT GET_LOCK(:n, 0)"),
                                       {"n": lock_name}).scalar()
                    if got != 1:
                        raise _refused(target, name, table, *_mysql_holder(conn, lock_name))
                    stack.enter_context(
                        _released(conn, "SELECT RELEASE_LOCK(:n)", {"n": lock_name}))
                    conn.execute(sa.text(
                        f"CREATE TABLE IF NOT EXISTS {MYSQL_HOLDER_TABLE} (name varchar(64)"
                        " PRIMARY KEY, pid int, host varchar(255), since varchar(40))"))
                    conn.execute(sa.text(
                        f"INSERT INTO {MYSQL_HOLDER_TABLE} (name, pid, host, since)"
                        " VALUES (:n, :p, :h, :s) ON DUPLICATE KEY UPDATE"
                        " pid = VALUES(pid), host = VALUES(host), since = VALUES(since)"),
                        {"n": lock_name, "p": os.getpid(), "h": _host()[:255], "s": _now()})
            except sa.exc.DBAPIError as exc:
                raise translate(exc, f"cannot take the run lock on {target.name}") from exc
            yield
    finally:
        _end_lock_connection(conn)


def _mysql_holder(conn: sa.Connection, lock_name: str
                  ) -> tuple[int | None, str | None, str | None]:
    try:
        row = conn.execute(sa.text(
            f"SELECT pid, host, since FROM {MYSQL_HOLDER_TABLE} WHERE name = :n"),
            {"n": lock_name}).first()
    except sa.exc.DBAPIError:  # no holder table yet: the holder is about to create it
        return None, None, None
    if row is None:
        return None, None, None
    return _int(row[0]), _str(row[1]), _str(row[2])


# -- the separate lock connection ------------------------------------------------------------
@contextmanager
def _released(conn: sa.Connection, release: str, params: dict[str, Any]) -> Iterator[None]:
    """Hold a server lock taken on ``conn`` while the run goes on, then release it."""
    try:
        yield
    finally:
        try:
            conn.execute(sa.text(release), params)
        except sa.exc.DBAPIError:
            pass  # ending the lock connection frees the lock anyway


def _lock_connection(target: SqlTarget) -> sa.Connection:
    try:
        conn = target.engine.connect()
    except sa.exc.DBAPIError as exc:
        raise translate(exc, f"cannot connect to {target.name}") from exc
    try:
        return conn.execution_options(isolation_level="AUTOCOMMIT")
    except BaseException:
        conn.close()
        raise


def _end_lock_connection(conn: sa.Connection) -> None:
    """Close the lock connection for good (after an explicit unlock, which is synchronous):
    it never goes back to the pool holding a lock or a session setting (application_name)."""
    try:
        conn.invalidate()
    finally:
        conn.close()


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
