"""Times in snapshot files: UTC, ISO 8601, nanoseconds kept (``2026-12-07T16:03:12.500000123Z``)."""

from __future__ import annotations

import calendar
import re
import time

_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z)?")


def format_utc(time_ns: int) -> str:
    seconds, nanos = divmod(int(time_ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def format_local(time_ns: int) -> str:
    """Local time with nanoseconds, as Phoebus writes ``saved_value_timestamp``."""
    seconds, nanos = divmod(int(time_ns), 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{nanos:09d}"


def parse_time(text: str, *, utc: bool | None = None) -> int:
    """Nanoseconds since the Unix epoch from ``YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z]``.

    A trailing ``Z`` means UTC; without it the time is local unless ``utc`` is True.
    Raises ValueError.
    """
    match = _ISO.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time (YYYY-MM-DDTHH:MM:SS.fffffffffZ expected)")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fields = (year, month, day, hour, minute, second, 0, 0, -1)
    try:
        if match.group(8) or utc:
            whole = calendar.timegm(fields)
        else:
            whole = int(time.mktime(fields))
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"{text!r} is not a valid time ({exc})") from None
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        raise ValueError(f"{text!r} is not a valid time")
    fraction = (match.group(7) or "").ljust(9, "0")
    return whole * 1_000_000_000 + int(fraction or 0)
