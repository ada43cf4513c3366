"""Benchmark the datasync daemon on loopback PostgreSQL -> PostgreSQL (issue 13).

    python bench/datasync.py [--rates 1000,2000,4000] [--seconds 60] [--consumers 2]

For each rate: two fresh schemas (source, target) with a ``products`` table; triggers
installed on the source (``syncline datasync install``); ``syncline datasync run
--consumers N`` started; then a writer commits ``rate`` source changes per second for
``--seconds`` seconds (transactions of 10 rows every 10 ms at 1,000/s: 80% new keys,
20% updates of keys written earlier). Each source row carries ``written_at`` (the
database clock at the write); a trigger on the target table stamps ``synced_at`` when the
daemon writes the row. Latency per row = synced_at - written_at, read at the end for every
key's last write (each key's latest change). After the writer stops, the runner waits for
the queue and change log to drain, compares source and target row for row (any difference
is a failure, exit 1), stops the daemon with SIGTERM, and reports p50 / p95 / max latency,
the rate the writer achieved, and the peak RSS of each daemon process (VmHWM).

Limits (issue 13): at 1,000 changes/s with 2 consumers, p50 <= 200 ms, p95 <= 1 s, no
loss; the highest rate with p95 <= 1 s is the last rate that passes.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

POSTGRES_URL = os.environ.get("SYNCLINE_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


def _url(schema: str) -> sa.URL:
    url = sa.make_url(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    return url.update_query_dict({"options": f"-csearch_path={schema}"})


def _syncline() -> list[str]:
    return [sys.executable, "-m", "syncline"]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return found


def one_rate(rate: int, seconds: float, consumers: int, workdir: Path) -> dict[str, object]:
    tag = uuid.uuid4().hex[:8]
    server = sa.create_engine(_url("public"))
    src_schema, dst_schema = f"bench_src_{tag}", f"bench_dst_{tag}"
    with server.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {src_schema}")
        conn.exec_driver_sql(f"CREATE SCHEMA {dst_schema}")
    source = sa.create_engine(_url(src_schema), pool_size=2)
    target = sa.create_engine(_url(dst_schema))
    with source.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE products (id BIGINT PRIMARY KEY, name TEXT NOT NULL,"
            " price NUMERIC(10,2) NOT NULL,"
            " written_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())")
    with target.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE products (id BIGINT PRIMARY KEY, name TEXT NOT NULL,"
            " price NUMERIC(10,2) NOT NULL, written_at TIMESTAMPTZ NOT NULL,"
            " synced_at TIMESTAMPTZ)")
        conn.exec_driver_sql(
            "CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN NEW.synced_at := clock_timestamp(); RETURN NEW; END $$")
        conn.exec_driver_sql("CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON products"
                             " FOR EACH ROW EXECUTE FUNCTION stamp()")
    src_url = source.url.render_as_string(hide_password=False)
    dst_url = target.url.render_as_string(hide_password=False)
    subprocess.run([*_syncline(), "datasync", "install", "--source", src_url, "--table",
                    "products", "--key", "id"], check=True, capture_output=True)
    log = workdir / f"daemon-{rate}.log"
    with open(log, "w") as out:
        daemon = subprocess.Popen([*_syncline(), "datasync", "run", "--source", src_url,
                                   "--target", dst_url, "--table", "products",
                                   "--consumers", str(consumers)],
                                  stdout=out, stderr=subprocess.STDOUT)
    peak: dict[int, int] = {}
    watching = threading.Event()

    def watch_rss() -> None:
        while not watching.is_set():
            for pid in [daemon.pid, *_children(daemon.pid)]:
                peak[pid] = max(peak.get(pid, 0), _rss_kb(pid))
            time.sleep(0.5)

    threading.Thread(target=watch_rss, daemon=True).start()
    time.sleep(3)  # the daemon's start (and its consumers')
    rng = random.Random(rate)
    written = 0
    next_id = 1
    per_tx = max(1, rate // 100)
    began = time.monotonic()
    with source.connect() as conn:
        while (elapsed := time.monotonic() - began) < seconds:
            due = int(elapsed * rate)
            if written >= due:
                time.sleep(0.002)
                continue
            rows_new, rows_upd = [], []
            for _ in range(per_tx):
                if next_id > 100 and rng.random() < 0.2:
                    rows_upd.append({"i": rng.randrange(1, next_id),
                                     "p": rng.randrange(1, 100000) / 100})
                else:
                    rows_new.append({"i": next_id, "n": f"item {next_id}",
                                     "p": rng.randrange(1, 100000) / 100})
                    next_id += 1
            with conn.begin():
                if rows_new:
                    conn.execute(sa.text("INSERT INTO products (id, name, price)"
                                         " VALUES (:i, :n, :p)"), rows_new)
                if rows_upd:
                    conn.execute(sa.text("UPDATE products SET price = :p, written_at ="
                                         " clock_timestamp() WHERE id = :i"), rows_upd)
            written += per_tx
    took = time.monotonic() - began
    achieved = written / took
    # drain: the change log and the queue empty, the tables equal
    deadline = time.monotonic() + 120
    query = "SELECT id, name, price, written_at FROM products ORDER BY id"
    same = False
    while time.monotonic() < deadline:
        with source.connect() as a, target.connect() as b:
            same = a.exec_driver_sql(query).all() == b.exec_driver_sql(query).all()
        if same:
            break
        time.sleep(0.5)
    with target.connect() as conn:
        lat = [r[0] for r in conn.exec_driver_sql(
            "SELECT EXTRACT(EPOCH FROM synced_at - written_at) FROM products")]
        queued = conn.exec_driver_sql(
            "SELECT count(*) FROM syncline_datasync_queue").scalar_one()
    watching.set()
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(timeout=120)
    latencies = sorted(float(x) for x in lat)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    result: dict[str, object] = {
        "rate": rate, "achieved": round(achieved), "changes": written,
        "rows": len(latencies), "p50_ms": round(q[49] * 1000),
        "p95_ms": round(q[94] * 1000), "max_ms": round(latencies[-1] * 1000),
        "equal": same, "queued_left": queued, "exit": code,
        "rss_mb": sorted(round(kb / 1024) for kb in peak.values()),
    }
    source.dispose()
    target.dispose()
    with server.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {src_schema} CASCADE")
        conn.exec_driver_sql(f"DROP SCHEMA {dst_schema} CASCADE")
    server.dispose()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1000", help="comma-separated changes/s")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/syncline-bench-datasync"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    failed = False
    print("| rate/s | achieved/s | changes | p50 ms | p95 ms | max ms | equal | peak RSS MB"
          " per process |")
    print("|---|---|---|---|---|---|---|---|")
    for rate in (int(r) for r in args.rates.split(",")):
        r = one_rate(rate, args.seconds, args.consumers, args.workdir)
        print(f"| {r['rate']} | {r['achieved']} | {r['changes']} | {r['p50_ms']} |"
              f" {r['p95_ms']} | {r['max_ms']} | {r['equal']} | {r['rss_mb']} |", flush=True)
        if not r["equal"] or r["exit"] != 0:
            print(f"FAILED: tables differ or the daemon exited {r['exit']}; log in"
                  f" {args.workdir}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
