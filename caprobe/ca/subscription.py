"""Subscriptions: ``subscribe`` defines one (no I/O), ``block`` delivers updates until
``interrupt()`` or a duration, :class:`SubscriptionGroup` lets another thread add and remove
subscriptions while ``block()`` runs. The loop is the engine's (:mod:`caprobe.ca.engine`):
subscriptions to one PV share its channel, PVs on one server share a circuit."""

from __future__ import annotations

import logging
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Any

from caprobe.ca.arguments import check_data_type, check_priority, check_timeout, encode_pv_name
from caprobe.ca.callbacks import WeakCallbacks
from caprobe.ca.config import load_config
from caprobe.ca.dbr import SubscriptionType
from caprobe.ca.engine import Engine, Monitor
from caprobe.ca.errors import CAError, ValueRefused

log = logging.getLogger("caprobe.ca")

_global_lock = threading.RLock()
_running_groups: set[SubscriptionGroup] = set()
_all_subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()


class Subscription(WeakCallbacks):
    """A monitor definition: no I/O until ``block()``. Callbacks are held weakly."""

    def __init__(self, pv_name: str, priority: int = 0, data_type: Any = None,
                 data_count: int | None = None, low: float = 0.0, high: float = 0.0,
                 to: float = 0.0, mask: int | None = None):
        encode_pv_name(pv_name)
        check_priority(priority)
        check_data_type(data_type)  # a bad type fails here, not inside everyone's block()
        if data_count is not None and (isinstance(data_count, bool)
                                       or not hasattr(data_count, "__index__")
                                       or data_count < 0):
            raise ValueRefused(f"data_count {data_count!r} must be None or a whole number >= 0")
        self.pv_name = pv_name
        self.priority = priority
        self.data_type = data_type
        self.data_count = data_count
        self.low, self.high, self.to = low, high, to
        self.mask = (SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM
                     if mask is None else SubscriptionType(int(mask)))
        self._init_callbacks()
        self._pending_interrupt = False
        self._group: SubscriptionGroup | None = None
        _all_subscriptions.add(self)

    def __repr__(self) -> str:
        return f"<Subscription {self.pv_name!r} mask={int(self.mask)}>"

    def block(self, duration: float | None = None, timeout: float = 1,
              force_int_enums: bool = False, repeater: bool = True) -> None:
        """block(self, ...): see the module-level block()."""
        block(self, duration=duration, timeout=timeout, force_int_enums=force_int_enums,
              repeater=repeater)

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
              to: float = 0.0, mask: int | None = None) -> Subscription:
    """Define a subscription (no I/O). data_type None gives DBR_TIME_<native>."""
    return Subscription(pv_name, priority, data_type, data_count, low, high, to, mask)


def interrupt() -> None:
    """Make every running block() return promptly. An interrupt is never lost: every
    existing subscription that is not inside block() yet keeps it pending, and its next
    block() returns at once."""
    with _global_lock:
        for group in list(_running_groups):
            group._interrupt_locked()
        for sub in list(_all_subscriptions):
            if sub._group is None:
                sub._pending_interrupt = True


def block(*subscriptions: Subscription, duration: float | None = None, timeout: float = 1,
          force_int_enums: bool = False, repeater: bool = True) -> None:
    """Activate subscriptions and deliver their updates until ``duration`` passes,
    interrupt() is called or Ctrl+C. Missing PVs keep being searched; an IOC that restarts
    is re-found and re-subscribed; callbacks get ConnectionEvents for both."""
    SubscriptionGroup(subscriptions, force_int_enums=force_int_enums,
                      repeater=repeater).block(duration=duration, timeout=timeout)


class SubscriptionGroup:
    """Subscriptions blocked on together; others threads may add/remove while it runs."""

    def __init__(self, subscriptions: Iterable[Subscription] = (), *,
                 force_int_enums: bool = False, repeater: bool = True):
        # insertion-ordered set: membership tests stay O(1) with thousands of subscriptions
        self._subs: dict[Subscription, None] = dict.fromkeys(subscriptions)
        self.force_int_enums = force_int_enums
        self.repeater = repeater
        self._ops: deque[tuple[str, Subscription]] = deque()
        self._running = False
        self._interrupted = False
        self._wake_w: socket.socket | None = None

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        with _global_lock:
            return tuple(self._subs)

    def add(self, sub: Subscription) -> None:
        """Add a subscription; inside a running block() it is searched and subscribed at
        once without disturbing the others."""
        with _global_lock:
            if sub in self._subs:
                return
            if sub._group is not None and sub._group is not self and sub._group._running:
                raise CAError(f"{sub!r} is already active in another block()")
            self._subs[sub] = None
            if self._running:
                sub._group = self
                self._ops.append(("add", sub))
                self._wake_locked()

    def remove(self, sub: Subscription) -> None:
        """Remove a subscription: its monitor is cancelled and its channel cleared."""
        with _global_lock:
            if sub not in self._subs:
                return
            del self._subs[sub]
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
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"\0")
            except OSError:
                pass  # the pipe is full: a wake-up is already pending

    # -- the loop ------------------------------------------------------------------------

    def block(self, duration: float | None = None, timeout: float = 1) -> None:
        """Run until ``duration`` passes or interrupt(); see module-level block()."""
        timeout = check_timeout(timeout)
        if duration is not None:
            duration = float(duration)
        config = load_config()
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        with _global_lock:
            pending = self._interrupted or any(s._pending_interrupt for s in self._subs)
            if not pending:
                for sub in self._subs:
                    if sub._group is not None and sub._group is not self and \
                            sub._group._running:
                        wake_r.close()
                        wake_w.close()
                        raise CAError(f"{sub!r} is already active in another block()")
            for sub in self._subs:
                sub._pending_interrupt = False
            self._interrupted = False
            if pending:
                wake_r.close()
                wake_w.close()
                return
            self._running = True
            self._wake_w = wake_w
            self._ops.clear()
            for sub in self._subs:
                sub._group = self
            _running_groups.add(self)
        try:
            self._run(config, wake_r, duration, timeout)
        except KeyboardInterrupt:
            pass  # Ctrl+C (or a callback raising it) ends block() cleanly
        finally:
            with _global_lock:
                self._running = False
                self._wake_w = None
                _running_groups.discard(self)
                for sub in self._subs:
                    if sub._group is self:
                        sub._group = None
                self._interrupted = False
            wake_r.close()
            wake_w.close()

    def _run(self, config: Any, wake_r: socket.socket, duration: float | None,
             timeout: float) -> None:
        """The loop of one block(): the engine, and the adds/removes other threads queue."""
        deadline = None if duration is None else time.monotonic() + duration
        engine = Engine(config, timeout=timeout, force_int_enums=self.force_int_enums,
                        wake_r=wake_r, coalesce=True)
        monitors: dict[Subscription, Monitor] = {}
        ops = self._ops

        def interrupted() -> bool:
            return self._interrupted

        try:
            engine.start(self.repeater)
            with _global_lock:
                subs = list(self._subs)
                ops.clear()
            for sub in subs:
                monitors[sub] = engine.add_monitor(sub)
            while not self._interrupted:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                while ops:
                    op, sub = ops.popleft()
                    if op == "add":
                        if sub not in monitors:
                            monitors[sub] = engine.add_monitor(sub)
                    else:
                        mon = monitors.pop(sub, None)
                        if mon is not None:
                            engine.remove_monitor(mon)
                engine.poll(deadline, interrupted)
        finally:
            engine.close()

