"""The PV name field: Enter connects, completion from recently used PVs, drops of PV names."""

from __future__ import annotations

import re

from PyQt5.QtCore import QMimeData, QSettings, QStringListModel, Qt, pyqtSignal
from PyQt5.QtGui import QDragEnterEvent, QDropEvent
from PyQt5.QtWidgets import QCompleter, QLineEdit, QWidget

RECENT_KEY = "pv_entry/recent"
MAX_RECENT = 50

# EPICS record names use these characters; a field name follows a dot.  Anything else in a
# dropped text (quotes, commas, newlines) separates names.
_PV_TOKEN = re.compile(r"[A-Za-z0-9_:\-\[\]<>;.{}$]+")


def pv_names_from_text(text: str) -> list[str]:
    """Split pasted or dropped text ('a:b, c:d\\ne:f') into PV names, keeping order."""
    names: list[str] = []
    for token in _PV_TOKEN.findall(text):
        token = token.strip(".;")
        if token and token not in names:
            names.append(token)
    return names


def pv_names_from_mime(mime: QMimeData) -> list[str]:
    if mime.hasText():
        return pv_names_from_text(mime.text())
    return []


class RecentPVs:
    """Most-recently-used PV names, newest first, persisted in QSettings."""

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings
        stored = settings.value(RECENT_KEY, [])
        if isinstance(stored, str):  # QSettings returns a bare str for a one-item list
            stored = [stored]
        self._names: list[str] = [str(n) for n in (stored or [])][:MAX_RECENT]
        self.model = QStringListModel(self._names)

    def names(self) -> list[str]:
        return list(self._names)

    def remember(self, name: str) -> None:
        if name in self._names:
            self._names.remove(name)
        self._names.insert(0, name)
        del self._names[MAX_RECENT:]
        self.model.setStringList(self._names)

    def save(self) -> None:
        self._settings.setValue(RECENT_KEY, self._names)


class PVEntry(QLineEdit):
    """Type a PV name and press Enter (``pvsRequested`` carries one or more names)."""

    pvsRequested = pyqtSignal(list)

    def __init__(self, recent: RecentPVs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("PV name — Enter to open, several separated by spaces")
        self.setClearButtonEnabled(True)
        self.setAcceptDrops(True)
        self.setToolTip("Type a PV name and press Enter (Ctrl+L focuses this field).\n"
                        "Recently used names complete as you type; drop PV names here.")
        completer = QCompleter(recent.model, self)
        completer.setCaseSensitivity(Qt.CaseInsensitive)
        completer.setFilterMode(Qt.MatchContains)
        completer.setCompletionMode(QCompleter.PopupCompletion)
        self.setCompleter(completer)
        self.returnPressed.connect(self._submit)

    def _submit(self) -> None:
        names = pv_names_from_text(self.text())
        if names:
            self.pvsRequested.emit(names)
            self.clear()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if pv_names_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        names = pv_names_from_mime(event.mimeData())
        if names:
            event.acceptProposedAction()
            self.pvsRequested.emit(names)
        else:
            super().dropEvent(event)
