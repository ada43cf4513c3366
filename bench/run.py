"""Benchmark syncline against the plain database loader, on the same files, in one run.

    python bench/run.py --rows 1000000
    python bench/run.py --rows 100000 --targets sqlite,postgresql --sources csv --json out.json

For every target (sqlite, postgresql, mysql) and source (csv file, sql = a PostgreSQL table)
it times three scenarios, each in a fresh process so the peak RSS is that scenario's own:

- ``initial``:  v1 into an empty, pre-created ``products`` table;
- ``nochange``: v1 again (nothing to do);
- ``v2``:       v2 with deletes (1% updated, 0.5% created, 0.5% deleted).

Beside each it times the reference path a DBA would use (sqlite3 shell ``.import`` +
staged SQL, PostgreSQL ``COPY`` + staged SQL, MariaDB ``LOAD DATA LOCAL INFILE`` + staged
SQL) and, after every step of both, checks that the table equals the file value for value.
Any mismatch or failure is printed loudly and makes the exit code 1. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import Expected, generate, libpq_url, load_csv_postgres
from targets import (
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
SOURCES = ("csv", "sql")
SCENARIOS = ("initial", "nochange", "v2")


# --------------------------------------------------------------------------- syncline


def syncline_executable() -> str:
    """The ``syncline`` console script of the Python running this benchmark."""
    candidate = Path(sys.executable).parent / "syncline"
    return str(candidate) if candidate.exists() else "syncline"


@dataclass
class SynclineRunner:
    extra_args: list[str] = field(default_factory=list)
    allow_mass_delete: bool = True

    def sync(self, source: list[str], target_url: str, table: str, delete: bool) -> Proc:
        argv = [syncline_executable(), "sync", *source[:1], target_url, *source[1:]]
        argv += ["--table", table, "--key", "upc", "--json", *self.extra_args]
        if delete:
            argv.append("--delete")
            if self.allow_mass_delete:
                proc = run_timed([*argv, "--allow-mass-delete"])
                unknown = (
                    "no such option" in proc.stderr.lower() and "allow-mass-delete" in proc.stderr
                )
                if not unknown:
                    return proc
                self.allow_mass_delete = False  # an older CLI without the guard
        return run_timed(argv)


def parse_result(stdout: str, table: str) -> dict[str, Any]:
    """The model counts from the one JSON object ``syncline sync --json`` prints."""
    start = stdout.find("{")
    if start < 0:
        raise ValueError("no JSON object on stdout")
    document, _ = json.JSONDecoder().raw_decode(stdout[start:])
    if document.get("dry_run"):
        raise ValueError("syncline reported a dry run")
    if document.get("error"):
        error = document["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise ValueError(f"syncline reported an error (exit code 0!): {message}")
    if document.get("committed") is False:
        raise ValueError("syncline reported committed: false")
    models = document["models"]
    if table in models:
        return dict(models[table])
    if len(models) == 1:
        return dict(next(iter(models.values())))
    raise ValueError(f"no model {table!r} in {sorted(models)}")


def check_counts(counts: dict[str, Any], want: dict[str, int]) -> str | None:
    problems = [f"{k} {counts.get(k)} != {v}" for k, v in want.items() if counts.get(k) != v]
    if counts.get("errors"):
        problems.append(f"errors: {str(counts['errors'])[:200]}")
    return "; ".join(problems) or None


# --------------------------------------------------------------------------- the run


@dataclass
class Step:
    """One timed step (syncline's or the reference's) and whether the table was right."""

    seconds: float | None = None
    peak_rss_mb: float | None = None
    verified: bool = False
    problem: str | None = None
    counts: dict[str, Any] | None = None
    skipped: bool = False


@dataclass
class Row:
    target: str
    source: str
    scenario: str
    rows: int
    syncline: Step
    reference: Step

    @property
    def ok(self) -> bool:
        return (self.syncline.verified or self.syncline.skipped) and self.reference.verified


def _verify(step: Step, target: Target, csv_path: Path) -> None:
    """Compare the table with the file; a failed run or wrong counts fail the step anyway."""
    try:
        problem = compare(expected_table(csv_path), target.rows())
    except Exception as exc:  # a missing table is a failed step, not a crashed benchmark
        problem = f"cannot read table: {exc.__class__.__name__}: {exc}"
    if problem:
        mismatch = f"TABLE MISMATCH: {problem}"
        step.problem = f"{step.problem}; {mismatch}" if step.problem else mismatch
    step.verified = problem is None and step.problem is None


def _timed_step(proc_of: Callable[[], Proc], target: Target) -> tuple[Step, Proc | None]:
    target.before_timing()
    try:
        proc = proc_of()
    except OSError as exc:
        return Step(problem=f"cannot start: {exc}"), None
    step = Step(seconds=proc.seconds, peak_rss_mb=proc.maxrss_kb / 1024)
    if not proc.ok:
        step.problem = "FAILED " + proc.error()
    return step, proc


def want_counts(meta: Expected, scenario: str) -> dict[str, int]:
    if scenario == "initial":
        return {"created": meta.v1_rows, "updated": 0, "deleted": 0, "unchanged": 0}
    if scenario == "nochange":
        return {"created": 0, "updated": 0, "deleted": 0, "unchanged": meta.v1_rows}
    return {
        "created": meta.created,
        "updated": meta.updated,
        "deleted": meta.deleted,
        "unchanged": meta.unchanged,
    }


def bench_pair(
    target: Target,
    source: str,
    data: Path,
    meta: Expected,
    syncline: SynclineRunner | None,
    report: Callable[[Row], None],
) -> list[Row]:
    """The three scenarios for one target and source: syncline first, then the reference."""
    files = {"initial": data / "v1.csv", "nochange": data / "v1.csv", "v2": data / "v2.csv"}
    source_table = f"{target.table}_src"
    results = {
        s: Row(target.name, source, s, meta.v1_rows if s != "v2" else meta.v2_rows, Step(), Step())
        for s in SCENARIOS
    }

    def load_source(scenario: str) -> None:
        if source == "sql" and scenario != "nochange":
            load_csv_postgres(files[scenario], POSTGRES_URL, source_table)

    if syncline is None:
        for row in results.values():
            row.syncline.skipped = True
    else:
        target.reset()
        for scenario in SCENARIOS:
            load_source(scenario)
            src = (
                [str(files[scenario])]
                if source == "csv"
                else [POSTGRES_URL, "--source-table", source_table]
            )
            step, proc = _timed_step(
                lambda src=src, scenario=scenario: syncline.sync(
                    src, target.url, target.table, delete=scenario == "v2"
                ),
                target,
            )
            if proc is not None and proc.ok:
                try:
                    step.counts = parse_result(proc.stdout, target.table)
                    problem = check_counts(step.counts, want_counts(meta, scenario))
                    step.problem = f"COUNTS: {problem}" if problem else None
                except (ValueError, KeyError, TypeError) as exc:
                    step.problem = f"BAD RESULT: {exc}"
            _verify(step, target, files[scenario])
            results[scenario].syncline = step

    target.reset()
    for scenario in SCENARIOS:
        load_source(scenario)
        initial = scenario == "initial"
        step, _ = _timed_step(
            (lambda initial=initial: target.reference_from_sql(source_table, initial))
            if source == "sql"
            else (
                lambda scenario=scenario, initial=initial: target.reference(
                    files[scenario], initial
                )
            ),
            target,
        )
        _verify(step, target, files[scenario])
        results[scenario].reference = step
    for row in results.values():
        report(row)
    return list(results.values())


# --------------------------------------------------------------------------- output

COLUMNS = (
    ("target", 10),
    ("source", 6),
    ("scenario", 8),
    ("rows", 9),
    ("syncline s", 10),
    ("rows/s", 9),
    ("peak RSS MB", 11),
    ("reference s", 11),
    ("ratio", 6),
    ("verified", 8),
)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table_header() -> str:
    head = "  ".join(name.rjust(width) for name, width in COLUMNS)
    return head + "\n" + "-" * len(head)


def table_line(row: Row) -> str:
    s, r = row.syncline, row.reference
    rate = row.rows / s.seconds if s.seconds and s.verified else None
    ratio = s.seconds / r.seconds if s.seconds and r.seconds and s.verified and r.verified else None
    verified = ("ref ok" if s.skipped else "ok") if row.ok else "FAIL"
    cells = (
        row.target,
        row.source,
        row.scenario,
        str(row.rows),
        _fmt(s.seconds, ".2f"),
        _fmt(rate, ",.0f"),
        _fmt(s.peak_rss_mb, ".0f"),
        _fmt(r.seconds, ".2f"),
        _fmt(ratio, ".2f"),
        verified,
    )
    line = "  ".join(cell.rjust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True))
    for who, step in (("syncline", s), ("reference", r)):
        if step.problem:
            line += f"\n      !! {who}: {step.problem}"
    return line


def startup_seconds(tries: int = 5) -> tuple[float | None, str | None]:
    best = None
    for _ in range(tries):
        try:
            proc = run_timed([syncline_executable(), "--version"])
        except OSError as exc:
            return None, str(exc)
        if not proc.ok:
            return None, proc.error()
        best = proc.seconds if best is None else min(best, proc.seconds)
    return best, None


def _split(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        if item not in allowed:
            raise SystemExit(f"unknown {what} {item!r}: choose from {', '.join(allowed)}")
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time syncline against the database's own loader; see bench/README.md."
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows in v1 (default 100000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--targets", default=",".join(TARGETS), help="sqlite,postgresql,mysql")
    parser.add_argument("--sources", default=",".join(SOURCES), help="csv,sql")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "syncline-bench",
        help="data and SQLite files (reused for the same N and seed)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--table", default="products", help="target table (default products)")
    parser.add_argument(
        "--syncline-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for every syncline sync, e.g. --syncline-arg=--engine=memory",
    )
    parser.add_argument("--no-syncline", action="store_true", help="time the references only")
    parser.add_argument(
        "--startup-tries", type=int, default=5, help="runs of `syncline --version` (0: skip)"
    )
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args.table):
        parser.error("--table must be a plain SQL identifier")
    targets = _split(args.targets, TARGETS, "target")
    sources = _split(args.sources, SOURCES, "source")

    workdir: Path = args.workdir.resolve()
    data = workdir / f"data-{args.rows}-{args.seed}"
    start = time.perf_counter()
    meta = generate(args.rows, data, args.seed)
    print(
        f"data: {data} ({meta.v1_rows} rows; v2: {meta.updated} updated, {meta.created} created,"
        f" {meta.deleted} deleted; ready in {time.perf_counter() - start:.1f} s)"
    )

    syncline = None if args.no_syncline else SynclineRunner(list(args.syncline_arg))
    startup, startup_error = (
        (None, "skipped")
        if syncline is None or args.startup_tries < 1
        else startup_seconds(args.startup_tries)
    )
    if startup is not None:
        print(f"syncline --version start-up: {startup:.3f} s (best of {args.startup_tries})")
    else:
        print(f"syncline --version start-up: unavailable ({startup_error})")

    notes: list[str] = []
    results: list[Row] = []
    failures: list[str] = []
    print()
    print(table_header(), flush=True)
    for target_name in targets:
        target = TARGET_CLASSES[target_name](args.table, workdir)
        try:
            try:
                target.reset()
                if isinstance(target, MysqlTarget):
                    target.prepare()
                    if target.note:
                        notes.append(f"mysql: {target.note}")
            except Exception as exc:
                failures.append(f"{target_name}: unreachable: {exc.__class__.__name__}: {exc}")
                print(f"!! {target_name}: unreachable at {target.url}: {exc}", flush=True)
                continue
            for source in sources:
                try:
                    results += bench_pair(
                        target,
                        source,
                        data,
                        meta,
                        syncline,
                        lambda row: print(table_line(row), flush=True),
                    )
                except Exception as exc:
                    failures.append(f"{target_name}/{source}: {exc.__class__.__name__}: {exc}")
                    print(f"!! {target_name}/{source}: {exc.__class__.__name__}: {exc}", flush=True)
            target.drop()
        finally:
            target.close()
    if "sql" in sources:
        _drop_source_table(f"{args.table}_src")

    bad = [row for row in results if not row.ok]
    print()
    for note in notes:
        print(f"note: {note}")
    if bad or failures:
        print(f"FAILED: {len(bad)} scenario(s) not verified, {len(failures)} error(s)")
        for failure in failures:
            print(f"  {failure}")
    else:
        print("all scenarios verified")

    if args.json:
        document = {
            "rows": args.rows,
            "seed": args.seed,
            "expected": asdict(meta),
            "startup_seconds": startup,
            "notes": notes,
            "failures": failures,
            "results": [asdict(row) | {"ok": row.ok} for row in results],
        }
        args.json.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return 1 if bad or failures or (startup_error not in (None, "skipped")) else 0


def _drop_source_table(table: str) -> None:
    try:
        import psycopg

        with psycopg.connect(libpq_url(POSTGRES_URL)) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    except Exception as exc:  # cleanup only
        print(f"note: could not drop {table}: {exc}")


if __name__ == "__main__":
    raise SystemExit(main())
