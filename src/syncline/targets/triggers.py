"""Triggers that log every change of a watched source table, for the datasync daemon.

:func:`install` puts AFTER INSERT / UPDATE / DELETE triggers on a table; each changed row
writes one row to :data:`CHANGES` (``syncline_changes``): the table's name, its key as a
JSON array made by the database's own JSON function, the operation (``c`` insert, ``u``
update, ``d`` delete) and the database clock with sub-second precision. An UPDATE that
changes the key writes ``d`` for the old key, then ``c`` for the new one. :data:`WATCHED`
(``syncline_watched``) records which tables are watched and their key.

On PostgreSQL the trigger function also notifies the channel ``syncline_changes``, so a
:class:`ChangeWaiter` wakes at once; elsewhere the waiter just sleeps.

All SQL that differs between the databases lives here (``engine.dialect.name``): nothing
outside ``targets/`` names a database.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from syncline.errors import ConfigError
from syncline.masking import mask_url
from syncline.targets import datasync_tables
from syncline.targets.dialect import quote_plain

CHANGES = "syncline_changes"
WATCHED = "syncline_watched"
#: the PostgreSQL NOTIFY channel the trigger functions signal
CHANNEL = "syncline_changes"
#: the longest identifier every supported database takes (PostgreSQL: 63, MariaDB: 64)
MAX_NAME = 63
#: the operations as SQL literals: insert, update, delete
_C, _U, _D = "'c'", "'u'", "'d'"

#: the database clock in UTC, with sub-second precision, as each database spells it
_NOW = {
    "postgresql": "clock_timestamp() AT TIME ZONE 'UTC'",
    "mysql": "UTC_TIMESTAMP(6)",
    "mariadb": "UTC_TIMESTAMP(6)",
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f','now')",
}
_JSON_ARRAY = {"postgresql": "json_build_array({})::text", "mysql": "JSON_ARRAY({})",
               "mariadb": "JSON_ARRAY({})", "sqlite": "json_array({})"}


def _datetime() -> sa.types.TypeEngine[Any]:
    # MariaDB's DATETIME keeps whole seconds unless told otherwise
    precise = mysql.DATETIME(fsp=6)
    return sa.DateTime().with_variant(precise, "mysql").with_variant(precise, "mariadb")


def changes_table(metadata: sa.MetaData) -> sa.Table:
    """:data:`CHANGES`: one row per changed source row, numbered in the order written
    (SQLite: ``INTEGER PRIMARY KEY AUTOINCREMENT``, so that an id is never reused)."""
    return sa.Table(
        CHANGES, metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("table_name", sa.String(255), nullable=False),
        sa.Column("key_json", sa.Text, nullable=False),
        sa.Column("op", sa.String(1), nullable=False),
        sa.Column("changed_at", _datetime(), nullable=False),
        sqlite_autoincrement=True,
    )


def watched_table(metadata: sa.MetaData) -> sa.Table:
    """:data:`WATCHED`: the watched tables, with their key columns as a JSON list."""
    return sa.Table(
        WATCHED, metadata,
        sa.Column("table_name", sa.String(255), primary_key=True),
        sa.Column("key_json", sa.Text, nullable=False),
        sa.Column("installed_at", sa.DateTime, nullable=False),
    )


def trigger_name(table: str, suffix: str) -> str:
    """``syncline_<table>_<suffix>``; a name longer than :data:`MAX_NAME` keeps the head of
    the table's name and a hash of all of it (so that two long names never collide)."""
    name = f"syncline_{table}_{suffix}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(table.encode()).hexdigest()[:8]
    head = table[:MAX_NAME - len(f"syncline__{digest}_{suffix}")]
    return f"syncline_{head}_{digest}_{suffix}"


def _kind(engine: sa.Engine) -> str:
    kind = engine.dialect.name
    if kind not in _NOW:
        raise ConfigError(f"cannot watch tables on {mask_url(engine.url)}: triggers are made"
                          f" for SQLite, PostgreSQL and MariaDB/MySQL only")
    return kind


def _literal(kind: str, text: str) -> str:
    """A string literal; MariaDB reads a backslash as an escape in one."""
    if kind in ("mysql", "mariadb"):
        text = text.replace("\\", "\\\\")
    return "'" + text.replace("'", "''") + "'"


