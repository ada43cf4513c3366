"""A SQL database as a target: read by key in large batches, apply change sets in bulk.

The session holds ONE connection and ONE transaction for the whole run. Apply is the only
place that writes; it uses executemany batches (inserts in key order, which is much
cheaper for a B-tree), grouped updates and ``DELETE ... WHERE key IN (...)`` batches.
Dialect differences live in :class:`Capabilities`, never in the engine.
"""

from __future__ import annotations

import datetime
import math
import operator
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import sqlalchemy as sa

from syncline.diff import ChangeSet, Key
from syncline.errors import ConfigError, TargetError, TransientTargetError
from syncline.targets import staging
from syncline.types import ColumnSpec, TypeOptions, to_db

BATCH = 10_000
KEY_BATCH = 1_000
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
    #: explicit values written to a serial column must advance its sequence by hand
    manual_sequences: bool = False
    #: a DBAPI cursor for streaming a large result (server-side where the driver can)
    open_cursor: Callable[[Any], Any] = operator.methodcaller("cursor")
    #: bulk-load rows into a (staging) table: executemany by default, COPY on PostgreSQL
    bulk_load: Callable[[TargetSession, sa.Table, Sequence[str], Sequence[tuple[Any, ...]]],
                        None] = field(default=lambda *a: _executemany_load(*a))
    #: CREATE INDEX commits the transaction, even on a temporary table (MySQL/MariaDB)
    implicit_commit_ddl: bool = False
    #: index the stage by key (nested-loop joins need it; hash joins do not)
    index_stage: bool = True
    #: statements that tune the run's transaction (PostgreSQL: room for hash joins)
    session_setup: tuple[str, ...] = ()
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
    #: statements that open the run's transaction before its first read (SQLite's driver
    #: would run the reads outside any transaction, and another writer could slip between)
    begin: tuple[str, ...] = ()
    #: statements bounding every lock wait of the run to ``{seconds}`` / ``{ms}``
    lock_timeout: tuple[str, ...] = ()
    #: in-memory updates and deletes also compare the values read (isolation alone does not
    #: stop another session's write from being overwritten at this isolation level)
    compare_and_set: bool = False
    #: how a column is compared in SQL (MySQL: text byte for byte, not by collation)
    comparable: Callable[[Any], Any] = field(default=lambda column: column)

    def fold_text_key(self, text: str) -> str:
        """A text key as the target's collation matches it, for matching in Python: the
        in-memory engine and the duplicate report must group keys as the database does."""
        if self.pad_space_keys:
            text = text.rstrip(" ")
        return text.casefold() if self.case_insensitive_keys else text


def capabilities_for(dialect_name: str) -> Capabilities:
    if dialect_name == "postgresql":
        return Capabilities(manual_sequences=True, open_cursor=_psycopg_server_cursor,
                            bulk_load=_copy_load, analyze=_analyze, index_stage=False,
                            session_setup=("SET LOCAL work_mem = '256MB'",),
                            drop_temporary="DROP TABLE IF EXISTS pg_temp.{}",
                            isolation_level="REPEATABLE READ",
                            lock_timeout=("SET LOCAL lock_timeout = '{ms}ms'",))
    if dialect_name in ("mysql", "mariadb"):
        return Capabilities(case_insensitive_keys=True, pad_space_keys=True,
                            open_cursor=_pymysql_server_cursor,
                            comparable=_mysql_comparable, implicit_commit_ddl=True,
                            bulk_load=_mysql_load,
                            drop_temporary="DROP TEMPORARY TABLE IF EXISTS {}",
                            isolation_level="READ COMMITTED", compare_and_set=True,
                            lock_timeout=("SET SESSION innodb_lock_wait_timeout = {seconds}",
                                          "SET SESSION lock_wait_timeout = {seconds}"))
    return Capabilities(sort_stage=True, begin=("BEGIN",),
                        lock_timeout=("PRAGMA busy_timeout = {ms}",))


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
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def _placeholder(paramstyle: str) -> str:
    return "?" if paramstyle == "qmark" else "%s"


