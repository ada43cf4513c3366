"""Benchmark syncline's versions (issue 10) on the bench data: what keeping history costs.

    python bench/versions.py --rows 1000000 [--targets sqlite,postgresql,mysql] [--repeat 3]

Per target, each scenario in a fresh ``syncline`` process (wall time and peak RSS), all
repeated ``--repeat`` times (min and median are printed):

- baseline, unversioned: ``initial`` (v1 into the empty table), then ``v2`` (v2 with
  deletes: 1% updated, 0.5% created, 0.5% deleted);
- versioned: ``versions enable``, ``v-initial`` (v1, writing N insert versions), then the
  history is emptied (version tables dropped and enabled again) and ``catch-up`` writes N
  insert versions for the loaded table, then ``v-v2`` (v2, versioned);
- SQLAlchemy-Continuum, at ``--continuum-rows`` (default 20000), on the tables created by
  Continuum's own mapping (``make_versioned(user_cls=None)`` + ``__versioned__``):
  ``orm-initial`` (v1 added through the ORM into the empty table, a commit every 1000
  rows), then, with
  v1 loaded by syncline so that every record has its insert version, v2's changes through
  the ORM session: ``orm-changes`` (the diff given: load the changed objects, set, delete,
  add, one commit) and ``orm-sync`` (an ORM import: load every object, compare it with
  v2, change what differs, one commit); and ``v-v2-small``, syncline's versioned v2 on
  the same Continuum-made tables at the same N. Continuum is timed inside its process
  (the ORM work only, not Python's start-up); syncline's times include its start-up.

After every step the table is compared with the file value for value, and the version
tables are checked with SQL: counts per operation_type (in the run's transaction and in
total), at most one open version per key, every closed version's end_transaction_id equal
to the transaction_id of that key's next version (and the last one open), every version's
transaction row present, and the open versions equal to the live rows. Any failure is
printed loudly and makes the exit code 1.

The limits (issue 10, item 7): v-v2 <= 1.3x v2; catch-up <= 2x the unversioned initial
load; syncline's versioned rows/s >= 100x Continuum's. See bench/README.md.

The runner drops and recreates the table, ``<table>_version``, ``transaction`` and
``transaction_meta``: ``transaction`` is shared by every versioned table of a database, so
point it at a database of its own (it refuses one with other version tables).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import Expected, generate
from run import SynclineRunner, check_counts, parse_result, syncline_executable
from targets import (
    MYSQL_URL,
    POSTGRES_URL,
    TARGET_CLASSES,
    MysqlTarget,
    Proc,
    Target,
    compare,
    expected_table,
    run_timed,
)

TARGETS = ("sqlite", "postgresql", "mysql")
Step = Callable[[Target, Path, Expected, SynclineRunner, "Results", int], None]
INSERT, UPDATE, DELETE = 0, 1, 2
#: orm-initial commits every ORM_BATCH rows: in one commit Continuum slows down with N
#: (SQLite: 270 rows/s for 1000 rows, 66 rows/s for 5000)
ORM_BATCH = 1000
#: (scenario, baseline scenario, limit, kind): "time" limits are at most that many times
#: the baseline's seconds; "speed" limits are at least that many times the other's rows/s
LIMITS = {
    "v-v2": ("v2", 1.3, "time"),
    "catch-up": ("initial", 2.0, "time"),
    "v-initial": ("initial", None, "time"),
    "orm-changes": ("v-v2", 100.0, "speed-changes"),
    "orm-sync": ("v-v2", 100.0, "speed-rows"),
    "orm-initial": ("v-initial", None, "speed-rows"),
    "v-v2-small": ("orm-changes", None, "speed-changes-self"),
}


# --------------------------------------------------------------------------- results


@dataclass
class Sample:
    seconds: float
    peak_rss_mb: float


@dataclass
class Measure:
    """Every run of one scenario on one target."""

    target: str
    scenario: str
    rows: int  # rows of the source (or, for orm-changes, the changed rows)
    changes: int  # rows created + updated + deleted
    samples: list[Sample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.samples) and not self.problems

    @property
    def best(self) -> float | None:
        return min(s.seconds for s in self.samples) if self.samples else None

    @property
    def median(self) -> float | None:
        return statistics.median(s.seconds for s in self.samples) if self.samples else None

    @property
    def peak_rss_mb(self) -> float | None:
        return max(s.peak_rss_mb for s in self.samples) if self.samples else None

    def rate(self, seconds: float | None, what: str = "rows") -> float | None:
        count = self.rows if what == "rows" else self.changes
        return count / seconds if seconds else None


class Results:
    def __init__(self) -> None:
        self.measures: dict[tuple[str, str], Measure] = {}

    def get(self, target: str, scenario: str, rows: int, changes: int) -> Measure:
        key = (target, scenario)
        if key not in self.measures:
            self.measures[key] = Measure(target, scenario, rows, changes)
        return self.measures[key]

    def find(self, target: str, scenario: str) -> Measure | None:
        return self.measures.get((target, scenario))


def loud(message: str) -> None:
    print(f"!! {message}", flush=True)


# --------------------------------------------------------------------------- schema


def _quote(target: Target, name: str) -> str:
    return str(target.engine.dialect.identifier_preparer.quote(name))


def drop_versions(target: Target) -> None:
    """Drop the version tables (and the transaction id sequence where there is one)."""
    import sqlalchemy as sa

    names = (f"{target.table}_version", "transaction_meta", "transaction")
    with target.engine.begin() as conn:
        for name in names:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {_quote(target, name)}"))
        if target.name != "sqlite":
            conn.execute(sa.text("DROP SEQUENCE IF EXISTS transaction_id_seq"))


def reset_all(target: Target) -> None:
    """A fresh, empty, unversioned table."""
    if target.name != "sqlite":  # SQLite: reset() deletes the file
        drop_versions(target)
    target.reset()


def foreign_versions(target: Target) -> list[str]:
    """Version tables of other tables in the target database: its ``transaction`` table is
    theirs too, and the runner drops it."""
    import sqlalchemy as sa

    with target.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
    return sorted(n for n in names if n.endswith("_version") and n != f"{target.table}_version")


# --------------------------------------------------------------------------- verification


def verify_table(target: Target, csv_path: Path) -> list[str]:
    try:
        problem = compare(expected_table(csv_path), target.rows())
    except Exception as exc:
        problem = f"cannot read table: {exc.__class__.__name__}: {exc}"
    return [f"TABLE MISMATCH: {problem}"] if problem else []


def verify_versions(
    target: Target,
    tx_id: int | None,
    want_tx: dict[int, int] | None,
    want_total: dict[int, int],
    open_deletes: int,
) -> list[str]:
    """Check the version tables with SQL (see the module's docstring); the problems found."""
    import sqlalchemy as sa

    problems: list[str] = []
    table = target.table
    with target.engine.connect() as conn:
        md = sa.MetaData()
        live = sa.Table(table, md, autoload_with=conn)
        v = sa.Table(f"{table}_version", md, autoload_with=conn)
        tx = sa.Table("transaction", md, autoload_with=conn)
        key = [c.name for c in live.primary_key.columns]
        values = [c.name for c in live.columns if c.name not in key]
        end, op, txc = v.c.end_transaction_id, v.c.operation_type, v.c.transaction_id

        def by_op(*where: Any) -> dict[int, int]:
            query = sa.select(op, sa.func.count()).where(*where).group_by(op)
            return {int(o): int(n) for o, n in conn.execute(query)}

        def count(query: Any) -> int:
            return int(conn.execute(query).scalar_one() or 0)

        want_total = {o: n for o, n in want_total.items() if n}
        total = by_op()
        if total != want_total:
            problems.append(f"version counts by operation {total} != expected {want_total}")
        if want_tx is None:
            pass  # several transactions (orm-initial): the totals only
        elif tx_id is None:
            problems.append("no transaction id reported")
        else:
            want_tx = {o: n for o, n in want_tx.items() if n}
            mine = by_op(txc == tx_id)
            if mine != want_tx:
                problems.append(
                    f"transaction {tx_id}: versions by operation {mine} != expected {want_tx}"
                )
            if not count(sa.select(sa.func.count()).select_from(tx).where(tx.c.id == tx_id)):
                problems.append(f"transaction {tx_id}: no transaction row")

        keys = [v.c[k] for k in key]
        doubled = count(
            sa.select(sa.func.count()).select_from(
                sa.select(*keys)
                .where(end.is_(None))
                .group_by(*keys)
                .having(sa.func.count() > 1)
                .subquery()
            )
        )
        if doubled:
            problems.append(f"{doubled} key(s) with more than one open version")

        # the chain: each version's end_transaction_id is the next version's transaction_id
        nxt = sa.func.lead(txc).over(partition_by=keys, order_by=txc)
        w = sa.select(txc.label("tx"), end.label("end"), nxt.label("nxt")).subquery()
        broken, unclosed, backwards = conn.execute(
            sa.select(
                sa.func.sum(
                    sa.case(
                        (
                            sa.and_(
                                w.c.end.is_not(None), sa.or_(w.c.nxt.is_(None), w.c.end != w.c.nxt)
                            ),
                            1,
                        ),
                        else_=0,
                    )
                ),
                sa.func.sum(
                    sa.case((sa.and_(w.c.end.is_(None), w.c.nxt.is_not(None)), 1), else_=0)
                ),
                sa.func.sum(sa.case((w.c.end <= w.c.tx, 1), else_=0)),
            )
        ).one()
        if broken:
            problems.append(
                f"{broken} closed version(s) whose end_transaction_id is not the"
                " transaction_id of the key's next version"
            )
        if unclosed:
            problems.append(f"{unclosed} version(s) left open although a later version exists")
        if backwards:
            problems.append(f"{backwards} version(s) closed by an earlier transaction")

        orphans = count(
            sa.select(sa.func.count()).select_from(v).where(~sa.exists().where(tx.c.id == txc))
        )
        if orphans:
            problems.append(f"{orphans} version(s) without their transaction row")

        # the open non-delete versions are the live rows, value for value
        o = sa.select(v).where(end.is_(None), op != DELETE).subquery()
        on = sa.and_(*(live.c[k] == o.c[k] for k in key))
        differs = sa.or_(*(live.c[c].is_distinct_from(o.c[c]) for c in values))
        live_off = count(
            sa.select(sa.func.count())
            .select_from(live.outerjoin(o, on))
            .where(sa.or_(o.c[key[0]].is_(None), differs))
        )
        if live_off:
            problems.append(f"{live_off} live row(s) without an equal open version")
        stale = count(sa.select(sa.func.count()).select_from(o).where(~sa.exists().where(on)))
        if stale:
            problems.append(f"{stale} open insert/update version(s) of a record no longer live")
        gone = count(sa.select(sa.func.count()).select_from(v).where(end.is_(None), op == DELETE))
        if gone != open_deletes:
            problems.append(f"{gone} open delete version(s) != expected {open_deletes}")
    return problems


# --------------------------------------------------------------------------- steps


def syncline_versions(target: Target, command: str, *args: str) -> Proc:
    argv = [syncline_executable(), "versions", command, target.table, "--target", target.url]
    return run_timed([*argv, *args])


def enable(target: Target) -> None:
    proc = syncline_versions(target, "enable")
    if not proc.ok:
        raise RuntimeError(f"syncline versions enable: {proc.error()}")


def _record(measure: Measure, proc: Proc | None, problems: list[str], label: str) -> None:
    """One run: a sample when the process succeeded; the problems, loudly."""
    if proc is not None and proc.ok:
        measure.samples.append(Sample(proc.seconds, proc.maxrss_kb / 1024))
    for problem in problems:
        loud(f"{measure.target} {measure.scenario} ({label}): {problem}")
    measure.problems += problems
    if proc is not None and proc.ok:
        print(
            f"   {measure.target:>10} {measure.scenario:<12} {label:<6} {proc.seconds:8.2f} s"
            f"  {proc.maxrss_kb / 1024:6.0f} MB  {'ok' if not problems else 'FAIL'}",
            flush=True,
        )


def timed_sync(
    target: Target,
    runner: SynclineRunner,
    csv_path: Path,
    delete: bool,
    want: dict[str, int],
    extra: list[str] | None = None,
) -> tuple[Proc | None, dict[str, Any], list[str]]:
    """``syncline sync`` of the file, timed; the parsed JSON and the problems."""
    target.before_timing()
    saved = runner.extra_args
    runner.extra_args = [*saved, *(extra or [])]
    try:
        proc = runner.sync([str(csv_path)], target.url, target.table, delete=delete)
    finally:
        runner.extra_args = saved
    return _checked(proc, target.table, want)


def _checked(
    proc: Proc, table: str, want: dict[str, int]
) -> tuple[Proc | None, dict[str, Any], list[str]]:
    if not proc.ok:
        return None, {}, [f"FAILED {proc.error()}"]
    start = proc.stdout.find("{")
    try:
        document, _ = json.JSONDecoder().raw_decode(proc.stdout[start:])
        counts = parse_result(proc.stdout, table)
    except (ValueError, KeyError, TypeError) as exc:
        return proc, {}, [f"BAD RESULT: {exc}"]
    problems = []
    problem = check_counts(counts, want)
    if problem:
        problems.append(f"COUNTS: {problem}")
    return proc, document | {"counts": counts}, problems


def _tx(document: dict[str, Any]) -> int | None:
    value = document.get("transaction_id")
    return int(value) if value is not None else None


def _versions_written(document: dict[str, Any], want: int) -> list[str]:
    got = document.get("counts", {}).get("versions")
    return [] if got == want else [f"reported versions {got} != {want}"]


def bench_syncline(
    target: Target, data: Path, meta: Expected, runner: SynclineRunner, results: Results, run: int
) -> None:
    """One run of the baseline and of the versioned scenarios on ``target``."""
    n, label = meta.v1_rows, f"run {run}"
    v1, v2 = data / "v1.csv", data / "v2.csv"
    initial_want = {"created": n, "updated": 0, "deleted": 0, "unchanged": 0}
    v2_want = {
        "created": meta.created,
        "updated": meta.updated,
        "deleted": meta.deleted,
        "unchanged": meta.unchanged,
    }
    changes = meta.created + meta.updated + meta.deleted

    # baseline, unversioned
    reset_all(target)
    m = results.get(target.name, "initial", n, n)
    proc, doc, problems = timed_sync(target, runner, v1, False, initial_want)
    if doc and doc.get("transaction_id") is not None:
        problems.append("an unversioned run reported a transaction id")
    _record(m, proc, problems + verify_table(target, v1), label)
    m = results.get(target.name, "v2", meta.v2_rows, changes)
    proc, doc, problems = timed_sync(target, runner, v2, True, v2_want)
    _record(m, proc, problems + verify_table(target, v2), label)

    # versioned: enable, initial load
    reset_all(target)
    enable(target)
    m = results.get(target.name, "v-initial", n, n)
    proc, doc, problems = timed_sync(target, runner, v1, False, initial_want)
    if proc is not None:
        problems += _versions_written(doc, n)
        problems += verify_table(target, v1)
        problems += verify_versions(target, _tx(doc), {INSERT: n}, {INSERT: n}, 0)
    _record(m, proc, problems, label)

    # catch-up of the loaded table with an empty history (enabled afresh)
    drop_versions(target)
    enable(target)
    m = results.get(target.name, "catch-up", n, n)
    target.before_timing()
    proc, doc, problems = _checked(
        syncline_versions(target, "catch-up", "--json"),
        target.table,
        {"created": n, "updated": 0, "deleted": 0},
    )
    if proc is not None:
        problems += _versions_written(doc, n)
        problems += verify_table(target, v1)
        problems += verify_versions(target, _tx(doc), {INSERT: n}, {INSERT: n}, 0)
    _record(m, proc, problems, label)

    # versioned v2
    m = results.get(target.name, "v-v2", meta.v2_rows, changes)
    proc, doc, problems = timed_sync(target, runner, v2, True, v2_want)
    if proc is not None:
        problems += _versions_written(doc, changes)
        problems += verify_table(target, v2)
        problems += verify_versions(
            target,
            _tx(doc),
            {INSERT: meta.created, UPDATE: meta.updated, DELETE: meta.deleted},
            {INSERT: n + meta.created, UPDATE: meta.updated, DELETE: meta.deleted},
            meta.deleted,
        )
    _record(m, proc, problems, label)


# --------------------------------------------------------------------------- Continuum


def bench_continuum(
    target: Target, data: Path, meta: Expected, runner: SynclineRunner, results: Results, run: int
) -> None:
    """Continuum's ORM changes, and syncline's versioned v2, on Continuum-made tables."""
    label = f"run {run}"
    v1, v2 = data / "v1.csv", data / "v2.csv"
    changes = meta.created + meta.updated + meta.deleted
    want_tx = {INSERT: meta.created, UPDATE: meta.updated, DELETE: meta.deleted}
    want_total = {INSERT: meta.v1_rows + meta.created, UPDATE: meta.updated, DELETE: meta.deleted}
    initial_want = {"created": meta.v1_rows, "updated": 0, "deleted": 0}
    for scenario, mode in (
        ("orm-initial", "initial"),
        ("orm-changes", "changes"),
        ("orm-sync", "sync"),
        ("v-v2-small", None),
    ):
        initial = mode == "initial"
        rows = {"orm-changes": changes, "orm-initial": meta.v1_rows}.get(scenario, meta.v2_rows)
        m = results.get(target.name, scenario, rows, meta.v1_rows if initial else changes)
        reset_all(target)
        schema = continuum_worker_proc(target, "schema", data)
        if not schema.ok:
            _record(m, None, [f"Continuum schema: {schema.error()}"], label)
            continue
        if not initial:
            # every record gets its insert version from syncline (into Continuum's tables)
            proc, doc, problems = timed_sync(target, runner, v1, False, initial_want)
            if problems:
                _record(m, None, [f"loading v1: {p}" for p in problems], label)
                continue
        target.before_timing()
        if mode is None:
            proc, doc, problems = timed_sync(
                target,
                runner,
                v2,
                True,
                {"created": meta.created, "updated": meta.updated, "deleted": meta.deleted},
            )
            tx_id = _tx(doc)
        else:
            worker = continuum_worker_proc(target, mode, data)
            proc, problems, tx_id = worker, [], None
            if not worker.ok:
                proc, problems = None, [f"FAILED {worker.error()}"]
            else:
                report = json.loads(worker.stdout.strip().splitlines()[-1])
                tx_id = report["transaction_id"]
                # the ORM work alone: Continuum is not charged Python's start-up
                proc = Proc(report["seconds"], worker.maxrss_kb, 0, "", "")
                if report["changes"] != m.changes:
                    problems.append(f"Continuum made {report['changes']} changes != {m.changes}")
        if proc is not None and initial:
            problems += verify_table(target, v1)
            n = meta.v1_rows
            problems += verify_versions(target, None, None, {INSERT: n}, 0)
        elif proc is not None:
            problems += verify_table(target, v2)
            problems += verify_versions(target, tx_id, want_tx, want_total, meta.deleted)
        _record(m, proc, problems, label)


def continuum_worker_proc(target: Target, mode: str, data: Path) -> Proc:
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--continuum-worker",
        mode,
        "--url",
        target.url,
        "--table",
        target.table,
        "--data",
        str(data),
    ]
    return run_timed(argv)


