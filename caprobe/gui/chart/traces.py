"""One charted PV: its buffer, its curves and how its values are written and drawn."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtGui import QColor

from caprobe.chart_data import TraceBuffer

#: Trace colours: distinct on the dark plot background and kept clear of the pure
#: green/yellow/red/white used for alarm severity, so a trace is never read as an alarm.
PALETTE = (
    "#4fc3f7", "#ffb74d", "#ba68c8", "#4db6ac", "#f06292",
    "#aed581", "#7986cb", "#ffd54f", "#a1887f", "#90a4ae",
)  # fmt: skip

BACKGROUND = "#14181c"


def format_value(value: float, precision: int | None, units: str) -> str:
    if math.isnan(value):
        return "—"
    if precision is not None and 0 <= precision <= 17 and abs(value) < 1e15:
        text = f"{value:.{precision}f}"
    else:
        text = f"{value:.6g}"
    return f"{text} {units}".rstrip()


@dataclass
class Trace:
    name: str
    color: QColor
    buffer: TraceBuffer
    curve: TraceCurve
    hold: pg.PlotCurveItem
    visible: bool = True
    connected: bool | None = None  # None: never connected yet (searching)
    ever_connected: bool = False  # False + connected False = "not found", not a disconnect
    dirty: bool = False
    last_upload: float = 0.0  # time.time() of the last set_samples
    uploaded_end: tuple[float, float] = (math.nan, math.nan)  # last (t, v) the curve holds
    legend_style: tuple[Any, ...] = ()  # what the legend row shows now: restyle only on change
    units: str = ""
    precision: int | None = None
    disp_limits: tuple[float, float] | None = None
    fixed_range: tuple[float, float] | None = None
    view: pg.ViewBox | None = None  # own ViewBox in per-trace mode
    axis: pg.AxisItem | None = None
    norm: tuple[float, float] = (0.0, 1.0)
    meta: dict[str, Any] = field(default_factory=dict)
    marks: pg.PlotDataItem | None = None  # a cross where each disconnect happened
    gap_marks: list[tuple[float, float]] = field(default_factory=list)  # (time, last value)
    log: bool = False  # log10 Y for this trace (its own axis in per-trace mode)
    element_count: int = 1  # > 1: an array PV, plotted as its element 0

    def items(self) -> tuple[pg.GraphicsObject, ...]:
        """Everything drawn for this trace, in the one ViewBox they share."""
        return (self.curve, self.hold, self.marks) if self.marks is not None else (
            self.curve, self.hold)


def value_text(trace: Trace, value: float, units: bool = True) -> str:
    """Value with PREC (and units); enum PVs (plotted as their index) also show the label."""
    enums = trace.meta.get("enum_strings")
    if enums and math.isfinite(value) and value == int(value) and 0 <= value < len(enums):
        return f"{int(value)} ({enums[int(value)]})"
    return format_value(value, trace.precision, trace.units if units else "")


def last_finite_text(trace: Trace, units: bool = True) -> str:
    """The last real value in brackets (shown while disconnected), or ""."""
    tail = trace.buffer.values[-1000:]
    finite = tail[np.isfinite(tail)]
    if not len(finite):
        return ""
    return f"({value_text(trace, float(finite[-1]), units)})"


def trace_pen(color: QColor) -> Any:
    """The trace's pen, the same connected or not: the history before a disconnect must stay
    tellable from the other traces; the gap, its cross and the legend say DISCONNECTED."""
    # width 1: pyqtgraph's fast path; wider pens cost 2-5x per frame
    return pg.mkPen(color, width=1)


def style_marks(marks: pg.PlotDataItem, color: QColor) -> None:
    marks.setSymbolPen(pg.mkPen(color, width=2))
    marks.setSymbolBrush(None)


def last_finite_before(trace: Trace, t: float) -> float:
    """The value the trace showed just before ``t`` (NaN if none in the last 1000 samples)."""
    i = trace.buffer.index_before(t)
    tail = trace.buffer.values[max(0, i - 1000) : i + 1]
    finite = tail[np.isfinite(tail)]
    return float(finite[-1]) if len(finite) else float("nan")


class TraceCurve(pg.PlotDataItem):
    """PlotDataItem that recomputes its display data once per frame, not two or three times.

    A frame both moves the X range (scrolling) and replaces the data; stock PlotDataItem redoes
    clip + downsampling for each (about 10 ms each at 3.6 M samples). :meth:`hold_updates`
    suppresses the range-change recompute for a curve that is about to get new data, and
    :meth:`set_samples` tells pyqtgraph the times are finite (they always are: NaN only
    appears in values), which skips its ``x[np.isfinite(x)]`` copy of the whole array.
    """

    _held = False

    def hold_updates(self) -> None:
        self._held = True

    def release_updates(self) -> None:
        self._held = False
        self.updateItems(styleUpdate=False)

    def updateItems(self, styleUpdate: bool = True) -> None:  # noqa: N802, N803 (pyqtgraph API)
        if not self._held:
            super().updateItems(styleUpdate)

    def set_samples(self, times: np.ndarray, values: np.ndarray) -> None:
        self._held = True
        try:
            self.setData(times, values)
        finally:
            self._held = False
        dataset = getattr(self, "_dataset", None)
        if dataset is not None and hasattr(dataset, "xAllFinite"):
            dataset.xAllFinite = True  # pyqtgraph internals; only an optimisation
        self.updateItems(styleUpdate=False)


def make_trace(name: str, color: QColor, buffer: TraceBuffer) -> Trace:
    """A trace with its stair-step curve and its hold segment, styled as connected."""
    # stepMode "right": each value holds until the next sample (sample-and-hold).
    # connect="finite": NaN samples (disconnects) break the line. The dynamic-range limit
    # would scan the whole array for its bounds every frame, so it is off.
    curve = TraceCurve(
        pen=trace_pen(color), stepMode="right", connect="finite",
        dynamicRangeLimit=None, antialias=False,
        # one peak bin (min + max) per pixel column draws the complete envelope;
        # pyqtgraph's default of 5 bins per pixel makes ~10 points per column, 5x the
        # path, bounds and step work per frame for nothing visible (measured: 29 ms ->
        # see bench) with 10 traces of 30 k samples each.
        autoDownsampleFactor=1.0,
    )  # fmt: skip
    # clip-to-view + peak downsampling are what make 3.6 M samples affordable
    curve.setClipToView(True)
    curve.setDownsampling(auto=True, method="peak")
    hold = pg.PlotCurveItem(pen=trace_pen(color), antialias=False, connect="finite")
    return Trace(name, color, buffer, curve, hold)


def make_marks(trace: Trace) -> pg.PlotDataItem:
    """The item for the trace's disconnect crosses; made at the first disconnect only, so a
    chart without outages draws (and re-clips on every scroll) nothing extra."""
    marks = pg.PlotDataItem(pen=None, symbol="x", symbolSize=11)
    style_marks(marks, trace.color)
    marks.setToolTip(f"{trace.name}: connection lost here")
    marks.setLogMode(False, trace.log)
    return marks
