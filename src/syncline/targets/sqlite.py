"""SQLite: the embedded default, a database in one file (or in memory)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncline.errors import TargetError
from syncline.targets import lockfile
from syncline.targets.column_types import Refuse
from syncline.targets.dialect import Dialect, Locking, Session, Violation

#: significant digits a SQLite NUMERIC column keeps (it stores them as a 64-bit float)
DECIMAL_DIGITS = 15

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class SQLite(Dialect):
    """SQLite through the standard library's sqlite3."""

    sort_stage = True
    begin = ("BEGIN",)
    # SQLite enforces foreign keys only when asked, per connection and outside a transaction
    connect_setup = ("PRAGMA foreign_keys = ON",)
    lock_timeout = ("PRAGMA busy_timeout = {ms}",)
    drop_temporary_table = "DROP TABLE IF EXISTS temp.{}"
    in_memory_url = "sqlite://"
    file_kind = "SQLite database file"
    least_decimal_precision = DECIMAL_DIGITS

    def __init__(self, name: str = "sqlite") -> None:
        super().__init__(name)
        #: this session's scratch database (:meth:`before_begin`), or None
        self._scratch: Any = None
        #: stage tables the scratch path could not take (staged with executemany)
        self._scratch_refused: set[str] = set()

    def bulk_load_arrow(self, session: Session, table: sa.Table, columns: Sequence[str],
                        batch: Any) -> bool:
        """The batch's columns as the Python values today's bind processors make, in
        compiled code, then the same executemany as :meth:`bulk_load`: a decimal becomes
        the float ``float(Decimal)`` gives (through its exact digits, parsed correctly
        rounded), a date its ISO text (SQLAlchemy's ``%Y-%m-%d``, years zero-padded),
        booleans, integers, floats and text stay as they are."""
        from syncline.targets import arrow_stage

        if not arrow_stage.supported(batch):
            return False
        bound = [_bound(column) for column in batch.columns]
        if self._scratch is not None and table.name not in self._scratch_refused:
            import pyarrow as pa

            try:
                self._scratch.load(table, pa.RecordBatch.from_arrays(bound, names=columns))
                return True
            except Exception as exc:  # the driver's own errors
                if _interrupted(exc):  # the driver turns Ctrl-C into an error of its own
                    raise KeyboardInterrupt from exc
                if self._scratch.table(table) is not None:  # never stage half of the rows
                    raise TargetError(f"staging rows in the scratch database: {exc}") from exc
                self._scratch_refused.add(table.name)  # nothing there: the usual way
        values = [column.to_pylist() for column in bound]
        session.executemany_load(table, columns, list(zip(*values, strict=True)))
        return True

    def loaded_elsewhere(self, session: Session, table: sa.Table) -> sa.Table | None:
        """The scratch database's copy of ``table`` (:mod:`syncline.targets.sqlite_scratch`)."""
        return None if self._scratch is None else self._scratch.table(table)

    def before_begin(self, conn: sa.Connection) -> None:
        """Attach a scratch database for staging Arrow batches in bulk (where the ADBC
        SQLite driver is installed)."""
        from syncline.targets import sqlite_scratch

        if sqlite_scratch.available():
            self._scratch = sqlite_scratch.Scratch.attach(conn)

    def after_end(self, conn: sa.Connection) -> None:
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            scratch.detach(conn)

    def database_file(self, url: sa.engine.URL) -> Path | None:
        """The database file of a SQLite URL, or None for an in-memory database."""
        database = url.database
        if not database or database == ":memory:":
            return None
        if database.startswith("file:"):  # URI filename (?uri=true)
            if "mode=memory" in database or database.startswith("file::memory:"):
                return None
            database = database[len("file:"):].split("?", 1)[0]
        if url.query.get("mode") == "memory":
            return None
        return Path(database).resolve()

    def deferred_violation(self, conn: sa.Connection) -> Violation | None:
        """From ``PRAGMA foreign_key_check``: SQLite's COMMIT refuses without naming rows."""
        driver = conn.connection.driver_connection
        assert driver is not None
        violations = driver.execute("PRAGMA foreign_key_check").fetchall()
        if not violations:
            return None
        child, rowid, parent, fkid = violations[0]
        fk_rows = [r for r in driver.execute(f"PRAGMA foreign_key_list({_quoted(child)})")
                   if r[0] == fkid]
        columns = [r[3] for r in fk_rows]
        values = driver.execute(
            f"SELECT {', '.join(_quoted(c) for c in columns)} FROM {_quoted(child)}"
            " WHERE rowid = ?", (rowid,)).fetchone() if columns else None
        return Violation(len(violations), child, parent, columns,
                         [r[4] or "?" for r in fk_rows], f"rowid {rowid}", values)

    def anchored(self, url: sa.engine.URL, folder: Path) -> sa.engine.URL:
        """``sqlite:///shop.db`` in a config file is the ``shop.db`` beside the file."""
        database = url.database
        if (not database or database == ":memory:" or database.startswith("file:")
                or url.query.get("mode") == "memory" or Path(database).is_absolute()):
            return url
        return url.set(database=str(folder / database))

    def database_files(self, url: sa.engine.URL) -> list[Path]:
        """The database file with its journals (``-wal``, ``-journal``, ``-shm``)."""
        db = self.database_file(url)
        if db is None:
            return []
        return [db] + [db.with_name(db.name + suffix) for suffix in ("-wal", "-journal", "-shm")]

    def take_run_locks(self, locking: Locking, job: str, tables: Sequence[str]) -> None:
        """A lock file next to the database per table (:mod:`~syncline.targets.lockfile`),
        its name ASCII case-folded as SQLite compares names (``ITEMS`` and ``items`` are one
        table). An in-memory database takes none: no other process can see it."""
        path = self.database_file(locking.url)
        if path is None:
            return
        for table in sorted({t.translate(_ASCII_LOWER) for t in tables} or {f"job {job}"}):
            try:
                locking.stack.enter_context(lockfile.hold(lockfile.lock_file(path, table), job))
            except lockfile.LockHeld as held:
                raise lockfile.LockHeld(table, held.holder) from None

    # -- column types ------------------------------------------------------------------------
    def unindexed(self, column: Any) -> Any:
        """``column + 0``: an expression, which SQLite's planner cannot look up by index
        (it has no statistics: it takes ``IS NULL`` on an index for a selective lookup)."""
        return column + 0

    def int_bits(self, t: Any) -> int:
        return 64  # every INTEGER column holds 64 bits, whatever its declared type

    def is_real(self, t: Any) -> bool:
        return False  # REAL is 8 bytes

    def type_compiler(self) -> sa.Dialect:
        from sqlalchemy.dialects import sqlite

        return sqlite.dialect()

    def created_float(self, real: bool) -> Any:
        return sa.Double()

    def created_decimal(self, precision: int | None, scale: int | None, refuse: Refuse
                        ) -> Any:
        if precision is None or precision > DECIMAL_DIGITS:
            raise refuse(f"SQLite keeps only {DECIMAL_DIGITS} significant digits of a"
                         " decimal")
        return super().created_decimal(precision, scale, refuse)

    def created_datetime(self, timezone: bool, fsp: int) -> Any:
        return sa.DateTime()  # text with microseconds


def _interrupted(error: BaseException) -> bool:
    """A KeyboardInterrupt is among the causes of ``error``."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _bound(column: Any) -> Any:
    """A canonical Arrow column as SQLAlchemy's SQLite bind processors would hand it."""
    import pyarrow as pa

    if pa.types.is_decimal(column.type):  # Numeric binds float(value) on SQLite
        return column.cast(pa.string()).cast(pa.float64())
    if column.type == pa.date32():  # DATE binds '%(year)04d-%(month)02d-%(day)02d'
        return column.cast(pa.string())
    return column


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
