"""Issue 9 item 3: driver errors are transient or permanent by their code, on every dialect.

Every error here is provoked for real — a role or database that does not exist, a missing
privilege, a syntax error, a server that is down, a connection killed by the server or cut
on the wire, a lock wait, a serialization failure — and run through the library (and the
command line): the class says whether a retry may help (``TransientError``), ``code`` is
the driver's, the message is the driver's own (never SQLAlchemy's link), and the error
pickles. A lost source connection is classified like a lost target connection.
"""

from __future__ import annotations

import gc
import json
import pickle
import re
import socket
import struct
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import MYSQL_URL, POSTGRES_URL, driver_url, drop_table, engine_url
from helpers import run_cli, write_csv
from syncline import (
    Handler,
    Importer,
    IterableSource,
    RunOptions,
    SourceError,
    SynclineError,
    TargetError,
    TransientError,
    TransientSourceError,
    TransientTargetError,
)
from syncline.targets.driver_codes import DRIVER_CODES, classify, lookup

DOCS = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
ANY = object()


# -- helpers ---------------------------------------------------------------------------------
def url_with(base: str, **parts: Any) -> str:
    """``base`` with its user, password, host, port or database replaced."""
    url = sa.engine.make_url(driver_url(base)).set(**parts)
    return url.render_as_string(hide_password=False)


def free_port() -> int:
    """A local TCP port nothing listens on (a server that is down)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
    return port


def check(error: BaseException, kind: type[SynclineError], *, transient: bool,
          code: Any = ANY) -> SynclineError:
    """The error's class, retry class and code; its message and its pickled copy."""
    assert isinstance(error, kind), f"{type(error).__name__}: {error}"
    assert isinstance(error, TransientError) is transient, f"{type(error).__name__}: {error}"
    if code is not ANY:
        assert getattr(error, "code", None) == code, error
    text = str(error)
    assert "Background on this error" not in text and "sqlalche.me" not in text, text
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == text
    assert again.code == getattr(error, "code", None)
    return error


def target_run(url: str, table: str, records: list[dict[str, Any]] | None = None,
               **options: Any) -> SynclineError:
    """A run of the library into ``table`` of ``url``; the error it ends with."""
    source = IterableSource(records or [{"id": 1, "name": "new"}], columns=["id", "name"])
    importer = Importer(table=table, key=("id",), source=source)
    with pytest.raises(SynclineError) as caught:
        Handler(target_url=url, importers=[importer]).run(RunOptions(**options))
    return caught.value


def source_run(url: str, tmp_path: Path, *, table: str | None = None,
               query: str | None = None, importer: type[Importer] = Importer,
               **options: Any) -> SynclineError:
    """A run of the library from ``url`` into a new SQLite table; the error it ends with."""
    target = f"sqlite:///{tmp_path / f'target-{uuid.uuid4().hex[:6]}.db'}"
    chosen = importer(table="t", key=("id",), source_table=table, source_query=query)
    with pytest.raises(SynclineError) as caught:
        Handler(source_url=url, target_url=target, importers=[chosen]).run(
            RunOptions(create_table=True, **options))
    return caught.value


