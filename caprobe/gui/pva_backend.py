"""PV Access for the GUI's PV service: the ``pva`` protocol backend (caprobe.pva behind the
service's Backend interface), so ``pva://NAME`` works in every view the service feeds.

:func:`install` registers it with ``caprobe.gui.service`` (call it once at start-up; where the
service is not there it does nothing and says so). Without p4p every ``pva://`` name is refused
when a view asks for it, with the one line saying how to install PV Access. The service
runs one ``SubscriptionGroup.block()`` per protocol and priority in its own QThread; this
module only adapts names and types and never touches Qt.

One monitor per PV
------------------
A PV Access monitor always carries the whole structure, so every view of a PV can be fed from
one: :class:`PVAGroup` (the loop's group) opens one real monitor per PV name, on its
*carrier* subscription, and feeds the PV's other subscriptions from it (the probe's, with
enums as states; the chart's, with enums as indices; the metadata subscription, which passes
a value on only when its display/control metadata changed, as CA's DBE_PROPERTY does). A
subscription that joins a running monitor gets its newest connection event and value at
once. When the view of the subscription carrying the monitor lets go while others hold the
PV, that subscription stays as a silent carrier, so the monitor is never closed and reopened
while views come and go; it closes with the PV's last value view. The metadata subscription
never carries (the service adds it just before the PV's first value subscription and drops
it after the last).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from caprobe import pva

#: Metadata fields that change with every value (alarm, time): not metadata for the views.
_VALUE_FIELDS = frozenset({"status", "severity", "alarm_status", "message",
                           "secondsSinceEpoch", "nanoSeconds", "userTag"})

NAME = "pva"


class PVABackend:
    """caprobe.pva as the service uses a protocol (the methods of service.Backend)."""

    name = NAME

    def __init__(self) -> None:
        self._registry = MonitorRegistry()

    def new_group(self) -> Any:
        return PVAGroup(self._registry)

    def check(self, pv: str, priority: int, data_type: Any) -> None:
        """What :meth:`subscribe` refuses, without making anything."""
        if not pva.available():
            raise pva.PVAUnavailable(f"PV Access needs the p4p package; install it with: "
                                     f"{pva.INSTALL_HINT}")
        if not (data_type is None
                or (isinstance(data_type, str) and data_type.lower() == "time")):
            raise pva.ValueRefused(f"data type {data_type!r} does not apply to PV Access")

    def subscribe(self, pv: str, priority: int, data_type: Any) -> Any:
        """``data_type`` as the service passes it: None (enums as their states) or "time"
        (enums as their indices, what a chart plots); PVA always sends the whole structure,
        so the DBR class only decides that. Anything else is refused (ValueError), and so is
        every name when p4p is missing (PVAUnavailable, with the install line)."""
        self.check(pv, priority, data_type)
        return SharedSubscription(pv, priority=priority,
                                  force_int_enums=data_type is not None)

    def subscribe_metadata(self, pv: str, priority: int) -> Any:
        """A monitor that passes on a value only when its display/control metadata (units,
        limits, precision, description, enum states) differs from the last one passed, and
        the first value after every (re)connection: what CA's DBE_PROPERTY subscription gives.
        PVA has no property-only event, so the server sends whole values; they are dropped
        here, in the loop's thread, before the service sees them."""
        if not pva.available():
            raise pva.PVAUnavailable(f"PV Access needs the p4p package; install it with: "
                                     f"{pva.INSTALL_HINT}")
        return MetadataSubscription(pv, priority=priority, force_int_enums=False)

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


class SharedSubscription(pva.Subscription):
    """A subscription that may feed others of the same PV from its monitor (see
    :class:`PVAGroup`). ``process`` runs in the loop's thread for the carrier; followers are
    fed from there (or, when they join, from the control thread with the newest state)."""

    #: metadata subscriptions never hold the monitor: they follow a value subscription
    is_metadata = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.followers: tuple[SharedSubscription, ...] = ()
        self.retired = False
        self.last_event: Any = None
        self.last_value: Any = None

    def process(self, response: Any) -> None:
        if isinstance(response, pva.ConnectionEvent):
            self.last_event = response
        else:
            self.last_value = response
        self.deliver(response)
        for follower in self.followers:
            follower.deliver(self.converted(response, follower))

    def deliver(self, response: Any) -> None:
        """Run this subscription's own callbacks (none once it is retired: its view let go
        and it only carries the monitor for the PV's other views)."""
        if not self.retired:
            pva.Subscription.process(self, response)

    def converted(self, response: Any, other: SharedSubscription) -> Any:
        """``response`` as ``other`` would have received it from its own monitor."""
        if isinstance(response, pva.ConnectionEvent) or \
                bool(other.force_int_enums) == bool(self.force_int_enums):
            return response  # one object: decoded once for every view
        return pva.PVAResponse(response.value, response.layout, response.channel, other,
                               force_int_enums=bool(other.force_int_enums))


class MetadataSubscription(SharedSubscription):
    """Its callbacks see a value only when the metadata changed (and the first value after
    every (re)connection)."""

    is_metadata = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_key: tuple[Any, ...] | None = None

    def deliver(self, response: Any) -> None:
        if isinstance(response, pva.ConnectionEvent):
            self._last_key = None  # the first value after a (re)connection always passes
            super().deliver(response)
            return
        try:
            key = metadata_key(response)
        except Exception:  # malformed: let the service's own check report it
            super().deliver(response)
            return
        if key != self._last_key:
            self._last_key = key
            super().deliver(response)


