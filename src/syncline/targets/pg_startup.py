"""The SQLSTATE of a failed PostgreSQL connection attempt, asked of the server itself.

libpq reports a connection attempt the server refused as text only: psycopg's
``OperationalError`` then has no ``sqlstate`` (psycopg issue 1188), although the server
sent one. Whether a retry may help — a server that is down or starting up (transient) or
a role or database that does not exist (permanent) — must not be read from words, so the
same role and database are offered to the server once more in a startup packet, and its
answer is read by protocol: an ``ErrorResponse`` carries the SQLSTATE (field ``C``).

No password is ever sent: a server that asks for one has reached the point where the
attempt's own credentials, or its database, were refused.
"""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass
from typing import Any

#: seconds the probe waits for the server at each step
TIMEOUT = 5.0
_PROTOCOL_3 = 196608
_SSL_REQUEST = 80877103
_MESSAGES = 32  # ParameterStatus and the like before ReadyForQuery: a handful


@dataclass(frozen=True)
class StartupAnswer:
    """What the server answered to a startup packet (a definite answer only)."""

    #: the server refused the role or the database with this SQLSTATE
    sqlstate: str | None = None
    #: the server asked for a password (the probe sends none)
    password: bool = False
    #: the server let the role into the database: whatever failed before may not again
    accepted: bool = False


def probe_failed_connect(pgconn: Any, timeout: float = TIMEOUT) -> StartupAnswer | None:
    """The server's answer for the host, port, role and database of psycopg's failed
    connection attempt (``exc.pgconn``); None when no server answered (down, refused,
    unreachable, silent), which is transient."""
    host = _text(getattr(pgconn, "hostaddr", b"")) or _text(getattr(pgconn, "host", b""))
    port = int(_text(getattr(pgconn, "port", b"")) or 5432)
    user = _text(getattr(pgconn, "user", b""))
    database = _text(getattr(pgconn, "db", b"")) or user
    sslmode = "prefer"
    for option in getattr(pgconn, "info", None) or ():
        if getattr(option, "keyword", None) == b"sslmode" and option.val:
            sslmode = _text(option.val)
    return startup_answer(host, port, user, database, sslmode=sslmode, timeout=timeout)


def startup_answer(host: str, port: int, user: str, database: str, *,
                   sslmode: str = "prefer", timeout: float = TIMEOUT) -> StartupAnswer | None:
    """Send a startup packet for ``user`` and ``database``; the server's answer, or None
    when there is none. ``host`` may be a directory holding the server's Unix socket."""
    try:
        sock = _connect(host, port, timeout)
    except OSError:
        return None
    try:
        return _converse(sock, host, user, database, sslmode)
    except (OSError, struct.error, ValueError):
        return None  # reached, but no definite answer: as good as down
    finally:
        sock.close()


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    if not host or host.startswith("/"):
        path = f"{host or '/var/run/postgresql'}/.s.PGSQL.{port}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection((host, port), timeout=timeout)


def _converse(sock: socket.socket, host: str, user: str, database: str, sslmode: str
              ) -> StartupAnswer | None:
    if sslmode != "disable" and not host.startswith("/") and host:
        sock.sendall(struct.pack("!ii", 8, _SSL_REQUEST))
        reply = _read(sock, 1)
        if reply == b"S":
            # only the server's error code is read and no password is sent: the
            # certificate is not what is being checked here
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock)
        elif reply != b"N":
            return None
        elif sslmode in ("require", "verify-ca", "verify-full"):
            return StartupAnswer()  # the attempt needs TLS the server does not offer
    params = b"".join(name + b"\0" + value.encode() + b"\0" for name, value in (
        (b"user", user), (b"database", database),
        (b"application_name", "syncline connection check"))) + b"\0"
    sock.sendall(struct.pack("!ii", 8 + len(params), _PROTOCOL_3) + params)
    for _ in range(_MESSAGES):
        kind = _read(sock, 1)
        (length,) = struct.unpack("!i", _read(sock, 4))
        body = _read(sock, length - 4)
        if kind == b"E":
            return StartupAnswer(sqlstate=_field(body, b"C"))
        if kind == b"R":
            (request,) = struct.unpack("!i", body[:4])
            if request != 0:  # not AuthenticationOk: a password (or more) is wanted
                return StartupAnswer(password=True)
        elif kind == b"Z":  # ReadyForQuery: the server would take this connection now
            sock.sendall(b"X" + struct.pack("!i", 4))
            return StartupAnswer(accepted=True)
    return None


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


def _field(body: bytes, name: bytes) -> str | None:
    """One field of an ErrorResponse: ``C`` is the SQLSTATE."""
    for part in body.split(b"\0"):
        if part[:1] == name:
            return part[1:].decode("ascii", "replace")
    return None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