def collect_dead_cursors() -> None:
    """psycopg cannot close a server-side cursor once its connection is lost (``close()``
    waits on the dead socket, and SQLAlchemy gives up on it): collected, it warns that it
    was never closed. The warning is about a dead connection, so it is ignored here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def make_items(engine: sa.Engine, table: str, rows: int = 3) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY,"
                             " name VARCHAR(40))")
        for i in range(1, rows + 1):
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES ({i}, 'item {i}')")


class Background:
    """Run ``action`` in a thread until it returns True (or ``seconds`` pass)."""

    def __init__(self, action: Callable[[], bool], seconds: float = 30) -> None:
        self.done = False
        self.failure: BaseException | None = None

        def run() -> None:
            deadline = time.monotonic() + seconds
            try:
                while not self.done and time.monotonic() < deadline:
                    if action():
                        self.done = True
                        return
                    time.sleep(0.05)
            except BaseException as exc:  # reported by the test, not lost in the thread
                self.failure = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.done = True
        self.thread.join(10)
        if self.failure is not None:
            raise self.failure


# -- the table and its documentation -----------------------------------------------------------
DIALECTS = {"postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL", "sqlite": "SQLite"}


def test_docs_show_the_table_of_errors_py() -> None:
    rows = []
    for entry in DRIVER_CODES:
        retry = "transient" if entry.transient else (
            "permanent, row error" if entry.row else "permanent")
        rows.append(f"| {DIALECTS[entry.dialect]} | `{entry.code}` | {retry} |"
                    f" {entry.meaning} |")
    documented = [line for line in DOCS.read_text().splitlines()
                  if line.startswith(tuple(f"| {name} |" for name in DIALECTS.values()))]
    assert documented == rows


def test_the_table_has_each_code_once_and_rows_are_permanent() -> None:
    keys = [(entry.dialect, entry.code) for entry in DRIVER_CODES]
    assert len(keys) == len(set(keys))
    assert not [entry for entry in DRIVER_CODES if entry.row and entry.transient]


@pytest.mark.parametrize(("orig", "transient"), [
    (type("PgError", (Exception,), {"sqlstate": "57P01"})("admin shutdown"), True),
    (type("PgError", (Exception,), {"sqlstate": "08006"})("connection failure"), True),
    (type("PgError", (Exception,), {"sqlstate": "42P01"})("no such table"), False),
    (type("PgError", (Exception,), {"sqlstate": "42883"})("no such function"), False),
    (Exception(1205, "Lock wait timeout exceeded"), True),
    (Exception(1049, "Unknown database"), False),
    (type("SqliteError", (Exception,), {"sqlite_errorcode": 517})("locked"), True),  # BUSY_SNAPSHOT
    (type("SqliteError", (Exception,), {"sqlite_errorcode": 2067})("unique"), False),
])
def test_classify_matches_on_attributes_not_words(orig: BaseException, transient: bool
                                                  ) -> None:
    """The message is never read: a class of code, an errno, an extended result code."""
    entry = classify(orig)
    assert entry is not None and entry.transient is transient


def test_a_code_outside_the_table_is_permanent() -> None:
    assert classify(Exception(9999, "a new error")) is None
    assert lookup("postgresql", "XX000") is None
    assert classify(Exception("connection lost: timeout, could not connect")) is None


# -- PostgreSQL ------------------------------------------------------------------------------
@pytest.fixture
def pg_role(pg_engine: sa.Engine) -> Iterator[str]:
    """A login role with no privilege on any table (the server trusts local logins)."""
    name = f"syncline_e_{uuid.uuid4().hex[:8]}"
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN")
    try:
        yield name
    finally:
        with pg_engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                 " WHERE usename = :u"), {"u": name})
            conn.exec_driver_sql(f"DROP OWNED BY {name}")
            conn.exec_driver_sql(f"DROP ROLE {name}")


def tagged(url: str) -> tuple[str, str]:
    """The URL with an application_name of this test's own: it ends only its backends."""
    name = f"syncline-e-{uuid.uuid4().hex[:10]}"
    return url + ("&" if "?" in url else "?") + f"application_name={name}", name


def terminate(engine: sa.Engine, application_name: str, condition: str) -> bool:
    with engine.connect() as conn:
        ended = conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE application_name = :name AND pid <> pg_backend_pid() AND {condition}"),
            {"name": application_name}).all()
    return bool(ended)


@pytest.mark.parametrize("side", ["target", "source"])
def test_postgresql_unknown_role_is_permanent(pg_engine: sa.Engine, side: str,
                                              table_name: str, tmp_path: Path) -> None:
    url = url_with(POSTGRES_URL, username="nosuchrole_xyz")
    if side == "target":
        check(target_run(url, table_name), TargetError, transient=False, code="28000")
    else:
        check(source_run(url, tmp_path, table="t"), SourceError, transient=False,
              code="28000")


