"""The rules for numbers and booleans: integer, decimal, float, boolean (part of the rule
book in :mod:`syncline.types`)."""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Any

from syncline import structured
from syncline.errors import CoercionError
from syncline.spec import ColumnSpec, Fn, TypeOptions
from syncline.spec import blank as _blank
from syncline.spec import coercion_error as _error
from syncline.spec import missing_hint as _missing_hint
from syncline.spec import quoted as _q

BOOLEAN_TRUE: frozenset[str] = frozenset({"1", "true", "t", "yes", "y", "on"})
BOOLEAN_FALSE: frozenset[str] = frozenset({"0", "false", "f", "no", "n", "off"})
_BOOL = {**dict.fromkeys(BOOLEAN_TRUE, True), **dict.fromkeys(BOOLEAN_FALSE, False)}

_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_SCIENTIFIC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+")


def _numeric_label(spec: ColumnSpec) -> str:
    if spec.precision is None:
        return "numeric" if spec.scale is None else f"numeric with scale {spec.scale}"
    return f"numeric({spec.precision},{spec.scale or 0})"


def _int_bounds(spec: ColumnSpec) -> tuple[int, int]:
    if spec.unsigned:
        return 0, 2 ** spec.int_bits - 1
    return -(2 ** (spec.int_bits - 1)), 2 ** (spec.int_bits - 1) - 1


def src_integer(spec: ColumnSpec, options: TypeOptions) -> Fn:
    lo, hi = _int_bounds(spec)
    what = "a whole number"
    sign = "unsigned " if spec.unsigned else ""

    def slow(raw: Any) -> Any:
        if isinstance(raw, bool):
            raise _error(spec, raw, f"{raw} is a boolean, not {what}")
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            if _PLAIN_DECIMAL.fullmatch(s):
                d = Decimal(s)
                if d != d.to_integral_value():
                    raise _error(spec, raw, f"{_q(raw)} is not {what}")
                return int(d)
            if _SCIENTIFIC.fullmatch(s):
                raise _error(spec, raw, f"{_q(raw)} is in scientific notation; "
                                        f"write {what} out in full")
            raise _error(spec, raw, f"{_q(raw)} is not {what} (digits with an optional "
                                    f"sign; no thousands separators){_missing_hint(s)}")
        if isinstance(raw, int):
            return int(raw)
        if isinstance(raw, float | Decimal):
            finite = raw.is_finite() if isinstance(raw, Decimal) else math.isfinite(raw)
            if not finite or raw != int(raw):
                raise _error(spec, raw, f"{raw} is not {what}")
            return int(raw)
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        cls = raw.__class__
        if cls is int:
            v = raw
        elif cls is str and raw.isascii() and "_" not in raw:
            try:
                v = int(raw)
            except ValueError:
                v = slow(raw)
                if v is None:
                    return None
        else:
            v = slow(raw)
            if v is None:
                return None
        if lo <= v <= hi:
            return v
        raise _error(spec, raw, f"{_q(raw)} is out of range for a {sign}{spec.int_bits}-bit "
                                f"integer column ({lo} to {hi})")

    return coerce


def _decimal_parts(spec: ColumnSpec) -> tuple[Decimal | None, int | None, Context]:
    scale = spec.scale if spec.scale is not None or spec.precision is None else 0
    quant = Decimal(1).scaleb(-scale) if scale is not None else None
    maxadj = spec.precision - (scale or 0) if spec.precision is not None else None
    prec = max(spec.precision or 0, 60) + 40
    ctx = Context(prec=prec, traps=[InvalidOperation, Inexact])
    return quant, maxadj, ctx


