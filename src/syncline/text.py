"""The rules for text: length, NUL, bytes, character sets and ENUM values (part of the
rule book in :mod:`syncline.types`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from syncline.spec import ColumnSpec, Fn, TypeOptions
from syncline.spec import coercion_error as _error
from syncline.spec import quoted as _q


def to_text(raw: Any) -> str:
    """A non-str SQL value as text (raises TypeError for bytes)."""
    if isinstance(raw, str):
        return str.__str__(raw)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, Decimal):
        return format(raw, "f")
    if isinstance(raw, float):
        return repr(raw)
    if isinstance(raw, datetime | date | time):
        return raw.isoformat()
    if isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(raw)
    if isinstance(raw, dict | list):
        return json.dumps(raw, ensure_ascii=False)
    return str(raw)


def src_text(spec: ColumnSpec, options: TypeOptions) -> Fn:
    length = spec.length
    strip = options.strips
    #: a typed source's text is copied exactly: "" and blanks stay what they are
    exact = options.typed_source and not strip
    empty_as_null = options.empty_as_null and not exact
    blank_is_null = empty_as_null and not strip
    fixed, nul_allowed, max_bytes = spec.fixed, spec.nul_allowed, spec.max_bytes
    choices = _choices(spec)
    unfit = unstorable(spec)

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        if raw.__class__ is str:
            s = raw.strip() if strip else raw
        else:
            try:
                s = to_text(raw)
            except TypeError:
                raise _error(spec, raw, "binary data is not text") from None
            if strip:
                s = s.strip()
        if fixed:
            s = s.rstrip(" ")  # CHAR(n) pads with spaces: they are not part of the value
        if not s:
            return None if empty_as_null else s
        if blank_is_null and s.isspace():
            return None
        if length is not None and len(s) > length:
            raise _error(spec, raw, f"{_q(s[:30] + '...' if len(s) > 40 else s)} is "
                                    f"{len(s)} characters long; the column allows at most "
                                    f"{length}")
        if not nul_allowed and "\x00" in s:
            raise _error(spec, raw, f"{_q(s[:40])} contains a NUL character (\\x00), which "
                                    f"the column cannot store")
        if max_bytes is not None and len(s) * 4 > max_bytes:
            size = len(s.encode("utf-8"))
            if size > max_bytes:
                raise _error(spec, raw, f"{_q(s[:30] + '...')} is {size} bytes long in"
                                        f" UTF-8; the column holds at most {max_bytes}")
        if unfit is not None:
            bad = unfit(s)
            if bad is not None:
                raise _error(spec, raw, f"{_q(s[:40])} contains {bad!r}"
                                        f" (U+{ord(bad):04X}), which the column's character"
                                        f" set {spec.charset} cannot hold")
        if choices is not None:
            found = choices.get(s)
            if found is None:
                found = choices.get(s.casefold()) if spec.fold_choices else None
                if found is None:
                    raise _error(spec, raw, f"{_q(s)} is not one of the column's values"
                                            f" ({', '.join(spec.choices or ())})")
            return found
        return s

    return coerce


#: MySQL character sets that cannot hold every character -> the Python codec (None: the
#: Basic Multilingual Plane, what MySQL's 3-byte utf8 holds)
_NARROW_CHARSETS: dict[str, str | None] = {"utf8": None, "utf8mb3": None, "ucs2": None,
                                           "latin1": "cp1252", "ascii": "ascii"}


def unstorable(spec: ColumnSpec) -> Callable[[str], str | None] | None:
    """A function giving the first character of a text the column's character set cannot
    store (None when all fit), or None when the column holds every character."""
    if spec.charset is None or spec.charset.lower() not in _NARROW_CHARSETS:
        return None
    codec = _NARROW_CHARSETS[spec.charset.lower()]
    if codec is None:
        def bmp(s: str) -> str | None:
            if s.isascii() or max(s) <= "\uffff":
                return None
            return next(c for c in s if c > "\uffff")
        return bmp

    def encodable(s: str) -> str | None:
        try:
            s.encode(codec)
        except UnicodeEncodeError as exc:
            return s[exc.start]
        return None
    return encodable


def _choices(spec: ColumnSpec) -> dict[str, str] | None:
    if spec.choices is None:
        return None
    found = {c: c for c in spec.choices}
    if spec.fold_choices:  # MySQL compares ENUM values without case and trailing spaces
        for c in reversed(spec.choices):
            found.setdefault(c.casefold(), c)
            found.setdefault(c.rstrip(" ").casefold(), c)
    return found
