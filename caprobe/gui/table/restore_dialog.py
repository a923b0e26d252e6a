"""Restore preview: what will be written (old -> new) and what cannot be, then confirm."""

from __future__ import annotations

from collections.abc import Sequence

from PyQt5.QtCore import Qt
from PyQt5.QtGui import QBrush, QColor
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from caprobe.snapshot.restore import RestoreItem

REFUSED_COLOR = QColor("#B00000")


class RestorePreview(QDialog):
    """Lists every planned row; the OK button says how many PVs will be written."""

    def __init__(self, items: Sequence[RestoreItem], timeout: float, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Restore saved values")
        self.items = list(items)
        ready = [item for item in self.items if item.ready]
        blocked = len(self.items) - len(ready)
        summary = QLabel(
            f"{len(ready)} PV(s) will be written with put-callback, then read back."
            + (f"  {blocked} cannot be written (listed in red) and are left as they are."
               if blocked else ""))
        summary.setWordWrap(True)
        self.timeout_spin = QDoubleSpinBox()
        self.timeout_spin.setRange(0.1, 3600.0)
        self.timeout_spin.setDecimals(1)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setValue(timeout)
        self.timeout_spin.setToolTip("How long to wait for the IOCs to complete the writes "
                                     "(all PVs together)")
        timeout_row = QHBoxLayout()
        timeout_row.addWidget(QLabel("Put-callback timeout:"))
        timeout_row.addWidget(self.timeout_spin)
        timeout_row.addStretch(1)
        table = QTableWidget(len(self.items), 4)
        table.setHorizontalHeaderLabels(["PV", "Now", "Will write", "Note"])
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.verticalHeader().hide()
        for row, item in enumerate(self.items):
            now, will_write = item.display_texts()
            cells = [item.name, now, will_write if item.ready else "—",
                     "" if item.ready else f"{item.outcome}: {item.reason}"]
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                if not item.ready:
                    cell.setForeground(QBrush(REFUSED_COLOR))
                table.setItem(row, column, cell)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.write_button = buttons.addButton(f"Write {len(ready)} PV(s)",
                                              QDialogButtonBox.AcceptRole)
        self.write_button.setEnabled(bool(ready))
        buttons.button(QDialogButtonBox.Cancel).setDefault(True)  # Enter never writes
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(table, 1)
        layout.addLayout(timeout_row)
        layout.addWidget(buttons)
        self.resize(760, 420)
        self.setAttribute(Qt.WA_DeleteOnClose, False)

    @property
    def timeout(self) -> float:
        return float(self.timeout_spin.value())