class MonitorRegistry:
    """Which subscription carries the one monitor of each PV, across the loops (priorities)
    of a service: PV Access has no priorities, so the probe's loop and the chart's share it.

    The carrier is the PV's first value subscription. When its view lets go while others
    still hold the PV, it stays in its loop as a silent carrier (its own callbacks gone) and
    keeps feeding them: no monitor is closed and reopened while views come and go (pvxs
    drops the whole connection, every PV on it, when a monitor is closed before its first
    update: "sends invalid MONITOR"). The monitor closes with the PV's last value view.
    Every method runs under one lock, from the service's control thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[str, list[SharedSubscription]] = {}
        self._group_of: dict[int, PVAGroup] = {}
        #: pv -> (carrier, its group); the carrier may have left ``_members`` (retired)
        self._carrier: dict[str, tuple[SharedSubscription, PVAGroup]] = {}

    def members_of(self, group: PVAGroup) -> tuple[SharedSubscription, ...]:
        with self._lock:
            return tuple(sub for subs in self._members.values() for sub in subs
                         if self._group_of.get(id(sub)) is group)

    def add(self, sub: SharedSubscription, group: PVAGroup) -> None:
        with self._lock:
            members = self._members.setdefault(sub.pv_name, [])
            if sub in members:
                return
            members.append(sub)
            self._group_of[id(sub)] = group
            carried = self._carrier.get(sub.pv_name)
            if carried is not None:
                self._follow(carried[0], sub, members)
            elif not sub.is_metadata:
                self._carrier[sub.pv_name] = (sub, group)
                sub.followers = tuple(m for m in members if m is not sub)
                group.real.add(sub)
            # else: a metadata subscription waits for the value subscription the service
            # adds right after it

    def remove(self, sub: SharedSubscription) -> None:
        with self._lock:
            self._remove_locked(sub)

    def drop_group(self, group: PVAGroup) -> None:
        """A loop is stopping (the service shuts down): its subscriptions leave, and so do
        the monitors it carried."""
        with self._lock:
            for sub in [sub for subs in self._members.values() for sub in subs
                        if self._group_of.get(id(sub)) is group]:
                self._remove_locked(sub)
            for pv, (_sub, carrier_group) in list(self._carrier.items()):
                if carrier_group is group:
                    self._close(pv)

    def _remove_locked(self, sub: SharedSubscription) -> None:
        members = self._members.get(sub.pv_name, [])
        if sub not in members:
            return
        members.remove(sub)
        del self._group_of[id(sub)]
        pv = sub.pv_name
        carried = self._carrier.get(pv)
        if carried is None:
            if not members:
                del self._members[pv]
            return
        carrier = carried[0]
        if carrier is sub:
            sub.retired = True  # its view is gone; it keeps carrying for the others
        if any(not m.is_metadata for m in members):
            carrier.followers = tuple(m for m in members if m is not carrier)
        else:
            self._close(pv)  # no value view left (a metadata one is on its way out)

    def _close(self, pv: str) -> None:
        carrier, group = self._carrier.pop(pv)
        carrier.followers = ()
        group.real.remove(carrier)
        for member in self._members.get(pv, ()):
            member.followers = ()
        if not self._members.get(pv):
            self._members.pop(pv, None)

    def _follow(self, carrier: SharedSubscription, sub: SharedSubscription,
                members: list[SharedSubscription]) -> None:
        """``sub`` joins a running monitor: the newest event and value first (in this
        thread), then everything the monitor delivers."""
        sub.followers = ()
        event, value = carrier.last_event, carrier.last_value
        if event is not None:
            sub.deliver(event)
        if value is not None and (event is None or event.connected):
            sub.deliver(carrier.converted(value, sub))
        carrier.followers = tuple(m for m in members if m is not carrier)
        # a value that arrived while this one joined: deliver it too (a slow PV may send no
        # other for hours; at worst the view sees that one value twice, never an older one
        # after a newer)
        newest = carrier.last_value
        if newest is not value and newest is not None:
            sub.deliver(carrier.converted(newest, sub))


class PVAGroup:
    """A loop's SubscriptionGroup for PV Access. Subscriptions of a PV already monitored
    (in this loop or another of the same service) follow that monitor instead of opening
    their own (:class:`MonitorRegistry`). ``add``/``remove`` come from the service's control
    thread, ``block`` runs in the loop's thread."""

    def __init__(self, registry: MonitorRegistry | None = None) -> None:
        self.real = pva.SubscriptionGroup()
        self._registry = registry if registry is not None else MonitorRegistry()

    @property
    def subscriptions(self) -> tuple[Any, ...]:
        """Every subscription added to this group and not removed (what the views hold)."""
        own = tuple(sub for sub in self.real.subscriptions
                    if not isinstance(sub, SharedSubscription))
        return own + self._registry.members_of(self)

    def monitors(self) -> int:
        """Real PVA monitors this loop has open."""
        return len(self.real.subscriptions)

    def add(self, sub: Any) -> None:
        if isinstance(sub, SharedSubscription):
            self._registry.add(sub, self)
        else:
            self.real.add(sub)

    def remove(self, sub: Any) -> None:
        if isinstance(sub, SharedSubscription):
            self._registry.remove(sub)
        else:
            self.real.remove(sub)

    def block(self, duration: float | None = None, timeout: float = 1) -> None:
        self.real.block(duration=duration, timeout=timeout)

    def interrupt(self) -> None:
        """Only the service's stop() interrupts a loop: its monitors end with it."""
        self._registry.drop_group(self)
        self.real.interrupt()


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