def src_decimal(spec: ColumnSpec, options: TypeOptions) -> Fn:
    quant, maxadj, ctx = _decimal_parts(spec)
    label = _numeric_label(spec)
    what = "a decimal number"

    def slow(raw: Any) -> Decimal | None:
        if isinstance(raw, bool):
            raise _error(spec, raw, f"{raw} is a boolean, not {what}")
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            if _PLAIN_DECIMAL.fullmatch(s):
                return Decimal(s)
            if _SCIENTIFIC.fullmatch(s):
                raise _error(spec, raw, f"{_q(raw)} is in scientific notation; write the "
                                        f"number out in full")
            if s.lower().lstrip("+-") in ("nan", "snan", "inf", "infinity"):
                raise _error(spec, raw, f"{_q(raw)} is not a finite number")
            raise _error(spec, raw, f"{_q(raw)} is not {what} (digits, an optional sign and "
                                    f"a '.' decimal point; no thousands separators)"
                                    f"{_missing_hint(s)}")
        if isinstance(raw, float):
            raw_d = Decimal(repr(raw))
        elif isinstance(raw, int | Decimal):
            raw_d = Decimal(raw)
        else:
            raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")
        if not raw_d.is_finite():
            raise _error(spec, raw, f"{raw} is not a finite number")
        return raw_d

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        d: Decimal | None
        if raw.__class__ is str and raw.isascii() and "_" not in raw and "e" not in raw \
                and "E" not in raw:
            try:
                d = Decimal(raw)
            except InvalidOperation:
                d = slow(raw)
            else:
                if quant is None:
                    return d if d.is_finite() else slow(raw)
                if d.same_quantum(quant):  # fast path: already at the column's scale
                    if maxadj is not None and d.adjusted() >= maxadj and d:
                        raise too_big(raw)
                    return d
                if not d.is_finite():
                    d = slow(raw)
        elif raw.__class__ is Decimal and raw.is_finite():
            d = raw
        else:
            d = slow(raw)
        if d is None:
            return None
        if quant is not None:
            try:
                d = d.quantize(quant, context=ctx)
            except Inexact:
                raise _error(spec, raw, f"{_q(raw)} has more decimal places than {label} "
                                        f"allows") from None
            except InvalidOperation:
                raise too_big(raw) from None
        if maxadj is not None and d.adjusted() >= maxadj and d:
            raise too_big(raw)
        return d

    def too_big(raw: Any) -> CoercionError:
        more = f" (at most {maxadj} digits before the decimal point)" if maxadj else ""
        return _error(spec, raw, f"{_q(raw)} does not fit {label}{more}")

    return coerce


def src_float(spec: ColumnSpec, options: TypeOptions) -> Fn:
    what = "a number"
    real = spec.float_bits == 32
    digits = f".{spec.float_digits}g" if spec.float_digits else None

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        cls = raw.__class__
        if cls is float:
            v = raw
        elif cls is str:
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            if "_" in s or not s.isascii():
                raise _error(spec, raw, f"{_q(raw)} is not {what}")
            try:
                v = float(s)
            except ValueError:
                raise _error(spec, raw, f"{_q(raw)} is not {what}{_missing_hint(s)}"
                             ) from None
        elif isinstance(raw, bool):
            raise _error(spec, raw, f"{raw} is a boolean, not {what}")
        elif isinstance(raw, int | float | Decimal):
            try:
                v = float(raw)
            except OverflowError:
                raise _error(spec, raw, f"{raw} is too large for a float column") from None
        else:
            raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")
        if v - v != 0.0:  # NaN or infinity
            raise _error(spec, raw, f"{_q(raw)} is not a finite number")
        if real:
            try:
                v32 = structured.to_float32(v)
                if v32 == 0.0 and v != 0.0:
                    raise _error(spec, raw, f"{_q(raw)} is too small for a 4-byte real column"
                                            " (it would be stored as 0)")
                return structured.to_float32(float(format(v32, digits))) if digits else v32
            except OverflowError:
                raise _error(spec, raw, f"{_q(raw)} is too large for a 4-byte real column"
                             ) from None
        return v

    return coerce


def src_boolean(spec: ColumnSpec, options: TypeOptions) -> Fn:
    get = _BOOL.get
    what = "true or false"
    spellings = ("use one of " + "/".join(sorted(BOOLEAN_TRUE)) + " for true, "
                 + "/".join(sorted(BOOLEAN_FALSE)) + " for false")

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        cls = raw.__class__
        if cls is bool:
            return raw
        if cls is str:
            v = get(raw)
            if v is not None:
                return v
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            v = get(s.lower())
            if v is not None:
                return v
            raise _error(spec, raw, f"{_q(raw)} is not {what}: {spellings}{_missing_hint(s)}")
        if isinstance(raw, int) and raw in (0, 1):
            return raw == 1
        raise _error(spec, raw, f"{raw!r} is not {what}: only 0 and 1 are read as booleans")

    return coerce


def tgt_decimal(spec: ColumnSpec) -> Fn:
    quant, _, _ = _decimal_parts(spec)
    ctx = Context(prec=max(spec.precision or 0, 60) + 40, traps=[InvalidOperation])

    def normalize(v: Any) -> Any:
        try:
            if v.__class__ is Decimal:
                d = v
            elif isinstance(v, float):
                d = Decimal(repr(v))
            elif isinstance(v, int | str) and not isinstance(v, bool):
                d = Decimal(v.strip() if isinstance(v, str) else v)
            else:
                return v
            if quant is not None and d.is_finite():
                d = d.quantize(quant, context=ctx)
            return d
        except (InvalidOperation, ValueError):
            return v

    return normalize
