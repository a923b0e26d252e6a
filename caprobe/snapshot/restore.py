"""Restore saved values: plan (what will be written, old -> new, and what cannot be), then
write with put-callback, read back, and report one result per PV.

Nothing is written by ``plan``. ``execute`` writes only the planned rows that are ready, all
in flight at once: Channel Access PVs on one ``ca.Context``, ``pva://`` PVs through
``caprobe.pva.write_many`` (a put with ``record[block=true]``, PVA's put-callback) at the same
time; a read-only, disconnected or refused PV never stops the others. A saved value is
checked against the PV's type *today* (numbers in range, whole numbers for integer PVs,
strings of at most 39 bytes over CA, enum states that exist, arrays that fit) and its control
limits, as the probe's write panel checks what an operator types. PV Access has no
access-rights query: a read-only PVA PV is found out when its server refuses the put
(``no write access``), and nothing is written to it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from caprobe import ca, pva, pvname
from caprobe import format as fmt
from caprobe.snapshot.capture import (
    UNSUPPORTED,
    LivePV,
    error_text,
    read_live,
    route,
    side_by_side,
)
from caprobe.snapshot.capture import context_for as _context
from caprobe.snapshot.compare import NUMERIC, compare_pv, value_text
from caprobe.snapshot.model import EXACT, TYPE_NAMES, SavedPV, Snapshot, Tolerance

# Outcomes, one per PV.
READY = "ready"                  # planned: will be written
DONE = "done"                    # written, put-callback completed, reads back the saved value
REFUSED = "refused"              # the saved value does not fit the PV today: nothing sent
NO_ACCESS = "no write access"    # read-only (access security): nothing sent
NOT_CONNECTED = "not connected"  # could not be reached: nothing sent
NOTHING_SAVED = "nothing saved"  # the snapshot has no value for this PV
TIMED_OUT = "timed out"          # the put-callback did not complete in time
SERVER_ERROR = "server error"    # the IOC refused or failed the write
READBACK_DIFFERS = "reads back different"  # written, but the PV now holds another value

NO_ACCESS_TEXT = "read-only: the IOC's access security gives this client no write access"
_NUMPY = {"SHORT": np.int16, "FLOAT": np.float32, "CHAR": np.uint8, "LONG": np.int32,
          "DOUBLE": np.float64}


@dataclass
class RestoreItem:
    """One PV of a restore: before, what will be (or was) written, and the outcome."""

    saved: SavedPV
    live: LivePV | None = None
    value: Any = None             # what is written (already checked), None if nothing
    outcome: str = READY
    reason: str = ""
    readback: SavedPV | None = None
    tolerance: Tolerance = EXACT
    elapsed: float | None = None

    @property
    def name(self) -> str:
        return self.saved.name

    @property
    def ready(self) -> bool:
        return self.outcome == READY

    @property
    def ok(self) -> bool:
        return self.outcome == DONE

    @property
    def old_text(self) -> str:
        return value_text(self.live.pv) if self.live is not None else "-"

    @property
    def new_text(self) -> str:
        return value_text(self.saved)

    def display_texts(self) -> tuple[str, str]:
        """(now, will write) as a display shows them: the PV's PREC and units."""
        if self.live is None or self.live.pv.value is None:
            return self.old_text, self.new_text
        live = self.live.pv
        precision = live.precision if live.dbf in ("FLOAT", "DOUBLE") else None
        units = f" {live.units}" if live.units and not live.is_array else ""
        old = value_text(live, precision=precision, quote=False)
        new = value_text(self.saved, precision=precision if self.saved.dbf in (
            "FLOAT", "DOUBLE", None) and not isinstance(self.saved.value, str) else None,
            quote=False)
        return old + units, new + (units if self.saved.value is not None
                                   and not self.saved.is_array else "")

    def line(self) -> str:
        """One line naming the PV, for the CLI and the result table."""
        if self.outcome == READY:
            same = self.live is not None and compare_pv(
                self.saved, self.live.pv, self.tolerance).state == "same"
            return f"{self.name} {self.old_text} -> {self.new_text}" + (
                " (already equal)" if same else "")
        if self.outcome == DONE:
            now = value_text(self.readback) if self.readback is not None else self.new_text
            return f"{self.name} restored: {self.old_text} -> {now}"
        return f"{self.name} {self.outcome}: {self.reason}"


def _items(saved: SavedPV) -> list[Any]:
    if saved.is_array:
        return list(saved.value)
    return [saved.value]


def _number_text(item: Any) -> str:
    if isinstance(item, (float, np.floating)):
        return repr(float(item))
    if isinstance(item, (int, np.integer)):
        return str(int(item))
    return str(item)


