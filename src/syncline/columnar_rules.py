"""The rule book of :mod:`syncline.types` as Arrow compute, one kind at a time (used by
:mod:`syncline.columnar`).

Each maker takes a column's spec and options and returns None (this column is read per
value) or a function ``(raw, stripped) -> (values, bad, blank)``: ``stripped`` is ``raw``
with Python's ``str.strip()`` applied, ``bad`` the rows the rules refuse (a boolean
array without nulls), and ``blank`` the rows that are empty after stripping, which the
caller makes NULL or refuses as ``empty_as_null`` says (None: the kind did that itself).

Every value is checked against the text the rule book accepts (a regular expression on
the stripped text) before Arrow parses it; Arrow's own parsers are never trusted to refuse
anything, and are only given text they read exactly as Python does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from syncline.numeric import BOOLEAN_FALSE, BOOLEAN_TRUE
from syncline.spec import ColumnSpec, TypeOptions
from syncline.text import unstorable

if TYPE_CHECKING:
    import pyarrow as pa

Core = Callable[["pa.Array", "pa.Array"], tuple["pa.Array", "pa.Array", "pa.Array | None"]]

#: the characters ``str.strip()`` removes (``str.isspace()``), which are not the ones
#: Arrow's ``utf8_trim_whitespace`` removes
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
              "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
              "\u2028\u2029\u202f\u205f\u3000")

#: a plain decimal as the rules read numbers: optional sign, digits and a "." (ASCII)
_PLAIN = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)"
#: a whole number: a plain decimal whose decimal places are all zeros ("12.00")
_WHOLE = r"^[+-]?(?:[0-9]+(?:\.0*)?|\.0+)$"
#: Python's float() text, without NaN, infinity and "_"
_FLOAT = rf"^{_PLAIN}(?:[eE][+-]?[0-9]+)?$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_U64_MAX = str(2 ** 64 - 1)


def strip(raw: pa.Array) -> pa.Array:
    """``raw`` as ``str.strip()`` leaves each value."""
    import pyarrow.compute as pc

    return pc.utf8_trim(raw, characters=WHITESPACE)


def null_where(mask: pa.Array, values: pa.Array) -> pa.Array:
    """``values`` with NULL where ``mask`` is true."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(mask, pa.scalar(None, values.type), values)


