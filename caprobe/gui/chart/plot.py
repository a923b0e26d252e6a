"""The chart's plot widget: a time axis, and drops of PV names passed to the panel."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PyQt5.QtCore import Qt
from PyQt5.QtGui import QDragEnterEvent, QDropEvent
from PyQt5.QtWidgets import QLabel, QWidget

BANNER_STYLE = (
    "background-color: rgba(255, 179, 0, 225); color: #000000; font-weight: bold;"
    " padding: 3px 14px; border-radius: 3px;"
)
NOTE_STYLE = (
    "background-color: rgba(20, 24, 28, 220); color: #ffb74d; padding: 2px 6px;"
    " border: 1px solid #ffb74d; border-radius: 3px;"
)


class ChartPlot(pg.PlotWidget):
    """PlotWidget with a local-time axis; drops are handed on (QGraphicsView eats them).

    Two labels float over the plot (widgets, so they are not in exported images): a banner
    at the top (PAUSED) and a note at the bottom left (what the plot cannot show).
    """

    def __init__(self, drop_target: QWidget) -> None:
        super().__init__(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self._drop_target = drop_target
        self.setAcceptDrops(True)
        self.banner = QLabel(self)
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.banner.hide()
        self.note = QLabel(self)
        self.note.setStyleSheet(NOTE_STYLE)
        self.note.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.note.setWordWrap(True)
        self.note.hide()

    def set_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(bool(text))
        self._place_overlays()

    def set_note(self, text: str) -> None:
        if text == self.note.text() and self.note.isVisible() == bool(text):
            return
        self.note.setText(text)
        self.note.setVisible(bool(text))
        self._place_overlays()

    def _place_overlays(self) -> None:
        self.banner.adjustSize()
        self.banner.move((self.width() - self.banner.width()) // 2, 6)
        self.banner.raise_()
        self.note.setMaximumWidth(max(200, self.width() - 90))
        self.note.adjustSize()
        self.note.move(70, self.height() - self.note.height() - 40)
        self.note.raise_()

    def resizeEvent(self, ev: Any) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(ev)
        if "note" in self.__dict__:  # the base class resizes once before __init__ ends
            self._place_overlays()

    def dragEnterEvent(self, ev: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        self._drop_target.dragEnterEvent(ev)

    def dragMoveEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.mimeData().hasText():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QDropEvent) -> None:  # noqa: N802
        self._drop_target.dropEvent(ev)
