"""Strip-chart data, no Qt: per-trace sample buffers, the worker's sample collector, CSV export.

The GUI thread owns one :class:`TraceBuffer` per charted PV; the CA worker thread fills a
:class:`SampleCollector`, which the GUI drains in batches. Everything is numpy arrays: at
10 PVs x 1 kHz a Python list of tuples per sample would cost more than the drawing.

Buffer layout ("sliding window" rather than a classic ring): samples live contiguously in
``[start, end)`` of preallocated arrays that are larger than the retained data. Appends write at
``end``; when the arrays are full the newest samples are copied into freshly allocated arrays.
Each copy moves at most ``capacity`` samples and buys ``slack * capacity`` appends, so appending
is O(1) amortised, and the data is always one contiguous slice: pyqtgraph gets views, never a
per-redraw concatenation. Fresh arrays (instead of compacting in place) keep every view already
handed to pyqtgraph valid until its next ``setData``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO

import numpy as np

#: Severity code stored with the NaN sample that marks a disconnect (0..3 are EPICS severities).
SEVERITY_DISCONNECTED = 4

_SEVERITY_TEXT = {0: "NO_ALARM", 1: "MINOR", 2: "MAJOR", 3: "INVALID", 4: "DISCONNECTED"}

#: Default hard cap on samples per trace: one hour at ~1.1 kHz (about 100 MB of arrays).
DEFAULT_MAX_SAMPLES = 4_000_000


def severity_name(severity: int) -> str:
    """Short text for a stored severity code (EPICS 0..3, or the disconnect marker)."""
    return _SEVERITY_TEXT.get(int(severity), f"SEVERITY_{int(severity)}")


class TraceBuffer:
    """Time-ordered samples ``(time, value, severity)`` of one PV, bounded by count and age.

    ``max_samples`` caps memory whatever the rate; ``retention_s`` (normally the chart's time
    window) lets old samples go so that the buffer size follows window x rate. Samples older
    than ``retention_s`` before the newest one are discarded lazily, when the arrays are
    reallocated, so the buffer may briefly hold a little more than the window.

    Out-of-order samples (IOC timestamps going backwards, e.g. after a gateway reorders two
    monitors) are inserted at their sorted position if they land within the last
    ``reorder_lookback`` samples; further back, their time is clamped to the newest time so the
    array stays sorted (pyqtgraph's clip-to-view bisects it) and no value is lost.
    """

    def __init__(
        self,
        max_samples: int = DEFAULT_MAX_SAMPLES,
        retention_s: float | None = None,
        *,
        initial_size: int = 4096,
        slack: float = 0.5,
        reorder_lookback: int = 65536,
    ) -> None:
        if max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        self._max = int(max_samples)
        self.retention_s = retention_s
        self._slack = max(0.05, float(slack))
        self._lookback = max(1, int(reorder_lookback))
        size = max(16, min(int(initial_size), self._max)) + 1
        self._t = np.empty(size, np.float64)
        self._v = np.empty(size, np.float64)
        self._s = np.empty(size, np.int8)
        self._start = 0
        self._end = 0
        #: counters for diagnostics and the benchmark
        self.total_appended = 0
        self.reordered = 0
        self.clamped = 0

    # ----------------------------------------------------------------- properties
    def __len__(self) -> int:
        return self._end - self._start

    @property
    def max_samples(self) -> int:
        return self._max

    @max_samples.setter
    def max_samples(self, value: int) -> None:
        self._max = max(1, int(value))
        if len(self) > self._max:
            self._start = self._end - self._max

    @property
    def times(self) -> np.ndarray:
        """Sample times (unix seconds, float64), sorted; a view, do not modify."""
        return self._t[self._start : self._end]

    @property
    def values(self) -> np.ndarray:
        """Sample values (float64; NaN marks a disconnect); a view."""
        return self._v[self._start : self._end]

    @property
    def severities(self) -> np.ndarray:
        """Alarm severity per sample (int8; :data:`SEVERITY_DISCONNECTED` at gaps); a view."""
        return self._s[self._start : self._end]

    @property
    def last_time(self) -> float:
        return float(self._t[self._end - 1]) if self._end > self._start else float("-inf")

    @property
    def last_value(self) -> float:
        return float(self._v[self._end - 1]) if self._end > self._start else float("nan")

    @property
    def last_severity(self) -> int:
        return int(self._s[self._end - 1]) if self._end > self._start else SEVERITY_DISCONNECTED

    @property
    def allocated_bytes(self) -> int:
        return self._t.nbytes + self._v.nbytes + self._s.nbytes

    # ----------------------------------------------------------------- writing
    def clear(self) -> None:
        self._start = self._end = 0

    def append(self, t: float, value: float, severity: int = 0) -> None:
        """Add one sample (convenience; batches should use :meth:`extend`)."""
        self.extend(
            np.array([t], np.float64), np.array([value], np.float64), np.array([severity], np.int8)
        )

    def add_gap(self, t: float) -> None:
        """Mark a disconnect at ``t``: a NaN sample, so the curve breaks there."""
        self.append(t, np.nan, SEVERITY_DISCONNECTED)

    def extend(self, times: np.ndarray, values: np.ndarray, severities: np.ndarray) -> None:
        """Add a batch of samples (any order; usually already sorted and newer than the last)."""
        times = np.asarray(times, np.float64)
        k = len(times)
        if k == 0:
            return
        values = np.asarray(values, np.float64)
        severities = np.asarray(severities, np.int8)
        self.total_appended += k
        in_order = (k == 1 or bool(np.all(times[1:] >= times[:-1]))) and times[0] >= self.last_time
        if not in_order:
            self._merge_out_of_order(times, values, severities)
            return
        self._reserve(k)
        end = self._end
        self._t[end : end + k] = times
        self._v[end : end + k] = values
        self._s[end : end + k] = severities
        self._end = end + k
        if self._end - self._start > self._max:
            self._start = self._end - self._max

    def _merge_out_of_order(
        self, times: np.ndarray, values: np.ndarray, severities: np.ndarray
    ) -> None:
        """Merge an unsorted batch into the sorted tail: O(tail + k log k), tail bounded."""
        n = len(self)
        lookback_start = self._end - min(n, self._lookback)
        floor = float(self._t[lookback_start]) if n > self._lookback else float("-inf")
        too_old = times < floor
        if np.any(too_old):
            # Far out of order (typically an IOC clock stepped back): keep the value, clamp the
            # time, rather than shifting megabytes of history per sample.
            times = times.copy()
            times[too_old] = self.last_time
            self.clamped += int(np.count_nonzero(too_old))
        self.reordered += int(np.count_nonzero(times < self.last_time))
        first = float(times.min())
        tail_from = self._start + int(np.searchsorted(self.times, first, side="right"))
        merged_t = np.concatenate((self._t[tail_from : self._end], times))
        merged_v = np.concatenate((self._v[tail_from : self._end], values))
        merged_s = np.concatenate((self._s[tail_from : self._end], severities))
        order = np.argsort(merged_t, kind="stable")  # stable: equal times keep arrival order
        m = len(order)
        self._end = tail_from  # the tail is rewritten from the merged copies
        self._reserve(m)
        end = self._end
        self._t[end : end + m] = merged_t[order]
        self._v[end : end + m] = merged_v[order]
        self._s[end : end + m] = merged_s[order]
        self._end = end + m
        if self._end - self._start > self._max:
            self._start = self._end - self._max

    def _reserve(self, k: int) -> None:
        """Make room for ``k`` more samples plus the spare slot used by :meth:`view_to`."""
        if self._end + k + 1 <= len(self._t):
            return
        keep_from = self._start
        newest = self._t[self._end - 1] if self._end > self._start else None
        if newest is not None and self.retention_s is not None:
            # Age-based trimming happens here, once per reallocation, not per append.
            horizon = float(newest) - float(self.retention_s)
            keep_from = self._start + int(np.searchsorted(self.times, horizon, side="left"))
            # keep one sample before the horizon so the stair-step reaches the left edge
            keep_from = max(self._start, keep_from - 1)
        keep = self._end - keep_from
        if keep + k > self._max:
            drop = keep + k - self._max
            keep_from += min(drop, keep)
            keep = self._end - keep_from
        needed = keep + k
        target = int(needed * (1.0 + self._slack)) + 1
        size = max(target, 17)
        size = min(size, int(self._max * (1.0 + self._slack)) + 2)
        size = max(size, needed + 1)
        new_t = np.empty(size, np.float64)
        new_v = np.empty(size, np.float64)
        new_s = np.empty(size, np.int8)
        new_t[:keep] = self._t[keep_from : self._end]
        new_v[:keep] = self._v[keep_from : self._end]
        new_s[:keep] = self._s[keep_from : self._end]
        self._t, self._v, self._s = new_t, new_v, new_s
        self._start, self._end = 0, keep

    # ----------------------------------------------------------------- reading
    def view_to(self, now: float | None) -> tuple[np.ndarray, np.ndarray]:
        """``(times, values)`` views for drawing, with the last value held until ``now``.

        The hold sample is written into the spare slot after the data, so no copy is made and
        the stored samples are untouched (the next append overwrites the slot).
        """
        if self._end == self._start:
            return self._t[0:0], self._v[0:0]
        if now is None or now <= self._t[self._end - 1]:
            return self.times, self.values
        self._t[self._end] = now
        self._v[self._end] = self._v[self._end - 1]
        return self._t[self._start : self._end + 1], self._v[self._start : self._end + 1]

    def index_range(self, t0: float | None, t1: float | None) -> slice:
        """Slice (relative to :attr:`times`) of the samples with ``t0 <= t <= t1``."""
        times = self.times
        i0 = 0 if t0 is None else int(np.searchsorted(times, t0, side="left"))
        i1 = len(times) if t1 is None else int(np.searchsorted(times, t1, side="right"))
        return slice(i0, max(i0, i1))

    def value_at(self, t: float) -> tuple[float, int] | None:
        """Held value and severity at time ``t`` (stair-step semantics), or None before data."""
        times = self.times
        i = int(np.searchsorted(times, t, side="right")) - 1
        if i < 0:
            return None
        return float(self.values[i]), int(self.severities[i])

    def finite_range(
        self, t0: float | None = None, t1: float | None = None
    ) -> tuple[float, float] | None:
        """(min, max) of the finite values in a time range, or None."""
        v = self.values[self.index_range(t0, t1)]
        v = v[np.isfinite(v)]
        if len(v) == 0:
            return None
        return float(v.min()), float(v.max())

    def index_before(self, t: float) -> int:
        """Index (relative to :attr:`times`) of the last sample at or before ``t``; -1 if none."""
        return int(np.searchsorted(self.times, t, side="right")) - 1


@dataclass(frozen=True)
class TraceStats:
    """Statistics of one trace's samples in a time range (per sample, not time-weighted).

    ``count`` counts the finite samples; ``gaps`` the disconnect markers in the range;
    ``non_positive`` the finite samples <= 0 (what a log axis cannot draw). With ``count`` 0
    every value is NaN and the times are None.
    """

    count: int
    minimum: float
    maximum: float
    mean: float
    std: float
    first_time: float | None
    last_time: float | None
    gaps: int = 0
    non_positive: int = 0

    FIELDS = ("minimum", "maximum", "mean", "std", "count", "first_time", "last_time")


def trace_statistics(buf: TraceBuffer, t0: float | None, t1: float | None) -> TraceStats:
    """Min, max, mean, standard deviation (population), count, first/last sample time of
    the samples with ``t0 <= t <= t1``: a few passes over the range in numpy."""
    sl = buf.index_range(t0, t1)
    values = buf.values[sl]
    times = buf.times[sl]
    finite = np.isfinite(values)
    if finite.all():
        v, tv = values, times
    else:
        v, tv = values[finite], times[finite]
    gaps = int(len(values) - len(v))
    n = len(v)
    if n == 0:
        nan = float("nan")
        return TraceStats(0, nan, nan, nan, nan, None, None, gaps, 0)
    return TraceStats(
        count=n, minimum=float(v.min()), maximum=float(v.max()), mean=float(v.mean()),
        std=float(v.std()), first_time=float(tv[0]), last_time=float(tv[-1]), gaps=gaps,
        non_positive=int(np.count_nonzero(v <= 0)),
    )  # fmt: skip


# --------------------------------------------------------------------------- collector
@dataclass
class _Chunk:
    """Preallocated arrays one PV's callbacks append to between two drains."""

    t: np.ndarray = field(default_factory=lambda: np.empty(1024, np.float64))
    v: np.ndarray = field(default_factory=lambda: np.empty(1024, np.float64))
    s: np.ndarray = field(default_factory=lambda: np.empty(1024, np.int8))
    n: int = 0

    def push(self, t: float, v: float, s: int) -> None:
        n = self.n
        if n == len(self.t):  # grow by doubling: a slow GUI must never make us drop samples
            self.t = np.resize(self.t, 2 * n)
            self.v = np.resize(self.v, 2 * n)
            self.s = np.resize(self.s, 2 * n)
        self.t[n] = t
        self.v[n] = v
        self.s[n] = s
        self.n = n + 1


@dataclass(frozen=True)
class SampleBatch:
    """What one drain hands to the GUI: new samples per PV and connection changes, in order.

    ``samples[pv] = (times, values, severities)``; disconnects appear as NaN samples with
    severity :data:`SEVERITY_DISCONNECTED` inside those arrays, so ordering with the data is
    exact. ``connection[pv]`` is the latest connection state seen in this batch (True/False),
    ``metadata[pv]`` display metadata (units, precision, limits) when some arrived.
    """

    samples: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    connection: dict[str, bool]
    metadata: dict[str, dict]

    def __bool__(self) -> bool:
        return bool(self.samples or self.connection or self.metadata)

    @property
    def sample_count(self) -> int:
        return sum(len(t) for t, _, _ in self.samples.values())


class SampleCollector:
    """Thread-safe staging area between CA callbacks (any thread) and the GUI thread.

    Callbacks call :meth:`add_sample` / :meth:`add_disconnect`; the GUI calls :meth:`drain`
    every ~30 ms and gets one :class:`SampleBatch`. A single lock guards everything: a callback
    holds it for a few array stores, so contention is negligible at 10 kHz.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: dict[str, _Chunk] = {}
        self._connection: dict[str, bool] = {}
        self._metadata: dict[str, dict] = {}
        self.total_samples = 0

    def add_sample(self, pv: str, t: float, value: float, severity: int) -> None:
        with self._lock:
            chunk = self._chunks.get(pv)
            if chunk is None:
                chunk = self._chunks[pv] = _Chunk()
            chunk.push(t, value, severity)
            self.total_samples += 1

    def add_disconnect(self, pv: str, t: float) -> None:
        with self._lock:
            chunk = self._chunks.get(pv)
            if chunk is None:
                chunk = self._chunks[pv] = _Chunk()
            chunk.push(t, np.nan, SEVERITY_DISCONNECTED)
            self._connection[pv] = False

    def set_connected(self, pv: str, connected: bool) -> None:
        with self._lock:
            self._connection[pv] = connected

    def set_metadata(self, pv: str, metadata: dict) -> None:
        with self._lock:
            self._metadata[pv] = metadata

    def discard(self, pv: str) -> None:
        """Forget pending data of a PV that was removed from the chart."""
        with self._lock:
            self._chunks.pop(pv, None)
            self._connection.pop(pv, None)
            self._metadata.pop(pv, None)

    def drain(self) -> SampleBatch:
        """Take everything collected since the last drain (copies, so the chunks are reused)."""
        with self._lock:
            samples = {
                pv: (c.t[: c.n].copy(), c.v[: c.n].copy(), c.s[: c.n].copy())
                for pv, c in self._chunks.items()
                if c.n
            }
            for c in self._chunks.values():
                c.n = 0
            connection, self._connection = self._connection, {}
            metadata, self._metadata = self._metadata, {}
        return SampleBatch(samples, connection, metadata)


# --------------------------------------------------------------------------- CSV export
def iso_time(t: float) -> str:
    """Local ISO-8601 time with microseconds and UTC offset (unambiguous across DST)."""
    return _dt.datetime.fromtimestamp(t).astimezone().isoformat(timespec="microseconds")


def write_csv(
    out: IO[str],
    traces: Mapping[str, TraceBuffer],
    t0: float | None = None,
    t1: float | None = None,
    *,
    units: Mapping[str, str] | None = None,
    value_format: str = "%.17g",
) -> int:
    """Write samples as CSV rows ``pv,time,epoch_seconds,value,severity,units``; returns rows.

    One row per sample in "long" form (each trace keeps its own timestamps; see
    :func:`write_csv_aligned` for one row per time). ``time`` is local ISO-8601;
    ``epoch_seconds`` keeps full precision for scripts; a disconnect is a row with an empty
    value and severity ``DISCONNECTED``. ``t0``/``t1`` limit the export to a time range (the
    visible one); None means all. With ``t0`` the last sample before it is written too: its
    value is what the chart draws (held) at the left edge, so a quiet PV is not left out.
    """
    units = units or {}
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["pv", "time", "epoch_seconds", "value", "severity", "units"])
    rows = 0
    for pv, buf in traces.items():
        sl = buf.index_range(t0, t1)
        start = sl.start
        if t0 is not None and start > 0:
            start -= 1  # the held sample
        times = buf.times[start : sl.stop]
        values = buf.values[start : sl.stop]
        sevs = buf.severities[start : sl.stop]
        unit = units.get(pv, "")
        for t, v, s in zip(times.tolist(), values.tolist(), sevs.tolist(), strict=True):
            writer.writerow(
                [pv, iso_time(t), f"{t:.9f}", "" if v != v else value_format % v,
                 severity_name(s), unit]
            )  # fmt: skip
            rows += 1
    return rows


def aligned_columns(
    traces: Mapping[str, TraceBuffer], t0: float | None = None, t1: float | None = None
) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The time-aligned table: every distinct sample time in ``[t0, t1]`` (plus ``t0`` itself
    when some trace already has a value there) and, per PV, the value and severity held at
    each of those times (stair-step: the last sample at or before it). Before a PV's first
    sample its value is NaN and its severity -1 (no data)."""
    parts = []
    for buf in traces.values():
        parts.append(buf.times[buf.index_range(t0, t1)])
    if t0 is not None and any(buf.index_before(t0) >= 0 for buf in traces.values()):
        parts.append(np.array([t0], np.float64))
    grid = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.float64)
    columns = {}
    for pv, buf in traces.items():
        idx = np.searchsorted(buf.times, grid, side="right") - 1
        have = idx >= 0
        safe = np.where(have, idx, 0)
        if len(buf):
            values = np.where(have, buf.values[safe], np.nan)
            sevs = np.where(have, buf.severities[safe].astype(np.int16), -1)
        else:
            values = np.full(len(grid), np.nan)
            sevs = np.full(len(grid), -1, np.int16)
        columns[pv] = (values, sevs)
    return grid, columns


