"""Who holds a run lock, and a run lock held as a lock file (for a database that is a file).

A lock file is held with ``fcntl.flock(LOCK_EX | LOCK_NB)`` and holds JSON ``{pid, host,
since, name}``. The holder deletes the file when its run ends, *while still holding the
lock*; a process that opened the file before and then gets the lock sees that the path no
longer names the file it locked (device and inode differ, or it is gone) and starts again,
so two runs never both hold "the" lock. A lock file of a dead holder is taken over (the OS
dropped its flock) and deleted at the end of that run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncline.errors import TargetError

#: (pid, host, since, job) of a lock's holder, each None where unknown
Holder = tuple[int | None, str | None, str | None, str | None]
UNKNOWN: Holder = (None, None, None, None)


class LockHeld(Exception):
    """Another run holds the lock ``name`` (a table as locked, ``job <name>``, or a path)."""

    def __init__(self, name: str, holder: Holder) -> None:
        super().__init__(f"{name} is held")
        self.name = name
        self.holder = holder


def now() -> str:
    """The time a holder took its lock, as it is shown."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def host() -> str:
    return socket.gethostname()


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def as_str(value: Any) -> str | None:
    return None if value is None else str(value)


def lock_file(db: Path, name: str) -> Path:
    """The lock file of lock ``name`` next to the database file ``db``:
    ``<db path>.<name>-<hash>.syncline-lock`` (the name reduced to ``[A-Za-z0-9_.-]`` plus a
    short hash of it, so two names never share a file)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:60] or "run"
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return db.with_name(f"{db.name}.{slug}-{digest}.syncline-lock")


@contextmanager
def hold(path: Path, job: str) -> Iterator[None]:
    """Hold the lock file ``path`` for the ``with`` block (see the module docstring) and
    remove it when done; :class:`LockHeld` (named by the path) when another process holds
    it."""
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
            raise LockHeld(str(path), (as_int(holder.get("pid")), as_str(holder.get("host")),
                                       as_str(holder.get("since")), as_str(holder.get("name")))
                           ) from None
        except BaseException:
            os.close(fd)
            raise
        # the lock is ours, but is it the lock file's? its holder may have removed it
        # between our open and our flock: then start again with the file now at the path
        if _names_file(path, fd):
            break
        os.close(fd)  # frees the flock of the removed file
    try:
        content = json.dumps({"pid": os.getpid(), "host": host(), "since": now(),
                              "name": job}).encode()
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
