"""See every element of an array PV (the value field shows only the first few)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import numpy as np
from PyQt5.QtCore import QAbstractTableModel, QModelIndex, Qt
from PyQt5.QtGui import QFont
from PyQt5.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
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
        header = QLabel(f"<b>{html.escape(pv_name)}</b>: {count} elements"
                        + (f" [{html.escape(units)}]" if units else "")
                        + f" — snapshot of {html.escape(stamp_text)}")
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


class _EditableArrayModel(QAbstractTableModel):
    """Elements as editable text; parsing and range checks happen when the panel writes."""

    def __init__(self, values: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values = list(values)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 (Qt API)
        return 0 if parent.isValid() else len(self.values)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 1

    def flags(self, index: QModelIndex) -> Qt.ItemFlags:
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsEditable

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role in (Qt.DisplayRole, Qt.EditRole):
            return self.values[index.row()]
        if role == Qt.TextAlignmentRole:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None

    def setData(self, index: QModelIndex, value: Any, role: int = Qt.EditRole) -> bool:
        if role != Qt.EditRole or not index.isValid():
            return False
        self.values[index.row()] = str(value).strip()
        self.dataChanged.emit(index, index)
        return True

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.DisplayRole) -> Any:
        if role != Qt.DisplayRole:
            return None
        return "Value" if orientation == Qt.Horizontal else str(section)

    def resize_to(self, count: int) -> None:
        count = max(1, count)
        if count == len(self.values):
            return
        self.beginResetModel()
        if count < len(self.values):
            del self.values[count:]
        else:
            self.values.extend(["0"] * (count - len(self.values)))
        self.endResetModel()


class ArrayEditorDialog(QDialog):
    """Edit an array element by element; 'Write' hands the elements to the write panel, which
    parses, range-checks and sends them exactly as if they had been typed in its field."""

    def __init__(self, pv_name: str, elements: list[str], max_count: int,
                 write: Callable[[list[str]], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{pv_name} — edit array")
        self._write = write
        self.model = _EditableArrayModel(elements or ["0"], self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, max(1, max_count))
        self.count_spin.setValue(len(self.model.values))
        self.count_spin.valueChanged.connect(self.model.resize_to)
        count_row = QHBoxLayout()
        count_row.addWidget(QLabel(f"Elements (at most {max_count}):"))
        count_row.addWidget(self.count_spin)
        count_row.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.write_button = buttons.addButton("Write", QDialogButtonBox.AcceptRole)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"<b>{html.escape(pv_name)}</b>: double-click an element to "
                                "change it"))
        layout.addLayout(count_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        em = self.fontMetrics().averageCharWidth()
        self.resize(40 * em, 30 * self.fontMetrics().height())

    def _accept(self) -> None:
        # Commit an editor still open in the table before reading the values.
        self.table.setCurrentIndex(QModelIndex())
        self._write(list(self.model.values))
        self.accept()
