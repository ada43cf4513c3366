"""The datasync queue in a Redis stream (``--queue redis://...``; docs/datasync.md, "Redis
Streams as the queue"): RedisQueue against a real Redis, and the daemon end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import REQUIRE_SERVERS
from helpers import run_cli, syncline_command

redis = pytest.importorskip("redis")

from syncline.datasync.queue import Change, NewChange, now  # noqa: E402
from syncline.datasync.redis_queue import RedisQueue  # noqa: E402
from syncline.errors import QueueError  # noqa: E402

REDIS_URL = os.environ.get("SYNCLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # any connection failure means: no server here
        message = f"Redis server not reachable at {REDIS_URL}: {type(exc).__name__}: {exc}"
        if REQUIRE_SERVERS:
            pytest.fail(message + " (SYNCLINE_REQUIRE_SERVERS is set)")
        pytest.skip(message)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def stream(redis_url: str) -> Iterator[str]:
    """A stream name of this test's own; its keys are deleted afterwards."""
    name = f"syncline-test:{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name, f"{name}:delayed", f"{name}:dead", f"{name}:consumers")
    client.close()


@pytest.fixture
def queue(redis_url: str, stream: str) -> Iterator[RedisQueue]:
    q = RedisQueue(f"{redis_url}?stream={stream}")
    q.create()
    q.create()  # twice: the group exists, nothing happens
    yield q
    q.close()


def new(model: str, *keys: int) -> list[NewChange]:
    return [NewChange(model, (k,), "u", now()) for k in keys]


def keys(changes: list[Change]) -> list[int]:
    return [c.key[0] for c in changes]


def test_claim_and_complete_after_commit(queue: RedisQueue, tmp_path: Path) -> None:
    queue.put(None, new("products", 1, 2, 3))
    claimed = queue.claim("a", 2, 60)
    assert keys(claimed) == [1, 2]
    assert keys(queue.claim("b", 10, 60)) == [3]  # a's are not b's
    assert queue.claim("b", 10, 60) == []
    engine = sa.create_engine(f"sqlite:///{tmp_path / 't.db'}")
    try:
        with engine.begin() as conn:
            queue.complete(conn, "a", claimed)  # checks they are a's, acks nothing yet
        assert queue.status()["queued"] == 3
        queue.committed("a", claimed)
    finally:
        engine.dispose()
    found = queue.status()
    assert found["queued"] == 1
    assert found["models"]["products"]["queued"] == 1


def test_lease_expired_is_taken_over(queue: RedisQueue) -> None:
    queue.put(None, new("products", 1, 2))
    claimed = queue.claim("dead", 10, 0.2)
    assert keys(claimed) == [1, 2]
    assert queue.claim("alive", 10, 0.2) == []  # the lease holds
    time.sleep(0.3)
    taken = queue.claim("alive", 10, 0.2)  # XAUTOCLAIM
    assert keys(taken) == [1, 2]
    with pytest.raises(QueueError, match="taken over"):
        queue.complete(None, "dead", claimed)  # type: ignore[arg-type]
    queue.complete(None, "alive", taken)  # type: ignore[arg-type]
    queue.committed("alive", taken)
    assert queue.status()["queued"] == 0


def test_release_gives_back_at_once(queue: RedisQueue) -> None:
    queue.put(None, new("products", 1))
    claimed = queue.claim("a", 10, 60)
    queue.release("b", claimed)  # not b's: nothing happens
    assert queue.claim("b", 10, 60) == []
    queue.release("a", claimed)
    assert keys(queue.claim("b", 10, 60)) == [1]


def test_fail_retry_dead_retry_purge(queue: RedisQueue) -> None:
    queue.put(None, new("products", 7))
    claimed = queue.claim("a", 10, 60)
    assert queue.fail("a", claimed, "boom", max_tries=2) == (1, 0)
    found = queue.status()
    assert found["queued"] == 1
    assert found["models"]["products"]["retrying"] == 1
    assert queue.claim("a", 10, 60) == []  # not due yet (1 s backoff)
    time.sleep(1.1)
    again = queue.claim("a", 10, 60)
    assert keys(again) == [7] and again[0].tries == 1
    assert queue.fail("a", again, "boom again", max_tries=2) == (0, 1)
    found = queue.status()
    assert found["queued"] == 0 and found["dead"] == 1
    assert found["models"]["products"]["dead"] == 1
    letters = queue.dead_letters()
    assert [(d["model"], json.loads(d["key_json"]), d["tries"], d["error"])
            for d in letters] == [("products", [7], 2, "boom again")]
    assert queue.retry([letters[0]["id"]]) == 1
    assert queue.dead_letters() == []
    third = queue.claim("a", 10, 60)
    assert keys(third) == [7] and third[0].tries == 0
    assert queue.fail("a", third, "still", max_tries=1) == (0, 1)
    assert queue.purge_dead(now() - timedelta(hours=1)) == 0
    assert queue.purge_dead(now() + timedelta(seconds=1)) == 1
    assert queue.status()["dead"] == 0


