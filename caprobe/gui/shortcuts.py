"""Help ▸ Keyboard shortcuts: every key of the window, read from its menus (so the list can
never disagree with what the keys do) plus the keys of the fields themselves."""

from __future__ import annotations

from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMenu,
    QMenuBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: Keys that belong to fields, not menus.
FIELD_KEYS = (
    ("PV field", "Enter", "Open the PV(s) typed (several separated by spaces)"),
    ("Write field", "Enter", "Write the value"),
    ("Write field", "Esc", "Discard the edit and show the live value again"),
    ("Window", "Tab / Shift+Tab",
     "PV field → value to write → Write → details → chart, and back"),
)


def menu_shortcuts(menubar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, keys, what) for every menu action that has a shortcut."""
    rows: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), f"{path} ▸ {action.text().replace('&', '')}")
                continue
            keys = [s.toString(QKeySequence.NativeText) for s in action.shortcuts()
                    if not s.isEmpty()]
            if keys:
                rows.append((path, " or ".join(keys), action.text().replace("&", "")))

    for action in menubar.actions():
        if action.menu() is not None:
            walk(action.menu(), action.text().replace("&", ""))
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, menubar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts — caprobe")
        rows = menu_shortcuts(menubar) + list(FIELD_KEYS)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "Does"])
        for row, (where, keys, what) in enumerate(rows):
            for column, text in enumerate((where, keys, what)):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(640, 520)

    def rows(self) -> list[tuple[str, str, str]]:
        return [tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
                for r in range(self.table.rowCount())]
