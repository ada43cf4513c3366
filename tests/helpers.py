"""Helpers shared by the tests: run the command, write CSVs, build and read tables.

Test modules import from here and from conftest, never from each other
(test_package.py checks it).

The command runs in this process through Click's test runner (:func:`run_cli`), or as a
real ``python -m syncline`` child where the process is the point (:func:`run_process`,
:class:`Paused`, :func:`start_paused`): killing it, interrupting it, closing its output,
two runs competing for the run lock, limits or environment that act on a whole process.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from syncline import Handler, Importer, IterableSource, Result, RunOptions
from syncline.cli.main import main

if TYPE_CHECKING:
    from conftest import VersionsDb

PRODUCT_HEADER = ["upc", "description", "price", "department", "active"]


# -- running the command in this process ----------------------------------------------------
class Ran(Protocol):
    """A finished run of the command, in this process or in a child."""

    @property
    def returncode(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...


@dataclass(frozen=True)
class CliResult:
    """A run of the command in this process, shaped like ``subprocess.CompletedProcess``."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class _ConsoleScript(click.Command):
    """The ``syncline`` console script as Click's runner invokes it.

    :func:`syncline.cli.main` wraps the click group: usage errors in ``--json``, the
    masking of credentials given on the command line, the last error boundary. Invoking the
    group alone would skip all of that, so the runner calls ``main`` itself.
    """

    def __init__(self) -> None:
        super().__init__("syncline")

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> NoReturn:
        from syncline.cli import main

        main(list(args or ()))
        raise AssertionError("syncline.cli.main returned instead of exiting")


_SCRIPT = _ConsoleScript()


@contextlib.contextmanager
def _restoring_process_state(cwd: Path | str | None) -> Iterator[None]:
    """Undo what a run changes in the process, so that the next run starts as a child would.

    A run adds a handler to the ``psycopg`` logger, remembers the secrets of the URLs on
    its command line (masking), and may put the working directory on ``sys.path`` (to
    import a ``module:Class`` handler).
    """
    from syncline import masking

    path = list(sys.path)
    logger = logging.getLogger("psycopg")
    handlers = list(logger.handlers)
    known = set(masking._known)
    try:
        with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
            yield
    finally:
        sys.path[:] = path
        logger.handlers[:] = handlers
        masking._known.clear()
        masking._known.update(known)


