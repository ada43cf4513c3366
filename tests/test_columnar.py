"""Whole-column coercion on Arrow (syncline.columnar) must equal the per-value rule book
(syncline.types.source_coercer), value for value: same value and Python type for every row
it accepts, and an error from the rule book for every row it refuses."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.columnar import arrow_coercer, arrow_type
from syncline.columnar_rules import WHITESPACE
from syncline.errors import CoercionError
from syncline.types import ColumnSpec, TypeOptions, source_coercer

FAST = settings(max_examples=120, deadline=None)


def same(value: Any, expected: Any) -> bool:
    if type(value) is not type(expected) or value != expected:
        return False
    if isinstance(value, Decimal):  # the column's scale, not just an equal number
        return value.as_tuple().exponent == expected.as_tuple().exponent
    if isinstance(value, float):
        return math.copysign(1.0, value) == math.copysign(1.0, expected)
    return True


def check(spec: ColumnSpec, options: TypeOptions, raws: list[str]) -> list[Any]:
    """Assert the property for every row; the values (None for a refused row)."""
    coercer = arrow_coercer(spec, options)
    assert coercer is not None, spec
    values, bad = coercer(pa.array(raws, pa.string()))
    assert values.type == arrow_type(spec) and len(values) == len(raws)
    refused = [False] * len(raws)
    if bad is not None:
        assert bad.type == pa.bool_() and bad.null_count == 0 and len(bad) == len(raws)
        refused = bad.to_pylist()
        assert any(refused)
    one = source_coercer(spec, options)
    out: list[Any] = []
    for raw, value, is_bad in zip(raws, values.to_pylist(), refused, strict=True):
        if is_bad:
            with pytest.raises(CoercionError):
                one(raw)
            out.append(None)
        else:
            expected = one(raw)
            assert same(value, expected), (spec, options, raw, value, expected)
            out.append(value)
    return out


# -- raw text --------------------------------------------------------------------------------

SPACES = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2007",
          "\u3000", "\u2028"]
#: look like space but are not whitespace to Python
NOT_SPACES = ["\u200b", "\ufeff", "\x00", "\u180e"]
NOISE = [*SPACES, *NOT_SPACES, "+", "-", ".", "0", "00", "1", "9", "e", "E", "e5", "_", "١",
         "𝟙", "a", "x", "é", "K", "\u212a", "İ", "nan", "inf", "NA", "true", "-0", "12",
         "9" * 20, "0" * 25, "18446744073709551615", "9223372036854775808", ",", "e-400",
         "e999", "2020", "-02-29", "-13", "-31"]

spaces = st.text(st.sampled_from(SPACES), max_size=3)
noise = st.lists(st.sampled_from(NOISE), max_size=5).map("".join)


def wrapped(core: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda a, s, b: a + s + b, spaces, core, spaces)


def rows(*well_formed: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    cell = st.one_of(noise, st.text(max_size=6), st.sampled_from(["", " ", "NA", "-"]),
                     *[wrapped(w) for w in well_formed])
    return st.lists(cell, max_size=25)


digits = st.text(st.sampled_from("0123456789"), min_size=1, max_size=22)
signs = st.sampled_from(["", "", "+", "-"])
#: the edges of every column's range, and one past them
EDGES = sorted({e + d for b in (8, 16, 24, 32, 64) for e in (2 ** b, 2 ** (b - 1), -(2 ** (b - 1)))
                for d in (-1, 0, 1)} | {10 ** 20 - 1, 10 ** 20, -(10 ** 20)})
integers_text = st.one_of(
    st.integers(-(2 ** 70), 2 ** 70).map(str),
    st.sampled_from(EDGES).map(str),
    st.builds(lambda s, z, d, f: s + z + d + f, signs, st.sampled_from(["", "0", "000"]),
              digits, st.sampled_from(["", ".", ".0", ".00", ".000", ".5", ".10"])),
)
decimals_text = st.builds(
    lambda s, i, dot, f: s + i + dot + f, signs,
    st.text(st.sampled_from("0123456789"), max_size=40), st.sampled_from(["", ".", "."]),
    st.text(st.sampled_from("0000123456789"), max_size=12))
floats_text = st.one_of(
    st.floats().map(repr), st.floats(width=32).map(str),
    st.builds(lambda d, e: d + e, decimals_text,
              st.sampled_from(["", "e5", "E-3", "e+308", "e309", "e-324", "e-330",
                               "e99999999999999999999", "e"])))
booleans_text = st.builds(lambda w, up: w.upper() if up else w,
                          st.sampled_from(["1", "0", "true", "false", "t", "f", "yes", "no",
                                           "y", "n", "on", "off", "True", "oN", "2", "tru"]),
                          st.booleans())
dates_text = st.one_of(
    st.dates().map(date.isoformat),
    st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(0, 9999),
              st.integers(0, 13), st.integers(0, 32)),
    st.builds(lambda y, m, d: f"{y}-{m}-{d}", st.integers(0, 99999), st.integers(0, 13),
              st.integers(0, 32)),
    st.sampled_from(["2020-02-29T00:00", "2020-W01-1", "20200101", "2020-1-1", "+2020-01-01",
                     "2020-01-01 ", "2020-01-0١", "2020/01/01"]))

tokens = st.frozensets(st.sampled_from(["NA", "", "-", "null", "١", "0", "x"]), max_size=3)


def options_strategy(text: bool = False) -> st.SearchStrategy[TypeOptions]:
    return st.builds(TypeOptions, strip_text=st.sampled_from([None, True, False]),
                     empty_as_null=st.booleans(), null_tokens=tokens,
                     typed_source=st.booleans() if text else st.just(False))


# -- the property, kind by kind ----------------------------------------------------------------

@FAST
@given(st.builds(ColumnSpec, st.just("t"), st.just("text"),
                 length=st.none() | st.integers(0, 8), fixed=st.booleans(),
                 nul_allowed=st.booleans(), max_bytes=st.none() | st.integers(1, 12)),
       options_strategy(text=True),
       rows(st.text(max_size=10), st.text(st.sampled_from("aé中𝟙 \x00\u3000"), max_size=10)))
def test_text(spec: ColumnSpec, options: TypeOptions, raws: list[str]) -> None:
    check(spec, options, raws)


@FAST
@given(st.builds(ColumnSpec, st.just("i"), st.just("integer"),
                 int_bits=st.sampled_from([8, 16, 24, 32, 64]), unsigned=st.booleans()),
       options_strategy(), rows(integers_text))
def test_integer(spec: ColumnSpec, options: TypeOptions, raws: list[str]) -> None:
    check(spec, options, raws)


@st.composite
def decimal_columns(draw: st.DrawFn) -> tuple[ColumnSpec, list[str]]:
    """A numeric(p, s) column and text around its limits: as many digits before the point
    as it holds, or one more, and as many decimal places, or one more (zero or not)."""
    precision = draw(st.integers(1, 38))
    scale = draw(st.none() | st.integers(0, precision))
    before, places = precision - (scale or 0), scale or 0

    def number(n: int) -> st.SearchStrategy[str]:  # n digits, the first not 0
        if n <= 0:
            return st.just("")
        return st.builds(str.__add__, st.sampled_from("123456789"),
                         st.text(st.sampled_from("0123456789"), min_size=n - 1,
                                 max_size=n - 1))

    near = st.builds(lambda sign, zeros, whole, dot, frac, zeros2: sign + zeros + whole + dot
                     + frac + zeros2,
                     signs, st.sampled_from(["", "", "0", "00"]),
                     st.sampled_from([before - 1, before, before, before + 1]).flatmap(number),
                     st.sampled_from([".", ".", ""]),
                     st.sampled_from([places - 1, places, places, places + 1]).flatmap(number),
                     st.sampled_from(["", "", "0", "000"]))
    spec = ColumnSpec("d", "decimal", precision=precision, scale=scale)
    return spec, draw(rows(decimals_text, near))


@FAST
@given(decimal_columns(), options_strategy())
def test_decimal(column: tuple[ColumnSpec, list[str]], options: TypeOptions) -> None:
    check(column[0], options, column[1])


@FAST
@given(options_strategy(), rows(floats_text))
def test_float(options: TypeOptions, raws: list[str]) -> None:
    check(ColumnSpec("f", "float"), options, raws)


@FAST
@given(options_strategy(), rows(booleans_text))
def test_boolean(options: TypeOptions, raws: list[str]) -> None:
    check(ColumnSpec("b", "boolean"), options, raws)


BOUNDS = (datetime(1000, 1, 1, tzinfo=UTC), datetime(2100, 12, 31, 23, 59, tzinfo=UTC))


@FAST
@given(st.sampled_from([None, BOUNDS]), options_strategy(), rows(dates_text))
def test_date(bounds: Any, options: TypeOptions, raws: list[str]) -> None:
    check(ColumnSpec("d", "date", bounds=bounds), options, raws)


# -- examples ----------------------------------------------------------------------------------

def test_whitespace_is_pythons() -> None:
    assert set(WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


def test_examples() -> None:
    options = TypeOptions()
    price = ColumnSpec("price", "decimal", precision=10, scale=2)
    assert check(price, options, ["415.09", "12.345", "1.400", ".5", "5.", "-0.5", "+1",
                                  "1e3", "12345678.9", "123456789", " 7 ", ""]) == [
        Decimal("415.09"), None, Decimal("1.40"), Decimal("0.50"), Decimal("5.00"),
        Decimal("-0.50"), Decimal("1.00"), None, Decimal("12345678.90"), None,
        Decimal("7.00"), None]
    number = ColumnSpec("n", "integer")
    assert check(number, options, [" 12 ", "+12", "12.00", "1e3", "1_000", "١", "12.5",
                                   "\u300012\xa0", "-9223372036854775808",
                                   "9223372036854775808", "0" * 30 + "7",
                                   "99999999999999999999", "1" + "0" * 40]) == [
        12, 12, 12, None, None, None, None, 12, -(2 ** 63), None, 7, None, None]
    assert check(ColumnSpec("u", "integer", unsigned=True),
                 options, ["18446744073709551615", "-0", "-1"]) == [2 ** 64 - 1, 0, None]
    assert check(ColumnSpec("b", "boolean"), options, ["YES", " off ", "2", ""]) == [
        True, False, None, None]
    assert check(ColumnSpec("d", "date"), options, ["2024-02-29", "1900-02-29", "2024-1-01",
                                                   " 2000-02-29 ", "0000-01-01"]) == [
        date(2024, 2, 29), None, None, date(2000, 2, 29), None]
    assert check(ColumnSpec("t", "text", length=3), TypeOptions(null_tokens=frozenset({"NA"})),
                 ["\u3000ab\x1c", "abcd", " NA ", "  "]) == ["ab", None, None, None]


def test_no_empty_as_null() -> None:
    options = TypeOptions(empty_as_null=False)
    assert check(ColumnSpec("t", "text"), options, ["", " "]) == ["", ""]
    assert check(ColumnSpec("n", "integer"), options, ["", "1"]) == [None, 1]  # "" refused
    _, bad = arrow_coercer(ColumnSpec("n", "integer"), options)(pa.array([""]))  # type: ignore[misc]
    assert bad is not None and bad.to_pylist() == [True]


@pytest.mark.parametrize("spec", [
    ColumnSpec("t", "text", choices=("a", "b")),
    ColumnSpec("t", "text", charset="latin1"),
    ColumnSpec("d", "decimal"),
    ColumnSpec("d", "decimal", precision=39, scale=2),
    ColumnSpec("f", "float", float_bits=32),
    ColumnSpec("f", "float", float_digits=6),
    ColumnSpec("i", "integer", int_bits=128),
    *[ColumnSpec("x", kind) for kind in ("datetime", "time", "json", "uuid", "interval",  # type: ignore[arg-type]
                                          "binary", "other")],
])
def test_per_value_columns(spec: ColumnSpec) -> None:
    assert arrow_coercer(spec, TypeOptions()) is None
