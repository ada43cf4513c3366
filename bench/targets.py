"""The benchmark's targets: the reference loaders, process timing, and table verification.

Used by ``bench/run.py``; see bench/README.md for what each reference path does.
"""

from __future__ import annotations

import csv
import os
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from generate import COLUMNS_SQL, libpq_url

POSTGRES_URL = os.environ.get(
    "SYNCLINE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SYNCLINE_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
FIELDS = ("upc", "description", "price", "department", "active")


# --------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """One finished child process: wall time, peak RSS, exit code and output."""

    seconds: float
    maxrss_kb: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error(self) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return f"exit {self.returncode}: " + (text[-1] if text else "(no output)")


GNU_TIME = Path("/usr/bin/time")


def run_timed(
    argv: list[str], stdin_text: str | None = None, env: dict[str, str] | None = None
) -> Proc:
    """Run ``argv``; time it and measure its peak RSS.

    The peak RSS comes from GNU time (``/usr/bin/time -f %M``) when present: Linux counts
    in a child's ``ru_maxrss`` the RSS its parent had at fork, so ``os.wait4`` on a child
    of this (big) process would report at least this process's own size. Without GNU
    time the ``os.wait4`` figure is used, an upper bound.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() as inp,
        tempfile.NamedTemporaryFile("r", suffix=".rss") as rss,
    ):
        if stdin_text is not None:
            inp.write(stdin_text.encode())
            inp.seek(0)
        if GNU_TIME.exists():
            argv = [str(GNU_TIME), "-f", "%M", "-o", rss.name, *argv]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=inp, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        maxrss_kb = usage.ru_maxrss
        reported = rss.read().split()
        if reported and reported[-1].isdigit():
            maxrss_kb = int(reported[-1])
        out.seek(0)
        err.seek(0)
        return Proc(
            seconds,
            maxrss_kb,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def combine(first: Proc, second: Proc) -> Proc:
    """Two steps run one after the other, reported as one."""
    return Proc(
        first.seconds + second.seconds,
        max(first.maxrss_kb, second.maxrss_kb),
        first.returncode or second.returncode,
        first.stdout + second.stdout,
        first.stderr + second.stderr,
    )


# --------------------------------------------------------------------------- verification


def _price(value: Any) -> Decimal | None:
    if value is None or type(value) is Decimal:
        return value
    if isinstance(value, float):
        value = repr(value)  # 12.3 → "12.3": exact for the 2-place prices of the file
    return Decimal(value)


def _bool(value: Any) -> bool | None:
    if value is None or type(value) is bool:
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "yes", "y")
    return bool(value)


def _int(value: Any) -> int | None:
    return value if value is None or type(value) is int else int(value)


Normal = tuple[Any, Decimal | None, int | None, bool | None]


def normalise(description: Any, price: Any, department: Any, active: Any) -> Normal:
    """Typed values to compare: Decimal price (equal whatever its scale), int, bool."""
    return (description, _price(price), _int(department), _bool(active))


_expected_cache: dict[Path, dict[str, Normal]] = {}


def expected_table(path: Path) -> dict[str, Normal]:
    """The CSV file as key → normalised values (cached per file)."""
    if path not in _expected_cache:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            next(reader)
            _expected_cache[path] = {
                upc: (description or None, Decimal(price), int(department), active == "1")
                for upc, description, price, department, active in reader
            }
    return _expected_cache[path]


def compare(expected: dict[str, Normal], actual: Iterable[tuple[Any, ...]]) -> str | None:
    """None when ``actual`` rows equal ``expected`` exactly; otherwise what differs."""
    seen = 0
    missing_or_extra: list[str] = []
    differing: list[str] = []
    extra = 0
    for upc, *values in actual:
        seen += 1
        want = expected.get(upc)
        if want is None:
            extra += 1
            if len(missing_or_extra) < 3:
                missing_or_extra.append(f"extra {upc!r}")
            continue
        got = normalise(*values)
        if got != want:
            differing.append(f"{upc}: table {got} file {want}")
    missing = len(expected) - (seen - extra)
    if not (missing or extra or differing):
        return None
    parts = []
    if missing:
        parts.append(f"{missing} missing")
    if extra:
        parts.append(f"{extra} extra ({', '.join(missing_or_extra)})")
    if differing:
        parts.append(f"{len(differing)} differ (e.g. {differing[0]})")
    return "; ".join(parts)


# --------------------------------------------------------------------------- targets


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Target:
    """A target database: reset the table, read it back, and the reference loader."""

    name = ""
    url = ""

    def __init__(self, table: str, workdir: Path) -> None:
        self.table = table
        self.workdir = workdir
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        if self._engine is None:
            import sqlalchemy as sa

            self._engine = sa.create_engine(self.url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def ddl(self) -> str:
        return f"CREATE TABLE {self.table} ({COLUMNS_SQL})"

    def reset(self) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.table}"))
            conn.execute(sa.text(self.ddl()))

    def before_timing(self) -> None:
        """Settle the server so a background flush does not land inside a timing."""

    def rows(self) -> Iterator[tuple[Any, ...]]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=20_000).execute(
                sa.text(f"SELECT {', '.join(FIELDS)} FROM {self.table}")
            )
            for partition in result.partitions():
                yield from partition

    def drop(self) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.table}"))

    def reference(self, csv_path: Path, initial: bool) -> Proc:
        raise NotImplementedError

    def reference_from_sql(self, source_table: str, initial: bool) -> Proc:
        """Reference for the SQL source: export the table with COPY TO, then load the file."""
        export = self.workdir / "export.csv"
        query = f"SELECT upc, description, price, department, active::int FROM {source_table}"
        dump = run_timed(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", libpq_url(POSTGRES_URL)],
            f"\\copy ({query}) TO {_sql_string(str(export))} WITH (FORMAT csv, HEADER true)\n",
        )
        if not dump.ok:
            return dump
        return combine(dump, self.reference(export, initial))


class SqliteTarget(Target):
    name = "sqlite"

    def __init__(self, table: str, workdir: Path) -> None:
        super().__init__(table, workdir)
        self.path = workdir / "sqlite" / "target.db"
        self.url = f"sqlite:///{self.path}"

    def reset(self) -> None:
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
        super().reset()
        self.close()

    def reference(self, csv_path: Path, initial: bool) -> Proc:
        path = str(csv_path).replace("\\", "\\\\").replace('"', '\\"')  # a shell argument
        if initial:
            script = f'.mode csv\n.import --skip 1 "{path}" {self.table}\n'
        else:
            t = self.table
            script = f"""\
.mode csv
CREATE TEMP TABLE stage ({COLUMNS_SQL});
.import --skip 1 --schema temp "{path}" stage
BEGIN;
DELETE FROM main.{t} WHERE NOT EXISTS (SELECT 1 FROM stage s WHERE s.upc = {t}.upc);
UPDATE main.{t} SET description = s.description, price = s.price,
  department = s.department, active = s.active
FROM stage s WHERE s.upc = {t}.upc AND ({t}.description IS NOT s.description
  OR {t}.price IS NOT s.price OR {t}.department IS NOT s.department
  OR {t}.active IS NOT s.active);
INSERT INTO main.{t} SELECT s.* FROM stage s
WHERE NOT EXISTS (SELECT 1 FROM main.{t} p WHERE p.upc = s.upc);
COMMIT;
"""
        return run_timed(["sqlite3", "-bail", str(self.path)], script)


class PostgresTarget(Target):
    name = "postgresql"
    url = POSTGRES_URL

    def before_timing(self) -> None:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            conn.execute(sa.text("CHECKPOINT"))

    def _psql(self, script: str) -> Proc:
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", libpq_url(self.url)]
        return run_timed(argv, "\\set ON_ERROR_STOP on\n" + script)

    def _staged_sql(self, stage: str) -> str:
        t = self.table
        return f"""\
DELETE FROM {t} t WHERE NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.upc = t.upc);
UPDATE {t} t SET description = s.description, price = s.price,
  department = s.department, active = s.active
