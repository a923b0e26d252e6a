"""Waveform view: an array PV plotted as value against element index, updating live.

The CA side is a :class:`~caprobe.gui.chart_worker.WaveformWorker` that delivers only the newest
array, at most ~30 times a second, so a 1 MB waveform updating at 100 Hz costs 30 redraws a
second, not 100. Pause freezes the picture (the latest array is still received, and shown on
resume); export writes the displayed array as CSV, or the plot as PNG/SVG.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from pyqtgraph import exporters

from caprobe import format as cafmt
from caprobe.chart_data import iso_time
from caprobe.gui.chart import BACKGROUND, PALETTE, save_plot_dialog
from caprobe.gui.chart_worker import WaveformWorker


class WaveformView(QWidget):
    """Live plot of one array PV; :meth:`set_pv` to choose it, :meth:`shutdown` on close."""

    message = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None, *, worker: Any = None) -> None:
        super().__init__(parent)
        self._worker = worker if worker is not None else WaveformWorker(self)
        self._worker.waveform_ready.connect(self.show_waveform)
        self._worker.connection_changed.connect(self._on_connection)
        if hasattr(self._worker, "metadata_ready"):
            self._worker.metadata_ready.connect(self._on_metadata)
        if hasattr(self._worker, "error"):
            self._worker.error.connect(self.message)
        self._pv: str | None = None
        self._paused = False
        self._pending: tuple[str, np.ndarray, float, int] | None = None
        self._shown: tuple[str, np.ndarray, float, int] | None = None
        self._connected: bool | None = None

        self.title = QLabel("No array PV selected")
        self.title.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status = QLabel("")
        self.pause_button = QToolButton(text="Pause", checkable=True)
        self.pause_button.setToolTip("Freeze the picture; the newest array is shown on resume")
        self.pause_button.toggled.connect(self.set_paused)
        self.file_button = QToolButton(text="File")
        self.file_button.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(self.file_button)
        menu.addAction("Export array as CSV…", self._export_csv_dialog)
        menu.addAction("Save plot image (PNG)…", lambda: self._export_image_dialog("png"))
        menu.addAction("Save plot image (SVG)…", lambda: self._export_image_dialog("svg"))
        self.file_button.setMenu(menu)

        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setBackground(BACKGROUND)
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.showGrid(x=True, y=True, alpha=0.25)
        self.plot_item.setLabel("bottom", "element index")
        self.plot_item.getAxis("left").enableAutoSIPrefix(False)
        self.curve = pg.PlotDataItem(pen=pg.mkPen(PALETTE[0], width=1), connect="finite")
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self.plot_item.addItem(self.curve)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.status)
        top.addWidget(self.pause_button)
        top.addWidget(self.file_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.plot_widget, 1)

    # ------------------------------------------------------------------ public API
    @property
    def worker(self) -> Any:
        return self._worker

    def pv_name(self) -> str | None:
        return self._pv

    def set_pv(self, name: str | None) -> None:
        """Show array PV ``name`` (None or "" clears the view)."""
        name = (name or "").strip() or None
        if name == self._pv:
            return
        self._pv = name
        self._pending = self._shown = None
        self._connected = None
        self.curve.setData([], [])
        self.plot_item.setLabel("left", None)
        self.title.setText(name or "No array PV selected")
        self._set_status("searching…" if name else "", cafmt.DISCONNECTED_COLOR if name else None)
        self._worker.set_pv(name)

    def shutdown(self) -> None:
        """Interrupt and join the worker (prompt even when the PV is silent)."""
        self._worker.stop()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        # a stand-alone window (opened from the chart) owns its worker: stop it on close
        self.shutdown()
        super().closeEvent(event)

    def is_paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        self._paused = bool(paused)
        if self.pause_button.isChecked() != self._paused:
            self.pause_button.setChecked(self._paused)
        if not self._paused and self._pending is not None:
            self.show_waveform(*self._pending)

    def data(self) -> np.ndarray | None:
        """The array currently displayed (None before the first update)."""
        return None if self._shown is None else self._shown[1]

    # ------------------------------------------------------------------ updates
    def show_waveform(self, pv: str, values: np.ndarray, t: float, severity: int) -> None:
        if pv != self._pv:
            return  # a late update of the previous PV
        if self._paused:
            self._pending = (pv, values, t, severity)
            return
        self._pending = None
        self._shown = (pv, values, t, severity)
        # short arrays: mark each element, so 5 points do not look like a continuous line
        few = len(values) <= 200
        self.curve.setData(
            np.arange(len(values)), values, symbol="o" if few else None, symbolSize=5,
            symbolPen=None, symbolBrush=self.curve.opts["pen"].color() if few else None,
        )  # fmt: skip
        self.title.setText(f"{pv}   {len(values):,} elements   {iso_time(t)[:23].replace('T', ' ')}")
        self._set_status(cafmt.severity_text(severity), cafmt.ALARM_COLORS.get(severity))

    def _on_connection(self, pv: str, connected: bool) -> None:
        if pv != self._pv:
            return
        self._connected = connected
        if not connected:
            self._set_status(cafmt.DISCONNECTED_TEXT, cafmt.DISCONNECTED_COLOR)
            pen = pg.mkPen(cafmt.DISCONNECTED_COLOR, width=1)  # solid: dashes are slow
        else:
            pen = pg.mkPen(PALETTE[0], width=1)
        self.curve.setPen(pen)

    def _on_metadata(self, pv: str, metadata: dict) -> None:
        if pv == self._pv:
            self.plot_item.setLabel("left", pv, units=metadata.get("units") or None)

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
        """Write ``index,value`` rows of the displayed array (with a header naming PV and time)."""
        if self._shown is None:
            raise ValueError("no waveform to export yet")
        pv, values, t, severity = self._shown
        with open(path, "w", encoding="utf-8", newline="") as out:
            out.write(f"# {pv} at {iso_time(t)} severity {cafmt.severity_text(severity)}\n")
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["index", "value"])
            for i, v in enumerate(values.tolist()):
                writer.writerow([i, "" if math.isnan(v) else repr(v)])
        return len(values)

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
