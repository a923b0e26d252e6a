"""ProbeWidget: one open PV (classic probe + Phoebus Probe + MEDM PV Info fields) and its write
panel. Everything here runs in the GUI thread; data arrives from the PV service."""

from __future__ import annotations

import enum
import os
import time
from typing import Any

import numpy as np
from PyQt5.QtCore import QEvent, QTimer, pyqtSignal
from PyQt5.QtWidgets import QFrame, QSplitter, QVBoxLayout, QWidget

from caprobe import format as cafmt
from caprobe.ca import ChannelType, ConnectionEvent
from caprobe.gui import display, style
from caprobe.gui.history import History
from caprobe.gui.probe.details import (
    ChannelBox,
    ColumnsWidget,
    DetailsScroll,
    EnumBox,
    HistoryBox,
    ImageBox,
    MetadataBox,
    StructureBox,
)
from caprobe.gui.probe.header import ProbeHeader
from caprobe.gui.probe.image_frame import FrameRefused, frame_of
from caprobe.gui.probe.labels import breakable
from caprobe.gui.service import PVService, split_protocol
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


def precision_hides(value: float, prec: int) -> bool:
    """True when ``prec`` decimals misrepresent ``value``: a non-zero value shown as 0, or one
    rounded by more than 5 % (PREC 0 on a 0.5 s period, on a walk between -3 and 3)."""
    shown = round(value, max(prec, 0))
    if value == 0:
        return False
    return shown == 0 or abs(shown - value) > 0.05 * abs(value)


def age_text(seconds: float) -> str:
    """The header's short age: '(0.1 s ago)', '(12.8 min ago)', '(future: clock?)'; never
    longer than :data:`~caprobe.gui.probe.header.AGE_SAMPLES` (a fixed-width field)."""
    if seconds < -0.5:
        return "(future: clock?)"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"({seconds:.1f} s ago)"
    if seconds < 3600:
        return f"({seconds / 60:.1f} min ago)"
    if seconds < 86400 * 2:
        return f"({seconds / 3600:.1f} h ago)"
    days = seconds / 86400
    return f"({days:.0f} days ago)" if days < 1000 else "(years ago)"


