"""PV Access for the GUI's PV service: the ``pva`` protocol backend (caprobe.pva behind the
service's Backend interface), so ``pva://NAME`` works in every view the service feeds.

:func:`install` registers it with ``caprobe.gui.service`` (call it once at start-up; where the
service is not there it does nothing and says so). Without p4p every ``pva://`` name is refused
when a view asks for it, with the one line saying how to install PV Access. The service
runs one ``SubscriptionGroup.block()`` per protocol and priority in its own QThread; this
module only adapts names and types and never touches Qt.
"""

from __future__ import annotations

import time
from typing import Any

from caprobe import pva

#: Metadata fields that change with every value (alarm, time): not metadata for the views.
_VALUE_FIELDS = frozenset({"status", "severity", "alarm_status", "message",
                           "secondsSinceEpoch", "nanoSeconds", "userTag"})
#: The metadata monitor only needs the newest structure: a short pipeline.
METADATA_QUEUE_SIZE = 4

NAME = "pva"


class PVABackend:
    """caprobe.pva as the service uses a protocol (the methods of service.Backend)."""

    name = NAME

    def new_group(self) -> Any:
        return pva.SubscriptionGroup()

    def subscribe(self, pv: str, priority: int, data_type: Any) -> Any:
        """``data_type`` as the service passes it: None (enums as their states) or "time"
        (enums as their indices, what a chart plots); PVA always sends the whole structure,
        so the DBR class only decides that. Anything else is refused (ValueError), and so is
        every name when p4p is missing (PVAUnavailable, with the install line)."""
        if not pva.available():
            raise pva.PVAUnavailable(f"PV Access needs the p4p package; install it with: "
                                     f"{pva.INSTALL_HINT}")
        if data_type is None:
            return pva.subscribe(pv, priority=priority)
        if isinstance(data_type, str) and data_type.lower() == "time":
            return pva.subscribe(pv, priority=priority, force_int_enums=True)
        raise pva.ValueRefused(f"data type {data_type!r} does not apply to PV Access")

    def subscribe_metadata(self, pv: str, priority: int) -> Any:
        """A monitor that passes on a value only when its display/control metadata (units,
        limits, precision, description, enum states) differs from the last one passed, and
        the first value after every (re)connection: what CA's DBE_PROPERTY subscription gives.
        PVA has no property-only event, so the server sends whole values; they are dropped
        here, in the loop's thread, before the service sees them."""
        if not pva.available():
            raise pva.PVAUnavailable(f"PV Access needs the p4p package; install it with: "
                                     f"{pva.INSTALL_HINT}")
        return MetadataSubscription(pv, priority=priority, queue_size=METADATA_QUEUE_SIZE)

    def read_metadata(self, pv: str, timeout: float) -> Any:
        """One GET: the structure carries display, control, alarm limits and enum states."""
        return pva.read(pv, timeout=timeout)

    def is_connection_event(self, item: Any) -> bool:
        return isinstance(item, pva.ConnectionEvent)


def metadata_key(response: Any) -> tuple[Any, ...]:
    """What identifies a response's display/control metadata (alarm and time left out)."""
    md = response.metadata
    return tuple((name, _hashable(getattr(md, name))) for name in md.fields
                 if name not in _VALUE_FIELDS)


def _hashable(item: Any) -> Any:
    return tuple(item) if isinstance(item, (list, tuple)) else item


class MetadataSubscription(pva.Subscription):
    """A PVA monitor whose callbacks see a value only when its metadata changed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_key: tuple[Any, ...] | None = None

    def process(self, response: Any) -> None:
        if isinstance(response, pva.ConnectionEvent):
            self._last_key = None  # the first value after a (re)connection always passes
            super().process(response)
            return
        try:
            key = metadata_key(response)
        except Exception:  # malformed: let the service's own check report it
            super().process(response)
            return
        if key != self._last_key:
            self._last_key = key
            super().process(response)


class WriteOutcome:
    """What a PVA write did, shaped as the write panel's CA outcome
    (``caprobe.gui.workers.WriteOutcome``): completion, seconds taken, the value read back."""

    def __init__(self, notify_response: Any, elapsed: float, readback: Any) -> None:
        self.notify_response = notify_response
        self.elapsed = elapsed
        self.readback = readback


def write_and_read_back(pv: str, value: Any, *, notify: bool, timeout: float,
                        read_timeout: float = 2.0) -> WriteOutcome:
    """Write ``value`` to ``pv`` over PV Access and read back what the server holds (on a
    worker thread). ``notify`` waits for the server's completion (PVA puts always report
    it; with notify the panel says how long it took). Errors are caprobe.ca's classes:
    WriteFailed (the server refused: read-only PV, access security), CATimeoutError,
    ValueRefused (the value does not fit the PV's type; nothing was sent)."""
    start = time.monotonic()
    completion = pva.write(pv, value, notify=notify,
                           timeout=timeout if notify else read_timeout)
    elapsed = time.monotonic() - start
    readback = pva.read(pv, timeout=read_timeout)
    return WriteOutcome(completion if notify else None, elapsed, readback)


def install() -> str:
    """Register the backend with the GUI's PV service; returns what happened, one line."""
    try:
        from caprobe.gui import service
    except ImportError:
        return "PV Access in the GUI needs caprobe.gui.service (not in this build)"
    register = getattr(service, "register_backend", None)
    if register is None:
        return "PV Access in the GUI needs caprobe.gui.service.register_backend"
    register(PVABackend())
    if not pva.available():
        return f"PV Access registered, but p4p is missing ({pva.INSTALL_HINT})"
    return "PV Access registered"
