"""See every element of an array PV (the value field shows only the first few)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PyQt5.QtCore import QAbstractTableModel, QModelIndex, Qt
from PyQt5.QtGui import QFont
from PyQt5.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from caprobe import format as cafmt


class ArrayModel(QAbstractTableModel):
    """Index | value, formatted lazily so a 1M-element waveform opens at once."""

    def __init__(self, data: Any, precision: int | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._strings = [cafmt.to_text(v) for v in data] if isinstance(data, list) else None
        self._array = None if self._strings is not None else np.asarray(data).reshape(-1)
        self._precision = precision

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 (Qt API)
        if parent.isValid():
            return 0
        return len(self._strings) if self._strings is not None else int(self._array.size)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 1

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if role == Qt.TextAlignmentRole:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role != Qt.DisplayRole or not index.isValid():
            return None
        row = index.row()
        if self._strings is not None:
            return self._strings[row]
        value = self._array[row]
        if self._array.dtype.kind == "f":
            if self._precision is not None and 0 <= self._precision <= 17:
                return f"{float(value):.{self._precision}f}"
            return f"{float(value):g}"
        return str(int(value))

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.DisplayRole) -> Any:
        if role != Qt.DisplayRole:
            return None
        return "Value" if orientation == Qt.Horizontal else str(section)


class ArrayDialog(QDialog):
    """A snapshot of the array at the moment it was opened (copy with Ctrl+C)."""

    def __init__(self, pv_name: str, data: Any, *, stamp_text: str, units: str | None,
                 precision: int | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{pv_name} — all elements")
        count = len(data) if isinstance(data, list) else int(np.asarray(data).size)
        header = QLabel(f"<b>{pv_name}</b>: {count} elements"
                        + (f" [{units}]" if units else "") + f" — snapshot of {stamp_text}")
        header.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.model = ArrayModel(data, precision, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setFont(QFont("DejaVu Sans Mono"))
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 4)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        copy_button = buttons.addButton("Copy all", QDialogButtonBox.ActionRole)
        copy_button.clicked.connect(self.copy_all)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        em = self.fontMetrics().averageCharWidth()
        self.resize(40 * em, 30 * self.fontMetrics().height())

    def copy_all(self) -> None:
        rows = self.model.rowCount()
        text = "\n".join(str(self.model.data(self.model.index(r, 0))) for r in range(rows))
        QApplication.clipboard().setText(text)
