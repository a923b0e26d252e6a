"""Where threads meet Qt for one-shot calls, and the jobs the probe runs on them.

* :class:`CARunner` runs one-shot calls (read, write, info, host names) on a few worker
  threads. A PV that is not found blocks its task for the search timeout, so tasks run in
  parallel instead of queueing behind each other; results come back as Qt signals, delivered
  in the GUI thread. The PV service (:mod:`caprobe.gui.service`) owns one; it registers itself
  in a module-level weak set so tests can assert nothing is left running.
* the blocking jobs the probe runs there (metadata fields, host names, write + read-back).
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from PyQt5.QtCore import QObject, pyqtSignal

import caprobe.ca as ca
from caprobe import format as cafmt

_runners: weakref.WeakSet[CARunner] = weakref.WeakSet()


def live_workers() -> list[QObject]:
    """Every CARunner that still exists."""
    return list(_runners)


def busy_workers(among: Iterable[QObject] | None = None) -> list[str]:
    """Describe every caprobe worker still running, or only those ``among`` the given ones
    (for tests and shutdown diagnostics)."""
    chosen = None if among is None else {id(w) for w in among}
    runners = [r for r in list(_runners) if chosen is None or id(r) in chosen]
    return [f"CARunner with {r.active_count()} task(s)" for r in runners if r.is_busy()]


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
