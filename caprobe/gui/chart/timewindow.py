"""The chart's time window: preset choices and typed durations ("90 s", "5 min", "2 h")."""

from __future__ import annotations

import re

TIME_WINDOWS = (("30 s", 30.0), ("1 min", 60.0), ("10 min", 600.0), ("1 h", 3600.0))

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(ms|s|sec|m|min|h|hr|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``"90"``, ``"90 s"``, ``"5 min"``, ``"2h"`` -> seconds; ValueError with a clear message."""
    m = _DURATION.match(text or "")
    if not m:
        raise ValueError(f"{text!r} is not a duration (examples: 90 s, 5 min, 2 h)")
    seconds = float(m.group(1)) * _UNIT_SECONDS[(m.group(2) or "s").lower()]
    if not 1.0 <= seconds <= 31 * 86400:
        raise ValueError(f"time window {text!r} is outside 1 s .. 31 days")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
