"""An NTNDArray image in a window of its own (the probe's Image… button): as large as the
operator makes it, whatever room the probe's details have. Fed by the probe from the PV's
one monitor; closed with the probe."""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QVBoxLayout, QWidget

from caprobe.gui.image_view import ImageView


class ImageWindow(QWidget):
    """A top-level window holding one :class:`ImageView`."""

    def __init__(self, pv_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.Window)
        self.setWindowTitle(f"{pv_name} — image — caprobe")
        self.view = ImageView()
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        line = self.fontMetrics().height()
        self.resize(48 * line, 40 * line)

    def show_response(self, response: Any) -> None:
        if self.isVisible():
            self.view.show_response(response)

    def note_updates(self, count: int) -> None:
        if self.isVisible():
            self.view.note_updates(count)