@pytest.mark.parametrize("side", ["target", "source"])
def test_postgresql_unknown_database_is_permanent(pg_engine: sa.Engine, side: str,
                                                  table_name: str, tmp_path: Path) -> None:
    url = url_with(POSTGRES_URL, database=f"nosuchdb_{uuid.uuid4().hex[:6]}")
    if side == "target":
        error = check(target_run(url, table_name), TargetError, transient=False, code="3D000")
        assert "SQLSTATE 3D000" in str(error)
    else:
        check(source_run(url, tmp_path, table="t"), SourceError, transient=False,
              code="3D000")


@pytest.mark.parametrize("side", ["target", "source"])
def test_postgresql_server_down_is_transient(pg_engine: sa.Engine, side: str,
                                             table_name: str, tmp_path: Path) -> None:
    url = url_with(POSTGRES_URL, host="127.0.0.1", port=free_port())
    if side == "target":
        error = check(target_run(url, table_name), TransientTargetError, transient=True)
    else:
        error = check(source_run(url, tmp_path, table="t"), TransientSourceError,
                      transient=True)
    assert "transient" in str(error)


@pytest.mark.parametrize("side", ["target", "source"])
def test_postgresql_permission_denied_is_permanent(pg_engine: sa.Engine, pg_role: str,
                                                   side: str, table_name: str,
                                                   tmp_path: Path) -> None:
    make_items(pg_engine, table_name)
    url = url_with(POSTGRES_URL, username=pg_role)
    try:
        if side == "target":
            check(target_run(url, table_name), TargetError, transient=False, code="42501")
        else:
            check(source_run(url, tmp_path, table=table_name), SourceError, transient=False,
                  code="42501")
    finally:
        drop_table(pg_engine, table_name)


def test_postgresql_syntax_error_in_the_source_query_is_permanent(
        pg_engine: sa.Engine, tmp_path: Path) -> None:
    error = check(source_run(engine_url(pg_engine), tmp_path, query="SELEC 1 AS id"),
                  SourceError, transient=False, code="42601")
    assert "LINE" in str(error)  # the driver's pointer into the query is kept


def test_postgresql_source_connection_ended_by_the_server_is_transient(
        pg_engine: sa.Engine, tmp_path: Path) -> None:
    """pg_terminate_backend (57P01, admin shutdown) while the source query runs."""
    url, name = tagged(engine_url(pg_engine))
    # the server-side cursor's FETCH, sleeping in pg_sleep
    killer = Background(lambda: terminate(pg_engine, name, "query LIKE 'FETCH%'"
                                          " AND state = 'active'"))
    try:
        error = source_run(url, tmp_path,
                           query="SELECT 1 AS id, 'x' AS name FROM pg_sleep(30)")
    finally:
        killer.join()
    check(error, TransientSourceError, transient=True, code="57P01")
    del error
    collect_dead_cursors()


def test_postgresql_target_connection_ended_by_the_server_is_transient(
        pg_engine: sa.Engine, table_name: str) -> None:
    """pg_terminate_backend while the run waits for a table another session locked."""
    make_items(pg_engine, table_name)
    url, name = tagged(engine_url(pg_engine))
    holder = pg_engine.connect()
    try:
        holder.exec_driver_sql(f"LOCK TABLE {table_name} IN ACCESS EXCLUSIVE MODE")
        killer = Background(lambda: terminate(pg_engine, name, "wait_event_type = 'Lock'"))
        try:
            error = target_run(url, table_name, lock_timeout=60)
        finally:
            killer.join()
        check(error, TransientTargetError, transient=True, code="57P01")
    finally:
        holder.rollback()
        holder.close()
        drop_table(pg_engine, table_name)


def test_postgresql_lock_timeout_is_transient(pg_engine: sa.Engine, table_name: str) -> None:
    make_items(pg_engine, table_name)
    holder = pg_engine.connect()
    try:
        holder.exec_driver_sql(f"LOCK TABLE {table_name} IN ACCESS EXCLUSIVE MODE")
        error = target_run(engine_url(pg_engine), table_name, lock_timeout=0.5)
        check(error, TransientTargetError, transient=True, code="55P03")
        assert "--lock-timeout" in str(error)
    finally:
        holder.rollback()
        holder.close()
        drop_table(pg_engine, table_name)


