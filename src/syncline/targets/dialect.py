"""What differs between the databases a target can be: one class per database.

:class:`Dialect` is the default, plain SQL through SQLAlchemy Core; each database's own
class (:mod:`~syncline.targets.sqlite`, :mod:`~syncline.targets.postgresql`,
:mod:`~syncline.targets.mysql`) overrides what that database does differently. What a
database *is* (its keys fold case, its DDL commits, its stage wants an index) is plain
data: class attributes, documented right under them. What it *does* differently (bulk
loading, server-side cursors, NULL-safe comparison, sequences, run locks, its files) is
methods. :mod:`~syncline.targets.registry` picks the class by SQLAlchemy's dialect name;
nothing outside ``targets/`` ever names a database (``tests/test_dialect_names.py``).

A target holds one instance (``SqlTarget.dialect``); each of its sessions works with its
own (:meth:`Dialect.for_session`), which learns about its connection as the run goes (on
MySQL: whether LOAD DATA LOCAL works there).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import sqlalchemy as sa

from syncline.targets.column_types import ColumnTypes


class Session(Protocol):
    """The run's session as the target's helpers use it (staging, foreign keys, the
    dialects): :class:`~syncline.targets.sql.TargetSession` is the implementation."""

    conn: sa.Connection
    dialect: Dialect
    #: temporary tables made by this session (stages), dropped when it closes
    temporary: list[str]
    #: target table -> model of the run's importers, to name models in errors
    models: dict[str, str]
    #: tables this run deleted rows from
    deleted_from: set[str]

    def table(self, name: str) -> sa.Table: ...

    def drop_temporary(self, name: str) -> None: ...

    def executemany_load(self, table: sa.Table, columns: Sequence[str],
                         rows: Sequence[tuple[Any, ...]]) -> None: ...


class Locking(Protocol):
    """What :func:`syncline.locks.run_lock` hands a dialect to take the run's locks with."""

    #: the target's URL (a database file is locked next to the file)
    url: sa.engine.URL
    #: releases are pushed here: they run when the run ends, in reverse order
    stack: ExitStack

    def connect(self) -> sa.Connection:
        """A separate autocommit connection, closed for good when the run ends."""
        ...

    def release(self, conn: sa.Connection, statement: str, params: dict[str, Any]) -> None:
        """Run ``statement`` on ``conn`` when the run ends, to free a lock taken there
        (an error is ignored: ending the lock connection frees the lock anyway)."""
        ...


@dataclass(frozen=True)
class Violation:
    """The first row a deferred foreign key refused at commit, as the database tells."""

    #: rows that would refer to missing rows
    rows: int
    child: str
    parent: str
    #: the foreign key's columns in the child, and the parent's columns they refer to
    columns: list[str]
    referred: list[str]
    #: the row, as the database names it (``rowid 7``)
    row: str
    #: the row's values in ``columns`` (None: unknown)
    values: tuple[Any, ...] | None


