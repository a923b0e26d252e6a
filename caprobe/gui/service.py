"""The window's one PV service: every subscription and one-shot call of the GUI, on workers.

PyDM's shared, reference-counted connection per address is the model. Views (probe, write
panel, strip chart, waveform, PV table ...) never talk to ``caprobe.ca`` themselves; they ask
this service for PVs and get Qt signals back, in the GUI thread.

Threads
-------
* one ``QThread`` per (protocol, priority) in use, running a synchronous
  ``SubscriptionGroup.block()`` that owns every subscription at that priority. Its callbacks
  (in that thread) only hand each update to the collectors of the views that hold the PV
  (a dict store or an array append under a lock: no Qt call);
* a GUI-thread ``QTimer`` (``FLUSH_INTERVAL_MS``, ~30 ms) drains every client's collector and
  emits **one** ``updates`` signal per client with everything that arrived: the signal rate is
  fixed whatever the PV rates and however many PVs a view holds (one signal per sample floods
  Qt's queue, the PyDM/p4p lesson);
* metadata is a subscription too, **one per PV** whatever its views (for CA: DBR_CTRL with
  the DBE_PROPERTY mask, one element): the server sends it on every (re)connection and when
  limits, units or states change, on the circuit the values already use; no extra read, no
  extra TCP connection, so 5,000 PVs cost 5,000 more channels, not 5,000 circuits;
* a few daemon worker threads (:class:`~caprobe.gui.workers.CARunner`) run one-shot calls:
  reads, writes, host names, a metadata read a view asks for (F5); one more thread applies
  subscription changes (``group.add``/``remove``) in order, so the GUI thread never touches
  a socket or waits on the client's lock.

The GUI thread never touches a socket: it only creates subscription objects (no I/O) and
queues their changes for the control thread. :meth:`PVService.shutdown` calls ``interrupt()``
on every group and joins every thread (bounded waits). Measured (``bench/bench_service.py``,
loaded 2-core VM): 5,000 PVs at 10 Hz through one ``LatestCollector`` client deliver 49,800
updates/s in ~28 signals/s at 0.3 ms of GUI time per batch, 34 % of one core in all.

Sharing
-------
A subscription is keyed by ``(protocol, pv, priority, data_type)``. Two views asking for the
same key share **one** subscription (one channel on one circuit per server and priority); its
updates are fanned out to both. When the last view lets go the subscription is cancelled and
its channel cleared. A view that joins a running subscription gets its current connection
state and newest value at once (no wait for the next monitor of a slow PV).

API (all methods in the GUI thread)
-----------------------------------
::

    service = acquire_shared()                 # the process's service (reference counted)
    ...
    release_shared(service)                    # the last release shuts it down and joins

    client = service.client(LatestCollector(), priority=0, data_type=None)
    client.updates.connect(on_batch)           # on_batch(batch), at most once per ~30 ms
    client.metadata_ready.connect(on_meta)     # on_meta(pv, ctrl_response): at connection,
                                               # on a property change, at once for a known PV
    client.metadata_failed.connect(on_fail)    # on_fail(pv, exception): a refresh failed
    client.add("SR:current")                   # or client.add_many([...]) for thousands
    client.remove("SR:current")
    client.close()                             # lets go of every PV of this client

    service.submit(func, on_done, on_error)    # func() on a worker; results in the GUI thread
    service.refresh_metadata(pv)               # read DBR_CTRL now, for every view of pv
    service.metadata(pv)                       # the newest metadata response, or None
    service.feeds()                            # what is subscribed, for tests and diagnostics

Collectors decide what a batch is (they run in the CA thread, so they must be cheap):

* :class:`LatestCollector`: ``{pv: [item, ...]}`` with connection events in order and the value
  responses between two events coalesced to the newest; ``items[-1]`` is the PV's newest
  state. Made for views that repaint what a person can read: the probe, a table of 5,000 PVs
  at 10 Hz (one signal per 30 ms carrying only the PVs that changed, one dict entry each).
* :class:`AllCollector`: ``{pv: [item, ...]}`` with every update (bounded per PV per flush).
* a subclass of :class:`Collector` for anything else: the strip chart's adapter appends
  ``(time, value, severity)`` to numpy buffers in the CA thread
  (:class:`~caprobe.gui.chart_worker.ChartWorker`); the waveform's keeps only the newest array
  (:class:`~caprobe.gui.chart_worker.WaveformWorker`). Both adapters keep the QThread-style
  interface the chart and waveform code were written against.

Batches name each PV as the view added it (``"pva://X"`` stays ``"pva://X"``).

Items are what the protocol's subscription delivers: for CA an ``EventAddResponse`` (``data``,
``metadata`` with ``timestamp``/``severity``/``status``, ``channel``) or a
``caprobe.ca.ConnectionEvent`` (``connected``, ``reason``, ``time``, ``channel``).

``data_type`` is the subscription's type as ``caprobe.ca.subscribe`` takes it: ``None`` (native
DBR_TIME type, enums as their labels) or ``"time"`` (native DBR_TIME type, enums as integers,
what a chart plots), or any DBR type name.

Protocols
---------
A PV name may carry a protocol prefix (``ca://X``, ``pva://X``); without one it is CA. A
protocol is a :class:`Backend` registered with :func:`register_backend` (``caprobe.pva`` brings
one with the same synchronous API: ``subscribe``, ``SubscriptionGroup``, ``read``); each
protocol gets its own loops, so nothing else changes for the views.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from PyQt5.QtCore import QCoreApplication, QObject, QThread, QTimer, pyqtSignal

from caprobe import pvname
from caprobe.gui.workers import CARunner

log = logging.getLogger(__name__)

#: Period of the batched signal.
FLUSH_INTERVAL_MS = 30
#: AllCollector keeps at most this many updates per PV between two flushes (a stalled GUI
#: must not grow memory without bound); older ones are dropped and counted.
MAX_PENDING_PER_PV = 10_000
#: Timeout of a metadata read asked for by a view (F5); the usual metadata comes from a
#: subscription and needs no timeout.
METADATA_TIMEOUT = 2.0
#: Metadata responses handed to the views per flush: 5,000 PVs connecting together send theirs
#: within a few ms, and handing them all out in one flush stalled the loop ~100 ms; the rest
#: follow at the next flushes (500 per 30 ms).
METADATA_PER_FLUSH = 500
#: Subscriptions add_many makes per turn of the event loop (~100 us each: ~20 ms a chunk).
ATTACH_CHUNK = 200


# --------------------------------------------------------------------------------------------
# Protocol backends
# --------------------------------------------------------------------------------------------
class Backend:
    """One protocol's synchronous client, as the service uses it (override all four)."""

    name = "?"

    def new_group(self) -> Any:
        """A SubscriptionGroup-like object: add(sub), remove(sub), block(timeout=), interrupt()."""
        raise NotImplementedError

    def check(self, pv: str, priority: int, data_type: Any) -> None:
        """Raise (ValueError or a subclass) for what :meth:`subscribe` would refuse; cheap,
        no objects made: a view adding thousands of names learns at once which are refused,
        and the subscriptions follow a chunk at a time."""

    def subscribe(self, pv: str, priority: int, data_type: Any) -> Any:
        """A Subscription-like object (add_callback(func) -> token, remove_callback(token));
        no I/O."""
        raise NotImplementedError

    def subscribe_metadata(self, pv: str, priority: int) -> Any:
        """A Subscription-like object delivering the PV's display/control metadata on every
        (re)connection and whenever it changes (for CA: DBR_CTRL with DBE_PROPERTY)."""
        raise NotImplementedError

    def read_metadata(self, pv: str, timeout: float) -> Any:
        """The PV's display/control metadata, read now (for CA a DBR_CTRL read)."""
        raise NotImplementedError

    def is_connection_event(self, item: Any) -> bool:
        raise NotImplementedError


