"""The driver error codes syncline knows: whose code (PostgreSQL's SQLSTATE, MySQL/MariaDB's
errno, SQLite's result code), whether a retry may help, what it means (docs/errors.md).

Data, in one table: :mod:`syncline.targets.codes` classifies an exception by it. It lives
in ``targets/`` because it names databases, which no module outside ``targets/`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dialect = Literal["postgresql", "mysql", "sqlite"]


@dataclass(frozen=True)
class DriverCode:
    """One driver error code: whether a retry may help, and what it means."""

    #: whose code: PostgreSQL's SQLSTATE, MySQL/MariaDB's errno, SQLite's result code
    dialect: Dialect
    #: a SQLSTATE (five characters, or two for the whole class), an errno, or SQLite's
    #: primary result code
    code: str | int
    #: a retry may succeed (the run raises a :class:`TransientError`)
    transient: bool
    meaning: str
    #: the database refused one row's values, not the run: the row can be named (and
    #: skipped with ``--on-error=skip``)
    row: bool = False


def _codes(dialect: Dialect, transient: bool, *entries: tuple[str | int, str],
           row: bool = False) -> list[DriverCode]:
    return [DriverCode(dialect, code, transient, meaning, row) for code, meaning in entries]


#: The classification of driver errors; docs/errors.md shows the same table. A code not
#: listed is permanent. PostgreSQL's five-character codes come before their class.
DRIVER_CODES: tuple[DriverCode, ...] = (
    *_codes(
        "postgresql", True,
        ("08", "connection exception: the connection could not be made or was lost"),
        ("40001", "serialization failure: another session changed rows this run read"),
        ("40P01", "deadlock detected"),
        ("55P03", "lock not available: a lock wait outlasted --lock-timeout"),
        ("57P01", "admin shutdown: the server or an administrator ended the session"),
        ("57P02", "crash shutdown: another server process crashed"),
        ("57P03", "cannot connect now: the server is starting up, shutting down or"
                  " in recovery"),
        ("53300", "too many connections"),
    ),
    *_codes(
        "postgresql", False,
        ("28", "invalid authorization: unknown role, wrong password, refused by"
               " pg_hba.conf"),
        ("3D000", "the database does not exist"),
        ("3F000", "the schema does not exist"),
        ("42501", "insufficient privilege"),
        ("42601", "syntax error"),
        ("42P01", "the table does not exist"),
        ("42703", "the column does not exist"),
        ("42", "syntax error or access rule violation (the rest of class 42)"),
        ("25006", "read-only transaction: a standby server, or read-only by default"),
    ),
    *_codes(
        "postgresql", False,
        ("22", "data exception: a value the column cannot hold"),
        ("23", "integrity constraint violation: NOT NULL, unique, foreign key, check"),
        row=True,
    ),
    *_codes(
        "mysql", True,
        (2002, "cannot connect through the socket: the server is down"),
        (2003, "cannot connect to the server: down, refused or unreachable"),
        (2006, "the server has gone away"),
        (2013, "lost connection during a query"),
        (2055, "lost connection (system error)"),
        (1927, "the connection was killed (MariaDB)"),
        (4031, "disconnected by the server for inactivity (MySQL 8)"),
        (0, "the connection is already closed: it was lost before this statement"
            " (PyMySQL's own code)"),
        (1040, "too many connections"),
        (1053, "the server is shutting down"),
        (1205, "lock wait timeout exceeded: a lock wait outlasted --lock-timeout"),
        (1213, "deadlock found"),
        (1020, "the record changed since it was read (MariaDB)"),
    ),
    *_codes(
        "mysql", False,
        (1045, "access denied: unknown user or wrong password"),
        (1698, "access denied: the account cannot log in this way (MariaDB)"),
        (1044, "access denied to the database"),
        (1049, "the database does not exist"),
        (1142, "command denied: no privilege on the table"),
        (1143, "column access denied"),
        (1227, "access denied: the statement needs a privilege"),
        (1064, "syntax error"),
        (1146, "the table does not exist"),
        (1054, "the column does not exist"),
    ),
    *_codes(
        "mysql", False,
        (1048, "NULL into a NOT NULL column"),
        (1062, "duplicate entry for a unique key"),
        (1169, "duplicate entry for a unique constraint"),
        (1216, "foreign key: no parent row"),
        (1217, "foreign key: the row is referenced"),
        (1451, "foreign key: the row is referenced"),
        (1452, "foreign key: no parent row"),
        (1264, "value out of range"),
        (1265, "data truncated"),
        (1292, "incorrect value (date, time, number)"),
        (1366, "incorrect value for the column"),
        (1406, "data too long for the column"),
        (1690, "value out of range"),
        (3819, "check constraint violated (MySQL)"),
        (4025, "constraint failed (MariaDB)"),
        row=True,
    ),
    *_codes(
        "sqlite", True,
        (5, "SQLITE_BUSY: another connection holds the database file's lock (past"
            " --lock-timeout)"),
        (6, "SQLITE_LOCKED: a table is locked by the same connection or shared cache"),
    ),
    *_codes(
        "sqlite", False,
        (1, "SQLITE_ERROR: an SQL error: syntax, a missing table or column"),
        (3, "SQLITE_PERM: access permission denied"),
        (8, "SQLITE_READONLY: the database is read-only"),
        (11, "SQLITE_CORRUPT: the database file is malformed"),
        (13, "SQLITE_FULL: the database or the disk is full"),
        (14, "SQLITE_CANTOPEN: the database file cannot be opened"),
        (23, "SQLITE_AUTH: refused by the authorizer"),
        (26, "SQLITE_NOTADB: the file is not a database"),
    ),
    *_codes(
        "sqlite", False,
        (18, "SQLITE_TOOBIG: a string or blob too big"),
        (19, "SQLITE_CONSTRAINT: NOT NULL, unique, foreign key, check"),
        (20, "SQLITE_MISMATCH: a value of the wrong type for the column"),
        row=True,
    ),
)

_BY_CODE: dict[tuple[str, str | int], DriverCode] = {(c.dialect, c.code): c
                                                    for c in DRIVER_CODES}


def driver_code(orig: BaseException | None) -> tuple[Dialect, str | int] | None:
    """Whose code, and which, a driver's exception carries: PyMySQL's errno (its first
    argument; its own ``sqlstate`` is vague), psycopg's ``sqlstate`` (psycopg2's
    ``pgcode``), sqlite3's primary result code (of ``sqlite_errorcode``)."""
    if orig is None:
        return None
    args = getattr(orig, "args", ())
    if args and type(args[0]) is int:
        return "mysql", args[0]
    for name in ("sqlstate", "pgcode"):
        sqlstate = getattr(orig, name, None)
        if isinstance(sqlstate, str):
            return "postgresql", sqlstate
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return "sqlite", sqlite_code & 0xFF
    return None


def lookup(dialect: Dialect, code: str | int) -> DriverCode | None:
    """The table's entry for a code (a SQLSTATE's class when the code is not listed)."""
    found = _BY_CODE.get((dialect, code))
    if found is None and dialect == "postgresql" and isinstance(code, str):
        found = _BY_CODE.get((dialect, code[:2]))
    return found


def classify(orig: BaseException | None) -> DriverCode | None:
    """The table's entry for a driver's exception; None when it carries no code the
    table knows (then it is permanent, unless the connection is known to be lost)."""
    found = driver_code(orig)
    return None if found is None else lookup(*found)
