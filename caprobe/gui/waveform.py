"""Waveform view: array PVs plotted live, against element index or against another array PV.

Several array PVs can be overlaid in one plot (each with its colour and a legend row), and an
optional X array PV turns the plot into an XY plot (value against another PV, as EPICS XY plots
do). Each PV has its own worker with :class:`~caprobe.gui.chart_worker.WaveformWorker`'s
interface (``waveform_ready``, ``connection_changed``, ``metadata_ready``, ``error``,
``set_pv``, ``start``/``stop``), made by one factory (``worker_factory``), so another CA
service can supply them. A worker delivers only the newest array, at most ~30 times a second,
so a 1 MB waveform updating at 100 Hz costs 30 redraws a second, not 100.

Pause freezes the picture (the newest arrays are still received and shown on resume); export
writes what is shown as CSV (one column per PV, the X PV first), or the plot as PNG/SVG.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QObject, Qt, pyqtSignal
from PyQt5.QtGui import QBrush, QColor, QIcon, QPixmap
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from pyqtgraph import exporters

from caprobe import format as cafmt
from caprobe.chart_data import iso_time
from caprobe.gui.chart import BACKGROUND, PALETTE, save_plot_dialog
from caprobe.gui.chart_worker import WaveformWorker

#: Makes the worker of one PV: ``factory(parent) -> WaveformWorker-like object``.
WorkerFactory = Callable[[QObject], Any]

#: Overlays beyond this make an unreadable plot.
MAX_OVERLAYS = 10

#: (pv, values, ioc_time, severity), as WaveformWorker.waveform_ready carries it.
Snapshot = tuple[str, np.ndarray, float, int]


def default_worker_factory(parent: QObject) -> Any:
    return WaveformWorker(parent)


@dataclass
class _Overlay:
    """One array PV of the view (a Y curve, or the X axis source)."""

    name: str
    color: QColor
    worker: Any
    curve: pg.PlotDataItem | None  # None for the X PV
    shown: Snapshot | None = None
    pending: Snapshot | None = None
    connected: bool | None = None
    units: str = ""
    visible: bool = True
    slots: tuple[Callable[..., None], ...] = ()  # what is connected to the worker's signals


class WaveformView(QWidget):
    """Live plot of array PVs; :meth:`set_pv` chooses the first one (the main window's probe
    follows it), :meth:`add_overlay` adds more, :meth:`set_x_pv` plots against an X array;
    :meth:`shutdown` on close."""

    message = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None, *, worker: Any = None,
                 worker_factory: WorkerFactory | None = None) -> None:
        super().__init__(parent)
        self._factory: WorkerFactory = worker_factory or default_worker_factory
        self._first_worker = worker  # for the first PV (set_pv), e.g. injected by a test
        self._overlays: list[_Overlay] = []
        self._x: _Overlay | None = None
        self._paused = False
        self._build_ui()
        # the first PV's worker exists from the start: the main window and tests reach it
        # through .worker before any PV is chosen
        self._primary_worker = self._make_worker(self._first_worker)
        if hasattr(self._primary_worker, "error"):
            self._primary_worker.error.connect(self.message)

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.title = QLabel("No array PV selected")
        self.title.setTextInteractionFlags(Qt.TextSelectableByMouse)
        # a long title must not make the view wider than the window: it is cut, and the
        # tooltip has it whole
        self.title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.status = QLabel("")
        self.add_edit = QLineEdit()
        self.add_edit.setPlaceholderText("Overlay another array PV (Enter)")
        self.add_edit.returnPressed.connect(self._add_from_edit)
        self.x_edit = QLineEdit()
        self.x_edit.setPlaceholderText("X array PV (optional; Enter; empty: element index)")
        self.x_edit.setToolTip("Plot every array against this one (an XY plot)")
        self.x_edit.returnPressed.connect(lambda: self.set_x_pv(self.x_edit.text()))
        add_button = QPushButton("Add")
        add_button.clicked.connect(self._add_from_edit)
        self.pause_button = QToolButton(text="Pause", checkable=True)
        self.pause_button.setToolTip("Freeze the picture; the newest arrays are shown on resume")
        self.pause_button.toggled.connect(self.set_paused)
        # a push button draws its menu arrow inside its own width (a QToolButton's spills
        # over its right border in the Fusion style)
        self.file_button = QPushButton("File")
        menu = QMenu(self.file_button)
        menu.addAction("Export shown arrays as CSV…", self._export_csv_dialog)
        menu.addAction("Save plot image (PNG)…", lambda: self._export_image_dialog("png"))
        menu.addAction("Save plot image (SVG)…", lambda: self._export_image_dialog("svg"))
        self.file_button.setMenu(menu)

        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setBackground(BACKGROUND)
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.showGrid(x=True, y=True, alpha=0.25)
        self.plot_item.setLabel("bottom", "element index")
        self.plot_item.getAxis("left").enableAutoSIPrefix(False)
        self.plot_item.getAxis("bottom").enableAutoSIPrefix(False)

        self.legend = QTableWidget(0, 5)
        self.legend.setHorizontalHeaderLabels(["", "PV", "Elements", "Time", "Alarm"])
        self.legend.verticalHeader().setVisible(False)
        row_h = self.fontMetrics().height() + 6
        self.legend.verticalHeader().setDefaultSectionSize(row_h)
        self.legend.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.legend.setEditTriggers(QAbstractItemView.NoEditTriggers)
        header = self.legend.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        self.legend.setContextMenuPolicy(Qt.CustomContextMenu)
        self.legend.customContextMenuRequested.connect(self._legend_menu)
        self.legend.itemChanged.connect(self._legend_item_changed)
        self.legend.setToolTip("Tick to show/hide; right-click to remove")
        self._row_height = row_h
        self.legend.hide()
        self.note = QLabel("")  # what the XY plot does with arrays of other lengths
        self.note.setStyleSheet("color: #ffb74d;")
        self.note.setWordWrap(True)
        self.note.hide()

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.status)
        top.addWidget(self.pause_button)
        top.addWidget(self.file_button)
        entry = QHBoxLayout()
        entry.addWidget(self.add_edit, 2)
        entry.addWidget(add_button)
        entry.addWidget(QLabel("X:"))
        entry.addWidget(self.x_edit, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(entry)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.legend)

    # ------------------------------------------------------------------ public API
    @property
    def worker(self) -> Any:
        """The worker of the first PV (the one :meth:`set_pv` chooses)."""
        return self._primary_worker

    @property
    def curve(self) -> pg.PlotDataItem:
        """The first PV's curve (an empty one before any PV is chosen)."""
        if self._overlays:
            return self._overlays[0].curve
        if not hasattr(self, "_empty_curve"):
            self._empty_curve = pg.PlotDataItem()
        return self._empty_curve

    def pv_name(self) -> str | None:
        return self._overlays[0].name if self._overlays else None

    def overlay_names(self) -> list[str]:
        return [ov.name for ov in self._overlays]

    def x_pv(self) -> str | None:
        return None if self._x is None else self._x.name

    def set_pv(self, name: str | None) -> None:
        """Show array PV ``name`` as the first curve (None or "" removes it); the other
        overlays stay."""
        name = (name or "").strip() or None
        if name == self.pv_name():
            return
        if self._overlays:
            first = self._overlays.pop(0)
            self._drop(first, keep_worker=True)
        if name is None:
            self._primary_worker.set_pv(None)
            self._refresh_title()
            self._refresh_legend()
            return
        if name in self.overlay_names():  # already overlaid: make it the first
            self.remove_overlay(name)
        ov = self._start(name, self._primary_worker, self._free_color(PALETTE[0]))
        self._overlays.insert(0, ov)
        self._refresh_legend()
        self._refresh_title()

    def add_overlay(self, name: str) -> bool:
        """Overlay array PV ``name``; False (and a message) if invalid, present or too many."""
        name = (name or "").strip()
        if not name or any(c.isspace() for c in name):
            self.message.emit(f"not a PV name: {name!r}")
            return False
        if name in self.overlay_names():
            return False
        if len(self._overlays) >= MAX_OVERLAYS:
            self.message.emit(f"at most {MAX_OVERLAYS} arrays in one waveform plot")
            return False
        if not self._overlays:
            self.set_pv(name)
            return True
        try:
            ov = self._start(name, self._make_worker(), self._free_color())
        except Exception as exc:  # a name the CA client refuses: say so, view unchanged
            self.message.emit(f"cannot show {name}: {exc}")
            return False
        self._overlays.append(ov)
        self._refresh_legend()
        self._refresh_title()
        return True

    def remove_overlay(self, name: str) -> None:
        for i, ov in enumerate(self._overlays):
            if ov.name == name:
                if i == 0:
                    self.set_pv(None)
                    if self._overlays:  # the next overlay becomes the first
                        nxt = self._overlays.pop(0)
                        self._drop(nxt, keep_worker=False)
                        self.set_pv(nxt.name)
                else:
                    self._overlays.pop(i)
                    self._drop(ov, keep_worker=False)
                break
        self._refresh_legend()
        self._refresh_title()

    def set_x_pv(self, name: str | None) -> None:
        """Plot every array against array PV ``name`` (None or "": against element index)."""
        name = (name or "").strip() or None
        if name == self.x_pv():
            return
        if self._x is not None:
            self._drop(self._x, keep_worker=False)
            self._x = None
        if name is not None:
            self._x = self._start(name, self._make_worker(), QColor("#ffffff"), curve=False)
        if self.x_edit.text().strip() != (name or ""):
            self.x_edit.setText(name or "")
        self.plot_item.setLabel("bottom", name or "element index")
        self._redraw_all()
        self._refresh_legend()

    def shutdown(self) -> None:
        """Interrupt and join every worker (prompt even when the PVs are silent)."""
        for ov in [*self._overlays, *([self._x] if self._x else [])]:
            ov.worker.stop()
        self._primary_worker.stop()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        # a stand-alone window (opened from the chart) owns its workers: stop them on close
        self.shutdown()
        super().closeEvent(event)

    def is_paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        self._paused = bool(paused)
        if self.pause_button.isChecked() != self._paused:
            self.pause_button.setChecked(self._paused)
        self.pause_button.setText("Resume" if self._paused else "Pause")
        if not self._paused:
            for ov in [*self._overlays, *([self._x] if self._x else [])]:
                if ov.pending is not None:
                    ov.shown, ov.pending = ov.pending, None
            self._redraw_all()
            self._refresh_legend()
            self._refresh_title()

    def data(self, name: str | None = None) -> np.ndarray | None:
        """The array displayed for ``name`` (default: the first PV; the X PV too), or None."""
        ov = self._find(name) if name is not None else (
            self._overlays[0] if self._overlays else None)
        return None if ov is None or ov.shown is None else ov.shown[1]

    # ------------------------------------------------------------------ workers
    def _make_worker(self, worker: Any = None) -> Any:
        return worker if worker is not None else self._factory(self)

    def _start(self, name: str, worker: Any, color: QColor, curve: bool = True) -> _Overlay:
        item = None
        if curve:
            item = pg.PlotDataItem(pen=pg.mkPen(color, width=1), connect="finite")
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            self.plot_item.addItem(item)
        ov = _Overlay(name, color, worker, item)
        # each signal names its PV: a late update of a PV this worker no longer has is dropped
        ov.slots = (
            lambda pv, v, t, s, o=ov: self._on_waveform(o, pv, v, t, s),
            lambda pv, c, o=ov: self._on_connection(o, pv, c),
            lambda pv, md, o=ov: self._on_metadata(o, pv, md),
        )
        worker.waveform_ready.connect(ov.slots[0])
        worker.connection_changed.connect(ov.slots[1])
        if hasattr(worker, "metadata_ready"):
            worker.metadata_ready.connect(ov.slots[2])
        if hasattr(worker, "error") and worker is not self._primary_worker:
            worker.error.connect(self.message)
        worker.set_pv(name)
        return ov

    def _drop(self, ov: _Overlay, keep_worker: bool) -> None:
        signals = (ov.worker.waveform_ready, ov.worker.connection_changed,
                   getattr(ov.worker, "metadata_ready", None))
        for signal, slot in zip(signals, ov.slots, strict=True):
            if signal is not None:
                try:
                    signal.disconnect(slot)
                except TypeError:
                    pass
        if ov.curve is not None:
            self.plot_item.removeItem(ov.curve)
        if keep_worker:
            ov.worker.set_pv(None)
        else:
            ov.worker.stop()
            ov.worker.deleteLater()

    def _find(self, name: str) -> _Overlay | None:
        if self._x is not None and self._x.name == name:
            return self._x
        return next((ov for ov in self._overlays if ov.name == name), None)

    def _free_color(self, preferred: str | None = None) -> QColor:
        used = {ov.color.name() for ov in self._overlays}
        if preferred is not None and preferred not in used:
            return QColor(preferred)
        return QColor(next((c for c in PALETTE if c not in used), PALETTE[0]))

    # ------------------------------------------------------------------ updates
    def show_waveform(self, pv: str, values: np.ndarray, t: float, severity: int) -> None:
        """An array for ``pv`` (normally from its worker)."""
        ov = self._find(pv)
        if ov is not None:
            self._on_waveform(ov, pv, values, t, severity)

    def _on_waveform(self, ov: _Overlay, pv: str, values: np.ndarray, t: float,
                     severity: int) -> None:
        if pv != ov.name or (ov is not self._x and ov not in self._overlays):
            return  # a late update of a PV no longer shown
        snap = (pv, values, t, severity)
        if self._paused:
            ov.pending = snap
            return
        ov.shown = snap
        if ov is self._x:
            self._redraw_all()
        else:
            self._draw(ov)
        self._refresh_legend()
        self._refresh_title()

    def _x_values(self) -> np.ndarray | None:
        return None if self._x is None or self._x.shown is None else self._x.shown[1]

    def _draw(self, ov: _Overlay) -> None:
        if ov.curve is None:
            return
        if ov.shown is None:
            ov.curve.setData([], [])
            return
        y = ov.shown[1]
        if self._x is not None:
            x = self._x_values()
            if x is None:  # X not here yet: nothing to plot against
                ov.curve.setData([], [])
                return
            n = min(len(x), len(y))
            x, y = x[:n], y[:n]
        else:
            x = np.arange(len(y))
        # short arrays: mark each element, so 5 points do not look like a continuous line
        few = len(y) <= 200
        ov.curve.setData(
            x, y, symbol="o" if few else None, symbolSize=5, symbolPen=None,
            symbolBrush=ov.color if few else None,
        )  # fmt: skip
        ov.curve.setVisible(ov.visible)

    def _redraw_all(self) -> None:
        for ov in self._overlays:
            self._draw(ov)
        self._refresh_title()

    def _on_connection(self, ov: _Overlay, pv: str, connected: bool) -> None:
        if pv != ov.name:
            return
        ov.connected = connected
        self._refresh_legend()
        self._refresh_title()

    def _on_metadata(self, ov: _Overlay, pv: str, metadata: dict) -> None:
        if pv != ov.name:
            return
        ov.units = metadata.get("units") or ""
        if ov is self._x:
            self.plot_item.setLabel("bottom", pv, units=ov.units or None)
        elif len(self._overlays) == 1:
            self.plot_item.setLabel("left", pv, units=ov.units or None)
        else:
            units = {o.units for o in self._overlays}
            self.plot_item.setLabel("left", "value", units=units.pop() if len(units) == 1 and
                                    "" not in units else None)

    # ------------------------------------------------------------------ title and legend
    def _refresh_title(self) -> None:
        if not self._overlays:
            self.title.setText("No array PV selected")
            self._set_status("", None)
            self.note.hide()
            return
        first = self._overlays[0]
        if first.shown is not None:
            pv, values, t, severity = first.shown
            self.title.setText(
                f"{pv}   {len(values):,} elements   {iso_time(t)[:23].replace('T', ' ')}"
                + (f"   (+{len(self._overlays) - 1} overlaid)" if len(self._overlays) > 1 else "")
            )
        else:
            self.title.setText(first.name)
        if first.connected is False:
            self._set_status(cafmt.DISCONNECTED_TEXT, cafmt.DISCONNECTED_COLOR)
        elif first.shown is None:
            self._set_status("searching…", cafmt.DISCONNECTED_COLOR)
        else:
            sev = first.shown[3]
            self._set_status(cafmt.severity_text(sev), cafmt.ALARM_COLORS.get(sev))
        self.title.setToolTip(self.title.text())
        note = self.x_note()
        self.note.setText(note)
        self.note.setVisible(bool(note))

    def x_note(self) -> str:
        """What the XY plot does with arrays of different lengths (or a missing X)."""
        if self._x is None:
            return ""
        x = self._x_values()
        if x is None:
            return f"waiting for X ({self._x.name})"
        longer = [ov.name for ov in self._overlays if ov.shown is not None
                  and len(ov.shown[1]) != len(x)]
        if longer:
            return f"X has {len(x):,} elements: each array plotted to the shorter length"
        return ""

    def _refresh_legend(self) -> None:
        rows = [*self._overlays, *([self._x] if self._x else [])]
        self.legend.setVisible(len(self._overlays) > 1 or self._x is not None)
        self.legend.blockSignals(True)
        try:
            self.legend.setRowCount(len(rows))
            for row, ov in enumerate(rows):
                self._fill_row(row, ov)
        finally:
            self.legend.blockSignals(False)
        header = self.legend.horizontalHeader().sizeHint().height()
        self.legend.setFixedHeight(min(header + self._row_height * len(rows) + 4,
                                       header + self._row_height * 5 + 4))

    def _fill_row(self, row: int, ov: _Overlay) -> None:
        items = [self.legend.item(row, c) for c in range(5)]
        if items[0] is None:
            for c in range(5):
                self.legend.setItem(row, c, QTableWidgetItem())
            items = [self.legend.item(row, c) for c in range(5)]
        swatch, name, count, stamp, alarm = items
        is_x = ov is self._x
        if is_x:
            swatch.setFlags(Qt.ItemIsEnabled)
            swatch.setData(Qt.CheckStateRole, None)
            swatch.setIcon(QIcon())
            swatch.setText("X")
        else:
            swatch.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled | Qt.ItemIsSelectable)
            swatch.setCheckState(Qt.Checked if ov.visible else Qt.Unchecked)
            pix = QPixmap(14, 14)
            pix.fill(ov.color)
            swatch.setIcon(QIcon(pix))
            swatch.setText("")
        name.setText(ov.name + (f" [{ov.units}]" if ov.units else ""))
        name.setData(Qt.UserRole, ov.name)
        if ov.shown is not None:
            count.setText(f"{len(ov.shown[1]):,}")
            stamp.setText(iso_time(ov.shown[2])[11:23])
        if ov.connected is False:
            text, color = cafmt.DISCONNECTED_TEXT, cafmt.DISCONNECTED_COLOR
        elif ov.shown is None:
            text, color = "searching…", None
        else:
            text, color = cafmt.severity_text(ov.shown[3]), cafmt.ALARM_COLORS.get(ov.shown[3])
        alarm.setText(text)
        alarm.setBackground(QBrush(QColor(color)) if color else QBrush())

    def _legend_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        name = self.legend.item(item.row(), 1).data(Qt.UserRole)
        ov = self._find(name)
        if ov is not None and ov.curve is not None:
            ov.visible = item.checkState() == Qt.Checked
            ov.curve.setVisible(ov.visible)

    def _legend_menu(self, pos: Any) -> None:
        item = self.legend.itemAt(pos)
        if item is None:
            return
        name = self.legend.item(item.row(), 1).data(Qt.UserRole)
        menu = QMenu(self)
        if self._x is not None and name == self._x.name:
            menu.addAction("Plot against element index", lambda: self.set_x_pv(None))
        else:
            menu.addAction(f"Remove {name}", lambda: self.remove_overlay(name))
            menu.addAction("Use as X", lambda: self._use_as_x(name))
        menu.exec_(self.legend.viewport().mapToGlobal(pos))

    def _use_as_x(self, name: str) -> None:
        self.remove_overlay(name)
        self.set_x_pv(name)

    def _add_from_edit(self) -> None:
        for name in self.add_edit.text().split():
            self.add_overlay(name)
        self.add_edit.clear()

    def _set_status(self, text: str, color: str | None) -> None:
        self.status.setText(text)
        if color is None:
            self.status.setStyleSheet("")
            return
        c = pg.mkColor(color)
        lum = 0.299 * c.red() + 0.587 * c.green() + 0.114 * c.blue()
        fg = "#000000" if lum > 140 else "#ffffff"
        self.status.setStyleSheet(
            f"background-color: {color}; color: {fg}; padding: 1px 6px; border: 1px solid #404040;"
        )

    # ------------------------------------------------------------------ export
    def export_csv(self, path: str | Path) -> int:
        """Write what is shown: a ``# pv at time severity units`` line per PV, then
        ``index[,<X pv>],<pv>,...`` rows (arrays of different lengths leave empty cells).
        Hidden overlays are left out. Returns the number of data rows."""
        shown = [ov for ov in self._overlays if ov.visible and ov.shown is not None]
        if not shown:
            raise ValueError("no waveform to export yet")
        columns = ([self._x] if self._x is not None and self._x.shown is not None else []) + shown
        n = max(len(ov.shown[1]) for ov in columns)
        if self._x is not None and self._x.shown is not None:
            n = min(n, len(self._x.shown[1]))  # what is plotted: no X, no point
        with open(path, "w", encoding="utf-8", newline="") as out:
            for ov in columns:
                pv, _values, t, severity = ov.shown
                role = "X " if ov is self._x else ""
                out.write(f"# {role}{pv} at {iso_time(t)} severity "
                          f"{cafmt.severity_text(severity)}"
                          + (f" units {ov.units}" if ov.units else "") + "\n")
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["index", *(ov.name for ov in columns)])
            lists = [ov.shown[1].tolist() for ov in columns]
            for i in range(n):
                row: list[Any] = [i]
                for values in lists:
                    v = values[i] if i < len(values) else None
                    row.append("" if v is None or math.isnan(v) else repr(v))
                writer.writerow(row)
        return n

    def export_image(self, path: str | Path) -> None:
        path = str(path)
        if path.lower().endswith(".svg"):
            exporters.SVGExporter(self.plot_item).export(path)
        else:
            exporters.ImageExporter(self.plot_item).export(path)

    def _export_csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export waveform", "waveform.csv", "CSV (*.csv)")
        if not path:
            return
        try:
            self.export_csv(path)
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "Export waveform", f"Cannot export: {exc}")

    def _export_image_dialog(self, kind: str) -> None:
        save_plot_dialog(self, kind, "waveform", self.export_image)
