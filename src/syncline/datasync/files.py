"""The folder watcher: a new or replaced source file triggers a full sync of its model.

Each model reads ``DIR/<model>.<ext>`` (any extension :mod:`syncline.sources.formats`
reads). A file is synced once nothing has written it for ``settle`` seconds (2 by default:
a copy that pauses is not taken half-written; a file renamed into the folder keeps the
time it was written, so it is taken at once) — and only when it differs from the file
last synced (its size, time and a SHA-256 of its bytes, remembered in the target's
``syncline_datasync_positions``, so a restart does not sync it again). The
sync is a whole run of the handler: the file is the full truth, so records it no longer
has are deleted, and the guards judge it as they judge ``syncline sync --delete`` (an
empty or truncated file is refused, and the daemon logs the refusal and goes on).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from syncline.datasync.queue import Queue
from syncline.errors import SynclineError
from syncline.handler import Handler
from syncline.options import RunOptions
from syncline.sources.formats import file_source

Log = Callable[[str], None]
#: seconds a file must be left unchanged before it is synced (``--settle``)
SETTLE = 2.0
_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".xlsx", ".xls", ".ods")


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


class FolderWatcher:
    """Full syncs of ``handler``'s models from the files in ``folder``."""

    def __init__(self, folder: Path, handler: Handler, queue: Queue, log: Log,
                 runas: str | None = None, settle: float = SETTLE) -> None:
        self.folder = folder
        self.handler = handler
        self.queue = queue
        self.log = log
        self.runas = runas
        self.settle = settle
        #: per file, the (size, mtime_ns) and SHA-256 last synced (or refused: "failed")
        self._known: dict[Path, tuple[tuple[int, int], str]] = {}

    def file_of(self, model: str) -> Path | None:
        found = [self.folder / f"{model}{ext}" for ext in _EXTENSIONS
                 if (self.folder / f"{model}{ext}").is_file()]
        return found[0] if found else None

    def move(self) -> int:
        """Sync each model whose file changed and settled; the number of files synced."""
        synced = 0
        for model in self.handler.models:
            path = self.file_of(model)
            if path is None:
                continue
            stat = path.stat()
            state = (stat.st_size, stat.st_mtime_ns)
            known = self._known.get(path) or self._stored(path)
            if known is not None and known[0] == state:
                continue  # as synced (or refused) last time
            if time.time() - stat.st_mtime < self.settle:
                continue  # written moments ago: perhaps still being written
            digest = _digest(path)
            if known is not None and known[1] == digest:
                self._remember(path, state, digest)  # touched, not changed
                continue
            done = self._sync(model, path)
            self._remember(path, state, digest if done else "failed")
            synced += done
        return synced

    def _stored(self, path: Path) -> tuple[tuple[int, int], str] | None:
        """What a daemon before this one synced of ``path`` (read once per file)."""
        with self.queue.engine.connect() as conn:
            stored = self.queue.position(conn, f"file {path}")
        if stored is None:
            return None
        size, mtime_ns, digest = json.loads(stored)
        self._known[path] = ((size, mtime_ns), digest)
        return self._known[path]

    def _sync(self, model: str, path: Path) -> bool:
        importer = self.handler.importer(model)
        before = importer.given_source
        importer.use_source(file_source(path))
        options = RunOptions(delete=importer.allow_delete, runas=self.runas,
                             comment=f"datasync: {path.name}")
        try:
            result = self.handler.run(options, [model])
        except SynclineError as exc:
            self.log(f"{model}: the sync of {path} failed, will try again when the file"
                     f" changes: {exc}")
            return False
        finally:
            if before is not None:
                importer.use_source(before)
        counts = result.models[model]
        self.log(f"{model}: synced {path.name}: {counts.created} created, {counts.updated}"
                 f" updated, {counts.deleted} deleted in {result.seconds:.3f} s")
        return True

    def _remember(self, path: Path, state: tuple[int, int], digest: str) -> None:
        self._known[path] = (state, digest)
        with self.queue.engine.begin() as conn:
            self.queue.move_position(conn, f"file {path}", json.dumps([*state, digest]))
