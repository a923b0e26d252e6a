"""The PV name field: Enter connects, completion from recently used PVs, drops of PV names."""

from __future__ import annotations

from PyQt5.QtCore import QEvent, QMimeData, QObject, QSettings, QStringListModel, Qt, pyqtSignal
from PyQt5.QtGui import QDragEnterEvent, QDropEvent, QKeyEvent, QKeySequence
from PyQt5.QtWidgets import QAction, QCompleter, QLineEdit, QWidget

RECENT_KEY = "pv_entry/recent"
CONNECTED_KEY = "pv_entry/connected"
MAX_RECENT = 50

#: Channel Access refuses longer names (caProto.h: anything longer is "unreasonable").
MAX_NAME_BYTES = 500
_SEPARATORS = " \t\r\n,"
_QUOTES = "\"'"


def split_pv_text(text: str) -> list[str]:
    """Split pasted, typed or dropped text ('a:b, c:d\ne:f') into candidate names, keeping
    order and dropping repeats.  Separators are white space and commas, except inside a JSON
    field modifier ``{...}`` (which may contain both); quotes around a name are removed."""
    names: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        if char in _SEPARATORS and depth == 0:
            if current:
                names.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        names.append("".join(current))
    unique: list[str] = []
    for name in names:
        name = name.strip(_QUOTES)
        if name and name not in unique:
            unique.append(name)
    return unique


def pv_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Channel Access PV name (one line), or None if it can be.

    The same rules as the client's own check, applied before a tab opens, so a mistyped name
    gets one clear message instead of a tab that searches forever."""
    if not name:
        return "the name is empty"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "it contains control characters"
    record_part = name.split("{", 1)[0]
    if not record_part.isascii():
        return "it contains non-ASCII characters"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    return None


def short_name(name: str, limit: int = 40) -> str:
    """A name fit for a one-line message (control characters visible, long names cut)."""
    text = name.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pv_names_from_text(text: str) -> list[str]:
    """The valid PV names in ``text`` (see :func:`split_pv_text`, :func:`pv_name_problem`)."""
    return [name for name in split_pv_text(text) if pv_name_problem(name) is None]


def pv_names_from_mime(mime: QMimeData) -> list[str]:
    """Candidate names in dropped text; the window refuses the invalid ones with a message."""
    if mime.hasText():
        return split_pv_text(mime.text())
    return []


def _string_list(value: object) -> list[str]:
    if isinstance(value, str):  # QSettings returns a bare str for a one-item list
        return [value]
    return [str(n) for n in (value or [])]  # type: ignore[union-attr]


class RecentPVs:
    """Most-recently-used PV names, newest first, persisted in QSettings.

    Completion offers the names that have connected at least once first (newest first), then
    the ones that never did (typos, PVs of an IOC that was down), so a mistyped name never
    comes first."""

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings
        self._names: list[str] = _string_list(settings.value(RECENT_KEY, []))[:MAX_RECENT]
        self._connected: set[str] = set(_string_list(settings.value(CONNECTED_KEY, [])))
        self.model = QStringListModel()
        self._update_model()

    def names(self) -> list[str]:
        return list(self._names)

    def completions(self) -> list[str]:
        """What the completer offers, in order."""
        return self.model.stringList()

    def _update_model(self) -> None:
        good = [n for n in self._names if n in self._connected]
        self.model.setStringList(good + [n for n in self._names if n not in self._connected])

    def remember(self, name: str) -> None:
        if name in self._names:
            self._names.remove(name)
        self._names.insert(0, name)
        del self._names[MAX_RECENT:]
        self._update_model()

    def mark_connected(self, name: str) -> None:
        """``name`` reached an IOC: it is worth offering first."""
        if name not in self._connected:
            self._connected.add(name)
            self._update_model()

    def save(self) -> None:
        self._settings.setValue(RECENT_KEY, self._names)
        self._settings.setValue(CONNECTED_KEY,
                                [n for n in self._names if n in self._connected])


class WindowShortcutsFirst(QObject):
    """Lets the window's menu shortcuts win over a text field's own key bindings (Ctrl+E is
    'end of line' in a QLineEdit on X11, so 'Show all elements' did nothing from the PV
    field). Install on any QLineEdit of the window."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.ShortcutOverride and isinstance(event, QKeyEvent) and \
                isinstance(obj, QWidget):
            modifiers = int(event.modifiers()) & ~int(Qt.KeypadModifier)
            pressed = QKeySequence(event.key() | modifiers)
            for action in obj.window().findChildren(QAction):
                if action.isEnabled() and any(
                        shortcut.matches(pressed) == QKeySequence.ExactMatch
                        for shortcut in action.shortcuts()):
                    event.ignore()  # not overridden: the window's shortcut runs
                    return True
        return False


class PVEntry(QLineEdit):
    """Type a PV name and press Enter (``pvsRequested`` carries one or more names)."""

    pvsRequested = pyqtSignal(list)
    #: one line for the status bar when typed text holds names that cannot be PV names
    refused = pyqtSignal(str)

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
        self._shortcuts_first = WindowShortcutsFirst(self)
        self.installEventFilter(self._shortcuts_first)

    def _submit(self) -> None:
        candidates = split_pv_text(self.text())
        bad = [(name, pv_name_problem(name)) for name in candidates]
        bad = [(name, why) for name, why in bad if why is not None]
        names = [name for name in candidates if pv_name_problem(name) is None]
        if bad:
            name, why = bad[0]
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            self.refused.emit(f"Not a PV name: '{short_name(name)}': {why}{more}; "
                              "nothing opened for it")
        if names:
            self.pvsRequested.emit(names)
        if names and not bad:
            self.clear()  # keep a mistyped name in the field so it can be corrected

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
