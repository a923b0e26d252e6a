"""The strip chart's and the waveform view's CA workers: adapters on the window's PV service.

Both keep the interface the chart and waveform code were written against (signals, ``start``,
``stop``, ``add_pv``/``remove_pv`` or ``set_pv``, ``isRunning``), but own no thread and no
subscription: they hold PVs through a :class:`~caprobe.gui.service.PVClient` of the shared
:class:`~caprobe.gui.service.PVService`, so a PV shown in the probe, the chart and the waveform
view is subscribed once per data type and priority, and its metadata is read once.

* :class:`ChartWorker`: its collector runs in the service's CA thread and appends
  ``(ioc_time, value, severity)`` to the :class:`~caprobe.chart_data.SampleCollector` (a few
  array stores under a lock); the service's ~30 ms timer drains it into **one**
  :attr:`ChartWorker.samples_ready` signal with everything that arrived.
* :class:`WaveformWorker`: keeps only the newest array of its PV (copied to native float64,
  because the client's receive buffer is reused) and emits it at most once per flush.

Both subscribe at ``CHART_PRIORITY`` with integer enums (a chart plots the state index). A
worker made without a service uses the process's shared one (``acquire_shared``) from
``start`` to ``stop``, so a chart or waveform widget built on its own still works.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from PyQt5.QtCore import QObject, pyqtSignal

from caprobe import format as cafmt
from caprobe.chart_data import SampleBatch, SampleCollector
from caprobe.gui import service as pvservice

log = logging.getLogger(__name__)

#: Interval of the batched signal (the service's flush period).
FLUSH_INTERVAL_MS = pvservice.FLUSH_INTERVAL_MS
#: CA priority of the chart's circuits; the probe uses 0, so a busy chart never delays it.
CHART_PRIORITY = 1
#: The chart's subscription type: native DBR_TIME, enums as integers.
CHART_DATA_TYPE = "time"


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


class _ServiceUser(QObject):
    """A worker that holds a PVClient of a (possibly shared) PVService while started."""

    error = pyqtSignal(str)

    def __init__(self, parent: QObject | None, service: pvservice.PVService | None) -> None:
        super().__init__(parent)
        self._given_service = service
        self._service: pvservice.PVService | None = None
        self._client: pvservice.PVClient | None = None

    def _make_collector(self) -> pvservice.Collector:
        raise NotImplementedError

    def _ensure_client(self) -> pvservice.PVClient:
        if self._client is None:
            if self._given_service is not None:
                self._service = self._given_service
            else:
                self._service = pvservice.acquire_shared()
            self._service.failed.connect(self.error)
            client = self._service.client(self._make_collector(), priority=CHART_PRIORITY,
                                          data_type=CHART_DATA_TYPE)
            client.updates.connect(self._on_batch)
            client.metadata_ready.connect(self._on_metadata)
            self._client = client
        return self._client

    def isRunning(self) -> bool:  # noqa: N802 (the QThread name this replaced)
        return self._client is not None

    def stop(self, timeout_ms: int = 3000) -> bool:
        """Let go of every PV (and of the shared service); True: nothing is left running."""
        client, service = self._client, self._service
        self._client = self._service = None
        if client is not None:
            client.flush()
            client.close()
        if service is not None:
            try:
                service.failed.disconnect(self.error)
            except TypeError:
                pass
            if service is not self._given_service:
                pvservice.release_shared(service)
        return True

    def _on_batch(self, batch: Any) -> None:
        raise NotImplementedError

    def _on_metadata(self, pv: str, response: Any) -> None:
        raise NotImplementedError


class _ChartCollector(pvservice.Collector):
    """Turns responses into chart samples in the CA thread."""

    def __init__(self, samples: SampleCollector) -> None:
        super().__init__()
        self.samples = samples
        self._connected: dict[str, bool] = {}

    def add(self, pv: str, item: Any) -> None:
        samples = self.samples
        try:
            if pvservice.is_connection_event(item):
                was = self._connected.get(pv, False)
                self._connected[pv] = bool(item.connected)
                if item.connected:
                    samples.set_connected(pv, True)
                elif was:
                    # a gap only where there was data; 'not found' retries add nothing
                    samples.add_disconnect(pv, float(item.time or time.time()))
                else:
                    samples.set_connected(pv, False)
                return
            t, value, severity = response_sample(item)
            samples.add_sample(pv, t, value, severity)
        except Exception:  # a bad update must not take down block() for every PV
            log.exception("chart update for %s", pv)

    def discard(self, pv: str) -> None:
        self._connected.pop(pv, None)
        self.samples.discard(pv)

    def drain(self) -> SampleBatch:
        return self.samples.drain()


class ChartWorker(_ServiceUser):
    """The strip chart's view of the PV service; see the module docstring.

    Public methods are called from the GUI thread. ``samples_ready`` carries a
    :class:`~caprobe.chart_data.SampleBatch`, at most once per ~30 ms.
    """

    samples_ready = pyqtSignal(object)

    def __init__(self, parent: QObject | None = None, *,
                 service: pvservice.PVService | None = None,
                 search_timeout: float = 2.0) -> None:
        super().__init__(parent, service)
        self.setObjectName("caprobe-chart-worker")
        self.collector = SampleCollector()
        self._pvs: list[str] = []

    def _make_collector(self) -> pvservice.Collector:
        return _ChartCollector(self.collector)

    def pv_names(self) -> list[str]:
        return list(self._pvs)

    def start(self, *_priority: Any) -> None:
        """Attach to the service (idempotent); PVs added before are subscribed now."""
        client = self._ensure_client()
        for pv in self._pvs:
            client.add(pv)

    def add_pv(self, pv: str) -> None:
        """Chart ``pv``; raises ValueError for a name CA refuses (nothing changes)."""
        if pv in self._pvs:
            return
        if self._client is not None:
            self._client.add(pv)
        self._pvs.append(pv)

    def remove_pv(self, pv: str) -> None:
        if pv not in self._pvs:
            return
        self._pvs.remove(pv)
        if self._client is not None:
            self._client.remove(pv)
        self.collector.discard(pv)

    def flush(self) -> None:
        """Emit what has arrived now (the service's timer does this every ~30 ms)."""
        if self._client is not None:
            self._client.flush()

    def _on_batch(self, batch: SampleBatch) -> None:
        self.samples_ready.emit(batch)

    def _on_metadata(self, pv: str, response: Any) -> None:
        if pv in self._pvs:
            self.collector.set_metadata(pv, control_metadata(response))


class _LatestArray(pvservice.Collector):
    """The newest array, connection state and nothing else (CA thread side)."""

    def __init__(self) -> None:
        super().__init__()
        self.latest: tuple[str, Any, float, int] | None = None
        self.connection: tuple[str, bool] | None = None

    def add(self, pv: str, item: Any) -> None:
        try:
            if pvservice.is_connection_event(item):
                with self.lock:
                    self.connection = (pv, bool(item.connected))
                return
            t, _first, severity = response_sample(item)
            data = item.data
            if isinstance(data, list):  # DBR_STRING: plot what parses as a number
                values = np.array([_to_float(x) for x in data], np.float64)
            else:
                values = np.asarray(data).astype(np.float64)  # copy, native byte order
            with self.lock:
                self.latest = (pv, values, t, severity)
        except Exception:
            log.exception("waveform update for %s", pv)

    def discard(self, pv: str) -> None:
        with self.lock:
            self.latest = self.connection = None

    def drain(self) -> tuple[Any, Any] | None:
        with self.lock:
            out = (self.connection, self.latest)
            self.latest = self.connection = None
        return out if out != (None, None) else None


class WaveformWorker(_ServiceUser):
    """Shows one array PV: only its newest value reaches the GUI, at most ~30 times a second."""

    #: (pv, values: float64 ndarray, ioc_time, severity)
    waveform_ready = pyqtSignal(str, object, float, int)
    #: (pv, connected)
    connection_changed = pyqtSignal(str, bool)
    #: (pv, {"units": ..., "precision": ..., ...}) after each (re)connection
    metadata_ready = pyqtSignal(str, object)

    def __init__(self, parent: QObject | None = None, *,
                 service: pvservice.PVService | None = None,
                 search_timeout: float = 2.0) -> None:
        super().__init__(parent, service)
        self.setObjectName("caprobe-waveform-worker")
        self._pv: str | None = None

    def _make_collector(self) -> pvservice.Collector:
        return _LatestArray()

    def pv_name(self) -> str | None:
        return self._pv

    def set_pv(self, pv: str | None) -> None:
        """Monitor ``pv`` instead of the current one (None: monitor nothing)."""
        old, self._pv = self._pv, pv
        if old is not None and self._client is not None:
            self._client.remove(old)
        if pv is None:
            return
        self._ensure_client().add(pv)

    def start(self, *_priority: Any) -> None:
        client = self._ensure_client()
        if self._pv is not None:
            client.add(self._pv)

    def flush(self) -> None:
        if self._client is not None:
            self._client.flush()

    def _on_batch(self, batch: tuple[Any, Any]) -> None:
        connection, latest = batch
        if connection is not None and connection[0] == self._pv:
            self.connection_changed.emit(*connection)
        if latest is not None and latest[0] == self._pv:
            self.waveform_ready.emit(*latest)

    def _on_metadata(self, pv: str, response: Any) -> None:
        if pv == self._pv:
            self.metadata_ready.emit(pv, control_metadata(response))


def _to_float(item: Any) -> float:
    try:
        return float(item.decode("latin-1") if isinstance(item, bytes) else item)
    except (TypeError, ValueError):
        return float("nan")