class CABackend(Backend):
    name = "ca"

    def new_group(self) -> Any:
        import caprobe.ca as ca

        return ca.SubscriptionGroup()

    def check(self, pv: str, priority: int, data_type: Any) -> None:
        from caprobe.ca.arguments import check_data_type, check_priority, encode_pv_name

        encode_pv_name(pv)
        check_priority(priority)
        check_data_type(data_type)

    def subscribe(self, pv: str, priority: int, data_type: Any) -> Any:
        import caprobe.ca as ca

        return ca.subscribe(pv, priority=priority, data_type=data_type)

    def subscribe_metadata(self, pv: str, priority: int) -> Any:
        import caprobe.ca as ca

        # One element: the metadata is what is wanted, not a second copy of a large array.
        # The server sends the first update when the subscription starts (every connection),
        # then only when a property (limits, units, states) changes.
        return ca.subscribe(pv, priority=priority, data_type="control", data_count=1,
                            mask=ca.SubscriptionType.DBE_PROPERTY)

    def read_metadata(self, pv: str, timeout: float) -> Any:
        import caprobe.ca as ca

        return ca.read(pv, data_type="control", timeout=timeout)

    def is_connection_event(self, item: Any) -> bool:
        import caprobe.ca as ca

        return isinstance(item, ca.ConnectionEvent)


