"""The value rule book in syncline.types: one test per documented rule."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.errors import CoercionError
from syncline.inference import infer_kind, infer_spec
from syncline.targets.registry import dialect_for
from syncline.types import (
    BOOLEAN_FALSE,
    BOOLEAN_TRUE,
    ColumnSpec,
    TypeOptions,
    source_coercer,
    target_normalizer,
    to_db,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
OPTS = TypeOptions()


def src(spec: ColumnSpec, value: Any, options: TypeOptions = OPTS) -> Any:
    return source_coercer(spec, options)(value)


def tgt(spec: ColumnSpec, value: Any, options: TypeOptions = OPTS) -> Any:
    return target_normalizer(spec, options)(value)


def rejects(spec: ColumnSpec, value: Any, options: TypeOptions = OPTS) -> CoercionError:
    with pytest.raises(CoercionError) as info:
        src(spec, value, options)
    assert info.value.field == spec.name
    assert info.value.value is value
    return info.value


INT = ColumnSpec("qty", "integer")
INT32 = ColumnSpec("qty", "integer", int_bits=32)
DEC = ColumnSpec("price", "decimal", precision=10, scale=2)
DEC12 = ColumnSpec("price", "decimal", precision=12, scale=2)
DEC_FREE = ColumnSpec("price", "decimal")
FLT = ColumnSpec("ratio", "float")
BOOL = ColumnSpec("active", "boolean")
DATE = ColumnSpec("day", "date")
DT = ColumnSpec("at", "datetime")
TIME = ColumnSpec("t", "time")
TEXT = ColumnSpec("name", "text", length=5)
ALL_KINDS = [INT, DEC, FLT, BOOL, DATE, DT, TIME, TEXT, ColumnSpec("x", "other")]


# ------------------------------------------------------------------------- all kinds

@pytest.mark.parametrize("spec", ALL_KINDS, ids=lambda s: s.kind)
def test_none_and_blank_are_null(spec: ColumnSpec) -> None:
    assert src(spec, None) is None
    assert tgt(spec, None) is None
    assert to_db(spec, OPTS)(None) is None
    if spec.kind != "other":
        assert src(spec, "") is None
        assert src(spec, "   ") is None
        assert src(spec, " \t ", TypeOptions(strip_text=False)) is None


@pytest.mark.parametrize("spec", [INT, DEC, FLT, BOOL, DATE, DT, TIME], ids=lambda s: s.kind)
def test_empty_without_empty_as_null_is_an_error_except_text(spec: ColumnSpec) -> None:
    err = rejects(spec, "", TypeOptions(empty_as_null=False))
    assert "empty" in err.message
    assert src(TEXT, "  ", TypeOptions(empty_as_null=False)) == ""


# ------------------------------------------------------------------------- integer

@pytest.mark.parametrize(("raw", "expected"), [
    ("12", 12), (" 12 ", 12), ("+12", 12), ("-3", -3), ("0", 0), ("12.0", 12),
    ("12.00", 12), ("007", 7), (12, 12), (Decimal("12"), 12), (Decimal("12.00"), 12),
    (12.0, 12), ("9223372036854775807", 2**63 - 1),
])
def test_integer_accepts(raw: Any, expected: int) -> None:
    value = src(INT, raw)
    assert value == expected and type(value) is int


@pytest.mark.parametrize(("raw", "words"), [
    ("1e3", "scientific notation"), ("12.5", "not a whole number"),
    ("abc", "not a whole number"), ("1,000", "thousands"), ("1_000", "not a whole number"),
    ("١٢", "not a whole number"), (True, "boolean"), (12.5, "not a whole number"),
    (float("nan"), "not a whole number"), (Decimal("1.5"), "not a whole number"),
    ("9223372036854775808", "out of range for a 64-bit"), (date(2024, 1, 1), "date"),
])
def test_integer_rejects(raw: Any, words: str) -> None:
    assert words in rejects(INT, raw).message


def test_integer_range_follows_int_bits_and_unsigned() -> None:
    assert src(INT32, "2147483647") == 2147483647
    assert "-2147483648 to 2147483647" in rejects(INT32, "2147483648").message
    small = ColumnSpec("n", "integer", int_bits=16)
    rejects(small, 40000)
    unsigned = ColumnSpec("n", "integer", int_bits=8, unsigned=True)
    assert src(unsigned, "255") == 255
    rejects(unsigned, "-1")


def test_integer_target_tolerates_driver_values() -> None:
    assert tgt(INT, 5) == 5
    assert tgt(INT, Decimal("5")) == 5
    assert tgt(INT, 5.0) == 5
    assert tgt(INT, "5") == 5
    assert tgt(INT, "junk") == "junk"


# ------------------------------------------------------------------------- decimal

@pytest.mark.parametrize(("raw", "expected"), [
    ("1.4", "1.40"), ("1.400", "1.40"), ("-0.5", "-0.50"), (".5", "0.50"), ("5.", "5.00"),
    (" 12.34 ", "12.34"), ("+3", "3.00"), ("99999999.99", "99999999.99"),
    (1.4, "1.40"), (0.1, "0.10"), (7, "7.00"), (Decimal("2.5"), "2.50"),
    ("-0", "-0.00"),  # equal (and hash-equal) to 0.00
])
def test_decimal_accepts_and_takes_the_column_scale(raw: Any, expected: str) -> None:
    value = src(DEC, raw)
    assert isinstance(value, Decimal)
    assert str(value) == expected


@pytest.mark.parametrize(("spec", "raw", "words"), [
    (DEC, "12.345", "'12.345' has more decimal places than numeric(10,2) allows"),
    (DEC, "1.401", "more decimal places"),
    (DEC, 0.125, "more decimal places"),
    (DEC12, "123456789012345678.99", "does not fit numeric(12,2)"),
    (DEC, "100000000.00", "at most 8 digits before the decimal point"),
    (DEC, "1,234.5", "no thousands separators"),
    (DEC, "1.234,5", "not a decimal number"),
    (DEC, "1e3", "scientific notation"),
    (DEC, "1E-2", "scientific notation"),
    (DEC, "NaN", "not a finite number"),
    (DEC, "Infinity", "not a finite number"),
    (DEC, "-inf", "not a finite number"),
    (DEC, float("nan"), "not a finite number"),
    (DEC, Decimal("Infinity"), "not a finite number"),
    (DEC, "1_000", "not a decimal number"),
    (DEC, "12 34", "not a decimal number"),
    (DEC, True, "boolean"),
    (DEC, "abc", "not a decimal number"),
])
def test_decimal_rejects(spec: ColumnSpec, raw: Any, words: str) -> None:
    assert words in rejects(spec, raw).message


def test_decimal_without_scale_keeps_the_text_exactly() -> None:
    assert str(src(DEC_FREE, "123456789012345678901234567890.123456789")) == \
        "123456789012345678901234567890.123456789"
    assert str(src(DEC_FREE, "1.400")) == "1.400"
    # numeric(p) means scale 0, as in PostgreSQL and MySQL
    whole = ColumnSpec("n", "decimal", precision=5)
    assert src(whole, "12.0") == Decimal("12")
    rejects(whole, "12.5")
    rejects(whole, "123456")


def test_decimal_target_compares_at_the_column_scale() -> None:
    assert tgt(DEC, Decimal("1.4")) == Decimal("1.40")
    assert str(tgt(DEC, 0.30000000000000004)) == "0.30"  # float noise from SQLite REAL
    assert tgt(DEC, 3) == Decimal("3.00")
    assert tgt(DEC, "2.50") == Decimal("2.50")
    assert tgt(DEC, "junk") == "junk"
    assert tgt(DEC, b"x") == b"x"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2,
                   min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99")))
def test_decimal_round_trips_from_its_text(value: Decimal) -> None:
    text = format(value, "f")
    coerced = src(DEC, text)
    assert coerced == value
    assert str(coerced) == format(value.quantize(Decimal("0.01")), "f")
    assert tgt(DEC, to_db(DEC, OPTS)(coerced)) == coerced


@given(st.integers(min_value=0, max_value=10**40), st.integers(min_value=0, max_value=30))
def test_decimal_text_is_never_changed_through_float(digits: int, places: int) -> None:
    text = str(digits)
    if places:
        text = text.rjust(places + 1, "0")
        text = text[:-places] + "." + text[-places:]
    assert format(src(DEC_FREE, text), "f") == text


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integer_text_is_never_changed_through_float(value: int) -> None:
    assert src(INT, str(value)) == value
    assert src(INT, f"{value}.00") == value


# ------------------------------------------------------------------------- float

@pytest.mark.parametrize(("raw", "expected"), [
    ("1.5", 1.5), (" -2 ", -2.0), ("1e3", 1000.0), (3, 3.0), (Decimal("0.25"), 0.25),
    (0.1, 0.1),
])
def test_float_accepts(raw: Any, expected: float) -> None:
    value = src(FLT, raw)
    assert value == expected and type(value) is float


@pytest.mark.parametrize("raw", ["nan", "inf", "-Infinity", float("nan"), "abc", "1_0", True])
def test_float_rejects(raw: Any) -> None:
    rejects(FLT, raw)


def test_float_target() -> None:
    assert tgt(FLT, Decimal("0.5")) == 0.5
    assert tgt(FLT, 2) == 2.0


# ------------------------------------------------------------------------- boolean

@pytest.mark.parametrize("raw", [*sorted(BOOLEAN_TRUE), "TRUE", " Yes ", "On", "T", True, 1])
def test_boolean_true(raw: Any) -> None:
    assert src(BOOL, raw) is True


@pytest.mark.parametrize("raw", [*sorted(BOOLEAN_FALSE), "FALSE", " No ", "Off", "F", False, 0])
def test_boolean_false(raw: Any) -> None:
    assert src(BOOL, raw) is False


@pytest.mark.parametrize("raw", ["2", "maybe", "tru", "-1", "1.0", "yes please", 2, -1, 1.0,
                                 Decimal("1")])
def test_boolean_rejects_instead_of_false(raw: Any) -> None:
    rejects(BOOL, raw)


def test_boolean_spellings_are_disjoint_and_documented() -> None:
    assert BOOLEAN_TRUE == {"1", "true", "t", "yes", "y", "on"}
    assert BOOLEAN_FALSE == {"0", "false", "f", "no", "n", "off"}
    assert "true" in rejects(BOOL, "maybe").message


@pytest.mark.parametrize(("raw", "expected"), [(1, True), (0, False), (True, True),
                                                ("1", True), ("f", False)])
def test_boolean_target_tolerates_driver_values(raw: Any, expected: bool) -> None:
    assert tgt(BOOL, raw) is expected


def test_boolean_target_keeps_what_it_cannot_read() -> None:
    assert tgt(BOOL, 7) == 7


# ------------------------------------------------------------------------- date

@pytest.mark.parametrize(("raw", "expected"), [
    ("2024-02-29", date(2024, 2, 29)), (" 2024-01-05 ", date(2024, 1, 5)),
    (date(2024, 1, 5), date(2024, 1, 5)), (datetime(2024, 1, 5), date(2024, 1, 5)),
])
def test_date_accepts(raw: Any, expected: date) -> None:
    value = src(DATE, raw)
    assert value == expected and type(value) is date


@pytest.mark.parametrize("raw", ["2023-02-29", "05/01/2024", "20240105", "2024-1-5",
                                 "2024-01-05T10:00", datetime(2024, 1, 5, 10, 30), 20240105])
def test_date_rejects(raw: Any) -> None:
    rejects(DATE, raw)


def test_date_target() -> None:
    assert tgt(DATE, "2024-01-05") == date(2024, 1, 5)
    assert tgt(DATE, datetime(2024, 1, 5)) == date(2024, 1, 5)
    assert tgt(DATE, "junk") == "junk"


# ------------------------------------------------------------------------- datetime

def canonical(value: Any, zone: Any = UTC) -> bool:
    return isinstance(value, datetime) and value.tzinfo is zone


@pytest.mark.parametrize(("raw", "expected"), [
    ("2024-05-06T12:34:56", datetime(2024, 5, 6, 12, 34, 56, tzinfo=BERLIN)),
    ("2024-05-06 12:34:56", datetime(2024, 5, 6, 12, 34, 56, tzinfo=BERLIN)),
    ("2024-05-06 10:34:56Z", datetime(2024, 5, 6, 12, 34, 56, tzinfo=BERLIN)),
    ("2024-05-06T06:34:56-04:00", datetime(2024, 5, 6, 12, 34, 56, tzinfo=BERLIN)),
    ("2024-05-06", datetime(2024, 5, 6, tzinfo=BERLIN)),
    (datetime(2024, 5, 6, 12, 34, 56), datetime(2024, 5, 6, 12, 34, 56, tzinfo=BERLIN)),
    (datetime(2024, 5, 6, 10, 34, 56, tzinfo=UTC),
     datetime(2024, 5, 6, 12, 34, 56, tzinfo=BERLIN)),
    (date(2024, 5, 6), datetime(2024, 5, 6, tzinfo=BERLIN)),
])
def test_datetime_naive_is_read_in_the_zone_and_aware_is_converted(raw: Any,
                                                                   expected: datetime) -> None:
    value = src(DT, raw, TypeOptions(zone=BERLIN))
    assert canonical(value, BERLIN)
    assert value == expected and value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("raw", ["2024-13-01 00:00", "06.05.2024 12:00", "yesterday", "12:00",
                                 12345, "2024-05-06 25:00"])
def test_datetime_rejects(raw: Any) -> None:
    assert "ISO 8601" in rejects(DT, raw).message or isinstance(raw, int)


@pytest.mark.parametrize(("fsp", "expected_us"), [(6, 987654), (3, 987000), (0, 0)])
def test_datetime_is_truncated_not_rounded_to_fsp(fsp: int, expected_us: int) -> None:
    spec = ColumnSpec("at", "datetime", fsp=fsp)
    assert src(spec, "2024-05-06 12:34:56.987654").microsecond == expected_us
    assert src(spec, "2024-05-06 12:34:56.987654").second == 56
    assert tgt(spec, datetime(2024, 5, 6, 12, 34, 56, 987654)).microsecond == expected_us


def test_datetime_in_the_dst_gap_moves_forward() -> None:
    value = src(DT, "2024-03-31 02:30", TypeOptions(zone=BERLIN))
    assert (value.hour, value.minute, value.utcoffset()) == (3, 30, timedelta(hours=2))


@pytest.mark.parametrize(("zone", "wall", "offsets"), [
    (BERLIN, "2024-10-27 02:30", ("+02:00", "+01:00")),
    (NEW_YORK, "2024-11-03 01:30", ("-04:00", "-05:00")),
])
def test_datetime_in_the_dst_overlap_round_trips(zone: ZoneInfo, wall: str,
                                                 offsets: tuple[str, str]) -> None:
    options = TypeOptions(zone=zone)
    first = src(DT, wall, options)
    assert first.fold == 0
    for offset in offsets:
        value = src(DT, wall + offset, options)
        assert canonical(value, zone)
        assert value.isoformat() == wall.replace(" ", "T") + ":00" + offset
        for tz in (False, True):
            spec = ColumnSpec("at", "datetime", timezone=tz)
            stored = to_db(spec, options)(value)
            assert (stored.tzinfo is None) is not tz
            assert tgt(spec, stored, options) == value
            # a naive column stores the wall time only; a re-read compares equal
            assert tgt(spec, stored.replace(tzinfo=None) if tz else stored, options) == value


def test_datetime_to_db() -> None:
    options = TypeOptions(zone=BERLIN)
    value = src(DT, "2024-05-06T10:00:00Z", options)
    assert to_db(DT, options)(value) == datetime(2024, 5, 6, 12, 0)
    aware = to_db(ColumnSpec("at", "datetime", timezone=True), options)(value)
    assert aware.tzinfo is BERLIN and aware == value
    # a value in another zone (from a user hook) is converted first
    other = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    assert to_db(DT, options)(other) == datetime(2024, 5, 6, 12, 0)


def test_datetime_target_reads_sqlite_text_and_aware_driver_values() -> None:
    options = TypeOptions(zone=BERLIN)
    assert tgt(DT, "2024-05-06 12:00:00.000000", options) == \
        datetime(2024, 5, 6, 12, tzinfo=BERLIN)
    pg_value = datetime(2024, 5, 6, 10, tzinfo=timezone.utc)  # noqa: UP017 - a driver's tzinfo
    assert canonical(tgt(DT, pg_value, options), BERLIN)
    assert tgt(DT, "junk", options) == "junk"


@settings(max_examples=300)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2037, 12, 31),
                    timezones=st.just(BERLIN)),
       st.integers(min_value=0, max_value=6), st.booleans())
def test_datetime_round_trip_is_identity(raw: datetime, fsp: int, tz: bool) -> None:
    options = TypeOptions(zone=BERLIN)
    spec = ColumnSpec("at", "datetime", fsp=fsp, timezone=tz)
    value = src(spec, raw, options)
    assert canonical(value, BERLIN)
    assert value.microsecond % 10 ** (6 - fsp) == 0
    stored = to_db(spec, options)(value)
    back = tgt(spec, stored, options)
    assert back == value
    assert canonical(back, BERLIN)
    # what a database without time zone support hands back: the naive wall time, or text
    assert tgt(spec, stored.replace(tzinfo=None), options) == value
    assert tgt(spec, stored.replace(tzinfo=None).isoformat(" "), options) == value
    # the source text of the canonical value reads back the same
    assert src(spec, value.isoformat(), options) == value


# ------------------------------------------------------------------------- time

@pytest.mark.parametrize(("raw", "expected"), [
    ("12:34", time(12, 34)), ("12:34:56", time(12, 34, 56)),
    ("12:34:56.5", time(12, 34, 56, 500000)), (time(1, 2), time(1, 2)),
    (timedelta(hours=13, minutes=5), time(13, 5)),
])
def test_time_accepts(raw: Any, expected: time) -> None:
    assert src(TIME, raw) == expected


@pytest.mark.parametrize("raw", ["25:00", "noon", "1234", timedelta(days=2), 5])
def test_time_rejects(raw: Any) -> None:
    rejects(TIME, raw)


def test_time_truncates_to_fsp() -> None:
    spec = ColumnSpec("t", "time", fsp=0)
    assert src(spec, "12:34:56.999") == time(12, 34, 56)
    assert tgt(spec, time(12, 34, 56, 999999)) == time(12, 34, 56)
    assert tgt(spec, timedelta(hours=1)) == time(1)


# ------------------------------------------------------------------------- text

@pytest.mark.parametrize(("raw", "expected"), [
    ("66", "66"), ("007", "007"), (" ab ", "ab"), (66, "66"), (Decimal("66"), "66"),
    (Decimal("1E+2"), "100"), (Decimal("1.50"), "1.50"), (66.0, "66.0"), (True, "true"),
    (date(2024, 1, 2), "2024-01-02"),
])
def test_text_accepts(raw: Any, expected: str) -> None:
    assert src(ColumnSpec("name", "text", length=20), raw) == expected


def test_text_strip_is_an_option() -> None:
    assert src(TEXT, " ab ", TypeOptions(strip_text=False)) == " ab "


def test_text_longer_than_the_column_is_an_error() -> None:
    err = rejects(TEXT, "abcdef")
    assert "6 characters long; the column allows at most 5" in err.message
    assert src(TEXT, " abcde ") == "abcde"  # length counts after stripping
    rejects(TEXT, b"bytes")


def test_text_target_never_strips() -> None:
    assert tgt(TEXT, " x") == " x"
    assert tgt(TEXT, " x") != src(TEXT, " x")
    assert tgt(TEXT, 66) == "66"


def test_other_is_unchanged() -> None:
    spec = ColumnSpec("blob", "other")
    value = {"a": [1]}
    assert src(spec, value) is value and tgt(spec, value) is value
    assert src(spec, "  ") == "  "


def test_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(Exception, match="unknown column kind"):
        ColumnSpec("x", "money")  # type: ignore[arg-type]


# ------------------------------------------------------------------------- inference

@pytest.mark.parametrize(("values", "kind"), [
    (["1", "-2", "", "30"], "integer"),
    (["1", "0", "1"], "integer"),
    (["1.5", "2", "-0.25"], "decimal"),
    (["007", "12"], "text"),
    (["1,234.5"], "text"),
    (["1e3"], "text"),
    (["true", "False", "yes"], "boolean"),
    (["y", "n"], "text"),
    (["2024-01-05", "2024-12-31"], "date"),
    (["2024-01-05", "2024-13-01"], "text"),
    (["2024-01-05 10:00:00", "2024-01-05T11:00"], "datetime"),
    (["", " "], "text"),
    ([], "text"),
    (["abc", "1"], "text"),
])
def test_infer_kind(values: list[str], kind: str) -> None:
    assert infer_kind(values) == kind


def test_infer_spec() -> None:
    spec = infer_spec("price", ["1.5", "12345.125", "-3"])
    assert (spec.kind, spec.scale, spec.precision) == ("decimal", 3, 18)
    assert isinstance(spec.sql_type, sa.Numeric) and spec.sql_type.scale == 3
    assert src(spec, "1.5") == Decimal("1.500")
    wide = infer_spec("amount", ["12345678901234567890.5"])
    assert (wide.precision, wide.scale) == (21, 1)
    assert infer_spec("n", ["1"]).sql_type.__class__ is sa.BigInteger
    assert infer_spec("s", ["x" * 300]).length is None
    assert infer_spec("s", ["x"]).length == 255
    assert infer_spec("at", ["2024-01-05T10:00:00+02:00"]).timezone is True


# ------------------------------------------------------------------------- from_column

def _reflect(engine: sa.Engine, name: str) -> dict[str, ColumnSpec]:
    table = sa.Table(name, sa.MetaData(), autoload_with=engine)
    dialect = dialect_for(engine.dialect.name)
    return {c.name: ColumnSpec.from_column(c, dialect) for c in table.columns}


def _standard_table(name: str, extra: tuple[sa.Column[Any], ...] = ()) -> sa.Table:
    return sa.Table(
        name, sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("big", sa.BigInteger), sa.Column("small", sa.SmallInteger),
        sa.Column("price", sa.Numeric(10, 2), nullable=False),
        sa.Column("ratio", sa.Float), sa.Column("active", sa.Boolean),
        sa.Column("day", sa.Date), sa.Column("at", sa.DateTime),
        sa.Column("code", sa.String(20)), sa.Column("note", sa.Text),
        *extra,
    )


def _check_standard(specs: dict[str, ColumnSpec], int_bits: tuple[int, int, int]) -> None:
    assert specs["id"].kind == "integer" and specs["id"].nullable is False
    assert [specs[c].int_bits for c in ("id", "big", "small")] == list(int_bits)
    price = specs["price"]
    assert (price.kind, price.precision, price.scale, price.nullable) == \
        ("decimal", 10, 2, False)
    assert specs["ratio"].kind == "float"
    assert specs["active"].kind == "boolean"
    assert specs["day"].kind == "date"
    assert specs["at"].kind == "datetime" and specs["at"].timezone is False
    assert (specs["code"].kind, specs["code"].length) == ("text", 20)
    assert (specs["note"].kind, specs["note"].length) == ("text", None)
    assert specs["code"].sql_type is not None


def _round_trip(engine: sa.Engine, table_name: str, zone: ZoneInfo) -> None:
    """Coerce a source row, write it with to_db, read it back: every value compares equal."""
    specs = _reflect(engine, table_name)
    options = TypeOptions(zone=zone)
    row = {"id": "1", "big": "9007199254740993", "small": "-7", "price": "1234.5",
           "ratio": "0.1", "active": "yes", "day": "2024-02-29",
           "at": "2024-10-27 02:30:00.123456+01:00", "code": " A-1 ", "note": "66"}
    canonical_row = {k: source_coercer(specs[k], options)(v) for k, v in row.items()}
    table = sa.Table(table_name, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{k: to_db(specs[k], options)(v)
                                       for k, v in canonical_row.items()}])
        stored = conn.execute(sa.select(*[table.c[k] for k in row])).one()._mapping
    back = {k: target_normalizer(specs[k], options)(stored[k]) for k in row}
    assert back == canonical_row


def test_from_column_sqlite(sqlite_engine: sa.Engine) -> None:
    _standard_table("t_types").create(sqlite_engine)
    specs = _reflect(sqlite_engine, "t_types")
    _check_standard(specs, (64, 64, 64))
    assert specs["at"].fsp == 6
    _round_trip(sqlite_engine, "t_types", BERLIN)


def test_from_column_accepts_inspector_entries(sqlite_engine: sa.Engine) -> None:
    _standard_table("t_types").create(sqlite_engine)
    columns = sa.inspect(sqlite_engine).get_columns("t_types")
    specs = {c["name"]: ColumnSpec.from_column(c, dialect_for("sqlite")) for c in columns}
    _check_standard(specs, (64, 64, 64))


def test_from_column_declared() -> None:
    table = _standard_table("t", (sa.Column("at_tz", sa.DateTime(timezone=True)),
                                  sa.Column("t", sa.Time), sa.Column("blob", sa.LargeBinary),
                                  sa.Column("num", sa.Numeric(8))))
    pg = {c.name: ColumnSpec.from_column(c, dialect_for("postgresql")) for c in table.columns}
    _check_standard(pg, (32, 64, 16))
    assert pg["at"].fsp == 6 and pg["at_tz"].timezone is True
    assert pg["t"].kind == "time" and pg["blob"].kind == "binary"
    assert (pg["num"].precision, pg["num"].scale) == (8, 0)
    my = {c.name: ColumnSpec.from_column(c, dialect_for("mysql")) for c in table.columns}
    assert my["at"].fsp == 0 and my["t"].fsp == 0


def test_from_column_postgresql(pg_engine: sa.Engine) -> None:
    name = f"t_types_{uuid.uuid4().hex[:8]}"
    table = _standard_table(name, (
        sa.Column("at_tz", sa.DateTime(timezone=True)),
        sa.Column("at_ms", sa.dialects.postgresql.TIMESTAMP(precision=3)),
        sa.Column("free", sa.Numeric), sa.Column("t", sa.Time)))
    table.create(pg_engine)
    try:
        specs = _reflect(pg_engine, name)
        _check_standard(specs, (32, 64, 16))
        assert specs["at"].fsp == 6
        assert specs["at_tz"].timezone is True and specs["at_ms"].fsp == 3
        assert (specs["free"].precision, specs["free"].scale) == (None, None)
        assert specs["t"].kind == "time"
        _round_trip(pg_engine, name, BERLIN)
        # an aware column round-trips the repeated hour too
        options = TypeOptions(zone=BERLIN)
        value = source_coercer(specs["at_tz"], options)("2024-10-27 02:30:00+01:00")
        with pg_engine.begin() as conn:
            conn.execute(table.update().values(at_tz=to_db(specs["at_tz"], options)(value)))
            stored = conn.execute(sa.select(table.c.at_tz)).scalar_one()
        assert target_normalizer(specs["at_tz"], options)(stored) == value
        # the same instant, not just the same wall time (== is never true across zones for a
        # value in the repeated hour, by PEP 495)
        assert stored.timestamp() == value.timestamp()
    finally:
        table.drop(pg_engine)


def test_from_column_mariadb(mysql_engine: sa.Engine) -> None:
    name = f"t_types_{uuid.uuid4().hex[:8]}"
    table = _standard_table(name, (
        sa.Column("at6", sa.dialects.mysql.DATETIME(fsp=6)),
        sa.Column("flag", sa.dialects.mysql.TINYINT(1)),
        sa.Column("tiny", sa.dialects.mysql.TINYINT(unsigned=True)),
        sa.Column("t", sa.Time)))
    table.create(mysql_engine)
    try:
        specs = _reflect(mysql_engine, name)
        _check_standard(specs, (32, 64, 16))
        assert specs["at"].fsp == 0 and specs["at6"].fsp == 6
        assert specs["flag"].kind == "boolean"
        assert (specs["tiny"].int_bits, specs["tiny"].unsigned) == (8, True)
        assert specs["t"].fsp == 0
        _round_trip(mysql_engine, name, BERLIN)
    finally:
        table.drop(mysql_engine)

