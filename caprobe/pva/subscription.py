"""PV Access subscriptions with caprobe.ca's synchronous API: subscribe, block, interrupt,
Subscription, SubscriptionGroup.

``block()`` runs the callbacks in the calling thread, as caprobe.ca does: p4p's worker thread
only says "this monitor has data" (a SimpleQueue put); the blocking thread pops the updates and
calls the callbacks. interrupt() puts a wake-up on that same queue, so block() returns within a
millisecond or so.

Monitors ask the server for a flow-controlled pipeline of ``queue_size`` updates
(``record[queueSize=N,pipeline=true]``): the server never sends more than the client has room
for, so nothing is dropped on this side; a server that must hold updates back merges them
(PVA never drops the newest value). p4p does not report the server's merge count, so block()
watches for the condition that allows it, a full window (``queue_size`` updates popped without
the queue running empty), and reports each occurrence: a warning in the log and
``Subscription.queue_overflows``. At the default of 4096 that is 0.4 s of backlog at 10 kHz.
Large values get a shorter pipeline (``QUEUE_MEMORY_BUDGET`` / the size of the first value;
``Subscription.queue_size_in_use`` tells): the monitor is re-opened once, before its first value
is delivered.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Any

from caprobe.ca.callbacks import WeakCallbacks
from caprobe.ca.errors import CAError, ValueRefused
from caprobe.ca.state import ConnectionEvent
from caprobe.pva import backend
from caprobe.pva.client import _check_data_type, check_pv_name, check_timeout
from caprobe.pva.response import PVAChannelInfo, PVAResponse, channel_info, layout_of

log = logging.getLogger("caprobe.pva")

__all__ = ["subscribe", "block", "interrupt", "Subscription", "SubscriptionGroup",
           "DEFAULT_QUEUE_SIZE"]

#: Updates a monitor may have in flight (``queue_size`` of :func:`subscribe`; fewer for
#: large values, so the queue holds about 256 MB at most).
DEFAULT_QUEUE_SIZE = 4096
#: What the queued updates of one subscription may hold, about: a monitor of large arrays
#: (an 8 MB image) gets a shorter pipeline than queue_size, so a slow consumer cannot make the
#: client hold gigabytes.
QUEUE_MEMORY_BUDGET = 256 * 1024 * 1024
#: Updates popped from one monitor before the others get a turn.
POP_BATCH = 256
OVERFLOW_WARNING_INTERVAL = 1.0
#: A monitor let go before its first value is closed once that value arrives, or this many
#: seconds after it was opened: pvxs drops the whole connection, every PV on it, when a
#: monitor is closed while its creation is still being answered ("sends invalid MONITOR").
CLOSE_GRACE = 2.0

_global_lock = threading.RLock()
_running_groups: set[SubscriptionGroup] = set()
_all_subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
_WAKE = object()


class Subscription(WeakCallbacks):
    """A PVA monitor definition: no I/O until ``block()``. Callbacks are held weakly.

    Parameters as caprobe.ca's: ``data_type`` (None or a DBR class name; PVA sends the whole
    structure), ``data_count`` (keep the first N array elements); ``priority``, ``low``,
    ``high``, ``to`` and ``mask`` have no PVA meaning and are accepted for compatibility.
    PVA only: ``queue_size`` (the pipeline depth, see the module docstring; each queued
    update holds its own copy of the value, so lower it for multi-megabyte arrays) and
    ``request`` (a pvRequest used instead of the default one), ``force_int_enums`` (this
    subscription's enums as indices whatever block() says; None follows block()).
    """

    def __init__(self, pv_name: str, priority: int = 0, data_type: Any = None,
                 data_count: int | None = None, low: float = 0.0, high: float = 0.0,
                 to: float = 0.0, mask: int | None = None, *,
                 queue_size: int = DEFAULT_QUEUE_SIZE, request: str | None = None,
                 force_int_enums: bool | None = None):
        check_pv_name(pv_name)
        _check_data_type(data_type)
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 2:
            raise ValueRefused(f"queue_size {queue_size!r} must be a whole number >= 2")
        self.pv_name = pv_name
        self.priority = priority
        self.data_type = data_type
        self.data_count = data_count
        self.low, self.high, self.to, self.mask = low, high, to, mask
        self.queue_size = queue_size
        self.queue_size_in_use = queue_size  # smaller for large values, see the module doc
        self.request = request
        self.force_int_enums = force_int_enums
        self.queue_overflows = 0
        self._init_callbacks()
        self._pending_interrupt = False
        self._group: SubscriptionGroup | None = None
        _all_subscriptions.add(self)

    def __repr__(self) -> str:
        return f"<pva Subscription {self.pv_name!r}>"

    @property
    def pv_request(self) -> str:
        return self.pv_request_for(self.queue_size)

    def pv_request_for(self, queue_size: int) -> str:
        if self.request is not None:
            return self.request
        return f"field()record[queueSize={queue_size},pipeline=true]"

    def block(self, duration: float | None = None, timeout: float = 1,
              force_int_enums: bool = False, repeater: bool = True) -> None:
        """block(self, ...): see the module-level block()."""
        block(self, duration=duration, timeout=timeout, force_int_enums=force_int_enums)

    def interrupt(self) -> None:
        """Make the block() running this subscription return; if none runs yet, the next
        block() that includes it returns at once."""
        with _global_lock:
            group = self._group
            if group is not None and group._running:
                group._interrupt_locked()
            else:
                self._pending_interrupt = True


def subscribe(pv_name: str, priority: int = 0, data_type: Any = None,
              data_count: int | None = None, low: float = 0.0, high: float = 0.0,
              to: float = 0.0, mask: int | None = None, *,
              queue_size: int = DEFAULT_QUEUE_SIZE, request: str | None = None,
              force_int_enums: bool | None = None) -> Subscription:
    """Define a PVA subscription (no I/O)."""
    return Subscription(pv_name, priority, data_type, data_count, low, high, to, mask,
                        queue_size=queue_size, request=request,
                        force_int_enums=force_int_enums)


def interrupt() -> None:
    """Make every running block() return promptly; subscriptions not inside a block() yet
    keep the interrupt pending, so their next block() returns at once."""
    with _global_lock:
        for group in list(_running_groups):
            group._interrupt_locked()
        for sub in list(_all_subscriptions):
            if sub._group is None:
                sub._pending_interrupt = True


def block(*subscriptions: Subscription, duration: float | None = None, timeout: float = 1,
          force_int_enums: bool = False, repeater: bool = True) -> None:
    """Activate subscriptions and deliver their updates until ``duration`` passes,
    interrupt() is called or Ctrl+C. Missing PVs keep being searched and a server that
    restarts is found again (pvxs does both); callbacks get ConnectionEvents for each."""
    SubscriptionGroup(subscriptions, force_int_enums=force_int_enums).block(
        duration=duration, timeout=timeout)


def _value_bytes(value: Any, layout: Any) -> int:
    """About how many bytes one update holds (arrays dominate; scalars count as small)."""
    kind = layout.kind
    try:
        if kind in ("array", "ndarray"):
            data = value["value"]
            return int(getattr(data, "nbytes", 0) or sum(len(str(v)) for v in data))
        if kind == "table":
            return sum(int(getattr(column, "nbytes", 0) or len(column) * 16)
                       for column in value["value"].todict().values())
    except (KeyError, TypeError, AttributeError):
        pass
    return 256


class _Monitor:
    """One subscription's live state inside a running block()."""

    __slots__ = ("sub", "monitor", "connected", "ever_connected", "started", "reported",
                 "layout", "info", "run", "last_overflow_warning", "closed", "queue_size",
                 "sized", "opened", "got_value", "deferred")

    def __init__(self, sub: Subscription, now: float):
        self.sub = sub
        self.monitor: Any = None
        self.connected = False
        self.ever_connected = False
        self.started = now
        self.reported = False
        self.layout: Any = None
        self.info: PVAChannelInfo | None = None
        self.run = 0  # updates popped since the queue was last seen empty
        self.last_overflow_warning = 0.0
        self.closed = False
        self.queue_size = sub.queue_size  # the pipeline depth requested from the server
        self.sized = sub.request is not None  # a caller's own pvRequest is kept as given
        self.opened = now        # when the current p4p monitor was opened
        self.got_value = False   # it delivered a value (its creation was answered)
        self.deferred = False    # let go before its first value: the closer closes it


def _notify(mon: _Monitor, ready: queue.SimpleQueue[Any]) -> None:
    """p4p's "this monitor has data" (on a p4p worker thread): tell whoever owns it now."""
    if mon.deferred:
        _closer.wake(mon)
    else:
        ready.put(mon)


class _Closer:
    """Closes the monitors let go before their first value (see CLOSE_GRACE) on a thread of
    its own, when that value arrives or the grace period ends: the caller never waits. The
    thread exits when it has nothing left to close."""

    IDLE_EXIT = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Monitor] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.deferred_total = 0  # monitors whose close was held back (for tests)

    def close(self, mon: _Monitor) -> None:
        """Close ``mon``'s p4p monitor now if that is safe, else as soon as it is."""
        mon.closed = True
        if mon.got_value or time.monotonic() - mon.opened >= CLOSE_GRACE:
            mon.monitor.close()
            return
        mon.deferred = True
        self.deferred_total += 1
        self.wake(mon)

    def wake(self, mon: _Monitor) -> None:
        with self._lock:
            self._queue.put(mon)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="caprobe-pva-closer",
                                                 daemon=True)
                self._thread.start()

    def _arrived(self, mon: _Monitor) -> bool:
        """Pop what the monitor holds (nobody else reads it now): a value means its
        creation was answered."""
        pop = backend.p4p_modules()["p4p"]._p4p.ClientMonitor.pop
        for _ in range(POP_BATCH):
            item = pop(mon.monitor)
            if item is None:
                break
            if not isinstance(item, Exception):
                mon.got_value = True
        return mon.got_value

    def _run(self) -> None:
        pending: dict[_Monitor, float] = {}
        while True:
            now = time.monotonic()
            for mon, due in list(pending.items()):
                if due <= now:
                    del pending[mon]
                    mon.monitor.close()
            wait = min(pending.values()) - now if pending else self.IDLE_EXIT
            try:
                mon = self._queue.get(timeout=max(0.0, wait))
            except queue.Empty:
                with self._lock:
                    if not pending and self._queue.empty():
                        self._thread = None
                        return
                continue
            if self._arrived(mon):
                pending.pop(mon, None)
                mon.monitor.close()
            elif mon.monitor is not None:
                pending[mon] = mon.opened + CLOSE_GRACE


