"""Fixtures that give real databases: a temp SQLite file, and PostgreSQL/MariaDB from env URLs.

A server that cannot be reached is skipped loudly on a laptop; with ``SYNCLINE_REQUIRE_SERVERS=1``
(set by ``.ci/run``) that skip becomes a failure, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

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
