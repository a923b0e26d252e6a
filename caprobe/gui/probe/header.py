"""The probe's header: what an operator must always see, outside any scroll area.

Rows (each wraps rather than clipping, so nothing is cut at 800 px):

1. PV name (bold, draggable) and DESC; the display format and digits on the right;
2. the value in a frame coloured by severity, and the severity badge (colour and word);
3. a hint when the PV's precision hides digits of the value (hidden otherwise);
4. the connection line, and the IOC time with its age (the age in a fixed-width field, so
   '(12.8 min ago)' never shifts the layout).
"""

from __future__ import annotations

from PyQt5.QtCore import QEvent, QSize, Qt
from PyQt5.QtGui import QFont, QFontMetrics, QResizeEvent
from PyQt5.QtWidgets import (
    QApplication,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from caprobe.gui import display, style
from caprobe.gui.probe.labels import DraggableName, Field

#: The badge is at least this wide, so common texts do not change the value frame's width.
BADGE_SAMPLE = "MAJOR - STATE"
TIME_SAMPLES = ("IOC time 2026-12-07 16:22:21.858390523",
                "IOC time: never processed (EPICS epoch)")
#: The widest texts of the age field (it has a fixed width: a changing age never moves the time)
AGE_SAMPLES = ("(59.9 min ago)", "(47.9 h ago)", "(999 days ago)", "(future: clock?)")
VALUE_SCALE = 1.8
NAME_SCALE = 1.15


class ProbeHeader(QWidget):
    """Name, value, severity, IOC time, connection (see the module docstring)."""

    def __init__(self, pv_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("probeHeader")
        self._hfw_cache: tuple[int, int] | None = None  # (width, height the rows need)
        self.name_label = DraggableName(pv_name)
        self.desc_label = Field("")
        self.desc_label.setToolTip("The record's DESC field")

        self.format_combo = QComboBox()
        for mode in display.DisplayFormat:
            self.format_combo.addItem(mode.value, mode)
        self.format_combo.setToolTip("How the value is shown (the IOC value is unchanged); "
                                     "Ctrl+1 … Ctrl+6")
        self.format_combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.precision_spin = QSpinBox()
        self.precision_spin.setRange(-1, 17)
        self.precision_spin.setSpecialValueText("PREC")
        self.precision_spin.setValue(-1)
        self.precision_spin.setToolTip("Digits after the decimal point ('PREC' = the PV's own)")
        format_label = QLabel("&Format")
        format_label.setBuddy(self.format_combo)
        digits_label = QLabel("digits")
        digits_label.setBuddy(self.precision_spin)

        self.value_label = QLabel("—")
        self.value_label.setTextFormat(Qt.PlainText)  # a string PV may hold '<b>...'
        self.value_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.value_label.setWordWrap(True)
        self.value_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.value_label.setToolTip("Live value (IOC monitor, repainted at most 10 times a "
                                    "second); Ctrl+Alt+C copies it")
        self.value_frame = QFrame()
        self.value_frame.setObjectName("valueFrame")
        self.value_frame.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        frame_layout = QHBoxLayout(self.value_frame)
        frame_layout.setContentsMargins(8, 2, 8, 2)
        frame_layout.addWidget(self.value_label, 1)
        self.show_all_button = QPushButton("Show all…")
        self.show_all_button.setToolTip("Every element of the array (Ctrl+E)")
        self.show_all_button.hide()
        frame_layout.addWidget(self.show_all_button, 0, Qt.AlignTop)
        self.image_button = QPushButton("Image…")
        self.image_button.setToolTip("The image in a window of its own, as large as you make "
                                     "it (the details below show it too when they have room)")
        self.image_button.hide()
        frame_layout.addWidget(self.image_button, 0, Qt.AlignTop)

        self.alarm_badge = QLabel()
        self.alarm_badge.setTextFormat(Qt.PlainText)
        self.alarm_badge.setAlignment(Qt.AlignCenter)
        self.alarm_badge.setWordWrap(True)
        self.alarm_badge.setToolTip("Alarm severity - status (colours: MEDM/Phoebus "
                                    "convention; grey dashed = not connected)")
        self.alarm_badge.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)

        self.precision_hint = QLabel()
        self.precision_hint.setTextFormat(Qt.PlainText)
        self.precision_hint.setWordWrap(True)
        self.precision_hint.hide()

        self.connection_label = Field()
        self.timestamp_label = QLabel()
        self.timestamp_label.setTextFormat(Qt.PlainText)
        self.timestamp_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.timestamp_label.setToolTip("IOC timestamp of the value (local time, to the "
                                        "nanosecond) and its age")
        self.timestamp_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        # one line: it is short (about 40 characters), and a date broken from its time reads
        # badly; the connection line beside it wraps instead
        self.age_label = QLabel()
        self.age_label.setTextFormat(Qt.PlainText)
        self.age_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)

        name_row = QHBoxLayout()
        name_row.addWidget(self.name_label, 0)
        name_row.addSpacing(12)
        name_row.addWidget(self.desc_label, 1)
        name_row.addWidget(format_label)
        name_row.addWidget(self.format_combo)
        name_row.addWidget(digits_label)
        name_row.addWidget(self.precision_spin)

        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 4)
        grid.setVerticalSpacing(4)
        grid.addLayout(name_row, 0, 0, 1, 3)
        grid.addWidget(self.value_frame, 1, 0, 1, 2)
        grid.addWidget(self.alarm_badge, 1, 2)
        grid.addWidget(self.precision_hint, 2, 0, 1, 3)
        grid.addWidget(self.connection_label, 3, 0)
        grid.addWidget(self.timestamp_label, 3, 1)
        grid.addWidget(self.age_label, 3, 2)
        # the connection line takes what is left; the time keeps its one-line width
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 0)
        self._apply_fonts()
        self.apply_theme()

    def _apply_fonts(self) -> None:
        """Fonts derived from the application font (again after a zoom)."""
        base = QApplication.font()
        name_font = QFont(base)
        name_font.setBold(True)
        name_font.setPointSizeF(base.pointSizeF() * NAME_SCALE)
        self.name_label.setFont(name_font)
        value_font = QFont(base)
        value_font.setFamily("DejaVu Sans Mono")
        value_font.setStyleHint(QFont.TypeWriter)
        value_font.setPointSizeF(base.pointSizeF() * VALUE_SCALE)
        self.value_label.setFont(value_font)
        badge_font = QFont(base)
        badge_font.setBold(True)
        self.alarm_badge.setFont(badge_font)
        metrics = QFontMetrics(badge_font)
        self.alarm_badge.setMinimumWidth(metrics.horizontalAdvance(BADGE_SAMPLE) + 24)
        metrics = QFontMetrics(base)
        self.age_label.setFixedWidth(max(metrics.horizontalAdvance(t) for t in AGE_SAMPLES) + 6)
        # the time's text has a constant length: a fixed width keeps it (and the connection
        # line beside it) still while values, ages and host names change
        self.timestamp_label.setFixedWidth(
            max(metrics.horizontalAdvance(t) for t in TIME_SAMPLES) + 6)
        # Two lines of value text at least: the frame never collapses to nothing.
        self.value_frame.setMinimumHeight(QFontMetrics(value_font).height() + 10)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        """At least the height the wrapped rows need at the current width, so a short window
        (or the splitter) can squeeze the details but never the header."""
        hint = super().minimumSizeHint()
        layout = self.layout()
        # Only for the header on show: a tab widget asks every page (20 open PVs, each
        # relaying out its wrapped labels on every update) for its minimum
        if not self.isVisible() or self.width() <= 0 or layout is None or \
                not layout.hasHeightForWidth():
            return hint
        if self._hfw_cache is None or self._hfw_cache[0] != self.width():
            self._hfw_cache = (self.width(), layout.totalHeightForWidth(self.width()))
        hint.setHeight(max(hint.height(), self._hfw_cache[1]))
        return hint

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()  # wrapping changed: the minimum height may have too

    def apply_theme(self) -> None:
        self.desc_label.setStyleSheet(style.dim_text_style())
        self.precision_hint.setStyleSheet(style.dim_text_style())

    def event(self, event: QEvent) -> bool:
        if event.type() in (QEvent.LayoutRequest, QEvent.Show):
            self._hfw_cache = None  # a text changed (or the page came back): measure again
            if event.type() == QEvent.Show:
                self.updateGeometry()
        if event.type() == QEvent.ApplicationFontChange:
            self._apply_fonts()
        elif event.type() == QEvent.ApplicationPaletteChange:
            self.apply_theme()
        return super().event(event)