def _copy_load(session: TargetSession, table: sa.Table, columns: Sequence[str],
               rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows into a PostgreSQL table with COPY (psycopg 3)."""
    quote = session.conn.dialect.identifier_preparer
    sql = (f"COPY {quote.format_table(table)}"
           f" ({', '.join(quote.quote(c) for c in columns)}) FROM STDIN")
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
    quote = session.conn.dialect.identifier_preparer
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", suffix=".tsv") as f:
        for row in rows:
            f.write("\t".join([_tsv(v) for v in row]))
            f.write("\n")
        f.flush()
        sql = (f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE {quote.format_table(table)}"
               " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
               " LINES TERMINATED BY '\\n'"
               f" ({', '.join(quote.quote(c) for c in columns)})")
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


def _psycopg_server_cursor(connection: Any) -> Any:
    return connection.cursor(name="syncline_read")


def _pymysql_server_cursor(connection: Any) -> Any:
    import pymysql.cursors

    return connection.cursor(pymysql.cursors.SSCursor)


def make_engine(url: str | sa.Engine) -> sa.Engine:
    """An engine for a URL, with psycopg 3 as the PostgreSQL driver."""
    if isinstance(url, sa.Engine):
        return url
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    elif url.startswith("mysql://"):
        url = "mysql+pymysql://" + url.split("://", 1)[1]
    try:
        parsed = sa.engine.make_url(url)
        # PyMySQL sends a staging file with LOAD DATA LOCAL only when allowed to
        extra: dict[str, Any] = {}
        if parsed.drivername == "mysql+pymysql":
            extra["connect_args"] = {"local_infile": True}
        elif parsed.drivername == "postgresql+psycopg" and "application_name" not in parsed.query:
            extra["connect_args"] = {"application_name": "syncline"}  # visible to the DBA
        return sa.create_engine(parsed, **extra)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ConfigError(f"cannot use database URL {mask_url(url)}: {exc}") from exc


def mask_url(url: str | sa.engine.URL) -> str:
    """A URL safe to print: the password is never shown."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<invalid URL>"


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
        self.transaction = conn.begin()
        for statement in capabilities.begin:
            conn.exec_driver_sql(statement)
        for statement in capabilities.lock_timeout:
            conn.exec_driver_sql(statement.format(seconds=max(1, math.ceil(lock_timeout)),
                                                  ms=max(1, round(lock_timeout * 1000))))
        for statement in capabilities.session_setup:
            conn.exec_driver_sql(statement)

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
        table.create(self.conn)
        self._tables[name] = table

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
        return {c.name: ColumnSpec.from_column(c, self.dialect) for c in table.columns}

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
                      options: TypeOptions, *, as_read: bool = True) -> None:
        """Creates, then updates, of one change set. Every statement must change exactly the
        counted rows; ``as_read``: the values read are compared where the isolation level
        alone would not stop another session's write from being overwritten."""
        table = self.table(name)
        converters = [to_db(specs[f], options) for f in changes.fields]
        fields = changes.fields
        counts = changes.counts()
        with self.translating(f"cannot write to table {name}", model=changes.model):
            if changes.stage is not None:
                # in-database engine: the same changes, applied from the stage in SQL
                if counts["created"]:
                    staging.apply_creates(self, changes.stage, counts["created"])
                if counts["updated"]:
                    staging.apply_updates(self, changes.stage, counts["updated"])
                if counts["created"] and self.target.capabilities.manual_sequences:
                    self._advance_sequences(table, fields)
                return
            if changes.creates:
                creates = _in_key_order(changes.creates)
                insert = table.insert()
                for chunk in _chunks(creates, BATCH):
                    self.conn.execute(insert, [
                        {f: conv(v) for f, conv, v in zip(fields, converters, c.values,
                                                            strict=True)}
                        for c in chunk
                    ])
                if self.target.capabilities.manual_sequences:
                    self._advance_sequences(table, fields)
            if changes.updates:
                self._apply_updates(table, changes, specs, options, as_read=as_read)

    def _compare_old(self, table: sa.Table, fields: Sequence[str], prefix: str,
                     ) -> list[sa.ColumnElement[bool]]:
        compare = self.target.capabilities.comparable
        return [compare(table.c[f]).is_not_distinct_from(
                    compare(sa.bindparam(f"{prefix}{i}", type_=table.c[f].type)))
                for i, f in enumerate(fields)]

    def _apply_updates(self, table: sa.Table, changes: ChangeSet, specs: dict[str, ColumnSpec],
                       options: TypeOptions, *, as_read: bool) -> None:
        index = {f: i for i, f in enumerate(changes.fields)}
        key_binds = {k: f"k_{i}" for i, k in enumerate(changes.key)}
        groups: dict[tuple[str, ...], list[Any]] = {}
        for u in changes.updates:
            groups.setdefault(u.changed, []).append(u)
        conv = {f: to_db(specs[f], options) for f in changes.fields}
        check_old = as_read and self.target.capabilities.compare_and_set
        for changed, updates in groups.items():
            value_binds = {f: f"v_{i}" for i, f in enumerate(changed)}
            statement = (
                table.update()
                .where(*(table.c[k] == sa.bindparam(b) for k, b in key_binds.items()),
                       *(self._compare_old(table, changed, "o_") if check_old else ()))
                .values({f: sa.bindparam(b) for f, b in value_binds.items()})
            )
            for chunk in _chunks(updates, BATCH):
                params = []
                for u in chunk:
                    p = {b: conv[k](u.old_values[index[k]]) for k, b in key_binds.items()}
                    p.update({b: conv[f](u.new_values[index[f]]) for f, b in value_binds.items()})
                    if check_old:
                        p.update({f"o_{i}": conv[f](u.old_values[index[f]])
                                  for i, f in enumerate(changed)})
                    params.append(p)
                staging.execute_counted(self, "update", len(chunk), statement, params)

    def apply_deletes(self, name: str, changes: ChangeSet, specs: dict[str, ColumnSpec],
                      options: TypeOptions, *, as_read: bool = True) -> None:
        deleted = changes.counts()["deleted"]
        if not deleted:
            return
        with self.translating(f"cannot delete from table {name}", model=changes.model):
            if changes.stage is not None:
                staging.apply_deletes(self, changes.stage, deleted)
                return
            table = self.table(name)
            conv = [to_db(specs[f], options) for f in changes.fields]
            if as_read and self.target.capabilities.compare_and_set:
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
                             enumerate(zip(conv, d.old_values, strict=True))}
                        p.update({f"{b}_key": p[b] for b in list(p)
                                  if changes.fields[int(b[2:])] in changes.key})
                        params.append(p)
                    staging.execute_counted(self, "delete", len(chunk), statement, params)
                return
            index = [changes.fields.index(k) for k in changes.key]
            key_conv = [conv[i] for i in index]
            for chunk in _chunks(changes.deletes, KEY_BATCH):
                keys = [tuple(c(d.old_values[i]) for c, i in zip(key_conv, index, strict=True))
                        for d in chunk]
                staging.execute_counted(self, "delete", len(chunk),
                                        table.delete().where(key_in(table, changes.key, keys)))

    def _advance_sequences(self, table: sa.Table, fields: Sequence[str]) -> None:
        """Explicit ids written into a serial/identity column move its sequence past them."""
        for column in table.columns:
            if column.name not in fields or not isinstance(column.type, sa.Integer):
                continue
            quote = self.conn.dialect.identifier_preparer
            seq = self.conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": quote.format_table(table), "c": column.name},
            ).scalar()
            if seq is None:
                continue
            # setval is not transactional: a rolled-back run leaves a gap, never a clash
            self.conn.execute(
                sa.text(
                    f"SELECT setval(:seq, GREATEST((SELECT max({quote.quote(column.name)})"
                    f" FROM {quote.format_table(table)}), (SELECT last_value FROM {seq})))"
                ),
                {"seq": seq},
            )

    # -- ending -------------------------------------------------------------
    def commit(self) -> None:
        try:
            self.transaction.commit()
        except sa.exc.DBAPIError as exc:
            raise translate(exc, f"commit failed on {self.target.name}") from exc

    def rollback(self) -> None:
        if self.transaction.is_active:
            self.transaction.rollback()

    def close(self) -> None:
        try:
            self.rollback()
            if self.conn.in_transaction():  # a failed commit leaves one begun
                self.conn.rollback()
            self._drop_temporary()
        finally:
            self.conn.close()

    def drop_temporary(self, name: str) -> None:
        """Drop one of this session's temporary tables by its temporary-schema name."""
        quote = self.conn.dialect.identifier_preparer
        self.conn.exec_driver_sql(self.target.capabilities.drop_temporary.format(
            quote.quote(name)))

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


