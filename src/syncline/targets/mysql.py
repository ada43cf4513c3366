"""MySQL and MariaDB through PyMySQL: keys compared by collation, DDL that commits, a strict
sql_mode for the run, LOAD DATA LOCAL to stage, and warnings that are errors."""

from __future__ import annotations

import datetime
import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from syncline.errors import TargetError
from syncline.targets import lockfile
from syncline.targets.column_types import Bounds, ColumnTypes, Refuse
from syncline.targets.dialect import (
    Dialect,
    Locking,
    Session,
    plain_table,
    quote_plain,
    strip_accents,
)

#: the user's sql_mode plus strict mode for this session, restored when the run ends: a
#: permissive mode turns a bad value into '?', zeros, '' or a truncated string with a warning
STRICT_SETUP = (
    "SET @syncline_sql_mode = @@SESSION.sql_mode",
    "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(REPLACE(REPLACE(@@SESSION.sql_mode,"
    " 'ALLOW_INVALID_DATES', ''), 'PAD_CHAR_TO_FULL_LENGTH', ''), ''),"
    " 'STRICT_ALL_TABLES', 'NO_ZERO_IN_DATE', 'NO_ZERO_DATE', 'ERROR_FOR_DIVISION_BY_ZERO')",
)
STRICT_TEARDOWN = ("SET SESSION sql_mode = @syncline_sql_mode",)
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD")
#: longest lock name MariaDB/MySQL accept in GET_LOCK
LOCK_NAME_MAX = 64
#: table of run lock holders
HOLDER_TABLE = "syncline_lock"
#: the most bytes each TEXT type holds
TEXT_BYTES = {"TINYTEXT": 255, "TEXT": 65_535, "MEDIUMTEXT": 16_777_215,
              "LONGTEXT": 4_294_967_295}
#: TIMESTAMP holds instants (aware bounds); DATETIME and DATE hold wall times (naive bounds)
TIMESTAMP_RANGE = (datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=datetime.UTC),
                   datetime.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=datetime.UTC))
DATETIME_RANGE = (datetime.datetime(1000, 1, 1),
                  datetime.datetime(9999, 12, 31, 23, 59, 59, 999999))
#: VARCHAR(n) up to this length; longer text is MEDIUMTEXT or LONGTEXT (the row size limit
#: of 65,535 bytes is shared by all VARCHAR columns of a table)
VARCHAR_MAX = 255
#: a key column is indexed: InnoDB indexes at most 3,072 bytes (768 utf8mb4 characters)
KEY_CHARS = 768


