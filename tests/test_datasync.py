"""The datasync daemon end to end, as real processes on real databases (RELIABILITY 23-27):
changes carried, SIGKILL mid-batch, two consumers, an unreachable target, a poison record,
per-key order; SQLite -> SQLite and PostgreSQL -> PostgreSQL (docs/datasync.md)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from datasync_support import (
    ALL_KINDS,
    KINDS,
    Daemon,
    applied_in,
    databases,
    execute,
    make_products,
    rows,
    status,
    wait_for,
)
from helpers import run_cli


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_changes_reach_the_target(kind: str, tmp_path: Path, request: pytest.FixtureRequest,
                                  daemons: Callable[..., Daemon]) -> None:
    with databases(kind, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        execute(source, "INSERT INTO products VALUES (1, 'old', 5), (2, 'gone', 6)")
        run_cli("datasync", "install", "--source", source_url, "--table", "products",
                "--key", "id", check=True)
        # what was there before the triggers: one full sync (docs/datasync.md, "Quick start")
        run_cli("sync", source_url, target_url, "--table", "products", "--key", "id",
                "--source-table", "products", check=True)
        assert rows(target) == rows(source)
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", workdir=tmp_path)
        wait_for(lambda: rows(target) == rows(source), 30, "the first rows", daemon)
        execute(source, "INSERT INTO products VALUES (3, 'new', 7)")
        execute(source, "UPDATE products SET name = 'renamed', price = 9 WHERE id = 1")
        execute(source, "DELETE FROM products WHERE id = 2")
        wait_for(lambda: rows(target) == [(1, "renamed", 9), (3, "new", 7)], 30,
                 "the changes", daemon)
        found = status(target_url)
        assert found["queued"] == 0 and found["dead"] == 0
        assert found["consumers_alive"] == 1, daemon.output()
        log = daemon.stop()
        assert "products:" in log and "lag" in log
        assert status(target_url)["consumers_alive"] == 0


@pytest.mark.parametrize("kind", KINDS)
def test_sigkill_mid_batch_loses_nothing(kind: str, tmp_path: Path,
                                         request: pytest.FixtureRequest,
                                         daemons: Callable[..., Daemon]) -> None:
    """SIGKILL at the commit of a batch: nothing of it applied, nothing off the queue; the
    next daemon applies it once."""
    with databases(kind, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        run_cli("datasync", "install", "--source", source_url, "--table", "products",
                "--key", "id", check=True)
        execute(source, "INSERT INTO products VALUES (1, 'a', 1), (2, 'b', 2)")
        pause = tmp_path / "paused.pid"
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--lease", "3", workdir=tmp_path,
                         env={"SYNCLINE_TEST_PAUSE_AT": "before_commit",
                              "SYNCLINE_TEST_PAUSE_FILE": str(pause)})
        wait_for(lambda: pause.exists() and bool(pause.read_text()), 30, "the pause", daemon)
        daemon.proc.kill()
        daemon.proc.wait(timeout=10)
        assert rows(target) == []
        assert status(target_url)["queued"] == 2  # still queued (lease held by the dead)
        again = daemons("--source", source_url, "--target", target_url, "--table",
                        "products", workdir=tmp_path)
        wait_for(lambda: rows(target) == rows(source), 30, "the batch applied", again)
        wait_for(lambda: status(target_url)["queued"] == 0, 10, "an empty queue", again)
        again.stop()


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_poison_record_goes_to_dead_letters(kind: str, tmp_path: Path,
                                            request: pytest.FixtureRequest,
                                            daemons: Callable[..., Daemon]) -> None:
    """The target refuses one record (a CHECK the source lacks): it is retried, then dead;
    the others pass; `retry` queues it again once fixed; `purge` deletes dead letters."""
    with databases(kind, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target, check=True)
        run_cli("datasync", "install", "--source", source_url, "--table", "products",
                "--key", "id", check=True)
        execute(source, "INSERT INTO products VALUES (1, 'a', 1), (2, 'poison', -1),"
                " (3, 'c', 3)")
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--max-tries", "2", workdir=tmp_path)
        wait_for(lambda: status(target_url)["dead"] == 1, 30, "a dead letter", daemon)
        assert rows(target) == [(1, "a", 1), (3, "c", 3)]
        execute(source, "INSERT INTO products VALUES (4, 'd', 4)")  # still flowing
        wait_for(lambda: len(rows(target)) == 3, 30, "the next change", daemon)
        found = status(target_url)
        assert found["models"]["products"]["dead"] == 1
        execute(source, "UPDATE products SET price = 2 WHERE id = 2")  # fixed at the source
        wait_for(lambda: len(rows(target)) == 4, 30, "the fixed record", daemon)
        ran = run_cli("datasync", "retry", "--all", "--target", target_url, check=True)
        assert "queued 1" in ran.stdout
        wait_for(lambda: status(target_url)["queued"] == 0, 30, "the retried record", daemon)
        assert rows(target) == rows(source)
        log = daemon.stop()
        assert "moved to the dead letters" in log and "key 2" in log


@pytest.mark.parametrize("kind", KINDS)
def test_order_per_key_under_load_with_two_consumers(kind: str, tmp_path: Path,
                                                      request: pytest.FixtureRequest,
                                                      daemons: Callable[..., Daemon]) -> None:
    """A key updated 100 times ends at its last value; 200 keys written meanwhile; two
    consumer processes never both apply one change (the queue is completed once)."""
    with databases(kind, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        run_cli("datasync", "install", "--source", source_url, "--table", "products",
                "--key", "id", check=True)
        consumers = "2" if kind != "sqlite" else "1"
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--consumers", consumers, "--batch", "20",
                         workdir=tmp_path)
        execute(source, "INSERT INTO products VALUES (0, 'v0', 0)")
        for i in range(1, 101):
            execute(source, "UPDATE products SET name = :n, price = :p WHERE id = 0",
                    {"n": f"v{i}", "p": i})
            execute(source, "INSERT INTO products VALUES (:i, 'x', :i)", {"i": 1000 + i})
            execute(source, "INSERT INTO products VALUES (:i, 'y', :i)", {"i": 2000 + i})
        wait_for(lambda: rows(target) == rows(source), 60, "the last values", daemon)
        assert rows(target)[0] == (0, "v100", 100)
        wait_for(lambda: status(target_url)["queued"] == 0, 30, "an empty queue", daemon)
        log = daemon.stop()
        assert applied_in(log) == 301, log  # every change applied (completed) exactly once


class Proxy:
    """A TCP relay to the database, which the test can cut and restore (the target
    "restarted": every connection dropped, new ones refused meanwhile)."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = threading.Event()
        self.open.set()
        self.links: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self.links += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            a.close()  # each socket is read by one relay thread: that thread closes it

    def cut(self) -> None:
        self.open.clear()
        for link in self.links:
            try:
                link.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.links.clear()

    def restore(self) -> None:
        self.open.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_unreachable_target_retries_then_catches_up(tmp_path: Path,
                                                    request: pytest.FixtureRequest,
                                                    daemons: Callable[..., Daemon]) -> None:
    with databases("postgresql", tmp_path, request) as (source_url, source, target_url,
                                                         target):
        make_products(source)
        make_products(target)
        run_cli("datasync", "install", "--source", source_url, "--table", "products",
                "--key", "id", check=True)
        url = sa.make_url(target_url)
        proxy = Proxy(url.port or 5432)
        try:
            via_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
            daemon = daemons("--source", source_url, "--target", via_proxy, "--table",
                             "products", workdir=tmp_path)
            execute(source, "INSERT INTO products VALUES (1, 'a', 1)")
            wait_for(lambda: len(rows(target)) == 1, 30, "the first change", daemon)
            proxy.cut()
            execute(source, "INSERT INTO products VALUES (2, 'b', 2)")
            execute(source, "UPDATE products SET price = 10 WHERE id = 1")
            wait_for(lambda: "cannot reach" in daemon.output(), 30, "a retry", daemon)
            time.sleep(1.0)
            assert daemon.proc.poll() is None  # still running, waiting
            proxy.restore()
            wait_for(lambda: rows(target) == [(1, "a", 10), (2, "b", 2)], 60,
                     "the catch-up", daemon)
            daemon.stop()
        finally:
            proxy.close()


