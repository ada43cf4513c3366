"""Hostile tests of the datasync daemon (RELIABILITY 23-27 and issue 13's list): duplicate
delivery, out-of-order changes, poison records, a full sync running alongside, SIGKILL and
SIGTERM of the daemon, polling, handler mode, hostile names, bad command input. Real
databases, real processes where the process matters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from datasync_support import (
    Daemon,
    applied_in,
    databases,
    execute,
    make_products,
    rows,
    status,
    wait_for,
)
from helpers import run_cli, syncline_command

PG = "postgresql"


def install(source_url: str, table: str = "products", key: str = "id") -> None:
    run_cli("datasync", "install", "--source", source_url, "--table", table, "--key", key,
            check=True)


def count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def drained(target_url: str) -> Callable[[], bool]:
    return lambda: status(target_url)["queued"] == 0


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found |= {int(p) for p in handle.read().split()}
    except OSError:
        pass
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


# -- 1. RELIABILITY 23: a change delivered twice --------------------------------------------------
def test_change_delivered_twice_is_one_apply_and_one_version(
        tmp_path: Path, request: pytest.FixtureRequest,
        daemons: Callable[..., Daemon]) -> None:
    """A change queued twice, and a crash between the watcher's queue insert and its delete
    from the change log (the change log still holds what the queue has): the second apply
    changes nothing; a versioned target gets one version row per real change, each
    transaction saying who made it (datasync, then --runas)."""
    from syncline.datasync.queue import NewChange, Queue
    from syncline.datasync.watchers import utc
    from syncline.targets import triggers

    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        run_cli("versions", "enable", "products", "--target", target_url, check=True)
        install(source_url)
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", workdir=tmp_path)
        execute(source, "INSERT INTO products VALUES (1, 'a', 1)")
        wait_for(lambda: rows(target) == [(1, "a", 1)], 30, "the insert", daemon)
        wait_for(drained(target_url), 10, "an empty queue", daemon)
        daemon.stop()
        execute(source, "UPDATE products SET price = 2 WHERE id = 1")
        # the watcher "crashed" after the queue's insert: the change log still has it
        changes = triggers.changes_table(sa.MetaData())
        with source.connect() as conn:
            logged = conn.execute(sa.select(changes)).all()
        assert len(logged) == 1
        queue = Queue(target)
        new = [NewChange("products", tuple(json.loads(r.key_json)), r.op, utc(r.changed_at))
               for r in logged]
        with target.begin() as conn:
            queue.put(conn, new + new)  # and queued twice over
        # --batch 1: each copy is its own apply (the watcher also queues the logged one)
        again = daemons("--source", source_url, "--target", target_url, "--table",
                        "products", "--runas", "alice", "--batch", "1", workdir=tmp_path)
        wait_for(lambda: rows(target) == [(1, "a", 2)], 30, "the update", again)
        wait_for(drained(target_url), 10, "an empty queue", again)
        time.sleep(0.5)
        log = again.stop()
        assert applied_in(log) == 3, log  # three copies of one change, each applied
        assert count(target, "SELECT count(*) FROM products_version") == 2
        with target.connect() as conn:
            users = [r[0] for r in conn.execute(sa.text(
                'SELECT user_id FROM "transaction" ORDER BY id'))]
        assert users == ["datasync", "alice"]


# -- 2. RELIABILITY 24: out of order ------------------------------------------------------------
def test_out_of_order_changes_end_at_the_source_state(
        tmp_path: Path, request: pytest.FixtureRequest,
        daemons: Callable[..., Daemon]) -> None:
    from syncline.datasync.queue import NewChange, Queue, now

    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        install(source_url)
        execute(source, "INSERT INTO products VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3),"
                " (5, 'e', 5)")
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--batch", "1", workdir=tmp_path)
        wait_for(lambda: rows(target) == rows(source), 30, "the first rows", daemon)
        execute(source, "DELETE FROM products WHERE id = 1")
        execute(source, "DELETE FROM products WHERE id = 2")
        execute(source, "INSERT INTO products VALUES (2, 'b again', 22)")
        execute(source, "UPDATE products SET id = 30, name = 'moved' WHERE id = 3")
        wait_for(lambda: rows(target) == rows(source), 30, "the changes", daemon)
        assert rows(target) == [(2, "b again", 22), (5, "e", 5), (30, "moved", 3)]
        daemon.stop()
        # queued in the wrong order: an update after the delete, a create before the delete
        queue = Queue(target)
        with target.begin() as conn:
            queue.put(conn, [NewChange("products", (2,), "d", now()),
                             NewChange("products", (1,), "d", now()),
                             NewChange("products", (1,), "u", now()),
                             NewChange("products", (3,), "c", now()),
                             NewChange("products", (30,), "d", now())])
        again = daemons("--source", source_url, "--target", target_url, "--table",
                        "products", "--batch", "1", workdir=tmp_path)
        wait_for(drained(target_url), 30, "an empty queue", again)
        assert rows(target) == rows(source)
        again.stop()


# -- 3. RELIABILITY 25: poison records, composite keys ------------------------------------------
def test_poison_records_die_others_flow_composite_key(
        tmp_path: Path, request: pytest.FixtureRequest,
        daemons: Callable[..., Daemon]) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        execute(source, "CREATE TABLE items (store INTEGER, code VARCHAR(20), name"
                " VARCHAR(20), price INTEGER, PRIMARY KEY (store, code))")
        execute(target, "CREATE TABLE items (store INTEGER, code VARCHAR(20), name"
                " VARCHAR(20) NOT NULL UNIQUE, price INTEGER CHECK (price >= 0),"
                " PRIMARY KEY (store, code))")
        execute(target, "INSERT INTO items VALUES (9, 'z', 'taken', 1)")
        install(source_url, "items", "store,code")
        daemon = daemons("--source", source_url, "--target", target_url, "--table", "items",
                         "--max-tries", "3", workdir=tmp_path)
        execute(source, "INSERT INTO items VALUES (1, 'it''s ü', 'ok', 1),"
                " (1, 'null', NULL, 1), (2, 'dup', 'taken', 1), (2, 'neg', 'neg', -1),"
                " (3, 'ok', 'fine', 3)")
        wait_for(lambda: status(target_url)["dead"] == 3, 40, "three dead letters", daemon)
        with target.connect() as conn:
            got = sorted(tuple(r) for r in conn.execute(sa.text(
                "SELECT store, code, name, price FROM items")))
        assert got == [(1, "it's ü", "ok", 1), (3, "ok", "fine", 3), (9, "z", "taken", 1)]
        execute(source, "INSERT INTO items VALUES (4, 'later', 'later', 4)")
        wait_for(lambda: count(target, "SELECT count(*) FROM items") == 4, 30,
                 "the next change", daemon)
        from syncline.datasync.queue import Queue

        dead = Queue(target).dead_letters()
        keys = sorted(tuple(json.loads(d["key_json"])) for d in dead)
        assert keys == [(1, "null"), (2, "dup"), (2, "neg")]
        assert all(d["tries"] == 3 and d["error"] for d in dead)
        errors = {tuple(json.loads(d["key_json"])): d["error"] for d in dead}
        assert "null value" in errors[(1, "null")]
        assert "23514" in errors[(2, "neg")] or "check" in errors[(2, "neg")].lower()
        # a unique violation on a NON-key column is a refusal of that row, named as such
        # (it was reported as a key race, "another session inserted them", and blocked the
        # queue as "unreachable")
        assert "refused" in errors[(2, "dup")] and "another session" not in errors[(2, "dup")]
        log = daemon.stop()
        assert "will be retried" in log  # tried again before it died


# -- 4. RELIABILITY 27: changes while the first full sync runs ----------------------------------
def test_changes_during_the_first_full_sync(tmp_path: Path, request: pytest.FixtureRequest,
                                            daemons: Callable[..., Daemon]) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        execute(source, "INSERT INTO products SELECT g, 'n' || g, g FROM"
                " generate_series(1, 3000) g")
        install(source_url)
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--batch", "50", workdir=tmp_path)
        env = {**os.environ}
        sync = subprocess.Popen(
            [*syncline_command(), "sync", source_url, target_url, "--table", "products",
             "--key", "id", "--source-table", "products"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        for i in range(1, 200):
            execute(source, "UPDATE products SET price = price + 1000 WHERE id = :i",
                    {"i": i * 7})
            if i % 10 == 0:
                execute(source, "DELETE FROM products WHERE id = :i", {"i": i * 13})
                execute(source, "INSERT INTO products VALUES (:i, 'late', 1)",
                        {"i": 10000 + i})
        out, _ = sync.communicate(timeout=120)
        assert sync.returncode == 0, out
        wait_for(lambda: rows(target) == rows(source), 60, "target equals source", daemon)
        wait_for(drained(target_url), 20, "an empty queue", daemon)
        assert status(target_url)["dead"] == 0
        daemon.stop()


# -- 5. SIGKILL of the daemon with two consumers --------------------------------------------------
def test_sigkill_of_the_daemon_with_two_consumers(tmp_path: Path,
                                                  request: pytest.FixtureRequest,
                                                  daemons: Callable[..., Daemon]) -> None:
    """The parent SIGKILLed at several moments while changes pour in: its consumer
    processes stop by themselves; a restart with a short lease loses nothing."""
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        install(source_url)
        writing = threading.Event()
        writing.set()
        written = [0]

        def writer() -> None:
            i = 0
            while writing.is_set():
                i += 1
                execute(source, "INSERT INTO products VALUES (:i, 'w', :i)", {"i": i})
                if i % 3 == 0:
                    execute(source, "UPDATE products SET price = -price WHERE id = :j",
                            {"j": i - 1})
                if i % 5 == 0:
                    execute(source, "DELETE FROM products WHERE id = :j", {"j": i - 4})
                written[0] = i
                time.sleep(0.005)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            for moment in (0.8, 1.5, 2.2):
                daemon = daemons("--source", source_url, "--target", target_url, "--table",
                                 "products", "--consumers", "2", "--batch", "7", "--lease",
                                 "1", workdir=tmp_path)
                pid = daemon.proc.pid
                wait_for(lambda: len(children_of(pid)) >= 1, 20,  # noqa: B023
                         "a consumer process", daemon)
                time.sleep(moment)
                kids = children_of(daemon.proc.pid)
                daemon.proc.kill()
                daemon.proc.wait(timeout=10)
                deadline = time.monotonic() + 15
                while any(alive(k) for k in kids) and time.monotonic() < deadline:
                    time.sleep(0.1)
                left = [k for k in kids if alive(k)]
                for k in left:
                    os.kill(k, signal.SIGKILL)
                assert not left, f"consumer processes outlived their daemon: {left}"
        finally:
            writing.clear()
            thread.join()
        last = daemons("--source", source_url, "--target", target_url, "--table",
                       "products", "--consumers", "2", "--lease", "1", workdir=tmp_path)
        wait_for(lambda: rows(target) == rows(source), 60, "target equals source", last)
        wait_for(drained(target_url), 20, "an empty queue", last)
        assert status(target_url)["dead"] == 0
        assert written[0] > 50
        last.stop()
        # the SIGKILLed parents cannot mark themselves stopped: they count as alive until
        # 30 s after their last beat (documented: "seen in the last 30 s"); the children
        # that stopped by themselves and the last daemon's processes are not alive
        assert status(target_url)["consumers_alive"] <= 3


# -- 6. SIGTERM while a batch is in hand -------------------------------------------------------
def test_sigterm_mid_batch_finishes_it(tmp_path: Path, request: pytest.FixtureRequest,
                                       daemons: Callable[..., Daemon]) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        install(source_url)
        execute(source, "INSERT INTO products VALUES (1, 'a', 1), (2, 'b', 2)")
        pause = tmp_path / "paused.pid"
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--consumers", "2", workdir=tmp_path,
                         env={"SYNCLINE_TEST_PAUSE_AT": "before_commit",
                              "SYNCLINE_TEST_PAUSE_FILE": str(pause),
                              "SYNCLINE_TEST_PAUSE_SECONDS": "2"})
        wait_for(lambda: pause.exists() and bool(pause.read_text()), 30, "the pause", daemon)
        paused = int(pause.read_text())
        if paused != daemon.proc.pid:  # a child holds the batch: stopping the daemon
            pass                        # SIGTERMs it; it must still finish the batch
        started = time.monotonic()
        log = daemon.stop()
        assert time.monotonic() - started < 30
        assert rows(target) == [(1, "a", 1), (2, "b", 2)], log
        assert status(target_url)["queued"] == 0
        assert status(target_url)["consumers_alive"] == 0, status(target_url)
        assert "Traceback" not in log, log


# -- 7. polling -----------------------------------------------------------------------------
def make_stamped(engine: sa.Engine) -> None:
    execute(engine, "CREATE TABLE products (id INTEGER PRIMARY KEY, name VARCHAR(50),"
            " price INTEGER, updated_at TIMESTAMP NOT NULL)")


def test_polling_carries_changes_deletes_and_keeps_its_position(
        tmp_path: Path, request: pytest.FixtureRequest,
        daemons: Callable[..., Daemon]) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_stamped(source)
        make_stamped(target)
        execute(source, "INSERT INTO products SELECT g, 'n', g, TIMESTAMP '2026-01-01'"
                " + g * INTERVAL '1 second' FROM generate_series(1, 20) g")
        args = ("--source", source_url, "--target", target_url, "--table", "products",
                "--since-column", "updated_at", "--key", "id", "--delete-check", "1")
        daemon = daemons(*args, workdir=tmp_path)
        with_stamp = "SELECT id, name, price FROM products ORDER BY id"

        def same() -> bool:
            with source.connect() as s, target.connect() as t:
                return (list(s.execute(sa.text(with_stamp)))
                        == list(t.execute(sa.text(with_stamp))))

        wait_for(same, 30, "the first rows", daemon)
        execute(source, "UPDATE products SET name = 'changed', updated_at ="
                " TIMESTAMP '2026-02-01' WHERE id IN (3, 4)")
        execute(source, "DELETE FROM products WHERE id = 5")
        wait_for(same, 30, "the update and the delete", daemon)
        first = daemon.stop()
        assert applied_in(first) >= 20
        execute(source, "INSERT INTO products VALUES (21, 'new', 21, TIMESTAMP '2026-03-01')")
        again = daemons(*args, workdir=tmp_path)
        wait_for(same, 30, "the row written while stopped", again)
        wait_for(drained(target_url), 10, "an empty queue", again)
        second = again.stop()
        assert applied_in(second) == 1, second  # not everything again


def test_polling_rows_sharing_one_timestamp_across_batches(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """One bulk UPDATE stamps many rows with the same updated_at (PostgreSQL's now() is
    the transaction's start): more of them than a watcher batch must all be carried."""
    from syncline.datasync.queue import Queue
    from syncline.datasync.watchers import PollingWatcher

    with databases(PG, tmp_path, request) as (_, source, _, target):
        make_stamped(source)
        make_stamped(target)
        execute(source, "INSERT INTO products SELECT g, 'n', g, TIMESTAMP '2026-01-01'"
                " + (g / 4) * INTERVAL '1 second' FROM generate_series(1, 7) g")
        execute(source, "INSERT INTO products SELECT g, 'bulk', g, TIMESTAMP '2026-01-02'"
                " FROM generate_series(100, 112) g")
        queue = Queue(target)
        queue.create()
        watcher = PollingWatcher(source, queue, "products", ("id",), "updated_at",
                                 [("products", "products", ("id",))], batch=5,
                                 delete_check=3600)
        for _ in range(20):
            if not watcher.move():
                break
        with target.connect() as conn:
            queued = sorted(json.loads(k)[0] for (k,) in conn.execute(sa.text(
                "SELECT key_json FROM syncline_datasync_queue")))
        assert sorted(set(queued)) == [*range(1, 8), *range(100, 113)]


# -- 8. handler mode ----------------------------------------------------------------------------
HANDLER = '''
from syncline import Handler, Importer


class Products(Importer):
    table = "products"
    key = ("id",)

    def normalize_source(self, record):
        record["name"] = record["name"].upper()
        return record


class Catalog(Importer):
    table = "catalog"
    source_table = "products"
    key = ("id",)


class Shop(Handler):
    name = "attack-shop"
    importers = (Products, Catalog)


class ByName(Importer):
    table = "products"
    key = ("name",)


class WrongKey(Handler):
    name = "attack-wrong-key"
    importers = (ByName,)
'''


def handler_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "attack_shop.py").write_text(HANDLER)
    paths = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths)}


