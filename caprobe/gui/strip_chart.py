"""Strip chart panel: live PVs against time, every sample kept, redrawn at <= 30 Hz.

Data path: :class:`~caprobe.gui.chart_worker.ChartWorker` (CA thread) -> one batched signal
per ~30 ms -> :meth:`StripChartPanel.ingest` appends each PV's samples to its
:class:`~caprobe.chart_data.TraceBuffer` (numpy, GUI thread) and marks the trace dirty -> a
``QTimer`` redraw calls ``setData`` only for dirty traces. The arrival rate and the redraw rate
are independent: 10 kHz of samples still costs one ``setData`` per trace per frame.

pyqtgraph practice applied here (see shared/research/gui-anchors.md section 3):
``DateAxisItem`` on float64 epoch seconds (local time); the X range is set from the time window
with X auto-range off, which is what lets ``setClipToView`` clip; ``setDownsampling(auto=True,
method='peak')`` keeps spikes visible at any zoom; width-1 non-antialiased pens; stair-step
(sample-and-hold) drawing, the last value held up to "now" by a separate 2-point segment so a
quiet trace is not re-uploaded every frame; NaN samples break the line at disconnects.

Per-frame cost, kept flat whatever the buffer size (figures from bench/bench_strip_chart.py):
pixel-step scrolling and uploads (nothing is recomputed more than once per pixel column, ~3 s
with a 1 h window); one peak bin per pixel; Y autoscale fitted from the downsampled display
data by this module rather than by the ViewBox; view transforms applied before the paint, so a
frame is one paint, not two.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QBrush, QColor, QDragEnterEvent, QDropEvent, QIcon, QPixmap
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from pyqtgraph import exporters

from caprobe import format as cafmt
from caprobe.chart_data import (
    DEFAULT_MAX_SAMPLES,
    SEVERITY_DISCONNECTED,
    SampleBatch,
    TraceBuffer,
    iso_time,
    write_csv,
)
from caprobe.gui.chart_config import (
    Y_MODES,
    ChartConfig,
    ChartConfigError,
    TraceConfig,
    load_config,
)
from caprobe.gui.chart_worker import ChartWorker

#: Trace colours: distinct on the dark plot background and kept clear of the pure
#: green/yellow/red/white used for alarm severity, so a trace is never read as an alarm.
PALETTE = (
    "#4fc3f7", "#ffb74d", "#ba68c8", "#4db6ac", "#f06292",
    "#aed581", "#7986cb", "#ffd54f", "#a1887f", "#90a4ae",
)  # fmt: skip

TIME_WINDOWS = (("30 s", 30.0), ("1 min", 60.0), ("10 min", 600.0), ("1 h", 3600.0))
MAX_REDRAW_HZ = 30.0
BACKGROUND = "#14181c"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(ms|s|sec|m|min|h|hr|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``"90"``, ``"90 s"``, ``"5 min"``, ``"2h"`` -> seconds; ValueError with a clear message."""
    m = _DURATION.match(text or "")
    if not m:
        raise ValueError(f"{text!r} is not a duration (examples: 90 s, 5 min, 2 h)")
    seconds = float(m.group(1)) * _UNIT_SECONDS[(m.group(2) or "s").lower()]
    if not 1.0 <= seconds <= 31 * 86400:
        raise ValueError(f"time window {text!r} is outside 1 s .. 31 days")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def save_plot_dialog(parent: QWidget, kind: str, stem: str,
                     export: Callable[[str], Any]) -> None:
    """Ask for a PNG/SVG file name and save the plot there; a failure is one message box."""
    filt = "PNG image (*.png)" if kind == "png" else "SVG drawing (*.svg)"
    path, _ = QFileDialog.getSaveFileName(parent, "Save plot", f"{stem}.{kind}", filt)
    if not path:
        return
    if not path.lower().endswith(f".{kind}"):
        path += f".{kind}"
    try:
        export(path)
    except Exception as exc:  # exporter failures must not reach the operator raw
        QMessageBox.warning(parent, "Save plot", f"Cannot save {path}: {exc}")


def _format_value(value: float, precision: int | None, units: str) -> str:
    if math.isnan(value):
        return "—"
    if precision is not None and 0 <= precision <= 17 and abs(value) < 1e15:
        text = f"{value:.{precision}f}"
    else:
        text = f"{value:.6g}"
    return f"{text} {units}".rstrip()


@dataclass
class _Trace:
    name: str
    color: QColor
    buffer: TraceBuffer
    curve: _TraceCurve
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


class _TraceCurve(pg.PlotDataItem):
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