class _Sql:
    """The SQL of one table's triggers on one database."""

    def __init__(self, engine: sa.Engine, table: str, key: Sequence[str],
                 changes: str = CHANGES) -> None:
        self.kind = engine.dialect.name
        # the DDL runs without parameters: a '%' in a name must stay one '%'
        self.q = functools.partial(quote_plain, engine.dialect)
        self.table, self.key, self.changes = table, list(key), changes

    def insert(self, row: str, op: str, where: str = "") -> str:
        """``INSERT`` of one change for the ``NEW`` or ``OLD`` row (``op`` a literal or
        expression; ``where``: only when it holds, SQLite's stand-in for IF)."""
        values = ", ".join(f"{row}.{self.q(c)}" for c in self.key)
        select = (f"{_literal(self.kind, self.table)}, {_JSON_ARRAY[self.kind].format(values)},"
                  f" {op}, {_NOW[self.kind]}")
        return (f"INSERT INTO {self.changes} (table_name, key_json, op, changed_at)"
                f" SELECT {select}{' WHERE ' + where if where else ''}")

    def key_changed(self) -> str:
        """Whether an UPDATE changed the key: NULL-safe, and exact (MariaDB's and a NOCASE
        column's comparisons ignore case: ``'a'`` to ``'A'`` is a change of key)."""
        if self.kind == "postgresql":
            return " OR ".join(f"NEW.{self.q(c)} IS DISTINCT FROM OLD.{self.q(c)}"
                               for c in self.key)
        if self.kind == "sqlite":
            return " OR ".join(f"NEW.{self.q(c)} IS NOT OLD.{self.q(c)} COLLATE BINARY"
                               for c in self.key)
        return " OR ".join(f"NOT (CAST(NEW.{self.q(c)} AS BINARY) <=> CAST(OLD.{self.q(c)}"
                           f" AS BINARY))" for c in self.key)

    def update_body(self) -> str:
        """Statements for an UPDATE: ``d`` old + ``c`` new when the key changed, else ``u``."""
        if self.kind == "sqlite":
            changed = f"({self.key_changed()})"
            op = f"CASE WHEN {changed} THEN 'c' ELSE 'u' END"
            return f"{self.insert('OLD', _D, changed)}; {self.insert('NEW', op)};"
        return (f"IF {self.key_changed()} THEN {self.insert('OLD', _D)};"
                f" {self.insert('NEW', _C)}; ELSE {self.insert('NEW', _U)};"
                f" END IF;")

    def name(self, suffix: str) -> str:
        """A trigger's (or the function's) name, quoted."""
        return self.q(trigger_name(self.table, suffix))

    def create(self) -> list[str]:
        """The statements that (re)create the triggers (and PostgreSQL's function)."""
        on, name = self.q(self.table), self.name
        events = (("c", "INSERT"), ("u", "UPDATE"), ("d", "DELETE"))
        if self.kind == "postgresql":
            function = name("fn")
            body = (f"BEGIN IF TG_OP = 'INSERT' THEN {self.insert('NEW', _C)};"
                    f" ELSIF TG_OP = 'DELETE' THEN {self.insert('OLD', _D)};"
                    f" ELSE {self.update_body()} END IF;"
                    f" PERFORM pg_notify('{CHANNEL}', {_literal(self.kind, self.table)});"
                    f" RETURN NULL; END")
            # SECURITY DEFINER: the function writes the log as its owner (who installed
            # it), so an application role with no right on syncline_changes still writes
            # its table; a fixed search_path, so no caller's schema can stand in for
            # pg_catalog's functions (the log's own name is schema-qualified)
            return [f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger"
                    f" LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog,"
                    f" pg_temp AS $syncline$ {body} $syncline$",
                    *[f"CREATE OR REPLACE TRIGGER {name(s)} AFTER {event} ON {on}"
                      f" FOR EACH ROW EXECUTE FUNCTION {function}()" for s, event in events]]
        bodies = {"c": self.insert("NEW", _C) + ";", "d": self.insert("OLD", _D) + ";",
                  "u": self.update_body()}
        if self.kind == "sqlite":
            return [statement for s, event in events for statement in (
                f"DROP TRIGGER IF EXISTS {name(s)}",
                f"CREATE TRIGGER {name(s)} AFTER {event} ON {on} FOR EACH ROW"
                f" BEGIN {bodies[s]} END")]
        return [f"CREATE OR REPLACE TRIGGER {name(s)} AFTER {event} ON {on} FOR EACH ROW"
                f" BEGIN {bodies[s]} END" for s, event in events]

    def drop(self) -> list[str]:
        """The statements that drop the triggers (and PostgreSQL's function)."""
        names = [self.q(trigger_name(self.table, s)) for s in ("c", "u", "d")]
        if self.kind == "postgresql":
            on = self.q(self.table)
            return [*(f"DROP TRIGGER IF EXISTS {n} ON {on}" for n in names),
                    f"DROP FUNCTION IF EXISTS {self.q(trigger_name(self.table, 'fn'))}()"]
        return [f"DROP TRIGGER IF EXISTS {n}" for n in names]


def _ddl(conn: sa.Connection) -> sa.Connection:
    # statements go to the driver as written: no parameters, so a "%" in a name is a "%"
    return conn.execution_options(no_parameters=True)


