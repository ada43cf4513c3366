"""The rules for dates and times: date, datetime, time (part of the rule book in
:mod:`syncline.types`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from syncline.spec import ColumnSpec, Fn, TypeOptions
from syncline.spec import blank as _blank
from syncline.spec import coercion_error as _error
from syncline.spec import identity as _identity
from syncline.spec import missing_hint as _missing_hint
from syncline.spec import quoted as _q


def parse_date(s: str) -> date:
    if len(s) == 10 and s[4] == "-" and s[7] == "-" and s.isascii():
        return date.fromisoformat(s)
    raise ValueError(s)


def src_date(spec: ColumnSpec, options: TypeOptions) -> Fn:
    one = _date(spec, options)
    if spec.bounds is None:
        return one
    low, high = spec.bounds[0].date(), spec.bounds[1].date()

    def bounded(raw: Any) -> Any:
        d = one(raw)
        if d is None or low <= d <= high:
            return d
        raise _error(spec, raw, f"{_q(raw)} is outside the column's range ({low} to {high})")

    return bounded


def _date(spec: ColumnSpec, options: TypeOptions) -> Fn:
    what = "a date"

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        cls = raw.__class__
        if cls is str:
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            try:
                return parse_date(s)
            except ValueError:
                raise _error(spec, raw, f"{_q(raw)} is not a date written as YYYY-MM-DD"
                                        f"{_missing_hint(s)}") from None
        if cls is date:
            return raw
        if isinstance(raw, datetime):
            if raw.time() == time(0):
                return raw.date()
            raise _error(spec, raw, f"{raw.isoformat(' ')} has a time of day; the column "
                                    f"holds dates only")
        if isinstance(raw, date):
            return date(raw.year, raw.month, raw.day)
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    return coerce


def truncator(fsp: int) -> Callable[[Any], Any] | None:
    if fsp >= 6:
        return None
    unit = 10 ** (6 - fsp)

    def truncate(v: Any) -> Any:
        r = v.microsecond % unit
        return v.replace(microsecond=v.microsecond - r) if r else v

    return truncate


def _canon_datetime(spec: ColumnSpec, options: TypeOptions) -> Callable[[datetime], datetime]:
    """Aware datetime in ``options.zone`` (that tzinfo object), truncated to ``spec.fsp``."""
    zone = options.zone
    fixed = isinstance(zone, timezone)
    truncate = truncator(spec.fsp)

    unit = 10 ** (6 - spec.fsp)

    def canon(dt: datetime) -> datetime:
        tz = dt.tzinfo
        if tz is None:  # truncate and attach the zone in one step
            us = dt.microsecond
            dt = dt.replace(microsecond=us - us % unit, tzinfo=zone)
            # through UTC: sets fold and moves wall times out of DST gaps
            return dt if fixed else dt.astimezone(UTC).astimezone(zone)
        if tz is not zone:
            dt = dt.astimezone(zone)
        elif not fixed:
            dt = dt.astimezone(UTC).astimezone(zone)
        return truncate(dt) if truncate is not None else dt

    return canon


def src_datetime(spec: ColumnSpec, options: TypeOptions) -> Fn:
    one = _datetime(spec, options)
    if spec.bounds is None:
        return one
    low, high = spec.bounds
    instant = low.tzinfo is not None

    def bounded(raw: Any) -> Any:
        v = one(raw)
        if v is None or low <= (v if instant else v.replace(tzinfo=None)) <= high:
            return v
        raise _error(spec, raw, f"{_q(raw)} is outside the column's range"
                                f" ({low.isoformat(' ')} to {high.isoformat(' ')})")

    return bounded


def _datetime(spec: ColumnSpec, options: TypeOptions) -> Fn:
    canon = _canon_datetime(spec, options)
    what = "a date and time"

    def coerce(raw: Any) -> Any:
        try:
            return convert(raw)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before year 1 in UTC
            raise _error(spec, raw, f"{_q(raw)} is outside the range of dates syncline can"
                                    " convert (years 1 to 9999 in the run's time zone)"
                         ) from None

    def convert(raw: Any) -> Any:
        if raw is None:
            return None
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            try:
                if not s.isascii() or len(s) < 10:
                    raise ValueError(s)
                return canon(datetime.fromisoformat(s))
            except ValueError:
                raise _error(spec, raw, f"{_q(raw)} is not a date and time in ISO 8601 form "
                                        f"(YYYY-MM-DD HH:MM:SS, optionally with an offset)"
                                        f"{_missing_hint(s)}") from None
        if isinstance(raw, datetime):
            return canon(raw)
        if isinstance(raw, date):
            return canon(datetime(raw.year, raw.month, raw.day))
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    return coerce


def _time_from_timedelta(td: timedelta) -> time:
    if timedelta(0) <= td < timedelta(days=1):
        return (datetime.min + td).time()
    raise ValueError(td)


def src_time(spec: ColumnSpec, options: TypeOptions) -> Fn:
    truncate = truncator(spec.fsp) or _identity
    what = "a time of day"

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            try:
                if not s.isascii() or len(s) < 5 or s[2] != ":":
                    raise ValueError(s)
                return truncate(time.fromisoformat(s))
            except ValueError:
                raise _error(spec, raw, f"{_q(raw)} is not a time written as HH:MM:SS"
                                        f"{_missing_hint(s)}") from None
        if isinstance(raw, time):
            return truncate(raw)
        if isinstance(raw, timedelta):
            try:
                return truncate(_time_from_timedelta(raw))
            except ValueError:
                raise _error(spec, raw, f"{raw} is not a time of day") from None
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    return coerce


def tgt_datetime(spec: ColumnSpec, options: TypeOptions) -> Fn:
    canon = _canon_datetime(spec, options)

    def normalize(v: Any) -> Any:
        try:
            if isinstance(v, datetime):
                return canon(v)
            if isinstance(v, str):
                return canon(datetime.fromisoformat(v))
        except (ValueError, OverflowError):
            pass
        return v

    return normalize
