"""Where threads meet Qt: every caprobe.ca call made by the GUI runs here, off the GUI thread.

Two kinds of worker:

* :class:`CARunner` runs one-shot calls (read, write, info) on a few worker threads.
  A PV that is not found blocks its task for the search timeout, so tasks run in parallel
  instead of queueing behind each other; results come back as Qt signals, delivered in the
  GUI thread.
* :class:`MonitorWorker` is one ``QThread`` running ``SubscriptionGroup.block()`` for every PV
  open in the probe.  Its callbacks (in the worker thread) only append to a per-PV buffer under
  a lock and emit ``dataReady`` when the buffer goes from empty to non-empty; the GUI drains the
  buffer at most ~10 times a second, so a 1 kHz PV costs the GUI thread ten repaints a second.

Both register themselves in module-level weak sets so tests can assert nothing is left running.
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PyQt5.QtCore import QObject, QThread, pyqtSignal

import caprobe.ca as ca
from caprobe import format as cafmt

_runners: weakref.WeakSet[CARunner] = weakref.WeakSet()
_monitors: weakref.WeakSet[MonitorWorker] = weakref.WeakSet()


def live_workers() -> list[QObject]:
    """Every CARunner and MonitorWorker that still exists."""
    return [*list(_runners), *list(_monitors)]


def busy_workers(among: Iterable[QObject] | None = None) -> list[str]:
    """Describe every caprobe worker still running, or only those ``among`` the given ones
    (for tests and shutdown diagnostics)."""
    chosen = None if among is None else {id(w) for w in among}
    runners = [r for r in list(_runners) if chosen is None or id(r) in chosen]
    monitors = [m for m in list(_monitors) if chosen is None or id(m) in chosen]
    busy = [f"CARunner with {r.active_count()} task(s)" for r in runners if r.is_busy()]
    for monitor in monitors:
        try:
            if monitor.isRunning():
                busy.append("MonitorWorker")
        except RuntimeError:  # Qt already deleted it, and a QThread is joined before that
            pass
    return busy


# --------------------------------------------------------------------------------------------
# One-shot calls
# --------------------------------------------------------------------------------------------
class _TaskSignals(QObject):
    # `object` so exceptions and response objects pass through without conversion.
    done = pyqtSignal(object)
    failed = pyqtSignal(object)


_Job = tuple[Callable[[], Any], _TaskSignals]


class CARunner(QObject):
    """Run blocking calls on a few worker threads; deliver results in the GUI thread.

    The workers are daemon Python threads rather than a QThreadPool: a caprobe.ca call cannot
    be cancelled, and a put-callback may legitimately wait minutes for a motor.  ``shutdown``
    waits a bounded time and then leaves such a call to finish on its own, so closing the
    window never hangs (a QThreadPool would block in its destructor until the call returns).
    """

    def __init__(self, parent: QObject | None = None, max_threads: int = 6) -> None:
        super().__init__(parent)
        self._max_threads = max_threads
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Condition()
        self._unfinished = 0  # queued + running
        self._keep: set[_TaskSignals] = set()  # alive until their result is delivered
        self._closed = False
        _runners.add(self)

    def submit(
        self,
        func: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Run ``func()`` on a worker thread; call ``on_done(result)`` or ``on_error(exc)``
        later in the GUI thread (never after :meth:`shutdown`)."""
        if self._closed:
            return
        signals = _TaskSignals()  # created here, so it lives in the GUI thread: queued delivery
        self._keep.add(signals)

        def finish(callback: Callable[[Any], None] | None, value: Any) -> None:
            self._keep.discard(signals)
            if callback is not None and not self._closed:
                callback(value)

        signals.done.connect(lambda result: finish(on_done, result))
        signals.failed.connect(lambda exc: finish(on_error, exc))
        with self._lock:
            self._unfinished += 1
            # One more thread whenever calls outnumber threads: a call stuck on a missing PV
            # must not make the next one wait.
            if self._unfinished > len(self._threads) and len(self._threads) < self._max_threads:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"caprobe-ca-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
        self._jobs.put((func, signals))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            func, signals = job
            try:
                if not self._closed:
                    try:
                        result = func()
                    except Exception as exc:  # every failure goes back as one message
                        signals.failed.emit(exc)
                    else:
                        signals.done.emit(result)
            finally:
                with self._lock:
                    self._unfinished -= 1
                    self._lock.notify_all()

    def active_count(self) -> int:
        """Calls queued or running."""
        with self._lock:
            return self._unfinished

    def is_busy(self) -> bool:
        return self.active_count() > 0

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Drop queued calls, wait up to ``timeout_ms`` for running ones (each ends at its own
        CA timeout) and stop the idle threads.  False if a call was still running."""
        self._closed = True
        while True:  # calls that have not started are dropped, not waited for
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                with self._lock:
                    self._unfinished -= 1
        deadline = time.monotonic() + timeout_ms / 1000
        with self._lock:
            while self._unfinished > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            finished = self._unfinished == 0
        for _ in self._threads:
            self._jobs.put(None)  # each idle worker takes one and ends
        return finished


# --------------------------------------------------------------------------------------------
# Monitors
# --------------------------------------------------------------------------------------------
@dataclass
class History:
    """'Since I started watching' summary, like the classic probe's Hist dialog."""

    start: float = field(default_factory=time.time)
    updates: int = 0
    minimum: float | None = None
    minimum_time: float | None = None
    maximum: float | None = None
    maximum_time: float | None = None
    last_change_time: float | None = None
    previous_value: str | None = None
    _last_value: Any = None

    def add(self, response: Any) -> None:
        self.updates += 1
        stamp = getattr(response.metadata, "timestamp", None) or time.time()
        data = response.data
        if isinstance(data, np.ndarray) and data.size == 1 and data.dtype.kind in "iuf":
            value = float(data[0])
            if self.minimum is None or value < self.minimum:
                self.minimum, self.minimum_time = value, stamp
            if self.maximum is None or value > self.maximum:
                self.maximum, self.maximum_time = value, stamp
            key: Any = value
        elif isinstance(data, list) and len(data) == 1:
            key = cafmt.to_text(data[0])
        else:
            return
        if self._last_value is not None and key != self._last_value:
            self.previous_value = str(self._last_value)
            self.last_change_time = stamp
        self._last_value = key

    def copy(self) -> History:
        return History(**{k: getattr(self, k) for k in self.__dataclass_fields__})


