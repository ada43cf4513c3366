"""A SQL database as a target: read by key in large batches, apply change sets in bulk.

The session holds ONE connection and ONE transaction for the whole run. Apply is the only
place that writes; it uses executemany batches (inserts in key order, which is much
cheaper for a B-tree), grouped updates and ``DELETE ... WHERE key IN (...)`` batches.
Dialect differences live in :class:`Capabilities`, never in the engine.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import operator
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncline.diff import ChangeSet, Create, Key, Update
from syncline.errors import (
    ConfigError,
    RowErrors,
    TargetError,
    TransientTargetError,
    format_key,
)
from syncline.masking import mask_text, mask_url, remember_url
from syncline.targets import staging
from syncline.targets.codes import (
    CONFLICT,
    LOCK_WAIT,
    error_code,
    is_foreign_key_error,
    is_transient,
    is_unique_violation,
)
from syncline.targets.foreign_keys import deferred_violation, orphaning_delete
from syncline.targets.pinpoint import apply_in_parts
from syncline.types import ColumnSpec, TypeOptions, to_db

BATCH = 10_000
KEY_BATCH = 1_000
#: refused rows named before giving up (the run is not committed anyway)
ERRORS_KEPT = 1_000
#: seconds a run waits for a lock another session holds (``--lock-timeout``)
LOCK_TIMEOUT = 30.0


@dataclass(frozen=True)
class Capabilities:
    """What a target can do; the engine asks these, never the dialect's name."""

    #: text keys that differ only by case are the same key (MySQL/MariaDB default collation)
    case_insensitive_keys: bool = False
    #: text keys that differ only by trailing spaces are the same key (PAD SPACE collations:
    #: MariaDB's defaults; MySQL 8's utf8mb4_0900 ones are NO PAD, see docs/engines.md)
    pad_space_keys: bool = False
    #: text keys that differ only by accents are the same key (MariaDB's default utf8mb4
    #: collations, ``_ai_`` ones)
    accent_insensitive_keys: bool = False
    #: (column, collation) of a table's text columns, where the collation decides which
    #: keys are one (MySQL): the in-memory engine folds each key column by its own
    column_collations: Callable[[TargetSession, str], list[tuple[str, str]]] | None = None
    #: explicit values written to a serial column must advance its sequence by hand
    manual_sequences: bool = False
    #: a DBAPI cursor for streaming a large result (server-side where the driver can)
    open_cursor: Callable[[Any], Any] = operator.methodcaller("cursor")
    #: bulk-load rows into a (staging) table: executemany by default, COPY on PostgreSQL
    bulk_load: Callable[[TargetSession, sa.Table, Sequence[str], Sequence[tuple[Any, ...]]],
                        None] = field(default=lambda *a: _executemany_load(*a))
    #: CREATE INDEX commits the transaction, even on a temporary table (MySQL/MariaDB); so
    #: does CREATE TABLE, so a table made by --create-table is dropped if the run fails
    implicit_commit_ddl: bool = False
    #: index the stage by key (nested-loop joins need it; hash joins do not)
    index_stage: bool = True
    #: statements that tune the run's session (PostgreSQL: room for hash joins; MySQL: a
    #: strict sql_mode, so no value is ever truncated, zeroed or replaced)
    session_setup: tuple[str, ...] = ()
    #: statements that give a pooled connection back as it was before the run
    session_teardown: tuple[str, ...] = ()
    #: raises when a write left warnings (a data change the server made on its own)
    check_warnings: Callable[[Any, str], None] | None = None
    #: (column, character set) of a table's text columns, where the character set may not
    #: hold every character (MySQL: utf8mb3, latin1)
    column_charsets: Callable[[TargetSession, str], list[tuple[str, str]]] | None = None
    #: copy the staged rows into key order before joining (nested-loop joins)
    sort_stage: bool = False
    #: gather statistics on a freshly loaded stage (temp tables are never auto-analysed)
    analyze: Callable[[TargetSession, sa.Table], None] = field(default=lambda *a: None)
    #: drops a temporary table by its temporary-schema name, never a user table of the same
    #: name, and without ending a transaction (MySQL needs TEMPORARY)
    drop_temporary: str = "DROP TABLE IF EXISTS temp.{}"
    #: the run's isolation level: it must never overwrite a row changed after it was read
    #: (PostgreSQL: a snapshot; MySQL: reads that take no locks, plus compare-and-set)
    isolation_level: str | None = None
    #: statements run on the connection before the run's transaction opens (SQLite:
    #: ``PRAGMA foreign_keys`` does nothing inside a transaction, so it must come first)
    connect_setup: tuple[str, ...] = ()
    #: statements that check what the database deferred, before the commit (PostgreSQL:
    #: deferred foreign keys; SQLite's COMMIT checks its own, see targets/foreign_keys.py)
    before_commit: tuple[str, ...] = ()
    #: statements that open the run's transaction before its first read (SQLite's driver
    #: would run the reads outside any transaction, and another writer could slip between)
    begin: tuple[str, ...] = ()
    #: statements bounding every lock wait of the run to ``{seconds}`` / ``{ms}``
    lock_timeout: tuple[str, ...] = ()
    #: DELETE with a second table in its criteria (``USING``/multi-table), so the delete
    #: joins the diff table instead of probing it per target row
    delete_using: bool = False
    #: in-memory updates and deletes also compare the values read (isolation alone does not
    #: stop another session's write from being overwritten at this isolation level)
    compare_and_set: bool = False
    #: how a column is compared in SQL (MySQL: text byte for byte, not by collation)
    comparable: Callable[[Any], Any] = field(default=lambda column: column)

    def fold_text_key(self, text: str) -> str:
        """A text key as the target's default collation matches it, for matching in Python:
        the in-memory engine and the duplicate report must group keys as the database does
        (:func:`collation_fold` for a column's own collation)."""
        if self.pad_space_keys:
            text = text.rstrip(" ")
        if self.case_insensitive_keys:
            text = text.casefold()
        return strip_accents(text) if self.accent_insensitive_keys else text