def test_status_and_beat(queue: RedisQueue) -> None:
    started = now()
    queue.put(None, new("a", 1) + new("b", 1, 2))
    queue.beat("c1", started=started, batches=3, applied=9)
    queue.beat("c2", started=started, batches=0, applied=0, stopped=True)
    found = queue.status()
    assert set(found) == {"queued", "oldest_seconds", "dead", "consumers_alive",
                          "consumers", "models"}
    assert found["queued"] == 3 and found["dead"] == 0
    assert found["oldest_seconds"] is not None and found["oldest_seconds"] >= 0
    assert found["consumers_alive"] == 1
    assert [(c["name"], c["alive"], c["batches"], c["applied"])
            for c in found["consumers"]] == [("c1", True, 3, 9), ("c2", False, 0, 0)]
    assert {m: v["queued"] for m, v in found["models"].items()} == {"a": 1, "b": 2}


def test_models_filter_and_unreachable(queue: RedisQueue) -> None:
    from syncline.errors import TransientError

    queue.put(None, new("mine", 1) + new("other", 2))
    assert keys(queue.claim("a", 10, 60, ["mine"])) == [1]
    gone = RedisQueue("redis://127.0.0.1:1/0?stream=x")
    with pytest.raises(TransientError, match="cannot reach the Redis queue"):
        gone.claim("a", 10, 60)


# -- end to end ------------------------------------------------------------------------------
def execute(engine: sa.Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql))


def rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT id, name, price FROM products ORDER BY id")]


def wait_for(check: Callable[[], bool], timeout: float, what: str,
             proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            pytest.fail(f"the daemon ended ({proc.returncode}):\n{log.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"{what} not within {timeout} s:\n{log.read_text()}")


def test_daemon_with_a_redis_queue(tmp_path: Path, redis_url: str, stream: str) -> None:
    source_url, target_url = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 't.db'}"
    queue_url = f"{redis_url}?stream={stream}"
    source, target = sa.create_engine(source_url), sa.create_engine(target_url)
    for engine in (source, target):
        execute(engine, "CREATE TABLE products (id INTEGER PRIMARY KEY, name VARCHAR(50)"
                " NOT NULL, price INTEGER NOT NULL)")
    execute(source, "INSERT INTO products VALUES (1, 'old', 5), (2, 'gone', 6)")
    run_cli("datasync", "install", "--source", source_url, "--table", "products", "--key",
            "id", check=True)
    execute(source, "INSERT INTO products VALUES (4, 'four', 4)")  # logged by the trigger
    log = tmp_path / "daemon.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*syncline_command(), "datasync", "run", "--idle", "0.05", "--source",
             source_url, "--target", target_url, "--table", "products", "--queue",
             queue_url], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: rows(target) == [(4, "four", 4)], 30, "the first change", proc, log)
        execute(source, "INSERT INTO products VALUES (3, 'new', 7)")
        execute(source, "UPDATE products SET name = 'renamed', price = 9 WHERE id = 1")
        execute(source, "DELETE FROM products WHERE id = 2")
        wait_for(lambda: rows(target) == [(1, "renamed", 9), (3, "new", 7), (4, "four", 4)],
                 30, "the changes", proc, log)
        execute(source, "DELETE FROM products WHERE id = 4")
        wait_for(lambda: rows(target) == [(1, "renamed", 9), (3, "new", 7)], 30,
                 "the delete", proc, log)
        ran = run_cli("datasync", "status", "--queue", queue_url, "--json", check=True)
        found = json.loads(ran.stdout)
        assert found["queued"] == 0 and found["dead"] == 0
        assert found["consumers_alive"] == 1, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        source.dispose()
        target.dispose()
    output = log.read_text()
    assert f"stream {stream}" in output and "products:" in output
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.xlen(stream) == 0
        assert client.xpending(stream, "syncline")["pending"] == 0
    finally:
        client.close()
    found = json.loads(run_cli("datasync", "status", "--queue", queue_url, "--json",
                               check=True).stdout)
    assert found["consumers_alive"] == 0
    assert "purged 0" in run_cli("datasync", "purge", "--dead", "--before", "2099-01-01",
                                 "--queue", queue_url, check=True).stdout
    assert "queued 0" in run_cli("datasync", "retry", "--all", "--queue", queue_url,
                                 check=True).stdout