class MonitorWorker(QThread):
    """One QThread watching every PV open in the probe through one ``SubscriptionGroup``.

    ``add_pv``/``remove_pv`` are called from the GUI thread; the actual ``subscribe`` and group
    changes happen on a private single-thread runner, so the GUI thread never calls into
    caprobe.ca except ``interrupt()`` on shutdown.  Updates are fetched with
    :meth:`take_pending`.
    """

    dataReady = pyqtSignal()
    failed = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None, search_timeout: float = 2.0) -> None:
        super().__init__(parent)
        # Group changes run on their own single-thread runner: in submission order, so closing
        # and reopening a PV can never remove the new subscription.
        self._runner = CARunner(self, max_threads=1)
        self._search_timeout = search_timeout
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pending: dict[str, list[Any]] = {}
        self._history: dict[str, History] = {}
        # name -> (Subscription, callback).  Callbacks are held here because caprobe.ca keeps
        # only weak references to them.
        self._subs: dict[str, tuple[Any, Callable[..., None]]] = {}
        self._names: list[str] = []
        self._group: Any = None
        _monitors.add(self)

    # ---- GUI thread ----------------------------------------------------------------------
    def add_pv(self, name: str) -> None:
        with self._lock:
            if name in self._names:
                return
            self._names.append(name)
            self._history[name] = History()
        self._runner.submit(lambda: self._subscribe(name),
                            on_error=lambda exc: self.failed.emit(f"{name}: {exc}"))
        self._wake.set()
        if not self.isRunning() and not self._stop.is_set():
            self.start()

    def remove_pv(self, name: str) -> None:
        with self._lock:
            if name in self._names:
                self._names.remove(name)
            self._pending.pop(name, None)
            self._history.pop(name, None)
        self._runner.submit(lambda: self._unsubscribe(name))

    def pv_names(self) -> list[str]:
        with self._lock:
            return list(self._names)

    def take_pending(self) -> dict[str, list[Any]]:
        """Everything that arrived since the last call, per PV, oldest first (consecutive value
        updates are already coalesced to the newest)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            return pending

    def history(self, name: str) -> History | None:
        with self._lock:
            hist = self._history.get(name)
            return hist.copy() if hist is not None else None

    def reset_history(self, name: str) -> None:
        with self._lock:
            if name in self._history:
                self._history[name] = History()

    def stop(self, timeout_ms: int = 3000) -> bool:
        """Interrupt ``block()`` and join the thread.  Safe to call more than once."""
        self._stop.set()
        self._wake.set()
        self._runner.shutdown(timeout_ms)
        deadline = time.monotonic() + timeout_ms / 1000
        while self.isRunning():
            # Repeated because an interrupt that lands just before block() starts could be
            # lost in a client that does not keep it pending.
            if self._group is not None:
                self._group.interrupt()
            if self.wait(100) or time.monotonic() > deadline:
                break
        return not self.isRunning()

    # ---- worker threads --------------------------------------------------------------------
    def _subscribe(self, name: str) -> None:
        sub = ca.subscribe(name)

        def callback(response: Any) -> None:
            self._deliver(name, response)

        sub.add_callback(callback)
        with self._lock:
            if name not in self._names:  # removed while we were subscribing
                return
            self._subs[name] = (sub, callback)
            group = self._ensure_group()
        group.add(sub)
        self._wake.set()

    def _unsubscribe(self, name: str) -> None:
        with self._lock:
            entry = self._subs.pop(name, None)
            group = self._group
        if entry is not None and group is not None:
            group.remove(entry[0])

    def _ensure_group(self) -> Any:
        if self._group is None:
            self._group = ca.SubscriptionGroup()
        return self._group

    def _deliver(self, name: str, item: Any) -> None:
        """Called in the block() thread for every update and connection event."""
        if self._stop.is_set():
            return
        with self._lock:
            if name not in self._names:
                return
            was_empty = not any(self._pending.values())
            queue = self._pending.setdefault(name, [])
            is_value = not isinstance(item, ca.ConnectionEvent)
            if is_value:
                hist = self._history.get(name)
                if hist is not None:
                    hist.add(item)
            if is_value and queue and not isinstance(queue[-1], ca.ConnectionEvent):
                queue[-1] = item  # coalesce: a person only needs the newest value
            else:
                queue.append(item)
        if was_empty:
            self.dataReady.emit()

    def run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                have_work = bool(self._subs)
            if not have_work:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            try:
                self._group.block(timeout=self._search_timeout)
            except Exception as exc:  # keep monitoring; tell the operator once per failure
                self.failed.emit(str(exc))
                self._stop.wait(1.0)  # back off before retrying; returns at once on stop()


# --------------------------------------------------------------------------------------------
# Jobs: the blocking calls the probe makes.  They run only inside CARunner tasks.
# --------------------------------------------------------------------------------------------
#: Search timeout for the probe's one-shot calls: long enough for a busy IOC, short enough that
#: an operator who mistyped a name hears about it quickly.
READ_TIMEOUT = 2.0


def record_field(pv_name: str, field_name: str) -> str:
    """'SR:ai.VAL' + 'DESC' -> 'SR:ai.DESC' (DESC/RTYP belong to the record, not the field)."""
    return f"{pv_name.split('.', 1)[0]}.{field_name}"


def fetch_control(pv_name: str, timeout: float = READ_TIMEOUT) -> Any:
    """DBR_CTRL read: units, precision, all limits and enum states (no timestamp)."""
    return ca.read(pv_name, data_type="control", timeout=timeout)


def fetch_host_name(address: str) -> tuple[str, str]:
    """(address, the host's name by reverse DNS, or the address); at most about a second."""
    return address, ca.host_name(address, timeout=1.0)


def fetch_field_text(pv_name: str, field_name: str, timeout: float = 1.0) -> str:
    """A record field such as DESC or RTYP as text."""
    response = ca.read(record_field(pv_name, field_name), data_type=ca.ChannelType.STRING,
                       timeout=timeout)
    return cafmt.to_text(b" ".join(bytes(item) for item in response.data))


@dataclass
class WriteOutcome:
    """What a write did: the completion response (put-callback only), how long it took, and
    what the IOC holds afterwards (read back, so the panel shows what was accepted)."""

    notify_response: Any
    elapsed: float
    readback: Any


def write_and_read_back(pv_name: str, value: Any, *, notify: bool, timeout: float,
                        read_timeout: float = READ_TIMEOUT) -> WriteOutcome:
    """Write and read back on one channel.  The search uses the short ``read_timeout``, so a
    dead IOC fails in seconds, not after a completion timeout meant for a slow motor; a
    refused plain write is reported by the server before it answers the read-back."""
    with ca.Channel(pv_name, timeout=read_timeout) as channel:
        start = time.monotonic()
        completion = channel.write(value, notify=notify, timeout=timeout)
        elapsed = time.monotonic() - start
        # Default type: an enum comes back as its label, what the operator chose from.
        readback = channel.read()
    return WriteOutcome(completion, elapsed, readback)