def collation_fold(collation: str) -> Callable[[str], str]:
    """A text key as a MySQL/MariaDB collation compares it, approximated in Python:
    trailing spaces (PAD SPACE, all but ``nopad`` and MySQL 8's ``0900`` collations), case
    (``_ci``) and accents (all ``_ci`` collations but ``_as_ci``). Exotic equalities
    (``'ß' = 's'`` in ``utf8mb4_general_ci``) are not modelled (docs/engines.md)."""
    name = collation.lower()
    pad = "nopad" not in name and "_0900_" not in name
    case = name.endswith("_ci")
    accents = case and "_as_" not in name

    def fold(text: str) -> str:
        if pad:
            text = text.rstrip(" ")
        if case:
            text = text.casefold()
        return strip_accents(text) if accents else text

    return fold


def strip_accents(text: str) -> str:
    """``'café'`` -> ``'cafe'``: the combining marks of the canonical decomposition dropped."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def capabilities_for(dialect_name: str) -> Capabilities:
    if dialect_name == "postgresql":
        return Capabilities(manual_sequences=True, open_cursor=_psycopg_server_cursor,
                            comparable=_pg_comparable,
                            bulk_load=_copy_load, analyze=_analyze, index_stage=False,
                            session_setup=("SET LOCAL work_mem = '256MB'",),
                            drop_temporary="DROP TABLE IF EXISTS pg_temp.{}",
                            isolation_level="REPEATABLE READ", delete_using=True,
                            before_commit=("SET CONSTRAINTS ALL IMMEDIATE",),
                            lock_timeout=("SET LOCAL lock_timeout = '{ms}ms'",))
    if dialect_name in ("mysql", "mariadb"):
        return Capabilities(case_insensitive_keys=True, pad_space_keys=True,
                            accent_insensitive_keys=True,
                            column_collations=_mysql_collations,
                            open_cursor=_pymysql_server_cursor,
                            comparable=_mysql_comparable, implicit_commit_ddl=True,
                            bulk_load=_mysql_load,
                            drop_temporary="DROP TEMPORARY TABLE IF EXISTS {}",
                            isolation_level="READ COMMITTED", compare_and_set=True,
                            delete_using=True,
                            lock_timeout=("SET SESSION innodb_lock_wait_timeout = {seconds}",
                                          "SET SESSION lock_wait_timeout = {seconds}"),
                            session_setup=MYSQL_STRICT_SETUP,
                            session_teardown=MYSQL_STRICT_TEARDOWN,
                            check_warnings=_mysql_check_warnings,
                            column_charsets=_mysql_charsets)
    # SQLite enforces foreign keys only when asked, per connection and outside a transaction
    return Capabilities(sort_stage=True, begin=("BEGIN",),
                        connect_setup=("PRAGMA foreign_keys = ON",),
                        lock_timeout=("PRAGMA busy_timeout = {ms}",))


#: the user's sql_mode plus strict mode for this session, restored when the run ends: a
#: permissive mode turns a bad value into '?', zeros, '' or a truncated string with a warning
MYSQL_STRICT_SETUP = (
    "SET @syncline_sql_mode = @@SESSION.sql_mode",
    "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(REPLACE(REPLACE(@@SESSION.sql_mode,"
    " 'ALLOW_INVALID_DATES', ''), 'PAD_CHAR_TO_FULL_LENGTH', ''), ''),"
    " 'STRICT_ALL_TABLES', 'NO_ZERO_IN_DATE', 'NO_ZERO_DATE', 'ERROR_FOR_DIVISION_BY_ZERO')",
)
MYSQL_STRICT_TEARDOWN = ("SET SESSION sql_mode = @syncline_sql_mode",)
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD")


def _mysql_check_warnings(cursor: Any, statement: str) -> None:
    """Raise for a write the server changed on its own (a warning; notes are harmless)."""
    if not getattr(cursor, "warning_count", 0) or not statement.lstrip()[:7].upper().startswith(
            _WRITES):
        return
    own = cursor.connection.cursor()  # the statement's cursor may still hold its result
    try:
        own.execute("SHOW WARNINGS")
        problems = [f"{row[2]} (code {row[1]})" for row in own.fetchall()
                    if str(row[0]).lower() != "note"]
    finally:
        own.close()
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise TargetError(f"the server changed values while writing: {'; '.join(problems[:3])}"
                          f"{more} (nothing was written)")


def _mysql_charsets(session: TargetSession, name: str) -> list[tuple[str, str]]:
    rows = session.conn.execute(sa.text(
        "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"), {"t": name}).all()
    return [(str(column), str(charset)) for column, charset in rows if charset]


def _mysql_collations(session: TargetSession, name: str) -> list[tuple[str, str]]:
    rows = session.conn.execute(sa.text(
        "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS"
        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"), {"t": name}).all()
    return [(str(column), str(collation)) for column, collation in rows if collation]


def _analyze(session: TargetSession, table: sa.Table) -> None:
    quote = session.conn.dialect.identifier_preparer
    session.conn.exec_driver_sql(f"ANALYZE {quote.format_table(table)}")


def _executemany_load(session: TargetSession, table: sa.Table, columns: Sequence[str],
                      rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows of driver values through the DBAPI's executemany (multi-row on PyMySQL)."""
    quote = session.conn.dialect.identifier_preparer
    marks = ", ".join([_placeholder(session.conn.dialect.paramstyle)] * len(columns))
    sql = (f"INSERT INTO {quote.format_table(table)}"
           f" ({', '.join(quote.quote(c) for c in columns)}) VALUES ({marks})")
    cursor = session.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    check = session.target.capabilities.check_warnings
    try:
        if check is None:
            cursor.executemany(sql, rows)
        else:  # warnings are per statement: check every batch the driver sends
            for start in range(0, len(rows), KEY_BATCH):
                cursor.executemany(sql, rows[start:start + KEY_BATCH])
                check(cursor, sql)
    except session.conn.dialect.loaded_dbapi.Error as exc:
        raise translate(sa.exc.DBAPIError(sql, None, exc), "staging rows") from exc
    finally:
        cursor.close()


