"""Coercion for the kinds that are neither numbers, dates nor text: json, uuid, interval,
binary — part of the rule book in :mod:`syncline.types` (which dispatches here).

Each kind has a canonical form that both sides reach, whatever the driver returns, so a
re-sync compares equal and both diff engines store the same value::

    json        -> the JSON text with sorted keys and no spaces (``{"a":1}``): a str from a
                file or a text column is parsed as JSON; a dict, list, number or bool from
                a SQL source is taken as the JSON value it is. JSON null is SQL NULL.
                Invalid JSON, NaN/Infinity, a number a float cannot hold exactly, and
                (PostgreSQL) a \\u0000 are errors.
                to_db gives the parsed value, which the column type serializes.
    uuid        -> uuid.UUID, from any spelling Python reads (any case, braces,
                ``urn:uuid:``, no hyphens). Anything else is an error.
    interval    -> datetime.timedelta, from PostgreSQL's output ("1 day 02:00:03.5",
                "-00:00:01", "3 days") or ISO 8601 durations ("P1DT2H", "PT0.5S", "P2W").
                Months and years are errors: they have no fixed length.
    binary      -> bytes; text must be ``\\x`` followed by hex digits (PostgreSQL's
                form: "\\x00ff"). Anything else is an error, never the text's UTF-8 bytes.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from syncline.errors import CoercionError
from syncline.spec import ColumnSpec, TypeOptions

Fn = Callable[[Any], Any]


def _error(spec: ColumnSpec, raw: Any, message: str) -> CoercionError:
    return CoercionError(message, field=spec.name, value=raw)


def _short(raw: Any) -> str:
    text = raw if isinstance(raw, str) else str(raw)
    return repr(text[:40] + "..." if len(text) > 50 else text)


def _blank(spec: ColumnSpec, options: TypeOptions, raw: str, what: str) -> None:
    if not options.empty_as_null:
        raise _error(spec, raw, f"an empty value is not {what}")


# ------------------------------------------------------------------------------- json

def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _exact_float(text: str) -> float:
    """A JSON number with a fraction or exponent, refused where a float would change it."""
    value = float(text)
    if Decimal(text) != Decimal(repr(value)):
        raise ValueError(f"the number {text} has more digits than syncline compares"
                         " exactly (15-17 significant digits)")
    return value


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(map(_has_nul, value))
    return False


def src_json(spec: ColumnSpec, options: TypeOptions) -> Fn:
    what = "JSON"

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        if isinstance(raw, str):
            if not raw.strip():
                _blank(spec, options, raw, what)
                return None
            try:
                value = json.loads(raw, parse_constant=_no_constant,
                                   parse_float=_exact_float)
            except ValueError as exc:
                hint = (" (a JSON column of a --source-query: cast it to text in the query)"
                        if options.typed_source else "")
                raise _error(spec, raw, f"{_short(raw)} is not valid JSON ({exc}){hint}"
                             ) from None
        elif isinstance(raw, bytes | bytearray | memoryview):
            raise _error(spec, raw, "binary data is not JSON")
        else:
            value = raw
        if value is None:
            return None
        try:
            text = _dump(value)
        except (TypeError, ValueError) as exc:
            raise _error(spec, raw, f"{_short(raw)} cannot be written as JSON ({exc})"
                         ) from None
        if not spec.nul_allowed and "\\u0000" in text and _has_nul(value):
            raise _error(spec, raw, f"{_short(raw)} holds a \\u0000 (NUL) character, which"
                                    " the column cannot store")
        return text

    return coerce


def tgt_json(spec: ColumnSpec, options: TypeOptions) -> Fn:
    decoded = spec.json_decoded

    def normalize(v: Any) -> Any:
        if v is None:
            return None
        try:
            if decoded:
                return _dump(v)
            value = json.loads(v) if isinstance(v, str | bytes) else v
            return None if value is None else _dump(value)
        except (TypeError, ValueError):
            return v

    return normalize


def db_json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


# ------------------------------------------------------------------------------- uuid

def src_uuid(spec: ColumnSpec, options: TypeOptions) -> Fn:
    what = "a UUID"

    def coerce(raw: Any) -> Any:
        if raw is None or raw.__class__ is uuid.UUID:
            return raw
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            try:
                return uuid.UUID(s)
            except ValueError:
                raise _error(spec, raw, f"{_short(raw)} is not a UUID (32 hex digits, as"
                                        " in a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11)") from None
        if isinstance(raw, uuid.UUID):
            return uuid.UUID(int=raw.int)
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    return coerce


def tgt_uuid(spec: ColumnSpec, options: TypeOptions) -> Fn:
    def normalize(v: Any) -> Any:
        if v is None or v.__class__ is uuid.UUID:
            return v
        try:
            return uuid.UUID(v) if isinstance(v, str) else v
        except ValueError:
            return v

    return normalize


# --------------------------------------------------------------------------- interval

_PG_INTERVAL = re.compile(
    r"(?:(?P<days>[+-]?\d+)\s+days?)?\s*"
    r"(?:(?P<sign>[+-])?(?P<h>\d+):(?P<m>\d{1,2})(?::(?P<s>\d{1,2}(?:\.\d{1,6})?))?)?")
_ISO_INTERVAL = re.compile(
    r"(?P<neg>-)?P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?")


def parse_interval(s: str) -> timedelta:
    """A duration in PostgreSQL's output form or ISO 8601, without months or years."""
    found = _PG_INTERVAL.fullmatch(s)
    if found and (found["days"] is not None or found["h"] is not None):
        days = int(found["days"] or 0)
        clock = timedelta(hours=int(found["h"] or 0), minutes=int(found["m"] or 0),
                          seconds=float(found["s"] or 0))
        if found["s"] and "." in found["s"]:  # exact microseconds, not through float
            whole, frac = found["s"].split(".")
            clock = timedelta(hours=int(found["h"]), minutes=int(found["m"]),
                              seconds=int(whole), microseconds=int(frac.ljust(6, "0")))
        return timedelta(days=days) + (-clock if found["sign"] == "-" else clock)
    found = _ISO_INTERVAL.fullmatch(s)
    if found and s.rstrip("T") not in ("P", "-P") and not s.endswith("T"):
        parts = {k: float(v) for k, v in found.groupdict().items() if v and k != "neg"}
        value = timedelta(weeks=parts.get("w", 0), days=parts.get("d", 0),
                          hours=parts.get("h", 0), minutes=parts.get("m", 0),
                          seconds=parts.get("s", 0))
        return -value if found["neg"] else value
    raise ValueError(s)


