"""Read PVs into SavedPV records through the many-PV engine (``caprobe.ca.Context``).

Two reads per PV, all in flight at once: DBR_TIME (value, alarm, IOC time) and DBR_CTRL
(units, precision, enum states, control limits). A PV that cannot be read gets a SavedPV
without a value and the one-line reason, and never stops the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from caprobe import ca, pvname
from caprobe import format as fmt
from caprobe.snapshot.model import TYPE_NAMES, SavedPV, Snapshot, now_ns


def context_for(timeout: float = 1.0, priority: int = 0) -> Any:
    """A ``ca.Context`` (the many-PV engine: shared circuits, batched search)."""
    return ca.Context(timeout=timeout, priority=priority)


@dataclass
class LivePV:
    """A PV as read now: its value as a SavedPV, plus what a restore needs to know."""

    pv: SavedPV
    channel: Any = None                 # ChannelInfo (native type, count, access) or None
    limits: tuple[float, float] | None = None  # control limits when the IOC sets them

    @property
    def connected(self) -> bool:
        return self.channel is not None

    @property
    def can_write(self) -> bool:
        return self.channel is not None and bool(self.channel.can_write)


def error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, ca.CATimeoutError) and "not found" not in text.lower():
        return f"not connected ({text})"
    return text


def _text(raw: Any) -> str:
    return fmt.to_text(raw) if isinstance(raw, (bytes, bytearray)) else str(raw)


def value_of(data: Any, dbf: str, states: Sequence[str] = ()) -> Any:
    """Canonical value (see caprobe.snapshot.model) from a response's ``.data``."""
    if dbf == "STRING":
        items = [_text(v) for v in (data if isinstance(data, (list, tuple, np.ndarray))
                                    else [data])]
        return items[0] if len(items) == 1 else items
    if dbf == "ENUM":
        raw_items = list(data) if isinstance(data, (list, tuple, np.ndarray)) else [data]
        items = []
        for item in raw_items:
            if isinstance(item, (bytes, bytearray, str)):  # a server-converted state
                items.append(_text(item))
            else:
                index = int(item)
                items.append(states[index] if 0 <= index < len(states) else index)
        return items[0] if len(items) == 1 else items
    array = np.asarray(data)
    dtype = {"SHORT": np.int16, "FLOAT": np.float32, "CHAR": np.uint8, "LONG": np.int32,
             "DOUBLE": np.float64}[dbf]
    array = array.ravel().astype(dtype, copy=True)
    if array.size == 1:
        return float(array[0]) if dbf in ("FLOAT", "DOUBLE") else int(array[0])
    return array


def saved_from(name: str, timed: Any, control: Any = None) -> LivePV:
    """A LivePV from a TIME response (or the CAError instead of one) and an optional CTRL
    response (or error: then units/states are just unknown)."""
    if isinstance(timed, BaseException):
        return LivePV(SavedPV(name=name, error=error_text(timed)))
    channel = getattr(timed, "channel", None)
    native = int(channel.native_data_type) if channel is not None else \
        fmt.base_type(int(timed.data_type))
    dbf = TYPE_NAMES[native]
    metadata = getattr(control, "metadata", None) if not isinstance(control, BaseException) \
        else None
    states = tuple(_text(s) for s in (getattr(metadata, "enum_strings", None) or ()))
    units = getattr(metadata, "units", None)
    precision = getattr(metadata, "precision", None) if dbf in ("FLOAT", "DOUBLE") else None
    limits = None
    low = getattr(metadata, "lower_ctrl_limit", None)
    high = getattr(metadata, "upper_ctrl_limit", None)
    if low is not None and high is not None and float(low) < float(high):
        limits = (float(low), float(high))
    time_metadata = timed.metadata
    stamp = fmt.response_stamp(timed)
    time_ns = None
    if stamp is not None:
        time_ns = (stamp[0] + fmt.EPICS_EPOCH_OFFSET) * 1_000_000_000 + stamp[1] \
            if stamp != (0, 0) else 0
    pv = SavedPV(name=name, value=value_of(timed.data, dbf, states), dbf=dbf,
                 units=_text(units) if units else "",
                 severity=int(getattr(time_metadata, "severity", 0)),
                 status=int(getattr(time_metadata, "status", 0)), time_ns=time_ns,
                 states=states, precision=None if precision is None else int(precision))
    return LivePV(pv, channel, limits)


def wire_name(name: str) -> str:
    """The Channel Access name of a table/file name (``ca://X`` and bare ``X`` -> ``X``).
    Raises ValueError for what snapshots cannot do over CA (``pva://``, unknown schemes)."""
    parsed = pvname.parse(name)
    if parsed.protocol != pvname.CA:
        raise ValueError(f"{name}: PV Access PVs cannot be saved or restored yet "
                         "(Channel Access only)")
    return parsed.name


def read_live(names: Sequence[str], context: Any) -> list[LivePV]:
    """Read every PV (TIME and CTRL) on one ``ca.Context``; same order as ``names``. A name
    that is not a Channel Access name gets its reason instead of a value."""
    names = list(names)
    wire: list[str | None] = []
    refused: dict[int, str] = {}
    for position, name in enumerate(names):
        try:
            wire.append(wire_name(name))
        except ValueError as exc:
            wire.append(None)
            refused[position] = str(exc)
    if refused:
        usable = [i for i in range(len(names)) if i not in refused]
        found = read_live([wire[i] for i in usable], context) if usable else []
        out: list[LivePV] = [LivePV(SavedPV(name=names[i], error=refused.get(i, "")))
                             for i in range(len(names))]
        for position, live in zip(usable, found, strict=True):
            live.pv.name = names[position]
            out[position] = live
        return out
    query = [w for w in wire if w is not None]
    timed = context.read_many(query, data_type="time")
    wanted = [i for i, r in enumerate(timed)
              if not isinstance(r, BaseException)
              and int(r.channel.native_data_type) != fmt.STRING]
    controls: list[Any] = [None] * len(names)
    if wanted:
        replies = context.read_many([query[i] for i in wanted], data_type="control",
                                    data_count=1)
        for i, reply in zip(wanted, replies, strict=True):
            controls[i] = reply
    return [saved_from(name, t, c) for name, t, c in zip(names, timed, controls, strict=True)]


def take(names: Sequence[str], *, timeout: float = 2.0, priority: int = 0,
         context: Any = None, comment: str = "") -> tuple[Snapshot, list[LivePV]]:
    """Read all ``names`` at once and return the snapshot (and the live details)."""
    started = now_ns()
    if context is None:
        with context_for(timeout, priority) as own:
            live = read_live(names, own)
    else:
        live = read_live(names, context)
    return Snapshot(pvs=[item.pv for item in live], time_ns=started, comment=comment), live