def _empty(strings: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.equal(pc.binary_length(strings), 0)


def _where(mask: pa.Array, strings: pa.Array, default: str) -> pa.Array:
    """``strings`` where ``mask`` is true, else ``default`` (text a parser surely reads)."""
    import pyarrow.compute as pc

    return pc.if_else(mask, strings, default)


# -- text --------------------------------------------------------------------------------------

def text(spec: ColumnSpec, options: TypeOptions) -> Core | None:
    if spec.choices is not None or unstorable(spec) is not None:
        return None  # ENUM values and narrow character sets: per value
    strips = options.strips
    empty_as_null = options.empty_as_null and not (options.typed_source and not strips)
    length, nul_allowed, max_bytes, fixed = (spec.length, spec.nul_allowed, spec.max_bytes,
                                             spec.fixed)

    def coerce(raw: pa.Array, stripped: pa.Array) -> Any:
        import pyarrow.compute as pc

        s = stripped if strips else raw
        if fixed:
            s = pc.utf8_rtrim(s, characters=" ")
        bad = pc.equal(pc.binary_length(s), -1)  # all false
        if length is not None:
            bad = pc.or_(bad, pc.greater(pc.utf8_length(s), length))
        if not nul_allowed:
            bad = pc.or_(bad, pc.match_substring(s, "\x00"))
        if max_bytes is not None:
            bad = pc.or_(bad, pc.greater(pc.binary_length(s), max_bytes))
        if empty_as_null:  # empty, or only whitespace: NULL
            blank = _empty(stripped)
            s = null_where(blank, s)
            bad = pc.and_not(bad, blank)
        return s, bad, None

    return coerce


# -- numbers -----------------------------------------------------------------------------------

def _with_general(stripped: pa.Array, simple: pa.Array, values: pa.Array, bad: pa.Array,
                  general: Callable[[pa.Array], tuple[pa.Array, pa.Array]]) -> Any:
    """``values`` and ``bad`` of the ``simple`` rows (text in the column's usual shape), and
    the ``general`` reading of the few others."""
    import pyarrow.compute as pc

    rest = pc.invert(simple)
    if not pc.any(rest).as_py():
        return values, bad
    more, more_bad = general(pc.filter(stripped, rest))
    return pc.replace_with_mask(values, rest, more), pc.replace_with_mask(bad, rest, more_bad)


def integer(spec: ColumnSpec, options: TypeOptions) -> Core:
    bits = spec.int_bits
    low, high = (0, 2 ** bits - 1) if spec.unsigned else (-(2 ** (bits - 1)),
                                                         2 ** (bits - 1) - 1)
    unsigned64 = spec.unsigned and bits == 64
    # the usual shape, which Arrow reads as Python does and which fits 64 bits
    usual = r"^[0-9]{1,18}$" if unsigned64 else r"^-?[0-9]{1,18}$"

    def general(stripped: pa.Array) -> tuple[pa.Array, pa.Array]:
        import pyarrow as pa
        import pyarrow.compute as pc

        whole = pc.match_substring_regex(stripped, _WHOLE)
        negative = pc.starts_with(stripped, "-")
        # the digits of the magnitude: no sign, no leading zeros, no (zero) decimal places
        digits = pc.replace_substring_regex(stripped, r"^[+-]?0*|\..*$", "")
        count = pc.binary_length(digits)
        fits = pc.or_(pc.less(count, 20),
                      pc.and_(pc.equal(count, 20), pc.less_equal(digits, _U64_MAX)))
        readable = pc.and_(pc.and_(whole, fits), pc.greater(count, 0))
        magnitude = pc.cast(_where(readable, digits, "0"), pa.uint64())
        in_range = pc.if_else(negative,
                              pc.less_equal(magnitude, pa.scalar(-low, pa.uint64())),
                              pc.less_equal(magnitude, pa.scalar(high, pa.uint64())))
        bad = pc.invert(pc.and_(pc.and_(whole, fits), in_range))
        if unsigned64:
            return magnitude, bad  # a negative one is "-0"
        # 2**63 wraps to -2**63, which negating leaves as it is: the value of "-2**63"
        signed = pc.cast(magnitude, pa.int64(), safe=False)
        return pc.if_else(negative, pc.negate(signed), signed), bad

    def coerce(raw: pa.Array, stripped: pa.Array) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        simple = pc.match_substring_regex(stripped, usual)
        out = pa.uint64() if unsigned64 else pa.int64()
        values = pc.cast(_where(simple, stripped, "0"), out)
        bad = pc.or_(pc.less(values, pa.scalar(low, out)),
                     pc.greater(values, pa.scalar(high, out)))
        values, bad = _with_general(stripped, simple, values, bad, general)
        return values, bad, _empty(stripped)

    return coerce


def decimal(spec: ColumnSpec, options: TypeOptions) -> Core:
    assert spec.precision is not None
    precision, scale = spec.precision, spec.scale or 0
    before = precision - scale  # digits allowed before the point
    # the usual shape, which Arrow reads exactly and which fits: "-123.45" in numeric(5,2)
    usual = (rf"^-?[0-9]{{1,{before}}}" + (rf"\.[0-9]{{{scale}}}$" if scale else "$")
             if before else None)

    def general(stripped: pa.Array) -> tuple[pa.Array, pa.Array]:
        import pyarrow as pa
        import pyarrow.compute as pc

        plain = pc.match_substring_regex(stripped, f"^{_PLAIN}$")
        parts = pc.extract_regex(
            _where(plain, stripped, "0"),
            r"^(?P<sign>[+-]?)0*(?P<int>[0-9]*?)(?:\.(?P<frac>[0-9]*?)0*)?$")
        sign, whole, places = (parts.field(n) for n in ("sign", "int", "frac"))
        # extra decimal places that are not zeros would be rounded: refused, as are more
        # digits before the point than the column holds
        fits = pc.and_(pc.less_equal(pc.binary_length(places), scale),
                       pc.less_equal(pc.binary_length(whole), before))
        ok = pc.and_(plain, fits)
        whole = pc.if_else(_empty(whole), "0", whole)
        pieces = [pc.replace_substring(sign, "+", ""), whole]
        if scale:
            pieces += [".", pc.utf8_rpad(places, width=scale, padding="0")]
        exact = pc.binary_join_element_wise(*pieces, "")
        values = pc.cast(_where(ok, exact, "0"), pa.decimal128(precision, scale))
        return values, pc.invert(ok)

    def coerce(raw: pa.Array, stripped: pa.Array) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        if usual is None:
            values, bad = general(stripped)
        else:
            simple = pc.match_substring_regex(stripped, usual)
            values = pc.cast(_where(simple, stripped, "0"), pa.decimal128(precision, scale))
            values, bad = _with_general(stripped, simple, values, pc.invert(simple), general)
        return values, bad, _empty(stripped)

    return coerce


def floating(spec: ColumnSpec, options: TypeOptions) -> Core | None:
    if spec.float_bits != 64 or spec.float_digits:
        return None  # 4-byte reals and rounded floats: per value

    def coerce(raw: pa.Array, stripped: pa.Array) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        # Arrow reads this text correctly rounded, as Python does
        shaped = pc.match_substring_regex(stripped, _FLOAT)
        values = pc.cast(_where(shaped, stripped, "0"), pa.float64())
        ok = pc.and_(shaped, pc.is_finite(values))  # "1e999" is infinity: refused
        return values, pc.invert(ok), _empty(stripped)

    return coerce


def boolean(spec: ColumnSpec, options: TypeOptions) -> Core:
    # No character outside ASCII lower-cases into one of these words' letters (only
    # U+0130 and U+212A lower-case to ASCII: "i̇" and "k"), so ASCII lower-casing is exact
    words = sorted(BOOLEAN_TRUE) + sorted(BOOLEAN_FALSE)  # true ones first

    def coerce(raw: pa.Array, stripped: pa.Array) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        found = pc.index_in(pc.ascii_lower(stripped), value_set=pa.array(words, pa.string()))
        values = pc.less(found, len(BOOLEAN_TRUE))
        return values, pc.is_null(found), _empty(stripped)

    return coerce


# -- dates -------------------------------------------------------------------------------------

_MONTH_DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def date(spec: ColumnSpec, options: TypeOptions) -> Core:
    bounds = spec.bounds

    def coerce(raw: pa.Array, stripped: pa.Array) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        shaped = pc.match_substring_regex(stripped, _DATE)
        text = _where(shaped, stripped, "2000-01-01")

        def number(start: int, stop: int) -> pa.Array:
            return pc.cast(pc.utf8_slice_codeunits(text, start, stop), pa.int32())

        year, month, day = number(0, 4), number(5, 7), number(8, 10)
        real_month = pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12))
        month_days = pc.take(pa.array(_MONTH_DAYS, pa.int32()),
                             pc.if_else(real_month, month, 0))
        # a leap year divides by 4, and a century year (its last two digits "00") by 400
        leap = pc.if_else(pc.equal(pc.utf8_slice_codeunits(text, 2, 4), "00"),
                          pc.equal(pc.bit_wise_and(number(0, 2), 3), 0),
                          pc.equal(pc.bit_wise_and(year, 3), 0))
        feb29 = pc.and_(pc.and_(leap, pc.equal(month, 2)), pc.equal(day, 29))
        valid = pc.and_(pc.and_(pc.greater_equal(year, 1), real_month),
                        pc.and_(pc.greater_equal(day, 1),
                                pc.or_(pc.less_equal(day, month_days), feb29)))
        ok = pc.and_(shaped, valid)
        values = pc.cast(_where(ok, text, "2000-01-01"), pa.date32())
        if bounds is not None:
            low, high = bounds[0].date(), bounds[1].date()
            ok = pc.and_(ok, pc.and_(pc.greater_equal(values, pa.scalar(low, pa.date32())),
                                     pc.less_equal(values, pa.scalar(high, pa.date32()))))
        return values, pc.invert(ok), _empty(stripped)

    return coerce


KINDS: dict[str, Callable[[ColumnSpec, TypeOptions], Core | None]] = {
    "text": text, "integer": integer, "decimal": decimal, "float": floating,
    "boolean": boolean, "date": date,
}
