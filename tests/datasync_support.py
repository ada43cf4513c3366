"""What the datasync tests share: source and target databases, the daemon as a real
process, waiting for a condition (tests/test_datasync.py, tests/test_datasync_attack.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import fresh_database
from helpers import run_cli, syncline_command

KINDS = ["sqlite", "postgresql"]
ALL_KINDS = [*KINDS, "mysql"]


def _sqlite_pair(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"


@contextmanager
def databases(kind: str, tmp_path: Path, request: pytest.FixtureRequest
              ) -> Iterator[tuple[str, sa.Engine, str, sa.Engine]]:
    """(source URL, source engine, target URL, target engine): two databases of ``kind``."""
    with ExitStack() as stack:
        if kind == "sqlite":
            source_url, target_url = _sqlite_pair(tmp_path)
            source = stack.enter_context(_engine(source_url))
            target = stack.enter_context(_engine(target_url))
        else:
            (tmp_path / "s").mkdir()
            (tmp_path / "t").mkdir()
            s = stack.enter_context(fresh_database(kind, tmp_path / "s", request))
            t = stack.enter_context(fresh_database(kind, tmp_path / "t", request))
            source_url, source, target_url, target = s.url, s.engine, t.url, t.engine
        yield source_url, source, target_url, target


@contextmanager
def _engine(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def make_products(engine: sa.Engine, *, check: bool = False) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE products (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL,"
            " price INTEGER NOT NULL" + (", CHECK (price >= 0)" if check else "") + ")")


def rows(engine: sa.Engine, table: str = "products") -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            f"SELECT id, name, price FROM {table} ORDER BY id")]


def execute(engine: sa.Engine, sql: str, params: Any = None) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params or {})


def wait_for(check: Callable[[], bool], timeout: float, what: str,
             daemon: Daemon | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if daemon is not None and daemon.proc.poll() is not None:
            pytest.fail(f"the daemon ended ({daemon.proc.returncode}):\n{daemon.output()}")
        time.sleep(0.1)
    pytest.fail(f"{what} not within {timeout} s" + (f":\n{daemon.output()}" if daemon else ""))


class Daemon:
    """``syncline datasync run ARGS`` as a real process, its log in a file."""

    def __init__(self, args: list[str], workdir: Path, env: dict[str, str] | None = None
                 ) -> None:
        self.log = workdir / f"daemon-{time.monotonic_ns()}.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [*syncline_command(), "datasync", "run", "--idle", "0.05", *args],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> str:
        """SIGTERM: finishes the batch in hand and exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        assert code == 0, self.output()
        return self.output()


def daemon_starter() -> Iterator[Callable[..., Daemon]]:
    """The ``daemons`` fixture (conftest.py): start daemons; each is stopped after the test."""
    started: list[Daemon] = []

    def start(*args: str, workdir: Path, env: dict[str, str] | None = None) -> Daemon:
        daemon = Daemon(list(args), workdir, env)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.send_signal(signal.SIGTERM)
            try:
                daemon.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.proc.kill()


def status(target_url: str) -> dict[str, Any]:
    ran = run_cli("datasync", "status", "--target", target_url, "--json", check=True)
    return dict(json.loads(ran.stdout))


def applied_in(log: str) -> int:
    """The changes a daemon's log says it applied (its "N changes of M records" lines)."""
    return sum(int(line.split(": ")[1].split(" changes")[0])
               for line in log.splitlines() if " changes of " in line)
