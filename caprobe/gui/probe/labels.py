"""Small widgets of the probe: read-only fields, the draggable PV name, wrap points."""

from __future__ import annotations

import re

from PyQt5.QtCore import QMimeData, QPoint, Qt
from PyQt5.QtGui import QDrag, QMouseEvent
from PyQt5.QtWidgets import QApplication, QLabel, QSizePolicy

#: Zero-width space: a line may break here (QLabel breaks only at spaces otherwise).
WRAP_POINT = "\u200b"
_LONG_TOKEN = re.compile(r"\S{24,}")
_NAME_BREAKS = re.compile(r"([:._\-/{}])")


def breakable(text: str) -> str:
    """``text`` with wrap points after PV-name punctuation inside tokens too long for a narrow
    window, so a label wraps instead of forcing the window wider (only for display: copies
    and drags use the original text)."""
    return _LONG_TOKEN.sub(lambda m: _NAME_BREAKS.sub(rf"\1{WRAP_POINT}", m.group(0)), text)


def unbreakable(text: str) -> str:
    return text.replace(WRAP_POINT, "")


class Field(QLabel):
    """A read-only value label: selectable, never elided (wraps long text)."""

    def __init__(self, text: str = "—") -> None:
        super().__init__(text)
        # IOC-supplied text (DESC, units, values) is never interpreted as HTML.
        self.setTextFormat(Qt.PlainText)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)


class DraggableName(QLabel):
    """The PV name: drag it onto the strip chart, another caprobe, or any text field."""

    def __init__(self, text: str) -> None:
        super().__init__(breakable(text))
        self.pv_name = text
        self.setTextFormat(Qt.PlainText)
        self.setWordWrap(True)
        self._press: QPoint | None = None
        self.setCursor(Qt.OpenHandCursor)
        self.setToolTip("Drag this PV name elsewhere (Ctrl+Shift+C copies it)")

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.LeftButton:
            self._press = event.pos()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._press is None or not event.buttons() & Qt.LeftButton:
            return
        if (event.pos() - self._press).manhattanLength() < QApplication.startDragDistance():
            return
        self._press = None
        mime = QMimeData()
        mime.setText(self.pv_name)
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec_(Qt.CopyAction)
