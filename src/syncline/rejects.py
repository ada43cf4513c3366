"""Rejected rows: spooled while reading, written to ``--rejects FILE`` only when a run commits.

* :class:`RejectSpool` holds the rows ``--on-error=skip`` leaves out in an anonymous
  temporary file, appended batch by batch (pickled, compressed): memory stays bounded
  however many rows are rejected (RELIABILITY.md row 42); the count is exact.
* :func:`check_path` judges the rejects path before the run (row 36): never an input of
  the run — the source file, the target SQLite database or its ``-wal``/``-journal``/``-shm``
  files, however the path is spelled (relative, ``./``, a symlink, a hard link) — never a
  directory, a device or a path in a missing folder, and writable.
* :class:`RejectsFile` writes the file to a temporary file in the same folder once the guards
  have passed and the changes are applied, and renames it into place right after the
  commit. A dry run, a refused run and a failed run write nothing (the temporary file is
  removed); a run that commits always has its complete rejects file.
* Cells that a spreadsheet would run as a formula — starting with ``=``, ``+``, ``-``, ``@``,
  tab or carriage return — get a leading ``'`` (row 33; ``escape_formulas=False``,
  ``--no-escape-formulas``, writes them as they are).
"""

from __future__ import annotations

import csv
import os
import pickle
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from syncline.errors import ConfigError, OutputError
from syncline.targets.registry import dialect_for

#: the first characters that make a spreadsheet read a cell as a formula (OWASP)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: rejected rows pickled together into the spool
SPOOL_BATCH = 1000


@dataclass
class Rejected:
    """A source row left out of the run, with the reason (for the rejects file)."""

    row: int
    values: tuple[Any, ...]
    reason: str


class RejectSpool:
    """Rejected rows of one importer, in a temporary file; ``len()`` is the exact count."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._pending: list[Rejected] = []
        self._count = 0

    def append(self, rejected: Rejected) -> None:
        self._pending.append(rejected)
        self._count += 1
        if len(self._pending) >= SPOOL_BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="syncline-rejected-")
            self._file.seek(0, os.SEEK_END)
            chunk = zlib.compress(pickle.dumps(self._pending, pickle.HIGHEST_PROTOCOL), 1)
            self._file.write(len(chunk).to_bytes(8, "big") + chunk)
        except OSError as exc:
            raise OutputError(f"cannot spool rejected rows to a temporary file"
                              f" ({tempfile.gettempdir()}): {exc.strerror or exc};"
                              " nothing was written") from exc
        self._pending = []

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[Rejected]:
        self._flush()
        if self._file is None:
            return
        self._file.seek(0)
        while size := self._file.read(8):
            batch: list[Rejected] = pickle.loads(  # our own file, written just before
                zlib.decompress(self._file.read(int.from_bytes(size, "big"))))
            yield from batch

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# -- the path, judged before the run ------------------------------------------------------
def check_path(path: str | os.PathLike[str], inputs: Iterable[tuple[Path, str]],
               option: str = "--rejects", noun: str | None = None) -> Path:
    """Refuse a rejects path that is an input of the run or cannot be written; returns the
    resolved path the file will be written to. ``inputs`` are (file, what it is); ``noun``
    names the output in messages (default: from ``option``)."""
    given = os.fspath(path)
    where = Path(given)
    if where.is_dir():
        raise ConfigError(f"{option} {given} is a directory; give the path of a file",
                          file=given)
    if where.exists() and not where.resolve().is_file():
        raise ConfigError(f"{option} {given} is not a regular file (a device, a pipe...);"
                          " give the path of a file", file=given)
    real = where.resolve()
    if real.name.endswith(".syncline-lock"):
        raise ConfigError(f"{option} {given} is a syncline lock file", file=given)
    for candidate, what in inputs:
        if _same_file(real, candidate):
            noun = noun or ("rejects file" if option == "--rejects" else "rows file")
            raise ConfigError(f"{option} {given} is {what}; the {noun} must never be a file"
                              " the run reads or writes", file=given)
    folder = real.parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise ConfigError(f"{option} {given}: the folder {folder} {problem}", file=given)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {given}: the folder {folder} is not writable",
                          file=given)
    if real.exists() and not os.access(real, os.W_OK):
        raise ConfigError(f"{option} {given} is not writable", file=given)
    return real


def _same_file(a: Path, b: Path) -> bool:
    if a == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def database_files(url: Any, what: str) -> list[tuple[Path, str]]:
    """The files of a database that lives in files (SQLite: with its journals), as the
    target's dialect names them; none for a database server."""
    files = dialect_for(url.get_backend_name()).database_files(url)
    if not files:
        return []
    return [(files[0], what)] + [(journal, f"{what} journal") for journal in files[1:]]


def source_files(source: Any) -> list[tuple[Path, str]]:
    """The files a source reads: a source database that is a file, or the file it is named
    by."""
    engine = getattr(source, "engine", None)
    if engine is not None:
        return database_files(engine.url, "the source database")
    name = getattr(source, "name", None)
    if isinstance(name, str) and name and os.path.isfile(name):
        return [(Path(name).resolve(), "the source file")]
    return []


# -- the file, written after the guards and renamed after the commit ---------------------
def escape_cell(value: Any) -> Any:
    """A cell a spreadsheet will show as text, never run as a formula."""
    text = value if isinstance(value, str) else None
    if text is None:
        return value
    return "'" + text if text.startswith(FORMULA_START) else text


class RejectsFile:
    """The rejects CSV: ``model, row, reason`` and every field of every model."""

    def __init__(self, path: Path, *, escape_formulas: bool = True) -> None:
        self.path = path
        self.escape_formulas = escape_formulas
        self._temp: Path | None = None

    def write(self, models: Sequence[tuple[str, Sequence[str], Iterable[Rejected]]]) -> None:
        """Write every rejected row to a temporary file beside the final one."""
        fields = list(dict.fromkeys(f for _, names, _ in models for f in names))
        escape = escape_cell if self.escape_formulas else (lambda v: v)
        try:
            handle = tempfile.NamedTemporaryFile(
                "w", newline="", encoding="utf-8", dir=self.path.parent,
                prefix=f".{self.path.name}.", suffix=".tmp", delete=False)
            self._temp = Path(handle.name)
            with handle:
                writer = csv.writer(handle)
                writer.writerow(["model", "row", "reason", *fields])
                for model, names, rows in models:
                    for rejected in rows:
                        by_name = dict(zip(names, rejected.values, strict=False))
                        writer.writerow([escape(v) for v in (
                            model, rejected.row, rejected.reason,
                            *(by_name.get(f, "") for f in fields))])
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write the rejects file {self.path}:"
                              f" {exc.strerror or exc}; nothing was written",
                              file=str(self.path)) from exc

    def publish(self) -> None:
        """Put the written file in place (after the commit)."""
        if self._temp is None:
            return
        try:
            os.replace(self._temp, self.path)
        except OSError as exc:
            raise OutputError(f"the run committed, but the rejects file could not be renamed"
                              f" to {self.path} ({exc.strerror or exc}); the rejected rows are"
                              f" in {self._temp}", file=str(self.path)) from exc
        self._temp = None

    def discard(self) -> None:
        """Remove the temporary file (a run that did not commit writes nothing)."""
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None
