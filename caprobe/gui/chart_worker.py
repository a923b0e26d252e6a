"""The strip chart's CA worker: one QThread running ``SubscriptionGroup.block()`` for all PVs.

Threads and their jobs:

* the worker thread sits in ``group.block()``; CA callbacks run there and only append
  ``(ioc_time, value, severity)`` to the :class:`~caprobe.chart_data.SampleCollector` (a few
  array stores under a lock: no Qt call, no allocation per sample);
* a GUI-thread ``QTimer`` drains the collector every ~30 ms and emits **one**
  :attr:`ChartWorker.samples_ready` signal with everything that arrived, so the signal rate is
  fixed whatever the PV rates (the p4p/PyDM lesson: one signal per sample floods the queue);
* a small helper thread reads each PV's DBR_CTRL metadata (units, precision, limits) after it
  connects, because DBR_TIME monitors carry no units.

Adding and removing PVs uses ``group.add``/``group.remove``, which take effect inside the
running ``block()`` without touching the other subscriptions, so no sample of the PVs that stay
is lost. :meth:`ChartWorker.stop` sets a stop flag, calls ``group.interrupt()`` (returns
``block()`` within milliseconds even when every PV is silent or unknown) and joins.

All ``caprobe.ca`` use is in this module's ``_ca_*`` helpers, imported lazily so the chart can
be built and tested with synthetic data before a CA client exists.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from PyQt5.QtCore import QCoreApplication, QObject, QThread, QTimer, pyqtSignal

from caprobe import format as cafmt
from caprobe.chart_data import SampleBatch, SampleCollector

log = logging.getLogger(__name__)

#: Interval of the GUI-side drain, i.e. the batched signal period.
FLUSH_INTERVAL_MS = 30
#: CA priority of the chart's circuits; one-shot probe I/O uses 0, so the two never share one.
CHART_PRIORITY = 1


def response_sample(response: Any) -> tuple[float, float, int]:
    """``(ioc_time, value, severity)`` from an EventAddResponse, never raising.

    Scalars give their value; arrays their first element (a strip chart plots one number per
    update); strings that parse as numbers are plotted, others give NaN. A missing or zero IOC
    timestamp (record never processed) falls back to the receive time.
    """
    md = response.metadata
    stamp = getattr(md, "timestamp", 0.0) if md is not None else 0.0
    t = float(stamp) if stamp and stamp > 0 else time.time()
    severity = int(getattr(md, "severity", 0)) if md is not None else 0
    data = response.data
    try:
        first = data[0]
        if isinstance(first, bytes):
            value = float(first.decode("latin-1").strip() or "nan")
        else:
            value = float(first)
    except (IndexError, TypeError, ValueError):
        value = float("nan")
    return t, value, severity


def control_metadata(response: Any) -> dict[str, Any]:
    """Display metadata from a DBR_CTRL read: units, precision, display limits, enum strings."""
    md = response.metadata
    out: dict[str, Any] = {}
    if md is None:
        return out
    units = getattr(md, "units", None)
    if units is not None:
        out["units"] = cafmt.to_text(units)
    for key in ("precision", "lower_disp_limit", "upper_disp_limit"):
        if hasattr(md, key):
            out[key] = getattr(md, key)
    enums = getattr(md, "enum_strings", None)
    if enums:
        out["enum_strings"] = [cafmt.to_text(e) for e in enums]
    # what the channel is, so the chart can say what it does with a string or an array
    channel = getattr(response, "channel", None)
    native = getattr(channel, "native_data_type", None)
    if native is not None:
        out["native_type"] = getattr(native, "name", str(native))
        out["element_count"] = int(channel.native_data_count)
    return out


class ChartWorker(QThread):
    """Runs one ``SubscriptionGroup.block()`` for every charted PV; see the module docstring.

    Public methods are called from the GUI thread. ``samples_ready`` carries a
    :class:`~caprobe.chart_data.SampleBatch` and is emitted from the GUI thread.
    """

    samples_ready = pyqtSignal(object)
    error = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None, *, search_timeout: float = 2.0) -> None:
        super().__init__(parent)
        self.setObjectName("caprobe-chart-worker")
        self.collector = SampleCollector()
        self._search_timeout = search_timeout
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._group: Any = None
        # pv -> (subscription, callback, token). The callback is held here because the
        # subscription keeps only a weak reference to it.
        self._subs: dict[str, tuple[Any, Callable[[Any], None], Any]] = {}
        self._connected: dict[str, bool] = {}
        self._meta_queue: queue.Queue[str | None] = queue.Queue()
        self._meta_thread: threading.Thread | None = None
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self.flush)
        _stop_on_quit(self)

    # ----------------------------------------------------------- GUI-thread API
    def pv_names(self) -> list[str]:
        with self._lock:
            return list(self._subs)

    def add_pv(self, pv: str) -> None:
        """Subscribe ``pv`` (no I/O here: the subscription connects inside ``block()``)."""
        with self._lock:
            if pv in self._subs:
                return
            group = self._ensure_group()
            callback = self._make_callback(pv)
            sub = _ca_subscribe(pv)
            token = sub.add_callback(callback)
            self._subs[pv] = (sub, callback, token)
            self._connected[pv] = False
        group.add(sub)

    def remove_pv(self, pv: str) -> None:
        with self._lock:
            entry = self._subs.pop(pv, None)
            self._connected.pop(pv, None)
        if entry is None:
            return
        sub, _callback, token = entry
        try:
            self._group.remove(sub)
            sub.remove_callback(token)
        except Exception:  # a half-torn-down subscription must not break the chart
            log.exception("removing %s from the chart group", pv)
        self.collector.discard(pv)

    def start(self, priority: QThread.Priority = QThread.InheritPriority) -> None:
        """Start the CA thread, the metadata helper and the drain timer (idempotent)."""
        if self.isRunning():
            return
        self._stop_event.clear()
        with self._lock:
            self._ensure_group()
        self._meta_thread = threading.Thread(
            target=self._metadata_loop, name="caprobe-chart-metadata", daemon=True
        )
        self._meta_thread.start()
        self._flush_timer.start()
        super().start(priority)

    def stop(self, timeout_ms: int = 3000) -> bool:
        """Interrupt ``block()`` and join; True when the thread has ended within the timeout."""
        self._stop_event.set()
        self._flush_timer.stop()
        self._meta_queue.put(None)
        group = self._group
        if group is not None:
            try:
                group.interrupt()
            except Exception:
                log.exception("interrupting the chart group")
        finished = self.wait(timeout_ms) if self.isRunning() else True
        if self._meta_thread is not None:
            # the helper may sit in a 1 s read(); it is a daemon and drops its result on stop
            self._meta_thread.join(0.1)
        self.flush()
        return bool(finished)

    def flush(self) -> None:
        """Drain the collector and emit one batch (called by the timer, or by tests)."""
        batch: SampleBatch = self.collector.drain()
        if batch:
            self.samples_ready.emit(batch)

    # ----------------------------------------------------------- worker thread
    def run(self) -> None:
        while not self._stop_event.is_set():
            started = time.monotonic()
            try:
                self._group.block(timeout=self._search_timeout)
            except Exception as exc:  # keep charting: report, back off, re-enter
                log.exception("chart subscription block failed")
                self.error.emit(f"strip chart: {exc}")
                self._stop_event.wait(1.0)
                continue
            if time.monotonic() - started < 0.1:
                # block() returned on its own at once (e.g. nothing subscribed): do not spin
                self._stop_event.wait(0.2)

    def _make_callback(self, pv: str) -> Callable[[Any], None]:
        collector = self.collector
        stop = self._stop_event
        connected = self._connected
        meta_queue = self._meta_queue

        def on_update(response: Any) -> None:
            if stop.is_set():
                return
            try:
                if hasattr(response, "connected"):  # ConnectionEvent
                    was = connected.get(pv, False)
                    connected[pv] = bool(response.connected)
                    if response.connected:
                        collector.set_connected(pv, True)
                        meta_queue.put(pv)
                    elif was:
                        # a gap only where there was data; 'not found' retries add nothing
                        collector.add_disconnect(pv, float(response.time or time.time()))
                    else:
                        collector.set_connected(pv, False)
                    return
                t, value, severity = response_sample(response)
                collector.add_sample(pv, t, value, severity)
            except Exception:  # a bad update must not take down block() for every PV
                log.exception("chart callback for %s", pv)

        return on_update

    def _metadata_loop(self) -> None:
        while not self._stop_event.is_set():
            pv = self._meta_queue.get()
            if pv is None or self._stop_event.is_set():
                return
            with self._lock:
                if pv not in self._subs:
                    continue
            try:
                md = control_metadata(_ca_read_control(pv))
            except Exception as exc:  # metadata is a nicety: the trace works without it
                log.info("no control metadata for %s: %s", pv, exc)
                continue
            if not self._stop_event.is_set():
                self.collector.set_metadata(pv, md)

    def _ensure_group(self) -> Any:
        if self._group is None:
            self._group = _ca_group()
        return self._group


# ------------------------------------------------------------------ the CA part
def _ca_group() -> Any:
    from caprobe.ca import SubscriptionGroup

    # integer enums: a chart plots the state index, not the label
    return SubscriptionGroup(force_int_enums=True)


def _ca_subscribe(pv: str) -> Any:
    from caprobe.ca import subscribe

    return subscribe(pv, priority=CHART_PRIORITY)


def _ca_read_control(pv: str) -> Any:
    from caprobe.ca import read

    return read(pv, data_type="control", timeout=1.0, priority=CHART_PRIORITY)


class WaveformWorker(QThread):
    """Monitors one array PV and hands the GUI only its latest value, at most ~30 times a second.

    A waveform view shows one array at a time, so unlike the chart nothing is accumulated:
    the callback keeps the newest array (copied to native float64, because the client's receive
    buffer is reused) and the GUI-thread timer emits it if it changed.
    """

    #: (pv, values: float64 ndarray, ioc_time, severity)
    waveform_ready = pyqtSignal(str, object, float, int)
    #: (pv, connected)
    connection_changed = pyqtSignal(str, bool)
    #: (pv, {"units": ..., "precision": ..., ...}) after each (re)connection
    metadata_ready = pyqtSignal(str, object)
    error = pyqtSignal(str)

    def __init__(self, parent: QObject | None = None, *, search_timeout: float = 2.0) -> None:
        super().__init__(parent)
        self.setObjectName("caprobe-waveform-worker")
        self._search_timeout = search_timeout
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._group: Any = None
        self._pv: str | None = None
        self._sub: Any = None
        self._callback: Callable[[Any], None] | None = None  # strong ref: subs hold weak ones
        self._latest: tuple[str, Any, float, int] | None = None
        self._connection: tuple[str, bool] | None = None
        self._metadata: tuple[str, dict[str, Any]] | None = None
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self.flush)
        _stop_on_quit(self)

    def pv_name(self) -> str | None:
        return self._pv

    def set_pv(self, pv: str | None) -> None:
        """Monitor ``pv`` instead of the current one (None: monitor nothing)."""
        if self._group is None:
            self._group = _ca_group()
        old_sub = self._sub
        with self._lock:
            self._latest = None
            self._connection = None
            self._pv = pv
            self._sub = None
        if old_sub is not None:
            try:
                self._group.remove(old_sub)
            except Exception:
                log.exception("removing the waveform subscription")
        if pv is None:
            return
        callback = self._make_callback(pv)
        sub = _ca_subscribe(pv)
        sub.add_callback(callback)
        with self._lock:
            self._sub, self._callback = sub, callback
        self._group.add(sub)
        if not self.isRunning():
            self._stop_event.clear()
            self._flush_timer.start()
            self.start()

    def _make_callback(self, pv: str) -> Callable[[Any], None]:
        import numpy as np

        def on_update(response: Any) -> None:
            if self._stop_event.is_set():
                return
            try:
                if hasattr(response, "connected"):
                    with self._lock:
                        if self._pv == pv:
                            self._connection = (pv, bool(response.connected))
                    if response.connected:
                        # units for the axis; a one-shot read, off this thread so the
                        # monitor keeps flowing (a daemon: it ends within its 1 s timeout)
                        threading.Thread(
                            target=self._read_metadata, args=(pv,), daemon=True,
                            name="caprobe-waveform-metadata",
                        ).start()  # fmt: skip
                    return
                t, _first, severity = response_sample(response)
                data = response.data
                if isinstance(data, list):  # DBR_STRING: plot what parses as a number
                    values = np.array([_to_float(x) for x in data], np.float64)
                else:
                    values = np.asarray(data).astype(np.float64)  # copy, native byte order
                with self._lock:
                    if self._pv == pv:
                        self._latest = (pv, values, t, severity)
            except Exception:
                log.exception("waveform callback for %s", pv)

        return on_update

    def _read_metadata(self, pv: str) -> None:
        try:
            md = control_metadata(_ca_read_control(pv))
        except Exception as exc:  # the plot works without units
            log.info("no control metadata for %s: %s", pv, exc)
            return
        with self._lock:
            if self._pv == pv and not self._stop_event.is_set():
                self._metadata = (pv, md)

    def flush(self) -> None:
        with self._lock:
            latest, self._latest = self._latest, None
            connection, self._connection = self._connection, None
            metadata, self._metadata = self._metadata, None
        if connection is not None:
            self.connection_changed.emit(*connection)
        if metadata is not None:
            self.metadata_ready.emit(*metadata)
        if latest is not None:
            self.waveform_ready.emit(*latest)

    def run(self) -> None:
        while not self._stop_event.is_set():
            started = time.monotonic()
            try:
                self._group.block(timeout=self._search_timeout)
            except Exception as exc:
                log.exception("waveform block failed")
                self.error.emit(f"waveform: {exc}")
                self._stop_event.wait(1.0)
                continue
            if time.monotonic() - started < 0.1:
                self._stop_event.wait(0.2)

    def stop(self, timeout_ms: int = 3000) -> bool:
        self._stop_event.set()
        self._flush_timer.stop()
        if self._group is not None:
            try:
                self._group.interrupt()
            except Exception:
                log.exception("interrupting the waveform group")
        return bool(self.wait(timeout_ms)) if self.isRunning() else True


def _stop_on_quit(worker: ChartWorker | WaveformWorker) -> None:
    """Safety net: a widget that is destroyed without shutdown() must not leave its thread
    running when the application quits (Qt aborts on a QThread destroyed while running)."""
    app = QCoreApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(worker.stop)


def _to_float(item: Any) -> float:
    try:
        return float(item.decode("latin-1") if isinstance(item, bytes) else item)
    except (TypeError, ValueError):
        return float("nan")
