"""Checks of the arguments every CA call shares (PV name, priority, timeout, data type) and
the client's request ids. A bad argument raises ValueRefused before anything is sent."""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

from caprobe.ca import dbr
from caprobe.ca import messages as msg
from caprobe.ca.errors import ValueRefused

MAX_NAME_BYTES = 500  # caProto.h: longer names are "unreasonable"

_ids = itertools.count(1)
_WHITESPACE = re.compile(r"\s")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def next_id() -> int:
    """A client-side id (cid, ioid, subscription id), unique in this process."""
    return next(_ids) & 0xFFFFFFFF


def encode_pv_name(pv_name: str) -> bytes:
    """Validate a PV name and return its wire bytes; a bad name raises ValueRefused."""
    if not isinstance(pv_name, str):
        raise ValueRefused(f"PV name must be a string, not {type(pv_name).__name__}")
    if not pv_name:
        raise ValueRefused("PV name is empty")
    record_part = pv_name.split("{", 1)[0]  # JSON field modifiers may contain spaces
    if pv_name != pv_name.strip() or _WHITESPACE.search(record_part):
        raise ValueRefused(f"PV name {pv_name!r} contains white space")
    if _CONTROL.search(pv_name):
        raise ValueRefused(f"PV name {pv_name!r} contains control characters")
    if not record_part.isascii():
        raise ValueRefused(f"PV name {pv_name!r} contains non-ASCII characters")
    raw = pv_name.encode("utf-8")
    if len(raw) > MAX_NAME_BYTES:
        raise ValueRefused(f"PV name is {len(raw)} bytes long; Channel Access allows "
                           f"{MAX_NAME_BYTES} at most")
    return raw


def check_priority(priority: int) -> int:
    if not isinstance(priority, int) or not 0 <= priority <= msg.CA_PROTO_PRIORITY_MAX:
        raise ValueRefused(f"priority {priority!r} is out of range (0-99)")
    return priority


def check_timeout(timeout: float | None) -> float:
    if timeout is None:
        raise ValueRefused("timeout must be a number of seconds (every wait has a timeout)")
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise ValueRefused(f"timeout {timeout!r} is not a number of seconds") from None
    if not value > 0 or math.isinf(value):
        raise ValueRefused(f"timeout {timeout!r} must be a positive, finite number of seconds")
    return value


def check_data_type(data_type: Any) -> None:
    """Refuse a data type no channel could be asked for (a typo'd name, an int that is no
    DBR type), so the mistake surfaces at the call and not later inside block()."""
    if data_type is None:
        return
    if isinstance(data_type, str) and data_type.lower() in dbr.DBR_CLASSES:
        return
    try:
        dbr.resolve_data_type(data_type, 0)
    except (ValueError, TypeError) as exc:
        raise ValueRefused(str(exc)) from None