_closer = _Closer()


class SubscriptionGroup:
    """Subscriptions blocked on together; other threads may add/remove while it runs."""

    def __init__(self, subscriptions: Iterable[Subscription] = (), *,
                 force_int_enums: bool = False):
        self._subs: list[Subscription] = []
        for sub in subscriptions:
            if not isinstance(sub, Subscription):
                raise ValueRefused(f"{sub!r} is not a caprobe.pva Subscription")
            if sub not in self._subs:
                self._subs.append(sub)
        self.force_int_enums = force_int_enums
        self._ops: deque[tuple[str, Subscription]] = deque()
        self._running = False
        self._interrupted = False
        self._ready: queue.SimpleQueue[Any] | None = None

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        with _global_lock:
            return tuple(self._subs)

    def add(self, sub: Subscription) -> None:
        """Add a subscription; inside a running block() it starts at once."""
        with _global_lock:
            if sub in self._subs:
                return
            if sub._group is not None and sub._group is not self and sub._group._running:
                raise CAError(f"{sub!r} is already active in another block()")
            self._subs.append(sub)
            if self._running:
                sub._group = self
                self._ops.append(("add", sub))
                self._wake_locked()

    def remove(self, sub: Subscription) -> None:
        """Remove a subscription: its monitor is cancelled."""
        with _global_lock:
            if sub not in self._subs:
                return
            self._subs.remove(sub)
            if self._running:
                self._ops.append(("remove", sub))
                self._wake_locked()
                sub._group = None

    def interrupt(self) -> None:
        """Make block() return within milliseconds (or at once if called before it)."""
        with _global_lock:
            self._interrupt_locked()

    def _interrupt_locked(self) -> None:
        self._interrupted = True
        self._wake_locked()

    def _wake_locked(self) -> None:
        if self._ready is not None:
            self._ready.put(_WAKE)

    def block(self, duration: float | None = None, timeout: float = 1) -> None:
        """Run until ``duration`` passes or interrupt(); see module-level block()."""
        timeout = check_timeout(timeout)
        if duration is not None:
            duration = float(duration)
        ctx = backend.context()  # p4p missing or a bad environment: fail before starting
        with _global_lock:
            pending = self._interrupted or any(s._pending_interrupt for s in self._subs)
            if not pending:
                for sub in self._subs:
                    if sub._group is not None and sub._group is not self and \
                            sub._group._running:
                        raise CAError(f"{sub!r} is already active in another block()")
            for sub in self._subs:
                sub._pending_interrupt = False
            self._interrupted = False
            if pending:
                return
            self._running = True
            self._ready = queue.SimpleQueue()
            self._ops.clear()
            for sub in self._subs:
                sub._group = self
            _running_groups.add(self)
        try:
            _BlockLoop(self, ctx, duration, timeout).run()
        except KeyboardInterrupt:
            pass  # Ctrl+C (or a callback raising it) ends block() cleanly
        finally:
            with _global_lock:
                self._running = False
                self._ready = None
                _running_groups.discard(self)
                for sub in self._subs:
                    if sub._group is self:
                        sub._group = None
                self._interrupted = False


