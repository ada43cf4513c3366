"""Driver errors told apart by their codes (SQLSTATE, MySQL errno, SQLite result code),
never by the words of their messages. The table is
:data:`syncline.targets.driver_codes.DRIVER_CODES`; this module applies it to what
SQLAlchemy and the drivers raise.

* transient: a retry may succeed (lost connection, a server that is down or starting up,
  deadlock, lock wait over ``--lock-timeout``, a row changed by another session);
* a row error: the database refused a value or a row (constraint, out of range, too
  long) — the row can be named and, with ``--on-error=skip``, left out;
* anything else is permanent: it fails the same way until something is fixed
  (authentication, unknown database, permission, syntax).

Two failures carry no code, and are classified by state instead of words: a psycopg
connection that broke (SQLAlchemy's disconnect check reads psycopg's ``broken`` and
``closed`` flags), and a PostgreSQL connection attempt, whose SQLSTATE libpq keeps to
itself: the server is asked again (:mod:`~syncline.targets.pg_startup`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from syncline.targets.driver_codes import DriverCode, driver_code, lookup

_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
#: what the lock-related codes mean, for the message
LOCK_WAIT = frozenset({"55P03", 1205, _SQLITE_BUSY, _SQLITE_LOCKED})
CONFLICT = frozenset({"40001", 1020})


@dataclass(frozen=True)
class Failure:
    """A driver's error, classified."""

    #: a retry may succeed
    transient: bool
    #: the driver's code (SQLSTATE, errno, SQLite primary result code), if any
    code: str | int | None
    #: the code as a person looks it up: ``SQLSTATE 3D000``, ``MySQL error 1049``,
    #: ``SQLITE_BUSY`` (empty without a code)
    label: str
    #: the driver's own message (never SQLAlchemy's, which links to its website)
    message: str
    #: the table's entry for the code
    entry: DriverCode | None = None

    def describe(self, after: str = "", *, full: bool = False) -> str:
        """The message's first line, the code's label and ``after``; with ``full`` the
        message's further lines follow (PostgreSQL's ``LINE 2: ...`` and caret)."""
        first, _, rest = self.message.partition("\n")
        label = f" ({self.label})" if self.label else ""
        return f"{first}{label}{after}" + (f"\n{rest}" if full and rest else "")


def driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception: SQLAlchemy's wrapper holds it as ``orig``. The wrapper
    stays in the chain of causes (``--traceback`` shows it) but loses the link to
    SQLAlchemy's website that its text would end with."""
    if isinstance(exc, sa.exc.SQLAlchemyError):
        exc.code = None
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def error_code(orig: BaseException | None) -> str | int | None:
    """The driver's code of an error: SQLSTATE (psycopg), errno (PyMySQL), the primary
    result code (sqlite3)."""
    found = driver_code(orig)
    return None if found is None else found[1]


def classify(exc: BaseException, conn: sa.Connection | None = None) -> Failure:
    """A driver error (SQLAlchemy's wrapper, or the driver's own exception raised on a
    DBAPI cursor — then ``conn`` is the connection it was raised on) classified."""
    orig = driver_error(exc)
    message = driver_message(orig)
    found = driver_code(orig)
    if found is not None:
        dialect, code = found
        entry = lookup(dialect, code)
        return Failure(entry is not None and entry.transient, code,
                       _label(dialect, code, orig), message, entry)
    if getattr(orig, "sqlstate", False) is None:  # psycopg, without a SQLSTATE
        pgconn = getattr(orig, "pgconn", None)
        if pgconn is not None:  # a connection attempt failed
            return _connect_failure(pgconn, message)
        if _connect_timeout(orig) or _connection_broken(exc, orig, conn):
            entry = lookup("postgresql", "08")
            return Failure(True, None, "", message, entry)
    return Failure(False, None, "", message)


def is_transient(exc: sa.exc.DBAPIError) -> bool:
    """Told apart by the driver's error code (or the state of a psycopg connection),
    never by the words of the message."""
    return classify(exc).transient


def is_row_error(exc: sa.exc.DBAPIError) -> bool:
    """The database refused a row's values (not the run as a whole)."""
    if exc.connection_invalidated:
        return False
    found = driver_code(exc.orig)
    entry = None if found is None else lookup(*found)
    return entry is not None and entry.row


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


def driver_message(orig: BaseException) -> str:
    """The driver's message as it wrote it: PyMySQL's ``(errno, text)`` becomes the text
    (the code is shown apart), and SQLAlchemy's link to its website never appears."""
    args: tuple[Any, ...] = getattr(orig, "args", ())
    if len(args) == 2 and type(args[0]) is int and isinstance(args[1], str):
        text = args[1]
    elif isinstance(orig, sa.exc.SQLAlchemyError):
        text = orig._message()  # without the "Background on this error" link
    else:
        text = str(orig)
    return text.strip() or type(orig).__name__


def _label(dialect: str, code: str | int, orig: BaseException) -> str:
    if dialect == "postgresql":
        return f"SQLSTATE {code}"
    if dialect == "mysql":
        return f"MySQL error {code}"
    name = getattr(orig, "sqlite_errorname", None)
    return name if isinstance(name, str) else f"SQLite error {code}"


def _connect_failure(pgconn: Any, message: str) -> Failure:
    """A PostgreSQL connection attempt failed: transient when no server answers (down,
    refused, unreachable) or it would take the connection now; else what the server
    answers to the same role and database says (its SQLSTATE), and permanent when it
    asks for the password the attempt was refused with."""
    from syncline.targets.pg_startup import probe_failed_connect

    answer = probe_failed_connect(pgconn)
    if answer is None or answer.accepted:
        return Failure(True, None, "", message, lookup("postgresql", "08"))
    if answer.sqlstate is not None:
        entry = lookup("postgresql", answer.sqlstate)
        return Failure(entry is not None and entry.transient, answer.sqlstate,
                       f"SQLSTATE {answer.sqlstate}", message, entry)
    return Failure(False, None, "", message, lookup("postgresql", "28"))


def _connect_timeout(orig: BaseException) -> bool:
    """psycopg's ``connect_timeout`` expired: no server answered in time."""
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(orig, psycopg.errors.ConnectionTimeout)


def _connection_broken(exc: BaseException, orig: BaseException,
                       conn: sa.Connection | None) -> bool:
    """SQLAlchemy's disconnect check, which for psycopg reads the connection's ``broken``
    and ``closed`` flags (for an error raised on a DBAPI cursor, asked here)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if conn is None:
        return False
    if conn.invalidated or conn.closed:
        return True
    try:
        dbapi_connection = conn.connection.dbapi_connection
    except sa.exc.SQLAlchemyError:
        return True
    return bool(conn.dialect.is_disconnect(orig, dbapi_connection, None))  # type: ignore[arg-type]
