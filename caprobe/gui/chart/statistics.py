"""Statistics of the visible time range per trace, recomputed only when the range or the
samples in it change, and at a cadence that keeps their cost a small share of the GUI thread.

The numbers themselves come from :func:`caprobe.chart_data.trace_statistics` (numpy, a few
passes over the visible samples: ~30 ms for 3.6 M samples). While scrolling, the visible
range moves every pixel column, so the panel asks on every legend tick (:meth:`due`) and
this class decides whether the last result is still valid, per trace: a trace whose samples
in the range did not change (a steady PV, a paused or panned view) is not recomputed.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import time
from collections.abc import Mapping

from caprobe.chart_data import TraceStats, iso_time, trace_statistics
from caprobe.gui.chart.traces import Trace, format_value

#: Column titles, in TraceStats.FIELDS order.
TITLES = ("Min", "Max", "Mean", "Std dev", "Count", "First", "Last")

#: The statistics may use at most this share of the GUI thread (the interval stretches).
MAX_SHARE = 0.05
MIN_INTERVAL_MS = 250


def short_time(t: float | None) -> str:
    if t is None:
        return ""
    return _dt.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]


class VisibleStatistics:
    """The last statistics per PV and the key they were computed for."""

    def __init__(self) -> None:
        self.results: dict[str, TraceStats] = {}
        self.range: tuple[float, float] = (math.nan, math.nan)
        self.cost_s = 0.0
        self.computed_at = -math.inf  # time.monotonic() of the last recomputation
        #: per PV: (t0, t1, count, first time, last time) its result was computed for
        self._keys: dict[str, tuple] = {}
        self._costs: dict[str, float] = {}  # seconds the last recomputation of each PV took

    def interval_ms(self) -> int:
        """Least interval between recomputations that keeps them under :data:`MAX_SHARE`."""
        return max(MIN_INTERVAL_MS, int(1000 * self.cost_s / MAX_SHARE))

    def due(self, now: float | None = None) -> bool:
        """Whether :meth:`update` may run again (checking an unchanged range is cheap, but a
        live range changes with every sample: recomputing it is what the interval bounds)."""
        now = time.monotonic() if now is None else now
        return now - self.computed_at >= self.interval_ms() / 1000

    def invalidate(self) -> None:
        """Forget what the results were computed for: the next update recomputes them all."""
        self._keys.clear()

    def update(self, traces: Mapping[str, Trace], t0: float, t1: float) -> bool:
        """Recompute the traces whose samples in the range changed (or all, if the set of
        traces changed); True when any result changed."""
        keys = {}
        for name, tr in traces.items():
            buf = tr.buffer
            sl = buf.index_range(t0, t1)
            n = sl.stop - sl.start
            # first/last time in range + count identify the samples without reading them
            edge = (float(buf.times[sl.start]), float(buf.times[sl.stop - 1])) if n else ()
            keys[name] = (t0, t1, n, edge)
        stale = [name for name, key in keys.items() if self._keys.get(name) != key]
        if not stale and keys.keys() == self._keys.keys():
            return False
        results = {name: st for name, st in self.results.items() if name in keys}
        for name in stale:
            started = time.perf_counter()
            results[name] = trace_statistics(traces[name].buffer, t0, t1)
            self._costs[name] = time.perf_counter() - started
        self.results = results
        self._costs = {name: c for name, c in self._costs.items() if name in keys}
        # what recomputing them all costs: a live range changes every trace at once
        self.cost_s = sum(self._costs.values())
        self.computed_at = time.monotonic()
        self.range = (t0, t1)
        self._keys = keys
        return True

    def cells(self, trace: Trace) -> list[str]:
        """The texts of one legend row's statistics columns."""
        st = self.results.get(trace.name)
        if st is None or st.count == 0:
            return ["", "", "", "", "0" if st is not None else "", "", ""]

        def fmt(v: float) -> str:
            return format_value(v, _stat_precision(trace), "")

        return [fmt(st.minimum), fmt(st.maximum), fmt(st.mean), fmt(st.std), f"{st.count:,}",
                short_time(st.first_time), short_time(st.last_time)]

    def table(self, traces: Mapping[str, Trace]) -> list[list[str]]:
        """Header + one row per trace, full precision, for copying and CSV export."""
        t0, t1 = self.range
        rows = [["pv", "units", "min", "max", "mean", "std_dev", "count", "first_time",
                 "last_time", "range_start", "range_end"]]
        for name, tr in traces.items():
            st = self.results.get(name)
            if st is None:
                continue
            nums = [st.minimum, st.maximum, st.mean, st.std] if st.count else [math.nan] * 4
            rows.append([
                name, tr.units, *("" if math.isnan(v) else repr(v) for v in nums), str(st.count),
                "" if st.first_time is None else iso_time(st.first_time),
                "" if st.last_time is None else iso_time(st.last_time),
                iso_time(t0), iso_time(t1),
            ])  # fmt: skip
        return rows

    def as_tsv(self, traces: Mapping[str, Trace]) -> str:
        return "\n".join("\t".join(row) for row in self.table(traces)) + "\n"

    def as_csv(self, traces: Mapping[str, Trace]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(self.table(traces))
        return out.getvalue()


def _stat_precision(trace: Trace) -> int | None:
    # the mean and std of integers are not integers: two more digits than PREC
    return None if trace.precision is None else trace.precision + 2