@pytest.mark.parametrize("engine", ["memory", "database"])
def test_postgresql_serialization_failure_is_transient(pg_engine: sa.Engine, table_name: str,
                                                       engine: str) -> None:
    """Another session updates a row after the run's snapshot and before its update."""
    make_items(pg_engine, table_name)

    class Meddling(Importer):
        done = False

        def normalize_source(self, record: dict[str, Any]) -> dict[str, Any]:
            if not Meddling.done:  # the run's snapshot is taken: change its row now
                Meddling.done = True
                with pg_engine.begin() as conn:
                    conn.exec_driver_sql(f"UPDATE {table_name} SET name = 'other' WHERE id = 1")
            return record

    importer = Meddling(table=table_name, key=("id",), source=IterableSource(
        [{"id": 1, "name": "new"}], columns=["id", "name"]))
    try:
        with pytest.raises(SynclineError) as caught:
            Handler(target_url=engine_url(pg_engine), importers=[importer]).run(
                RunOptions(engine=engine))
        check(caught.value, TransientTargetError, transient=True, code="40001")
        with pg_engine.connect() as conn:
            assert conn.exec_driver_sql(f"SELECT name FROM {table_name} WHERE id = 1"
                                        ).scalar() == "other"
    finally:
        drop_table(pg_engine, table_name)


# -- a connection cut on the wire (no SQLSTATE: psycopg's broken connection) --------------------
class Proxy:
    """A TCP proxy to a server; :meth:`cut` drops every connection through it."""

    def __init__(self, port: int) -> None:
        self.server_port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.server_port))
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.sockets.clear()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture
def pg_proxy(pg_engine: sa.Engine) -> Iterator[Proxy]:
    proxy = Proxy(pg_engine.url.port or 5432)
    yield proxy
    proxy.close()


def cutting_importer(proxy: Proxy) -> type[Importer]:
    class Cutting(Importer):
        def normalize_source(self, record: dict[str, Any]) -> dict[str, Any]:
            proxy.cut()  # the run's connections are open: drop them
            return record

    return Cutting


@pytest.mark.parametrize("engine", ["memory", "database"])
def test_postgresql_target_connection_cut_is_transient(pg_engine: sa.Engine, pg_proxy: Proxy,
                                                       table_name: str, engine: str) -> None:
    """The memory engine reads on a DBAPI cursor, the database engine copies with COPY:
    both see psycopg's error without a SQLSTATE, on a broken connection."""
    make_items(pg_engine, table_name)
    url = url_with(engine_url(pg_engine), host="127.0.0.1", port=pg_proxy.port)
    importer = cutting_importer(pg_proxy)(
        table=table_name, key=("id",),
        source=IterableSource([{"id": 1, "name": "new"}], columns=["id", "name"]))
    try:
        with pytest.raises(SynclineError) as caught:
            Handler(target_url=url, importers=[importer]).run(RunOptions(engine=engine))
        check(caught.value, TransientTargetError, transient=True, code=None)
    finally:
        drop_table(pg_engine, table_name)


def test_postgresql_source_connection_cut_is_transient(pg_engine: sa.Engine, pg_proxy: Proxy,
                                                       table_name: str, tmp_path: Path) -> None:
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} AS SELECT i AS id, 'x' AS name"
                             " FROM generate_series(1, 25000) AS i")
    url = url_with(engine_url(pg_engine), host="127.0.0.1", port=pg_proxy.port)
    try:
        error = source_run(url, tmp_path, table=table_name,
                           importer=cutting_importer(pg_proxy))
        check(error, TransientSourceError, transient=True, code=None)
        assert re.search(r"failed after \d+ rows", str(error)), error
        del error
        collect_dead_cursors()
    finally:
        drop_table(pg_engine, table_name)