class Dialect(ColumnTypes):
    """A database as syncline uses it: the default, generic SQL (its column types:
    :class:`~syncline.targets.column_types.ColumnTypes`)."""

    # -- keys -------------------------------------------------------------------------
    #: text keys that differ only by case are the same key (MySQL/MariaDB default collation)
    case_insensitive_keys = False
    #: text keys that differ only by trailing spaces are the same key (PAD SPACE collations:
    #: MariaDB's defaults; MySQL 8's utf8mb4_0900 ones are NO PAD, see docs/engines.md)
    pad_space_keys = False
    #: text keys that differ only by accents are the same key (MariaDB's default utf8mb4
    #: collations, ``_ai_`` ones)
    accent_insensitive_keys = False

    # -- writing ----------------------------------------------------------------------
    #: explicit values written to a serial column must advance its sequence by hand
    #: (:meth:`advance_sequences`)
    manual_sequences = False
    #: CREATE INDEX commits the transaction, even on a temporary table (MySQL/MariaDB); so
    #: does CREATE TABLE, so a table made by --create-table is dropped if the run fails
    implicit_commit_ddl = False
    #: index the stage by key (nested-loop joins need it; hash joins do not)
    index_stage = True
    #: copy the staged rows into key order before joining (nested-loop joins)
    sort_stage = False
    #: DELETE with a second table in its criteria (``USING``/multi-table), so the delete
    #: joins the diff table instead of probing it per target row
    delete_using = False
    #: in-memory updates and deletes also compare the values read (isolation alone does not
    #: stop another session's write from being overwritten at this isolation level)
    compare_and_set = False
    #: a write can leave warnings where the server changed a value on its own: every
    #: statement is checked (:meth:`check_warnings`)
    checks_warnings = False
    #: drops a temporary table by its temporary-schema name, never a user table of the same
    #: name, and without ending a transaction (``{}``: the quoted name)
    drop_temporary_table = "DROP TABLE IF EXISTS {}"

    # -- the run's session --------------------------------------------------------------
    #: the run's isolation level: it must never overwrite a row changed after it was read
    #: (PostgreSQL: a snapshot; MySQL: reads that take no locks, plus compare-and-set)
    isolation_level: str | None = None
    #: statements run on the connection before the run's transaction opens (SQLite:
    #: ``PRAGMA foreign_keys`` does nothing inside a transaction, so it must come first)
    connect_setup: tuple[str, ...] = ()
    #: statements that open the run's transaction before its first read (SQLite's driver
    #: would run the reads outside any transaction, and another writer could slip between)
    begin: tuple[str, ...] = ()
    #: statements bounding every lock wait of the run to ``{seconds}`` / ``{ms}``
    lock_timeout: tuple[str, ...] = ()
    #: statements that tune the run's session (PostgreSQL: room for hash joins; MySQL: a
    #: strict sql_mode, so no value is ever truncated, zeroed or replaced)
    session_setup: tuple[str, ...] = ()
    #: statements that give a pooled connection back as it was before the run
    session_teardown: tuple[str, ...] = ()
    #: statements that check what the database deferred, before the commit (PostgreSQL:
    #: deferred foreign keys; SQLite's COMMIT checks its own, see targets/foreign_keys.py)
    before_commit: tuple[str, ...] = ()

    # -- connecting -------------------------------------------------------------------
    #: URL schemes a user may write without a driver (``postgres://``) ...
    url_schemes: tuple[str, ...] = ()
    #: ... and the SQLAlchemy driver syncline connects with then
    driver: str | None = None
    #: loggers of the driver that report what syncline reports itself (kept quiet)
    driver_loggers: tuple[str, ...] = ()
    #: an empty database of this kind that lives in memory (a dry run of --create-table
    #: plans against it instead of creating a database file)
    in_memory_url: str | None = None
    #: what an error calls the database's file
    file_kind = "database file"

    def __init__(self, name: str) -> None:
        #: SQLAlchemy's name of the database (``"mariadb"`` for a MariaDB server reached
        #: with a ``mysql://`` URL, once connected), for messages
        self.name = name

    def for_session(self, name: str) -> Self:
        """A fresh instance for one session (on a connection whose dialect is ``name``)."""
        return type(self)(name)

    # -- keys ---------------------------------------------------------------------------
    def fold_text_key(self, text: str) -> str:
        """A text key as the target's default collation matches it, for matching in Python:
        the in-memory engine and the duplicate report must group keys as the database does
        (:meth:`collation_fold` for a column's own collation)."""
        if self.pad_space_keys:
            text = text.rstrip(" ")
        if self.case_insensitive_keys:
            text = text.casefold()
        return strip_accents(text) if self.accent_insensitive_keys else text

    def collation_fold(self, collation: str) -> Callable[[str], str]:
        """A text key as the column's collation ``collation`` (a name from
        :meth:`column_collations`) matches it, for matching in Python."""
        return self.fold_text_key

    def column_collations(self, session: Session, name: str) -> list[tuple[str, str]]:
        """(column, collation) of table ``name``'s text columns, where the collation decides
        which keys are one (MySQL): the in-memory engine folds each key column by its own."""
        return []

    def column_charsets(self, session: Session, name: str) -> list[tuple[str, str]]:
        """(column, character set) of table ``name``'s text columns, where the character set
        may not hold every character (MySQL: utf8mb3, latin1)."""
        return []

    # -- reading and comparing ------------------------------------------------------------
    def open_cursor(self, connection: Any) -> Any:
        """A DBAPI cursor of the driver's ``connection`` for streaming a large result
        (server-side where the driver can)."""
        return connection.cursor()

    def comparable(self, column: Any) -> Any:
        """How a column (or bound value) is compared in SQL, NULL-safely with
        ``IS [NOT] DISTINCT FROM`` (MySQL: text byte for byte, not by collation)."""
        return column

    def unindexed(self, column: Any) -> Any:
        """``column`` in a condition its index must not drive: a planner without statistics
        would walk the index of a non-selective condition (``end_transaction_id IS NULL``
        holds for every open version) instead of joining from the few changed keys."""
        return column

    # -- staging and writing ----------------------------------------------------------------
    def bulk_load(self, session: Session, table: sa.Table, columns: Sequence[str],
                  rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of driver values (in ``columns`` order) into a (staging) table."""
        session.executemany_load(table, columns, rows)

    def bulk_load_arrow(self, session: Session, table: sa.Table, columns: Sequence[str],
                        batch: Any) -> bool:
        """A ``pyarrow.RecordBatch`` of canonical values (its columns in ``columns``
        order, with :mod:`syncline.columnar`'s types) into a (staging) table, in the
        run's transaction, storing exactly what :meth:`bulk_load` of the same values
        (through the driver converters) stores. False: this database has no Arrow path,
        nothing was loaded (the caller loads the rows another way)."""
        return False

    def loaded_elsewhere(self, session: Session, table: sa.Table) -> sa.Table | None:
        """Where :meth:`bulk_load_arrow` put rows meant for ``table`` that are not in it
        (a table the run's connection reads them from, in its transaction), or None. Asked
        once, when the stage is first read (``staging.index``)."""
        return None

    def before_begin(self, conn: sa.Connection) -> None:
        """Set-up of the run's connection before its transaction begins (outside any)."""

    def after_end(self, conn: sa.Connection) -> None:
        """Undo :meth:`before_begin` once the transaction is over (the connection may go
        back to a pool)."""

    def analyze(self, conn: sa.Connection, table: sa.Table) -> None:
        """Gather statistics on a freshly loaded stage (temp tables are never analysed on
        their own)."""

    def check_warnings(self, cursor: Any, statement: str) -> None:
        """Raise when ``statement`` left warnings that mean the server changed a value on
        its own (only called where :attr:`checks_warnings`)."""

    def advance_sequences(self, conn: sa.Connection, table: sa.Table,
                          fields: Sequence[str]) -> None:
        """Move the sequences of ``table``'s serial columns among ``fields`` past the values
        written (only called where :attr:`manual_sequences`)."""

    def deferred_violation(self, conn: sa.Connection) -> Violation | None:
        """The first row deferred foreign keys refused, where the driver's error does not
        say (read while the failed commit's transaction is still open)."""
        return None

    # -- connecting and files -----------------------------------------------------------------
    def connect_args(self, url: sa.engine.URL) -> dict[str, Any]:
        """Driver arguments syncline adds to a connection the URL does not configure."""
        return {}

    def database_file(self, url: sa.engine.URL) -> Path | None:
        """The file the database lives in, for a database that is a file; else None."""
        return None

    def database_files(self, url: sa.engine.URL) -> list[Path]:
        """Every file of the database (with its journals), for a database that is a file."""
        return []

    def anchored(self, url: sa.engine.URL, folder: Path) -> sa.engine.URL:
        """The URL with a relative database file taken from ``folder`` (a config file's), so
        that it names one database wherever a command runs; unchanged for the others."""
        return url

    # -- run locks ------------------------------------------------------------------------------
    def take_run_locks(self, locking: Locking, job: str, tables: Sequence[str]) -> None:
        """Take the run lock of each of ``tables`` (none: of ``"job <job>"``) without
        waiting, in sorted order, pushing each release on ``locking.stack``. A lock someone
        holds raises :class:`~syncline.targets.lockfile.LockHeld`; driver errors propagate.
        The default takes none: another database offers no lock syncline knows."""


def strip_accents(text: str) -> str:
    """``'café'`` -> ``'cafe'``: the combining marks of the canonical decomposition dropped."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def quote_plain(dialect: sa.Dialect, name: str) -> str:
    """``name`` quoted for a statement the driver runs WITHOUT parameters.

    The dialect's preparer doubles ``%`` where the driver formats parameters (psycopg,
    PyMySQL) — right for a statement with parameters, wrong without them: COPY and LOAD DATA
    would then name a column ``a%%b``. Always quoted, so no name is ever read as SQL.
    """
    preparer = dialect.identifier_preparer
    escaped = name.replace(preparer.escape_quote, preparer.escape_to_quote)
    return preparer.initial_quote + escaped + preparer.final_quote


def plain_table(dialect: sa.Dialect, table: sa.Table) -> str:
    """``table``'s (schema-qualified) name quoted as by :func:`quote_plain`."""
    name = quote_plain(dialect, table.name)
    return f"{quote_plain(dialect, table.schema)}.{name}" if table.schema else name