def test_handler_mode_applies_the_hook(tmp_path: Path, request: pytest.FixtureRequest,
                                       daemons: Callable[..., Daemon]) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        execute(target, "CREATE TABLE catalog (id INTEGER PRIMARY KEY, name VARCHAR(50),"
                " price INTEGER)")
        install(source_url)
        env = handler_env(tmp_path)
        daemon = daemons("--source", source_url, "--target", target_url, "--handler",
                         "attack_shop:Shop", workdir=tmp_path, env=env)
        execute(source, "INSERT INTO products VALUES (1, 'apple', 1), (2, 'pear', 2)")
        execute(source, "UPDATE products SET name = 'green apple' WHERE id = 1")
        execute(source, "DELETE FROM products WHERE id = 2")
        wait_for(lambda: rows(target) == [(1, "GREEN APPLE", 1)], 30, "the hook's values",
                 daemon)
        # a second model reading the same watched table (source_table != table)
        wait_for(lambda: rows(target, "catalog") == [(1, "green apple", 1)], 30,
                 "the second model", daemon)
        daemon.stop()


def test_handler_whose_key_is_not_the_watched_key_is_refused(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        install(source_url)
        ran = subprocess.run(
            [*syncline_command(), "datasync", "run", "--source", source_url, "--target",
             target_url, "--handler", "attack_shop:WrongKey"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, **handler_env(tmp_path)})
        assert ran.returncode != 0
        assert "Traceback" not in ran.stderr
        assert "reinstall the triggers" in ran.stderr and "(name)" in ran.stderr, ran.stderr


# -- 9. hostile names and sizes -------------------------------------------------------------------
def test_hostile_table_name_and_key_values(tmp_path: Path, request: pytest.FixtureRequest,
                                           daemons: Callable[..., Daemon]) -> None:
    table = "My Products"
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        for engine in (source, target):
            execute(engine, 'CREATE TABLE "My Products" ("Code" VARCHAR(40) PRIMARY KEY,'
                    ' "Name" VARCHAR(40))')
        install(source_url, table, "Code")
        daemon = daemons("--source", source_url, "--target", target_url, "--table", table,
                         workdir=tmp_path)
        hostile = ["it's", 'say "hi"', "ünïcødé ✓", "back\\slash", "[1,2]", "%s :x"]
        for i, code in enumerate(hostile):
            execute(source, 'INSERT INTO "My Products" VALUES (:c, :n)',
                    {"c": code, "n": f"n{i}"})
        execute(source, """UPDATE "My Products" SET "Name" = 'changed' WHERE "Code" = 'it''s'""")
        execute(source, """DELETE FROM "My Products" WHERE "Code" = '[1,2]'""")
        query = 'SELECT "Code", "Name" FROM "My Products" ORDER BY "Code"'

        def same() -> bool:
            with source.connect() as s, target.connect() as t:
                return list(s.execute(sa.text(query))) == list(t.execute(sa.text(query)))

        wait_for(same, 30, "the hostile keys", daemon)
        wait_for(drained(target_url), 10, "an empty queue", daemon)
        assert status(target_url)["dead"] == 0
        daemon.stop()


def test_null_key_is_refused_or_dead_not_silently_lost(
        tmp_path: Path, request: pytest.FixtureRequest,
        daemons: Callable[..., Daemon]) -> None:
    """A key column without NOT NULL (a UNIQUE one): a row with a NULL key cannot be
    carried; it must end as a dead letter with its error, not vanish, and others flow."""
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        for engine in (source, target):
            execute(engine, "CREATE TABLE products (id INTEGER UNIQUE, name VARCHAR(50),"
                    " price INTEGER)")
        install(source_url)
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--max-tries", "1", workdir=tmp_path)
        execute(source, "INSERT INTO products VALUES (NULL, 'nokey', 1), (2, 'b', 2)")
        wait_for(lambda: rows(target) == [(2, "b", 2)], 30, "the good row", daemon)
        wait_for(lambda: status(target_url)["queued"] == 0, 30, "an empty queue", daemon)
        found = status(target_url)
        log = daemon.stop()
        assert found["dead"] == 1, log


def test_five_thousand_changes_in_one_transaction(tmp_path: Path,
                                                  request: pytest.FixtureRequest,
                                                  daemons: Callable[..., Daemon]) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        install(source_url)
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", workdir=tmp_path)
        execute(source, "INSERT INTO products SELECT g, 'n' || g, g FROM"
                " generate_series(1, 5000) g")
        wait_for(lambda: count(target, "SELECT count(*) FROM products") == 5000, 60,
                 "5,000 rows", daemon)
        execute(source, "UPDATE products SET price = price + 1")  # 5,000 more at once
        wait_for(lambda: rows(target) == rows(source), 60, "5,000 updates", daemon)
        execute(source, "UPDATE products SET id = id + 100000")  # 5,000 keys changed
        wait_for(lambda: rows(target) == rows(source), 60, "5,000 keys moved", daemon)
        wait_for(drained(target_url), 10, "an empty queue", daemon)
        log = daemon.stop()
        assert applied_in(log) == 20000, log[-2000:]


# -- 10. bad input to the commands ----------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*syncline_command(), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ})


def clean_failure(ran: subprocess.CompletedProcess[str], *words: str) -> None:
    text = ran.stdout + ran.stderr
    assert ran.returncode not in (0, None), text
    assert "Traceback" not in text, text
    assert "sekret" not in text, text
    for word in words:
        assert word in text, text


def test_bad_input_to_the_commands(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        # run on a table not installed
        clean_failure(cli("datasync", "run", "--source", source_url, "--target", target_url,
                          "--table", "products"), "not watched", "install")
        # install on a table that does not exist
        clean_failure(cli("datasync", "install", "--source", source_url, "--table",
                          "nosuch", "--key", "id"), "nosuch")
        # install with a key column the table lacks
        clean_failure(cli("datasync", "install", "--source", source_url, "--table",
                          "products", "--key", "nope"), "nope")
        install(source_url)
        # a wrong target URL: password masked, no traceback
        bad = "postgresql://postgres:sekret@127.0.0.1:1/none"
        clean_failure(cli("datasync", "status", "--target", bad))
        clean_failure(cli("datasync", "status", "--target", bad, "--json"))
        clean_failure(cli("datasync", "run", "--source", source_url, "--target", bad,
                          "--table", "products"))
        clean_failure(cli("datasync", "run", "--source", bad, "--target", target_url,
                          "--table", "products"))
        clean_failure(cli("datasync", "run", "--source", "notaurl", "--target", target_url,
                          "--table", "products"))
        # polling on a column or a table that is not there
        clean_failure(cli("datasync", "run", "--source", source_url, "--target", target_url,
                          "--table", "products", "--since-column", "nope", "--key", "id"),
                      "nope")
        clean_failure(cli("datasync", "run", "--source", source_url, "--target", target_url,
                          "--table", "nosuch", "--since-column", "price", "--key", "id"),
                      "nosuch")
        # retry with unknown ids: says so, exit non-zero
        ran = cli("datasync", "retry", "424242", "--target", target_url)
        clean_failure(ran, "424242")
        # purge --before notadate
        clean_failure(cli("datasync", "purge", "--dead", "--before", "notadate", "--target",
                          target_url), "notadate")


# -- typed keys: the key goes through JSON and back ---------------------------------------------
@pytest.mark.parametrize("column, values", [
    ("UUID", ["0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"]),
    ("DATE", ["2026-01-02", "2026-03-04"]),
    ("TIMESTAMP", ["2026-01-02 03:04:05.123456", "2026-03-04 00:00:00"]),
    ("NUMERIC(10,2)", ["1.50", "2.00"]),
])
def test_typed_keys(column: str, values: list[str], tmp_path: Path,
                    request: pytest.FixtureRequest, daemons: Callable[..., Daemon]) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        for engine in (source, target):
            execute(engine, f"CREATE TABLE products (k {column} PRIMARY KEY, name TEXT)")
        install(source_url, key="k")
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--max-tries", "1", workdir=tmp_path)
        for i, value in enumerate(values):
            execute(source, f"INSERT INTO products VALUES (CAST(:v AS {column}), :n)",
                    {"v": value, "n": f"n{i}"})
        execute(source, f"UPDATE products SET name = 'changed' WHERE k = CAST(:v AS"
                f" {column})", {"v": values[0]})
        execute(source, f"DELETE FROM products WHERE k = CAST(:v AS {column})",
                {"v": values[1]})
        query = "SELECT k, name FROM products ORDER BY k"

        def same() -> bool:
            with source.connect() as s, target.connect() as t:
                return list(s.execute(sa.text(query))) == list(t.execute(sa.text(query)))

        wait_for(lambda: count(source, "SELECT count(*) FROM syncline_changes") == 0, 30,
                 "the change log carried", daemon)
        wait_for(lambda: status(target_url)["queued"] == 0, 30, "an empty queue", daemon)
        log = daemon.stop()
        assert status(target_url)["dead"] == 0, log
        assert same(), log


# -- MariaDB: a case-insensitive key changed only in case; a DATETIME key ------------------------
def test_mariadb_key_changed_in_case_and_datetime_key(
        tmp_path: Path, request: pytest.FixtureRequest,
        daemons: Callable[..., Daemon]) -> None:
    with databases("mysql", tmp_path, request) as (source_url, source, target_url, target):
        for engine in (source, target):
            execute(engine, "CREATE TABLE products (code VARCHAR(20) PRIMARY KEY,"
                    " name VARCHAR(20))")
            execute(engine, "CREATE TABLE stamps (at DATETIME(6) PRIMARY KEY,"
                    " name VARCHAR(20))")
        install(source_url, "products", "code")
        install(source_url, "stamps", "at")
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--table", "stamps", "--max-tries", "1",
                         workdir=tmp_path)
        execute(source, "INSERT INTO products VALUES ('abc', 'x'), ('keep', 'k')")
        execute(source, "INSERT INTO stamps VALUES ('2026-01-02 03:04:05.123456', 'a'),"
                " ('2026-01-03 00:00:00', 'b')")
        wait_for(lambda: count(target, "SELECT count(*) FROM products") == 2
                 and count(target, "SELECT count(*) FROM stamps") == 2, 30, "the rows",
                 daemon)
        execute(source, "UPDATE products SET code = 'ABC' WHERE code = 'abc'")
        execute(source, "UPDATE stamps SET name = 'changed' WHERE name = 'a'")
        execute(source, "DELETE FROM stamps WHERE name = 'b'")
        wait_for(lambda: count(source, "SELECT count(*) FROM syncline_changes") == 0, 30,
                 "the change log carried", daemon)
        wait_for(drained(target_url), 30, "an empty queue", daemon)
        log = daemon.stop()
        assert status(target_url)["dead"] == 0, log
        with target.connect() as conn:
            assert list(conn.execute(sa.text(
                "SELECT BINARY code, name FROM products ORDER BY code"))) == [
                (b"ABC", "x"), (b"keep", "k")], log
            assert [tuple(r) for r in conn.execute(sa.text(
                "SELECT name FROM stamps"))] == [("changed",)], log


def test_polling_row_written_later_with_the_position_value(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A since column of whole seconds (MariaDB's DATETIME, a date column): a row written
    after a look, in the same second as the position, holds the position's value itself.
    It must be carried by the next look, and rows already carried not queued again."""
    from syncline.datasync.queue import Queue
    from syncline.datasync.watchers import PollingWatcher

    with databases(PG, tmp_path, request) as (_, source, _, target):
        make_stamped(source)
        make_stamped(target)
        execute(source, "INSERT INTO products VALUES (1, 'a', 1, TIMESTAMP '2026-01-01')")
        queue = Queue(target)
        queue.create()
        watcher = PollingWatcher(source, queue, "products", ("id",), "updated_at",
                                 [("products", "products", ("id",))], delete_check=3600)
        assert watcher.move() == 1
        execute(source, "INSERT INTO products VALUES (2, 'b', 2, TIMESTAMP '2026-01-01')")
        watcher.move()
        assert watcher.move() == 0  # nothing new: nothing queued again
        with target.connect() as conn:
            queued = sorted(json.loads(k)[0] for (k,) in conn.execute(sa.text(
                "SELECT key_json FROM syncline_datasync_queue")))
        assert queued == [1, 2]


def test_full_sync_while_a_batch_holds_the_table_is_not_refused(
        tmp_path: Path, request: pytest.FixtureRequest,
        daemons: Callable[..., Daemon]) -> None:
    """A full sync that starts while a datasync batch holds the table: refused at once
    (exit 5, row 17) without --lock-wait, waits for the batch and runs with it."""
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        install(source_url)
        pause = tmp_path / "paused.pid"
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", workdir=tmp_path,
                         env={"SYNCLINE_TEST_PAUSE_AT": "before_commit",
                              "SYNCLINE_TEST_PAUSE_FILE": str(pause),
                              "SYNCLINE_TEST_PAUSE_SECONDS": "3"})
        execute(source, "INSERT INTO products VALUES (1, 'a', 1)")
        wait_for(lambda: pause.exists() and bool(pause.read_text()), 30, "the pause", daemon)
        argv = [*syncline_command(), "sync", source_url, target_url, "--table", "products",
                "--key", "id", "--source-table", "products"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCLINE_TEST")}
        refused = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
        assert refused.returncode == 5, refused.stderr  # the batch holds the table
        ran = subprocess.run([*argv, "--lock-wait", "30"], capture_output=True, text=True,
                             timeout=60, env=env)
        wait_for(lambda: rows(target) == rows(source), 30, "target equals source", daemon)
        daemon.stop()
        assert ran.returncode == 0, ran.stderr


def test_a_consumer_process_that_dies_is_replaced(tmp_path: Path,
                                                  request: pytest.FixtureRequest,
                                                  daemons: Callable[..., Daemon]) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        install(source_url)
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--consumers", "3", "--lease", "1", workdir=tmp_path)
        wait_for(lambda: len(children_of(daemon.proc.pid)) >= 2, 20, "two children", daemon)
        first = children_of(daemon.proc.pid)
        for kid in first:
            os.kill(kid, signal.SIGKILL)
        wait_for(lambda: len(children_of(daemon.proc.pid) - first) >= 2, 20,
                 "two new children", daemon)
        execute(source, "INSERT INTO products SELECT g, 'n', g FROM generate_series(1, 50) g")
        wait_for(lambda: rows(target) == rows(source), 30, "target equals source", daemon)
        log = daemon.stop()
        assert "starting another" in log
        assert not any(alive(k) for k in children_of(daemon.proc.pid))


def test_listening_connection_lost_is_survived(tmp_path: Path,
                                               request: pytest.FixtureRequest,
                                               daemons: Callable[..., Daemon]) -> None:
    """PostgreSQL: the daemon's LISTEN connection to the source is killed (a source restart,
    a failover, an idle-connection reaper): the daemon keeps carrying changes."""
    import uuid

    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        install(source_url)
        name = f"attack_{uuid.uuid4().hex[:10]}"
        named = sa.make_url(source_url).update_query_dict({"application_name": name})
        daemon = daemons("--source", named.render_as_string(hide_password=False),
                         "--target", target_url, "--table", "products", workdir=tmp_path)
        execute(source, "INSERT INTO products VALUES (1, 'a', 1)")
        wait_for(lambda: len(rows(target)) == 1, 30, "the first change", daemon)
        killed = count(source, "SELECT count(pg_terminate_backend(pid)) FROM"
                       f" pg_stat_activity WHERE application_name = '{name}'"
                       " AND query LIKE 'LISTEN%'")
        assert killed == 1
        time.sleep(0.5)
        execute(source, "INSERT INTO products VALUES (2, 'b', 2)")
        wait_for(lambda: len(rows(target)) == 2, 30, "the change after the loss", daemon)
        assert "Traceback" not in daemon.output()
        daemon.stop()


KEY_HOOK = '''
from syncline import Handler, Importer


class Codes(Importer):
    table = "codes"
    key = ("code",)

    def normalize_source(self, record):
        record["code"] = record["code"].strip().upper()  # the target keeps codes tidy
        return record


class Tidy(Handler):
    name = "attack-tidy"
    importers = (Codes,)
'''


def test_hook_that_rewrites_the_key_fails_loudly(
        tmp_path: Path, request: pytest.FixtureRequest,
        daemons: Callable[..., Daemon]) -> None:
    """A normalize_source hook that rewrites the key value (source 'abc', target 'ABC')
    cannot be applied by key: each such record goes to the dead letters with an error that
    says so — never completed off the queue with nothing written (it was, silently)."""
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        for engine in (source, target):
            execute(engine, "CREATE TABLE codes (code VARCHAR(20) PRIMARY KEY, name TEXT)")
        install(source_url, "codes", "code")
        (tmp_path / "attack_tidy.py").write_text(KEY_HOOK)
        env = {"PYTHONPATH": os.pathsep.join(
            [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
        daemon = daemons("--source", source_url, "--target", target_url, "--handler",
                         "attack_tidy:Tidy", "--max-tries", "1", workdir=tmp_path, env=env)
        wait_for(lambda: "started" in daemon.output(), 30, "the start", daemon)
        execute(source, "INSERT INTO codes VALUES ('abc', 'x'), ('def', 'y')")
        wait_for(lambda: count(target, "SELECT count(*) FROM syncline_datasync_dead") == 2,
                 30, "two dead letters", daemon)
        log = daemon.stop()
        assert "a hook that changes the key cannot be applied by key" in log, log
        assert count(target, "SELECT count(*) FROM codes") == 0


def test_sqlite_with_two_consumers(tmp_path: Path, request: pytest.FixtureRequest,
                                   daemons: Callable[..., Daemon]) -> None:
    """SQLite has no row locks (docs: one consumer): --consumers 2 must still lose and
    double nothing."""
    with databases("sqlite", tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        install(source_url)
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--consumers", "2", "--batch", "10", workdir=tmp_path)
        for i in range(60):
            execute(source, "INSERT INTO products VALUES (:i, 'n', :i)", {"i": i})
        execute(source, "UPDATE products SET price = price * 2")
        wait_for(lambda: rows(target) == rows(source), 40, "target equals source", daemon)
        wait_for(drained(target_url), 20, "an empty queue", daemon)
        log = daemon.stop()
        assert status(target_url)["dead"] == 0, log


def test_a_batch_taken_over_is_not_counted_as_failed(tmp_path: Path) -> None:
    """A consumer whose lease expired and whose batch another consumer took over: its
    apply rolls back (compare-and-set); it must not bisect the batch, re-applying each
    half, nor log the records as failed and 'will be retried'."""
    from syncline import Handler, Importer
    from syncline.datasync.consumer import Consumer, Settings
    from syncline.datasync.queue import NewChange, Queue, now

    source_url, target_url = (f"sqlite:///{tmp_path / 's.db'}",
                              f"sqlite:///{tmp_path / 't.db'}")
    source, target = sa.create_engine(source_url), sa.create_engine(target_url)
    try:
        make_products(source)
        make_products(target)
        execute(source, "INSERT INTO products VALUES (1, 'a', 1), (2, 'b', 2)")
        queue = Queue(target)
        queue.create()
        with target.begin() as conn:
            queue.put(conn, [NewChange("products", (1,), "c", now()),
                             NewChange("products", (2,), "c", now())])
        logged: list[str] = []
        handler = Handler(source_url=source_url, target_url=target_url,
                          importers=[Importer(table="products", key=("id",))],
                          name="attack")
        consumer = Consumer(handler, queue, {"products": ("id",)}, Settings(lease=0.001),
                            logged.append)
        mine = queue.claim(consumer.name, 10, 0.001)
        time.sleep(0.01)
        assert len(queue.claim("other", 10, 60.0)) == 2
        consumer._apply("products", mine)
        assert rows(target) == []  # rolled back: the other consumer applies them
        assert consumer.counts.retried == 0 and consumer.counts.dead == 0, logged
        assert not any("failed" in line for line in logged), logged
        with target.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*), max(tries) FROM"
                                        " syncline_datasync_queue")).one() == (2, 0)
    finally:
        source.dispose()
        target.dispose()


@pytest.mark.parametrize("table", [
    'Prix 100% "top"',  # a '%' stays one '%' in the trigger DDL (was doubled)
    'Capital "Quoted" Name', "x" * 63, "it's.dotted"])
def test_hostile_table_names(table: str, tmp_path: Path, request: pytest.FixtureRequest,
                             daemons: Callable[..., Daemon]) -> None:
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        quoted = '"' + table.replace('"', '""') + '"'
        for engine in (source, target):
            execute(engine, f"CREATE TABLE {quoted} (id INTEGER PRIMARY KEY, name TEXT)")
        install(source_url, table, "id")
        daemon = daemons("--source", source_url, "--target", target_url, "--table", table,
                         workdir=tmp_path)
        execute(source, f"INSERT INTO {quoted} VALUES (1, 'a'), (2, 'b')")
        execute(source, f"UPDATE {quoted} SET name = 'c' WHERE id = 1")
        execute(source, f"DELETE FROM {quoted} WHERE id = 2")

        def got() -> list[tuple[int, str]]:
            with target.connect() as conn:
                return [(r[0], r[1]) for r in conn.execute(sa.text(
                    f"SELECT id, name FROM {quoted} ORDER BY id"))]

        wait_for(lambda: got() == [(1, "c")], 30, "the changes", daemon)
        daemon.stop()
        run_cli("datasync", "uninstall", "--source", source_url, "--table", table,
                check=True)


def test_sigkill_after_commit_is_not_applied_again(tmp_path: Path,
                                                  request: pytest.FixtureRequest,
                                                  daemons: Callable[..., Daemon]) -> None:
    """SIGKILL right after a batch committed: its changes left the queue in that commit;
    the restarted daemon does not apply them again (one version row each)."""
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_products(source)
        make_products(target)
        run_cli("versions", "enable", "products", "--target", target_url, check=True)
        install(source_url)
        execute(source, "INSERT INTO products VALUES (1, 'a', 1), (2, 'b', 2)")
        pause = tmp_path / "paused.pid"
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", workdir=tmp_path,
                         env={"SYNCLINE_TEST_PAUSE_AT": "after_commit",
                              "SYNCLINE_TEST_PAUSE_FILE": str(pause)})
        wait_for(lambda: pause.exists() and bool(pause.read_text()), 30, "the pause", daemon)
        daemon.proc.kill()
        daemon.proc.wait(timeout=10)
        assert rows(target) == rows(source)
        assert status(target_url)["queued"] == 0
        again = daemons("--source", source_url, "--target", target_url, "--table",
                        "products", workdir=tmp_path)
        execute(source, "UPDATE products SET price = 3 WHERE id = 1")
        wait_for(lambda: rows(target) == rows(source), 30, "the next change", again)
        again.stop()
        assert count(target, "SELECT count(*) FROM products_version") == 3
        assert count(target, 'SELECT count(*) FROM "transaction"') == 2


def test_polling_delete_check_keeps_the_mass_delete_guard(
        tmp_path: Path, request: pytest.FixtureRequest,
        daemons: Callable[..., Daemon]) -> None:
    """Polling's deletes are inferred from a comparison of keys, not logged by the source:
    an emptied source (a truncate, a reload caught half-way) must not empty the target,
    although the consumers run with --allow-mass-delete."""
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        make_stamped(source)
        make_stamped(target)
        execute(source, "INSERT INTO products SELECT g, 'n', g, TIMESTAMP '2026-01-01'"
                " FROM generate_series(1, 30) g")
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", "--since-column", "updated_at", "--key", "id",
                         "--delete-check", "1", workdir=tmp_path)
        wait_for(lambda: count(target, "SELECT count(*) FROM products") == 30, 30,
                 "the rows", daemon)
        execute(source, "DELETE FROM products")
        wait_for(lambda: "mass-delete guard" in daemon.output(), 30, "the refusal", daemon)
        wait_for(drained(target_url), 10, "an empty queue", daemon)
        daemon.stop()
        assert count(target, "SELECT count(*) FROM products") == 30


def test_high_precision_numeric_key(tmp_path: Path, request: pytest.FixtureRequest,
                                    daemons: Callable[..., Daemon]) -> None:
    """A NUMERIC key with more digits than a float holds goes through the queue's JSON."""
    with databases(PG, tmp_path, request) as (source_url, source, target_url, target):
        for engine in (source, target):
            execute(engine, "CREATE TABLE products (k NUMERIC(38,20) PRIMARY KEY, name TEXT)")
        install(source_url, key="k")
        daemon = daemons("--source", source_url, "--target", target_url, "--table",
                         "products", workdir=tmp_path)
        execute(source, "INSERT INTO products VALUES (1.00000000000000000001, 'a')")
        wait_for(lambda: count(source, "SELECT count(*) FROM syncline_changes") == 0, 30,
                 "the change log carried", daemon)
        wait_for(drained(target_url), 30, "an empty queue", daemon)
        log = daemon.stop()
        assert count(target, "SELECT count(*) FROM products") == 1, log