def test_status_retry_purge_commands(tmp_path: Path) -> None:
    """The operations commands on an empty and on a filled queue (SQLite)."""
    import json

    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    ran = run_cli("datasync", "status", "--target", target_url)
    assert ran.returncode != 0 and "does not exist" in ran.stderr  # never made by status
    assert not (tmp_path / "target.db").exists()
    with sa.create_engine(target_url).connect() as conn:  # an empty database: no daemon yet
        conn.exec_driver_sql("CREATE TABLE other (id INTEGER)")
    found = status(target_url)
    assert found == {"queued": 0, "oldest_seconds": None, "dead": 0, "consumers_alive": 0,
                     "consumers": [], "models": {}}
    from syncline.datasync.queue import NewChange, Queue, now

    engine = sa.create_engine(target_url)
    queue = Queue(engine)
    queue.create()  # as the daemon's first start does
    with engine.begin() as conn:
        queue.put(conn, [NewChange("products", (7,), "u", now()),
                         NewChange("products", (8,), "u", now())])
    claimed = queue.claim("me", 10, 60.0)
    assert [c.key for c in claimed] == [(7,), (8,)]
    assert queue.claim("other", 10, 60.0) == []  # leased
    assert queue.fail("me", claimed[:1], "boom", max_tries=1) == (0, 1)
    assert queue.fail("me", claimed[1:], "bang", max_tries=5) == (1, 0)
    found = status(target_url)
    assert found["queued"] == 1 and found["dead"] == 1
    assert found["models"]["products"]["retrying"] == 1
    dead_id = queue.dead_letters()[0]["id"]
    assert run_cli("datasync", "retry", "--target", target_url, check=False).returncode != 0
    ran = run_cli("datasync", "retry", str(dead_id), "--target", target_url, check=True)
    assert "queued 1" in ran.stdout
    assert status(target_url)["dead"] == 0
    again = queue.claim("me", 10, 60.0)
    assert [c.key for c in again] == [(7,)]  # the one retried; (8,) waits for its backoff
    queue.fail("me", again, "boom", max_tries=1)
    ran = run_cli("datasync", "purge", "--dead", "--before", "2000-01-01",
                  "--target", target_url, check=True)
    assert "purged 0" in ran.stdout
    ran = run_cli("datasync", "purge", "--dead", "--before", "2999-01-01",
                  "--target", target_url, check=True)
    assert "purged 1" in ran.stdout
    engine.dispose()
    assert json.loads(run_cli("datasync", "status", "--target", target_url, "--json",
                              check=True).stdout)["dead"] == 0


