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

import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QDragEnterEvent, QDropEvent
from PyQt5.QtWidgets import (
    QApplication,
    QButtonGroup,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from caprobe import format as cafmt
from caprobe.chart_data import (
    DEFAULT_MAX_SAMPLES,
    SEVERITY_DISCONNECTED,
    SampleBatch,
    TraceBuffer,
    iso_time,
    write_csv_aligned,
)
from caprobe.gui.chart.axes import ChartAxes
from caprobe.gui.chart.cursors import ChartCursors, CursorReadout
from caprobe.gui.chart.export import export_plot_image, export_samples_csv, save_plot_dialog
from caprobe.gui.chart.legend import MAX_HEIGHT_SHARE, ChartLegend, blocked
from caprobe.gui.chart.plot import ChartPlot
from caprobe.gui.chart.statistics import VisibleStatistics
from caprobe.gui.chart.timewindow import TIME_WINDOWS, format_duration, parse_duration
from caprobe.gui.chart.traces import (
    BACKGROUND,
    PALETTE,
    Trace,
    last_finite_before,
    make_marks,
    make_trace,
    style_marks,
    trace_pen,
    value_text,
)
from caprobe.gui.chart_config import (
    Y_MODES,
    ChartConfig,
    ChartConfigError,
    TraceConfig,
    load_config,
)
from caprobe.gui.chart_worker import ChartWorker

MAX_REDRAW_HZ = 30.0
#: The legend's refresh period (values; statistics on every tick they are due).
LEGEND_TICK_MS = 200
PAUSED_TEXT = "PAUSED — samples are still recorded; Resume to follow them"
PAUSE_BUTTON_STYLE = "QToolButton { background-color: #ffb300; color: #000000; font-weight: bold; }"


class StripChartPanel(QWidget):
    """Multi-PV strip chart with its toolbar, legend and cursor readout.

    Public API used by the main window: :meth:`add_pv`, :meth:`remove_pv`, :meth:`pv_names`,
    :meth:`shutdown`, :meth:`save_settings`, :meth:`restore_settings`; PV names dropped as
    text are added. ``worker`` may be injected (tests use a fake without CA).
    """

    #: One-line operator message (bad PV name, export done, worker error) for a status bar.
    message = pyqtSignal(str)
    #: The operator asked to see an array PV as a waveform. With nothing connected to it
    #: the panel opens a waveform window of its own.
    waveform_requested = pyqtSignal(str)

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
        self._traces: dict[str, Trace] = {}
        self._precision_overrides: dict[str, int] = {}
        self._max_samples = max_samples
        self._window_s = 60.0
        self._paused = False
        self._scrolling = True
        self._autoscale = True
        self._y_mode = "shared"
        self._log_shared = False  # log10 on the shared (or normalised: never) Y axis
        self._statistics = VisibleStatistics()
        self._refusal: tuple[str, float] | None = None  # (note, shown until monotonic time)
        self._waveform_windows: list[QWidget] = []
        self._setting_range = False  # our own setXRange, not the operator panning
        self._x_anchor = 0.0  # "now" at the last scroll step
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
        self._legend_timer.setInterval(LEGEND_TICK_MS)
        self._legend_timer.timeout.connect(self._legend_tick)
        self._legend_timer.start()
        # statistics (and the log axis' count of values <= 0) of the visible range: on the
        # legend's tick when due (VisibleStatistics.due: the interval stretches with their
        # cost); this single-shot timer only serves "now" requests (shown, scale changed)
        self._stats_timer = QTimer(self)
        self._stats_timer.setSingleShot(True)
        self._stats_timer.timeout.connect(self._update_statistics)
        self._refusal_timer = QTimer(self)
        self._refusal_timer.setSingleShot(True)
        self._refusal_timer.timeout.connect(lambda: self._schedule_statistics(0))
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
        self.log_button = QToolButton(text="Log Y", checkable=True)
        self.log_button.setToolTip(
            "log10 Y axis. Values <= 0 cannot be drawn on it: the plot says how many are in view.\n"
            "With one Y axis per trace, right-click a legend row for that trace's axis."
        )
        self.log_button.toggled.connect(self.set_log_y)
        self.stats_button = QToolButton(text="Statistics", checkable=True)
        self.stats_button.setToolTip(
            "Min, max, mean, standard deviation, count, first and last time of the samples\n"
            "in the visible range, per trace (right-click the legend to copy)"
        )
        self.stats_button.toggled.connect(self.show_statistics)
        self.cursors_button = QToolButton(text="Cursors", checkable=True)
        self.cursors_button.setToolTip(
            "Two time cursors A and B (drag them): every trace's value at each and B − A"
        )
        self.cursors_button.toggled.connect(self.show_cursors)
        # a push button draws its menu arrow inside its own width (a QToolButton's spills
        # over its right border in the Fusion style)
        self.file_button = QPushButton("File")
        menu = QMenu(self.file_button)
        menu.addAction("Export visible range as CSV, time-aligned…",
                       lambda: self._export_csv_dialog(True, True))
        menu.addAction("Export visible range as CSV, one row per sample…",
                       lambda: self._export_csv_dialog(True, False))
        menu.addAction("Export whole buffer as CSV, time-aligned…",
                       lambda: self._export_csv_dialog(False, True))
        menu.addAction("Export whole buffer as CSV, one row per sample…",
                       lambda: self._export_csv_dialog(False, False))
        menu.addAction("Export statistics as CSV…", self._export_statistics_dialog)
        menu.addAction("Save plot image (PNG)…", lambda: self._export_image_dialog("png"))
        menu.addAction("Save plot image (SVG)…", lambda: self._export_image_dialog("svg"))
        menu.addSeparator()
        menu.addAction("Open configuration (JSON or StripTool .stp)…", self._load_config_dialog)
        menu.addAction("Save configuration…", self._save_config_dialog)
        menu.addSeparator()
        menu.addAction("Clear data", self.clear_data)
        self.file_button.setMenu(menu)

        # two rows that each fit 800 px with the larger fonts of a zoomed window: the PV entry
        # (it gives way first) with the axis and analysis tools, then time and motion
        entry_row = QHBoxLayout()
        entry_row.addWidget(self.pv_edit, 1)
        entry_row.addWidget(add_button)
        entry_row.addSpacing(8)
        entry_row.addWidget(self.y_mode_combo)
        entry_row.addWidget(self.log_button)
        entry_row.addWidget(self.stats_button)
        entry_row.addWidget(self.cursors_button)
        entry_row.addWidget(self.file_button)
        controls_row = QHBoxLayout()
        controls_row.addLayout(window_row)
        controls_row.addSpacing(12)
        for w in (self.pause_button, self.live_button, self.autoscale_button):
            controls_row.addWidget(w)
        controls_row.addStretch(1)

        self.plot_widget = ChartPlot(self)
        self.plot_widget.setBackground(BACKGROUND)
        self.plot_item: pg.PlotItem = self.plot_widget.getPlotItem()
        self.plot_item.showGrid(x=True, y=True, alpha=0.25)
        self.plot_item.setMenuEnabled(False)  # its "View All" would re-enable X auto-range
        self.plot_item.hideButtons()
        self.view_box: pg.ViewBox = self.plot_item.getViewBox()
        # No ViewBox auto-range at all: X follows the time window (and must not auto-range,
        # or clip-to-view is skipped), Y is fitted by ChartAxes.fit once per frame (the ViewBox's
        # own Y auto-range runs in every paint and its range change schedules a second paint)
        self.view_box.disableAutoRange()
        self.view_box.sigRangeChangedManually.connect(self._on_manual_range)
        self._axes = ChartAxes(self.plot_item, self._on_manual_range)
        self._axes.traces = self._traces
        self.view_box.sigResized.connect(self._axes.sync_views)
        left = self.plot_item.getAxis("left")
        left.enableAutoSIPrefix(False)
        self.plot_item.getAxis("bottom").enableAutoSIPrefix(False)
        self.cursor_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#808080", width=1))
        self.cursor_line.setVisible(False)
        self.plot_item.addItem(self.cursor_line, ignoreBounds=True)
        self._mouse_proxy = pg.SignalProxy(
            self.plot_widget.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse_moved
        )

        self.legend = ChartLegend()
        self.legend.visibility_toggled.connect(self._legend_visibility)
        self.legend.recolour_requested.connect(self._recolour_dialog)
        self.legend.remove_requested.connect(self.remove_pv)
        self.legend.log_toggled.connect(self.set_trace_log)
        self.legend.waveform_requested.connect(self.open_waveform)
        self.legend.copy_statistics_requested.connect(self.copy_statistics)
        self.legend.statistics = self._statistics
        self.legend.height_changed.connect(self._fit_legend)
        self.cursors = ChartCursors(self.plot_item)
        self.cursors.moved.connect(self._update_cursor_readout)
        self.cursor_readout = CursorReadout()
        self.cursor_readout.hide()

        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.readout.setToolTip("Time and values under the mouse cursor")

        splitter = self.splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.plot_widget)
        splitter.addWidget(self.legend)
        splitter.addWidget(self.cursor_readout)
        # The plot gets the height; the legend is sized to its rows (_fit_legend).
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setStretchFactor(2, 0)
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(7)
        splitter.setStyleSheet(
            "QSplitter::handle:vertical { background: qlineargradient(x1:0, y1:0, x2:0, y2:1,"
            " stop:0 transparent, stop:0.35 transparent, stop:0.36 #707070, stop:0.64 #707070,"
            " stop:0.65 transparent); }"
        )
        splitter.handle(1).setToolTip("Drag to give the plot or the legend more height")
        splitter.handle(1).setCursor(Qt.SplitVCursor)
        splitter.setSizes([480, 60, 0])
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
        trace = make_trace(name, qcolor, TraceBuffer(self._max_samples, self._window_s))
        self._traces[name] = trace
        target = self.view_box
        if self._y_mode == "per-trace":
            target = self._make_trace_view(trace)
        for item in trace.items():
            target.addItem(item)
        self.legend.add_trace(trace)
        self._restyle(trace)
        self._apply_log(trace)
        self._fit_legend()
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
        for item in trace.items():
            vb = item.getViewBox()
            if vb is not None:
                vb.removeItem(item)
        self._axes.drop_trace_view(trace)
        self.legend.remove_trace(name)
        self._axes.relayout()
        self._fit_legend()

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
        for item in trace.items():
            item.setVisible(visible)
        if trace.axis is not None:
            trace.axis.setVisible(visible)

    def shutdown(self) -> None:
        """Stop redrawing, interrupt and join the CA worker (prompt even on silent PVs)."""
        self._redraw_timer.stop()
        self._legend_timer.stop()
        self._stats_timer.stop()
        self._refusal_timer.stop()
        for window in list(self._waveform_windows):
            window.close()
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
        with blocked(self.pause_button):
            self.pause_button.setChecked(self._paused)
        # unmistakable: the button says what it will do, the plot says PAUSED, the legend
        # values stop with the picture (the buffers keep filling)
        self.pause_button.setText("Resume" if self._paused else "Pause")
        self.pause_button.setStyleSheet(PAUSE_BUTTON_STYLE if self._paused else "")
        self.pause_button.setToolTip(
            "Resume: follow the data again (nothing was lost while paused)" if self._paused
            else "Freeze the picture; samples keep being recorded"
        )  # fmt: skip
        self.plot_widget.set_banner(PAUSED_TEXT if self._paused else "")
        if not self._paused:
            for tr in self._traces.values():
                tr.dirty = True
            self._update_legend()

    def set_scrolling(self, scrolling: bool) -> None:
        """Scroll (right edge follows now) or pan (range stays where the operator put it)."""
        self._scrolling = bool(scrolling)
        with blocked(self.live_button):
            self.live_button.setChecked(self._scrolling)

    def set_autoscale(self, on: bool) -> None:
        self._autoscale = bool(on)
        with blocked(self.autoscale_button):
            self.autoscale_button.setChecked(self._autoscale)
        for vb, trace in self._axes.views():
            self._apply_y_scaling(vb, trace)

    def set_y_mode(self, mode: str) -> None:
        if mode not in Y_MODES:
            raise ValueError(f"y mode must be one of {Y_MODES}")
        if mode == self._y_mode:
            return
        self._y_mode = mode
        self._axes.mode = mode
        with blocked(self.y_mode_combo):
            self.y_mode_combo.setCurrentIndex(Y_MODES.index(mode))
        for trace in self._traces.values():
            # While in transit the curve is briefly parentless in the scene, where pyqtgraph
            # would mistake the PlotWidget for its ViewBox and fail; recompute once, after.
            trace.curve.hold_updates()
            for item in trace.items():
                vb = item.getViewBox()
                if vb is not None:
                    vb.removeItem(item)
                item.resetTransform()
            trace.norm = (0.0, 1.0)
            self._axes.drop_trace_view(trace)
            target = self._make_trace_view(trace) if mode == "per-trace" else self.view_box
            for item in trace.items():
                target.addItem(item)
            trace.curve.release_updates()
        # setLabel() re-shows the axis, so label first, then hide in per-trace mode
        self.plot_item.setLabel("left", "normalised" if mode == "normalised" else None)
        if mode == "per-trace":
            self.plot_item.hideAxis("left")
        self._last_norm_update = 0.0
        self._axes.sync_views()
        self.legend.per_trace_log = mode == "per-trace"
        self.log_button.setEnabled(mode != "normalised")
        for trace in self._traces.values():
            if mode != "per-trace":
                trace.log = self._log_shared and mode == "shared"
            self._apply_log(trace)
        self.set_autoscale(self._autoscale)

    def clear_data(self) -> None:
        for tr in self._traces.values():
            tr.buffer.clear()
            tr.gap_marks.clear()
            self._update_marks(tr)
            tr.dirty = True

    # ---------------------------------------------------------- log axes
    def is_log_y(self, name: str | None = None) -> bool:
        """Log scale of the shared axis, or of ``name``'s trace."""
        return self._log_shared if name is None else self._traces[name].log

    def set_log_y(self, on: bool) -> None:
        """log10 Y on the shared axis, or on every trace's axis in per-trace mode."""
        on = bool(on) and self._y_mode != "normalised"
        self._log_shared = on
        with blocked(self.log_button):
            self.log_button.setChecked(on)
        for trace in self._traces.values():
            trace.log = on
            self._apply_log(trace)
        self._after_scale_change()

    def set_trace_log(self, name: str, on: bool) -> None:
        """log10 Y for one trace's own axis (per-trace mode; otherwise the shared axis)."""
        if self._y_mode != "per-trace":
            self.set_log_y(on)
            return
        trace = self._traces[name]
        trace.log = bool(on)
        self._apply_log(trace)
        self._after_scale_change()

    def _apply_log(self, trace: Trace) -> None:
        log = trace.log and self._y_mode != "normalised"
        trace.log = log
        trace.curve.setLogMode(False, log)
        if trace.marks is not None:
            trace.marks.setLogMode(False, log)
        axis = trace.axis if trace.axis is not None else self.plot_item.getAxis("left")
        if trace.axis is not None or self._y_mode != "per-trace":
            axis.setLogMode(False, log)
        trace.legend_style = ()  # the legend tooltip names the log axis
        self._update_hold(trace, time.time())

    def _after_scale_change(self) -> None:
        for vb, owner in self._axes.views():
            vb.setYRange(-1, 1, padding=0)  # old linear range means nothing on a log axis
            self._apply_y_scaling(vb, owner)
        self._schedule_statistics(0)
        self._update_legend()

    # ---------------------------------------------------------- statistics
    def show_statistics(self, shown: bool) -> None:
        with blocked(self.stats_button):
            self.stats_button.setChecked(bool(shown))
        self.legend.show_statistics(bool(shown))
        self._fit_legend()
        if shown:
            self._schedule_statistics(0)

    def statistics(self) -> dict[str, Any]:
        """The last statistics per PV (:class:`~caprobe.chart_data.TraceStats`)."""
        return dict(self._statistics.results)

    def statistics_table(self) -> list[list[str]]:
        return self._statistics.table(self._traces)

    def copy_statistics(self) -> None:
        self._update_statistics(force=True)
        QApplication.clipboard().setText(self._statistics.as_tsv(self._traces))
        self.message.emit("statistics of the visible range copied (tab-separated)")

    def _statistics_wanted(self) -> bool:
        return self.legend.statistics_shown() or any(tr.log for tr in self._traces.values())

    def _schedule_statistics(self, delay_ms: int = 0) -> None:
        """Statistics after ``delay_ms`` (the legend's tick keeps them current after that)."""
        if not self._statistics_wanted():
            self.plot_widget.set_note(self._refusal_note())
            return
        if not self._stats_timer.isActive():
            self._stats_timer.start(delay_ms)

    def _update_statistics(self, force: bool = False) -> None:
        if not (self._statistics_wanted() or force):
            return
        # paused too: the range is frozen then, so the statistics are of what is shown
        t0, t1 = self.visible_time_range()
        if self._statistics.update(self._traces, t0, t1):
            self.legend.refresh_statistics(self._traces)
        self.plot_widget.set_note(self._log_note() or self._refusal_note())

    def _log_note(self) -> str:
        """What a log axis cannot draw: values <= 0 in view, named per trace."""
        parts = []
        for name, tr in self._traces.items():
            st = self._statistics.results.get(name)
            if tr.log and tr.visible and st is not None and st.non_positive:
                parts.append(f"{name}: {st.non_positive:,} value(s) ≤ 0")
        if not parts:
            return ""
        return "Log scale cannot draw values ≤ 0 (gaps in the line): " + "; ".join(parts)

    def _refusal_note(self) -> str:
        if self._refusal and time.monotonic() < self._refusal[1]:
            return self._refusal[0]
        return ""

    # ---------------------------------------------------------- cursors
    def show_cursors(self, shown: bool) -> None:
        """Two cursors at 1/3 and 2/3 of the visible range, and their readout table."""
        with blocked(self.cursors_button):
            self.cursors_button.setChecked(bool(shown))
        if shown and not self.cursors.is_shown():
            t0, t1 = self.visible_time_range()
            self.cursors.show_at(t0 + (t1 - t0) / 3, t0 + 2 * (t1 - t0) / 3)
        elif not shown:
            self.cursors.hide()
        self.cursor_readout.setVisible(bool(shown))
        if shown:
            self._update_cursor_readout()
        self._fit_legend()

    def set_cursors(self, t_a: float, t_b: float) -> None:
        if not self.cursors.is_shown():
            self.show_cursors(True)
        self.cursors.set_positions(t_a, t_b)
        self._update_cursor_readout()

    def cursor_positions(self) -> tuple[float, float]:
        return self.cursors.positions()

    def _update_cursor_readout(self) -> None:
        if self.cursors.is_shown():
            self.cursor_readout.refresh(self._traces, *self.cursors.positions())

    # ---------------------------------------------------------- legend height
    def _fit_legend(self) -> None:
        """Give the legend the height of its rows, up to MAX_HEIGHT_SHARE of the chart; the
        cursor table likewise; the plot keeps the rest."""
        sizes = self.splitter.sizes()
        total = sum(sizes) or max(self.splitter.height(), 300)
        legend_h = min(self.legend.preferred_height(), int(MAX_HEIGHT_SHARE * total))
        readout_h = 0
        if self.cursor_readout.isVisibleTo(self):
            rows = self.cursor_readout.table.rowCount()
            readout_h = min(
                self.cursor_readout.times.sizeHint().height() + 8
                + self.cursor_readout.table.horizontalHeader().sizeHint().height()
                + self.legend.row_height * max(1, rows),
                int(0.3 * total),
            )  # fmt: skip
        self.splitter.setSizes([max(120, total - legend_h - readout_h), legend_h, readout_h])

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit_legend()

    # ---------------------------------------------------------- arrays
    def open_waveform(self, name: str) -> None:
        """Show ``name`` in a waveform view: the main window's when it listens, else a
        window of this panel's own."""
        if self.receivers(self.waveform_requested) > 0:
            self.waveform_requested.emit(name)
            return
        from caprobe.gui.waveform import WaveformView

        view = WaveformView()
        view.setWindowTitle(f"{name} — waveform")
        view.setAttribute(Qt.WA_DeleteOnClose)
        view.resize(800, 450)
        view.set_pv(name)
        self._waveform_windows.append(view)
        view.destroyed.connect(lambda *_: self._forget_window(view))
        view.show()

    def waveform_windows(self) -> list[QWidget]:
        return list(self._waveform_windows)

    def _forget_window(self, view: QWidget) -> None:
        if view in self._waveform_windows:
            self._waveform_windows.remove(view)

    # ---------------------------------------------------------- configuration
    def config(self) -> ChartConfig:
        traces = [
            TraceConfig(
                tr.name,
                tr.color.name(),
                tr.visible,
                *(tr.fixed_range if tr.fixed_range else (None, None)),
                log=tr.log and self._y_mode == "per-trace",
            )
            for tr in self._traces.values()
        ]
        return ChartConfig(traces, self._window_s, self._y_mode, self._autoscale,
                           log_y=self._log_shared)

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
                self.legend.sync_check(trace)
        self.set_log_y(config.log_y)
        if config.y_mode == "per-trace":
            for tc in config.traces:
                if tc.log and tc.name in self._traces:
                    self.set_trace_log(tc.name, True)
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

    def export_csv(self, path: str | Path, visible_only: bool = False,
                   aligned: bool = False) -> int:
        """Write the samples as CSV; returns the rows written.

        ``aligned``: one row per distinct time, value and severity columns per PV (held
        values, units in the header: :func:`~caprobe.chart_data.write_csv_aligned`); else one
        row per sample (:func:`~caprobe.chart_data.write_csv`). ``visible_only``: the
        visible time range, else the whole buffer.
        """
        t0, t1 = self.visible_time_range() if visible_only else (None, None)
        units = {name: tr.units for name, tr in self._traces.items()}
        if aligned:
            with open(path, "w", encoding="utf-8", newline="") as out:
                return write_csv_aligned(out, self.traces(), t0, t1, units=units)
        return export_samples_csv(path, self.traces(), t0, t1, units=units)

    def export_statistics(self, path: str | Path) -> int:
        """The statistics of the visible range as CSV (full precision); returns rows."""
        self._update_statistics(force=True)
        Path(path).write_text(self._statistics.as_csv(self._traces), encoding="utf-8")
        return len(self._traces)

    def export_image(self, path: str | Path) -> None:
        """PNG or SVG of the plot (by suffix), via pyqtgraph's exporters."""
        export_plot_image(self.plot_item, path)

    # ================================================================== data in
    def ingest(self, batch: SampleBatch) -> None:
        """Append one worker batch to the trace buffers (GUI thread, called per ~30 ms)."""
        for name, (t, v, s) in batch.samples.items():
            trace = self._traces.get(name)
            if trace is None:
                continue  # removed while its samples were in flight
            trace.buffer.extend(t, v, s)
            trace.dirty = True
            if (s == SEVERITY_DISCONNECTED).any():
                self._mark_gaps(trace, t[s == SEVERITY_DISCONNECTED])
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
            if md.get("native_type") == "STRING":
                self._refuse(name, f"{name} is a string PV (DBR_STRING): a strip chart plots "
                                   "numbers, so it was not added")
                continue
            trace.meta = md
            count = int(md.get("element_count", 1) or 1)
            if count > 1 and trace.element_count != count:
                self.message.emit(
                    f"{name} is an array of {count} elements: the chart plots element 0 "
                    "(right-click its legend row: Open in waveform view)"
                )  # fmt: skip
            trace.element_count = count
            trace.units = md.get("units", "") or ""
            prec = self._precision_overrides.get(name, md.get("precision"))
            trace.precision = int(prec) if prec is not None else None
            lo, hi = md.get("lower_disp_limit"), md.get("upper_disp_limit")
            if lo is not None and hi is not None and float(hi) > float(lo):
                trace.disp_limits = (float(lo), float(hi))
            if trace.axis is not None:
                trace.axis.setLabel(trace.name, units=trace.units or None)
            trace.legend_style = ()  # units or the array note changed: restyle the row

    def _refuse(self, name: str, reason: str) -> None:
        """Take a PV the chart cannot plot off again, saying why (status bar and plot)."""
        self.remove_pv(name)
        self.message.emit(reason)
        self._refusal = (reason, time.monotonic() + 15.0)
        self.plot_widget.set_note(reason)
        self._refusal_timer.start(15500)  # then the note goes (unless another note is due)

    def refusal(self) -> str:
        """The last refusal note while it is shown on the plot, else ""."""
        return self._refusal_note()

    def _mark_gaps(self, trace: Trace, gap_times: np.ndarray) -> None:
        """A cross at the last value before each disconnect, in the trace's colour."""
        for tg in gap_times.tolist():
            trace.gap_marks.append((tg, last_finite_before(trace, tg)))
        self._update_marks(trace)

    def _update_marks(self, trace: Trace) -> None:
        if len(trace.buffer):  # marks older than the buffer went with its data
            first = float(trace.buffer.times[0])
            trace.gap_marks = [m for m in trace.gap_marks if m[0] >= first]
        marks = [m for m in trace.gap_marks if math.isfinite(m[1])]
        if trace.marks is None:
            if not marks:
                return
            trace.marks = make_marks(trace)
            trace.marks.setTransform(trace.curve.transform())  # normalised mode
            trace.marks.setVisible(trace.visible)
            view = trace.curve.getViewBox()
            if view is not None:
                view.addItem(trace.marks)
        trace.marks.setData([m[0] for m in marks], [m[1] for m in marks])

    def gap_marks(self, name: str) -> list[tuple[float, float]]:
        """(time, value) of each disconnect marker of ``name``'s trace."""
        return list(self._traces[name].gap_marks)

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
            self._axes.update_normalisation(*self.visible_time_range())
            self._last_norm_update = now
        if self._autoscale:
            self._axes.fit(*self.visible_time_range(), now)
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

    def _update_hold(self, trace: Trace, now: float) -> None:
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
        if trace.log:  # the hold is a plain curve: map it as the log-mode curve maps its data
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
        trace.hold.setData(x, y)

    def _restyle(self, trace: Trace) -> None:
        pen = trace_pen(trace.color)
        trace.curve.setPen(pen)
        trace.hold.setPen(pen)
        if trace.marks is not None:
            style_marks(trace.marks, trace.color)
        if trace.axis is not None:
            trace.axis.setPen(pen)
            trace.axis.setTextPen(pen)
        self._update_legend()

    def _next_color(self) -> str:
        used = {tr.color.name() for tr in self._traces.values()}
        for c in PALETTE:
            if c not in used:
                return c
        return PALETTE[len(self._traces) % len(PALETTE)]

    # ---------------------------------------------------------- Y axes
    def _make_trace_view(self, trace: Trace) -> pg.ViewBox:
        vb = self._axes.make_trace_view(trace)
        self._apply_y_scaling(vb, trace)
        return vb

    def _apply_y_scaling(self, vb: pg.ViewBox, trace: Trace | None) -> None:
        vb.disableAutoRange()  # see _build_ui: autoscale is ChartAxes.fit's job
        if trace is not None and trace.fixed_range and not self._autoscale:
            lo, hi = trace.fixed_range
            if trace.log:  # the view of a log axis is in decades
                lo = math.log10(lo) if lo > 0 else (math.log10(hi) - 6 if hi > 0 else -1.0)
                hi = math.log10(hi) if hi > 0 else lo + 1
            vb.setYRange(lo, hi, padding=0)
        elif self._y_mode == "normalised" and not self._autoscale:
            vb.setYRange(-0.05, 1.05, padding=0)
        elif self._autoscale:
            self._axes.fit(*self.visible_time_range(), time.time())

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
            text = f"{trace.name}={value_text(trace, v)}"
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
    def _legend_tick(self) -> None:
        """The legend's refresh: values every tick and statistics when due, in the same tick
        so that their changed cells are painted together (one paint of the legend, not two:
        a paint costs 0.2-0.5 ms of the GUI thread whatever changed)."""
        if self._statistics_wanted() and self._statistics.due():
            self._update_statistics()
        self._update_legend()

    def _update_legend(self) -> None:
        self.legend.refresh(self._traces, values=not self._paused)
        if not self._paused:
            self._update_cursor_readout()

    def _legend_visibility(self, name: str, visible: bool) -> None:
        if name in self._traces:
            self.set_visible(name, visible)

    def _recolour_dialog(self, name: str) -> None:
        trace = self._traces.get(name)
        if trace is None:
            return
        color = QColorDialog.getColor(trace.color, self, f"Colour of {name}")
        if color.isValid():
            self.set_color(name, color)

    def _export_csv_dialog(self, visible_only: bool, aligned: bool) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", "strip-chart.csv", "CSV (*.csv)")
        if path:
            try:
                rows = self.export_csv(path, visible_only, aligned)
            except OSError as exc:
                QMessageBox.warning(self, "Export CSV", f"Cannot write {path}: {exc.strerror}")
                return
            what = "time-aligned rows" if aligned else "samples"
            self.message.emit(f"exported {rows:,} {what} to {path}")

    def _export_statistics_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export statistics", "strip-chart-statistics.csv", "CSV (*.csv)"
        )
        if path:
            try:
                self.export_statistics(path)
            except OSError as exc:
                QMessageBox.warning(self, "Export statistics", f"Cannot write {path}: {exc.strerror}")
                return
            self.message.emit(f"statistics of the visible range written to {path}")

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
