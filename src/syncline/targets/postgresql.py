"""PostgreSQL through psycopg 3: COPY to stage, a server-side cursor to read, a snapshot to
compare against, and sequences moved past explicit ids."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from syncline.targets import lockfile
from syncline.targets.column_types import Refuse
from syncline.targets.dialect import Dialect, Locking, Session, plain_table, quote_plain

#: PostgreSQL truncates application_name to this many bytes
APPLICATION_NAME_MAX = 63
_APPLICATION = re.compile(r"^syncline pid=(\d+) since=(\S+) host=(.*)$")


class PostgreSQL(Dialect):
    """PostgreSQL (and databases that speak its protocol and SQL)."""

    manual_sequences = True
    # the planner hash-joins a stage it has statistics for: no index needed
    index_stage = False
    delete_using = True
    drop_temporary_table = "DROP TABLE IF EXISTS pg_temp.{}"
    isolation_level = "REPEATABLE READ"
    lock_timeout = ("SET LOCAL lock_timeout = '{ms}ms'",)
    session_setup = ("SET LOCAL work_mem = '256MB'",)
    before_commit = ("SET CONSTRAINTS ALL IMMEDIATE",)
    url_schemes = ("postgresql", "postgres")
    driver = "postgresql+psycopg"
    # psycopg logs what it ignores while ending a failed pipeline; the error itself is
    # reported once, by syncline
    driver_loggers = ("psycopg",)
    nul_allowed = False
    json_decoded = True

    def connect_args(self, url: sa.engine.URL) -> dict[str, Any]:
        if url.drivername == self.driver and "application_name" not in url.query:
            return {"application_name": "syncline"}  # visible to the DBA
        return {}

    def open_cursor(self, connection: Any) -> Any:
        return connection.cursor(name="syncline_read")

    def comparable(self, column: Any) -> Any:
        from sqlalchemy.dialects import postgresql  # imported when used: a SQLite run never

        if isinstance(column.type, sa.JSON) and not isinstance(column.type, postgresql.JSONB):
            return sa.cast(column, postgresql.JSONB)  # json has no equality operator
        return column

    def bulk_load(self, session: Session, table: sa.Table, columns: Sequence[str],
                  rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows into the table with COPY (psycopg 3)."""
        dialect = session.conn.dialect
        sql = (f"COPY {plain_table(dialect, table)}"
               f" ({', '.join(quote_plain(dialect, c) for c in columns)}) FROM STDIN")
        cursor = session.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()

    def bulk_load_arrow(self, session: Session, table: sa.Table, columns: Sequence[str],
                        batch: Any) -> bool:
        """The batch as CSV written by Arrow (:func:`~syncline.targets.arrow_stage.csv_bytes`)
        fed to ``COPY ... FROM STDIN (FORMAT csv)``: an unquoted empty field is NULL, a quoted
        one the empty string (every text value is quoted), so no value passes through Python.
        The server parses the same text the per-row COPY sends (decimals and floats as
        their exact or round-trip digits, ISO dates, ``true``/``false``)."""
        from syncline.targets import arrow_stage

        driver = session.conn.connection.driver_connection
        if not arrow_stage.supported(batch) or driver is None \
                or driver.info.encoding != "utf-8":  # Arrow writes UTF-8
            return False
        if batch.num_rows == 0:
            return True
        dialect = session.conn.dialect
        sql = (f"COPY {plain_table(dialect, table)}"
               f" ({', '.join(quote_plain(dialect, c) for c in columns)})"
               " FROM STDIN (FORMAT csv)")
        data = arrow_stage.csv_bytes(batch)
        cursor = driver.cursor()
        try:
            with cursor.copy(sql) as copy:
                copy.write(memoryview(data))
        finally:
            cursor.close()
        return True

    def analyze(self, conn: sa.Connection, table: sa.Table) -> None:
        quote = conn.dialect.identifier_preparer
        conn.exec_driver_sql(f"ANALYZE {quote.format_table(table)}")

    def advance_sequences(self, conn: sa.Connection, table: sa.Table,
                          fields: Sequence[str]) -> None:
        """Explicit ids written into a serial/identity column move its sequence past them.

        Names travel as bound values and compiled expressions, never as SQL text: a table
        called ``a%b`` or ``ser :x`` must not be re-read as placeholders.
        """
        from sqlalchemy.dialects.postgresql import REGCLASS

        # pg_get_serial_sequence parses its first argument as a (quoted) qualified name,
        # and takes the second as the column's name as it is
        table_text = plain_table(conn.dialect, table)
        for column in table.columns:
            if column.name not in fields or not isinstance(column.type, sa.Integer):
                continue
            seq = conn.execute(sa.select(
                sa.func.pg_get_serial_sequence(sa.literal(table_text, sa.Text),
                                               sa.literal(column.name, sa.Text)))).scalar()
            if seq is None:
                continue
            regclass = sa.cast(sa.literal(seq, sa.Text), REGCLASS)
            highest = sa.select(sa.func.max(table.c[column.name])).scalar_subquery()
            # setval is not transactional: a rolled-back run leaves a gap, never a clash.
            # pg_sequence_last_value is NULL before the first nextval; GREATEST skips NULLs,
            # and setval(NULL) does nothing (an empty table, a fresh sequence)
            conn.execute(sa.select(sa.func.setval(regclass, sa.func.greatest(
                highest, sa.func.pg_sequence_last_value(regclass)))))

    # -- column types ------------------------------------------------------------------------
    def type_compiler(self) -> sa.Dialect:
        from sqlalchemy.dialects import postgresql

        return postgresql.dialect()  # type: ignore[no-untyped-call]

    def created_datetime(self, timezone: bool, fsp: int) -> Any:
        from sqlalchemy.dialects import postgresql

        return postgresql.TIMESTAMP(timezone=timezone, precision=fsp)

    def created_time(self, fsp: int) -> Any:
        from sqlalchemy.dialects import postgresql

        return postgresql.TIME(precision=fsp)

    def created_json(self, t: Any) -> Any:
        from sqlalchemy.dialects import postgresql

        return postgresql.JSONB() if isinstance(t, postgresql.JSONB) else postgresql.JSON()

    def created_uuid(self, refuse: Refuse) -> Any:
        from sqlalchemy.dialects import postgresql

        return postgresql.UUID()

    def created_other(self, t: Any, refuse: Refuse) -> Any:
        from sqlalchemy.dialects import postgresql

        if isinstance(t, sa.Interval):
            return postgresql.INTERVAL()
        if isinstance(t, sa.ARRAY):
            return t
        return super().created_other(t, refuse)

    # -- run locks --------------------------------------------------------------------------
    def take_run_locks(self, locking: Locking, job: str, tables: Sequence[str]) -> None:
        """``pg_try_advisory_lock(key)`` per table on a separate connection, ``key`` a
        stable signed 64-bit hash of the table's schema (where the search path finds it,
        else the current schema) and name as written (syncline quotes names, so ``ITEMS``
        and ``items`` are two tables); advisory locks are per database, so the target is
        part of the lock by construction: ``a.items`` and ``b.items`` are two locks.
        Before locking, the connection's ``application_name`` is set to ``syncline pid=..
        since=.. host=..``; a refused run finds the holder through ``pg_locks`` joined to
        ``pg_stat_activity``."""
        for table in sorted(set(tables) or {f"job {job}"}):
            conn = locking.connect()
            key = _lock_key(f"{_schema_of(conn, table)}.{table}")
            conn.execute(sa.text("SELECT set_config('application_name', :v, false)"),
                         {"v": _application_name(os.getpid(), lockfile.now(), lockfile.host())})
            for _ in range(3):
                if conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                    break
                holder = _holder(conn, key)
                if holder is not None:
                    raise lockfile.LockHeld(table, holder)
            else:  # refused three times, and the holder vanished each time
                raise lockfile.LockHeld(table, lockfile.UNKNOWN)
            locking.release(conn, "SELECT pg_advisory_unlock(:k)", {"k": key})


