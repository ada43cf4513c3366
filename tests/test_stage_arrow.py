"""``Dialect.bulk_load_arrow`` stores exactly what ``bulk_load`` stores.

On each database the same canonical values are staged twice, in two stages of the same
target table: once the way the database engine stages them today (driver-converted rows
through ``staging.load``), once as a ``pyarrow.RecordBatch`` of the canonical Arrow types
through ``bulk_load_arrow``; both stages must read back identical, value for value (by
``repr``: ``Decimal('1.10')`` is not ``Decimal('1.1')``, ``-0.0`` is not ``0.0``), and on
SQLite with the same ``typeof()`` of every value. An Arrow type the dialects do not know is
refused (False) with nothing loaded.
"""

from __future__ import annotations

import datetime
import random
import stat
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from conftest import fresh_database
from syncline.targets import staging
from syncline.targets.sql import SqlTarget, TargetSession

FIELDS = ("id", "name", "note", "n", "big", "price", "ok", "day", "ratio")
KEY = ("id",)

TEXTS = ["plain", "", None, "a,b", 'say "hi"', '"', '""', "line\nbreak", "cr\r\nlf",
         "tab\there", "back\\slash", "x\\", "\\N", "NULL", "null", "\\.", ",", " pad ",
         "ünïcödé ✓ 日本語", "emoji 🎉", "'single'", '"a","b"\n"c"', "\\t\\n", "end\r"]
INTS = [0, 1, -1, None, 2147483647, -2147483648, 42, -7]
BIGS = [None, 9223372036854775807, -9223372036854775808, 0, 10**15, -(10**12) - 1]
PRICES = [Decimal("0.00"), Decimal("99999999.99"), Decimal("-99999999.99"), None,
          Decimal("0.01"), Decimal("-0.01"), Decimal("12345678.90"), Decimal("5.00"),
          Decimal("0.10"), Decimal("1.25"), Decimal("-3.50"), Decimal("33.33")]
BOOLS = [True, False, None]
FLOATS = [1.5, None, -0.0, 0.0, 0.1, 1 / 3, 1e300, -2.5e-10, 1e16, 123456789.123,
          -1e-300, 2.0**53, 5.0]


def _days(first: datetime.date) -> list[datetime.date | None]:
    return [first, datetime.date(9999, 12, 31), None, datetime.date(1970, 1, 1),
            datetime.date(2000, 2, 29), datetime.date(1969, 12, 31), datetime.date(2024, 1, 1)]


def _rows(first_day: datetime.date, count: int) -> list[tuple[Any, ...]]:
    """Canonical values, in FIELDS order; every list cycled so values meet in many rows."""
    days = _days(first_day)
    rnd = random.Random(7)
    rows = []
    for i in range(count):
        rows.append((i, TEXTS[i % len(TEXTS)], TEXTS[(i * 7 + 3) % len(TEXTS)],
                     INTS[i % len(INTS)], BIGS[i % len(BIGS)],
                     PRICES[i % len(PRICES)] if i < 2 * len(PRICES) else
                     Decimal(rnd.randrange(-9999999999, 9999999999)).scaleb(-2),
                     BOOLS[i % len(BOOLS)], days[i % len(days)],
                     FLOATS[i % len(FLOATS)] if i < 2 * len(FLOATS) else
                     rnd.uniform(-1e6, 1e6)))
    return rows


ARROW_TYPES = [pa.int64(), pa.string(), pa.string(), pa.int64(), pa.int64(),
               pa.decimal128(10, 2), pa.bool_(), pa.date32(), pa.float64()]