class MySQL(Dialect):
    """MySQL and MariaDB (one class: SQLAlchemy's ``mysql`` and ``mariadb`` dialects)."""

    case_insensitive_keys = True
    pad_space_keys = True
    accent_insensitive_keys = True
    implicit_commit_ddl = True
    delete_using = True
    compare_and_set = True
    checks_warnings = True
    drop_temporary_table = "DROP TEMPORARY TABLE IF EXISTS {}"
    isolation_level = "READ COMMITTED"
    lock_timeout = ("SET SESSION innodb_lock_wait_timeout = {seconds}",
                    "SET SESSION lock_wait_timeout = {seconds}")
    session_setup = STRICT_SETUP
    session_teardown = STRICT_TEARDOWN
    url_schemes = ("mysql",)
    driver = "mysql+pymysql"
    default_fsp = 0
    real_digits = 6
    fold_enum_choices = True
    binary_length = True

    def __init__(self, name: str) -> None:
        super().__init__(name)
        #: whether LOAD DATA LOCAL works on this session's connection (None: not tried yet)
        self.load_data: bool | None = None

    # -- keys ---------------------------------------------------------------------------
    def collation_fold(self, collation: str) -> Callable[[str], str]:
        return collation_fold(collation)

    def column_collations(self, session: Session, name: str) -> list[tuple[str, str]]:
        rows = session.conn.execute(sa.text(
            "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"), {"t": name}).all()
        return [(str(column), str(collation)) for column, collation in rows if collation]

    def column_charsets(self, session: Session, name: str) -> list[tuple[str, str]]:
        rows = session.conn.execute(sa.text(
            "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"), {"t": name}).all()
        return [(str(column), str(charset)) for column, charset in rows if charset]

    # -- reading and comparing ------------------------------------------------------------
    def open_cursor(self, connection: Any) -> Any:
        import pymysql.cursors

        return connection.cursor(pymysql.cursors.SSCursor)

    def comparable(self, column: Any) -> Any:
        if isinstance(column.type, sa.String):
            return sa.cast(column, mysql.BINARY())
        return column

    # -- staging and writing ----------------------------------------------------------------
    def bulk_load(self, session: Session, table: sa.Table, columns: Sequence[str],
                  rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows into the table with LOAD DATA LOCAL INFILE from a temporary file — several
        times faster than PyMySQL's executemany, which escapes every value in Python.
        Falls back to executemany where the server or the connection does not allow it."""
        if self.load_data is False:
            session.executemany_load(table, columns, rows)
            return
        dialect = session.conn.dialect
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="",
                                         suffix=".tsv") as f:
            try:
                for row in rows:
                    f.write("\t".join([_tsv(v) for v in row]))
                    f.write("\n")
            except TypeError:  # binary values: LOAD DATA's text file cannot carry them
                session.executemany_load(table, columns, rows)
                return
            f.flush()
            sql = (f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE {plain_table(dialect, table)}"
                   " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
                   " LINES TERMINATED BY '\\n'"
                   f" ({', '.join(quote_plain(dialect, c) for c in columns)})")
            if not self._load_data(session, sql):
                session.executemany_load(table, columns, rows)

    def bulk_load_arrow(self, session: Session, table: sa.Table, columns: Sequence[str],
                        batch: Any) -> bool:
        """The batch as CSV written by Arrow into a temporary file, then LOAD DATA LOCAL
        INFILE with ``ENCLOSED BY '"'`` and no escape character: every text value is
        quoted (quotes doubled, backslashes literal), a NULL is the unquoted word ``NULL``
        (read as NULL; ``"NULL"`` quoted is the text), booleans are written 1/0, decimals
        at their scale. The same fall-back as :meth:`bulk_load`: where LOAD DATA LOCAL is
        refused, False (the caller stages the rows with executemany); warnings raise."""
        from syncline.targets import arrow_stage

        if self.load_data is False or not arrow_stage.supported(batch):
            return False
        if batch.num_rows == 0:
            return True
        dialect = session.conn.dialect
        data = arrow_stage.csv_bytes(arrow_stage.booleans_as_integers(batch), null="NULL")
        with tempfile.NamedTemporaryFile("wb", suffix=".csv") as f:
            f.write(memoryview(data))
            f.flush()
            sql = (f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE {plain_table(dialect, table)}"
                   " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' ENCLOSED BY '\"'"
                   " ESCAPED BY '' LINES TERMINATED BY '\\n'"
                   f" ({', '.join(quote_plain(dialect, c) for c in columns)})")
            return self._load_data(session, sql)

    def _load_data(self, session: Session, sql: str) -> bool:
        """Run a LOAD DATA LOCAL statement: False where this connection refuses it (the
        first time only: an error after it once worked is real); warnings raise."""
        dialect = session.conn.dialect
        cursor = session.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            try:
                cursor.execute(sql)
            except dialect.loaded_dbapi.Error:
                if self.load_data:
                    raise  # it worked before: this is a real error
                self.load_data = False  # refused here: stage another way
                return False
            self.load_data = True
            # LOCAL turns data errors into warnings; the values were checked, so any is
            # a bug
            cursor.execute("SHOW WARNINGS LIMIT 1")
            warning = cursor.fetchone()
            if warning is not None:
                raise TargetError(f"staging rows with LOAD DATA: {warning[2]}")
        finally:
            cursor.close()
        return True

    def check_warnings(self, cursor: Any, statement: str) -> None:
        """Raise for a write the server changed on its own (a warning; notes are harmless)."""
        if not getattr(cursor, "warning_count", 0) or not statement.lstrip()[:7].upper(
                ).startswith(_WRITES):
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
            raise TargetError(f"the server changed values while writing:"
                              f" {'; '.join(problems[:3])}{more} (nothing was written)")

    # -- connecting -------------------------------------------------------------------------
    def connect_args(self, url: sa.engine.URL) -> dict[str, Any]:
        # PyMySQL sends a staging file with LOAD DATA LOCAL only when allowed to
        if url.drivername == self.driver and "local_infile" not in url.query:
            return {"local_infile": True}
        return {}

    # -- column types ------------------------------------------------------------------------
    def is_boolean(self, t: Any) -> bool:
        return super().is_boolean(t) or (isinstance(t, mysql.TINYINT) and t.display_width == 1)

    def int_bits(self, t: Any) -> int:
        if isinstance(t, mysql.TINYINT):
            return 8
        if isinstance(t, mysql.MEDIUMINT):
            return 24
        return super().int_bits(t)

    def is_real(self, t: Any) -> bool:
        return super().is_real(t) or isinstance(t, mysql.FLOAT)

    def fraction_digits(self, t: Any) -> int:
        fsp = getattr(t, "fsp", None)
        return self.default_fsp if fsp is None else int(fsp)

    def datetime_bounds(self, t: Any) -> Bounds:
        return TIMESTAMP_RANGE if isinstance(t, sa.TIMESTAMP) else DATETIME_RANGE

    def date_bounds(self) -> Bounds:
        return DATETIME_RANGE

    def text_max_bytes(self, t: Any) -> int | None:
        return TEXT_BYTES.get(type(t).__name__)

    def type_compiler(self) -> sa.Dialect:
        return mysql.dialect()

    def created_integer(self, t: Any, source: ColumnTypes, refuse: Refuse) -> Any:
        if isinstance(source, MySQL):
            return t  # the same type, unsigned or not
        return super().created_integer(t, source, refuse)

    def created_decimal(self, precision: int | None, scale: int | None, refuse: Refuse
                        ) -> Any:
        if precision is None:
            return mysql.DECIMAL(65, 30)  # the widest; a value beyond it is a row error
        if precision > 65 or (scale or 0) > 30:
            raise refuse("MySQL/MariaDB decimals hold at most 65 digits, 30 after the point")
        return super().created_decimal(precision, scale, refuse)

    def created_datetime(self, timezone: bool, fsp: int) -> Any:
        return mysql.DATETIME(fsp=fsp)  # a zone is not kept: the wall time in --zone

    def created_time(self, fsp: int) -> Any:
        return mysql.TIME(fsp=fsp)

    def created_text(self, length: int | None, fixed: bool, key: bool, refuse: Refuse) -> Any:
        if key:  # an indexed column must be VARCHAR: TEXT cannot be a key without a prefix
            if length is None or length > KEY_CHARS:
                raise refuse(f"a key column on MySQL/MariaDB holds at most {KEY_CHARS}"
                             " characters")
            return mysql.CHAR(length) if fixed and length <= 255 else mysql.VARCHAR(length)
        if length is not None and length <= VARCHAR_MAX:
            return mysql.CHAR(length) if fixed else mysql.VARCHAR(length)
        # 4 bytes a character (utf8mb4): MEDIUMTEXT holds 16 MiB, LONGTEXT 4 GiB
        if length is not None and length * 4 <= 16_777_215:
            return mysql.MEDIUMTEXT()
        return mysql.LONGTEXT()

    def created_binary(self) -> Any:
        return mysql.LONGBLOB()

    # -- run locks --------------------------------------------------------------------------
    def take_run_locks(self, locking: Locking, job: str, tables: Sequence[str]) -> None:
        """``GET_LOCK(name, 0)`` per table on one separate connection (MariaDB 10.0.2+ and
        MySQL 5.7+ let a session hold several). Lock names are server-wide, so the name
        includes the database; names longer than 64 characters are hashed, names are
        case-folded where the server sets ``lower_case_table_names``. The holder writes its
        pid, host and start time to the small table ``syncline_lock`` (created when
        missing), which a refused run reads."""
        conn = locking.connect()
        database, folds = conn.execute(
            sa.text("SELECT DATABASE(), @@lower_case_table_names")).one()
        names = {t.lower() if folds else t for t in tables} or {f"job {job}"}
        for table in sorted(names):
            lock_name = _lock_name(database, table)
            got = conn.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": lock_name}).scalar()
            if got != 1:
                raise lockfile.LockHeld(table, _holder(conn, lock_name))
            locking.release(conn, "SELECT RELEASE_LOCK(:n)", {"n": lock_name})
            conn.execute(sa.text(
                f"CREATE TABLE IF NOT EXISTS {HOLDER_TABLE} (name varchar(64)"
                " PRIMARY KEY, pid int, host varchar(255), since varchar(40))"))
            conn.execute(sa.text(
                f"INSERT INTO {HOLDER_TABLE} (name, pid, host, since)"
                " VALUES (:n, :p, :h, :s) ON DUPLICATE KEY UPDATE"
                " pid = VALUES(pid), host = VALUES(host), since = VALUES(since)"),
                {"n": lock_name, "p": os.getpid(), "h": lockfile.host()[:255],
                 "s": lockfile.now()})


def _lock_name(database: str | None, name: str) -> str:
    full = f"syncline:{database or ''}:{name}"
    if len(full) <= LOCK_NAME_MAX:
        return full
    return "syncline:" + hashlib.sha256(full.encode()).hexdigest()[:LOCK_NAME_MAX - 9]


def _holder(conn: sa.Connection, lock_name: str) -> lockfile.Holder:
    try:
        row = conn.execute(sa.text(
            f"SELECT pid, host, since FROM {HOLDER_TABLE} WHERE name = :n"),
            {"n": lock_name}).first()
    except sa.exc.DBAPIError:  # no holder table yet: the holder is about to create it
        return lockfile.UNKNOWN
    if row is None:
        return lockfile.UNKNOWN
    return lockfile.as_int(row[0]), lockfile.as_str(row[1]), lockfile.as_str(row[2]), None


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


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _tsv(value: Any) -> str:
    """A driver value as LOAD DATA reads it from a tab-separated file."""
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