def _schema_of(conn: sa.Connection, table: str) -> str:
    """The schema holding ``table`` on the search path, else the one it would be made in."""
    return str(conn.execute(sa.text(
        "SELECT COALESCE((SELECT n.nspname FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.oid = to_regclass(quote_ident(:t))),"
        " current_schema(), '')"), {"t": table}).scalar())


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(f"syncline run lock:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _application_name(pid: int, since: str, host: str) -> str:
    text = f"syncline pid={pid} since={since} host={host}"
    return text.encode("ascii", "replace").decode()[:APPLICATION_NAME_MAX]


def _holder(conn: sa.Connection, key: int) -> lockfile.Holder | None:
    """(pid, host, since, job) of the session holding advisory lock ``key``; None if none."""
    row = conn.execute(sa.text(
        "SELECT a.application_name, a.pid, a.client_addr::text,"
        " to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid::bigint = :hi AND l.objid::bigint = :lo"
        " LIMIT 1"), {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}).first()
    if row is None:
        return None
    application, backend_pid, client, started = row
    found = _APPLICATION.match(application or "")
    if found:
        return int(found.group(1)), found.group(3) or None, found.group(2), None
    # not a syncline session (or one that changed its name): say what the server knows
    return None, f"{client or 'local'} (server backend pid {backend_pid})", started, None
