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
from caprobe.gui.chart.traces import Trace, last_finite_text, value_text

COL_SWATCH, COL_NAME, COL_VALUE, COL_ALARM = range(4)


@contextlib.contextmanager
def blocked(obj: Any) -> Iterator[None]:
    """Silence a widget's signals while the program (not the operator) changes it."""
    old = obj.blockSignals(True)
    try:
        yield
    finally:
        obj.blockSignals(old)


class ChartLegend(QTableWidget):
    """Rows in trace order; the operator's actions come out as signals naming the PV."""

    visibility_toggled = pyqtSignal(str, bool)
    recolour_requested = pyqtSignal(str)
    remove_requested = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        self.setHorizontalHeaderLabels(["", "PV", "Value", "Alarm"])
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.setMinimumHeight(3 * (self.fontMetrics().height() + 6))
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        header = self.horizontalHeader()
        header.setSectionResizeMode(COL_SWATCH, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(COL_NAME, QHeaderView.Stretch)
        header.setSectionResizeMode(COL_VALUE, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(COL_ALARM, QHeaderView.ResizeToContents)
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
            self.setItem(row, COL_NAME, QTableWidgetItem(trace.name))
            value = QTableWidgetItem("")
            value.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
            self.setItem(row, COL_VALUE, value)
            self.setItem(row, COL_ALARM, QTableWidgetItem(""))
            self.fill_row(row, trace)

    def remove_trace(self, name: str) -> None:
        row = self.row_of(name)
        if row >= 0:
            self.removeRow(row)

    def row_of(self, name: str) -> int:
        for row in range(self.rowCount()):
            if self.item(row, COL_NAME).text() == name:
                return row
        return -1

    def name_at(self, row: int) -> str:
        return self.item(row, COL_NAME).text()

    def sync_check(self, trace: Trace) -> None:
        row = self.row_of(trace.name)
        if row >= 0:
            with blocked(self):
                self.item(row, COL_SWATCH).setCheckState(
                    Qt.Checked if trace.visible else Qt.Unchecked
                )

    def refresh(self, traces: Mapping[str, Trace]) -> None:
        with blocked(self):
            for row in range(self.rowCount()):
                trace = traces.get(self.name_at(row))
                if trace is not None:
                    self.fill_row(row, trace)

    def fill_row(self, row: int, trace: Trace) -> None:
        buf = trace.buffer
        if trace.connected is None:
            text, alarm, color = "", "searching…", None
        elif not trace.connected and not trace.ever_connected:
            text, alarm, color = "", "NOT FOUND", cafmt.DISCONNECTED_COLOR
        elif not trace.connected:
            text = "" if not len(buf) else last_finite_text(trace)
            alarm, color = cafmt.DISCONNECTED_TEXT, cafmt.DISCONNECTED_COLOR
        else:
            sev = buf.last_severity
            text = value_text(trace, buf.last_value) if len(buf) else ""
            alarm = cafmt.severity_text(sev) if sev != SEVERITY_DISCONNECTED else ""
            color = cafmt.ALARM_COLORS.get(sev)
        value_item = self.item(row, COL_VALUE)
        if value_item.text() != text:  # setText relayouts the table: only on change
            value_item.setText(text)
        style = (trace.color.name(), trace.connected, alarm, color, trace.units)
        if style == trace.legend_style:
            return
        trace.legend_style = style
        swatch = self.item(row, COL_SWATCH)
        pix = QPixmap(14, 14)
        pix.fill(trace.color if trace.connected is not False else QColor(cafmt.DISCONNECTED_COLOR))
        swatch.setIcon(QIcon(pix))
        alarm_item = self.item(row, COL_ALARM)
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
        self.item(row, COL_NAME).setToolTip(
            trace.name + (f"\nunits: {trace.units}" if trace.units else "")
        )

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
        menu.exec_(self.viewport().mapToGlobal(pos))

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key_Delete:
            rows = {i.row() for i in self.selectedItems()}
            for name in [self.name_at(r) for r in sorted(rows)]:
                self.remove_requested.emit(name)
            return
        super().keyPressEvent(event)