def _check_limits(values: Sequence[Any], live: LivePV) -> None:
    if live.limits is None:
        return
    low, high = live.limits
    outside = [float(v) for v in values if not math.isnan(float(v)) and
               not low <= float(v) <= high]
    if outside:
        raise ValueError(f"{outside[0]:g} is outside the control limits {low:g} .. {high:g}")


def _pva_value(saved: SavedPV, live: LivePV) -> Any:
    """writable_value for a PV Access PV: checked by caprobe.pva against the structure read
    now (caprobe.pva.check_value), so a restore refuses what a write would."""
    native = live.pv.dbf
    if native is None:
        raise ValueError(f"the PV is {live.response.layout.type_text} now: {UNSUPPORTED}")
    kind = saved.dbf
    if kind is not None and kind != native and not (kind in NUMERIC and native in NUMERIC):
        raise ValueError(f"saved as {kind}, but the PV is {native} now")
    value = saved.value
    array = live.response.layout.kind == "array"
    if saved.is_array and not array:
        if len(value) != 1:
            raise ValueError(f"{len(value)} elements do not fit the PV, which holds one")
        value = value[0]
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.dtype.kind in "iub" else value
    try:
        fields = pva.check_value(live.response, value)
    except ca.ValueRefused as exc:
        raise ValueError(str(exc)) from None
    if "value.index" in fields:
        return int(fields["value.index"])
    written = fields["value"]
    if native in NUMERIC:
        _check_limits(np.atleast_1d(np.asarray(written, dtype=np.float64)).tolist(), live)
    return written


def writable_value(saved: SavedPV, live: LivePV) -> Any:
    """The value to send for ``saved`` to the PV as it is now. Raises ValueError with the
    reason when it does not fit (nothing may be sent then)."""
    if live.is_pva:
        return _pva_value(saved, live)
    channel = live.channel
    native = TYPE_NAMES[int(channel.native_data_type)]
    count = int(channel.native_data_count)
    kind = saved.dbf
    numeric = ("SHORT", "FLOAT", "CHAR", "LONG", "DOUBLE")
    if kind is not None and kind != native and not (kind in numeric and native in numeric):
        raise ValueError(f"saved as {kind}, but the PV is {native} now")
    if native == "CHAR" and count > 1 and not saved.is_array and isinstance(saved.value, str) \
            and kind is None:
        # autosave's NAME$ entries: a long string saved as text, written with its NUL
        raw = saved.value.encode("utf-8") + b"\0"
        if len(raw) > count:
            raise ValueError(f"text of {len(raw) - 1} bytes does not fit the PV's {count} "
                             "characters (including the trailing NUL)")
        return np.frombuffer(raw, dtype=np.uint8)
    items = _items(saved)
    if len(items) > count:
        raise ValueError(f"{len(items)} elements do not fit the PV's {count}")
    if len(items) == 0:
        raise ValueError("the saved array is empty: nothing to write")
    states = live.pv.states
    values = []
    for index, item in enumerate(items):
        text = item if isinstance(item, str) else _number_text(item)
        try:
            if native == "ENUM" and isinstance(item, (int, np.integer)):
                value = fmt.parse_value(str(int(item)), fmt.ENUM, states or None,
                                        enum_mode="number")
            else:
                value = fmt.parse_value(text, TYPE_NAMES.index(native), states or None)
        except ValueError as exc:
            where = f"element {index}: " if len(items) > 1 else ""
            raise ValueError(f"{where}{exc}") from None
        values.append(value)
    if native in numeric:
        _check_limits(values, live)
    if native == "STRING":
        return values if len(values) > 1 else values[0]
    if len(values) == 1 and not saved.is_array:
        return values[0]
    if native == "ENUM":
        return np.array(values, dtype=np.uint16)
    if native == "CHAR":
        return np.array([int(v) & 0xFF for v in values], dtype=np.uint8)
    return np.array(values, dtype=_NUMPY[native])