def _clock(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return time.strftime("%H:%M:%S", time.localtime(stamp))


#: Details height (text lines) the probe asks for when its first image arrives: the image's
#: facts, levels and about a dozen lines of picture.
IMAGE_LINES = 18

#: What the probe can say about a PV Access server: p4p reports no address.
PVA_SERVER_TEXT = "PV Access (pva provider)"
PVA_SERVER_TIP = ("PV Access through p4p's pva provider; p4p does not report the server's "
                  "address")
PVA_ACCESS_TEXT = "not reported by PVA"


def pva_native_type(response: Any, channel: Any) -> int | None:
    """The CA type whose editor and formatting fit a PV Access value (None: a structure)."""
    layout = getattr(response, "layout", None)
    if layout is None:
        return None
    if layout.kind == "enum":
        return int(ChannelType.ENUM)
    ca_type = layout.ca_type
    if ca_type is None:
        return None
    return int(ca_type) - int(ChannelType.TIME_STRING)  # TIME_X = X + 14


def structure_summary(response: Any) -> str:
    """One line for the header: 'NTTable: 2 rows × 3 columns (a, b, c)', 'structure: 3 fields'."""
    layout = response.layout
    if layout.kind == "table":
        columns = response.data
        rows = max((len(c) for c in columns.values()), default=0)
        names = ", ".join(columns)
        return f"NTTable: {rows} rows × {len(columns)} columns ({names})"
    if layout.kind == "ndarray":
        try:
            frame = frame_of(response)
        except FrameRefused:
            data = response.data
            shape = " × ".join(str(n) for n in reversed(getattr(data, "shape", ())))
            return f"NTNDArray: {shape} {getattr(data, 'dtype', '')}, not drawn (see below)"
        return (f"NTNDArray: {frame.width} × {frame.height} {frame.dtype_name} "
                f"{frame.color_mode} image")
    fields = [f for f in layout.top_fields if f not in ("alarm", "timeStamp")]
    return f"{layout.type_text}: {len(fields)} fields ({', '.join(fields)})"


class ProbeWidget(QWidget):
    """Read + write panels for one PV."""

    #: the connection state or headline changed (main window refreshes the tab label)
    stateChanged = pyqtSignal()
    #: (accepted text) after a successful write, for the status bar
    written = pyqtSignal(str)
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
        self._details_shape: tuple[Any, ...] | None = None
        self._image_room_asked = False
        #: PV Access (pva://): no record fields over CA, no host:port, no access query
        self.is_pva = split_protocol(pv_name)[0] == "pva"
        self._build()
        self._refresh_all()

    # ==== layout ==============================================================================
    def _build(self) -> None:
        self.header = ProbeHeader(self.pv_name)
        h = self.header
        # the fields the probe fills (and tests read)
        self.name_label, self.desc_label = h.name_label, h.desc_label
        self.value_label, self.value_frame = h.value_label, h.value_frame
        self.alarm_badge, self.show_all_button = h.alarm_badge, h.show_all_button
        self.connection_label, self.timestamp_label = h.connection_label, h.timestamp_label
        self.age_label, self.precision_hint = h.age_label, h.precision_hint
        self.format_combo, self.precision_spin = h.format_combo, h.precision_spin
        h.show_all_button.clicked.connect(lambda: self.showArrayRequested.emit(self.pv_name))
        self.image_button = h.image_button
        h.image_button.clicked.connect(self.open_image_window)
        self.image_window: Any = None
        h.format_combo.currentIndexChanged.connect(self._format_changed)
        h.precision_spin.valueChanged.connect(self._precision_changed)

        channel = ChannelBox()
        if self.is_pva:
            channel.use_pva_labels()
            h.desc_label.setToolTip("The structure's display.description (QSRV: the record's "
                                    "DESC)")
        self.rtyp_label, self.host_label = channel.rtyp_label, channel.host_label
        self.access_label, self.type_label = channel.access_label, channel.type_label
        self.count_label = channel.count_label
        self.limits_box = MetadataBox()
        if self.is_pva:
            self.limits_box.use_pva_labels()
        m = self.limits_box
        self.units_label, self.prec_label, self.disp_label = (m.units_label, m.prec_label,
                                                              m.disp_label)
        self.ctrl_label, self.warn_label = m.ctrl_label, m.warn_label
        self.alarm_limits_label = m.alarm_limits_label
        self.enum_box = EnumBox()
        self.enum_box.hide()
        self.enum_list = self.enum_box.enum_list
        self.structure_box = StructureBox()
        self.structure_box.hide()
        self.image_box = ImageBox()
        self.image_box.hide()
        self.history_box = HistoryBox()
        hb = self.history_box
        self.hist_since, self.hist_updates = hb.hist_since, hb.hist_updates
        self.hist_min, self.hist_max, self.hist_prev = hb.hist_min, hb.hist_max, hb.hist_prev
        self.hist_reset = hb.hist_reset
        self.hist_reset.clicked.connect(lambda: self.resetHistoryRequested.emit(self.pv_name))

        self.write_panel = WritePanel(self.pv_name, self._service)
        self.write_panel.written.connect(self.written)
        # a PV Access structure's table or tree is what the operator came for: first
        self.details = ColumnsWidget([[self.image_box, self.structure_box, self.write_panel,
                                       self.history_box], [channel],
                                      [self.limits_box, self.enum_box]])
        self.details_scroll = DetailsScroll(self.details)

        separator = QFrame()
        separator.setFrameShape(QFrame.HLine)
        separator.setFrameShadow(QFrame.Sunken)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.header, 0)
        outer.addWidget(separator, 0)
        outer.addWidget(self.details_scroll, 1)

    def focus_chain(self) -> list[QWidget]:
        """This probe's widgets in Tab order: the write field and Write first, then the
        display controls and the details (the main window links it to the PV field and the
        chart)."""
        return [*self.write_panel.focus_chain(), self.format_combo, self.precision_spin,
                self.hist_reset]

    def details_height_for(self, widget: QWidget) -> int:
        """Height the details need to show ``widget`` (0 when it is not in the details)."""
        if not self.details.isAncestorOf(widget):
            return 0
        top = widget.mapTo(self.details, widget.rect().topLeft()).y()
        return min(top + widget.height() + 5, self.details.sizeHint().height())

    # ---- geometry the main window sizes its splitter by (it never reads our children) ----
    def header_height(self) -> int:
        return self.header.sizeHint().height()

    def details_folded(self) -> bool:
        return self.details_scroll.is_folded()

    def details_shown_height(self) -> int:
        """How much of the details is on screen now."""
        return self.details_scroll.viewport().height()

    def details_excess_height(self) -> int:
        """Pixels of details shown beyond whole rows: all of them when folded, else what
        shows below the Write button while the write panel is cut."""
        if self.details_folded():
            return self.details_scroll.height()
        shown = self.details_shown_height()
        if shown < self.write_panel.height():
            return max(shown - self.details_height_for(self.write_panel.write_button), 0)
        return 0

    def write_panel_height(self) -> int:
        return self.write_panel.sizeHint().height()

    def focus_write(self) -> None:
        """F2: the write field (or the enum combo), ready to type."""
        self.write_panel.focus_editor()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.ApplicationPaletteChange and not getattr(self, "_closed", True):
            self._refresh_value()  # badge outlines and frames follow the theme
        return super().event(event)

    def timestamp_text(self) -> str:
        """'IOC time … (… ago)' as the header shows it."""
        return f"{self.timestamp_label.text()}  {self.age_label.text()}".strip()

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
        layout = getattr(item, "layout", None)
        if self.is_pva and layout is not getattr(previous, "layout", None):
            # the first value (or a server restarted with another type): type, editor, boxes
            self.channel = getattr(item, "channel", None) or self.channel
            self._refresh_channel()
            self._refresh_limits()
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
            if self.image_box.has_view:
                self.image_box.view().note_updates(history.updates)
            if self.image_window is not None:
                self.image_window.note_updates(history.updates)

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
        """'ioc-host:5064 (10.0.1.5)', or '10.0.1.5:5064' while (or if) it has no name.
        PV Access: p4p does not report the server's address, so only what is known."""
        ch = self.channel
        if ch is None:
            return "?"
        if self.is_pva:
            return f"{PVA_SERVER_TEXT}; p4p does not report the server's address"
        name = self._host_names.get(ch.host, ch.host)
        return ch.address if name == ch.host else f"{name}:{ch.port} ({ch.host})"

    def refresh_fields(self) -> None:
        """Read the record's DESC and RTYP, each on its own worker so a missing DESC does not
        delay the other (DBR_CTRL metadata comes from the PV service: :meth:`set_control`)."""
        if self.is_pva:
            return  # the description comes in the structure (display.description)
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
        if self.channel is None or self.is_pva:
            self.channel = getattr(response, "channel", None) or self.channel
        if self.is_pva:
            self.desc = _text(getattr(self.ctrl, "description", None)) or ""
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
        if self.channel is None:
            return None
        if self.is_pva:
            return pva_native_type(self.response if self.response is not None else None,
                                   self.channel)
        return int(self.channel.native_data_type)

    def pva_kind(self) -> str | None:
        """'scalar', 'array', 'enum', 'table', 'ndarray', 'structure' (PV Access only)."""
        layout = getattr(self.response, "layout", None)
        return None if layout is None else layout.kind

    def is_structure(self) -> bool:
        return self.pva_kind() in ("table", "ndarray", "structure")

    @property
    def element_count(self) -> int:
        if self.is_pva and self.pva_kind() == "array":
            # PVA arrays have no fixed size (no NELM): the newest value's length
            return int(self.response.data_count)
        return 1 if self.channel is None else int(self.channel.native_data_count)

    def is_array(self) -> bool:
        if self.is_pva:
            return self.pva_kind() == "array"
        return self.element_count > 1

    def is_char_array(self) -> bool:
        # PVA byte arrays are numbers (images, raw data); PVA strings are strings.
        return (not self.is_pva and self.native_type == ChannelType.CHAR
                and self.element_count > 1)

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
        if self.is_structure():
            return structure_summary(self.response)
        return display.format_value_text(
            self.response, mode=self.display_format, precision=self.precision(),
            units=self.units(), enum_strings=self.enum_strings(),
            max_elements=max_elements, is_char=self.is_char_array())

    def report_text(self) -> str:
        """The value as the self-test prints it: the value line, and for a PV Access
        structure the table or the fields below it, as pvget prints them."""
        text = self.value_text(max_elements=None)
        if self.is_structure() and self.pva_kind() != "ndarray":
            from caprobe.format_pva import format_structure_block

            text += "\n" + format_structure_block(self.pv_name, self.response, terse=True)
        return text

    def connection_text(self) -> str:
        elapsed = time.time() - self.state_since
        if self.state is Connection.SEARCHING:
            return f"Searching… ({elapsed:.0f} s)"
        if self.state is Connection.CONNECTED:
            return f"Connected to {self.server_text()}"
        if self.state is Connection.NOT_FOUND:
            where = "EPICS_CA_ADDR_LIST"
            if self.is_pva:
                where = ("EPICS_PVA_ADDR_LIST, now "
                         f"'{os.environ.get('EPICS_PVA_ADDR_LIST', '')}' with auto list "
                         f"{os.environ.get('EPICS_PVA_AUTO_ADDR_LIST', 'YES')}")
            return (f"Not found after {time.time() - self.history.start:.0f} s — still "
                    f"searching (check the name and {where})")
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
        elif self.is_pva:
            self.rtyp_label.setText(getattr(ch, "type_id", "") or "—")
            self.host_label.setText(PVA_SERVER_TEXT)
            self.host_label.setToolTip(PVA_SERVER_TIP)
            self.access_label.setText(PVA_ACCESS_TEXT)
            self.access_label.setToolTip(
                "PV Access has no access-rights query: the server refuses a write it does "
                "not allow, and the write panel shows the server's reason")
            self.type_label.setText(getattr(ch, "type_text", "") or "—")
            self.type_label.setToolTip(getattr(ch, "type_tree", "") or "")
            kind = self.pva_kind()
            self.count_label.setText(f"{ch.native_data_count} rows" if kind == "table" else
                                     "—" if self.is_structure() else
                                     str(self.element_count))
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
        self.image_button.setVisible(self.pva_kind() == "ndarray")
        if self.is_pva:
            # No access query: the panel lets the operator try, the server's refusal shows.
            self.write_panel.set_pva(self.pva_kind(), getattr(self.response, "layout", None))
            self.write_panel.set_channel(
                self.native_type, self.element_count, ch is not None,
                self.state is Connection.CONNECTED)
            return
        self.write_panel.set_channel(
            self.native_type, self.element_count,
            bool(ch is not None and ch.can_write), self.state is Connection.CONNECTED)

    def _refresh_limits(self) -> None:
        c = self.ctrl
        units = self.units()
        prec = getattr(c, "precision", None)
        self.units_label.setText(units or ("—" if c is None else "none"))
        self.prec_label.setText("—" if prec is None else str(prec))
        numeric = self.native_type != ChannelType.STRING and not self.is_char_array()

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
        structure = self.is_structure()
        shape = (numeric, is_enum, tuple(strings), structure, self.pva_kind())
        if shape == self._details_shape:
            return  # rebuilding lists and columns on every connection event costs for nothing
        self._details_shape = shape
        self.image_box.setVisible(self.pva_kind() == "ndarray")
        self.limits_box.show_numeric_rows(numeric and not structure)
        self.enum_box.setVisible(is_enum)
        self.limits_box.setVisible(not is_enum and not structure)
        self.structure_box.setVisible(structure)
        if is_enum:
            self.enum_list.clear()
            self.enum_list.addItems([f"{i} = {s}" for i, s in enumerate(strings)])
            self.enum_list.setMinimumHeight(
                self.enum_list.sizeHintForRow(0) * min(len(strings), 8) + 6
                if strings else 0)
        self.details_scroll.refit()

    def _refresh_value(self) -> None:
        response = self.response
        connected = self.state is Connection.CONNECTED
        if response is None:
            self.value_label.setText("—")
        else:
            text = self.value_text()
            if self.is_pva and self.pva_kind() == "enum":
                strings = self.enum_strings()
                index = response.index
                if index is not None and 0 <= index < len(strings):
                    text = f"{strings[index]}  ({index})"
                    self._mark_enum_state(index)
            elif self.native_type == ChannelType.ENUM and isinstance(response.data, list):
                strings = self.enum_strings()
                label = display.as_text_values(response.data)[0]
                if label in strings:
                    text = f"{label}  ({strings.index(label)})"
                    self._mark_enum_state(strings.index(label))
            if self.is_structure():
                self._refresh_structure()
                self.value_label.setToolTip(
                    "The whole structure is in the details below (drag the divider down "
                    "if they are folded)")
            elif self.is_array():
                size = getattr(response, "data_count", None)
                if size == 0:
                    text = "(empty)"
                if self.is_pva:  # no NELM: the length is the array's own
                    text = f"{text}\n[{size} elements]"
                    self.count_label.setText(str(size))
                else:
                    text = f"{text}\n[{size if size is not None else '?'} of " \
                           f"{self.element_count} elements]"
            self.value_label.setText(breakable(text))
            self.write_panel.editor_precision = self.precision()
            if not self.is_structure():
                self.write_panel.set_current_data(response.data)
        self._refresh_precision_hint()
        meta = getattr(response, "metadata", None)
        severity = getattr(meta, "severity", None)
        status = getattr(meta, "status", None)
        self.alarm_badge.setToolTip("")
        if not connected:
            grey = style.disconnected_color()
            badge = "DISCONNECTED" if self.state is Connection.DISCONNECTED else (
                "NOT FOUND" if self.state is Connection.NOT_FOUND else "SEARCHING")
            color = grey if self.state is not Connection.SEARCHING else style.SEARCHING_COLOR
            self.alarm_badge.setText(badge)
            self.alarm_badge.setStyleSheet(style.badge_style(color, dashed=True))
            self.value_frame.setStyleSheet(style.value_frame_style(color, dashed=True))
            self.value_label.setStyleSheet(f"color: {grey}; font-style: italic;")
        elif severity is None and self.is_pva and response is not None:
            self.alarm_badge.setText("NO SEVERITY")
            self.alarm_badge.setToolTip("This PV Access structure has no alarm field")
            self.alarm_badge.setStyleSheet(style.badge_style(style.neutral_frame_color()))
            self.value_frame.setStyleSheet(style.value_frame_style(
                style.neutral_frame_color()))
            self.value_label.setStyleSheet("")
        elif severity is not None:
            color = style.severity_color(int(severity))
            self.alarm_badge.setText(cafmt.alarm_text(int(severity), int(status or 0)))
            self.alarm_badge.setStyleSheet(style.badge_style(color))
            frame_color = color if int(severity) != 3 else style.invalid_frame_color()
            self.value_frame.setStyleSheet(style.value_frame_style(frame_color))
            self.value_label.setStyleSheet("")
        else:
            self.alarm_badge.setText("NO SEVERITY YET")
            self.alarm_badge.setStyleSheet(style.badge_style(style.neutral_frame_color()))
            self.value_frame.setStyleSheet(style.value_frame_style(
                style.neutral_frame_color()))
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

    def _refresh_structure(self) -> None:
        """NTTable as a table, anything else as a tree of fields (details column)."""
        response = self.response
        if self.pva_kind() == "ndarray":
            self.image_box.view().show_response(response)
            if self.image_window is not None:
                self.image_window.show_response(response)
            if not self._image_room_asked and self.isVisible():
                self._image_room_asked = True
                QTimer.singleShot(0, self._make_room_for_image)
        if self.pva_kind() == "table":
            try:
                labels = [str(label) for label in response.value["labels"]]
            except (KeyError, TypeError):
                labels = None
            self.structure_box.show_table(response.data, labels)
        else:
            self.structure_box.show_tree(response.value, getattr(self.channel, "type_text",
                                                                 "structure"))

    def open_image_window(self) -> None:
        """The Image… button: the NTNDArray in a window of its own (one per probe)."""
        if self.pva_kind() != "ndarray":
            return
        if self.image_window is None:
            from caprobe.gui.probe.image_window import ImageWindow

            self.image_window = ImageWindow(self.pv_name, self)
        self.image_window.show()
        self.image_window.raise_()
        self.image_window.activateWindow()
        self.image_window.show_response(self.response)
        self.image_window.note_updates(self.history.updates)

    def _make_room_for_image(self) -> None:
        """The first image: open the details far enough to show it, taking the room from the
        pane below (the chart) down to that pane's minimum, as Tab into folded details does.
        The window's splitter is found by walking up: the probe does not know the window."""
        if self._closed:
            return
        child: QWidget = self
        splitter = self.parentWidget()
        while splitter is not None and not isinstance(splitter, QSplitter):
            child, splitter = splitter, splitter.parentWidget()
        if splitter is None or splitter.count() != 2 or splitter.widget(0) is not child:
            return
        sizes = splitter.sizes()
        wanted = IMAGE_LINES * self.fontMetrics().height()
        grow = wanted - self.details_shown_height()
        spare = sizes[1] - splitter.widget(1).minimumHeight()
        # all or nothing: a sliver of picture that squeezes the chart helps nobody (a short
        # window has the Image… button)
        if 0 < grow <= spare:
            splitter.setSizes([sizes[0] + grow, sizes[1] - grow])

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
            self.age_label.setText("")
        elif getattr(meta, "secondsSinceEpoch", 1) == 0:
            self.timestamp_label.setText(
                "PV time: none (timestamp 0)" if self.is_pva else
                "IOC time: never processed (EPICS epoch)")
            self.age_label.setText("")
        else:
            clock = "PV time" if self.is_pva else "IOC time"  # no wider than the CA label
            self.timestamp_label.setText(f"{clock} {self._stamp_text}")
            age = time.time() - float(stamp)
            self.age_label.setText(age_text(age))
            self.age_label.setToolTip(f"The value was stamped by the IOC {_ago(age)}")

    def _refresh_precision_hint(self) -> None:
        """Say so when the PV's PREC rounds away digits of the value (PREC 0 shows a 0.5 s
        period as '0'); the write field shows the exact value."""
        hint = ""
        response = self.response
        prec = self.precision()
        data = getattr(response, "data", None)
        if (response is not None and prec is not None and self.precision_override is None
                and self.display_format is display.DisplayFormat.DEFAULT
                and isinstance(data, np.ndarray) and data.size == 1
                and data.dtype.kind == "f"):
            value = float(data[0])
            if np.isfinite(value) and precision_hides(value, prec):
                hint = (f"PREC {prec} hides digits: the value is {value:.6g} "
                        "(the digits field next to Format shows more)")
        self.precision_hint.setText(hint)
        self.precision_hint.setVisible(bool(hint))

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

    def set_precision(self, digits: int | None) -> None:
        """Show ``digits`` decimals instead of the PV's PREC (None: PREC again)."""
        self.precision_spin.setValue(-1 if digits is None else int(digits))

    def set_display_format(self, mode: display.DisplayFormat) -> None:
        self.format_combo.setCurrentIndex(self.format_combo.findData(mode))

    def shutdown(self) -> None:
        self._closed = True
        self.write_panel.shutdown()
        if self.image_window is not None:
            self.image_window.close()