_backends: dict[str, Backend] = {"ca": CABackend()}
def default_protocol() -> str:
    """The protocol of a bare name: $CAPROBE_DEFAULT_PROTOCOL (see caprobe.pvname), else CA;
    a protocol with no backend here (PVA without p4p) falls back to CA."""
    try:
        name = pvname.default_protocol()
    except pvname.PVNameError:
        return "ca"
    return name if name in _backends else "ca"


def register_backend(backend: Backend) -> None:
    """Make ``<backend.name>://PV`` names work in every view."""
    _backends[backend.name] = backend


def split_protocol(pv: str) -> tuple[str, str]:
    """'pva://X' -> ('pva', 'X'); 'X' -> ('ca', 'X')."""
    head, sep, tail = pv.partition("://")
    if sep and head.lower() in _backends:
        return head.lower(), tail
    return default_protocol(), pv


def is_connection_event(item: Any) -> bool:
    """True for a connection event of any protocol (they all carry ``connected``)."""
    return hasattr(item, "connected") and not hasattr(item, "data")


# --------------------------------------------------------------------------------------------
# Collectors: what a client's batch is. add() runs in a CA thread, drain() in the GUI thread.
# --------------------------------------------------------------------------------------------
class Collector:
    """Base: override :meth:`add`, :meth:`discard` and :meth:`drain`; keep ``add`` cheap."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def add(self, pv: str, item: Any) -> None:
        raise NotImplementedError

    def discard(self, pv: str) -> None:
        """Forget anything pending for ``pv`` (the view let go of it)."""

    def drain(self) -> Any:
        """Everything since the last drain; something falsy when nothing arrived."""
        raise NotImplementedError


class LatestCollector(Collector):
    """``{pv: [items]}``: connection events in order, values between them coalesced."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[str, list[Any]] = {}

    def add(self, pv: str, item: Any) -> None:
        with self.lock:
            items = self._pending.get(pv)
            if items is None:
                self._pending[pv] = [item]
            elif not is_connection_event(item) and not is_connection_event(items[-1]):
                items[-1] = item  # a person only needs the newest value
            else:
                items.append(item)

    def discard(self, pv: str) -> None:
        with self.lock:
            self._pending.pop(pv, None)

    def drain(self) -> dict[str, list[Any]]:
        with self.lock:
            pending, self._pending = self._pending, {}
        return pending