def _typed(row: list[str]) -> dict[str, Any]:
    upc, description, price, department, active = row
    return {
        "upc": upc,
        "description": description or None,
        "price": Decimal(price),
        "department": int(department),
        "active": active == "1",
    }


def _read(path: Path) -> dict[str, dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        return {row[0]: _typed(row) for row in reader}


def continuum_worker(mode: str, url: str, table: str, data: Path) -> int:
    """In its own process (make_versioned patches SQLAlchemy for good): ``schema`` creates
    the tables from Continuum's mapping; ``changes`` and ``sync`` change the table to v2
    through the ORM and print {"seconds", "changes", "transaction_id"} as JSON."""
    import sqlalchemy as sa
    from sqlalchemy.orm import DeclarativeBase, Session, mapped_column
    from sqlalchemy_continuum import make_versioned, transaction_class

    make_versioned(user_cls=None)

    class Base(DeclarativeBase):
        pass

    class Product(Base):  # no annotations: a local class under `from __future__ import annotations`
        __tablename__ = table
        __versioned__ = {}  # noqa: RUF012 (Continuum's marker)
        upc = mapped_column(sa.String(32), primary_key=True)
        description = mapped_column(sa.String(200))
        price = mapped_column(sa.Numeric(10, 2))
        department = mapped_column(sa.Integer)
        active = mapped_column(sa.Boolean)

    sa.orm.configure_mappers()
    transaction = transaction_class(Product).__table__
    engine = sa.create_engine(url)
    if mode == "schema":
        Base.metadata.create_all(engine)  # the table exists; its versions and transaction
        return 0
    fields = ("description", "price", "department", "active")
    old, new = _read(data / "v1.csv"), _read(data / "v2.csv")
    inserts = list(old.values())
    if mode == "changes":
        updates = {k: r for k, r in new.items() if k in old and r != old[k]}
        creates = [r for k, r in new.items() if k not in old]
        deletes = [k for k in old if k not in new]
    start = time.perf_counter()
    made = 0
    with Session(engine) as session:
        if mode == "initial":  # v1 into the empty table, a commit every ORM_BATCH rows
            for row in inserts:
                session.add(Product(**row))
                made += 1
                if made % ORM_BATCH == 0:
                    session.commit()
        elif mode == "changes":
            wanted = [*updates, *deletes]
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                for obj in session.scalars(sa.select(Product).where(Product.upc.in_(chunk))):
                    if obj.upc in updates:
                        for name in fields:
                            setattr(obj, name, updates[obj.upc][name])
                    else:
                        session.delete(obj)
                    made += 1
            for row in creates:
                session.add(Product(**row))
                made += 1
        else:  # an ORM import: every object against every row of the file
            existing = {p.upc: p for p in session.scalars(sa.select(Product))}
            for key, row in _read(data / "v2.csv").items():
                obj = existing.pop(key, None)
                if obj is None:
                    session.add(Product(**row))
                    made += 1
                    continue
                changed = False
                for name in fields:
                    if getattr(obj, name) != row[name]:
                        setattr(obj, name, row[name])
                        changed = True
                made += changed
            for obj in existing.values():
                session.delete(obj)
                made += 1
        session.commit()
    seconds = time.perf_counter() - start
    with engine.connect() as conn:  # this process made the last one
        transaction_id = conn.execute(sa.select(sa.func.max(transaction.c.id))).scalar_one()
    print(json.dumps({"seconds": seconds, "changes": made, "transaction_id": transaction_id}))
    return 0


# --------------------------------------------------------------------------- output

COLUMNS = (
    ("target", 10),
    ("scenario", 11),
    ("rows", 8),
    ("runs", 4),
    ("min s", 8),
    ("median s", 8),
    ("rows/s", 9),
    ("changes/s", 9),
    ("peak RSS MB", 11),
    ("ratio", 7),
    ("med ratio", 9),
    ("limit", 12),
    ("verdict", 7),
)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def ratios(results: Results, m: Measure) -> tuple[float | None, float | None, str, str]:
    """(ratio of the best runs, ratio of the medians, the limit, the verdict)."""
    if m.scenario not in LIMITS:
        return None, None, "", "ok" if m.ok else "FAIL"
    base_name, limit, kind = LIMITS[m.scenario]
    base = results.find(m.target, base_name)
    if base is None or not base.ok or not m.ok:
        return None, None, "", "ok" if m.ok else "FAIL"
    assert m.best and m.median and base.best and base.median
    if kind == "time":
        best, median = m.best / base.best, m.median / base.median
        text = f"<= {limit}x time" if limit else "(info)"
        good = limit is None or best <= limit
    else:
        what = "rows" if kind == "speed-rows" else "changes"
        if kind == "speed-changes-self":  # syncline's rate over Continuum's
            best = (m.rate(m.best, what) or 0) / (base.rate(base.best, what) or 1)
            median = (m.rate(m.median, what) or 0) / (base.rate(base.median, what) or 1)
        else:  # syncline's (the baseline) over this Continuum's
            best = (base.rate(base.best, what) or 0) / (m.rate(m.best, what) or 1)
            median = (base.rate(base.median, what) or 0) / (m.rate(m.median, what) or 1)
        text = f">= {limit}x {what}/s" if limit else "(info)"
        good = limit is None or best >= limit
    verdict = ("PASS" if good else "FAIL") if limit else "ok"
    return best, median, text, verdict


def table_text(results: Results) -> str:
    head = "  ".join(name.rjust(width) for name, width in COLUMNS)
    lines = [head, "-" * len(head)]
    for m in results.measures.values():
        best, median, limit, verdict = ratios(results, m)
        if m.problems:
            verdict = "FAIL"
        cells = (
            m.target,
            m.scenario,
            str(m.rows),
            str(len(m.samples)),
            _fmt(m.best, ".2f"),
            _fmt(m.median, ".2f"),
            _fmt(m.rate(m.best), ",.0f"),
            _fmt(m.rate(m.best, "changes"), ",.0f"),
            _fmt(m.peak_rss_mb, ".0f"),
            _fmt(best, ".2f"),
            _fmt(median, ".2f"),
            limit or "-",
            verdict,
        )
        lines.append("  ".join(c.rjust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True)))
    return "\n".join(lines)