def install(engine: sa.Engine, table: str, key: Sequence[str]) -> None:
    """Watch ``table`` by its ``key`` columns: create :data:`CHANGES` and :data:`WATCHED`
    when missing, (re)create the table's triggers, record it in :data:`WATCHED`. Installing
    again replaces the triggers. One transaction, except on MariaDB (whose DDL commits).

    :raises ConfigError: the table does not exist, lacks a key column, or no key is given.
    """
    kind, key = _kind(engine), list(key)
    where = f"table {table!r} on {mask_url(engine.url)}"
    if not key:
        raise ConfigError(f"no key columns given to watch {where}", model=table)
    if table in (CHANGES, WATCHED, *datasync_tables.NAMES):
        # the change log watching itself would log each logged change, for ever
        raise ConfigError(f"cannot watch {where}: it is one of syncline's own tables",
                          model=table)
    with engine.begin() as conn:
        if kind == "sqlite":  # sqlite3 itself begins only before DML: the DDL too, at once
            conn.exec_driver_sql("BEGIN")
        inspector = sa.inspect(conn)
        if not inspector.has_table(table):
            raise ConfigError(f"cannot watch {where}: no such table", model=table)
        columns = {c["name"] for c in inspector.get_columns(table)}
        missing = [c for c in key if c not in columns]
        if missing:
            raise ConfigError(f"cannot watch {where}: it has no column {missing[0]!r}",
                              model=table, field=missing[0])
        metadata = sa.MetaData()
        watched_rows = watched_table(metadata)
        log = changes_table(metadata)
        for own in (log, watched_rows):
            if inspector.has_table(own.name):
                _require_layout(inspector, own, where)
        metadata.create_all(conn, [log, watched_rows], checkfirst=True)
        changes = quote_plain(conn.dialect, CHANGES)
        if kind == "postgresql":  # the function finds the log whatever the writer's search_path
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
            changes = f"{quote_plain(conn.dialect, schema)}.{changes}"
        for statement in _Sql(engine, table, key, changes).create():
            _ddl(conn).exec_driver_sql(statement)
        conn.execute(watched_rows.delete().where(watched_rows.c.table_name == table))
        conn.execute(watched_rows.insert().values(
            table_name=table, key_json=json.dumps(key), installed_at=sa.func.current_timestamp()))


def _require_layout(inspector: sa.Inspector, own: sa.Table, where: str) -> None:
    """Refuse a table of the log's name that is not syncline's (an application's own): the
    triggers would write rows it cannot take, and so fail every write of the watched
    table."""
    columns = {c["name"] for c in inspector.get_columns(own.name)}
    lacking = sorted(set(own.c.keys()) - columns)
    if lacking:
        raise ConfigError(
            f"cannot watch {where}: its database has a table {own.name} that is not"
            f" syncline's (it lacks {', '.join(lacking)}); nothing was installed. Rename that"
            " table, or watch from another database or schema", model=own.name)


def uninstall(engine: sa.Engine, table: str) -> None:
    """Stop watching ``table``: drop its triggers, forget it in :data:`WATCHED` and drop
    its pending :data:`CHANGES` rows (the two tables themselves stay).

    :raises ConfigError: the table is not watched.
    """
    if table not in watched(engine):
        raise ConfigError(f"table {table!r} is not watched on {mask_url(engine.url)}",
                          model=table)
    metadata = sa.MetaData()
    changes, watched_rows = changes_table(metadata), watched_table(metadata)
    with engine.begin() as conn:
        statements = _Sql(engine, table, ()).drop()
        if not sa.inspect(conn).has_table(table):  # a dropped table took its triggers along
            statements = [s for s in statements if not s.startswith("DROP TRIGGER")]
        for statement in statements:
            _ddl(conn).exec_driver_sql(statement)
        conn.execute(watched_rows.delete().where(watched_rows.c.table_name == table))
        conn.execute(changes.delete().where(changes.c.table_name == table))


def watched(engine: sa.Engine) -> dict[str, tuple[str, ...]]:
    """The watched tables and their key columns (``{}`` where nothing was ever watched)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(WATCHED):
            return {}
        rows = watched_table(sa.MetaData())
        return {name: tuple(json.loads(key))
                for name, key in conn.execute(sa.select(rows.c.table_name, rows.c.key_json))}


class ChangeWaiter:
    """Wait until the source may have new changes: on PostgreSQL a connection of its own
    that LISTENs on :data:`CHANNEL` (open it before reading the changes, so that nothing
    committed after the read is missed); elsewhere a plain sleep.

    ``tables``: wake only for changes of these tables (a notification's payload is the
    table's name; the channel is shared by every watched table of the server's database);
    None, the default, wakes for any."""

    def __init__(self, engine: sa.Engine, *, tables: Iterable[str] | None = None) -> None:
        self._conn: Any = None
        self._tables = None if tables is None else frozenset(tables)
        if _kind(engine) == "postgresql":
            pooled = engine.raw_connection()
            self._conn = pooled.driver_connection
            pooled.detach()  # a listening connection never goes back to the pool
            self._conn.autocommit = True
            self._conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds: True when woken by a notification (those that
        came with it are drained), False when the time ran out."""
        if self._conn is None:
            time.sleep(timeout)
            return False
        deadline, woken = time.monotonic() + timeout, False
        while not woken and (left := deadline - time.monotonic()) > 0:
            for note in self._conn.notifies(timeout=left, stop_after=1):
                woken = self._tables is None or note.payload in self._tables
        if woken:
            for _ in self._conn.notifies(timeout=0):
                pass
        return woken

    def close(self) -> None:
        """Stop listening and close the connection (harmless twice)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
