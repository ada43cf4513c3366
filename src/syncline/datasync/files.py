"""The folder watcher: a new or replaced source file triggers a full sync of its model.

Each model reads ``DIR/<model>.<ext>`` (any extension :mod:`syncline.sources.formats`
reads). A file is synced once it has stopped changing — the same size and modification
time at two looks in a row, so a file still being copied is left alone — and only when it
differs from the file last synced (its size, time and a SHA-256 of its bytes, remembered
in the target's ``syncline_datasync_positions``, so a restart does not sync it again). The
sync is a whole run of the handler: the file is the full truth, so records it no longer
has are deleted, and the guards judge it as they judge ``syncline sync --delete`` (an
empty or truncated file is refused, and the daemon logs the refusal and goes on).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from syncline.datasync.queue import Queue
from syncline.errors import SynclineError
from syncline.handler import Handler
from syncline.options import RunOptions
from syncline.sources.formats import file_source, format_of

Log = Callable[[str], None]
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
                 runas: str | None = None) -> None:
        self.folder = folder
        self.handler = handler
        self.queue = queue
        self.log = log
        self.runas = runas
        #: (size, mtime_ns) of each file at the previous look
        self._seen: dict[Path, tuple[int, int]] = {}

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
            now = (stat.st_size, stat.st_mtime_ns)
            before, self._seen[path] = self._seen.get(path), now
            if before != now:
                continue  # new, or still changing: look again next time
            name = f"file {path}"
            with self.queue.engine.connect() as conn:
                stored = self.queue.position(conn, name)
            remembered = json.loads(stored) if stored else None
            if remembered is not None and remembered[:2] == list(now):
                continue
            digest = _digest(path)
            if remembered is not None and remembered[2] == digest:
                self._remember(name, now, digest)  # touched, not changed
                continue
            if self._sync(model, path):
                self._remember(name, now, digest)
                synced += 1
        return synced

    def _sync(self, model: str, path: Path) -> bool:
        importer = self.handler.importer(model)
        before = importer.given_source
        importer.use_source(file_source(path, format=format_of(path)))
        options = RunOptions(delete=importer.allow_delete, runas=self.runas,
                             comment=f"datasync: {path.name}")
        try:
            result = self.handler.run(options, [model])
        except SynclineError as exc:
            self.log(f"{model}: the sync of {path} failed, will try again when the file"
                     f" changes: {exc}")
            self._remember(f"file {path}", self._seen[path], "failed")
            return False
        finally:
            if before is not None:
                importer.use_source(before)
        counts = result.models[model]
        self.log(f"{model}: synced {path.name}: {counts.created} created, {counts.updated}"
                 f" updated, {counts.deleted} deleted in {result.seconds:.3f} s")
        return True

    def _remember(self, name: str, stat: tuple[int, int], digest: str) -> None:
        with self.queue.engine.begin() as conn:
            self.queue.move_position(conn, name, json.dumps([*stat, digest]))