class _BlockLoop:
    def __init__(self, group: SubscriptionGroup, ctx: Any, duration: float | None,
                 timeout: float):
        self.group = group
        self.ctx = ctx
        self.timeout = timeout
        self.deadline = None if duration is None else time.monotonic() + duration
        assert group._ready is not None
        self.ready = group._ready
        self.monitors: dict[Subscription, _Monitor] = {}
        p4p = backend.p4p_modules()
        self.raw = p4p["raw"]
        self.pop = p4p["p4p"]._p4p.ClientMonitor.pop  # skips raw.Subscription's wrapper

    def _event(self, mon: _Monitor, connected: bool, reason: str) -> None:
        mon.sub.process(ConnectionEvent(mon.sub.pv_name, connected, reason, time.time(),
                                        mon.info))

    def _start(self, sub: Subscription) -> None:
        if sub in self.monitors:
            return
        mon = _Monitor(sub, time.monotonic())
        sub.queue_size_in_use = sub.queue_size
        if self._open(mon):
            self.monitors[sub] = mon

    def _open(self, mon: _Monitor) -> bool:
        sub = mon.sub
        text = sub.pv_request_for(mon.queue_size)
        try:
            request = backend.make_request(text)
        except Exception as exc:
            log.warning("PV %r: pvRequest %r is not valid (%s); not subscribed", sub.pv_name,
                        text, exc)
            return False
        ready = self.ready
        mon.opened, mon.got_value = time.monotonic(), False
        # Runs on a p4p worker thread: only say "look at this monitor".
        mon.monitor = self.ctx.monitor(sub.pv_name, lambda: _notify(mon, ready),
                                       request=request)
        return True

    def _shorten_pipeline(self, mon: _Monitor, item: Any, layout: Any) -> bool:
        """Before the first value is delivered: re-open the monitor with a shorter pipeline
        if queue_size values of this size would exceed QUEUE_MEMORY_BUDGET."""
        mon.sized = True
        fitting = max(2, QUEUE_MEMORY_BUDGET // max(_value_bytes(item, layout), 1))
        if fitting >= mon.queue_size:
            return False
        log.info("PV %r: values of %d bytes: monitor pipeline %d instead of %d", mon.sub.pv_name,
                 _value_bytes(item, layout), fitting, mon.queue_size)
        mon.monitor.close()
        mon.queue_size = mon.sub.queue_size_in_use = int(fitting)
        return self._open(mon)

    def _stop(self, sub: Subscription) -> None:
        mon = self.monitors.pop(sub, None)
        if mon is not None:
            _closer.close(mon)

    def _apply_ops(self) -> None:
        ops = self.group._ops
        while ops:
            try:
                op, sub = ops.popleft()
            except IndexError:
                break
            if op == "add":
                self._start(sub)
            else:
                self._stop(sub)

    def _report_missing(self, now: float) -> float:
        """ConnectionEvent for PVs not connected ``timeout`` after starting; returns when
        the next such report is due."""
        next_due = float("inf")
        for mon in self.monitors.values():
            if mon.connected or mon.reported:
                continue
            due = mon.started + self.timeout
            if now >= due:
                mon.reported = True
                self._event(mon, False, f"not found after {self.timeout:g} s, still searching")
            else:
                next_due = min(next_due, due)
        return next_due

    def _drain(self, mon: _Monitor) -> None:
        if mon.closed:
            return
        pop = self.pop
        monitor = mon.monitor
        sub = mon.sub
        force_int_enums = self.group.force_int_enums if sub.force_int_enums is None else \
            sub.force_int_enums
        data_count = sub.data_count
        for _ in range(POP_BATCH):
            item = pop(monitor)
            if item is None:
                mon.run = 0
                return  # p4p notifies again when more arrives
            if isinstance(item, Exception):
                self._exception(mon, item)
                if mon.closed:
                    return
                continue
            mon.got_value = True
            if not mon.connected:
                if not mon.sized and self._shorten_pipeline(mon, item, layout_of(item)):
                    return  # the new monitor delivers this first value again
                mon.layout = layout_of(item)
                mon.info = channel_info(sub.pv_name, item, mon.layout)
                mon.connected = mon.ever_connected = True
                mon.reported = False
                self._event(mon, True, "connected")
            response = PVAResponse(item, mon.layout, mon.info, sub, force_int_enums)
            if data_count and mon.layout.kind == "array":
                response._data = response.data[: int(data_count)]
            sub.process(response)
            mon.run += 1
            if self.group._interrupted:
                break
        # Not drained yet: come back after the others had their turn.
        self.ready.put(mon)
        if mon.run >= mon.queue_size:
            self._overflow(mon)

    def _overflow(self, mon: _Monitor) -> None:
        mon.run = 0
        sub = mon.sub
        sub.queue_overflows += 1
        now = time.monotonic()
        if now - mon.last_overflow_warning >= OVERFLOW_WARNING_INTERVAL:
            mon.last_overflow_warning = now
            log.warning("PV %r: the monitor queue of %d updates filled (the callbacks are "
                        "slower than the updates); the server may merge updates "
                        "(%d time(s) so far)", sub.pv_name, mon.queue_size,
                        sub.queue_overflows)

    def _exception(self, mon: _Monitor, exc: Exception) -> None:
        raw = self.raw
        if isinstance(exc, raw.Finished):
            mon.closed = True
            mon.connected = False
            self._event(mon, False, "finished: the server ended the subscription")
        elif isinstance(exc, raw.Disconnected):
            if mon.connected:
                mon.connected = False
                mon.reported = True  # no "not found" on top while pvxs searches again
                self._event(mon, False, "disconnected")
        else:
            text = str(exc)
            log.warning("PV %r: the server refused the monitor: %s", mon.sub.pv_name, text)
            mon.connected = False
            mon.reported = True
            self._event(mon, False, f"server error: {text}")

    def run(self) -> None:
        group = self.group
        try:
            with _global_lock:
                subs = list(group._subs)
                group._ops.clear()
            for sub in subs:
                self._start(sub)
            housekeeping_at = 0.0
            ready = self.ready
            while not group._interrupted:
                now = time.monotonic()
                if self.deadline is not None and now >= self.deadline:
                    break
                if group._ops:
                    self._apply_ops()
                    # a monitor added now is due a "not found" report too (the schedule may
                    # have had none left: every earlier one connected)
                    housekeeping_at = min(housekeeping_at, now + self.timeout)
                if now >= housekeeping_at:
                    housekeeping_at = self._report_missing(now)
                wake_at = housekeeping_at
                if self.deadline is not None:
                    wake_at = min(wake_at, self.deadline)
                wait = None if wake_at == float("inf") else max(0.0, wake_at - now)
                try:
                    item = ready.get(timeout=wait)
                except queue.Empty:
                    continue
                if item is not _WAKE:
                    self._drain(item)
        finally:
            for mon in self.monitors.values():
                _closer.close(mon)
            self.monitors.clear()