def test_a_lease_taken_over_cannot_complete(tmp_path: Path) -> None:
    """A consumer whose lease expired and whose changes another consumer claimed cannot
    also delete them: its run's transaction fails and rolls back."""
    from syncline.datasync.queue import NewChange, Queue, now
    from syncline.errors import QueueError

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'q.db'}")
    queue = Queue(engine)
    queue.create()
    with engine.begin() as conn:
        queue.put(conn, [NewChange("m", (1,), "u", now())])
    slow = queue.claim("slow", 10, 0.001)
    time.sleep(0.01)
    fast = queue.claim("fast", 10, 60.0)
    assert [c.id for c in fast] == [c.id for c in slow]
    with pytest.raises(QueueError), engine.begin() as conn:
        queue.complete(conn, "slow", slow)
    with engine.begin() as conn:
        queue.complete(conn, "fast", fast)
    assert queue.status()["queued"] == 0
    engine.dispose()


def test_folder_watcher_syncs_a_replaced_file_whole(tmp_path: Path,
                                                    daemons: Callable[..., Daemon]) -> None:
    """A new or replaced file is synced whole once it has settled; a truncated export is
    refused by the guards (the target keeps its rows) and the daemon goes on; a restart
    does not sync an unchanged file again."""
    folder = tmp_path / "exports"
    folder.mkdir()
    target_url = f"sqlite:///{tmp_path / 'shop.db'}"
    target = sa.create_engine(target_url)
    make_products(target)

    def publish(text: str) -> None:  # as an export job does: write aside, then rename
        (tmp_path / "next.csv").write_text(text)
        os.replace(tmp_path / "next.csv", folder / "products.csv")

    publish("id,name,price\n" + "".join(f"{i},item {i},{i}\n" for i in range(1, 31)))
    args = ("--watch-dir", str(folder), "--target", target_url, "--table", "products",
            "--key", "id", "--settle", "0.3")
    daemon = daemons(*args, workdir=tmp_path)
    wait_for(lambda: len(rows(target)) == 30, 30, "the first file", daemon)
    publish("id,name,price\n" + "".join(f"{i},item {i},{i * 2}\n" for i in range(1, 30)))
    wait_for(lambda: len(rows(target)) == 29 and rows(target)[0] == (1, "item 1", 2), 30,
             "the replaced file", daemon)
    publish("id,name,price\n")  # a truncated export: the guards refuse it
    wait_for(lambda: "failed, will try again when the file changes" in daemon.output(), 30,
             "the refusal", daemon)
    assert len(rows(target)) == 29
    publish("id,name,price\n1,item 1,2\n")  # one record of 29 left: the mass-delete guard
    wait_for(lambda: daemon.output().count("failed, will try") == 2, 30, "a second refusal",
             daemon)
    publish("id,name,price\n" + "".join(f"{i},item {i},{i * 2}\n" for i in range(1, 30)))
    wait_for(lambda: daemon.output().count("synced products.csv") == 3, 30, "a good file",
             daemon)
    log = daemon.stop()
    assert "mass-delete" in log or "refusing to delete" in log
    again = daemons(*args, workdir=tmp_path)
    time.sleep(2.0)
    assert "synced" not in again.output()  # remembered: not synced a second time
    again.stop()
    target.dispose()


