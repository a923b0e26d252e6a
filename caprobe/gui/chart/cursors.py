"""Two time cursors (A and B) on the chart and the table of every trace's value at each.

Values are read as the stairs are drawn: the last sample at or before the cursor. The table
gives A, B and B - A per trace, and the header line the two times and dt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pyqtgraph as pg
from PyQt5.QtCore import QObject, Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from caprobe import format as cafmt
from caprobe.chart_data import SEVERITY_DISCONNECTED, iso_time
from caprobe.gui.chart.traces import Trace, format_value, value_text

CURSOR_COLORS = {"A": "#ffffff", "B": "#ffeb3b"}


def held_value(trace: Trace, t: float) -> tuple[float, int] | None:
    """(value, severity) the trace shows at ``t``, or None before its first sample."""
    return trace.buffer.value_at(t)


class ChartCursors(QObject):
    """The two draggable vertical lines; ``moved`` whenever either changes."""

    moved = pyqtSignal()

    def __init__(self, plot_item: pg.PlotItem) -> None:
        super().__init__()
        self.lines: dict[str, pg.InfiniteLine] = {}
        for name, color in CURSOR_COLORS.items():
            line = pg.InfiniteLine(
                angle=90, movable=True, pen=pg.mkPen(color, width=1),
                hoverPen=pg.mkPen(color, width=3), label=name,
                # the label at the bottom: the top carries the PAUSED banner
                labelOpts={"position": 0.04, "color": color, "fill": (20, 24, 28, 200)},
            )  # fmt: skip
            line.setZValue(50)
            line.setVisible(False)
            line.sigPositionChanged.connect(lambda *_: self.moved.emit())
            plot_item.addItem(line, ignoreBounds=True)
            self.lines[name] = line

    def is_shown(self) -> bool:
        return self.lines["A"].isVisible()

    def show_at(self, t_a: float, t_b: float) -> None:
        self.set_positions(t_a, t_b)
        for line in self.lines.values():
            line.setVisible(True)

    def hide(self) -> None:
        for line in self.lines.values():
            line.setVisible(False)

    def positions(self) -> tuple[float, float]:
        return float(self.lines["A"].value()), float(self.lines["B"].value())

    def set_positions(self, t_a: float, t_b: float) -> None:
        self.lines["A"].setValue(t_a)
        self.lines["B"].setValue(t_b)


def _cell(trace: Trace, found: tuple[float, int] | None) -> str:
    if found is None:
        return "no data"
    v, sev = found
    if sev == SEVERITY_DISCONNECTED:
        return cafmt.DISCONNECTED_TEXT
    text = value_text(trace, v)
    return f"{text} [{cafmt.severity_text(sev)}]" if sev else text


def _delta(trace: Trace, a: tuple[float, int] | None, b: tuple[float, int] | None) -> str:
    if a is None or b is None or not (math.isfinite(a[0]) and math.isfinite(b[0])):
        return ""
    d = b[0] - a[0]
    prec = trace.precision
    text = format_value(d, prec, trace.units)
    return text if d < 0 else "+" + text


class CursorReadout(QWidget):
    """``A <time>   B <time>   dt`` and a table: PV | at A | at B | B - A."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.times = QLabel("")
        self.times.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["PV", "at A", "at B", "B − A"])
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeToContents)
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.times)
        layout.addWidget(self.table, 1)

    def refresh(self, traces: Mapping[str, Trace], t_a: float, t_b: float) -> None:
        dt = t_b - t_a
        self.times.setText(
            f"A  {iso_time(t_a)[:23].replace('T', ' ')}     "
            f"B  {iso_time(t_b)[:23].replace('T', ' ')}     "
            f"dt = B − A = {dt:+.3f} s"
        )
        names = list(traces)
        if self.table.rowCount() != len(names):
            self.table.setRowCount(len(names))
        for row, name in enumerate(names):
            trace = traces[name]
            a, b = held_value(trace, t_a), held_value(trace, t_b)
            for col, text in enumerate((name, _cell(trace, a), _cell(trace, b),
                                        _delta(trace, a, b))):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    if col:
                        item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
                    self.table.setItem(row, col, item)
                if item.text() != text:
                    item.setText(text)
            self.table.item(row, 0).setForeground(trace.color)

    def as_tsv(self) -> str:
        lines = [self.times.text(), "pv\tat A\tat B\tB - A"]
        for row in range(self.table.rowCount()):
            lines.append("\t".join(self.table.item(row, c).text() for c in range(4)))
        return "\n".join(lines) + "\n"

    def _menu(self, pos: object) -> None:
        menu = QMenu(self)
        menu.addAction("Copy cursor readout",
                       lambda: QApplication.clipboard().setText(self.as_tsv()))
        menu.exec_(self.table.viewport().mapToGlobal(pos))