def src_interval(spec: ColumnSpec, options: TypeOptions) -> Fn:
    what = "an interval"

    def coerce(raw: Any) -> Any:
        if raw is None or raw.__class__ is timedelta:
            return raw
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            try:
                return parse_interval(s)
            except (ValueError, OverflowError):
                raise _error(spec, raw, f"{_short(raw)} is not an interval written as"
                                        " '1 day 02:00:00' or 'P1DT2H' (months and years"
                                        " have no fixed length)") from None
        if isinstance(raw, timedelta):
            return timedelta(raw.days, raw.seconds, raw.microseconds)
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    return coerce


def tgt_interval(spec: ColumnSpec, options: TypeOptions) -> Fn:
    def normalize(v: Any) -> Any:
        if v is None or v.__class__ is timedelta or not isinstance(v, str):
            return v
        try:
            return parse_interval(v.strip())
        except (ValueError, OverflowError):
            return v

    return normalize


# ----------------------------------------------------------------------------- binary

def src_binary(spec: ColumnSpec, options: TypeOptions) -> Fn:
    what = "binary data"

    def coerce(raw: Any) -> Any:
        if raw is None or raw.__class__ is bytes:
            return raw
        if isinstance(raw, bytearray | memoryview):
            return bytes(raw)
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            if s[:2] in ("\\x", "\\X") and s.isascii():
                try:
                    value = bytes.fromhex(s[2:])
                except ValueError:
                    pass
                else:
                    if spec.length is None or len(value) <= spec.length:
                        return value
                    raise _error(spec, raw, f"{len(value)} bytes; the column allows at most"
                                            f" {spec.length}")
            raise _error(spec, raw, f"{_short(raw)} is not binary data written as \\x"
                                    " followed by hex digits")
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    return coerce


def tgt_binary(spec: ColumnSpec, options: TypeOptions) -> Fn:
    def normalize(v: Any) -> Any:
        if isinstance(v, bytearray | memoryview):
            return bytes(v)
        return v

    return normalize


# ------------------------------------------------------------------------ float (real)

def to_float32(value: float) -> float:
    """The float a 4-byte REAL column stores for ``value`` (OverflowError when too big)."""
    import struct

    if math.isfinite(value) and abs(value) > 3.4028234663852886e38:
        raise OverflowError(value)
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


SOURCE: dict[str, Callable[[ColumnSpec, TypeOptions], Fn]] = {
    "json": src_json, "uuid": src_uuid, "interval": src_interval, "binary": src_binary}
TARGET: dict[str, Callable[[ColumnSpec, TypeOptions], Fn]] = {
    "json": tgt_json, "uuid": tgt_uuid, "interval": tgt_interval, "binary": tgt_binary}
