"""One open PV: the read panel (classic probe + Phoebus Probe + MEDM PV Info fields) and its
write panel.  Everything here runs in the GUI thread; data arrives from workers."""

from __future__ import annotations

import enum
import time
from typing import Any

import numpy as np
from PyQt5.QtCore import QMimeData, QPoint, Qt, pyqtSignal
from PyQt5.QtGui import QDrag, QFont, QMouseEvent
from PyQt5.QtWidgets import (
    QApplication,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from caprobe import format as cafmt
from caprobe.ca import ChannelType, ConnectionEvent
from caprobe.gui import display, style
from caprobe.gui.history import History
from caprobe.gui.service import PVService
from caprobe.gui.workers import fetch_field_text, fetch_host_name
from caprobe.gui.write_panel import WritePanel


class Connection(enum.Enum):
    SEARCHING = "searching"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    NOT_FOUND = "not found"


def _text(value: Any) -> str | None:
    return None if value is None else cafmt.to_text(value)


def _ago(seconds: float) -> str:
    if seconds < 0:
        return f"{-seconds:.1f} s in the future (clock skew between IOC and this computer?)"
    if seconds < 60:
        return f"{seconds:.1f} s ago"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min ago"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _clock(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return time.strftime("%H:%M:%S", time.localtime(stamp))


class _Field(QLabel):
    """A read-only value label: selectable, elides nothing (wraps long text)."""

    def __init__(self, text: str = "—") -> None:
        super().__init__(text)
        # IOC-supplied text (DESC, units, values) is never interpreted as HTML.
        self.setTextFormat(Qt.PlainText)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)