def write_csv_aligned(
    out: IO[str],
    traces: Mapping[str, TraceBuffer],
    t0: float | None = None,
    t1: float | None = None,
    *,
    units: Mapping[str, str] | None = None,
    value_format: str = "%.17g",
) -> int:
    """Write one row per distinct timestamp and two columns per PV (value, severity).

    Header: ``time,epoch_seconds,<pv> [<units>],<pv> severity,...``. Values are held from each
    PV's last sample (as the chart draws them), so a PV that did not change in the range still
    has its value in every row. A disconnected PV has an empty value and ``DISCONNECTED``; a
    PV with no sample yet at that time has both cells empty. Returns the number of rows.
    """
    units = units or {}
    grid, columns = aligned_columns(traces, t0, t1)
    writer = csv.writer(out, lineterminator="\n")
    header = ["time", "epoch_seconds"]
    for pv in columns:
        unit = units.get(pv, "")
        header += [f"{pv} [{unit}]" if unit else pv, f"{pv} severity"]
    writer.writerow(header)
    as_lists = [(v.tolist(), s.tolist()) for v, s in columns.values()]
    for i, t in enumerate(grid.tolist()):
        row = [iso_time(t), f"{t:.9f}"]
        for values, sevs in as_lists:
            v, s = values[i], sevs[i]
            row += ["" if v != v else value_format % v, "" if s < 0 else severity_name(s)]
        writer.writerow(row)
    return len(grid)


def read_csv_rows(lines: Iterable[str]) -> list[dict[str, str]]:
    """Parse :func:`write_csv` output back (used by tests and anyone re-importing an export)."""
    return list(csv.DictReader(lines))