def test_values_back_from_json_take_their_column_type() -> None:
    """What went through JSON (a queued key, a polling position) is read back in the
    column's type; a NUMERIC position is kept as text, never a float."""
    import datetime as dt
    from decimal import Decimal

    from syncline.sources.sql import in_type

    table = sa.Table("t", sa.MetaData(), sa.Column("d", sa.Date), sa.Column("ts", sa.DateTime),
                     sa.Column("n", sa.Numeric(38, 20)), sa.Column("f", sa.Float),
                     sa.Column("s", sa.String))
    assert in_type(table.c.d, "2024-01-02") == dt.date(2024, 1, 2)
    assert in_type(table.c.ts, "2024-01-02T03:04:05.000006") == dt.datetime(
        2024, 1, 2, 3, 4, 5, 6)
    exact = "0.12345678901234567890"
    assert in_type(table.c.n, Decimal(exact)) == Decimal(exact)
    assert in_type(table.c.n, exact) == Decimal(exact)
    assert in_type(table.c.f, Decimal("1.5")) == 1.5
    assert in_type(table.c.s, "2024-01-02") == "2024-01-02"  # text stays text


def test_folder_watcher_never_takes_a_copy_that_paused(tmp_path: Path,
                                                      daemons: Callable[..., Daemon]) -> None:
    """A file copied in place with a pause in the middle (whole lines so far, a final line
    break: every check of a CSV file passes) is not synced half-written: only once nothing
    has written it for --settle seconds."""
    folder = tmp_path / "exports"
    folder.mkdir()
    target_url = f"sqlite:///{tmp_path / 'shop.db'}"
    target = sa.create_engine(target_url)
    make_products(target)
    execute(target, "INSERT INTO products VALUES " + ", ".join(
        f"({i}, 'item {i}', {i})" for i in range(1, 101)))
    daemon = daemons("--watch-dir", str(folder), "--target", target_url, "--table",
                     "products", "--key", "id", "--settle", "1.5", workdir=tmp_path)
    wait_for(lambda: "started" in daemon.output(), 30, "the start", daemon)
    lines = [f"{i},item {i},{i}\n" for i in range(1, 101)]
    with open(folder / "products.csv", "w") as copy:
        copy.write("id,name,price\n" + "".join(lines[:85]))  # 85 of 100: under the guard
        copy.flush()
        time.sleep(1.0)  # the copy pauses: 20 looks of the daemon
        copy.write("".join(lines[85:]))
    wait_for(lambda: "synced products.csv" in daemon.output(), 30, "the sync", daemon)
    assert len(rows(target)) == 100  # never 85: the half file was not taken
    log = daemon.stop()
    assert log.count("synced products.csv") == 1 and "0 deleted" in log, log
    target.dispose()