class _DraggableName(QLabel):
    """The PV name: drag it onto the strip chart, another caprobe, or any text field."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.setTextFormat(Qt.PlainText)
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
        mime.setText(self.text())
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec_(Qt.CopyAction)


class ProbeWidget(QWidget):
    """Read + write panels for one PV."""

    #: the connection state or headline changed (main window refreshes the tab label)
    stateChanged = pyqtSignal()
    showArrayRequested = pyqtSignal(str)
    resetHistoryRequested = pyqtSignal(str)

    def __init__(self, pv_name: str, service: PVService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pv_name = pv_name
        self._service = service
        self._closed = False
        self.state = Connection.SEARCHING
        self.state_since = time.time()
        self.state_reason = ""
        self._stamp_text = ""
        self.ever_connected = False
        self.channel: Any = None
        self.ctrl: Any = None
        self.response: Any = None
        self.desc: str | None = None
        self._host_names: dict[str, str] = {}  # server address -> name, looked up by a worker
        self.rtyp: str | None = None
        self.history = History()
        self.display_format = display.DisplayFormat.DEFAULT
        #: what the main window last drew in this PV's tab icon (colour, connected)
        self.tab_icon_key: tuple[str, bool] | None = None
        self.precision_override: int | None = None
        self._build()
        self._refresh_all()

    # ==== layout ==============================================================================
    def _build(self) -> None:
        # --- headline: name, value, alarm, connection ---
        self.name_label = _DraggableName(self.pv_name)
        name_font = QFont(self.font())
        name_font.setBold(True)
        name_font.setPointSizeF(name_font.pointSizeF() * 1.15)
        self.name_label.setFont(name_font)

        self.value_label = QLabel("—")
        self.value_label.setTextFormat(Qt.PlainText)  # a string PV may hold '<b>...'
        value_font = QFont(self.font())
        value_font.setPointSizeF(value_font.pointSizeF() * 1.8)
        value_font.setStyleHint(QFont.TypeWriter)
        value_font.setFamily("DejaVu Sans Mono")
        self.value_label.setFont(value_font)
        self.value_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.value_label.setWordWrap(True)
        self.value_label.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.value_label.setToolTip("Live value (IOC monitor, repainted at most 10 times a "
                                    "second)")
        self.value_frame = QFrame()
        self.value_frame.setObjectName("valueFrame")
        frame_layout = QHBoxLayout(self.value_frame)
        frame_layout.addWidget(self.value_label, 1)
        self.show_all_button = QPushButton("Show all…")
        self.show_all_button.setToolTip("Every element of the array (Ctrl+E)")
        self.show_all_button.clicked.connect(lambda: self.showArrayRequested.emit(self.pv_name))
        self.show_all_button.hide()
        frame_layout.addWidget(self.show_all_button, 0, Qt.AlignTop)

        self.alarm_badge = QLabel()
        self.alarm_badge.setTextFormat(Qt.PlainText)
        self.alarm_badge.setAlignment(Qt.AlignCenter)
        self.alarm_badge.setToolTip("Alarm severity - status (colours: MEDM convention; "
                                    "grey dashed = disconnected)")
        self.connection_label = _Field()

        self.timestamp_label = _Field()
        self.timestamp_label.setToolTip("IOC timestamp of the value (local time, to the "
                                        "nanosecond) and its age")
        self.timestamp_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)

        # --- value details ---
        self.format_combo = QComboBox()
        for mode in display.DisplayFormat:
            self.format_combo.addItem(mode.value, mode)
        self.format_combo.setToolTip("How the value is shown (the IOC value is unchanged)")
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.precision_spin = QSpinBox()
        self.precision_spin.setRange(-1, 17)
        self.precision_spin.setSpecialValueText("PREC")
        self.precision_spin.setValue(-1)
        self.precision_spin.setToolTip("Digits after the decimal point ('PREC' = the PV's own)")
        self.precision_spin.valueChanged.connect(self._precision_changed)
        fmt_row = QHBoxLayout()
        fmt_row.addWidget(self.format_combo)
        fmt_row.addWidget(QLabel("digits"))
        fmt_row.addWidget(self.precision_spin)
        self.desc_label = _Field("")
        self.desc_label.setStyleSheet("color: #505050;")
        self.desc_label.setToolTip("The record's DESC field")
        self.desc_label.setWordWrap(False)
        name_row = QHBoxLayout()
        name_row.addWidget(self.name_label)
        name_row.addSpacing(self.fontMetrics().averageCharWidth() * 2)
        name_row.addWidget(self.desc_label, 1)
        head = QGridLayout()
        head.addLayout(name_row, 0, 0)
        format_label = QLabel("&Format")
        format_label.setBuddy(self.format_combo)
        head.addWidget(format_label, 0, 1)
        head.addLayout(fmt_row, 0, 2)
        head.addWidget(self.alarm_badge, 0, 3)
        head.addWidget(self.value_frame, 1, 0, 1, 4)
        head.addWidget(self.connection_label, 2, 0)
        head.addWidget(self.timestamp_label, 2, 1, 1, 3)
        head.setColumnStretch(0, 1)

        # --- channel ---
        self.rtyp_label = _Field()
        self.host_label = _Field()
        self.access_label = _Field()
        self.type_label = _Field()
        self.count_label = _Field()
        channel_box = QGroupBox("Channel")
        channel_form = QFormLayout(channel_box)
        channel_form.addRow("RTYP", self.rtyp_label)
        channel_form.addRow("Host", self.host_label)
        channel_form.addRow("Access", self.access_label)
        channel_form.addRow("Native type", self.type_label)
        channel_form.addRow("Elements", self.count_label)

        # --- limits ---
        self.units_label = _Field()
        self.prec_label = _Field()
        self.disp_label = _Field()
        self.ctrl_label = _Field()
        self.warn_label = _Field()
        self.alarm_limits_label = _Field()
        self.limits_box = QGroupBox("Metadata")
        limits_form = QFormLayout(self.limits_box)
        limits_form.addRow("Units (EGU)", self.units_label)
        limits_form.addRow("Precision", self.prec_label)
        limits_form.addRow("Display", self.disp_label)
        limits_form.addRow("Control", self.ctrl_label)
        limits_form.addRow("Warning", self.warn_label)
        limits_form.addRow("Alarm", self.alarm_limits_label)

        self.enum_box = QGroupBox("Enum states")
        self.enum_list = QListWidget()
        self.enum_list.setSelectionMode(QListWidget.NoSelection)
        self.enum_list.setFocusPolicy(Qt.NoFocus)
        QVBoxLayout(self.enum_box).addWidget(self.enum_list)
        self.enum_box.hide()

        # --- history ---
        self.hist_since = _Field()
        self.hist_updates = _Field()
        self.hist_min = _Field()
        self.hist_max = _Field()
        self.hist_prev = _Field()
        self.hist_reset = QPushButton("Reset")
        self.hist_reset.setToolTip("Start the history again from now (Ctrl+R)")
        self.hist_reset.clicked.connect(lambda: self.resetHistoryRequested.emit(self.pv_name))
        self.history_box = QGroupBox("History")
        hist_form = QFormLayout(self.history_box)
        hist_form.addRow("Watching since", self.hist_since)
        hist_form.addRow("Updates", self.hist_updates)
        hist_form.addRow("Minimum", self.hist_min)
        hist_form.addRow("Maximum", self.hist_max)
        hist_form.addRow("Last change", self.hist_prev)
        reset_row = QHBoxLayout()
        reset_row.addWidget(self.hist_reset)
        reset_row.addStretch(1)
        hist_form.addRow("", reset_row)

        self.write_panel = WritePanel(self.pv_name, self._service)

        # Three columns under the headline keep everything visible without scrolling on a
        # 1366x768 screen with the strip chart open; narrower windows scroll.
        first = QVBoxLayout()
        first.addWidget(self.write_panel)
        first.addWidget(self.history_box)
        first.addStretch(1)
        second = QVBoxLayout()
        second.addWidget(channel_box)
        second.addStretch(1)
        third = QVBoxLayout()
        third.addWidget(self.limits_box)
        third.addWidget(self.enum_box, 1)
        third.addStretch(0)

        content = QWidget()
        body = QVBoxLayout(content)
        body.addLayout(head)
        columns = QHBoxLayout()
        columns.addLayout(first, 4)
        columns.addLayout(second, 3)
        columns.addLayout(third, 3)
        body.addLayout(columns, 1)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # ==== data in =============================================================================
    def handle(self, item: Any) -> None:
        """A ConnectionEvent or a monitor/read response for this PV (GUI thread)."""
        if self._closed:
            return
        if isinstance(item, ConnectionEvent):
            if item.connected:
                self._set_connected(item.channel)
            else:
                was = self.state
                self.state_reason = str(item.reason)
                new = (Connection.NOT_FOUND if not self.ever_connected and
                       self.state_reason.startswith("not found") else Connection.DISCONNECTED)
                if new is was:
                    self._refresh_channel()  # keep the time it first went away
                    return
                self._set_state(new)
            self._refresh_all()
            return
        if self.state is not Connection.CONNECTED or self.channel is None:
            self._set_connected(getattr(item, "channel", None))
        previous = self.response
        self.response = item
        try:
            self._refresh_value()
        except Exception as exc:  # a malformed update must not take the probe down
            self.response = previous
            self.connection_label.setText(
                f"{self.connection_text()} — an update could not be shown: {exc}")

    def set_history(self, history: History | None) -> None:
        if history is not None:
            self.history = history
            self._refresh_history()

    def _set_state(self, state: Connection) -> None:
        if state is not self.state:
            self.state = state
            self.state_since = time.time()
            self.stateChanged.emit()

    def _set_connected(self, channel: Any) -> None:
        if channel is not None:
            self.channel = channel
        first_time_or_back = self.state is not Connection.CONNECTED
        self.ever_connected = True
        self._set_state(Connection.CONNECTED)
        if first_time_or_back:
            self.refresh_fields()
        host = getattr(self.channel, "host", None)
        if host is not None and host not in self._host_names:
            self._host_names[host] = host  # until the name arrives; looked up once
            self._service.submit(lambda: fetch_host_name(host), self._host_named,
                                lambda exc: None)
        self._refresh_channel()

    def _host_named(self, result: tuple[str, str]) -> None:
        if self._closed:
            return
        address, name = result
        self._host_names[address] = name
        self._refresh_channel()
        self.stateChanged.emit()  # the tab's tooltip names the server too

    def server_text(self) -> str:
        """'ioc-host:5064 (10.0.1.5)', or '10.0.1.5:5064' while (or if) it has no name."""
        ch = self.channel
        if ch is None:
            return "?"
        name = self._host_names.get(ch.host, ch.host)
        return ch.address if name == ch.host else f"{name}:{ch.port} ({ch.host})"

    def refresh_fields(self) -> None:
        """Read the record's DESC and RTYP, each on its own worker so a missing DESC does not
        delay the other (DBR_CTRL metadata comes from the PV service: :meth:`set_control`)."""
        name = self.pv_name
        for field_name in ("DESC", "RTYP"):
            self._service.submit(
                lambda f=field_name: (f, fetch_field_text(name, f)),
                self._field_arrived,
                lambda exc, f=field_name: self._metadata_failed(f, exc))

    def control_failed(self, exc: Exception) -> None:
        """The service's DBR_CTRL read failed."""
        self._metadata_failed("control", exc)

    def set_control(self, response: Any) -> None:
        """DBR_CTRL metadata (units, limits, enum states) read by the service."""
        if self._closed:
            return
        self.ctrl = response.metadata
        if self.channel is None:
            self.channel = getattr(response, "channel", None)
        self.write_panel.set_control(self.ctrl)
        self._refresh_all()

    def _field_arrived(self, result: tuple[str, str]) -> None:
        if self._closed:
            return
        field_name, text = result
        if field_name == "DESC":
            self.desc = text
        else:
            self.rtyp = text
        self._refresh_channel()

    def _metadata_failed(self, what: str, exc: Exception) -> None:
        if self._closed:
            return
        # A server without records (caproto, a gateway alias) has no DESC/RTYP: normal.
        if what == "DESC":
            self.desc = ""
            self.desc_label.setToolTip(f"No DESC: {exc}")
        elif what == "RTYP":
            self.rtyp = "not available"
            self.rtyp_label.setToolTip(str(exc))
        else:
            self.connection_label.setText(f"Metadata read failed: {exc}")
        self._refresh_channel()

    # ==== derived facts ========================================================================
    @property
    def native_type(self) -> int | None:
        return None if self.channel is None else int(self.channel.native_data_type)

    @property
    def element_count(self) -> int:
        return 1 if self.channel is None else int(self.channel.native_data_count)

    def is_array(self) -> bool:
        return self.element_count > 1

    def is_char_array(self) -> bool:
        return self.native_type == ChannelType.CHAR and self.element_count > 1

    def units(self) -> str | None:
        return _text(getattr(self.ctrl, "units", None)) or None

    def precision(self) -> int | None:
        if self.precision_override is not None:
            return self.precision_override
        prec = getattr(self.ctrl, "precision", None)
        return None if prec is None else int(prec)

    def enum_strings(self) -> list[str]:
        strings = getattr(self.ctrl, "enum_strings", None) or ()
        return [_text(s) or "" for s in strings]

    def value_text(self, max_elements: int | None = display.SUMMARY_ELEMENTS) -> str:
        if self.response is None:
            return ""
        return display.format_value_text(
            self.response, mode=self.display_format, precision=self.precision(),
            units=self.units(), enum_strings=self.enum_strings(),
            max_elements=max_elements, is_char=self.is_char_array())

    def connection_text(self) -> str:
        elapsed = time.time() - self.state_since
        if self.state is Connection.SEARCHING:
            return f"Searching… ({elapsed:.0f} s)"
        if self.state is Connection.CONNECTED:
            return f"Connected to {self.server_text()}"
        if self.state is Connection.NOT_FOUND:
            return (f"Not found after {time.time() - self.history.start:.0f} s — still "
                    "searching (check the name and EPICS_CA_ADDR_LIST)")
        why = "no reply from the IOC" if self.state_reason == "unresponsive" else "disconnected"
        return (f"Not connected ({why}) since {_ago(elapsed)} — waiting for the IOC to come "
                "back; the value shown is the last one received")

    # ==== repaint ==============================================================================
    def _refresh_all(self) -> None:
        self._refresh_channel()
        self._refresh_limits()
        self._refresh_value()
        self._refresh_history()

    def _refresh_channel(self) -> None:
        ch = self.channel
        self.connection_label.setText(self.connection_text())
        self.desc_label.setText(self.desc or "")
        self.rtyp_label.setText(self.rtyp or "—")
        if ch is None:
            for label in (self.host_label, self.access_label, self.type_label,
                          self.count_label):
                label.setText("—")
        else:
            # cainfo's form (the name); the address is in the connection line and tooltip
            name = self._host_names.get(ch.host, ch.host)
            self.host_label.setText(f"{name}:{ch.port}")
            self.host_label.setToolTip(f"{self.server_text()}")
            access = ("read, write" if ch.can_write and ch.can_read else
                      "read only" if ch.can_read else
                      "write only" if ch.can_write else "no access")
            self.access_label.setText(access)
            self.type_label.setText(f"DBR_{ChannelType(int(ch.native_data_type)).name}")
            self.count_label.setText(str(ch.native_data_count))
        self.show_all_button.setVisible(self.is_array())
        self.write_panel.set_channel(
            self.native_type, self.element_count,
            bool(ch is not None and ch.can_write), self.state is Connection.CONNECTED)

    def _refresh_limits(self) -> None:
        c = self.ctrl
        units = self.units()
        prec = getattr(c, "precision", None)
        self.units_label.setText(units or ("—" if c is None else "none"))
        self.prec_label.setText("—" if prec is None else str(prec))

        def lim(low: str, high: str) -> str:
            if c is None or not hasattr(c, low):
                return "—"
            return display.limits_text(getattr(c, low), getattr(c, high), self.precision(),
                                       units)

        self.disp_label.setText(lim("lower_disp_limit", "upper_disp_limit"))
        self.ctrl_label.setText(lim("lower_ctrl_limit", "upper_ctrl_limit"))
        self.warn_label.setText(lim("lower_warning_limit", "upper_warning_limit"))
        self.alarm_limits_label.setText(lim("lower_alarm_limit", "upper_alarm_limit"))
        strings = self.enum_strings()
        is_enum = self.native_type == ChannelType.ENUM or bool(strings)
        self.enum_box.setVisible(is_enum)
        self.limits_box.setVisible(not is_enum)
        if is_enum:
            self.enum_list.clear()
            self.enum_list.addItems([f"{i} = {s}" for i, s in enumerate(strings)])
            self.enum_list.setMinimumHeight(
                self.enum_list.sizeHintForRow(0) * min(len(strings), 8) + 6
                if strings else 0)

    def _refresh_value(self) -> None:
        response = self.response
        connected = self.state is Connection.CONNECTED
        if response is None:
            self.value_label.setText("—")
        else:
            text = self.value_text()
            if self.native_type == ChannelType.ENUM and isinstance(response.data, list):
                strings = self.enum_strings()
                label = display.as_text_values(response.data)[0]
                if label in strings:
                    text = f"{label}  ({strings.index(label)})"
                    self._mark_enum_state(strings.index(label))
            if self.is_array():
                size = getattr(response, "data_count", None)
                if size == 0:
                    text = "(empty)"
                text = f"{text}\n[{size if size is not None else '?'} of " \
                       f"{self.element_count} elements]"
            self.value_label.setText(text)
            self.write_panel.editor_precision = self.precision()
            self.write_panel.set_current_data(response.data)
        meta = getattr(response, "metadata", None)
        severity = getattr(meta, "severity", None)
        status = getattr(meta, "status", None)
        if not connected:
            grey = style.disconnected_color()
            badge = "DISCONNECTED" if self.state is Connection.DISCONNECTED else (
                "NOT FOUND" if self.state is Connection.NOT_FOUND else "SEARCHING")
            color = grey if self.state is not Connection.SEARCHING else style.SEARCHING_COLOR
            self.alarm_badge.setText(badge)
            self.alarm_badge.setStyleSheet(style.badge_style(color, dashed=True))
            self.value_frame.setStyleSheet(style.value_frame_style(color, dashed=True))
            self.value_label.setStyleSheet(f"color: {grey}; font-style: italic;")
        elif severity is not None:
            color = style.severity_color(int(severity))
            self.alarm_badge.setText(cafmt.alarm_text(int(severity), int(status or 0)))
            self.alarm_badge.setStyleSheet(style.badge_style(color))
            frame_color = color if int(severity) != 3 else "#404040"
            self.value_frame.setStyleSheet(style.value_frame_style(frame_color))
            self.value_label.setStyleSheet("")
        else:
            self.alarm_badge.setText("…")
            self.alarm_badge.setStyleSheet(style.badge_style("#E0E0E0"))
            self.value_frame.setStyleSheet(style.value_frame_style("#C0C0C0"))
            self.value_label.setStyleSheet("")
        if meta is not None and getattr(meta, "timestamp", None) is not None:
            secs = getattr(meta, "secondsSinceEpoch", None)
            nanos = getattr(meta, "nanoSeconds", None)
            if secs is not None and nanos is not None:
                stamp = cafmt.format_timestamp(int(secs), int(nanos), nanos=True)
            else:
                stamp = str(meta.timestamp)
            self._stamp_text = stamp
        self._refresh_age()
        self.stateChanged.emit()

    def _mark_enum_state(self, current: int) -> None:
        """The state the PV is in shows bold with a marker in the list of states."""
        for row in range(self.enum_list.count()):
            item = self.enum_list.item(row)
            font = item.font()
            font.setBold(row == current)
            item.setFont(font)
            text = item.text().removeprefix("▶ ")
            item.setText(f"▶ {text}" if row == current else text)

    def _refresh_age(self) -> None:
        meta = getattr(self.response, "metadata", None)
        stamp = getattr(meta, "timestamp", None)
        if stamp is None or not self._stamp_text:
            self.timestamp_label.setText("")
        elif getattr(meta, "secondsSinceEpoch", 1) == 0:
            self.timestamp_label.setText("IOC time: never processed (EPICS epoch)")
        else:
            self.timestamp_label.setText(
                f"IOC time {self._stamp_text}  ({_ago(time.time() - float(stamp))})")

    def _refresh_history(self) -> None:
        h = self.history
        self.hist_since.setText(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h.start)))
        self.hist_updates.setText(str(h.updates))
        units = self.units()
        prec = self.precision()

        def num(value: float | None, stamp: float | None) -> str:
            if value is None:
                return "—"
            text = display.format_value_text(np.asarray([value]), data_type=ChannelType.DOUBLE,
                                             precision=prec, units=units)
            return f"{text}  at {_clock(stamp)}"

        self.hist_min.setText(num(h.minimum, h.minimum_time))
        self.hist_max.setText(num(h.maximum, h.maximum_time))
        if h.last_change_time is None:
            self.hist_prev.setText("no change yet")
        elif h.previous_value is not None and h.minimum is None:
            self.hist_prev.setText(f"from {h.previous_value!r} at {_clock(h.last_change_time)}")
        else:
            self.hist_prev.setText(_clock(h.last_change_time))

    def tick(self) -> None:
        """Once or twice a second: ages and 'searching for N s' move on."""
        if self._closed:
            return
        self._refresh_age()
        if self.state is not Connection.CONNECTED:
            self.connection_label.setText(self.connection_text())

    # ==== actions ==============================================================================
    def _format_changed(self) -> None:
        self.display_format = self.format_combo.currentData()
        self.precision_spin.setEnabled(self.display_format.uses_precision or
                                       self.display_format is display.DisplayFormat.DEFAULT)
        self._refresh_value()

    def _precision_changed(self, value: int) -> None:
        self.precision_override = None if value < 0 else value
        self._refresh_value()
        self._refresh_limits()

    def set_display_format(self, mode: display.DisplayFormat) -> None:
        self.format_combo.setCurrentIndex(self.format_combo.findData(mode))

    def shutdown(self) -> None:
        self._closed = True
        self.write_panel.shutdown()