class _ChartPlot(pg.PlotWidget):
    """The plot widget; drops of PV names are handed to the panel (QGraphicsView eats them)."""

    def __init__(self, panel: StripChartPanel) -> None:
        super().__init__(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self._panel = panel
        self.setAcceptDrops(True)

    def dragEnterEvent(self, ev: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        self._panel.dragEnterEvent(ev)

    def dragMoveEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.mimeData().hasText():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QDropEvent) -> None:  # noqa: N802
        self._panel.dropEvent(ev)


class StripChartPanel(QWidget):
    """Multi-PV strip chart with its toolbar, legend and cursor readout.

    Public API used by the main window: :meth:`add_pv`, :meth:`remove_pv`, :meth:`pv_names`,
    :meth:`shutdown`, :meth:`save_settings`, :meth:`restore_settings`; PV names dropped as
    text are added. ``worker`` may be injected (tests use a fake without CA).
    """

    #: One-line operator message (bad PV name, export done, worker error) for a status bar.
    message = pyqtSignal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        worker: Any = None,
        max_samples: int = DEFAULT_MAX_SAMPLES,
        redraw_hz: float = MAX_REDRAW_HZ,
    ) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._traces: dict[str, _Trace] = {}
        self._precision_overrides: dict[str, int] = {}
        self._max_samples = max_samples
        self._window_s = 60.0
        self._paused = False
        self._scrolling = True
        self._autoscale = True
        self._y_mode = "shared"
        self._setting_range = False  # our own setXRange, not the operator panning
        self._x_anchor = 0.0  # "now" at the last scroll step
        self._axes_in_layout: list[pg.AxisItem] = []  # per-trace axes placed in the layout
        self._frames = 0
        self._last_norm_update = 0.0
        self._worker = worker if worker is not None else ChartWorker(self)
        self._worker_started = False
        self._worker.samples_ready.connect(self.ingest)
        if hasattr(self._worker, "error"):
            self._worker.error.connect(self.message)

        self._build_ui()
        self._min_interval_ms = int(1000 / min(redraw_hz, MAX_REDRAW_HZ))
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setTimerType(Qt.PreciseTimer)
        self._redraw_timer.setInterval(self._min_interval_ms)
        self._redraw_timer.timeout.connect(self._redraw)
        self._redraw_timer.start()
        self._legend_timer = QTimer(self)  # text changes faster than ~5 Hz are unreadable
        self._legend_timer.setInterval(200)
        self._legend_timer.timeout.connect(self._update_legend)
        self._legend_timer.start()
        self.set_time_window(60.0)

    # ================================================================== UI
    def _build_ui(self) -> None:
        self.pv_edit = QLineEdit()
        self.pv_edit.setPlaceholderText("Add PV to chart (Enter; several separated by spaces)")
        self.pv_edit.returnPressed.connect(self._add_from_edit)
        add_button = QPushButton("Add")
        add_button.clicked.connect(self._add_from_edit)

        self.window_group = QButtonGroup(self)
        self.window_group.setExclusive(True)
        window_row = QHBoxLayout()
        window_row.setSpacing(2)
        self._window_buttons: dict[float, QToolButton] = {}
        for label, seconds in TIME_WINDOWS:
            b = QToolButton(text=label, checkable=True)
            b.setToolTip(f"Show the last {label}")
            b.clicked.connect(lambda _=False, s=seconds: self.set_time_window(s))
            self.window_group.addButton(b)
            window_row.addWidget(b)
            self._window_buttons[seconds] = b
        self.custom_window_button = QToolButton(text="Custom…", checkable=True)
        self.custom_window_button.setToolTip("Type a time window (e.g. 90 s, 5 min, 2 h)")
        self.custom_window_button.clicked.connect(self._ask_custom_window)
        self.window_group.addButton(self.custom_window_button)
        window_row.addWidget(self.custom_window_button)

        self.pause_button = QToolButton(text="Pause", checkable=True)
        self.pause_button.setToolTip("Freeze the picture; samples keep being recorded")
        self.pause_button.toggled.connect(self.set_paused)
        self.live_button = QToolButton(text="Scroll", checkable=True, checked=True)
        self.live_button.setToolTip(
            "Scroll: the right edge follows the current time.\n"
            "Unchecked (pan): the time range stays where you dragged or zoomed it."
        )
        self.live_button.toggled.connect(self.set_scrolling)
        self.autoscale_button = QToolButton(text="Autoscale Y", checkable=True, checked=True)
        self.autoscale_button.setToolTip("Fit the Y axis to the visible data")
        self.autoscale_button.toggled.connect(self.set_autoscale)
        self.y_mode_combo = QComboBox()
        self.y_mode_combo.addItems(["Shared Y axis", "Normalised (0–1)", "One Y axis per trace"])
        self.y_mode_combo.setToolTip(
            "Normalised: each trace scaled to its display limits (LOPR/HOPR) or its visible\n"
            "range, so traces of different magnitude share one plot."
        )
        self.y_mode_combo.currentIndexChanged.connect(lambda i: self.set_y_mode(Y_MODES[i]))
        self.file_button = QToolButton(text="File")
        self.file_button.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(self.file_button)
        menu.addAction("Export visible data as CSV…", lambda: self._export_csv_dialog(True))
        menu.addAction("Export whole buffer as CSV…", lambda: self._export_csv_dialog(False))
        menu.addAction("Save plot image (PNG)…", lambda: self._export_image_dialog("png"))
        menu.addAction("Save plot image (SVG)…", lambda: self._export_image_dialog("svg"))
        menu.addSeparator()
        menu.addAction("Open configuration (JSON or StripTool .stp)…", self._load_config_dialog)
        menu.addAction("Save configuration…", self._save_config_dialog)
        menu.addSeparator()
        menu.addAction("Clear data", self.clear_data)
        self.file_button.setMenu(menu)

        # two rows: the PV entry needs width for long names, the controls a fixed strip
        entry_row = QHBoxLayout()
        entry_row.addWidget(self.pv_edit, 1)
        entry_row.addWidget(add_button)
        entry_row.addWidget(self.file_button)
        controls_row = QHBoxLayout()
        controls_row.addLayout(window_row)
        controls_row.addSpacing(12)
        for w in (self.pause_button, self.live_button, self.autoscale_button):
            controls_row.addWidget(w)
        controls_row.addWidget(self.y_mode_combo)
        controls_row.addStretch(1)

        self.plot_widget = _ChartPlot(self)
        self.plot_widget.setBackground(BACKGROUND)
        self.plot_item: pg.PlotItem = self.plot_widget.getPlotItem()
        self.plot_item.showGrid(x=True, y=True, alpha=0.25)
        self.plot_item.setMenuEnabled(False)  # its "View All" would re-enable X auto-range
        self.plot_item.hideButtons()
        self.view_box: pg.ViewBox = self.plot_item.getViewBox()
        # No ViewBox auto-range at all: X follows the time window (and must not auto-range,
        # or clip-to-view is skipped), Y is fitted by _fit_y once per frame (the ViewBox's
        # own Y auto-range runs in every paint and its range change schedules a second paint)
        self.view_box.disableAutoRange()
        self.view_box.sigRangeChangedManually.connect(self._on_manual_range)
        self.view_box.sigResized.connect(self._sync_trace_views)
        left = self.plot_item.getAxis("left")
        left.enableAutoSIPrefix(False)
        self.plot_item.getAxis("bottom").enableAutoSIPrefix(False)
        self.cursor_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#808080", width=1))
        self.cursor_line.setVisible(False)
        self.plot_item.addItem(self.cursor_line, ignoreBounds=True)
        self._mouse_proxy = pg.SignalProxy(
            self.plot_widget.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse_moved
        )

        self.legend = QTableWidget(0, 4)
        self.legend.setHorizontalHeaderLabels(["", "PV", "Value", "Alarm"])
        self.legend.verticalHeader().setVisible(False)
        self.legend.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.legend.setMinimumHeight(3 * (self.fontMetrics().height() + 6))
        self.legend.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.legend.setEditTriggers(QAbstractItemView.NoEditTriggers)
        header = self.legend.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeToContents)
        self.legend.setContextMenuPolicy(Qt.CustomContextMenu)
        self.legend.customContextMenuRequested.connect(self._legend_menu)
        self.legend.itemChanged.connect(self._legend_item_changed)
        self.legend.cellDoubleClicked.connect(self._legend_double_clicked)
        self.legend.setToolTip(
            "Tick to show/hide; double-click the swatch to recolour; right-click to remove"
        )

        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.readout.setToolTip("Time and values under the mouse cursor")

        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.plot_widget)
        splitter.addWidget(self.legend)
        # The plot gets the height; the legend starts at a few rows (the splitter resizes it).
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([480, 60])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(entry_row)
        layout.addLayout(controls_row)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.readout)

    # ================================================================== public API
    def pv_names(self) -> list[str]:
        return list(self._traces)

    def traces(self) -> dict[str, TraceBuffer]:
        """The live sample buffers per PV (read-only use: export, tests, benchmark)."""
        return {name: tr.buffer for name, tr in self._traces.items()}

    def curve(self, name: str) -> pg.PlotDataItem:
        return self._traces[name].curve

    @property
    def worker(self) -> Any:
        return self._worker

    @property
    def frames_drawn(self) -> int:
        return self._frames

    def add_pv(self, name: str, color: str | None = None) -> bool:
        """Chart ``name``; False (and a message) if it is empty, invalid or already there."""
        name = (name or "").strip()
        if not name or any(c.isspace() for c in name) or len(name) > 200:
            self.message.emit(f"not a PV name: {name!r}")
            return False
        if name in self._traces:
            return False
        qcolor = QColor(color) if color else QColor(self._next_color())
        # stepMode "right": each value holds until the next sample (sample-and-hold).
        # connect="finite": NaN samples (disconnects) break the line. The dynamic-range limit
        # would scan the whole array for its bounds every frame, so it is off.
        curve = _TraceCurve(
            pen=self._pen(qcolor, True), stepMode="right", connect="finite",
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
        hold = pg.PlotCurveItem(pen=self._pen(qcolor, True), antialias=False)
        trace = _Trace(name, qcolor, TraceBuffer(self._max_samples, self._window_s), curve, hold)
        self._traces[name] = trace
        target = self.view_box
        if self._y_mode == "per-trace":
            target = self._make_trace_view(trace)
        target.addItem(curve)
        target.addItem(hold)
        self._add_legend_row(trace)
        self._restyle(trace)
        try:
            if not self._worker_started:
                self._worker.start()
                self._worker_started = True
            self._worker.add_pv(name)
        except Exception as exc:  # e.g. a name the CA client refuses: say so, chart unchanged
            self.remove_pv(name)
            self.message.emit(f"cannot chart {name}: {exc}")
            return False
        return True

    def remove_pv(self, name: str) -> None:
        trace = self._traces.pop(name, None)
        if trace is None:
            return
        self._worker.remove_pv(name)
        for item in (trace.curve, trace.hold):
            vb = item.getViewBox()
            if vb is not None:
                vb.removeItem(item)
        self._drop_trace_view(trace)
        for row in range(self.legend.rowCount()):
            if self.legend.item(row, 1).text() == name:
                self.legend.removeRow(row)
                break
        self._sync_trace_views()

    def clear_pvs(self) -> None:
        for name in list(self._traces):
            self.remove_pv(name)

    def set_precision(self, name: str, digits: int | None) -> None:
        """Show ``name``'s legend value with ``digits`` decimals instead of its PREC
        (None: the PV's PREC again)."""
        if digits is None:
            self._precision_overrides.pop(name, None)
        else:
            self._precision_overrides[name] = int(digits)
        trace = self._traces.get(name)
        if trace is not None:
            prec = self._precision_overrides.get(name, trace.meta.get("precision"))
            trace.precision = int(prec) if prec is not None else None

    def set_color(self, name: str, color: str | QColor) -> None:
        trace = self._traces[name]
        trace.color = QColor(color)
        self._restyle(trace)

    def set_visible(self, name: str, visible: bool) -> None:
        trace = self._traces[name]
        trace.visible = visible
        trace.curve.setVisible(visible)
        trace.hold.setVisible(visible)
        if trace.axis is not None:
            trace.axis.setVisible(visible)

    def shutdown(self) -> None:
        """Stop redrawing, interrupt and join the CA worker (prompt even on silent PVs)."""
        self._redraw_timer.stop()
        self._legend_timer.stop()
        if self._worker_started:
            self._worker.stop()
            self._worker_started = False

    def time_window(self) -> float:
        return self._window_s

    def set_time_window(self, seconds: float) -> None:
        self._window_s = float(seconds)
        for tr in self._traces.values():
            tr.buffer.retention_s = self._window_s
        button = self._window_buttons.get(self._window_s, self.custom_window_button)
        button.setChecked(True)
        self.custom_window_button.setText(
            "Custom…" if button is not self.custom_window_button else format_duration(seconds)
        )
        self.set_scrolling(True)
        self._apply_x_range(time.time())

    def is_paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Freeze the picture; samples keep arriving into the buffers."""
        self._paused = bool(paused)
        with _blocked(self.pause_button):
            self.pause_button.setChecked(self._paused)
        if not self._paused:
            for tr in self._traces.values():
                tr.dirty = True

    def set_scrolling(self, scrolling: bool) -> None:
        """Scroll (right edge follows now) or pan (range stays where the operator put it)."""
        self._scrolling = bool(scrolling)
        with _blocked(self.live_button):
            self.live_button.setChecked(self._scrolling)

    def set_autoscale(self, on: bool) -> None:
        self._autoscale = bool(on)
        with _blocked(self.autoscale_button):
            self.autoscale_button.setChecked(self._autoscale)
        for vb, trace in self._views():
            self._apply_y_scaling(vb, trace)

    def set_y_mode(self, mode: str) -> None:
        if mode not in Y_MODES:
            raise ValueError(f"y mode must be one of {Y_MODES}")
        if mode == self._y_mode:
            return
        self._y_mode = mode
        with _blocked(self.y_mode_combo):
            self.y_mode_combo.setCurrentIndex(Y_MODES.index(mode))
        for trace in self._traces.values():
            # While in transit the curve is briefly parentless in the scene, where pyqtgraph
            # would mistake the PlotWidget for its ViewBox and fail; recompute once, after.
            trace.curve.hold_updates()
            for item in (trace.curve, trace.hold):
                vb = item.getViewBox()
                if vb is not None:
                    vb.removeItem(item)
                item.resetTransform()
            trace.norm = (0.0, 1.0)
            self._drop_trace_view(trace)
            target = self._make_trace_view(trace) if mode == "per-trace" else self.view_box
            target.addItem(trace.curve)
            target.addItem(trace.hold)
            trace.curve.release_updates()
        # setLabel() re-shows the axis, so label first, then hide in per-trace mode
        self.plot_item.setLabel("left", "normalised" if mode == "normalised" else None)
        if mode == "per-trace":
            self.plot_item.hideAxis("left")
        self._last_norm_update = 0.0
        self._sync_trace_views()
        self.set_autoscale(self._autoscale)

    def clear_data(self) -> None:
        for tr in self._traces.values():
            tr.buffer.clear()
            tr.dirty = True

    # ---------------------------------------------------------- configuration
    def config(self) -> ChartConfig:
        traces = [
            TraceConfig(
                tr.name,
                tr.color.name(),
                tr.visible,
                *(tr.fixed_range if tr.fixed_range else (None, None)),
            )
            for tr in self._traces.values()
        ]
        return ChartConfig(traces, self._window_s, self._y_mode, self._autoscale)

    def apply_config(self, config: ChartConfig) -> None:
        """Replace the charted PVs, colours, window and Y mode with ``config``."""
        self.clear_pvs()
        self.set_y_mode(config.y_mode)
        for tc in config.traces:
            if self.add_pv(tc.name, tc.color):
                trace = self._traces[tc.name]
                if tc.y_min is not None and tc.y_max is not None and tc.y_max > tc.y_min:
                    trace.fixed_range = (tc.y_min, tc.y_max)
                self.set_visible(tc.name, tc.visible)
                self._sync_legend_check(trace)
        self.set_time_window(config.time_window_s)
        self.set_autoscale(config.autoscale)

    def load_config_file(self, path: str | Path) -> None:
        """Load JSON or ``.stp``; raises ChartConfigError (nothing changes) on a bad file."""
        self.apply_config(load_config(path))

    def save_config_file(self, path: str | Path) -> None:
        self.config().save(path)

    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("strip_chart/config", self.config().to_json())

    def restore_settings(self, settings: QSettings) -> None:
        from caprobe.gui.chart_config import config_from_json

        text = settings.value("strip_chart/config", "", type=str)
        if not text:
            return
        try:
            self.apply_config(config_from_json(text, "saved chart settings"))
        except ChartConfigError as exc:
            self.message.emit(str(exc))

    # ---------------------------------------------------------- export
    def visible_time_range(self) -> tuple[float, float]:
        x0, x1 = self.view_box.viewRange()[0]
        return float(x0), float(x1)

    def export_csv(self, path: str | Path, visible_only: bool = False) -> int:
        """Write samples as CSV (see :func:`caprobe.chart_data.write_csv`); returns rows."""
        t0, t1 = self.visible_time_range() if visible_only else (None, None)
        with open(path, "w", encoding="utf-8", newline="") as out:
            return write_csv(out, self.traces(), t0, t1)

    def export_image(self, path: str | Path) -> None:
        """PNG or SVG of the plot (by suffix), via pyqtgraph's exporters."""
        path = str(path)
        if path.lower().endswith(".svg"):
            exporters.SVGExporter(self.plot_item).export(path)
        else:
            exporter = exporters.ImageExporter(self.plot_item)
            exporter.export(path)

    # ================================================================== data in
    def ingest(self, batch: SampleBatch) -> None:
        """Append one worker batch to the trace buffers (GUI thread, called per ~30 ms)."""
        for name, (t, v, s) in batch.samples.items():
            trace = self._traces.get(name)
            if trace is None:
                continue  # removed while its samples were in flight
            trace.buffer.extend(t, v, s)
            trace.dirty = True
        for name, connected in batch.connection.items():
            trace = self._traces.get(name)
            if trace is not None and trace.connected != connected:
                trace.connected = connected
                trace.ever_connected |= connected
                self._restyle(trace)
        for name, md in batch.metadata.items():
            trace = self._traces.get(name)
            if trace is None:
                continue
            trace.meta = md
            trace.units = md.get("units", "") or ""
            prec = self._precision_overrides.get(name, md.get("precision"))
            trace.precision = int(prec) if prec is not None else None
            lo, hi = md.get("lower_disp_limit"), md.get("upper_disp_limit")
            if lo is not None and hi is not None and float(hi) > float(lo):
                trace.disp_limits = (float(lo), float(hi))
            if trace.axis is not None:
                trace.axis.setLabel(trace.name, units=trace.units or None)

    # ================================================================== drawing
    def _redraw(self) -> None:
        now = time.time()
        if self._paused:
            return
        started = time.perf_counter()
        self._redraw_frame(now)
        # Adapt the frame rate to the frame cost (huge buffers, slow machine): the curves'
        # share of the GUI thread stays under ~1/2 (plus paint), so typing and
        # clicking stay responsive instead of queueing behind redraws.
        cost_ms = 1000 * (time.perf_counter() - started)
        interval = max(self._min_interval_ms, min(500, int(2 * cost_ms)))
        if abs(interval - self._redraw_timer.interval()) > 3:
            self._redraw_timer.setInterval(interval)

    def _redraw_frame(self, now: float) -> None:
        # Pixel-step updates: nothing on screen can change faster than one pixel column, and
        # with a 1 h window a column is ~3 s. Moving the X range makes pyqtgraph re-clip and
        # re-downsample every curve (O(visible samples)), so the range moves only when "now"
        # has advanced half a column, and a dirty curve is re-uploaded at most once per
        # column (or whenever the range moves, since it is recomputed then anyway). The
        # 2-point hold segment still follows every frame, so the live value is never stale.
        step = self._window_s / max(1.0, float(self.view_box.width()))
        move_x = self._scrolling and now - self._x_anchor >= 0.5 * step
        due = [
            tr for tr in self._traces.values()
            if tr.dirty and tr.visible and (move_x or now - tr.last_upload >= step)
        ]  # fmt: skip
        for trace in due:
            trace.curve.hold_updates()  # it recomputes once, in set_samples below
        if move_x:
            self._apply_x_range(now)
        for trace in due:
            trace.curve.set_samples(trace.buffer.times, trace.buffer.values)
            trace.dirty = False
            trace.last_upload = now
            trace.uploaded_end = (trace.buffer.last_time, trace.buffer.last_value)
        for trace in self._traces.values():
            self._update_hold(trace, now)
        if self._y_mode == "normalised" and now - self._last_norm_update > 0.5:
            self._update_normalisation()
            self._last_norm_update = now
        if self._autoscale:
            self._fit_y(now)
        # Apply the new view transforms now: left to the ViewBox's prepareForPaint, the items
        # learn about them during the paint, call update() and cost a second full paint
        # (measured: 2 paints per frame).
        self.view_box.updateMatrix()
        for tr in self._traces.values():
            if tr.view is not None:
                tr.view.updateMatrix()
        self._frames += 1

    def _apply_x_range(self, now: float) -> None:
        if not self._scrolling or self._paused:
            return
        self._setting_range = True
        self._x_anchor = now
        try:
            self.view_box.setXRange(now - self._window_s, now, padding=0)
        finally:
            self._setting_range = False

    def _update_hold(self, trace: _Trace, now: float) -> None:
        """Sample-and-hold from the curve's end to now, through the newest sample.

        The curve itself is re-uploaded at most once per pixel column, so the newest samples
        may not be in it yet: the hold steps from the curve's last point to the newest value
        (samples in between lie within that one column), then holds it to the right edge.
        """
        buf = trace.buffer
        if not (trace.connected and len(buf) and math.isfinite(buf.last_value)):
            trace.hold.setData([], [])
            return
        t_new, v_new = buf.last_time, buf.last_value
        t_up, v_up = trace.uploaded_end
        end = max(now, t_new)
        if math.isfinite(v_up) and t_up < t_new:
            x = np.array([t_up, t_new, t_new, end])
            y = np.array([v_up, v_up, v_new, v_new])
        else:
            x, y = np.array([t_new, end]), np.array([v_new, v_new])
        trace.hold.setData(x, y)

    def _update_normalisation(self) -> None:
        t0, t1 = self.visible_time_range()
        for trace in self._traces.values():
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
            trace.curve.setTransform(tr)
            trace.hold.setTransform(tr)

    def _restyle(self, trace: _Trace) -> None:
        connected = trace.connected is not False
        pen = self._pen(trace.color, connected)
        trace.curve.setPen(pen)
        trace.hold.setPen(pen)
        if trace.axis is not None:
            trace.axis.setPen(pen)
            trace.axis.setTextPen(pen)
        self._update_legend()

    @staticmethod
    def _pen(color: QColor, connected: bool) -> Any:
        # width 1: pyqtgraph's fast path; wider pens cost 2-5x per frame
        if connected:
            return pg.mkPen(color, width=1)
        # solid grey, not dashed: Qt strokes a dashed path of thousands of points several
        # times slower (measured 34 vs 90 frames in 3 s), and the legend says DISCONNECTED
        return pg.mkPen(cafmt.DISCONNECTED_COLOR, width=1)

    def _next_color(self) -> str:
        used = {tr.color.name() for tr in self._traces.values()}
        for c in PALETTE:
            if c not in used:
                return c
        return PALETTE[len(self._traces) % len(PALETTE)]

    # ---------------------------------------------------------- Y axes
    def _views(self) -> list[tuple[pg.ViewBox, _Trace | None]]:
        if self._y_mode == "per-trace":
            return [(tr.view, tr) for tr in self._traces.values() if tr.view is not None]
        return [(self.view_box, None)]

    def _apply_y_scaling(self, vb: pg.ViewBox, trace: _Trace | None) -> None:
        vb.disableAutoRange()  # see _build_ui: autoscale is _fit_y's job
        if trace is not None and trace.fixed_range and not self._autoscale:
            vb.setYRange(*trace.fixed_range, padding=0)
        elif self._y_mode == "normalised" and not self._autoscale:
            vb.setYRange(-0.05, 1.05, padding=0)
        elif self._autoscale:
            self._fit_y(time.time())

    def _fit_y(self, now: float) -> None:
        """Autoscale: fit each Y axis to what is visible, once per frame.

        Bounds come from the curves' display data (clipped, peak-downsampled: the exact
        min/max envelope, a few thousand points) plus the held last value, never from the raw
        buffers, so the cost does not grow with the number of samples.
        """
        x0, x1 = self.visible_time_range()
        for vb, owner in self._views():
            traces = [owner] if owner is not None else list(self._traces.values())
            lo, hi = math.inf, -math.inf
            for tr in traces:
                if not tr.visible:
                    continue
                values = [v for v in tr.curve.dataBounds(1, orthoRange=(x0, x1)) if v is not None]
                buf = tr.buffer
                if len(buf) and math.isfinite(buf.last_value) and buf.last_time <= x1 and now >= x0:
                    values.append(buf.last_value)  # the hold segment
                if self._y_mode == "normalised":
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

    def _make_trace_view(self, trace: _Trace) -> pg.ViewBox:
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
        pen = self._pen(trace.color, trace.connected is not False)
        axis.setPen(pen)
        axis.setTextPen(pen)
        trace.view, trace.axis = vb, axis
        self._relayout_axes()
        self._apply_y_scaling(vb, trace)
        return vb

    def _trace_axes(self) -> list[pg.AxisItem]:
        return [tr.axis for tr in self._traces.values() if tr.axis is not None]

    def _relayout_axes(self) -> None:
        """Per-trace axes stack to the right of the plot in trace order."""
        layout = self.plot_item.layout
        for axis in self._axes_in_layout:
            layout.removeItem(axis)
        self._axes_in_layout = self._trace_axes()
        for col, axis in enumerate(self._axes_in_layout, start=3):
            layout.addItem(axis, 2, col)
            # the hidden left axis drew the horizontal grid; the first trace axis takes over
            axis.setGrid(64 if col == 3 else False)
        self._sync_trace_views()

    def _drop_trace_view(self, trace: _Trace) -> None:
        if trace.axis is not None:
            if trace.axis in self._axes_in_layout:
                self.plot_item.layout.removeItem(trace.axis)
                self._axes_in_layout.remove(trace.axis)
            self.plot_item.scene().removeItem(trace.axis)
        if trace.view is not None:
            self.plot_item.scene().removeItem(trace.view)
        trace.view = trace.axis = None

    def _sync_trace_views(self) -> None:
        rect = self.view_box.sceneBoundingRect()
        for tr in self._traces.values():
            if tr.view is not None:
                tr.view.setGeometry(rect)
                tr.view.linkedViewChanged(self.view_box, tr.view.XAxis)

    # ---------------------------------------------------------- interaction
    def _on_manual_range(self, mask: Any = (True, True)) -> None:
        """The operator dragged or zoomed (``mask``: which axes the gesture moved).

        Moving time stops scrolling so the range stays put (pan mode); moving Y turns
        autoscale off so the next frame does not undo the zoom.
        """
        mask = list(mask) if mask is not None else [True, True]
        if mask[0] and not self._setting_range and self._scrolling:
            self.set_scrolling(False)
        if len(mask) > 1 and mask[1] and self._autoscale:
            self.set_autoscale(False)

    def _on_mouse_moved(self, event: tuple[Any]) -> None:
        pos = event[0]
        if not self.view_box.sceneBoundingRect().contains(pos):
            self.cursor_line.setVisible(False)
            return
        t = self.view_box.mapSceneToView(pos).x()
        self.cursor_line.setPos(t)
        self.cursor_line.setVisible(True)
        self.readout.setText(self.readout_text(t))

    def readout_text(self, t: float) -> str:
        """``time  PV=value units [SEVERITY] ...`` at time ``t`` (held values)."""
        parts = [iso_time(t)[:23].replace("T", " ")]
        for trace in self._traces.values():
            found = trace.buffer.value_at(t)
            if found is None:
                continue
            v, sev = found
            if sev == SEVERITY_DISCONNECTED:
                parts.append(f"{trace.name}: {cafmt.DISCONNECTED_TEXT}")
                continue
            text = f"{trace.name}={self._value_text(trace, v)}"
            if sev:
                text += f" [{cafmt.severity_text(sev)}]"
            parts.append(text)
        return "   ".join(parts)

    def _add_from_edit(self) -> None:
        names = self.pv_edit.text().split()
        for name in names:
            self.add_pv(name)
        self.pv_edit.clear()

    def add_pvs(self, names: Iterable[str]) -> None:
        for name in names:
            self.add_pv(name)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasText():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        text = event.mimeData().text()
        if text:
            self.add_pvs(text.split())
            event.acceptProposedAction()

    def _ask_custom_window(self) -> None:
        text, prompt = format_duration(self._window_s), "Show the last (e.g. 90 s, 5 min, 2 h):"
        while True:  # a bad entry asks again, with the reason, keeping what was typed
            text, ok = QInputDialog.getText(self, "Time window", prompt, text=text)
            if not ok:
                self._window_buttons.get(self._window_s,
                                         self.custom_window_button).setChecked(True)
                return
            try:
                self.set_time_window(parse_duration(text))
                return
            except ValueError as exc:
                prompt = f"{exc}\nShow the last (e.g. 90 s, 5 min, 2 h):"

    # ---------------------------------------------------------- legend
    def _add_legend_row(self, trace: _Trace) -> None:
        row = self.legend.rowCount()
        self.legend.insertRow(row)
        with _blocked(self.legend):
            swatch = QTableWidgetItem()
            swatch.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled | Qt.ItemIsSelectable)
            swatch.setCheckState(Qt.Checked if trace.visible else Qt.Unchecked)
            self.legend.setItem(row, 0, swatch)
            self.legend.setItem(row, 1, QTableWidgetItem(trace.name))
            value = QTableWidgetItem("")
            value.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
            self.legend.setItem(row, 2, value)
            self.legend.setItem(row, 3, QTableWidgetItem(""))
        self._update_legend()

    def _legend_row(self, name: str) -> int:
        for row in range(self.legend.rowCount()):
            if self.legend.item(row, 1).text() == name:
                return row
        return -1

    def _sync_legend_check(self, trace: _Trace) -> None:
        row = self._legend_row(trace.name)
        if row >= 0:
            with _blocked(self.legend):
                self.legend.item(row, 0).setCheckState(
                    Qt.Checked if trace.visible else Qt.Unchecked
                )

    def _update_legend(self) -> None:
        with _blocked(self.legend):
            for row in range(self.legend.rowCount()):
                trace = self._traces.get(self.legend.item(row, 1).text())
                if trace is None:
                    continue
                self._fill_legend_row(row, trace)

    def _fill_legend_row(self, row: int, trace: _Trace) -> None:
        buf = trace.buffer
        if trace.connected is None:
            value_text, alarm, color = "", "searching…", None
        elif not trace.connected and not trace.ever_connected:
            value_text, alarm, color = "", "NOT FOUND", cafmt.DISCONNECTED_COLOR
        elif not trace.connected:
            value_text = "" if not len(buf) else self._last_finite_text(trace)
            alarm, color = cafmt.DISCONNECTED_TEXT, cafmt.DISCONNECTED_COLOR
        else:
            sev = buf.last_severity
            value_text = self._value_text(trace, buf.last_value) if len(buf) else ""
            alarm = cafmt.severity_text(sev) if sev != SEVERITY_DISCONNECTED else ""
            color = cafmt.ALARM_COLORS.get(sev)
        value_item = self.legend.item(row, 2)
        if value_item.text() != value_text:  # setText relayouts the table: only on change
            value_item.setText(value_text)
        style = (trace.color.name(), trace.connected, alarm, color, trace.units)
        if style == trace.legend_style:
            return
        trace.legend_style = style
        swatch = self.legend.item(row, 0)
        pix = QPixmap(14, 14)
        pix.fill(trace.color if trace.connected is not False else QColor(cafmt.DISCONNECTED_COLOR))
        swatch.setIcon(QIcon(pix))
        alarm_item = self.legend.item(row, 3)
        alarm_item.setText(alarm)
        if color is None:
            alarm_item.setBackground(QBrush())
            alarm_item.setForeground(QBrush())
        else:
            c = QColor(color)
            alarm_item.setBackground(QBrush(c))
            lum = 0.299 * c.red() + 0.587 * c.green() + 0.114 * c.blue()
            alarm_item.setForeground(QBrush(QColor("#000000" if lum > 140 else "#ffffff")))
        value_item.setForeground(
            QBrush(QColor(cafmt.DISCONNECTED_COLOR)) if trace.connected is False else QBrush()
        )
        self.legend.item(row, 1).setToolTip(
            trace.name + (f"\nunits: {trace.units}" if trace.units else "")
        )

    @staticmethod
    def _value_text(trace: _Trace, value: float) -> str:
        """Value with PREC and units; enum PVs (plotted as their index) also show the label."""
        enums = trace.meta.get("enum_strings")
        if enums and math.isfinite(value) and value == int(value) and 0 <= value < len(enums):
            return f"{int(value)} ({enums[int(value)]})"
        return _format_value(value, trace.precision, trace.units)

    @staticmethod
    def _last_finite_text(trace: _Trace) -> str:
        tail = trace.buffer.values[-1000:]
        finite = tail[np.isfinite(tail)]
        if not len(finite):
            return ""
        return f"({StripChartPanel._value_text(trace, float(finite[-1]))})"

    def _legend_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        name = self.legend.item(item.row(), 1).text()
        if name in self._traces:
            self.set_visible(name, item.checkState() == Qt.Checked)

    def _legend_double_clicked(self, row: int, column: int) -> None:
        if column == 0:
            self._recolour_dialog(self.legend.item(row, 1).text())

    def _recolour_dialog(self, name: str) -> None:
        trace = self._traces.get(name)
        if trace is None:
            return
        color = QColorDialog.getColor(trace.color, self, f"Colour of {name}")
        if color.isValid():
            self.set_color(name, color)

    def _legend_menu(self, pos: Any) -> None:
        item = self.legend.itemAt(pos)
        if item is None:
            return
        name = self.legend.item(item.row(), 1).text()
        menu = QMenu(self)
        menu.addAction("Change colour…", lambda: self._recolour_dialog(name))
        menu.addAction(f"Remove {name}", lambda: self.remove_pv(name))
        menu.addAction("Copy PV name", lambda: pg.QtWidgets.QApplication.clipboard().setText(name))
        menu.exec_(self.legend.viewport().mapToGlobal(pos))

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key_Delete and self.legend.hasFocus():
            rows = {i.row() for i in self.legend.selectedItems()}
            for name in [self.legend.item(r, 1).text() for r in rows]:
                self.remove_pv(name)
            return
        super().keyPressEvent(event)

    # ---------------------------------------------------------- dialogs
    def _export_csv_dialog(self, visible_only: bool) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", "strip-chart.csv", "CSV (*.csv)")
        if path:
            try:
                rows = self.export_csv(path, visible_only)
            except OSError as exc:
                QMessageBox.warning(self, "Export CSV", f"Cannot write {path}: {exc.strerror}")
                return
            self.message.emit(f"exported {rows:,} samples to {path}")

    def _export_image_dialog(self, kind: str) -> None:
        save_plot_dialog(self, kind, "strip-chart", self.export_image)

    def _load_config_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open chart configuration", "", "Chart configurations (*.json *.stp);;All (*)"
        )
        if path:
            try:
                self.load_config_file(path)
            except ChartConfigError as exc:
                QMessageBox.warning(self, "Open configuration", str(exc))

    def _save_config_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save chart configuration", "strip-chart.json", "JSON (*.json)"
        )
        if path:
            try:
                self.save_config_file(path)
            except OSError as exc:
                QMessageBox.warning(self, "Save configuration", f"Cannot write {path}: {exc}")


@contextlib.contextmanager
def _blocked(obj: Any) -> Iterator[None]:
    """Silence a widget's signals while the program (not the operator) changes it."""
    old = obj.blockSignals(True)
    try:
        yield
    finally:
        obj.blockSignals(old)
