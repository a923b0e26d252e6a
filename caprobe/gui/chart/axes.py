"""Y axes of the chart: shared, normalised (0-1) or one per trace, and autoscale.

Per-trace mode follows pyqtgraph's multi-axis pattern: an extra ViewBox per trace with its X
linked to the main one and its own AxisItem stacked right of the plot. Autoscale is done here,
once per frame, from the curves' display data, rather than by the ViewBox (see ``fit``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pyqtgraph as pg

from caprobe.gui.chart.traces import Trace, trace_pen


class ChartAxes:
    """Owns the per-trace ViewBoxes and axes of one PlotItem and fits Y ranges."""

    def __init__(self, plot_item: pg.PlotItem, on_manual_range: Callable[[Any], None]) -> None:
        self.plot_item = plot_item
        self.view_box: pg.ViewBox = plot_item.getViewBox()
        self._on_manual_range = on_manual_range
        self._axes_in_layout: list[pg.AxisItem] = []  # per-trace axes placed in the layout
        self.traces: Mapping[str, Trace] = {}
        self.mode = "shared"

    def views(self) -> list[tuple[pg.ViewBox, Trace | None]]:
        if self.mode == "per-trace":
            return [(tr.view, tr) for tr in self.traces.values() if tr.view is not None]
        return [(self.view_box, None)]

    # ------------------------------------------------------------------ per-trace views
    def make_trace_view(self, trace: Trace) -> pg.ViewBox:
        """An extra ViewBox (X linked to the main one) with its own Y axis, pyqtgraph-style."""
        vb = pg.ViewBox(enableMenu=False)
        vb.disableAutoRange()  # X auto-range would disable clip-to-view for these curves
        self.plot_item.scene().addItem(vb)
        vb.setXLink(self.view_box)
        # this ViewBox lies on top of the main one and gets the mouse gestures
        vb.sigRangeChangedManually.connect(self._on_manual_range)
        axis = pg.AxisItem("right")
        axis.enableAutoSIPrefix(False)
        axis.linkToView(vb)
        axis.setLabel(trace.name, units=trace.units or None)
        pen = trace_pen(trace.color)
        axis.setPen(pen)
        axis.setTextPen(pen)
        trace.view, trace.axis = vb, axis
        self.relayout()
        return vb

    def relayout(self) -> None:
        """Per-trace axes stack to the right of the plot in trace order."""
        layout = self.plot_item.layout
        for axis in self._axes_in_layout:
            layout.removeItem(axis)
        self._axes_in_layout = [tr.axis for tr in self.traces.values() if tr.axis is not None]
        for col, axis in enumerate(self._axes_in_layout, start=3):
            layout.addItem(axis, 2, col)
            # the hidden left axis drew the horizontal grid; the first trace axis takes over
            axis.setGrid(64 if col == 3 else False)
        self.sync_views()

    def drop_trace_view(self, trace: Trace) -> None:
        if trace.axis is not None:
            if trace.axis in self._axes_in_layout:
                self.plot_item.layout.removeItem(trace.axis)
                self._axes_in_layout.remove(trace.axis)
            self.plot_item.scene().removeItem(trace.axis)
        if trace.view is not None:
            self.plot_item.scene().removeItem(trace.view)
        trace.view = trace.axis = None

    def sync_views(self) -> None:
        rect = self.view_box.sceneBoundingRect()
        for tr in self.traces.values():
            if tr.view is not None:
                tr.view.setGeometry(rect)
                tr.view.linkedViewChanged(self.view_box, tr.view.XAxis)

    # ------------------------------------------------------------------ scaling
    def update_normalisation(self, t0: float, t1: float) -> None:
        for trace in self.traces.values():
            lo_hi = trace.fixed_range or trace.disp_limits or trace.buffer.finite_range(t0, t1)
            if lo_hi is None:
                continue
            lo, hi = lo_hi
            if hi <= lo:  # flat trace: centre it
                lo, hi = lo - 0.5, hi + 0.5
            if (lo, hi) == trace.norm:
                continue
            trace.norm = (lo, hi)
            scale = 1.0 / (hi - lo)
            tr = pg.QtGui.QTransform(1.0, 0.0, 0.0, scale, 0.0, -lo * scale)
            # transform the items rather than the data: no per-frame copy of big arrays
            for item in trace.items():
                item.setTransform(tr)

    def fit(self, x0: float, x1: float, now: float) -> None:
        """Autoscale: fit each Y axis to what is visible, once per frame.

        Bounds come from the curves' display data (clipped, peak-downsampled: the exact
        min/max envelope, a few thousand points) plus the held last value, never from the raw
        buffers, so the cost does not grow with the number of samples.
        """
        for vb, owner in self.views():
            traces = [owner] if owner is not None else list(self.traces.values())
            lo, hi = math.inf, -math.inf
            for tr in traces:
                if not tr.visible:
                    continue
                values = [v for v in tr.curve.dataBounds(1, orthoRange=(x0, x1)) if v is not None]
                buf = tr.buffer
                if len(buf) and math.isfinite(buf.last_value) and buf.last_time <= x1 and now >= x0:
                    held = buf.last_value  # the hold segment
                    if tr.log:  # the curve's bounds are log10 already
                        held = math.log10(held) if held > 0 else math.nan
                    values.append(held)
                if self.mode == "normalised":
                    nlo, nhi = tr.norm
                    values = [(v - nlo) / (nhi - nlo) for v in values]
                finite = [v for v in values if math.isfinite(v)]
                if finite:
                    lo, hi = min(lo, *finite), max(hi, *finite)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                continue
            # Hysteresis: change the range only when the data leaves it or shrinks to under
            # 60 % of it, and then leave 10 % headroom. A drifting value then moves the axis
            # in steps, not every frame: the labels stay readable and the axis is not
            # regenerated 30 times a second.
            cur_lo, cur_hi = vb.viewRange()[1]
            data_span = hi - lo
            if lo >= cur_lo and hi <= cur_hi and data_span >= 0.6 * (cur_hi - cur_lo):
                continue
            pad = data_span * 0.1 if data_span > 0 else (abs(hi) * 0.05 or 0.5)
            if (cur_lo, cur_hi) != (lo - pad, hi + pad):  # e.g. a flat trace: already set
                vb.setYRange(lo - pad, hi + pad, padding=0)