class AllCollector(LatestCollector):
    """``{pv: [items]}`` with every update, in arrival order."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def add(self, pv: str, item: Any) -> None:
        with self.lock:
            items = self._pending.setdefault(pv, [])
            if len(items) >= MAX_PENDING_PER_PV:
                del items[0]
                self.dropped += 1
            items.append(item)


# --------------------------------------------------------------------------------------------
# Clients: one per view (or per group of views that share a collector)
# --------------------------------------------------------------------------------------------
class PVClient(QObject):
    """A view's handle on the service: the PVs it holds and one batched signal."""

    #: the collector's batch (see the module docstring), at most once per flush interval
    updates = pyqtSignal(object)
    #: (pv, metadata response): after each (re)connection, shared by every view of the PV
    metadata_ready = pyqtSignal(str, object)
    #: (pv, exception): the metadata read failed
    metadata_failed = pyqtSignal(str, object)

    def __init__(self, service: PVService, collector: Collector, priority: int,
                 data_type: Any) -> None:
        super().__init__(service)
        self.service = service
        self.collector = collector
        self.priority = priority
        self.data_type = data_type
        self._pvs: dict[str, None] = {}  # insertion-ordered set
        self._waiting: dict[str, None] = {}  # held, not yet subscribed (add_many)
        self._closed = False
        self._attach_timer = QTimer(self)
        self._attach_timer.setInterval(0)
        self._attach_timer.timeout.connect(self._attach_waiting)

    def add(self, pv: str) -> None:
        """Hold ``pv``; raises ValueError (nothing changed) for a name the protocol refuses."""
        if self._closed:
            raise RuntimeError("this PV client is closed")
        if pv in self._pvs:
            return
        self.service._attach(self, pv)
        self._pvs[pv] = None

    def add_many(self, pvs: Iterable[str]) -> list[tuple[str, str]]:
        """Hold every PV; returns ``[(pv, problem)]`` for the names refused (others added).

        The names are checked now; their subscriptions are made :data:`ATTACH_CHUNK` at a
        time, one chunk per turn of the event loop, so a 5,000-name file does not freeze
        the window for the half second that making 10,000 subscriptions takes."""
        if self._closed:
            raise RuntimeError("this PV client is closed")
        refused = []
        for pv in pvs:
            if pv in self._pvs:
                continue
            try:
                self.service._check(self, pv)
            except ValueError as exc:
                refused.append((pv, str(exc)))
                continue
            self._pvs[pv] = None
            self._waiting[pv] = None
        if self._waiting and not self._attach_timer.isActive():
            self._attach_timer.start()
        return refused

    def _attach_waiting(self, limit: int | None = ATTACH_CHUNK) -> None:
        """Subscribe up to ``limit`` of the names add_many took (all of them: None)."""
        waiting = self._waiting
        count = len(waiting) if limit is None else min(limit, len(waiting))
        for _ in range(count):
            pv = next(iter(waiting))
            del waiting[pv]
            try:
                self.service._attach(self, pv)
            except ValueError as exc:  # checked in add_many: only a backend that changed
                log.warning("%s not subscribed: %s", pv, exc)
                self._pvs.pop(pv, None)
        if not waiting:
            self._attach_timer.stop()

    @property
    def attaching(self) -> int:
        """Names held whose subscriptions are still to be made (add_many's chunks)."""
        return len(self._waiting)

    def remove(self, pv: str) -> None:
        if self._waiting.pop(pv, "absent") is None:  # never subscribed
            del self._pvs[pv]
            self.collector.discard(pv)
            return
        if self._pvs.pop(pv, "absent") is None:
            self.service._detach(self, pv)
            self.collector.discard(pv)

    def pvs(self) -> list[str]:
        return list(self._pvs)

    def flush(self) -> None:
        """Emit what the collector holds (the service's timer calls this)."""
        if self._closed:
            return
        batch = self.collector.drain()
        if batch:
            self.updates.emit(batch)

    def close(self) -> None:
        """Let go of every PV; no signal is emitted afterwards."""
        if self._closed:
            return
        self._attach_timer.stop()
        for pv in list(self._pvs):
            self.remove(pv)
        self._closed = True
        self.service._forget_client(self)

    @property
    def closed(self) -> bool:
        return self._closed