#: driver error codes after which a retry may succeed: lost connections, deadlocks, lock
#: waits over --lock-timeout, rows changed by another session (serialization failures)
_TRANSIENT_SQLSTATES = ("40001", "40P01", "55P03", "57P01", "57P02", "57P03", "08")
_TRANSIENT_MYSQL_ERRNOS = frozenset({1020, 1205, 1213, 1927, 2003, 2006, 2013, 2055, 4031})
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
#: what the lock-related codes mean, for the message
_LOCK_WAIT = frozenset({"55P03", 1205, _SQLITE_BUSY, _SQLITE_LOCKED})
_CONFLICT = frozenset({"40001", 1020})


def error_code(orig: BaseException | None) -> str | int | None:
    """The driver's code of an error: SQLSTATE (psycopg), errno (PyMySQL), the primary
    result code (sqlite3)."""
    if orig is None:
        return None
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # PyMySQL: (errno, message); its sqlstate is vague
        return args[0]
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF
    return None


def is_transient(exc: sa.exc.DBAPIError) -> bool:
    """Told apart by the driver's error code (and SQLAlchemy's disconnect detection),
    never by the words of the message."""
    if exc.connection_invalidated:
        return True
    code = error_code(exc.orig)
    if isinstance(code, str):
        return code.startswith(_TRANSIENT_SQLSTATES)
    if code in _TRANSIENT_MYSQL_ERRNOS:
        return True
    return code in (_SQLITE_BUSY, _SQLITE_LOCKED) and "sqlite" in type(exc.orig).__module__


def translate(exc: sa.exc.DBAPIError, doing: str, **where: Any) -> TargetError:
    """A driver error as a syncline error; lost connections, deadlocks, lock waits and
    write conflicts are transient."""
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    code = error_code(exc.orig)
    if is_transient(exc):
        why = ""
        if code in _LOCK_WAIT:
            why = ("; another session held a lock this run needed for longer than"
                   " --lock-timeout")
        elif code in _CONFLICT:
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


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _in_key_order(creates: list[Any]) -> list[Any]:
    """Creates sorted by key (much cheaper for a B-tree), unless keys don't sort."""
    try:
        return sorted(creates, key=lambda change: change.key)
    except TypeError:
        return creates
