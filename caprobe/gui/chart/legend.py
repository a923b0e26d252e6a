"""The chart's legend: one table row per trace with visibility, name, value and alarm."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QBrush, QColor, QIcon, QPixmap
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from caprobe import format as cafmt
from caprobe.chart_data import SEVERITY_DISCONNECTED
from caprobe.gui.chart.statistics import TITLES, VisibleStatistics
from caprobe.gui.chart.traces import Trace, last_finite_text, value_text

COL_SWATCH, COL_NAME, COL_VALUE, COL_UNITS, COL_ALARM = range(5)
COL_STATS = 5  # first of the statistics columns (statistics.TITLES)

#: The legend may take up to this share of the chart's height before it scrolls.
MAX_HEIGHT_SHARE = 0.4


@contextlib.contextmanager
def blocked(obj: Any) -> Iterator[None]:
    """Silence a widget's signals while the program (not the operator) changes it."""
    old = obj.blockSignals(True)
    try:
        yield
    finally:
        obj.blockSignals(old)


class ChartLegend(QTableWidget):
    """Rows in trace order; the operator's actions come out as signals naming the PV.

    Columns: swatch (tick = shown), PV, value, units, alarm, then the statistics of the
    visible range (hidden until :meth:`show_statistics`).
    """

    visibility_toggled = pyqtSignal(str, bool)
    recolour_requested = pyqtSignal(str)
    remove_requested = pyqtSignal(str)
    log_toggled = pyqtSignal(str, bool)
    waveform_requested = pyqtSignal(str)
    copy_statistics_requested = pyqtSignal()
    #: The rows need another height (a horizontal scroll bar came or went).
    height_changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, COL_STATS + len(TITLES), parent)
        self.setHorizontalHeaderLabels(["", "PV", "Value", "Units", "Alarm", *TITLES])
        self.verticalHeader().setVisible(False)
        self.row_height = self.fontMetrics().height() + 6
        self.verticalHeader().setDefaultSectionSize(self.row_height)
        self.setMinimumHeight(self.row_height + self.horizontalHeader().sizeHint().height() + 4)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setWordWrap(False)
        header = self.horizontalHeader()
        # Columns widen as their texts need (set_text), never on every change: with
        # ResizeToContents each setText measured the whole column again (0.3 ms per cell,
        # 20 ms per statistics update of 10 rows).
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setSectionResizeMode(COL_NAME, QHeaderView.Stretch)
        self._pad = 2 * self.style().pixelMetric(self.style().PM_FocusFrameHMargin) + 12
        for col in range(self.columnCount()):
            if col != COL_NAME:
                self.setColumnWidth(col, header.sectionSizeHint(col))
        self.setColumnWidth(COL_SWATCH, 48)  # check box + colour swatch
        header.setMinimumSectionSize(24)
        self.statistics: VisibleStatistics | None = None
        self.per_trace_log = False  # log scale offered per row (per-trace Y axes)
        self.show_statistics(False)
        self._scrolls_sideways = False
        self.horizontalScrollBar().rangeChanged.connect(self._sideways_range)

    def _sideways_range(self, _lo: int, hi: int) -> None:
        if (hi > 0) != self._scrolls_sideways:
            self._scrolls_sideways = hi > 0
            self.height_changed.emit()
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.itemChanged.connect(self._item_changed)
        self.cellDoubleClicked.connect(self._double_clicked)
        self.setToolTip(
            "Tick to show/hide; double-click the swatch to recolour; right-click to remove"
        )

    # ------------------------------------------------------------------ rows
    def add_trace(self, trace: Trace) -> None:
        row = self.rowCount()
        self.insertRow(row)
        with blocked(self):
            swatch = QTableWidgetItem()
            swatch.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled | Qt.ItemIsSelectable)
            swatch.setCheckState(Qt.Checked if trace.visible else Qt.Unchecked)
            self.setItem(row, COL_SWATCH, swatch)
            name = QTableWidgetItem(trace.name)
            name.setData(Qt.UserRole, trace.name)
            self.setItem(row, COL_NAME, name)
            for col in range(COL_VALUE, self.columnCount()):
                item = QTableWidgetItem("")
                if col != COL_UNITS and col != COL_ALARM:
                    item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
                self.setItem(row, col, item)
            self.fill_row(row, trace)

    def set_text(self, row: int, col: int, text: str) -> None:
        """Change a cell only when its text changes, widening its column if it must."""
        item = self.item(row, col)
        if item.text() == text:
            return
        item.setText(text)
        needed = self.fontMetrics().horizontalAdvance(text) + self._pad
        if needed > self.columnWidth(col):
            self.setColumnWidth(col, needed)
            self.fit_name_column()

    def show_statistics(self, shown: bool) -> None:
        for col in range(COL_STATS, self.columnCount()):
            self.setColumnHidden(col, not shown)
        self.fit_name_column()

    def fit_name_column(self) -> None:
        """The PV column takes the free width, but never less than its longest name: when the
        row is wider than the view (statistics in a small window) the table scrolls sideways
        instead of squeezing the names to "SR:c…"."""
        fm = self.fontMetrics()
        names = [self.item(r, COL_NAME).text() for r in range(self.rowCount())]
        needed = max([fm.horizontalAdvance("PV") + self._pad,
                      *(fm.horizontalAdvance(n) + self._pad for n in names)])
        others = sum(self.columnWidth(c) for c in range(self.columnCount())
                     if c != COL_NAME and not self.isColumnHidden(c))
        header = self.horizontalHeader()
        if others + needed <= self.viewport().width():
            header.setSectionResizeMode(COL_NAME, QHeaderView.Stretch)
        else:
            header.setSectionResizeMode(COL_NAME, QHeaderView.Interactive)
            self.setColumnWidth(COL_NAME, needed)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self.fit_name_column()

    def statistics_shown(self) -> bool:
        return not self.isColumnHidden(COL_STATS)

    def preferred_height(self) -> int:
        """Height showing every row (header, rows, frame and a horizontal scroll bar if any)."""
        height = self.horizontalHeader().height() or self.horizontalHeader().sizeHint().height()
        height += self.row_height * max(1, self.rowCount()) + 2 * self.frameWidth() + 2
        # a horizontal scroll bar is coming when the columns are wider than the view
        if self._scrolls_sideways or self.horizontalHeader().length() > self.viewport().width() + 1:
            height += self.horizontalScrollBar().sizeHint().height()
        return height

    def remove_trace(self, name: str) -> None:
        row = self.row_of(name)
        if row >= 0:
            self.removeRow(row)

    def row_of(self, name: str) -> int:
        for row in range(self.rowCount()):
            if self.name_at(row) == name:
                return row
        return -1

    def name_at(self, row: int) -> str:
        return self.item(row, COL_NAME).data(Qt.UserRole)

    def text(self, row: int, column: int) -> str:
        return self.item(row, column).text()

    def sync_check(self, trace: Trace) -> None:
        row = self.row_of(trace.name)
        if row >= 0:
            with blocked(self):
                self.item(row, COL_SWATCH).setCheckState(
                    Qt.Checked if trace.visible else Qt.Unchecked
                )

    def refresh(self, traces: Mapping[str, Trace], values: bool = True) -> None:
        """Update every row; ``values=False`` (paused) leaves value, alarm and statistics
        as they are and only restyles."""
        with blocked(self):
            for row in range(self.rowCount()):
                trace = traces.get(self.name_at(row))
                if trace is not None:
                    self.fill_row(row, trace, values)

    def refresh_statistics(self, traces: Mapping[str, Trace]) -> None:
        if self.statistics is None or not self.statistics_shown():
            return
        with blocked(self):
            for row in range(self.rowCount()):
                trace = traces.get(self.name_at(row))
                if trace is None:
                    continue
                for col, text in enumerate(self.statistics.cells(trace), start=COL_STATS):
                    self.set_text(row, col, text)

    def fill_row(self, row: int, trace: Trace, values: bool = True) -> None:
        buf = trace.buffer
        if trace.connected is None:
            text, alarm, color = "", "searching…", None
        elif not trace.connected and not trace.ever_connected:
            text, alarm, color = "", "NOT FOUND", cafmt.DISCONNECTED_COLOR
        elif not trace.connected:
            text = "" if not len(buf) else last_finite_text(trace, units=False)
            alarm, color = cafmt.DISCONNECTED_TEXT, cafmt.DISCONNECTED_COLOR
        else:
            sev = buf.last_severity
            text = value_text(trace, buf.last_value, units=False) if len(buf) else ""
            alarm = cafmt.severity_text(sev) if sev != SEVERITY_DISCONNECTED else ""
            color = cafmt.ALARM_COLORS.get(sev)
        value_item = self.item(row, COL_VALUE)
        if not values:  # paused: the row keeps what it showed when the picture froze
            text, alarm = value_item.text(), self.text(row, COL_ALARM)
            color = trace.legend_style[3] if trace.legend_style else color
        self.set_text(row, COL_VALUE, text)
        name = trace.name if trace.element_count <= 1 else (
            f"{trace.name}  [element 0 of {trace.element_count}]")
        style = (trace.color.name(), trace.connected, alarm, color, trace.units, name, trace.log)
        if style == trace.legend_style:
            return
        trace.legend_style = style
        self.item(row, COL_NAME).setData(Qt.UserRole + 1, trace.log)
        self.item(row, COL_NAME).setText(name)
        self.fit_name_column()
        self.set_text(row, COL_UNITS, trace.units)
        swatch = self.item(row, COL_SWATCH)
        pix = QPixmap(14, 14)
        pix.fill(trace.color)  # the trace keeps its colour while disconnected
        swatch.setIcon(QIcon(pix))
        alarm_item = self.item(row, COL_ALARM)
        self.set_text(row, COL_ALARM, alarm)
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
        tip = trace.name + (f"\nunits: {trace.units}" if trace.units else "")
        if trace.element_count > 1:
            tip += (f"\nan array of {trace.element_count} elements: the chart plots element 0;"
                    "\nright-click: Open in waveform view")
        if trace.log:
            tip += "\nlog10 Y axis"
        self.item(row, COL_NAME).setToolTip(tip)

    # ------------------------------------------------------------------ operator
    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == COL_SWATCH:
            self.visibility_toggled.emit(self.name_at(item.row()), item.checkState() == Qt.Checked)

    def _double_clicked(self, row: int, column: int) -> None:
        if column == COL_SWATCH:
            self.recolour_requested.emit(self.name_at(row))

    def _menu(self, pos: Any) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        name = self.name_at(item.row())
        menu = QMenu(self)
        menu.addAction("Change colour…", lambda: self.recolour_requested.emit(name))
        menu.addAction(f"Remove {name}", lambda: self.remove_requested.emit(name))
        menu.addAction("Copy PV name", lambda: QApplication.clipboard().setText(name))
        if self.statistics_shown():
            menu.addAction("Copy statistics", self.copy_statistics_requested.emit)
        if self.per_trace_log:
            log = menu.addAction("Log scale (this trace's axis)")
            log.setCheckable(True)
            log.setChecked(bool(self.item(item.row(), COL_NAME).data(Qt.UserRole + 1)))
            log.toggled.connect(lambda on: self.log_toggled.emit(name, on))
        menu.addAction("Open in waveform view", lambda: self.waveform_requested.emit(name))
        menu.exec_(self.viewport().mapToGlobal(pos))

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key_Delete:
            rows = {i.row() for i in self.selectedItems()}
            for name in [self.name_at(r) for r in sorted(rows)]:
                self.remove_requested.emit(name)
            return
        super().keyPressEvent(event)