def _split(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        if item not in TARGETS:
            raise SystemExit(f"unknown target {item!r}: choose from {', '.join(TARGETS)}")
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time syncline's versions against unversioned runs and Continuum;"
        " see bench/README.md."
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows in v1 (default 100000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--targets", default=",".join(TARGETS), help="sqlite,postgresql,mysql")
    parser.add_argument("--repeat", type=int, default=3, help="runs of every scenario")
    parser.add_argument(
        "--continuum-rows",
        type=int,
        default=20_000,
        help="rows for the Continuum comparison (0: skip it)",
    )
    parser.add_argument(
        "--parts",
        default="syncline,continuum",
        help="syncline (baseline + versioned), continuum (the ORM comparison), or both",
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "syncline-bench"
    )
    parser.add_argument("--table", default="products")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--mysql-url", default=MYSQL_URL)
    parser.add_argument(
        "--force",
        action="store_true",
        help="run even where other tables keep versions (their `transaction` table is dropped!)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--continuum-worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.continuum_worker:
        return continuum_worker(args.continuum_worker, args.url, args.table, args.data)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args.table):
        parser.error("--table must be a plain SQL identifier")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    targets = _split(args.targets)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - {"syncline", "continuum"}:
        parser.error("--parts: syncline, continuum or both")

    workdir: Path = args.workdir.resolve()
    data = workdir / f"data-{args.rows}-{args.seed}"
    meta = generate(args.rows, data, args.seed)
    print(
        f"data: {data} ({meta.v1_rows} rows; v2: {meta.updated} updated, {meta.created}"
        f" created, {meta.deleted} deleted)"
    )
    small = small_meta = None
    if args.continuum_rows:
        small = workdir / f"data-{args.continuum_rows}-{args.seed}"
        small_meta = generate(args.continuum_rows, small, args.seed)
        print(
            f"Continuum data: {small} ({small_meta.v1_rows} rows; v2:"
            f" {small_meta.updated + small_meta.created + small_meta.deleted} changes)"
        )
    print(f"runs per scenario: {args.repeat}", flush=True)

    runner = SynclineRunner()
    results = Results()
    failures: list[str] = []
    urls = {"postgresql": args.postgres_url, "mysql": args.mysql_url}
    for name in targets:
        target = TARGET_CLASSES[name](args.table, workdir)
        if name in urls:
            target.url = urls[name]
        try:
            try:
                if isinstance(target, MysqlTarget):
                    target.prepare()
                others = [] if name == "sqlite" else foreign_versions(target)
            except Exception as exc:
                failures.append(f"{name}: unreachable: {exc.__class__.__name__}: {exc}")
                loud(f"{name}: unreachable at {target.url}: {exc}")
                continue
            if others and not args.force:
                failures.append(f"{name}: other versioned tables ({', '.join(others)})")
                loud(
                    f"{name}: {target.url} has other tables' versions ({', '.join(others)});"
                    " this runner drops `transaction`: give it a database of its own"
                    " (--postgres-url / --mysql-url) or pass --force"
                )
                continue
            steps: list[tuple[Step, Path, Expected]] = []
            if "syncline" in parts:
                steps.append((bench_syncline, data, meta))
            if small is not None and small_meta is not None and "continuum" in parts:
                steps.append((bench_continuum, small, small_meta))
            for step, step_data, step_meta in steps:
                for run in range(1, args.repeat + 1):
                    try:
                        step(target, step_data, step_meta, runner, results, run)
                    except Exception as exc:
                        failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
                        loud(f"{name}: {exc.__class__.__name__}: {exc}")
            reset_all(target)
            target.drop()
        finally:
            target.close()

    print()
    print(table_text(results))
    print()
    bad = [m for m in results.measures.values() if not m.ok]
    missed = [
        m
        for m in results.measures.values()
        if ratios(results, m)[0] is not None and ratios(results, m)[3] == "FAIL"
    ]
    if failures or bad:
        print(f"FAILED: {len(bad)} scenario(s) not verified, {len(failures)} error(s)")
        for failure in failures:
            print(f"  {failure}")
        for m in bad:
            for problem in m.problems[:5]:
                print(f"  {m.target} {m.scenario}: {problem}")
    else:
        print("all scenarios verified (tables and version tables)")
    if missed:
        print("limits missed: " + ", ".join(f"{m.target} {m.scenario}" for m in missed))
    if args.json:
        document = {
            "rows": args.rows,
            "seed": args.seed,
            "repeat": args.repeat,
            "continuum_rows": args.continuum_rows,
            "expected": asdict(meta),
            "failures": failures,
            "results": [
                asdict(m)
                | {
                    "ok": m.ok,
                    "best": m.best,
                    "median": m.median,
                    "ratio": ratios(results, m)[0],
                    "median_ratio": ratios(results, m)[1],
                    "verdict": ratios(results, m)[3],
                }
                for m in results.measures.values()
            ],
        }
        args.json.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return 1 if failures or bad else 3 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