def _batch(rows: list[tuple[Any, ...]]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    arrays = [pa.array(list(c), t) for c, t in zip(columns[:-1], ARROW_TYPES, strict=True)]
    arrays.append(pa.array(list(columns[-1]), pa.int64()))
    return pa.RecordBatch.from_arrays(arrays, names=[*FIELDS, staging.ROW])


def _converters(session: TargetSession, table: sa.Table
                ) -> list[Callable[[Any], Any] | None]:
    """As engines/database.py's ``_driver_converters`` (to_db is the identity for these
    kinds; booleans go as they are)."""
    dialect = session.conn.dialect
    out: list[Callable[[Any], Any] | None] = []
    for f in FIELDS:
        column_type = table.c[f].type
        bind = column_type.dialect_impl(dialect).bind_processor(dialect)
        out.append(None if isinstance(column_type, sa.Boolean) else bind)
    return out


def _create_target(engine: sa.Engine) -> None:
    sa.Table("items", sa.MetaData(),
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("name", sa.String(200)), sa.Column("note", sa.Text),
             sa.Column("n", sa.Integer), sa.Column("big", sa.BigInteger),
             sa.Column("price", sa.Numeric(10, 2)), sa.Column("ok", sa.Boolean),
             sa.Column("day", sa.Date), sa.Column("ratio", sa.Double)).create(engine)


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TargetSession]:
    """A run's session on a database of its own holding the target table ``items``."""
    with fresh_database(request.param, tmp_path, request) as db:
        _create_target(db.engine)
        target = SqlTarget(db.url)
        s = target.session()
        try:
            yield s
        finally:
            s.close()
            target.close()


def _read(session: TargetSession, stage: staging.Stage) -> list[str]:
    table = stage.table
    query = sa.select(table).order_by(table.c[staging.ROW])
    return [repr(tuple(r)) for r in session.conn.execute(query)]


def _typeofs(session: TargetSession, stage: staging.Stage) -> list[tuple[Any, ...]]:
    table = stage.table
    query = sa.select(*(sa.func.typeof(c) for c in table.columns)).order_by(
        table.c[staging.ROW])
    return [tuple(r) for r in session.conn.execute(query)]


def test_arrow_stages_exactly_what_rows_stage(session: TargetSession) -> None:
    mysql = session.dialect.implicit_commit_ddl  # its DATE starts at year 1000
    rows = _rows(datetime.date(1000 if mysql else 1, 1, 1), 300)
    numbered = [(*r, i + 1) for i, r in enumerate(rows)]
    old = staging.create_stage(session, "items", FIELDS, KEY)
    new = staging.create_stage(session, "items", FIELDS, KEY)

    converters = _converters(session, old.target)
    # as _compute does: each converter maps its whole column, NULLs included
    columns = [col if c is None else list(map(c, col))
               for c, col in zip(converters, zip(*rows, strict=True), strict=True)]
    driver_rows = list(zip(*columns, range(1, len(rows) + 1), strict=True))
    staging.load(session, old, driver_rows)
    assert staging.load_arrow(session, new, _batch(numbered)) is True
    # read as the run reads a stage: once indexed (SQLite: copied in from its scratch file)
    staging.index(session, old)
    staging.index(session, new)

    before, after = _read(session, old), _read(session, new)
    assert len(before) == len(rows)
    assert after == before
    if session.conn.dialect.name == "sqlite":
        assert _typeofs(session, new) == _typeofs(session, old)
        kinds = {t for r in _typeofs(session, old) for t in r}
        assert {"integer", "real", "text", "null"} <= kinds  # NUMERIC keeps 5.00 an integer
    # the empty string stayed one, and NULL stayed NULL
    table = new.table
    empty = session.conn.execute(sa.select(sa.func.count()).where(table.c.name == "")
                                 ).scalar_one()
    nulls = session.conn.execute(sa.select(sa.func.count()).where(table.c.name.is_(None))
                                 ).scalar_one()
    assert empty == sum(1 for r in rows if r[1] == "") > 0
    assert nulls == sum(1 for r in rows if r[1] is None) > 0


def test_an_empty_batch_loads_nothing(session: TargetSession) -> None:
    stage = staging.create_stage(session, "items", FIELDS, KEY)
    assert staging.load_arrow(session, stage, _batch([(*r, 1) for r in _rows(
        datetime.date(2000, 1, 1), 1)]).slice(0, 0))
    staging.index(session, stage)
    assert _read(session, stage) == []


@pytest.mark.parametrize("odd", [pa.timestamp("us"), pa.large_string(), pa.int32(),
                                 pa.decimal256(10, 2), pa.binary()])