FROM {stage} s WHERE s.upc = t.upc AND (t.description IS DISTINCT FROM s.description
  OR t.price IS DISTINCT FROM s.price OR t.department IS DISTINCT FROM s.department
  OR t.active IS DISTINCT FROM s.active);
INSERT INTO {t} SELECT s.* FROM {stage} s
WHERE NOT EXISTS (SELECT 1 FROM {t} t WHERE t.upc = s.upc);
"""

    def reference(self, csv_path: Path, initial: bool) -> Proc:
        copy_options = "WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')"
        path = _sql_string(str(csv_path))
        if initial:
            return self._psql(f"\\copy {self.table} FROM {path} {copy_options}\n")
        return self._psql(
            f"BEGIN;\nCREATE TEMP TABLE stage (LIKE {self.table}) ON COMMIT DROP;\n"
            f"\\copy stage FROM {path} {copy_options}\nANALYZE stage;\n"
            + self._staged_sql("stage")
            + "COMMIT;\n"
        )

    def reference_from_sql(self, source_table: str, initial: bool) -> Proc:
        # Same server: a DBA would not export at all, just run SQL against the source table.
        if initial:
            return self._psql(f"INSERT INTO {self.table} SELECT * FROM {source_table};\n")
        return self._psql("BEGIN;\n" + self._staged_sql(source_table) + "COMMIT;\n")


class MysqlTarget(Target):
    name = "mysql"
    url = MYSQL_URL
    note = ""

    def prepare(self) -> None:
        """``LOAD DATA LOCAL INFILE`` needs local_infile on the server too."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            if not conn.execute(sa.text("SELECT @@GLOBAL.local_infile")).scalar():
                conn.execute(sa.text("SET GLOBAL local_infile = 1"))
                self.note = "set GLOBAL local_infile=1 on the server"

    def _client(self, script: str) -> Proc:
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        argv = ["mariadb", "--local-infile=1", "--batch", "--protocol=TCP"]
        argv += ["-h", url.host or "127.0.0.1", "-P", str(url.port or 3306)]
        argv += ["-u", url.username or "root"]
        if url.password:
            argv.append(f"--password={url.password}")
        argv.append(url.database or "test")
        return run_timed(argv, script)

    def _load(self, csv_path: Path, table: str) -> str:
        return (
            f"LOAD DATA LOCAL INFILE {_sql_string(str(csv_path))} INTO TABLE {table}"
            " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"'"
            " ESCAPED BY '' LINES TERMINATED BY '\\n' IGNORE 1 LINES"
            f" ({', '.join(FIELDS)});\n"
        )

    def reference(self, csv_path: Path, initial: bool) -> Proc:
        if initial:
            return self._client(self._load(csv_path, self.table))
        t = self.table
        # Compare text as bytes: the default collation is case-insensitive.
        return self._client(
            "CREATE TEMPORARY TABLE stage LIKE "
            + t
            + ";\nSTART TRANSACTION;\n"
            + self._load(csv_path, "stage")
            + f"""\
DELETE t FROM {t} t LEFT JOIN stage s ON s.upc = t.upc WHERE s.upc IS NULL;
UPDATE {t} t JOIN stage s ON s.upc = t.upc SET t.description = s.description,
  t.price = s.price, t.department = s.department, t.active = s.active
WHERE NOT (CAST(t.description AS BINARY) <=> CAST(s.description AS BINARY)
  AND t.price <=> s.price AND t.department <=> s.department AND t.active <=> s.active);
INSERT INTO {t} SELECT s.* FROM stage s LEFT JOIN {t} t ON t.upc = s.upc
WHERE t.upc IS NULL;
COMMIT;
"""
        )


TARGET_CLASSES: dict[str, type[Target]] = {
    "sqlite": SqliteTarget,
    "postgresql": PostgresTarget,
    "mysql": MysqlTarget,
}
