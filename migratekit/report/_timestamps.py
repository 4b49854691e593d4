"""Timestamps as log lines write them, read as seconds since the epoch."""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

# The first second of the year 10000: datetime's range, and far enough.
_MAX_EPOCH = 253402300800.0

TIMESTAMP_KEYS = ("timestamp", "time", "ts", "@timestamp", "asctime")
_ISO = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d\d:?\d\d)?\s*\Z"
)


def parse_timestamp(value: Any) -> float | None:
    """
    Seconds since the epoch for any of structlog's usual timestamp forms, or
    ``None``.

    Accepts ISO 8601 (``TimeStamper(fmt="iso")``, with ``Z``, an offset, or
    none, which is taken as UTC), a space instead of the ``T`` and a comma
    before the fraction (``logging``'s ``asctime``), and epoch numbers
    (``TimeStamper()``), also as strings, in seconds, milliseconds or
    microseconds. A moment before 1970 or from the year 10000 on is ``None``,
    as is anything else: this never raises.
    """
    seconds = _seconds(value)
    if seconds is None or not 0.0 <= seconds < _MAX_EPOCH:
        return None
    return seconds


def _seconds(value: Any) -> float | None:
    if value.__class__ is str:
        if len(value) > 64:
            return None
        if value[4:5] == "-":
            # The common case, structlog's ISO stamp: the C parser first
            # (Python 3.11 reads "Z" and any fraction), the pattern after.
            try:
                moment = _fromisoformat(value)
            except ValueError:
                return _parse_iso(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=_dt.timezone.utc)
            return moment.timestamp()
        try:
            return _epoch(float(value))
        except ValueError:
            return _parse_iso(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = finite(value)
        return None if number is None else _epoch(number)
    return None


def finite(value: int | float) -> float | None:
    """*value* as a finite float, or ``None`` (NaN, infinities, ints beyond float's range)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


_fromisoformat = _dt.datetime.fromisoformat


def _parse_iso(value: str) -> float | None:
    match = _ISO.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = _dt.datetime(
            int(year), int(month), int(day),
            int(hour or 0), int(minute or 0), int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=_zone(zone),
        )  # fmt: skip
    except (ValueError, OverflowError):
        return None
    return moment.timestamp()


def _zone(zone: str | None) -> _dt.tzinfo:
    if zone is None or zone in ("Z", "z", "UTC"):
        return _dt.timezone.utc
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return _dt.timezone(sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _epoch(seconds: float) -> float | None:
    if not math.isfinite(seconds) or seconds < 0:
        return None
    # Epoch milliseconds and microseconds are common in log shippers; seconds
    # since 1970 stay below 1e11 until the year 5138.
    if seconds >= 1e14:
        seconds /= 1e6
    elif seconds >= 1e11:
        seconds /= 1e3
    return seconds


_DURATION = re.compile(r"\s*(\d{1,12}(?:\.\d{0,9})?|\.\d{1,9})\s*([smhd])\s*\Z", re.ASCII)
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_moment(text: str, now: float | None = None) -> float:
    """
    ``--since`` and ``--until``: an ISO 8601 time (``2026-12-01T03:00:00Z``,
    with an offset or without, which is UTC; a date alone is its midnight),
    or a duration back from *now* (the current time by default): ``90s``,
    ``15m``, ``2h``, ``7d``. Seconds since the epoch; raises ``ValueError``
    with the sentence to show for anything else.
    """
    if isinstance(text, str) and len(text) <= 64:
        match = _DURATION.match(text)
        if match is not None:
            if now is None:
                now = _dt.datetime.now(_dt.timezone.utc).timestamp()
            return max(0.0, now - float(match.group(1)) * _UNITS[match.group(2)])
        stripped = text.strip()
        if stripped[4:5] == "-" and stripped[:4].isdigit():
            moment = parse_timestamp(stripped)
            if moment is not None:
                return moment
    raise ValueError(
        f"expected an ISO 8601 time such as 2026-12-01T03:00:00Z, or a duration back from "
        f"now such as 90s, 15m, 2h or 7d (got {text!r})"
    )


def as_moment(value: object, now: float | None = None) -> float | None:
    """
    *value* as seconds since the epoch: ``None``, a number of seconds, a
    ``datetime`` (naive is UTC) or a string for :func:`parse_moment`.
    """
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = finite(value)
        if number is not None:
            return number
        raise ValueError(f"expected a finite number of seconds since the epoch (got {value!r})")
    if isinstance(value, str):
        return parse_moment(value, now)
    raise TypeError(
        f"expected a datetime, seconds since the epoch or a string such as '15m' "
        f"(got a {type(value).__name__})"
    )