# --------------------------------------------------------------------------------------------
# Inside the service
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedKey:
    protocol: str
    pv: str
    priority: int
    data_type: Any


class _Feed:
    """One subscription and the clients it feeds (CA thread reads, GUI thread writes)."""

    def __init__(self, key: FeedKey, sub: Any, loop: _Loop) -> None:
        self.key = key
        self.sub = sub
        self.loop = loop
        self.lock = threading.Lock()
        self.targets: tuple[tuple[PVClient, str], ...] = ()  # (client, name as it added it)
        self.last_event: Any = None
        self.last_value: Any = None
        self.callback: Callable[[Any], None] | None = None  # strong ref: subs hold weak ones
        self.token: Any = None


class _Loop(QThread):
    """One protocol and priority: a QThread inside ``SubscriptionGroup.block()``."""

    def __init__(self, backend: Backend, priority: int, search_timeout: float,
                 control: CARunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.control = control
        self.setObjectName(f"caprobe-{backend.name}-priority-{priority}")
        self.backend = backend
        self.priority = priority
        self.group = backend.new_group()
        self.search_timeout = search_timeout
        self.count = 0  # subscriptions in the group (GUI thread)
        # adds and removes not yet applied: one control job applies a whole run of them
        # (a 5,000-PV file is one job, not 5,000)
        self._pending: list[tuple[bool, Any]] = []
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.failure: Callable[[str], None] = lambda text: None

    def add(self, sub: Any) -> None:
        # group.add/remove wake block() through a socket and take the client's lock, which
        # block() holds while it works: done on the control thread, in order, so the GUI
        # thread neither touches a socket nor waits on a lock
        self.count += 1
        self._queue(True, sub)
        self._wake.set()
        if not self.isRunning() and not self._stop.is_set():
            self.start()

    def remove(self, sub: Any) -> None:
        self.count -= 1
        self._queue(False, sub)

    def _queue(self, adding: bool, sub: Any) -> None:
        with self._pending_lock:
            self._pending.append((adding, sub))
            first = len(self._pending) == 1
        if first:
            self.control.submit(self._apply_pending)

    def _apply_pending(self) -> None:
        """On the control thread: every add and remove queued so far, in order."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for adding, sub in pending:
            (self.group.add if adding else self.group.remove)(sub)
        self._wake.set()

    def run(self) -> None:
        while not self._stop.is_set():
            if self.count <= 0:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            started = time.monotonic()
            try:
                self.group.block(timeout=self.search_timeout)
            except Exception as exc:  # keep monitoring: report once, back off, re-enter
                log.exception("%s: block() failed", self.objectName())
                self.failure(f"{self.backend.name.upper()} monitor: {exc}")
                self._stop.wait(1.0)
                continue
            if time.monotonic() - started < 0.1:
                self._stop.wait(0.1)  # returned at once (a pending interrupt): do not spin

    def stop(self, timeout_ms: int = 3000) -> bool:
        """Interrupt block() and join; True when the thread ended in time."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout_ms / 1000
        while self.isRunning():
            # repeated: an interrupt landing between two block() calls is consumed by the
            # wrong one
            try:
                self.group.interrupt()
            except Exception:
                log.exception("interrupting %s", self.objectName())
            if self.wait(50) or time.monotonic() > deadline:
                break
        return not self.isRunning()


class _PV:
    """Everything the service holds for one PV: its value feeds and its metadata."""

    __slots__ = ("feeds", "meta_sub", "meta_callback", "meta_token", "meta_loop", "metadata")

    def __init__(self) -> None:
        self.feeds: dict[FeedKey, _Feed] = {}
        self.meta_sub: Any = None
        self.meta_callback: Callable[[Any], None] | None = None
        self.meta_token: Any = None
        self.meta_loop: _Loop | None = None
        self.metadata: Any = None  # the newest metadata response


class PVService(QObject):
    """See the module docstring."""

    #: an operator-readable failure of a monitor loop (the status bar shows it)
    failed = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None, *, search_timeout: float = 2.0,
                 max_call_threads: int = 6) -> None:
        super().__init__(parent)
        self.search_timeout = search_timeout
        self.runner = CARunner(self, max_threads=max_call_threads)
        # subscription changes, one at a time in the order the views asked
        self._control = CARunner(self, max_threads=1)
        self._feeds: dict[FeedKey, _Feed] = {}
        self._pvs: dict[tuple[str, str], _PV] = {}
        self._loops: dict[tuple[str, int], _Loop] = {}
        self._clients: list[PVClient] = []
        # metadata updates from the CA threads, handed out on the next flush
        self._metadata_in: deque[tuple[tuple[str, str], Any]] = deque()
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self.flush)
        self._shut_down = False
        app = QCoreApplication.instance()
        if app is not None:  # safety net: never a QThread destroyed while running
            app.aboutToQuit.connect(self.shutdown)

    # ---- clients --------------------------------------------------------------------------
    def client(self, collector: Collector | None = None, *, priority: int = 0,
               data_type: Any = None) -> PVClient:
        """A handle for one view: its PVs are subscribed at ``priority`` as ``data_type``."""
        client = PVClient(self, collector or LatestCollector(), priority, data_type)
        self._clients.append(client)
        if not self._shut_down:
            self._flush_timer.start()
        return client

    def _forget_client(self, client: PVClient) -> None:
        if client in self._clients:
            self._clients.remove(client)
        if not self._clients:
            self._flush_timer.stop()

    def flush(self) -> None:
        """Hand out new metadata (at most METADATA_PER_FLUSH of it), then emit every client's
        batch (the timer calls this; tests may too)."""
        incoming = self._metadata_in
        for _ in range(min(len(incoming), METADATA_PER_FLUSH)):
            key, response = incoming.popleft()
            self._metadata_arrived(key, response)
        for client in list(self._clients):
            try:
                client.flush()
            except Exception:  # one view's failure must not starve the others
                log.exception("delivering updates")

    # ---- one-shot calls -------------------------------------------------------------------
    def submit(self, func: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[Exception], None] | None = None) -> None:
        """Run ``func()`` on a worker thread; ``on_done(result)``/``on_error(exc)`` follow in
        the GUI thread (never after shutdown)."""
        self.runner.submit(func, on_done, on_error)

    def refresh_metadata(self, pv: str) -> None:
        """Read ``pv``'s metadata now (F5) and hand it to every view that holds it; a failure
        goes to their ``metadata_failed``."""
        key = split_protocol(pv)
        backend = _backends[key[0]]
        def read() -> Any:
            response = backend.read_metadata(key[1], METADATA_TIMEOUT)
            response.metadata  # noqa: B018 (decoded on the worker: a malformed reply fails here)
            return response

        self.submit(read,
                    lambda response: self._metadata_arrived(key, response),
                    lambda exc: self._metadata_error(key, exc))

    def metadata(self, pv: str) -> Any:
        """The newest metadata response for ``pv`` (None before the first)."""
        state = self._pvs.get(split_protocol(pv))
        return None if state is None else state.metadata

    # ---- diagnostics ----------------------------------------------------------------------
    def feeds(self) -> list[tuple[FeedKey, int]]:
        """Every live value subscription and how many views it feeds."""
        return [(key, len(feed.targets)) for key, feed in self._feeds.items()]

    def metadata_subscriptions(self) -> int:
        """PVs with a live metadata subscription (one per PV, whatever its views)."""
        return sum(1 for state in self._pvs.values() if state.meta_sub is not None)

    def loop_subscriptions(self) -> dict[tuple[str, int], int]:
        """(protocol, priority) -> subscriptions in that loop's group (after :meth:`settle`)."""
        self.settle()
        return {key: len(loop.group.subscriptions) for key, loop in self._loops.items()}

    def is_running(self) -> bool:
        return (any(loop.isRunning() for loop in self._loops.values())
                or self.runner.is_busy() or self._control.is_busy())

    def settle(self, timeout: float = 2.0) -> bool:
        """Wait until every subscription change asked for has reached its loop (tests and
        diagnostics; the GUI never needs to wait)."""
        for client in list(self._clients):
            client._attach_waiting(None)
        deadline = time.monotonic() + timeout
        while self._control.is_busy():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # ---- subscriptions (GUI thread) -------------------------------------------------------
    def _check(self, client: PVClient, pv: str) -> None:
        if self._shut_down:
            raise RuntimeError("the PV service is shut down")
        protocol, name = split_protocol(pv)
        try:
            _backends[protocol].check(name, client.priority, client.data_type)
        except ValueError:
            raise
        except Exception as exc:  # a name or type the protocol refuses
            raise ValueError(str(exc)) from None

    def _attach(self, client: PVClient, pv: str) -> None:
        if self._shut_down:
            raise RuntimeError("the PV service is shut down")
        protocol, name = split_protocol(pv)
        key = FeedKey(protocol, name, client.priority, client.data_type)
        feed = self._feeds.get(key)
        if feed is None:
            backend = _backends[protocol]
            try:
                sub = backend.subscribe(name, client.priority, client.data_type)
            except Exception as exc:  # a name or type the protocol refuses
                raise ValueError(str(exc)) from None
            loop = self._loop(protocol, client.priority)
            feed = _Feed(key, sub, loop)
            feed.callback = self._make_callback(feed, backend)
            feed.token = sub.add_callback(feed.callback)
            feed.targets = ((client, pv),)
            self._feeds[key] = feed
            state = self._pvs.get((protocol, name))
            if state is None:
                state = self._pvs[(protocol, name)] = _PV()
                self._subscribe_metadata(state, (protocol, name), backend, loop)
            state.feeds[key] = feed
            loop.add(sub)
        else:
            with feed.lock:
                feed.targets = (*feed.targets, (client, pv))
                # the newest state, so a slow PV shows at once in the new view
                for item in (feed.last_event, feed.last_value):
                    if item is not None:
                        client.collector.add(pv, item)
        cached = self._pvs[(protocol, name)].metadata
        if cached is not None:
            QTimer.singleShot(0, lambda: self._replay_metadata(client, pv, cached))

    def _subscribe_metadata(self, state: _PV, key: tuple[str, str], backend: Backend,
                            loop: _Loop) -> None:
        try:
            sub = backend.subscribe_metadata(key[1], loop.priority)
        except Exception:  # a backend without metadata subscriptions: F5 still reads it
            log.exception("no metadata subscription for %s", key[1])
            return
        incoming = self._metadata_in

        def on_metadata(item: Any) -> None:  # in the loop's thread
            if backend.is_connection_event(item):
                return
            try:
                item.metadata  # noqa: B018 (decoded here: a malformed reply never reaches a view)
            except Exception as exc:
                log.warning("%s: metadata update ignored: %s", key[1], exc)
                return
            incoming.append((key, item))

        state.meta_sub, state.meta_callback, state.meta_loop = sub, on_metadata, loop
        state.meta_token = sub.add_callback(on_metadata)
        loop.add(sub)

    def _replay_metadata(self, client: PVClient, pv: str, response: Any) -> None:
        if not client.closed and pv in client._pvs:
            client.metadata_ready.emit(pv, response)

    def _detach(self, client: PVClient, pv: str) -> None:
        protocol, name = split_protocol(pv)
        key = FeedKey(protocol, name, client.priority, client.data_type)
        feed = self._feeds.get(key)
        if feed is None:
            return
        with feed.lock:
            feed.targets = tuple(t for t in feed.targets if t != (client, pv))
            empty = not feed.targets
        if not empty:
            return
        del self._feeds[key]
        state = self._pvs.get((protocol, name))
        self._drop(feed.loop, feed.sub, feed.token, pv)
        if state is None:
            return
        state.feeds.pop(key, None)
        if not state.feeds:  # the last view of this PV let go
            del self._pvs[(protocol, name)]
            if state.meta_sub is not None and state.meta_loop is not None:
                self._drop(state.meta_loop, state.meta_sub, state.meta_token, pv)

    def _drop(self, loop: _Loop, sub: Any, token: Any, pv: str) -> None:
        try:
            loop.remove(sub)
            sub.remove_callback(token)
        except Exception:  # a half-torn-down subscription must not break the view
            log.exception("removing %s", pv)

    def _loop(self, protocol: str, priority: int) -> _Loop:
        loop = self._loops.get((protocol, priority))
        if loop is None:
            loop = _Loop(_backends[protocol], priority, self.search_timeout, self._control, self)
            loop.failure = self.failed.emit
            self._loops[(protocol, priority)] = loop
        return loop

    def _make_callback(self, feed: _Feed, backend: Backend) -> Callable[[Any], None]:
        def on_update(item: Any) -> None:  # in the loop's thread
            if self._shut_down:
                return
            with feed.lock:
                if backend.is_connection_event(item):
                    feed.last_event = item
                else:
                    feed.last_value = item
                for client, pv in feed.targets:
                    try:
                        client.collector.add(pv, item)
                    except Exception:  # one bad view must not take the others down
                        log.exception("collecting %s", pv)

        return on_update

    # ---- metadata (GUI thread) ------------------------------------------------------------
    def _targets(self, key: tuple[str, str]) -> list[tuple[PVClient, str]]:
        state = self._pvs.get(key)
        if state is None:
            return []
        return [target for feed in state.feeds.values() for target in feed.targets]

    def _metadata_arrived(self, key: tuple[str, str], response: Any) -> None:
        state = self._pvs.get(key)
        if state is None or self._shut_down:
            return  # nobody holds the PV any more
        state.metadata = response
        for client, pv in self._targets(key):
            if not client.closed:
                client.metadata_ready.emit(pv, response)

    def _metadata_error(self, key: tuple[str, str], exc: Exception) -> None:
        for client, pv in self._targets(key):
            if not client.closed:
                client.metadata_failed.emit(pv, exc)

    # ---- shutdown -------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Interrupt every loop and join it; stop the call workers (idempotent). True when
        every thread ended in time."""
        if self._shut_down:
            return not self.is_running()
        self._shut_down = True
        self._flush_timer.stop()
        for client in list(self._clients):
            client.close()
        finished = self._control.shutdown(timeout_ms)
        for loop in self._loops.values():
            finished = loop.stop(timeout_ms) and finished
        finished = self.runner.shutdown(timeout_ms) and finished
        return finished


# --------------------------------------------------------------------------------------------
# The process's service
# --------------------------------------------------------------------------------------------
_shared: PVService | None = None
_shared_users = 0


def acquire_shared(search_timeout: float = 2.0) -> PVService:
    """The process-wide service (created on first use). Every acquire needs one release."""
    global _shared, _shared_users
    if _shared is None:
        _shared = PVService(QCoreApplication.instance(), search_timeout=search_timeout)
    _shared_users += 1
    return _shared


def release_shared(service: PVService) -> None:
    """Give back what :func:`acquire_shared` returned; the last user shuts it down."""
    global _shared, _shared_users
    if service is not _shared:
        return
    _shared_users -= 1
    if _shared_users <= 0:
        _shared, _shared_users = None, 0
        service.shutdown()
        service.deleteLater()
