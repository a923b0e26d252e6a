"""The chart's plot widget: a time axis, and drops of PV names passed to the panel."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PyQt5.QtGui import QDragEnterEvent, QDropEvent
from PyQt5.QtWidgets import QWidget


class ChartPlot(pg.PlotWidget):
    """PlotWidget with a local-time axis; drops are handed on (QGraphicsView eats them)."""

    def __init__(self, drop_target: QWidget) -> None:
        super().__init__(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self._drop_target = drop_target
        self.setAcceptDrops(True)

    def dragEnterEvent(self, ev: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        self._drop_target.dragEnterEvent(ev)

    def dragMoveEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.mimeData().hasText():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QDropEvent) -> None:  # noqa: N802
        self._drop_target.dropEvent(ev)