def plan(snapshot: Snapshot, context: Any, names: Sequence[str] | None = None,
         tolerance: Tolerance | None = None) -> list[RestoreItem]:
    """What a restore of ``names`` (default: every selected PV with a value) would do."""
    by_name = snapshot.by_name()
    if names is None:
        chosen = [pv for pv in snapshot.pvs if pv.selected]
    else:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise KeyError(", ".join(missing))
        chosen = [by_name[n] for n in names]
    items = [RestoreItem(pv, tolerance=pv.tolerance if pv.tolerance is not None
                         else (tolerance or snapshot.tolerance)) for pv in chosen]
    wanted = [item for item in items if item.saved.value is not None]
    for item in items:
        if item.saved.value is None:
            item.outcome, item.reason = NOTHING_SAVED, item.saved.error or "no value saved"
    live = read_live([item.name for item in wanted], context) if wanted else []
    for item, now in zip(wanted, live, strict=True):
        item.live = now
        if not now.connected:
            item.outcome, item.reason = NOT_CONNECTED, now.pv.error
        elif not now.can_write:
            item.outcome, item.reason = NO_ACCESS, NO_ACCESS_TEXT
        else:
            try:
                item.value = writable_value(item.saved, now)
            except ValueError as exc:
                item.outcome, item.reason = REFUSED, f"{exc}; nothing was sent"
    return items


def _failure(exc: BaseException) -> tuple[str, str]:
    text = error_text(exc)
    if isinstance(exc, ca.CATimeoutError):
        return TIMED_OUT, text
    if isinstance(exc, ca.ValueRefused):
        return REFUSED, text
    if isinstance(exc, ca.WriteFailed) and "no write access" in text.lower():
        return NO_ACCESS, text
    if isinstance(exc, ca.DisconnectedError):
        return NOT_CONNECTED, text
    return SERVER_ERROR, text


def execute(items: Sequence[RestoreItem], context: Any, *, timeout: float | None = None
            ) -> list[RestoreItem]:
    """Write every READY item with put-callback (all at once), then read them back."""
    ready = [item for item in items if item.ready]
    if not ready:
        return list(items)
    started = time.monotonic()
    options: dict[str, Any] = {"notify": True}
    if timeout is not None:
        options["timeout"] = timeout
    routes = [route(item.name) for item in ready]
    on_ca = [i for i, (protocol, _) in enumerate(routes) if protocol != pvname.PVA]
    on_pva = [i for i, (protocol, _) in enumerate(routes) if protocol == pvname.PVA]

    def write_ca() -> list[Any]:
        if not on_ca:
            return []
        return context.write_many([routes[i][1] for i in on_ca],
                                  [ready[i].value for i in on_ca], **options)

    def write_pva() -> list[Any]:
        try:
            # the plan read every PV and checked the value against it: no second read
            current = [ready[i].live.response if ready[i].live is not None else None
                       for i in on_pva]
            return pva.write_many([routes[i][1] for i in on_pva],
                                  [ready[i].value for i in on_pva], notify=True,
                                  timeout=timeout if timeout is not None
                                  else float(getattr(context, "timeout", 2.0)),
                                  current=None if None in current else current)
        except ca.CAError as exc:  # p4p missing, a malformed EPICS_PVA_* variable
            return [exc] * len(on_pva)

    ca_replies, pva_replies = side_by_side(write_ca, write_pva if on_pva else None)
    replies: list[Any] = [None] * len(ready)
    for positions, found in ((on_ca, ca_replies), (on_pva, pva_replies or [])):
        for i, reply in zip(positions, found, strict=True):
            replies[i] = reply
    elapsed = time.monotonic() - started
    written = []
    for item, reply in zip(ready, replies, strict=True):
        item.elapsed = elapsed
        if isinstance(reply, BaseException):
            item.outcome, item.reason = _failure(reply)
        elif reply is not None and not reply.status.success:
            item.outcome = SERVER_ERROR
            item.reason = f"write failed: {reply.status.description} ({reply.status.name})"
        else:
            written.append(item)
    if written:
        readback = read_live([item.name for item in written], context)
        for item, now in zip(written, readback, strict=True):
            item.readback = now.pv
            comparison = compare_pv(item.saved, now.pv, item.tolerance)
            if comparison.state == "same":
                item.outcome, item.reason = DONE, ""
            elif not now.connected:
                item.outcome = DONE
                item.reason = f"written, but the read back failed: {now.pv.error}"
            else:
                item.outcome = READBACK_DIFFERS
                item.reason = (f"written {value_text(item.saved)}, the PV now holds "
                               f"{value_text(now.pv)}")
    return list(items)


def restore(snapshot: Snapshot, names: Sequence[str] | None = None, *, timeout: float = 2.0,
            priority: int = 0, dry_run: bool = False) -> list[RestoreItem]:
    """plan + execute on a Context of its own (the CLI's restore)."""
    with _context(timeout=timeout, priority=priority) as context:
        items = plan(snapshot, context, names)
        if dry_run:
            return items
        return execute(items, context, timeout=timeout)


__all__ = ["RestoreItem", "plan", "execute", "restore", "writable_value"]