def run_cli(*args: str, check: bool | None = None, env: dict[str, str | None] | None = None,
            cwd: Path | str | None = None) -> CliResult:
    """``syncline ARGS`` in this process (Click's test runner): exit code, stdout, stderr.

    ``env`` sets (a value) or unsets (None) variables for the run only; ``cwd`` is the
    working directory of the run. An exception that escapes the command fails the test;
    so does a warning (the suite's filters make it an error, which the command reports
    as an unexpected error, exit 1).
    """
    runner = CliRunner(catch_exceptions=False)
    with _restoring_process_state(cwd):
        result = runner.invoke(_SCRIPT, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    done = CliResult(tuple(args), result.exit_code, result.stdout, result.stderr)
    if check is True and done.returncode != 0:
        raise AssertionError(report(done))
    return done


def run_json(*args: str, expect: int = 0) -> dict[str, Any]:
    proc = run_cli(*args, "--json")
    assert proc.returncode == expect, f"exit {proc.returncode}: {proc.stderr}\n{proc.stdout}"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    data: dict[str, Any] = json.loads(lines[0])
    return data


def ok_json(*args: str) -> dict[str, Any]:
    """Run with ``--json``, expect exit 0, return the single model's counts."""
    proc = run_cli(*args, "--json")
    assert proc.returncode == 0, report(proc)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    models: dict[str, Any] = json.loads(lines[0])["models"]
    assert len(models) == 1, models
    counts: dict[str, Any] = next(iter(models.values()))
    return counts


def report(proc: Ran) -> str:
    return f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"


def expect_error(proc: Ran, code: int, *needles: str) -> str:
    """The exit code, ``Error: `` on stderr, no traceback, every needle in the message."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, report(proc)
    assert "Error: " in proc.stderr, proc.stderr
    assert "Traceback" not in out, out
    for needle in needles:
        assert needle in proc.stderr, f"{needle!r} not in stderr:\n{proc.stderr}"
    return proc.stderr


# -- running the command as a real process --------------------------------------------------
def syncline_command() -> list[str]:
    """The command line of a ``syncline`` child process."""
    return [sys.executable, "-m", "syncline"]


def _child_env(env: dict[str, str] | None) -> dict[str, str]:
    """The given environment, else this one without pause points."""
    if env is not None:
        return env
    return {k: v for k, v in os.environ.items() if not k.startswith("SYNCLINE_TEST_PAUSE")}


def run_process(*args: str, check: bool | None = None, env: dict[str, str] | None = None,
                cwd: Path | str | None = None, timeout: float = 300, **popen: Any
                ) -> subprocess.CompletedProcess[str]:
    """``python -m syncline ARGS`` in a child process, for tests where the process matters.

    ``env`` is the child's whole environment (default: this one, without pause points);
    ``popen`` goes to ``subprocess.run`` (stdout and stderr are captured unless given).
    """
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    proc = subprocess.run([*syncline_command(), *args], text=True, timeout=timeout,
                          env=_child_env(env), cwd=cwd, **popen)
    if check is True and proc.returncode != 0:
        raise AssertionError(report(proc))
    return proc


class Paused:
    """A child run paused at ``point``; it holds whatever it holds there until killed."""

    def __init__(self, args: Sequence[str], point: str, workdir: Path) -> None:
        self.pause_file = workdir / f"pause-{point}.pid"
        self.log = workdir / f"child-{point}.log"
        env = dict(os.environ, SYNCLINE_TEST_PAUSE_AT=point,
                   SYNCLINE_TEST_PAUSE_FILE=str(self.pause_file),
                   SYNCLINE_TEST_PAUSE_SECONDS="60")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([*syncline_command(), *args], env=env,
                                         stdout=log, stderr=subprocess.STDOUT)

    def wait_paused(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pause_file.exists() and self.pause_file.read_text().strip():
                pid = int(self.pause_file.read_text())
                assert pid == self.proc.pid
                return pid
            if self.proc.poll() is not None:
                pytest.fail(f"the child ended (exit {self.proc.returncode}) before pausing:\n"
                            + self.log.read_text())
            time.sleep(0.02)
        pytest.fail(f"the child did not reach its pause point in {timeout} s:\n"
                    + self.log.read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def __enter__(self) -> Paused:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def start_paused(args: list[str], tmp_path: Path, point: str = "after_read",
                 seconds: str = "2") -> subprocess.Popen[str]:
    """A child run that pauses ``seconds`` at ``point`` and then goes on; returned paused."""
    pause = tmp_path / f"paused-{point}.pid"
    env = dict(os.environ, SYNCLINE_TEST_PAUSE_AT=point, SYNCLINE_TEST_PAUSE_FILE=str(pause),
               SYNCLINE_TEST_PAUSE_SECONDS=seconds)
    child = subprocess.Popen([*syncline_command(), *args], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (pause.exists() and pause.read_text()) and time.monotonic() < deadline:
        if child.poll() is not None:
            raise AssertionError(f"the run ended before {point}: {child.communicate()}")
        time.sleep(0.02)
    assert pause.exists(), f"the run never reached {point}"
    return child


def app_engine(engine: sa.Engine) -> sa.Engine:
    """A separate application connection that gives up quickly when it is blocked."""
    if engine.dialect.name == "sqlite":
        return sa.create_engine(engine.url, connect_args={"timeout": 0.5})
    if engine.dialect.name == "postgresql":
        return sa.create_engine(engine.url, connect_args={"options": "-c lock_timeout=3000"})
    return sa.create_engine(engine.url, connect_args={
        "init_command": "SET SESSION innodb_lock_wait_timeout = 3"})


# -- products: CSV rows and the products table ------------------------------------------------
def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def products(n: int, seed: int = 1) -> list[list[str]]:
    """n product rows as CSV text: upc, description, price, department, active (1/0)."""
    rnd = random.Random(seed)
    return [
        [f"{i:012d}", f"Product {i} {rnd.choice(['red', 'blue', 'big'])}",
         f"{rnd.randint(1, 99999) / 100:.2f}", str(rnd.randint(1, 50)), rnd.choice("10")]
        for i in range(n)
    ]


def edit_products(rows: list[list[str]], seed: int = 2) -> tuple[list[list[str]], dict[str, int]]:
    """v2 of ``rows``: 1% with one field changed, 0.5% removed, 0.5% added."""
    rnd = random.Random(seed)
    n = len(rows)
    out = [list(r) for r in rows]
    order = list(range(n))
    rnd.shuffle(order)
    n_upd, n_del = n // 100, n // 200
    for j, i in enumerate(order[:n_upd]):
        field = 1 + j % 4
        row = out[i]
        if field == 1:
            row[1] = row[1] + " (new)"
        elif field == 2:
            row[2] = f"{Decimal(row[2]) + Decimal('1.01'):.2f}"
        elif field == 3:
            row[3] = str(int(row[3]) % 50 + 1)
        else:
            row[4] = "0" if row[4] == "1" else "1"
    removed = set(order[n_upd:n_upd + n_del])
    out = [r for i, r in enumerate(out) if i not in removed]
    n_new = n // 200
    out += [[f"{n + i:012d}", f"New {i}", "1.00", "1", "1"] for i in range(n_new)]
    return out, {"updated": n_upd, "deleted": n_del, "created": n_new}


def create_products_table(engine: sa.Engine, name: str) -> None:
    sa.Table(
        name, sa.MetaData(),
        sa.Column("upc", sa.String(32), primary_key=True),
        sa.Column("description", sa.String(200)),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("department", sa.Integer),
        sa.Column("active", sa.Boolean),
    ).create(engine)


def seed_products(engine: sa.Engine, name: str, rows: Sequence[Sequence[str]]) -> None:
    """Create the products table and fill it directly (faster than a CLI run)."""
    create_products_table(engine, name)
    table = sa.Table(name, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [
            {"upc": r[0], "description": r[1], "price": Decimal(r[2]),
             "department": int(r[3]), "active": r[4] == "1"} for r in rows])


def table_rows(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    """The table's rows in key order as (upc, description, price, department, active)."""
    table = sa.Table(name, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.upc)).all()
    return [(r[0], r[1], Decimal(str(r[2])).quantize(Decimal("0.01")), int(r[3]), bool(r[4]))
            for r in rows]