def test_an_unknown_arrow_type_is_refused_and_loads_nothing(session: TargetSession,
                                                            odd: pa.DataType) -> None:
    stage = staging.create_stage(session, "items", FIELDS, KEY)
    rows = [(*r, i + 1) for i, r in enumerate(_rows(datetime.date(2000, 1, 1), 3))]
    batch = _batch(rows)
    values: dict[str, Any] = {
        "timestamp[us]": [datetime.datetime(2020, 1, 1)] * 3, "large_string": ["a"] * 3,
        "int32": [1, 2, 3], "decimal256(10, 2)": [Decimal("1.00")] * 3,
        "binary": [b"x"] * 3}
    where = FIELDS.index({"timestamp[us]": "note", "large_string": "note", "int32": "n",
                          "decimal256(10, 2)": "price", "binary": "note"}[str(odd)])
    batch = batch.set_column(where, FIELDS[where], pa.array(values[str(odd)], odd))
    assert session.dialect.bulk_load_arrow(session, stage.loading, [*FIELDS, staging.ROW],
                                           batch) is False
    assert _read(session, stage) == []


def test_mysql_without_load_data_local_refuses_and_loads_nothing(
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Where LOAD DATA LOCAL is refused, False: the caller stages the rows with
    executemany (and later batches go there at once)."""
    with fresh_database("mysql", tmp_path, request) as db:
        _create_target(db.engine)
        url = sa.make_url(db.url).update_query_dict({"local_infile": "0"})
        target = SqlTarget(url.render_as_string(hide_password=False))
        session = target.session()
        try:
            stage = staging.create_stage(session, "items", FIELDS, KEY)
            rows = [(*r, i + 1) for i, r in enumerate(_rows(datetime.date(2000, 1, 1), 5))]
            columns = [*FIELDS, staging.ROW]
            assert session.dialect.bulk_load_arrow(session, stage.loading, columns,
                                                   _batch(rows)) is False
            assert _read(session, stage) == []
            assert session.dialect.bulk_load_arrow(session, stage.loading, columns,
                                                   _batch(rows)) is False
        finally:
            session.close()
            target.close()


@pytest.fixture
def sqlite_target(tmp_path: Path) -> Iterator[SqlTarget]:
    """A SQLite target holding the table ``items`` (closed after the test)."""
    with fresh_database("sqlite", tmp_path, None) as db:  # type: ignore[arg-type]
        _create_target(db.engine)
        target = SqlTarget(db.url)
        try:
            yield target
        finally:
            target.close()


def _five() -> Any:
    return _batch([(*r, i + 1) for i, r in enumerate(_rows(datetime.date(2000, 1, 1), 5))])


def test_sqlite_stages_through_a_scratch_file_it_deletes(sqlite_target: SqlTarget) -> None:
    """With the ADBC driver installed (a dependency), SQLite stages Arrow batches in a
    scratch database attached to the run's connection — a file only this user can read
    (it holds the source's rows) — and deletes it at the end."""
    import syncline.targets.sqlite_scratch as scratch

    assert scratch.available()
    s = sqlite_target.session()
    try:
        path = Path(s.dialect._scratch.path)  # type: ignore[attr-defined]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        stage = staging.create_stage(s, "items", FIELDS, KEY)
        assert staging.load_arrow(s, stage, _five())
        assert path.stat().st_size > 0
        staging.index(s, stage)
        assert len(_read(s, stage)) == 5
    finally:
        s.close()
    assert not path.exists()
    # the connection went back to the pool without the scratch database
    with sqlite_target.engine.connect() as conn:
        names = [r[1] for r in conn.exec_driver_sql("PRAGMA database_list")]
    assert scratch.SCHEMA not in names


def test_ctrl_c_inside_the_adbc_driver_is_an_interrupt(sqlite_target: SqlTarget,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The ADBC driver answers Ctrl-C with NotSupportedError('NOT_IMPLEMENTED') caused by
    the KeyboardInterrupt: the run must see the interrupt (exit 130), not a target error."""
    import syncline.targets.sqlite_scratch as scratch

    def interrupted(self: Any, table: Any, batch: Any) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("NOT_IMPLEMENTED") from exc

    monkeypatch.setattr(scratch.Scratch, "load", interrupted)
    s = sqlite_target.session()
    try:
        stage = staging.create_stage(s, "items", FIELDS, KEY)
        with pytest.raises(KeyboardInterrupt):
            staging.load_arrow(s, stage, _five())
    finally:
        s.close()