# -- a PostgreSQL server that refuses at start-up (a fake one: the real one must stay up) ---
class FakePostgres:
    """Answers every startup packet with ``answer`` (an ErrorResponse or a request)."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def error(sqlstate: str, message: str) -> bytes:
        fields = (b"SFATAL\0VFATAL\0C" + sqlstate.encode() + b"\0M" + message.encode()
                  + b"\0\0")
        return b"E" + struct.pack("!i", 4 + len(fields)) + fields

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with client:
                try:
                    while True:
                        (length,) = struct.unpack("!i", self._read(client, 4))
                        body = self._read(client, length - 4)
                        if body[:4] == struct.pack("!i", 80877103):  # SSLRequest
                            client.sendall(b"N")
                            continue
                        client.sendall(self.answer)
                        break
                    time.sleep(0.1)
                except OSError:
                    pass

    @staticmethod
    def _read(sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize(("answer", "transient", "code"), [
    (FakePostgres.error("57P03", "the database system is starting up"), True, "57P03"),
    (FakePostgres.error("53300", "sorry, too many clients already"), True, "53300"),
    (FakePostgres.error("28P01", "password authentication failed"), False, "28P01"),
    (b"R" + struct.pack("!ii", 8, 3), False, None),  # it asks for a password: none given
], ids=["starting-up", "too-many-clients", "bad-password", "password-wanted"])
def test_postgresql_refusals_at_start_up_by_their_sqlstate(
        answer: bytes, transient: bool, code: str | None, table_name: str,
        tmp_path: Path) -> None:
    """libpq reports these as text; the server is asked again for the code."""
    server = FakePostgres(answer)
    url = f"postgresql://someone@127.0.0.1:{server.port}/db"
    try:
        target = check(target_run(url, table_name),
                       TransientTargetError if transient else TargetError,
                       transient=transient, code=code)
        source = check(source_run(url, tmp_path, table="t"),
                       TransientSourceError if transient else SourceError,
                       transient=transient, code=code)
        assert "Traceback" not in str(target) + str(source)
    finally:
        server.close()


# -- MariaDB / MySQL -------------------------------------------------------------------------
@pytest.fixture
def mysql_user(mysql_engine: sa.Engine) -> Iterator[tuple[str, str]]:
    """A user with a password and no privilege yet: (name, password)."""
    name, password = f"syncline_e_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with mysql_engine.begin() as conn:
        conn.execute(sa.text(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"))
    try:
        yield name, password
    finally:
        with mysql_engine.begin() as conn:
            for (pid,) in conn.execute(sa.text(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = :u"),
                    {"u": name}).all():
                conn.exec_driver_sql(f"KILL CONNECTION {int(pid)}")
            conn.execute(sa.text(f"DROP USER '{name}'@'%'"))


def kill_mysql(engine: sa.Engine, condition: str, params: dict[str, Any]) -> bool:
    """KILL CONNECTION for the sessions that match (never the caller's own)."""
    with engine.connect() as conn:
        found = conn.execute(sa.text(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"
            f" AND COMMAND = 'Query' AND {condition}"), params).all()
        for (pid,) in found:
            conn.exec_driver_sql(f"KILL CONNECTION {int(pid)}")
    return bool(found)


def assert_killed(error: SynclineError) -> None:
    """What the client of a killed connection reads: the statement's lost connection
    (2013), the kill itself (1927), or — for a lock wait the kill interrupted — 1205."""
    code = getattr(error, "code", None)
    assert code in (2013, 1927, 1205, 0), error
    entry = lookup("mysql", code)
    assert entry is not None and entry.transient


@pytest.mark.parametrize("side", ["target", "source"])
def test_mysql_access_denied_is_permanent(mysql_engine: sa.Engine,
                                          mysql_user: tuple[str, str], side: str,
                                          table_name: str, tmp_path: Path) -> None:
    url = url_with(MYSQL_URL, username=mysql_user[0], password="wrong")
    if side == "target":
        check(target_run(url, table_name), TargetError, transient=False, code=1045)
    else:
        check(source_run(url, tmp_path, table="t"), SourceError, transient=False, code=1045)


@pytest.mark.parametrize("side", ["target", "source"])
def test_mysql_unknown_database_is_permanent(mysql_engine: sa.Engine, side: str,
                                             table_name: str, tmp_path: Path) -> None:
    url = url_with(MYSQL_URL, database=f"nosuchdb_{uuid.uuid4().hex[:6]}")
    if side == "target":
        error = check(target_run(url, table_name), TargetError, transient=False, code=1049)
        assert "MySQL error 1049" in str(error) and "(1049," not in str(error)
    else:
        check(source_run(url, tmp_path, table="t"), SourceError, transient=False, code=1049)


@pytest.mark.parametrize("side", ["target", "source"])
def test_mysql_server_down_is_transient(mysql_engine: sa.Engine, side: str, table_name: str,
                                        tmp_path: Path) -> None:
    url = url_with(MYSQL_URL, host="127.0.0.1", port=free_port())
    if side == "target":
        check(target_run(url, table_name), TransientTargetError, transient=True, code=2003)
    else:
        check(source_run(url, tmp_path, table="t"), TransientSourceError, transient=True,
              code=2003)


@pytest.mark.parametrize("side", ["target", "source"])
def test_mysql_permission_denied_is_permanent(mysql_engine: sa.Engine,
                                              mysql_user: tuple[str, str], side: str,
                                              table_name: str, tmp_path: Path) -> None:
    """SELECT only: the run may read the table, not write it (nor its lock table); as a
    source, a query on a table it may not read."""
    make_items(mysql_engine, table_name)
    other = f"{table_name}_x"
    make_items(mysql_engine, other)
    name, password = mysql_user
    database = sa.engine.make_url(MYSQL_URL).database
    with mysql_engine.begin() as conn:
        conn.execute(sa.text(f"GRANT SELECT ON `{database}`.`{table_name}` TO '{name}'@'%'"))
    url = url_with(MYSQL_URL, username=name, password=password)
    try:
        if side == "target":
            check(target_run(url, table_name), TargetError, transient=False, code=1142)
        else:
            check(source_run(url, tmp_path, query=f"SELECT id, name FROM {other}"),
                  SourceError, transient=False, code=1142)
    finally:
        drop_table(mysql_engine, table_name)
        drop_table(mysql_engine, other)


def test_mysql_syntax_error_in_the_source_query_is_permanent(mysql_engine: sa.Engine,
                                                             tmp_path: Path) -> None:
    check(source_run(engine_url(mysql_engine), tmp_path, query="SELEC 1 AS id"),
          SourceError, transient=False, code=1064)


def test_mysql_source_connection_killed_is_transient(mysql_engine: sa.Engine,
                                                     tmp_path: Path) -> None:
    marker = f"syncline_e_{uuid.uuid4().hex[:8]}"
    killer = Background(lambda: kill_mysql(mysql_engine, "INFO LIKE :m",
                                           {"m": f"%SLEEP%{marker}%"}))
    try:
        error = source_run(engine_url(mysql_engine), tmp_path,
                           query=f"SELECT 1 AS id, SLEEP(30) AS {marker}")
    finally:
        killer.join()
    assert killer.done
    check(error, TransientSourceError, transient=True)
    assert_killed(error)


def test_mysql_target_connection_killed_is_transient(mysql_engine: sa.Engine,
                                                     table_name: str) -> None:
    """KILL CONNECTION while the run's write waits for a row another session locked."""
    make_items(mysql_engine, table_name)
    holder = mysql_engine.connect()
    try:
        holder.exec_driver_sql(f"UPDATE {table_name} SET name = 'held' WHERE id = 1")
        killer = Background(lambda: kill_mysql(
            mysql_engine, "INFO LIKE :t AND (INFO LIKE 'UPDATE%' OR INFO LIKE 'INSERT%')",
            {"t": f"%{table_name}%"}))
        try:
            error = target_run(engine_url(mysql_engine), table_name, lock_timeout=60)
        finally:
            killer.join()
        assert killer.done
        check(error, TransientTargetError, transient=True)
        assert_killed(error)
    finally:
        holder.rollback()
        holder.close()
        drop_table(mysql_engine, table_name)


def test_mysql_lock_wait_timeout_is_transient(mysql_engine: sa.Engine, table_name: str) -> None:
    make_items(mysql_engine, table_name)
    holder = mysql_engine.connect()
    try:
        holder.exec_driver_sql(f"UPDATE {table_name} SET name = 'held' WHERE id = 1")
        error = target_run(engine_url(mysql_engine), table_name, lock_timeout=1)
        check(error, TransientTargetError, transient=True, code=1205)
    finally:
        holder.rollback()
        holder.close()
        drop_table(mysql_engine, table_name)


# -- SQLite ------------------------------------------------------------------------------------
@pytest.fixture
def not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are notes, not a database\n" * 200)
    return path


@pytest.mark.parametrize("side", ["target", "source"])
def test_sqlite_file_that_is_not_a_database_is_permanent(not_a_database: Path, side: str,
                                                         tmp_path: Path) -> None:
    url = f"sqlite:///{not_a_database}"
    if side == "target":
        error = check(target_run(url, "t"), TargetError, transient=False, code=26)
        assert "SQLITE_NOTADB" in str(error)
    else:
        check(source_run(url, tmp_path, table="t"), SourceError, transient=False, code=26)


def test_sqlite_read_only_database_is_permanent(sqlite_path: Path) -> None:
    make_items(sa.create_engine(f"sqlite:///{sqlite_path}"), "t")
    url = f"sqlite:///file:{sqlite_path}?mode=ro&uri=true"
    check(target_run(url, "t"), TargetError, transient=False, code=8)


def test_sqlite_database_that_cannot_be_opened_is_permanent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-directory' / 'source.db'}"
    check(source_run(url, tmp_path, table="t"), SourceError, transient=False, code=14)


@pytest.mark.parametrize("side", ["target", "source"])
def test_sqlite_database_locked_is_transient(sqlite_path: Path, side: str,
                                             tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{sqlite_path}")
    make_items(engine, "t")
    holder = engine.connect()
    try:
        holder.exec_driver_sql("BEGIN EXCLUSIVE")
        if side == "target":
            error = check(target_run(f"sqlite:///{sqlite_path}", "t", lock_timeout=0.3),
                          TransientTargetError, transient=True, code=5)
            assert "--lock-timeout" in str(error)
        else:
            check(source_run(f"sqlite:///{sqlite_path}?timeout=0.3", tmp_path, table="t"),
                  TransientSourceError, transient=True, code=5)
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()


# -- the command line ----------------------------------------------------------------------------
def test_cli_exit_codes_and_messages(pg_engine: sa.Engine, tmp_path: Path) -> None:
    """Permanent and transient both exit 1; the message is the driver's, with its code,
    never SQLAlchemy's link; ``--json`` names the class and the code."""
    source = write_csv(tmp_path / "items.csv", ["id", "name"], [[1, "a"]])
    missing = url_with(POSTGRES_URL, database=f"nosuchdb_{uuid.uuid4().hex[:6]}")
    down = url_with(POSTGRES_URL, host="127.0.0.1", port=free_port())
    target = f"sqlite:///{tmp_path / 'target.db'}"
    cases = [
        (["sync", str(source), missing, "--table", "t", "--key", "id"], "TargetError",
         "3D000"),
        (["sync", down, target, "--source-table", "t", "--table", "t", "--key", "id",
          "--create-table"], "TransientSourceError", None),
        (["sync", engine_url(pg_engine), target, "--source-query", "SELEC 1 AS id",
          "--table", "t", "--key", "id", "--create-table"], "SourceError", "42601"),
    ]
    for args, kind, code in cases:
        for traceback in ([], ["--traceback"]):
            proc = run_cli(*traceback, *args)
            assert proc.returncode == 1, proc.stderr
            assert "Background on this error" not in proc.stderr, proc.stderr
            assert "sqlalche.me" not in proc.stderr + proc.stdout, proc.stderr
            if not traceback:
                assert proc.stderr.startswith("Error: "), proc.stderr
                assert "Traceback" not in proc.stderr
                assert ("transient" in proc.stderr) is (kind == "TransientSourceError")
        data = json.loads(run_cli(*args, "--json").stdout)
        assert data["exit_code"] == 1
        assert data["error"]["type"] == kind and data["error"]["code"] == code, data
