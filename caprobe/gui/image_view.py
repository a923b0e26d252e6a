"""The probe's image of an NTNDArray PV (areaDetector over PV Access): the picture, its size,
pixel type, colour mode, uniqueId, the measured frame rate, and a min/max level control.

Updates only replace the newest frame; a timer draws it at most every ``REDRAW_MS`` (and not
while the view is hidden), so a camera at 100 Hz costs the GUI thread ten draws a second.
The pixels are numpy views of the array decoded in the PV service's thread
(:mod:`caprobe.gui.probe.image_frame`); pyqtgraph downsamples a large image to the pixels on
screen when it draws. Frames caprobe does not draw (compressed, Bayer, YUV) show the reason
instead of the picture.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import QEvent, Qt, QTimer
from PyQt5.QtGui import QShowEvent
from PyQt5.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from caprobe.gui.probe.image_frame import Frame, FrameRefused, frame_of

#: Longest wait between a frame's arrival and its drawing (also the fastest redraw).
REDRAW_MS = 50
#: The frame rate is measured over the updates of this many seconds.
RATE_WINDOW_S = 2.0
#: Auto levels look at about this many pixels (a strided view), not at every one.
LEVEL_SAMPLES = 65_536


def auto_levels(pixels: np.ndarray) -> tuple[float, float]:
    """(min, max) of a strided sample of ``pixels`` (NaNs ignored); equal ends are widened so
    a flat image still draws."""
    step = max(1, int(np.sqrt(pixels.shape[0] * pixels.shape[1] / LEVEL_SAMPLES)))
    sample = pixels[::step, ::step]
    if sample.dtype.kind == "f":
        finite = sample[np.isfinite(sample)]
        sample = finite if finite.size else np.zeros(1)
    low, high = float(sample.min()), float(sample.max())
    if high <= low:
        high = low + 1.0
    return low, high


class ImageView(QWidget):
    """NTNDArray image with its facts and levels; feed it with :meth:`show_response`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pending: Any = None  # the newest response not drawn yet
        self.frame: Frame | None = None  # the frame on screen
        self.refusal = ""  # why the newest frame is not drawn ('' when it is)
        self.draws = 0
        self._counts: deque[tuple[float, int]] = deque()
        self.rate: float | None = None

        self.info_label = QLabel("no frame yet")
        self.info_label.setTextFormat(Qt.PlainText)
        self.info_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.info_label.setWordWrap(True)

        self.auto_box = QCheckBox("Auto levels")
        self.auto_box.setChecked(True)
        self.auto_box.setToolTip("Stretch each frame's darkest to brightest pixel over the "
                                 "grey (or colour) scale; untick to set Min and Max yourself")
        self.auto_box.toggled.connect(self._auto_toggled)
        self.min_spin = self._level_spin("Darkest shown: pixels at or below Min are black")
        self.max_spin = self._level_spin("Brightest shown: pixels at or above Max are white")
        levels = QHBoxLayout()
        levels.setContentsMargins(0, 0, 0, 0)
        levels.addWidget(self.auto_box)
        levels.addSpacing(8)
        levels.addWidget(QLabel("Min"))
        levels.addWidget(self.min_spin)
        levels.addWidget(QLabel("Max"))
        levels.addWidget(self.max_spin)
        levels.addStretch(1)

        self.plot = pg.GraphicsLayoutWidget()
        self.plot.setBackground(None)
        self.view_box = self.plot.addViewBox(lockAspect=True, invertY=True)
        self.view_box.setMenuEnabled(False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setAutoDownsample(True)  # a 4k frame in a 400 px box: draw 400 px
        self.view_box.addItem(self.image_item)
        self.plot.setToolTip("Wheel zooms, drag pans; double-click shows the whole image")
        self.plot.setMinimumHeight(self.fontMetrics().height() * 12)
        self.plot.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.plot.viewport().installEventFilter(self)

        self.message = QLabel()
        self.message.setTextFormat(Qt.PlainText)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot)
        self.stack.addWidget(self.message)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.info_label)
        layout.addLayout(levels)
        layout.addWidget(self.stack, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        self._fit_pending = True
        self._auto_toggled(True)

    def _level_spin(self, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(-1e15, 1e15)
        spin.setDecimals(0)
        spin.setKeyboardTracking(False)  # a level per finished number, not per digit
        spin.setToolTip(tip)
        spin.setMaximumWidth(self.fontMetrics().averageCharWidth() * 14)
        spin.valueChanged.connect(self._manual_levels)
        return spin

    # ---- data in ---------------------------------------------------------------------------
    def show_response(self, response: Any) -> None:
        """An NTNDArray update: kept as the newest; drawn by the timer (never more often than
        every REDRAW_MS, however fast updates come)."""
        self._pending = response
        if not self._timer.isActive():
            self._timer.start()

    def note_updates(self, count: int, now: float | None = None) -> None:
        """The PV's update count so far (every update the server sent, counted in the
        service's thread): the frame rate is measured from it."""
        now = time.monotonic() if now is None else now
        if self._counts and count < self._counts[-1][1]:
            self._counts.clear()  # the history was reset
        self._counts.append((now, count))
        while len(self._counts) > 2 and now - self._counts[1][0] >= RATE_WINDOW_S:
            self._counts.popleft()
        first_time, first_count = self._counts[0]
        span = now - first_time
        self.rate = (count - first_count) / span if span >= 0.5 else None
        self._refresh_info()

    # ---- drawing ---------------------------------------------------------------------------
    def redraw(self) -> None:
        """Draw the newest frame (the timer calls this)."""
        response, self._pending = self._pending, None
        if response is None:
            return
        if not self.isVisible():
            self._pending = response  # drawn when the view shows again
            return
        try:
            frame = frame_of(response)
        except FrameRefused as exc:
            self.refusal = f"Not drawn: {exc}. The fields are in the structure below."
            self.message.setText(self.refusal)
            self.stack.setCurrentWidget(self.message)
            self.frame = None
            self._refresh_info()
            return
        self.refusal = ""
        self.stack.setCurrentWidget(self.plot)
        resized = self.frame is None or self.frame.pixels.shape[:2] != frame.pixels.shape[:2]
        if self.frame is None or self.frame.pixels.dtype != frame.pixels.dtype:
            decimals = 3 if frame.pixels.dtype.kind == "f" else 0
            for spin in (self.min_spin, self.max_spin):
                spin.setDecimals(decimals)
        self.frame = frame
        if self.auto_box.isChecked():
            levels = auto_levels(frame.pixels)
            self._show_levels(levels)
        else:
            levels = (self.min_spin.value(), self.max_spin.value())
        self.image_item.setImage(frame.pixels, autoLevels=False, levels=levels)
        self.draws += 1
        if resized or self._fit_pending:
            self._fit_pending = False
            self.view_box.autoRange(padding=0)
        self._refresh_info()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._pending is not None and not self._timer.isActive():
            self._timer.start()

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.MouseButtonDblClick:
            self.view_box.autoRange(padding=0)
            return True
        return False

    def _refresh_info(self) -> None:
        frame = self.frame
        rate = "measuring" if self.rate is None else f"{self.rate:.1f}"
        if frame is None:
            self.info_label.setText(f"no image drawn  ·  {rate} frames/s")
            return
        text = (f"{frame.width} × {frame.height}  {frame.dtype_name}  {frame.color_mode}  ·  "
                f"uniqueId {frame.unique_id}  ·  {rate} frames/s")
        self.info_label.setText(text)

    # ---- levels ----------------------------------------------------------------------------
    def _show_levels(self, levels: tuple[float, float]) -> None:
        for spin, level in zip((self.min_spin, self.max_spin), levels, strict=True):
            spin.blockSignals(True)
            spin.setValue(level)
            spin.blockSignals(False)

    def _auto_toggled(self, on: bool) -> None:
        self.min_spin.setEnabled(not on)
        self.max_spin.setEnabled(not on)
        if on and self.frame is not None:
            levels = auto_levels(self.frame.pixels)
            self._show_levels(levels)
            self.image_item.setLevels(levels)

    def _manual_levels(self, _value: float) -> None:
        if self.auto_box.isChecked() or self.frame is None:
            return
        low, high = self.min_spin.value(), self.max_spin.value()
        if high <= low:
            high = low + (1.0 if self.frame.pixels.dtype.kind != "f" else 1e-6)
        self.image_item.setLevels((low, high))

    def set_levels(self, low: float, high: float) -> None:
        """Fixed levels (Auto levels off), as typing them does."""
        self.auto_box.setChecked(False)
        self.min_spin.setValue(low)
        self.max_spin.setValue(high)
        self._manual_levels(high)