def _placeholder(paramstyle: str) -> str:
    return "?" if paramstyle == "qmark" else "%s"


def quote_plain(dialect: sa.Dialect, name: str) -> str:
    """``name`` quoted for a statement the driver runs WITHOUT parameters.

    The dialect's preparer doubles ``%`` where the driver formats parameters (psycopg,
    PyMySQL) — right for a statement with parameters, wrong without them: COPY and LOAD DATA
    would then name a column ``a%%b``. Always quoted, so no name is ever read as SQL.
    """
    preparer = dialect.identifier_preparer
    escaped = name.replace(preparer.escape_quote, preparer.escape_to_quote)
    return preparer.initial_quote + escaped + preparer.final_quote


def _plain_table(dialect: sa.Dialect, table: sa.Table) -> str:
    name = quote_plain(dialect, table.name)
    return f"{quote_plain(dialect, table.schema)}.{name}" if table.schema else name


def _copy_load(session: TargetSession, table: sa.Table, columns: Sequence[str],
               rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows into a PostgreSQL table with COPY (psycopg 3)."""
    dialect = session.conn.dialect
    sql = (f"COPY {_plain_table(dialect, table)}"
           f" ({', '.join(quote_plain(dialect, c) for c in columns)}) FROM STDIN")
    cursor = session.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def _mysql_load(session: TargetSession, table: sa.Table, columns: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows into a MySQL/MariaDB table with LOAD DATA LOCAL INFILE from a temporary file —
    several times faster than PyMySQL's executemany, which escapes every value in Python.
    Falls back to executemany where the server or the connection does not allow it."""
    if session.info.get("load_data") is False:
        _executemany_load(session, table, columns, rows)
        return
    dialect = session.conn.dialect
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", suffix=".tsv") as f:
        try:
            for row in rows:
                f.write("\t".join([_tsv(v) for v in row]))
                f.write("\n")
        except TypeError:  # binary values: LOAD DATA's text file cannot carry them
            _executemany_load(session, table, columns, rows)
            return
        f.flush()
        sql = (f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE {_plain_table(dialect, table)}"
               " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
               " LINES TERMINATED BY '\\n'"
               f" ({', '.join(quote_plain(dialect, c) for c in columns)})")
        cursor = session.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            try:
                cursor.execute(sql)
            except session.conn.dialect.loaded_dbapi.Error:
                if session.info.get("load_data"):
                    raise  # it worked before: this is a real error
                session.info["load_data"] = False  # refused here: stage another way
                _executemany_load(session, table, columns, rows)
                return
            session.info["load_data"] = True
            # LOCAL turns data errors into warnings; the values were checked, so any is a bug
            cursor.execute("SHOW WARNINGS LIMIT 1")
            warning = cursor.fetchone()
            if warning is not None:
                raise TargetError(f"staging rows with LOAD DATA: {warning[2]}")
        finally:
            cursor.close()


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _tsv(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "1" if value else "0"
    if isinstance(value, str):
        return value.translate(_TSV_ESCAPES)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else \
            value.isoformat()
    if isinstance(value, bytes | bytearray):
        raise TypeError("binary values are staged with executemany")
    return str(value)


def _mysql_comparable(column: Any) -> Any:
    if isinstance(column.type, sa.String):
        from sqlalchemy.dialects import mysql

        return sa.cast(column, mysql.BINARY())
    return column


def _pg_comparable(column: Any) -> Any:
    from sqlalchemy.dialects import postgresql

    if isinstance(column.type, sa.JSON) and not isinstance(column.type, postgresql.JSONB):
        return sa.cast(column, postgresql.JSONB)  # json has no equality operator
    return column


def _psycopg_server_cursor(connection: Any) -> Any:
    return connection.cursor(name="syncline_read")


def _pymysql_server_cursor(connection: Any) -> Any:
    import pymysql.cursors

    return connection.cursor(pymysql.cursors.SSCursor)


def make_engine(url: str | sa.Engine) -> sa.Engine:
    """An engine for a URL, with psycopg 3 as the PostgreSQL driver."""
    if isinstance(url, sa.Engine):
        remember_url(url.url)
        return url
    remember_url(url)
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    elif url.startswith("mysql://"):
        url = "mysql+pymysql://" + url.split("://", 1)[1]
    try:
        parsed = sa.engine.make_url(url)
        remember_url(parsed)
        # PyMySQL sends a staging file with LOAD DATA LOCAL only when allowed to
        extra: dict[str, Any] = {}
        if parsed.drivername == "mysql+pymysql" and "local_infile" not in parsed.query:
            extra["connect_args"] = {"local_infile": True}
        elif parsed.drivername == "postgresql+psycopg" and "application_name" not in parsed.query:
            extra["connect_args"] = {"application_name": "syncline"}  # visible to the DBA
        return sa.create_engine(parsed, **extra)
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise ConfigError(f"cannot use database URL {mask_url(url)}: {mask_text(str(exc))}"
                          ) from exc


def sqlite_file(url: sa.engine.URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    if not url.get_backend_name() == "sqlite":
        return None
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



class SqlTarget:
    """A SQL database that importers write to."""

    def __init__(self, url: str | sa.Engine) -> None:
        self._owns_engine = not isinstance(url, sa.Engine)
        self.engine = make_engine(url)
        self.name = mask_url(self.engine.url)
        self.capabilities = capabilities_for(self.engine.dialect.name)

    def close(self) -> None:
        """Close the connection pool, if this target made it."""
        if self._owns_engine:
            self.engine.dispose()

    def require_database(self, *, create: bool = False, dry_run: bool = False) -> None:
        """Refuse a SQLite target file that does not exist, before anything opens it
        (connecting would create an empty database: a mistyped path must not look like an
        empty target). ``create`` (``--create-table``) allows it: creating is the point —
        but a dry run of it plans against an empty in-memory database instead, so that it
        creates no file."""
        path = sqlite_file(self.engine.url)
        if path is None or path.exists():
            return
        if create and dry_run:
            if self._owns_engine:
                self.engine.dispose()
            self.engine = make_engine("sqlite://")
            self._owns_engine = True
            return
        if create:
            return
        raise ConfigError(
            f"the SQLite database file {path} does not exist (a mistyped path?); nothing was"
            " created. Pass --create-table to create the database and its table",
            file=str(path))

    def session(self, lock_timeout: float = LOCK_TIMEOUT) -> TargetSession:
        try:
            conn = self.engine.connect()
            if self.capabilities.isolation_level is not None:
                conn.execution_options(isolation_level=self.capabilities.isolation_level)
        except sa.exc.DBAPIError as exc:
            raise translate(exc, f"cannot connect to {self.name}") from exc
        try:
            return TargetSession(self, conn, lock_timeout)
        except sa.exc.DBAPIError as exc:
            conn.close()
            raise translate(exc, f"cannot begin a transaction on {self.name}") from exc


class TargetSession:
    """One connection and one transaction to a SQL target."""

    def __init__(self, target: SqlTarget, conn: sa.Connection,
                 lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.target = target
        self.conn = conn
        self.dialect = conn.dialect.name
        self._tables: dict[str, sa.Table] = {}
        self._metadata = sa.MetaData()
        #: tables a dry run with --create-table pretends exist (empty)
        self._assumed: dict[str, dict[str, ColumnSpec]] = {}
        #: temporary tables made by this session (stages), dropped when it closes
        self.temporary: list[str] = []
        #: what a backend learnt about this connection (e.g. whether LOAD DATA works)
        self.info: dict[str, Any] = {}
        #: seconds any lock wait of the run may last (``--lock-timeout``)
        self.lock_timeout = lock_timeout
        capabilities = target.capabilities
        #: tables --create-table made that DDL committed at once: dropped if the run fails
        self.created: list[sa.Table] = []
        self.committed = False
        #: target table -> model of the run's importers, to name models in errors
        self.models: dict[str, str] = {}
        #: tables this run deleted rows from
        self.deleted_from: set[str] = set()
        if capabilities.connect_setup:
            for statement in capabilities.connect_setup:
                conn.exec_driver_sql(statement)
            conn.commit()  # ends SQLAlchemy's autobegin; the driver opened no transaction
        self.transaction = conn.begin()
        for statement in capabilities.begin:
            conn.exec_driver_sql(statement)
        for statement in capabilities.lock_timeout:
            conn.exec_driver_sql(statement.format(seconds=max(1, math.ceil(lock_timeout)),
                                                  ms=max(1, round(lock_timeout * 1000))))
        for statement in capabilities.session_setup:
            conn.exec_driver_sql(statement)
        if target.capabilities.check_warnings is not None:
            sa.event.listen(conn, "after_cursor_execute", self._check_warnings)

    def _check_warnings(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        check = self.target.capabilities.check_warnings
        if check is not None:
            check(cursor, statement)

    # -- schema -------------------------------------------------------------
    def has_table(self, name: str) -> bool:
        return name in self._tables or sa.inspect(self.conn).has_table(name)

    def is_assumed(self, name: str) -> bool:
        return name in self._assumed

    def assume_table(self, name: str, specs: Sequence[ColumnSpec]) -> None:
        """Treat a missing table as existing and empty (a dry run of --create-table)."""
        self._assumed[name] = {s.name: s for s in specs}

    def table(self, name: str) -> sa.Table:
        found = self._tables.get(name)
        if found is None:
            if not self.has_table(name):
                raise ConfigError(
                    f"table {name!r} does not exist in {self.target.name}"
                    " (create it first, or use `syncline sync --create-table`)"
                )
            found = sa.Table(name, self._metadata, autoload_with=self.conn)
            self._tables[name] = found
        return found

    def create_table(self, name: str, specs: Sequence[ColumnSpec], key: Sequence[str]) -> None:
        columns = [
            sa.Column(s.name, s.sql_type, primary_key=s.name in key, nullable=s.name not in key)
            for s in specs
        ]
        table = sa.Table(name, self._metadata, *columns)
        capabilities = self.target.capabilities
        table.create(self.conn)  # SQLite: inside the run's transaction (Capabilities.begin)
        if capabilities.implicit_commit_ddl:
            self.created.append(table)
        # used as the database made it (types it renamed, lengths it chose): reflected
        self._metadata.remove(table)
        self._tables.pop(name, None)
        self.table(name)

    def required_columns(self, name: str) -> list[str]:
        """Columns an insert must give: NOT NULL, no default, not generated."""
        if name in self._assumed:
            return []
        return [
            c.name for c in self.table(name).columns
            if not c.nullable and c.server_default is None and c.default is None
            and not (c.primary_key and isinstance(c.type, sa.Integer) and c.autoincrement in
                     (True, "auto") and len(self.table(name).primary_key.columns) == 1)
        ]

    def columns(self, name: str) -> dict[str, ColumnSpec]:
        if name in self._assumed:
            return dict(self._assumed[name])
        table = self.table(name)
        specs = {c.name: ColumnSpec.from_column(c, self.dialect) for c in table.columns}
        if self.target.capabilities.column_charsets is not None:
            for column, charset in self.target.capabilities.column_charsets(self, name):
                if column in specs and charset:
                    specs[column] = dataclasses.replace(specs[column], charset=charset)
        return specs

    # -- reading ------------------------------------------------------------
    def read(
        self, name: str, fields: Sequence[str], keys: Sequence[Key] | None = None,
        key_fields: Sequence[str] = (), key_to_db: Sequence[Callable[[Any], Any]] = (),
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The target's records in batches, values in ``fields`` order."""
        if name in self._assumed:
            return
        table = self.table(name)
        query = sa.select(*(table.c[f] for f in fields))
        if keys is None:
            yield from self.fetch(query)
            return
        it = iter(keys)
        while chunk := list(islice(it, KEY_BATCH)):
            db_keys = [tuple(conv(v) for conv, v in zip(key_to_db, k, strict=True)) for k in chunk]
            yield from self.fetch(query.where(key_in(table, key_fields, db_keys)))

    def fetch(self, query: sa.Select[Any]) -> Iterator[list[tuple[Any, ...]]]:
        """Rows straight from the driver's cursor (server-side where the driver has one).

        SQLAlchemy's row objects and result processors cost more than the rest of the read;
        the type normalizers take the driver's own values instead.
        """
        compiled = query.compile(dialect=self.conn.dialect,
                                 compile_kwargs={"render_postcompile": True})
        params = compiled.construct_params()
        args: Any = ([params[name] for name in compiled.positiontup or ()]
                     if compiled.positional else params)
        try:
            cursor = self.target.capabilities.open_cursor(self.conn.connection.driver_connection)
            try:
                cursor.execute(str(compiled), args)
                while rows := cursor.fetchmany(BATCH):
                    yield rows
            finally:
                cursor.close()
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise translate(sa.exc.DBAPIError(str(compiled), args, exc), f"cannot read from"
                            f" {self.target.name}") from exc

    # -- writing: the one place that changes the target ---------------------
    @contextmanager
    def translating(self, doing: str, **where: Any) -> Iterator[None]:
        """Driver errors (through SQLAlchemy or straight from a DBAPI cursor) and count
        mismatches inside the block become syncline errors naming what was being done."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise translate(exc, doing, **where) from exc
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise translate(sa.exc.DBAPIError(None, None, exc), doing, **where) from exc
        except staging.CountMismatch as exc:
            raise count_mismatch(exc, doing, **where) from exc

    def apply_upserts(self, name: str, changes: ChangeSet, specs: dict[str, ColumnSpec],
                      options: TypeOptions, *, skip: bool = False
                      ) -> list[RefusedRow]:
        """Creates, then updates, of one change set. Every statement must change exactly the
        counted rows; where the isolation level alone would not stop another session's write
        from being overwritten, the values read are compared too (compare-and-set).

        Rows the database refuses (a constraint, a value out of range) are found and named
        (:mod:`~syncline.targets.pinpoint`): a :class:`RowErrors` lists them, or with
        ``skip`` they are left out of ``changes`` and returned."""
        table = self.table(name)
        fields = changes.fields
        counts = changes.counts()
        refused: list[RefusedRow] = []
        with self.translating(f"cannot write to table {name}", model=changes.model):
            if changes.stage is not None:
                # in-database engine: the same changes, applied from the stage in SQL
                if counts["created"]:
                    refused += self._staged_in_parts(changes, "c", counts["created"],
                                                     staging.apply_creates, skip)
                if counts["updated"]:
                    refused += self._staged_in_parts(changes, "u", counts["updated"],
                                                     staging.apply_updates, skip)
                if counts["created"] and self.target.capabilities.manual_sequences:
                    self._advance_sequences(table, fields)
            else:
                refused += self._apply_listed(table, changes, specs, options, skip)
        if refused and all(r.unique for r in refused):
            first = refused[0]
            raise TransientTargetError(
                f"cannot write to table {name}: {len(refused)} key(s) this run counted as new"
                f" are already there (first: {format_key(first.key)}, row {first.row}):"
                " another session inserted them after the run read the table; nothing was"
                " written (transient: a retry may succeed)", model=changes.model)
        if refused and (not skip or any(r.unique for r in refused)):
            raise refused_rows(name, refused)
        return refused

    def _apply_listed(self, table: sa.Table, changes: ChangeSet, specs: dict[str, ColumnSpec],
                      options: TypeOptions, skip: bool) -> list[RefusedRow]:
        """The in-memory engine's creates and updates, in executemany batches."""
        fields = changes.fields
        refused: list[RefusedRow] = []
        converters = [to_db(specs[f], options) for f in fields]
        if changes.creates:
            insert = table.insert()

            def insert_part(part: Sequence[Create]) -> None:
                for chunk in _chunks(part, BATCH):
                    self.conn.execute(insert, [
                        {f: conv(v) for f, conv, v in zip(fields, converters, c.values,
                                                            strict=True)}
                        for c in chunk])

            changes.creates = _in_key_order(changes.creates)
            refused += self._listed_in_parts(changes, changes.creates, insert_part, skip)
            if self.target.capabilities.manual_sequences:
                self._advance_sequences(table, fields)
        if changes.updates:
            refused += self._listed_in_parts(
                changes, changes.updates,
                lambda part: self._apply_updates(table, changes, part, specs, options), skip)
        return refused

    def _staged_in_parts(self, changes: ChangeSet, op: str, count: int,
                         write: Callable[..., None], skip: bool) -> list[RefusedRow]:
        stage = changes.stage
        numbers: list[int] = []

        def attempt(lo: int, hi: int) -> None:
            if (lo, hi) == (0, count):
                write(self, stage, count)
                return
            if not numbers:
                numbers.extend(staging.row_numbers(self, stage, op))
            write(self, stage, hi - lo, (numbers[lo], numbers[hi - 1]))

        refusals = apply_in_parts(self.conn, count, attempt,
                                  stop_after=None if skip else ERRORS_KEPT)
        if not refusals:
            return []
        if not numbers:  # a single row, refused at the first attempt
            numbers.extend(staging.row_numbers(self, stage, op))
        rows = [numbers[i] for i, _ in refusals]
        staged = staging.values_of_rows(self, stage, rows)
        key_index = [changes.fields.index(k) for k in changes.key]
        errors = []
        for (_, exc), row in zip(refusals, rows, strict=True):
            values = staged.get(row, ())
            key = tuple(values[i] for i in key_index) if values else None
            errors.append(refused_row(exc, values, model=changes.model, row=row, key=key))
        staging.drop_refused(self, stage, rows)
        _forget(changes, op, set(rows))
        return errors

    def _listed_in_parts(self, changes: ChangeSet, items: Sequence[Create | Update],
                         apply_part: Callable[[Sequence[Any]], None], skip: bool
                         ) -> list[RefusedRow]:
        refusals = apply_in_parts(self.conn, len(items),
                                  lambda lo, hi: apply_part(items[lo:hi]),
                                  stop_after=None if skip else ERRORS_KEPT)
        if not refusals:
            return []
        errors = [refused_row(exc, _values_of(items[i]), model=changes.model, row=items[i].row,
                              key=items[i].key) for i, exc in refusals]
        gone = {i for i, _ in refusals}
        kept = [item for i, item in enumerate(items) if i not in gone]
        if isinstance(items[0], Create):
            changes.creates = kept  # type: ignore[assignment]
        else:
            changes.updates = kept  # type: ignore[assignment]
        return errors

    def _compare_old(self, table: sa.Table, fields: Sequence[str], prefix: str,
                     ) -> list[sa.ColumnElement[bool]]:
        compare = self.target.capabilities.comparable
        return [compare(table.c[f]).is_not_distinct_from(
                    compare(sa.bindparam(f"{prefix}{i}", type_=table.c[f].type)))
                for i, f in enumerate(fields)]

    def _apply_updates(self, table: sa.Table, changes: ChangeSet, updates: Sequence[Update],
                       specs: dict[str, ColumnSpec], options: TypeOptions) -> None:
        index = {f: i for i, f in enumerate(changes.fields)}
        key_binds = {k: f"k_{i}" for i, k in enumerate(changes.key)}
        groups: dict[tuple[str, ...], list[Any]] = {}
        for u in updates:
            groups.setdefault(u.changed, []).append(u)
        conv = {f: to_db(specs[f], options) for f in changes.fields}
        check_old = self.target.capabilities.compare_and_set
        for changed, group in groups.items():
            value_binds = {f: f"v_{i}" for i, f in enumerate(changed)}
            statement = (
                table.update()
                .where(*(table.c[k] == sa.bindparam(b) for k, b in key_binds.items()),
                       *(self._compare_old(table, changed, "o_") if check_old else ()))
                .values({f: sa.bindparam(b) for f, b in value_binds.items()})
            )
            for chunk in _chunks(group, BATCH):
                params = []
                for u in chunk:
                    read = u.as_read  # the row as read: its key, and what it must still hold
                    p = {b: conv[k](read[index[k]]) for k, b in key_binds.items()}
                    p.update({b: conv[f](u.new_values[index[f]]) for f, b in value_binds.items()})
                    if check_old:
                        p.update({f"o_{i}": conv[f](read[index[f]])
                                  for i, f in enumerate(changed)})
                    params.append(p)
                staging.execute_counted(self, "update", len(chunk), statement, params)

    def apply_deletes(self, name: str, changes: ChangeSet, specs: dict[str, ColumnSpec],
                      options: TypeOptions) -> None:
        deleted = changes.counts()["deleted"]
        if not deleted:
            return
        self.deleted_from.add(name)
        with self.translating(f"cannot delete from table {name}", model=changes.model):
            try:
                with self.conn.begin_nested():  # a refusal leaves the rows to name it by
                    self._apply_deletes(name, changes, specs, options, deleted)
            except sa.exc.DBAPIError as exc:
                if not is_foreign_key_error(exc):
                    raise
                raise orphaning_delete(self, name, changes, specs, options, exc) from exc

    def _apply_deletes(self, name: str, changes: ChangeSet, specs: dict[str, ColumnSpec],
                       options: TypeOptions, deleted: int) -> None:
        if changes.stage is not None:
            staging.apply_deletes(self, changes.stage, deleted)
            return
        table = self.table(name)
        conv = [to_db(specs[f], options) for f in changes.fields]
        if self.target.capabilities.compare_and_set:
            # one row by its key and every value read: never a row changed since, nor
            # one that merely compares equal under the column's collation
            statement = table.delete().where(
                *(table.c[k] == sa.bindparam(f"o_{changes.fields.index(k)}_key")
                  for k in changes.key),
                *self._compare_old(table, changes.fields, "o_"))
            for chunk in _chunks(changes.deletes, KEY_BATCH):
                params = []
                for d in chunk:
                    p = {f"o_{i}": c(v) for i, (c, v) in
                         enumerate(zip(conv, d.as_read, strict=True))}
                    p.update({f"{b}_key": p[b] for b in list(p)
                              if changes.fields[int(b[2:])] in changes.key})
                    params.append(p)
                staging.execute_counted(self, "delete", len(chunk), statement, params)
            return
        index = [changes.fields.index(k) for k in changes.key]
        key_conv = [conv[i] for i in index]
        for chunk in _chunks(changes.deletes, KEY_BATCH):
            keys = [tuple(c(d.as_read[i]) for c, i in zip(key_conv, index, strict=True))
                    for d in chunk]
            staging.execute_counted(self, "delete", len(chunk),
                                    table.delete().where(key_in(table, changes.key, keys)))

    def _advance_sequences(self, table: sa.Table, fields: Sequence[str]) -> None:
        """Explicit ids written into a serial/identity column move its sequence past them.

        Names travel as bound values and compiled expressions, never as SQL text: a table
        called ``a%b`` or ``ser :x`` must not be re-read as placeholders.
        """
        from sqlalchemy.dialects.postgresql import REGCLASS

        # pg_get_serial_sequence parses its first argument as a (quoted) qualified name,
        # and takes the second as the column's name as it is
        table_text = _plain_table(self.conn.dialect, table)
        for column in table.columns:
            if column.name not in fields or not isinstance(column.type, sa.Integer):
                continue
            seq = self.conn.execute(sa.select(
                sa.func.pg_get_serial_sequence(sa.literal(table_text, sa.Text),
                                               sa.literal(column.name, sa.Text)))).scalar()
            if seq is None:
                continue
            regclass = sa.cast(sa.literal(seq, sa.Text), REGCLASS)
            highest = sa.select(sa.func.max(table.c[column.name])).scalar_subquery()
            # setval is not transactional: a rolled-back run leaves a gap, never a clash.
            # pg_sequence_last_value is NULL before the first nextval; GREATEST skips NULLs,
            # and setval(NULL) does nothing (an empty table, a fresh sequence)
            self.conn.execute(sa.select(sa.func.setval(regclass, sa.func.greatest(
                highest, sa.func.pg_sequence_last_value(regclass)))))

    # -- ending -------------------------------------------------------------
    def commit(self) -> None:
        try:
            for statement in self.target.capabilities.before_commit:
                self.conn.exec_driver_sql(statement)
            self.transaction.commit()
        except sa.exc.DBAPIError as exc:
            if is_foreign_key_error(exc):
                raise deferred_violation(self, exc) from exc
            raise translate(exc, f"commit failed on {self.target.name}") from exc
        self.committed = True

    def rollback(self) -> None:
        if self.transaction.is_active:
            self.transaction.rollback()

    def close(self) -> None:
        try:
            self.rollback()
            if self.conn.in_transaction():  # a failed commit leaves one begun
                self.conn.rollback()
            self._drop_temporary()
            if not self.committed:
                self._drop_created()
            self._teardown()
        finally:
            self.conn.close()

    def drop_temporary(self, name: str) -> None:
        """Drop one of this session's temporary tables by its temporary-schema name."""
        quote = self.conn.dialect.identifier_preparer
        self.conn.exec_driver_sql(self.target.capabilities.drop_temporary.format(
            quote.quote(name)))

    def _drop_created(self) -> None:
        """Drop the tables this failed run created where DDL commits at once (MariaDB):
        the run was one transaction, so it leaves nothing — unless someone else has
        written rows to the new table meanwhile, which are never dropped."""
        if not self.created or self.conn.invalidated:
            return
        for table in self.created:
            try:
                with self.conn.begin():
                    if self.conn.execute(sa.select(sa.literal(1)).select_from(table)
                                         .limit(1)).first() is None:
                        table.drop(self.conn)
            except sa.exc.SQLAlchemyError:
                pass  # the run's own error is the one to report

    def _teardown(self) -> None:
        capabilities = self.target.capabilities
        if capabilities.check_warnings is not None:
            sa.event.remove(self.conn, "after_cursor_execute", self._check_warnings)
        if not capabilities.session_teardown or self.conn.invalidated:
            return
        try:
            for statement in capabilities.session_teardown:
                self.conn.exec_driver_sql(statement)
            if self.conn.in_transaction():
                self.conn.commit()
        except sa.exc.SQLAlchemyError:
            self.conn.invalidate()  # a new connection starts with the server's settings

    def _drop_temporary(self) -> None:
        """A pooled connection must not carry a run's stages into the next run."""
        if not self.temporary or self.conn.invalidated:
            return
        try:
            with self.conn.begin():
                for name in self.temporary:
                    self.drop_temporary(name)
        except sa.exc.SQLAlchemyError:
            self.conn.invalidate()  # closing the connection drops them as well


def key_in(table: sa.Table, key_fields: Sequence[str], keys: Sequence[tuple[Any, ...]]
           ) -> sa.ColumnElement[bool]:
    """``key IN (...)`` for one or several key columns."""
    if len(key_fields) == 1:
        return table.c[key_fields[0]].in_([k[0] for k in keys])
    return sa.tuple_(*(table.c[k] for k in key_fields)).in_(keys)


def translate(exc: sa.exc.DBAPIError, doing: str, **where: Any) -> TargetError:
    """A driver error as a syncline error; lost connections, deadlocks, lock waits and
    write conflicts are transient."""
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    code = error_code(exc.orig)
    if is_transient(exc):
        why = ""
        if code in LOCK_WAIT:
            why = ("; another session held a lock this run needed for longer than"
                   " --lock-timeout")
        elif code in CONFLICT:
            why = "; another session changed rows this run had read"
        return TransientTargetError(
            f"{doing}: {detail}{why}; nothing was written (transient: a retry may succeed)",
            **where)
    return TargetError(f"{doing}: {detail}", **where)


def count_mismatch(exc: staging.CountMismatch, doing: str, **where: Any) -> TargetError:
    """Fewer rows than counted: another session changed or removed rows after the run read
    them (retry); more: the table holds rows the run could not tell apart."""
    if exc.actual < exc.expected:
        return TransientTargetError(
            f"{doing}: the {exc.what} changed {exc.actual} rows where {exc.expected} were"
            " counted: another session changed the table after this run read it; nothing was"
            " written (transient: a retry may succeed)", **where)
    return TargetError(
        f"{doing}: the {exc.what} would change {exc.actual} rows where {exc.expected} were"
        " counted and checked by the guards (does the table hold duplicate keys?); nothing"
        " was written", **where)


class RefusedRow(TargetError):
    """One row the target refused; ``values`` are the row's (for the rejects file)."""

    def __init__(self, message: str, *, values: tuple[Any, ...] = (), unique: bool = False,
                 **where: Any) -> None:
        super().__init__(message, **where)
        self.values = values
        #: a unique key refused it: never skipped (see :func:`refused_row`)
        self.unique = unique


def refused_row(exc: sa.exc.DBAPIError, values: tuple[Any, ...] = (), **where: Any
                ) -> RefusedRow:
    """One row the target refused, named by source row and key. A unique key's refusal
    means the table changed since it was read or its collation merges two keys: it ends
    the run even under --on-error=skip (skipping it could leave the key's record wrong)."""
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    # MySQL counts rows within its statement ("at row 1"): the source row is named instead
    detail = re.sub(r",? at row \d+\b", "", detail)
    unique = is_unique_violation(exc)
    if unique:
        detail += (" (another session may have inserted this key after the run read the"
                   " table — a retry may succeed — or the column's collation calls two keys"
                   " equal)")
    return RefusedRow(f"the target refused the row: {detail}", values=values, unique=unique,
                      **where)


def refused_rows(table: str, errors: Sequence[TargetError]) -> RowErrors:
    more = "" if len(errors) < ERRORS_KEPT else " (at least)"
    return RowErrors(
        f"cannot write to table {table}: it refused {len(errors)}{more} row(s); nothing was"
        f" written (first: {errors[0]}). Fix the source, or pass --on-error=skip --rejects"
        " FILE to apply the rest", errors)


def _values_of(change: Create | Update) -> tuple[Any, ...]:
    return change.values if isinstance(change, Create) else change.new_values


def _forget(changes: ChangeSet, op: str, rows: set[int]) -> None:
    """Refused rows are not changes of this run: counts and lists leave them out."""
    if op == "c":
        changes.creates = [c for c in changes.creates if c.row not in rows]
    else:
        changes.updates = [u for u in changes.updates if u.row not in rows]
    if changes.counted is not None:
        created, updated, deleted = changes.counted
        if op == "c":
            created -= len(rows)
        else:
            updated -= len(rows)
        changes.counted = (created, updated, deleted)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _in_key_order(creates: list[Any]) -> list[Any]:
    """Creates sorted by key (much cheaper for a B-tree), unless keys don't sort."""
    try:
        return sorted(creates, key=lambda change: change.key)
    except TypeError:
        return creates
