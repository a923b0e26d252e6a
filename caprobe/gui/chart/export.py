"""Saving what the chart shows: CSV of the samples, PNG/SVG of the plot."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PyQt5.QtWidgets import QFileDialog, QMessageBox, QWidget
from pyqtgraph import exporters

from caprobe.chart_data import TraceBuffer, write_csv


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


def export_plot_image(plot_item: pg.PlotItem, path: str | Path) -> None:
    """PNG or SVG of the plot (by suffix), via pyqtgraph's exporters."""
    path = str(path)
    if path.lower().endswith(".svg"):
        exporters.SVGExporter(plot_item).export(path)
    else:
        exporters.ImageExporter(plot_item).export(path)


def export_samples_csv(path: str | Path, traces: Mapping[str, TraceBuffer],
                       t0: float | None, t1: float | None,
                       units: Mapping[str, str] | None = None) -> int:
    """Write samples as CSV (see :func:`caprobe.chart_data.write_csv`); returns rows."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        return write_csv(out, traces, t0, t1, units=units)
