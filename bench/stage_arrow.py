"""Time staging the benchmark's v1.csv (1M rows by default) into a run's stage on each
database, two ways: today's rows (canonical Python values through the driver converters,
then ``staging.load`` -> ``Dialect.bulk_load``) and ``Dialect.bulk_load_arrow`` of
``pyarrow.RecordBatch`` es; both stages are then compared in SQL (EXCEPT both ways: 0 rows).

    python bench/stage_arrow.py [--csv /tmp/syncline-bench/data-1000000-42/v1.csv]
                                [--targets sqlite,postgresql,mysql] [--batch 10000]

Only the staging is timed: the canonical values (Python lists for the old way, Arrow
batches for the new one) are made beforehand, as the columnar reader would hand them.
Each database gets a schema/database (a SQLite file) of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from syncline.targets import staging
from syncline.targets.sql import SqlTarget, TargetSession

URLS = {"postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "mysql": "mysql+pymysql://root@127.0.0.1:3306/test"}
FIELDS = ("upc", "description", "price", "department", "active")
TYPES = [pa.string(), pa.string(), pa.decimal128(10, 2), pa.int64(), pa.bool_()]


def read_batches(path: Path, size: int) -> list[pa.RecordBatch]:
    """The file as canonical Arrow batches (an empty description is NULL), numbered."""
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={f: pa.string() for f in FIELDS}, strings_can_be_null=False))
    columns = []
    for f, t in zip(FIELDS, TYPES, strict=True):
        column = table[f]
        if f == "description":
            column = pa.compute.if_else(pa.compute.equal(column, ""), None, column)
        columns.append(column.cast(t))
    columns.append(pa.array(range(1, table.num_rows + 1), pa.int64()))
    whole = pa.Table.from_arrays(columns, names=[*FIELDS, staging.ROW]).combine_chunks()
    return whole.to_batches(max_chunksize=size)


def converters(session: TargetSession, table: sa.Table) -> list[Callable[[Any], Any] | None]:
    dialect = session.conn.dialect
    out: list[Callable[[Any], Any] | None] = []
    for f in FIELDS:
        t = table.c[f].type
        out.append(None if isinstance(t, sa.Boolean)
                   else t.dialect_impl(dialect).bind_processor(dialect))
    return out


def database(kind: str, folder: Path) -> tuple[str, Callable[[], None]]:
    """A URL to a database of its own, and what drops it."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'stage.db'}", lambda: None
    name = f"b_{uuid.uuid4().hex[:10]}"
    server = sa.create_engine(URLS[kind])
    with server.begin() as conn:
        conn.exec_driver_sql(f"CREATE {'SCHEMA' if kind == 'postgresql' else 'DATABASE'} {name}")
    url = (server.url.update_query_dict({"options": f"-csearch_path={name}"})
           if kind == "postgresql" else server.url.set(database=name))

    def drop() -> None:
        with server.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE" if kind == "postgresql"
                                 else f"DROP DATABASE {name}")
        server.dispose()

    return url.render_as_string(hide_password=False), drop


def bench(kind: str, batches: list[pa.RecordBatch]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        url, drop = database(kind, Path(folder))
        try:
            engine = sa.create_engine(url)
            sa.Table("products", sa.MetaData(), sa.Column("upc", sa.String(32), primary_key=True),
                     sa.Column("description", sa.String(200)),
                     sa.Column("price", sa.Numeric(10, 2)), sa.Column("department", sa.Integer),
                     sa.Column("active", sa.Boolean)).create(engine)
            engine.dispose()
            target = SqlTarget(url)
            session = target.session()
            try:
                return _measure(session, batches)
            finally:
                session.close()
                target.close()
        finally:
            drop()


def _measure(session: TargetSession, batches: list[pa.RecordBatch]) -> dict[str, float]:
    old = staging.create_stage(session, "products", FIELDS, ("upc",))
    new = staging.create_stage(session, "products", FIELDS, ("upc",))
    convert = converters(session, old.target)
    python = [[c.to_pylist() for c in b.columns] for b in batches]  # canonical values
    started = time.perf_counter()
    for columns in python:
        values = [col if conv is None else list(map(conv, col))
                  for conv, col in zip(convert, columns[:-1], strict=True)]
        staging.load(session, old, list(zip(*values, columns[-1], strict=True)))
    rows_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for batch in batches:
        assert session.dialect.bulk_load_arrow(session, new.loading, [*FIELDS, staging.ROW],
                                               batch)
    arrow_seconds = time.perf_counter() - started
    a, b = old.loading, new.loading
    differ = sum(session.conn.execute(sa.select(sa.func.count()).select_from(
        sa.select(x).except_(sa.select(y)).subquery())).scalar_one() for x, y in ((a, b), (b, a)))
    count = session.conn.execute(sa.select(sa.func.count()).select_from(b)).scalar_one()
    return {"rows": rows_seconds, "arrow": arrow_seconds, "staged": count, "differ": differ}


def bench_adbc(batches: list[pa.RecordBatch]) -> dict[str, float]:
    """SQLite through the ADBC driver (not used by syncline; measured to decide): the
    batches, with SQLite's bind conversions (decimal -> float, date -> text), ingested by
    ADBC into a scratch database file, which a sqlite3 connection ATTACHes (outside any
    transaction: SQLite refuses ATTACH inside one) and copies into a temporary stage."""
    import sqlite3

    import adbc_driver_sqlite.dbapi as adbc

    from syncline.targets.sqlite import _bound

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder) / "scratch.db"
        run = sqlite3.connect(Path(folder) / "target.db", isolation_level=None)
        started = time.perf_counter()
        run.execute("ATTACH ? AS scratch", (str(scratch),))
        run.execute("BEGIN")
        run.execute("CREATE TEMP TABLE stage (upc VARCHAR(32), description VARCHAR(200),"
                    " price NUMERIC(10,2), department INTEGER, active BOOLEAN,"
                    " _syncline_row INTEGER)")
        with adbc.connect(str(scratch), autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode = OFF")
            for i, batch in enumerate(batches):
                bound = pa.RecordBatch.from_arrays([_bound(c) for c in batch.columns],
                                                   names=batch.schema.names)
                cursor.adbc_ingest("t", bound, mode="create" if i == 0 else "append")
        ingested = time.perf_counter() - started
        run.execute("INSERT INTO temp.stage SELECT * FROM scratch.t")
        total = time.perf_counter() - started
        count = run.execute("SELECT count(*) FROM temp.stage").fetchone()[0]
        run.execute("ROLLBACK")
        run.close()
    return {"ingest": ingested, "total": total, "staged": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path,
                        default=Path("/tmp/syncline-bench/data-1000000-42/v1.csv"))
    parser.add_argument("--targets", default="sqlite,postgresql,mysql")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--adbc", action="store_true",
                        help="also time SQLite through adbc-driver-sqlite (installed)")
    args = parser.parse_args()
    batches = read_batches(args.csv, args.batch)
    print(f"{sum(b.num_rows for b in batches)} rows in batches of {args.batch}")
    for kind in args.targets.split(","):
        r = bench(kind, batches)
        print(f"{kind:<11} rows {r['rows']:6.2f} s   arrow {r['arrow']:6.2f} s"
              f"   ({r['rows'] / r['arrow']:.1f}x)   staged {r['staged']}"
              f"   differing rows {r['differ']}")
    if args.adbc:
        a = bench_adbc(batches)
        print(f"sqlite adbc: ingest into a scratch file {a['ingest']:.2f} s, with the copy"
              f" into the attached stage {a['total']:.2f} s, staged {a['staged']}")


if __name__ == "__main__":
    main()
