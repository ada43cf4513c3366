"""Whole-column coercion: the common cases of :mod:`syncline.types` done a batch at a time.

Each function here takes a list of raw source values and returns the canonical values,
producing exactly what mapping the per-value coercer over the list would. It checks
the whole column with C-speed built-ins (``str.strip``, ``int``, ``min``/``max``, a dict
lookup) and falls back to the per-value coercer — which names the bad value — as soon
as anything is unusual. Only kinds worth it have a fast path; the rest just map.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from syncline.numeric import BOOLEAN_FALSE, BOOLEAN_TRUE
from syncline.spec import ColumnSpec, TypeOptions
from syncline.text import unstorable
from syncline.types import source_coercer

ColumnFn = Callable[[list[Any]], list[Any]]


def column_coercer(spec: ColumnSpec, options: TypeOptions) -> ColumnFn:
    coerce = _column_coercer(spec, options)
    tokens = options.null_tokens
    if not tokens:
        return coerce
    # a missing-value token reads as the empty string would (NULL, or "" in text with
    # empty_as_null off) — except that it is always NULL, which is what the value coercer
    # gives it; tokens are rare, so a batch holding one goes the per-value way
    one = source_coercer(spec, options)

    def with_tokens(values: list[Any]) -> list[Any]:
        try:
            found = not tokens.isdisjoint(map(str.strip, values))
        except TypeError:  # None or typed values from a SQL source
            found = any(v.__class__ is str and v.strip() in tokens for v in values)
        return list(map(one, values)) if found else coerce(values)

    return with_tokens


def _column_coercer(spec: ColumnSpec, options: TypeOptions) -> ColumnFn:
    one = source_coercer(spec, options)

    def slow(values: list[Any]) -> list[Any]:
        return list(map(one, values))

    if spec.kind == "text":
        return _text(spec, options, slow)
    if spec.kind == "integer":
        return _integer(spec, slow)
    if spec.kind == "boolean":
        return _boolean(options, slow)
    if spec.kind == "decimal" and spec.scale is not None and spec.precision is not None:
        return _decimal(spec, slow)
    return slow


def _text(spec: ColumnSpec, options: TypeOptions, slow: ColumnFn) -> ColumnFn:
    if spec.choices is not None:
        return slow
    if spec.charset is not None and unstorable(spec) is not None:
        return _charset_checked(spec, _text_fast(spec, options, slow), slow)
    return _text_fast(spec, options, slow)


def _charset_checked(spec: ColumnSpec, fast: ColumnFn, slow: ColumnFn) -> ColumnFn:
    unfit = unstorable(spec)
    assert unfit is not None

    def coerce(values: list[Any]) -> list[Any]:
        out = fast(values)
        try:
            joined = "".join([v for v in out if v is not None])
        except TypeError:
            return slow(values)
        return slow(values) if unfit(joined) is not None else out

    return coerce


def _text_fast(spec: ColumnSpec, options: TypeOptions, slow: ColumnFn) -> ColumnFn:
    if not options.strips:
        if options.typed_source and not spec.fixed:
            return _exact_text(spec, slow)
        return slow
    length, empty_as_null = spec.length, options.empty_as_null
    nul_allowed, max_bytes = spec.nul_allowed, spec.max_bytes

    def coerce(values: list[Any]) -> list[Any]:
        try:
            out: list[Any] = list(map(str.strip, values))
        except TypeError:  # None or a non-text value from a SQL source
            return slow(values)
        if "" in out:
            if not empty_as_null:
                return slow(values)
            out = [v or None for v in out]
            texts = [v for v in out if v is not None]
        else:
            texts = out
        if length is not None and texts and max(map(len, texts)) > length:
            return slow(values)  # raises, naming the value
        if not nul_allowed and "\x00" in "".join(texts):
            return slow(values)
        if max_bytes is not None and texts and max(map(len, texts)) * 4 > max_bytes:
            return slow(values)
        return out

    return coerce


def _exact_text(spec: ColumnSpec, slow: ColumnFn) -> ColumnFn:
    """Text from a typed source, copied exactly: only the column's limits are checked."""
    length, nul_allowed, max_bytes = spec.length, spec.nul_allowed, spec.max_bytes

    def coerce(values: list[Any]) -> list[Any]:
        texts = values
        try:
            joined = "".join(texts)  # TypeError: NULLs or values that are not str
        except TypeError:
            texts = [v for v in values if v is not None]
            try:
                joined = "".join(texts)
            except TypeError:
                return slow(values)
        if not nul_allowed and "\x00" in joined:
            return slow(values)
        if (length is not None or max_bytes is not None) and texts:
            longest = max(map(len, texts))
            if (length is not None and longest > length) or (
                    max_bytes is not None and longest * 4 > max_bytes):
                return slow(values)  # raises, naming the value
        return list(values)

    return coerce


def _integer(spec: ColumnSpec, slow: ColumnFn) -> ColumnFn:
    bits = spec.int_bits
    low, high = (0, 2 ** bits - 1) if spec.unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)

    def coerce(values: list[Any]) -> list[Any]:
        try:
            joined = "".join(values)
        except TypeError:
            return slow(values)
        # int() also reads '1_000' and non-ASCII digits, which the rules refuse
        if not joined.isascii() or "_" in joined:
            return slow(values)
        try:
            out = list(map(int, values))
        except ValueError:
            return slow(values)
        if out and (min(out) < low or max(out) > high):
            return slow(values)
        return out

    return coerce


def _boolean(options: TypeOptions, slow: ColumnFn) -> ColumnFn:
    table: dict[str, bool | None] = {
        **dict.fromkeys(BOOLEAN_TRUE, True), **dict.fromkeys(BOOLEAN_FALSE, False)}
    if options.empty_as_null:
        table[""] = None
    lookup = table.__getitem__

    def coerce(values: list[Any]) -> list[Any]:
        try:
            return list(map(lookup, values))
        except (KeyError, TypeError):
            return slow(values)

    return coerce


def _decimal(spec: ColumnSpec, slow: ColumnFn) -> ColumnFn:
    """Text already written at the column's scale and within its precision, e.g. '12.34'."""
    assert spec.scale is not None and spec.precision is not None
    whole = spec.precision - spec.scale
    if whole < 1:
        return slow
    fraction = rf"\.\d{{{spec.scale}}}" if spec.scale else ""
    shape = re.compile(rf"(?:[+-]?\d{{1,{whole}}}{fraction}\n)*")

    def coerce(values: list[Any]) -> list[Any]:
        try:
            joined = "\n".join(values)
        except TypeError:
            return slow(values)
        if not values or not shape.fullmatch(joined + "\n"):
            return slow(values)
        return list(map(Decimal, values))

    return coerce
