"""SQLite: staging Arrow batches in bulk through a scratch database file.

Python's ``sqlite3`` binds every value from Python (``executemany``: about 1.4 s for a
million rows of five columns). The ADBC SQLite driver (``adbc-driver-sqlite``) inserts an
Arrow batch in compiled code (about 0.5 s). It has a connection of its own, so it writes
a *scratch* database file that the run's connection ATTACHes — before its transaction
begins, because SQLite refuses ATTACH inside one:

1. :meth:`Scratch.attach` (session start, outside the transaction): a new, empty file in
   the temporary folder, attached as ``syncline_scratch``. The run's connection takes no
   lock on it until it reads it.
2. :meth:`Scratch.load` (each batch): the ADBC connection makes a table with the stage's
   own column declarations (so SQLite gives the values the same affinities, and stores
   exactly what ``executemany`` of the same bound values stores) and appends the batch,
   each append committed in the scratch file (which is never the user's data).
3. :meth:`Scratch.table` (when the stage is read): the ADBC connection is closed; the run's
   connection reads the rows in its own transaction (the sorted copy into the stage,
   ``staging.index``).
4. :meth:`Scratch.detach` (session end, after the transaction): detached and deleted.

Without the driver installed (or for any batch it cannot take), batches go through
``executemany`` as before. A killed run leaves at most the scratch file in the temporary
folder: never anything in the target.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
from typing import Any

import sqlalchemy as sa

#: the schema name the scratch database is attached as
SCHEMA = "syncline_scratch"


def available() -> bool:
    """The ADBC SQLite driver is installed."""
    return importlib.util.find_spec("adbc_driver_sqlite") is not None


class ScratchClosed(Exception):
    """The scratch database takes no more tables in this session."""


class Scratch:
    """One session's scratch database: attached, filled by ADBC, read, detached."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._adbc: Any = None
        self._tables: dict[str, sa.Table] = {}
        #: the run's connection has read this file (a stage was copied from it)
        self._read = False

    @classmethod
    def attach(cls, conn: sa.Connection) -> Scratch:
        # made here, exclusively and readable by this user only (the source's rows go
        # into it); SQLite takes an empty file for a new database
        handle, path = tempfile.mkstemp(prefix=f"syncline-stage-{os.getpid()}-", suffix=".db")
        os.close(handle)
        try:
            conn.exec_driver_sql(f"ATTACH DATABASE ? AS {SCHEMA}", (path,))
        except BaseException:
            os.unlink(path)
            raise
        return cls(path)

    def load(self, table: sa.Table, batch: Any) -> None:
        """Append ``batch`` (values as the driver would bind them) to the scratch copy of
        ``table`` (made on first use, with ``table``'s column declarations).

        Refused (:class:`ScratchClosed`, nothing written) once the run's connection has
        read the file: the driver links its own copy of SQLite, whose locks and schema
        changes that connection does not see inside its transaction, so a table added now
        would be missing from its cached schema (a second importer of the run); the
        caller stages that table's rows the usual way."""
        if self._read:
            raise ScratchClosed("the scratch database was already read in this transaction")
        cursor = self._cursor()
        if table.name not in self._tables:
            copy = sa.Table(table.name, sa.MetaData(),
                            *(sa.Column(c.name, c.type) for c in table.columns))
            from sqlalchemy.dialects import sqlite

            ddl = str(sa.schema.CreateTable(copy).compile(dialect=sqlite.dialect()))
            cursor.execute(ddl)
            self._tables[table.name] = sa.Table(
                table.name, sa.MetaData(), *(sa.Column(c.name, c.type) for c in table.columns),
                schema=SCHEMA)
        cursor.adbc_ingest(table.name, batch, mode="append")

    def table(self, table: sa.Table) -> sa.Table | None:
        """The scratch copy of ``table`` holding the rows :meth:`load` appended (None if
        none was made); the ADBC connection is closed first: its writes are committed."""
        self._close_adbc()
        found = self._tables.get(table.name)
        if found is not None:
            self._read = True  # the run's connection reads it next: no more writes
        return found

    def detach(self, conn: sa.Connection) -> None:
        """Outside any transaction: detach and delete the scratch file."""
        self._close_adbc()
        try:
            conn.exec_driver_sql(f"DETACH DATABASE {SCHEMA}")
            if conn.in_transaction():
                conn.commit()
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path + suffix)

    def _cursor(self) -> Any:
        if self._adbc is None:
            import adbc_driver_sqlite.dbapi as adbc

            connection = adbc.connect(self.path, autocommit=True)
            cursor = connection.cursor()
            # a scratch file: nothing in it must survive a crash, so no journal, no fsync
            cursor.execute("PRAGMA journal_mode = OFF")
            cursor.execute("PRAGMA synchronous = OFF")
            self._adbc = (connection, cursor)
        return self._adbc[1]

    def _close_adbc(self) -> None:
        if self._adbc is not None:
            connection, cursor = self._adbc
            self._adbc = None
            try:
                cursor.close()
            finally:
                connection.close()
