"""Driver errors told apart by their codes (SQLSTATE, MySQL errno, SQLite result code),
never by the words of their messages.

* transient: a retry may succeed (lost connection, deadlock, lock wait over
  ``--lock-timeout``, a row changed by another session);
* a row error: the database refused a value or a row (constraint, out of range, too
  long) — the row can be named and, with ``--on-error=skip``, left out.
"""

from __future__ import annotations

import sqlalchemy as sa

#: driver error codes after which a retry may succeed: lost connections, deadlocks, lock
#: waits over --lock-timeout, rows changed by another session (serialization failures)
_TRANSIENT_SQLSTATES = ("40001", "40P01", "55P03", "57P01", "57P02", "57P03", "08")
_TRANSIENT_MYSQL_ERRNOS = frozenset({1020, 1205, 1213, 1927, 2003, 2006, 2013, 2055, 4031})
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
#: what the lock-related codes mean, for the message
LOCK_WAIT = frozenset({"55P03", 1205, _SQLITE_BUSY, _SQLITE_LOCKED})
CONFLICT = frozenset({"40001", 1020})


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


#: SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation)
_ROW_SQLSTATES = ("22", "23")
#: NULL into NOT NULL, duplicate key, foreign keys, out of range, truncated or wrong value,
#: too long, CHECK (MariaDB, MySQL)
_ROW_MYSQL_ERRNOS = frozenset({1048, 1062, 1169, 1216, 1217, 1264, 1265, 1292, 1366, 1406,
                               1451, 1452, 1690, 3819, 4025})
_SQLITE_CONSTRAINT, _SQLITE_TOOBIG, _SQLITE_MISMATCH = 19, 18, 20


def is_row_error(exc: sa.exc.DBAPIError) -> bool:
    """The database refused a row's values (not the run as a whole)."""
    if is_transient(exc):
        return False
    code = error_code(exc.orig)
    if isinstance(code, str):
        return code.startswith(_ROW_SQLSTATES)
    if code in _ROW_MYSQL_ERRNOS:
        return True
    return code in (_SQLITE_CONSTRAINT, _SQLITE_TOOBIG, _SQLITE_MISMATCH) and (
        "sqlite" in type(exc.orig).__module__)




#: a unique key refused an insert or update: SQLSTATE 23505, MySQL 1062, SQLite's
#: SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555)
_UNIQUE = frozenset({"23505", 1062})
_SQLITE_UNIQUE = frozenset({2067, 1555})


def is_unique_violation(exc: sa.exc.DBAPIError) -> bool:
    """A key the run counted as new is already there: another session inserted it after
    the run read the table, or the database's collation calls two keys equal."""
    code = error_code(exc.orig)
    if code in _UNIQUE:
        return True
    extended = getattr(exc.orig, "sqlite_errorcode", None)
    return extended in _SQLITE_UNIQUE


#: a foreign key refused a write: SQLite's SQLITE_CONSTRAINT_FOREIGNKEY, PostgreSQL's
#: foreign_key_violation, MySQL/MariaDB's row-is-referenced / no-referenced-row errnos
_FK_SQLITE, _FK_SQLSTATE = 787, "23503"
_FK_MYSQL_ERRNOS = frozenset({1216, 1217, 1451, 1452})


def is_foreign_key_error(exc: sa.exc.DBAPIError) -> bool:
    """A foreign key refused the write (a missing parent, or a parent still referenced)."""
    orig = exc.orig
    if getattr(orig, "sqlite_errorcode", None) == _FK_SQLITE:
        return True
    code = error_code(orig)
    return code == _FK_SQLSTATE or code in _FK_MYSQL_ERRNOS