def csv_rows(rows: list[list[str]]) -> list[tuple[Any, ...]]:
    return sorted((r[0], r[1], Decimal(r[2]), int(r[3]), r[4] == "1") for r in rows)


def count(engine: sa.Engine, name: str) -> int:
    """The number of rows in any table."""
    table = sa.Table(name, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def read_rejects(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# -- items (upc, name, qty): a target, a source that changes it, the sync --------------------
Item = tuple[str, str, int]


def old_rows(n: int) -> list[Item]:
    return [(f"U{i:05d}", f"old {i}", i) for i in range(n)]


def new_rows(n: int) -> list[Item]:
    """For n = 10,000: 1,500 updated, 7,500 unchanged, 1,000 deleted (the last 10%),
    1,000 created."""
    kept = [(f"U{i:05d}", f"new {i}" if i % 6 == 0 else f"old {i}", i)
            for i in range(n * 9 // 10)]
    return kept + [(f"U{i:05d}", f"created {i}", i) for i in range(n, n + n // 10)]


def item_changes(n: int) -> dict[str, int]:
    """What syncing ``new_rows(n)`` into ``old_rows(n)`` creates, updates and deletes."""
    return {"created": n // 10, "updated": len(range(0, n * 9 // 10, 6)), "deleted": n // 10}


def make_table(engine: sa.Engine, name: str, rows: Sequence[Item]) -> None:
    """An items table (upc key, name, qty) holding ``rows``."""
    table = sa.Table(name, sa.MetaData(),
                     sa.Column("upc", sa.String(20), primary_key=True),
                     sa.Column("name", sa.String(100)),
                     sa.Column("qty", sa.Integer))
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert(), [{"upc": u, "name": n, "qty": q} for u, n, q in rows])


def item_rows(engine: sa.Engine, name: str) -> list[Item]:
    """An items table's rows, sorted."""
    quoted = engine.dialect.identifier_preparer.quote(name)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT upc, name, qty FROM {quoted}")).all()
    return sorted((str(u), str(n), int(q)) for u, n, q in rows)


def make_source(path: Path, n: int) -> str:
    """A CSV source file holding ``new_rows(n)``."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["upc", "name", "qty"])
        writer.writerows(new_rows(n))
    return str(path)


def sync_args(source: str, target: str, table: str) -> list[str]:
    """The arguments of a sync of ``source`` into items table ``table``, deletes included."""
    return ["sync", source, target, "--table", table, "--key", "upc", "--delete",
            "--allow-mass-delete"]


# -- the point-of-sale example (examples/) ------------------------------------------------------
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load_build_pos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_pos", EXAMPLES / "build_pos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: examples/build_pos.py as a module (its schema, its build function)
build_pos = _load_build_pos()


def example_env(cwd: Path) -> dict[str, str]:
    """The example's environment: its databases in ``cwd/work``."""
    return {**os.environ, "SYNCLINE_EXAMPLE_DIR": str(cwd / "work"), "NO_COLOR": "1"}


def run_example(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A child ``syncline ARGS`` from ``cwd`` with the example's databases in ``cwd/work``.

    A process: the example handler reads ``SYNCLINE_EXAMPLE_DIR`` when it is imported.
    """
    return run_process(*args, cwd=cwd, env=example_env(cwd), timeout=120)


def build_example(cwd: Path, *args: str) -> None:
    """``python examples/build_pos.py ARGS`` from ``cwd``, as the README runs it."""
    done = subprocess.run([sys.executable, str(EXAMPLES / "build_pos.py"), *args], cwd=cwd,
                          env=example_env(cwd), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def pos_example(cwd: Path, *args: str) -> CliResult:
    """``syncline import pos-example ARGS`` in this process, on the example's databases in
    ``cwd/work`` (named on the command line: the handler's own default paths were fixed
    from the environment when it was first imported)."""
    work = cwd / "work"
    return run_cli("import", "pos-example", *args, "--source", f"sqlite:///{work / 'pos.db'}",
                   "--target", f"sqlite:///{work / 'backoffice.db'}")


# -- versions (tests/test_versions*.py) ------------------------------------------------
INSERT, UPDATE, DELETE = 0, 1, 2
ENGINES = ["memory", "database"]
PRODUCT_FIELDS = ["upc", "name", "qty", "dept_id", "note"]


# -- the tables ---------------------------------------------------------------------------------
def make_tables(db: VersionsDb) -> None:
    """``department`` and ``product`` (its ``dept_id`` points at a department; ``note`` is
    the application's own column, which the importers never sync) and ``nopk``."""
    metadata = sa.MetaData()
    sa.Table("department", metadata,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("name", sa.String(50)))
    sa.Table("product", metadata,
             sa.Column("upc", sa.String(20), primary_key=True),
             sa.Column("name", sa.String(100)),
             sa.Column("qty", sa.Integer),
             sa.Column("dept_id", sa.Integer, sa.ForeignKey("department.id")),
             sa.Column("note", sa.String(100)))
    sa.Table("nopk", metadata, sa.Column("code", sa.String(10)), sa.Column("v", sa.Integer))
    metadata.create_all(db.engine)


def execute(db: VersionsDb, sql: str, **params: Any) -> None:
    """SQL as the application runs it, behind syncline's back (no versions)."""
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def table(db: VersionsDb, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=db.engine)


def live(db: VersionsDb, name: str = "product") -> dict[Any, dict[str, Any]]:
    t = table(db, name)
    key = t.primary_key.columns.values()[0].name
    with db.engine.connect() as conn:
        return {r[key]: dict(r) for r in conn.execute(sa.select(t)).mappings()}


def versions(db: VersionsDb, name: str = "product") -> list[dict[str, Any]]:
    """The version rows of ``name``, by key and transaction."""
    t = table(db, f"{name}_version")
    key = [c for c in t.primary_key.columns if c.name != "transaction_id"]
    with db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(t).order_by(*key, t.c.transaction_id)).mappings()]


def versions_of(db: VersionsDb, key: Any, name: str = "product") -> list[dict[str, Any]]:
    column = "upc" if name == "product" else "id"
    return [v for v in versions(db, name) if v[column] == key]


def transactions(db: VersionsDb) -> list[dict[str, Any]]:
    t = table(db, "transaction")
    with db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.id)).mappings()]


def comments(db: VersionsDb) -> dict[int, str]:
    t = table(db, "transaction_meta")
    with db.engine.connect() as conn:
        return {r.transaction_id: r.value
                for r in conn.execute(sa.select(t).where(t.c.key == "comment"))}


# -- what the runs said, against what the version tables hold -------------------------------------
@dataclass
class Ledger:
    """Version rows each transaction should hold, by table, from the runs' own counts."""

    db: VersionsDb
    tables: tuple[str, ...] = ("product",)
    expected: dict[int, dict[str, int]] = field(default_factory=dict)

    def record(self, result: Result | dict[str, Any]) -> int | None:
        """A run's result (library or ``--json``): its changed rows are its version rows."""
        if isinstance(result, Result):
            tx = result.transaction_id
            changed = {name: m.created + m.updated + m.deleted
                       for name, m in result.models.items()}
            written = {name: m.versions for name, m in result.models.items()}
            dry = result.dry_run
        else:
            tx = result["transaction_id"]
            changed = {name: m["created"] + m["updated"] + m["deleted"]
                       for name, m in result["models"].items()}
            written = {name: m["versions"] for name, m in result["models"].items()}
            dry = result["dry_run"]
        versioned = {name: n for name, n in changed.items() if name in self.tables}
        if dry or not any(versioned.values()):
            assert tx is None, "a dry run or a run without changes takes no transaction"
            return None
        assert tx is not None and tx not in self.expected
        for name, n in versioned.items():
            assert written[name] == n, (name, written, changed)
        self.expected[tx] = {name: n for name, n in versioned.items() if n}
        return int(tx)

    def check(self) -> None:
        """Every transaction row is a run's; each holds one version per changed row (RELIABILITY
        21); the chains of all records are whole."""
        found: dict[int, dict[str, int]] = defaultdict(dict)
        for name in self.tables:
            rows = versions(self.db, name)
            for row in rows:
                per = found[int(row["transaction_id"])]
                per[name] = per.get(name, 0) + 1
            assert_chain(rows, "upc" if name == "product" else "id", transactions(self.db))
        assert dict(found) == self.expected
        assert [t["id"] for t in transactions(self.db)] == sorted(self.expected)


def assert_chain(rows: list[dict[str, Any]], key: str, txs: list[dict[str, Any]]) -> None:
    """Each record: at most one open version, the last; every other one ends at the
    transaction of the next; after a delete only an insert; every id a transaction's."""
    ids = {t["id"] for t in txs}
    by_key: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_key[row[key]].append(row)
    for value, chain in by_key.items():
        chain.sort(key=lambda r: r["transaction_id"])
        assert chain[-1]["end_transaction_id"] is None, (value, chain)
        assert chain[0]["operation_type"] == INSERT, (value, chain)
        for before, after in pairwise(chain):
            assert before["end_transaction_id"] == after["transaction_id"], (value, chain)
            assert (after["operation_type"] == INSERT) == (
                before["operation_type"] == DELETE), (value, chain)
        assert {r["transaction_id"] for r in chain} <= ids, "orphan version rows"


# -- running ------------------------------------------------------------------------------------
def product(upc: str, name: str, qty: int, dept_id: int | None = None,
            note: str = "from the source") -> dict[str, Any]:
    return {"upc": upc, "name": name, "qty": qty, "dept_id": dept_id, "note": note}


def products_importer(rows: Sequence[dict[str, Any]]) -> Importer:
    # the source offers `note`; the importer never syncs it (the application owns it)
    return Importer(table="product", key=("upc",), exclude=("note",),
                    source=IterableSource(list(rows), columns=PRODUCT_FIELDS))


def sync(db: VersionsDb, rows: Sequence[dict[str, Any]], engine: str = "database",
         handler: type[Handler] = Handler, **options: Any) -> Result:
    run = handler(target_url=db.url, importers=[products_importer(rows)])
    return run.run(RunOptions(engine=engine, delete=True, allow_mass_delete=True,  # type: ignore[arg-type]
                              **options))


@dataclass
class Cli:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, Any]:
        lines = [line for line in self.out.splitlines() if line.strip()]
        assert len(lines) == 1, (self.out, self.err)
        data: dict[str, Any] = json.loads(lines[0])
        return data


def in_process(capsys: pytest.CaptureFixture[str]) -> Callable[..., Cli]:
    """``syncline ARGS`` in this process (the kill test runs a real child)."""
    def run(*args: str) -> Cli:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        out, err = capsys.readouterr()
        return Cli(code, out, err)
    return run
