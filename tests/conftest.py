"""Fixtures that give real databases: a temp SQLite file, and PostgreSQL/MariaDB from env URLs.

A server that cannot be reached is skipped loudly on a laptop; with ``SYNCLINE_REQUIRE_SERVERS=1``
(set by ``.ci/run``) that skip becomes a failure, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get(
    "SYNCLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SYNCLINE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REQUIRE_SERVERS = os.environ.get("SYNCLINE_REQUIRE_SERVERS", "") not in ("", "0")


def driver_url(url: str) -> str:
    """The URL with syncline's default driver (psycopg 3 for PostgreSQL)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _server_engine(url: str, label: str) -> sa.Engine:
    engine = sa.create_engine(driver_url(url))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any connection failure means: no server here
        engine.dispose()
        message = f"{label} server not reachable at {url}: {exc.__class__.__name__}: {exc}"
        if REQUIRE_SERVERS:
            pytest.fail(message + " (SYNCLINE_REQUIRE_SERVERS is set)")
        pytest.skip(message)
    return engine


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts with the secrets a fresh process knows: a library call in one test
    (a URL with password ``wrong``) must not mask that word in the next test's messages."""
    from syncline import masking

    known = set(masking._known)
    yield
    masking._known.clear()
    masking._known.update(known)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[sa.Engine]:
    engine = _server_engine(POSTGRES_URL, "PostgreSQL")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def mysql_engine() -> Iterator[sa.Engine]:
    engine = _server_engine(MYSQL_URL, "MariaDB/MySQL")
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "target.db"


@pytest.fixture
def sqlite_engine(sqlite_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{sqlite_path}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The same test on all three databases."""
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'any.db'}")
        yield engine
        engine.dispose()
    elif request.param == "postgresql":
        yield request.getfixturevalue("pg_engine")
    else:
        yield request.getfixturevalue("mysql_engine")


@pytest.fixture
def table_name() -> Iterator[str]:
    """A table name unique to this test; tests drop their own tables."""
    yield f"t_{uuid.uuid4().hex[:10]}"


def engine_url(engine: sa.Engine) -> str:
    """The URL of an engine as a command-line argument (password kept)."""
    return engine.url.render_as_string(hide_password=False)


def drop_table(engine: sa.Engine, name: str) -> None:
    with engine.begin() as conn:
        # compiled DDL, never SQL text: a name may hold ":x" or "%"
        sa.Table(name, sa.MetaData()).drop(conn, checkfirst=True)


@pytest.fixture
def importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tmp_path on ``sys.path``: a handler module a test writes there can be named as
    ``module:Class``; such modules are forgotten afterwards, as a new process would."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


# -- a database of its own, for the version tables -----------------------------------------------
# The version tables have fixed names (`transaction`, `transaction_meta`, the sequence
# `transaction_id_seq`: SQLAlchemy-Continuum's layout), so a test of versions on a shared
# server gets a PostgreSQL schema or a MariaDB database of its own, dropped afterwards.
@dataclass
class VersionsDb:
    """A database no other test uses: ``url`` for syncline, ``engine`` for the test."""

    kind: str
    url: str
    engine: sa.Engine


@contextmanager
def fresh_database(kind: str, tmp_path: Path, request: pytest.FixtureRequest
                   ) -> Iterator[VersionsDb]:
    """A SQLite file, a PostgreSQL schema (first on the search path) or a MariaDB database,
    made for one test and dropped after it."""
    name = f"v_{uuid.uuid4().hex[:12]}"
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'versions.db'}"
        engine = sa.create_engine(url)
        try:
            yield VersionsDb(kind, url, engine)
        finally:
            engine.dispose()
        return
    server: sa.Engine = request.getfixturevalue("pg_engine" if kind == "postgresql"
                                                 else "mysql_engine")
    quoted = server.dialect.identifier_preparer.quote(name)
    with server.begin() as conn:
        conn.exec_driver_sql(f"CREATE {'SCHEMA' if kind == 'postgresql' else 'DATABASE'}"
                             f" {quoted}")
    if kind == "postgresql":
        url = server.url.update_query_dict({"options": f"-csearch_path={name}"})
    else:
        url = server.url.set(database=name)
    engine = sa.create_engine(url)
    try:
        yield VersionsDb(kind, url.render_as_string(hide_password=False), engine)
    finally:
        engine.dispose()
        with server.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {quoted} CASCADE" if kind == "postgresql"
                                 else f"DROP DATABASE {quoted}")


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def versions_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VersionsDb]:
    """A database of its own on each of the three, for tests of the version tables."""
    with fresh_database(request.param, tmp_path, request) as db:
        yield db


@pytest.fixture
def daemons() -> Iterator[Any]:
    """Start ``syncline datasync run`` processes (datasync_support.Daemon); each still
    running after the test is stopped with SIGTERM."""
    from datasync_support import daemon_starter

    yield from daemon_starter()
