"""Read PVs into SavedPV records: Channel Access through the many-PV engine
(``caprobe.ca.Context``), ``pva://`` names through ``caprobe.pva.read_many``.

CA: two reads per PV, all in flight at once: DBR_TIME (value, alarm, IOC time) and DBR_CTRL
(units, precision, enum states, control limits). PVA: one GET per PV (the structure carries
all of it), all at once, alongside the CA reads. NTScalar, NTScalarArray and NTEnum values
are saved; other structures (NTTable, NTNDArray, custom) are not, with the reason. A PV that
cannot be read gets a SavedPV without a value and the one-line reason, and never stops the
others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from caprobe import ca, pva, pvname
from caprobe import format as fmt
from caprobe.snapshot.model import TYPE_NAMES, SavedPV, Snapshot, now_ns, numpy_type


def context_for(timeout: float = 1.0, priority: int = 0) -> Any:
    """A ``ca.Context`` (the many-PV engine: shared circuits, batched search)."""
    return ca.Context(timeout=timeout, priority=priority)


@dataclass
class LivePV:
    """A PV as read now: its value as a SavedPV, plus what a restore needs to know."""

    pv: SavedPV
    channel: Any = None                 # ChannelInfo (native type, count, access) or None
    limits: tuple[float, float] | None = None  # control limits when the IOC sets them
    #: the PV Access response (what a restore checks a value against); None for CA
    response: Any = None

    @property
    def connected(self) -> bool:
        return self.channel is not None

    @property
    def can_write(self) -> bool:
        """False only when the server said so (CA's access rights); PV Access has no
        access-rights query, so a PVA PV may be written until its server refuses the put."""
        if self.channel is None:
            return False
        access = self.channel.can_write
        return access is None or bool(access)

    @property
    def is_pva(self) -> bool:
        return self.response is not None


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
    array = array.ravel().astype(numpy_type(dbf), copy=True)
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


#: p4p type code of a PVA value field -> its type name in a snapshot (see snapshot.model)
_PVA_TYPES = {"d": "DOUBLE", "f": "FLOAT", "i": "LONG", "h": "SHORT", "B": "CHAR",
              "s": "STRING", "b": "INT8", "H": "UINT16", "I": "UINT32", "l": "INT64",
              "L": "UINT64", "?": "BOOLEAN"}
UNSUPPORTED = ("only NTScalar, NTScalarArray and NTEnum values are saved and restored, not "
               "whole structures")


def type_name(response: Any) -> str | None:
    """The snapshot type name of a CA or PVA response ('DOUBLE', 'ENUM', 'INT64'...); None
    for a PV Access structure that is not NTScalar/NTScalarArray/NTEnum."""
    layout = getattr(response, "layout", None)
    if layout is not None:  # PV Access
        if layout.kind == "enum":
            return "ENUM"
        if layout.kind in ("scalar", "array") and layout.value_code:
            return _PVA_TYPES.get(layout.value_code.lstrip("a"))
        return None
    channel = getattr(response, "channel", None)
    if channel is not None and channel.native_data_type is not None:
        return TYPE_NAMES[int(channel.native_data_type)]
    return TYPE_NAMES[fmt.base_type(int(response.data_type))]


def saved_from_pva(name: str, response: Any) -> LivePV:
    """A LivePV from a caprobe.pva response (or the CAError instead of one)."""
    if isinstance(response, BaseException):
        return LivePV(SavedPV(name=name, error=error_text(response)))
    dbf = type_name(response)
    channel = response.channel
    if dbf is None:
        return LivePV(SavedPV(name=name, error=f"{response.layout.type_text}: {UNSUPPORTED}"),
                      channel, response=response)
    md = response.metadata
    fields = md.fields
    states = tuple(str(s) for s in md.enum_strings) if "enum_strings" in fields else ()
    if dbf == "ENUM":
        index = int(response.index)
        value: Any = states[index] if 0 <= index < len(states) else index
    else:
        value = value_of(response.data, dbf)
    units = str(md.units) if "units" in fields and md.units else ""
    precision = int(md.precision) if "precision" in fields and dbf in ("FLOAT", "DOUBLE") \
        else None
    time_ns = None
    if "secondsSinceEpoch" in fields:
        stamp = (int(md.secondsSinceEpoch), int(md.nanoSeconds))
        time_ns = (stamp[0] + fmt.EPICS_EPOCH_OFFSET) * 1_000_000_000 + stamp[1] \
            if stamp != (0, 0) else 0
    limits = None
    if "lower_ctrl_limit" in fields and "upper_ctrl_limit" in fields:
        low, high = float(md.lower_ctrl_limit), float(md.upper_ctrl_limit)
        if low < high:
            limits = (low, high)
    has_alarm = "severity" in fields
    pv = SavedPV(name=name, value=value, dbf=dbf, units=units,
                 severity=int(md.severity) if has_alarm else None,
                 status=int(md.status) if has_alarm else None, time_ns=time_ns,
                 states=states, precision=precision)
    return LivePV(pv, channel, limits, response)


def route(name: str) -> tuple[str, str]:
    """(protocol, wire name) of a table/file name: ``pva://X`` -> ('pva', 'X'), ``ca://X`` and
    a bare ``X`` -> ('ca', 'X') (unless CAPROBE_DEFAULT_PROTOCOL says pva). Raises ValueError
    (PVNameError) for an unknown scheme or an empty name."""
    parsed = pvname.parse(name)
    return parsed.protocol, parsed.name


def wire_name(name: str) -> str:
    """The name on the wire (the protocol prefix removed); ValueError as :func:`route`."""
    return route(name)[1]


def _split(names: Sequence[str]) -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """{position: wire name} for CA and for PVA, and {position: reason} for the refused."""
    ca_names: dict[int, str] = {}
    pva_names: dict[int, str] = {}
    refused: dict[int, str] = {}
    for position, name in enumerate(names):
        try:
            protocol, wire = route(name)
        except ValueError as exc:
            refused[position] = str(exc)
            continue
        (pva_names if protocol == pvname.PVA else ca_names)[position] = wire
    return ca_names, pva_names, refused


def side_by_side(first: Callable[[], Any], second: Callable[[], Any] | None) -> tuple[Any, Any]:
    """Run ``second`` in a thread while ``first`` runs here (CA and PVA requests wait at the
    same time, so a mixed file costs one timeout, not two). Each has its own timeout."""
    if second is None:
        return first(), None
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = second()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="caprobe-snapshot-pva", daemon=True)
    thread.start()
    try:
        one = first()
    finally:
        thread.join()  # second() is bounded by its own timeout
    if "error" in box:
        raise box["error"]
    return one, box.get("result")


def _read_ca(names: list[str], context: Any) -> list[LivePV]:
    timed = context.read_many(names, data_type="time")
    wanted = [i for i, r in enumerate(timed)
              if not isinstance(r, BaseException)
              and int(r.channel.native_data_type) != fmt.STRING]
    controls: list[Any] = [None] * len(names)
    if wanted:
        replies = context.read_many([names[i] for i in wanted], data_type="control",
                                    data_count=1)
        for i, reply in zip(wanted, replies, strict=True):
            controls[i] = reply
    return [saved_from(name, t, c) for name, t, c in zip(names, timed, controls, strict=True)]


def _read_pva(names: list[str], timeout: float) -> list[LivePV]:
    try:
        results: list[Any] = pva.read_many(names, timeout=timeout)
    except ca.CAError as exc:  # p4p missing, a malformed EPICS_PVA_* variable
        results = [exc] * len(names)
    return [saved_from_pva(name, result) for name, result in zip(names, results, strict=True)]


def read_live(names: Sequence[str], context: Any) -> list[LivePV]:
    """Read every PV on one ``ca.Context`` (TIME and CTRL) or, for ``pva://`` names, through
    caprobe.pva (one GET each, all at once, within the context's timeout); same order as
    ``names``, which the results keep. A name that cannot be read gets its reason instead
    of a value."""
    names = list(names)
    ca_names, pva_names, refused = _split(names)
    out = [LivePV(SavedPV(name=name, error=refused.get(i, ""))) for i, name in
           enumerate(names)]
    timeout = float(getattr(context, "timeout", 2.0))
    ca_found, pva_found = side_by_side(
        lambda: _read_ca(list(ca_names.values()), context) if ca_names else [],
        (lambda: _read_pva(list(pva_names.values()), timeout)) if pva_names else None)
    for positions, found in ((ca_names, ca_found), (pva_names, pva_found or [])):
        for position, live in zip(positions, found, strict=True):
            live.pv.name = names[position]
            out[position] = live
    return out


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
