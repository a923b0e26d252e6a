"""caprobe's main window: PV entry, one probe tab per PV, strip chart and waveform below.

Every view is a client of one :class:`~caprobe.gui.service.PVService` (subscriptions and
one-shot calls on worker threads, batched updates). The GUI thread only formats and paints;
the probes repaint at most every ``DRAIN_INTERVAL_MS`` (10 Hz), what a person can read.
"""

from __future__ import annotations

import time
from typing import Any

from PyQt5.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer
from PyQt5.QtGui import (
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QKeySequence,
    QPainter,
    QPen,
    QPixmap,
)
from PyQt5.QtWidgets import (
    QAction,
    QActionGroup,
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

import caprobe
from caprobe.gui import display, style, theme
from caprobe.gui.array_view import ArrayDialog
from caprobe.gui.chart_worker import ChartWorker, WaveformWorker
from caprobe.gui.env_status import make_status_label
from caprobe.gui.history import History, HistoryCollector
from caprobe.gui.probe import Connection, ProbeWidget
from caprobe.gui.pv_entry import (
    PVEntry,
    RecentPVs,
    WindowShortcutsFirst,
    pv_name_problem,
    pv_names_from_mime,
    short_name,
)
from caprobe.gui.service import acquire_shared, release_shared
from caprobe.gui.shortcuts import ShortcutsDialog

DRAIN_INTERVAL_MS = 100
#: The strip chart's share of a short window, in text lines (toolbar, plot, legend), and the
#: least it ever gets (the splitter takes the rest from the probe's details, not its header).
CHART_LINES = 24
CHART_MIN_LINES = 15
TICK_INTERVAL_MS = 500
SETTINGS_GEOMETRY = "main_window/geometry"
SETTINGS_STATE = "main_window/state"
SETTINGS_SPLITTER = "main_window/splitter"


def default_settings() -> QSettings:
    """The user's caprobe settings (INI file, so tests can redirect it with QSettings.setPath)."""
    return QSettings(QSettings.IniFormat, QSettings.UserScope, "caprobe", "caprobe")


def _state_icon(color: str, hollow: bool) -> QIcon:
    """A dot for the tab: filled in the alarm colour, or hollow when not connected."""
    size = 64  # drawn large; Qt scales it down crisply on any DPI
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    pen = QPen(QColor("#303030"))
    pen.setWidth(6)
    if hollow:
        pen.setStyle(Qt.DashLine)
        pen.setColor(QColor(color).darker(150))
    painter.setPen(pen)
    painter.setBrush(Qt.NoBrush if hollow else QColor(color))
    painter.drawEllipse(8, 8, size - 16, size - 16)
    painter.end()
    return QIcon(pixmap)


class MainWindow(QMainWindow):
    """The probe window.  ``open_pv(name)`` is the programmatic twin of typing + Enter."""

    def __init__(self, settings: QSettings | None = None, *, search_timeout: float = 2.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("caprobe")
        self.settings = settings if settings is not None else default_settings()
        self.service = acquire_shared(search_timeout)
        self.service.failed.connect(self._service_failed)
        self._history = HistoryCollector()
        self.probe_client = self.service.client(self._history, priority=0, data_type=None)
        self.probe_client.updates.connect(self._updates_arrived)
        self.probe_client.metadata_ready.connect(self._metadata_arrived)
        self.probe_client.metadata_failed.connect(self._metadata_failed)
        self._pending: dict[str, list[Any]] = {}
        self.recent = RecentPVs(self.settings)
        self.probes: dict[str, ProbeWidget] = {}
        self._array_dialogs: list[ArrayDialog] = []
        self._shut_down = False
        self._last_drain = 0.0
        self._drain_timer = QTimer(self)
        self._drain_timer.setSingleShot(True)
        self._drain_timer.timeout.connect(self.drain)
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(TICK_INTERVAL_MS)
        self._tick_timer.timeout.connect(self._tick)
        self._tick_timer.start()

        self._shortcuts_first = WindowShortcutsFirst(self)
        self._splitter_pending = False
        theme.restore(self.settings)
        self._build_ui()
        self._build_actions()
        app = QApplication.instance()
        if app is not None:
            app.focusChanged.connect(self._reveal_focus)
        self.setAcceptDrops(True)
        self._restore_settings()
        self._link_focus_chain()

    # ==== layout ==============================================================================
    def _build_ui(self) -> None:
        self.pv_entry = PVEntry(self.recent)
        self.pv_entry.installEventFilter(self)
        self.pv_entry.pvsRequested.connect(self.open_pvs)
        self.pv_entry.refused.connect(self._show_refusal)
        open_button = QPushButton("Open")
        open_button.setToolTip("Open the PV(s) typed on the left (Enter)")
        open_button.setFocusPolicy(Qt.NoFocus)  # Enter does it; Tab goes on to the value
        open_button.clicked.connect(self.pv_entry.returnPressed)
        entry_row = QHBoxLayout()
        entry_label = QLabel("&PV:")
        entry_label.setBuddy(self.pv_entry)
        entry_row.addWidget(entry_label)
        entry_row.addWidget(self.pv_entry, 1)
        entry_row.addWidget(open_button)

        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.setUsesScrollButtons(True)
        self.tabs.tabCloseRequested.connect(lambda i: self.close_pv(self.tabs.widget(i).pv_name))
        self.tabs.currentChanged.connect(self._current_changed)
        self.tabs.tabBar().setFocusPolicy(Qt.NoFocus)  # Ctrl+PgUp/PgDown switch tabs
        self.empty_hint = QLabel(
            "Type a PV name above and press Enter, or drop PV names here.\n\n"
            "Ctrl+L  PV field    Ctrl+W  close tab    F2  edit value    Ctrl+T  add to chart\n"
            "Ctrl+Shift+C  copy PV name    Ctrl+Alt+C  copy value    Ctrl+E  all elements\n"
            "Ctrl++ / Ctrl+-  bigger / smaller text    F1  every shortcut")
        self.empty_hint.setAlignment(Qt.AlignCenter)
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setStyleSheet(style.dim_text_style())
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.tabs, 1)
        top_layout.addWidget(self.empty_hint, 1)

        self.lower_tabs = QTabWidget()
        self.lower_tabs.setDocumentMode(True)
        self.chart = self._make_optional(self._make_chart, "Strip chart")
        self.waveform = self._make_optional(self._make_waveform, "Waveform")
        self.pv_table = self._make_optional(self._make_table, "PV table")
        if self.chart is not None and hasattr(self.chart, "message"):
            self.chart.message.connect(self._show_message)

        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.lower_tabs)
        # The probe panel scrolls; the chart needs height to be readable on a 768-line screen.
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        self.lower_tabs.setMinimumHeight(CHART_MIN_LINES * self.fontMetrics().height())

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(entry_row)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        # CA and PVA search settings and the bare-name protocol; elided, the tooltip has all
        self.ca_env_label = make_status_label()
        self.statusBar().addPermanentWidget(self.ca_env_label, 1)
        # a message (a write, a refusal) gets the whole bar while it shows
        self.statusBar().messageChanged.connect(self.ca_env_label.give_way_to)
        self._update_empty_hint()

    def _make_chart(self) -> QWidget:
        from caprobe.gui.strip_chart import StripChartPanel

        return StripChartPanel(worker=ChartWorker(service=self.service))

    def _make_waveform(self) -> QWidget:
        from caprobe.gui.waveform import WaveformView

        return WaveformView(worker=WaveformWorker(service=self.service))

    def _make_table(self) -> QWidget:
        from caprobe.gui.table import PVTableView

        table = PVTableView(self.service)
        table.message.connect(self._show_message)
        return table

    def add_current_to_table(self) -> None:
        probe = self.current_probe()
        if probe is not None and self.pv_table is not None:
            self.pv_table.add_names([probe.pv_name])
            self.lower_tabs.setCurrentWidget(self.pv_table)

    def _make_optional(self, make: Any, title: str) -> Any:
        """Embed the chart and waveform views; the probe works without them (a placeholder
        explains what is missing, e.g. pyqtgraph failed to load)."""
        try:
            widget = make()
        except Exception as exc:  # ImportError, or the widget failed to build
            placeholder = QLabel(f"{title} not available: {exc}")
            placeholder.setTextFormat(Qt.PlainText)
            placeholder.setAlignment(Qt.AlignCenter)
            placeholder.setWordWrap(True)
            self.lower_tabs.addTab(placeholder, title)
            return None
        self.lower_tabs.addTab(widget, title)
        return widget

    def _build_actions(self) -> None:
        def action(menu: Any, text: str, shortcut: Any, slot: Any, tip: str = "") -> QAction:
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.setShortcutContext(Qt.WindowShortcut)
            act.setStatusTip(tip or text)
            act.triggered.connect(slot)
            menu.addAction(act)
            return act

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        action(file_menu, "Open PV…", "Ctrl+L", self.focus_entry, "Focus the PV name field")
        action(file_menu, "Close PV", "Ctrl+W", self.close_current,
               "Close the current PV tab")
        file_menu.addSeparator()
        action(file_menu, "Quit", QKeySequence.Quit, self.close)

        edit_menu = bar.addMenu("&Edit")
        action(edit_menu, "Copy PV name", "Ctrl+Shift+C", self.copy_pv_name)
        action(edit_menu, "Copy value", "Ctrl+Alt+C", self.copy_value,
               "Copy the current value with its units")
        action(edit_menu, "Copy PV name and value", "Ctrl+Alt+Shift+C",
               self.copy_name_and_value)
        edit_menu.addSeparator()
        action(edit_menu, "Edit value", "F2", self.focus_write, "Focus the write field")

        pv_menu = bar.addMenu("&PV")
        self.add_chart_action = action(pv_menu, "Add to strip chart", "Ctrl+T",
                                       self.add_current_to_chart)
        action(pv_menu, "Add to PV table", "Ctrl+Shift+T", self.add_current_to_table)
        action(pv_menu, "Show all elements…", "Ctrl+E", self.show_current_array)
        action(pv_menu, "Re-read metadata", "F5", self.refresh_current,
               "Read units, limits, enum states, DESC and RTYP again")
        action(pv_menu, "Reset history", "Ctrl+R", self.reset_current_history)
        action(pv_menu, "Next PV", "Ctrl+PgDown", lambda: self._step_tab(1))
        action(pv_menu, "Previous PV", "Ctrl+PgUp", lambda: self._step_tab(-1))

        view_menu = bar.addMenu("&View")
        for number, mode in enumerate(display.DisplayFormat, start=1):
            action(view_menu, f"{mode.value} format", f"Ctrl+{number}",
                   lambda _=False, m=mode: self._set_format(m))
        view_menu.addSeparator()
        zoom_in = action(view_menu, "Bigger text", QKeySequence.ZoomIn,
                         lambda: self.zoom(1), "Scale the whole window up (Ctrl++)")
        zoom_in.setShortcuts([QKeySequence("Ctrl++"), QKeySequence("Ctrl+=")])
        action(view_menu, "Smaller text", "Ctrl+-", lambda: self.zoom(-1),
               "Scale the whole window down")
        action(view_menu, "Normal text size", "Ctrl+0", lambda: self.zoom(0))
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        for name, label in (("light", "Light"), ("dark", "Dark (control room)")):
            act = action(theme_menu, label, None,
                         lambda _=False, n=name: self.set_theme(n),
                         f"{label} colours; alarm colours stay the MEDM ones")
            act.setCheckable(True)
            act.setChecked(theme.current().name == name)
            act.setData(name)
            self.theme_group.addAction(act)

        help_menu = bar.addMenu("&Help")
        action(help_menu, "Keyboard shortcuts", "F1", self.show_shortcuts,
               "Every keyboard shortcut of the window")
        action(help_menu, "About caprobe", None, self._about)

    # ==== PVs =================================================================================
    def open_pvs(self, names: list[str]) -> None:
        for name in names:
            self.open_pv(name)

    def open_pv(self, name: str) -> ProbeWidget | None:
        """Open (or show, if already open) a probe tab for ``name`` and start monitoring.
        A name Channel Access cannot carry opens nothing: one status-bar message, None."""
        name = name.strip()
        problem = pv_name_problem(name)
        if problem is not None:
            self.statusBar().showMessage(
                f"Not a PV name: '{short_name(name)}': {problem}; nothing opened", 10000)
            return None
        if name in self.probes:
            probe = self.probes[name]
            self.tabs.setCurrentWidget(probe)
            return probe
        probe = ProbeWidget(name, self.service)
        for widget in probe.focus_chain():
            if isinstance(widget, QLineEdit):
                widget.installEventFilter(self._shortcuts_first)
        probe.stateChanged.connect(self._probe_state_changed)
        probe.showArrayRequested.connect(self.show_array)
        probe.resetHistoryRequested.connect(self.reset_history)
        probe.written.connect(self._probe_written)
        self.probes[name] = probe
        index = self.tabs.addTab(probe, name)
        self.tabs.setCurrentIndex(index)
        self._update_tab(probe)
        try:
            self.probe_client.add(name)
        except ValueError as exc:  # the protocol refuses it (pva:// without p4p): no tab
            self.probes.pop(name, None)
            probe.shutdown()
            self.tabs.removeTab(self.tabs.indexOf(probe))
            probe.deleteLater()
            self.statusBar().showMessage(f"{short_name(name)}: {exc}; nothing opened", 15000)
            self._update_empty_hint()
            return None
        self.recent.remember(name)
        self._update_empty_hint()
        return probe

    def close_pv(self, name: str) -> None:
        probe = self.probes.pop(name, None)
        if probe is None:
            return
        self.probe_client.remove(name)
        self._pending.pop(name, None)
        probe.shutdown()
        self.tabs.removeTab(self.tabs.indexOf(probe))
        probe.deleteLater()
        self._update_empty_hint()

    def probe(self, name: str) -> ProbeWidget | None:
        return self.probes.get(name)

    def current_probe(self) -> ProbeWidget | None:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, ProbeWidget) else None

    # ==== updates =============================================================================
    def _schedule_drain(self) -> None:
        """Leading-edge throttle: paint now if the last paint was long enough ago, else once at
        the end of the interval, never more often than DRAIN_INTERVAL_MS."""
        if self._drain_timer.isActive():
            return
        since = (time.monotonic() - self._last_drain) * 1000
        self._drain_timer.start(max(0, int(DRAIN_INTERVAL_MS - since)))

    def _updates_arrived(self, batch: dict[str, list[Any]]) -> None:
        """A service batch (every ~30 ms while updates flow): kept until the next paint."""
        for name, items in batch.items():
            self._pending.setdefault(name, []).extend(items)
        self._schedule_drain()

    def drain(self) -> None:
        self._last_drain = time.monotonic()
        pending, self._pending = self._pending, {}
        for name, items in pending.items():
            probe = self.probes.get(name)
            if probe is None:
                continue
            # connection events in order, then only the newest value
            newest = None
            for item in items:
                if hasattr(item, "connected"):
                    if newest is not None:
                        probe.handle(newest)
                        newest = None
                    probe.handle(item)
                else:
                    newest = item
            if newest is not None:
                probe.handle(newest)
            probe.set_history(self._history.history(name))

    def history(self, name: str) -> History | None:
        """The probe's history of ``name`` (every update since it was opened or reset)."""
        return self._history.history(name)

    def _metadata_arrived(self, name: str, response: Any) -> None:
        probe = self.probes.get(name)
        if probe is not None:
            probe.set_control(response)

    def _metadata_failed(self, name: str, exc: Exception) -> None:
        probe = self.probes.get(name)
        if probe is not None:
            probe.control_failed(exc)

    def _service_failed(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def _tick(self) -> None:
        probe = self.current_probe()
        if probe is not None:
            probe.tick()
        for other in self.probes.values():
            if other.state is not Connection.CONNECTED:
                self._update_tab(other)

    # Signals from views reach the window through bound slots, never lambdas that touch
    # ``self``: Qt drops a bound slot's connection when the window goes, while a lambda
    # would call into a deleted status bar (a crash, not an exception) if a view's late
    # signal arrived during the window's teardown.
    def _show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _show_refusal(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def _probe_state_changed(self) -> None:
        probe = self.sender()
        if isinstance(probe, ProbeWidget):
            self._update_tab(probe)

    def _probe_written(self, text: str) -> None:
        probe = self.sender()
        name = probe.pv_name if isinstance(probe, ProbeWidget) else "PV"
        self.statusBar().showMessage(f"{name}: IOC now holds {text}", 8000)

    def _update_tab(self, probe: ProbeWidget) -> None:
        index = self.tabs.indexOf(probe)
        if index < 0:
            return
        connected = probe.state is Connection.CONNECTED
        if connected:
            self.recent.mark_connected(probe.pv_name)
        severity = getattr(getattr(probe.response, "metadata", None), "severity", None)
        if connected and severity is not None:
            color = style.severity_color(int(severity))
        elif connected:
            color = "#D0D0D0"
        elif probe.state is Connection.SEARCHING:
            color = style.SEARCHING_COLOR
        else:
            color = style.disconnected_color()
        key = (color, connected)
        if probe.tab_icon_key != key:  # repainting the icon at 10 Hz would be wasted work
            probe.tab_icon_key = key
            self.tabs.setTabIcon(index, _state_icon(color, hollow=not connected))
        state = probe.connection_text()
        self.tabs.setTabToolTip(index, f"{probe.pv_name}\n{state}")
        if probe is self.current_probe():
            self.setWindowTitle(f"{probe.pv_name} — caprobe")
            self._sync_waveform(probe)

    def _sync_waveform(self, probe: ProbeWidget) -> None:
        """The waveform tab follows the current probe when it is an array (known only once
        the channel has connected, so this runs on state changes too)."""
        if self.waveform is not None and probe.is_array() and \
                self.waveform.pv_name() != probe.pv_name:
            self.waveform.set_pv(probe.pv_name)

    def _current_changed(self, _index: int) -> None:
        probe = self.current_probe()
        self.setWindowTitle(f"{probe.pv_name} — caprobe" if probe else "caprobe")
        if probe is not None:
            self._sync_waveform(probe)
        self._link_focus_chain()

    def _link_focus_chain(self) -> None:
        """Tab: PV field -> the current probe's write field -> Write -> its details -> the
        chart, whatever order the widgets were created in."""
        chain: list[QWidget] = [self.pv_entry]
        probe = self.current_probe()
        if probe is not None:
            chain.extend(probe.focus_chain())
        # a view moves as a block: Qt carries a widget's descendants along with it, so the
        # chart keeps its own order (and the window needs to know nothing of its children)
        chain.extend(view for view in (self.chart, self.waveform) if view is not None)
        for before, after in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(before, after)

    def _update_empty_hint(self) -> None:
        empty = not self.probes
        self.tabs.setVisible(not empty)
        self.empty_hint.setVisible(empty)

    def _step_tab(self, step: int) -> None:
        if self.tabs.count():
            self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % self.tabs.count())

    # ==== actions =============================================================================
    def focus_entry(self) -> None:
        self.pv_entry.setFocus(Qt.ShortcutFocusReason)
        self.pv_entry.selectAll()

    def focus_write(self) -> None:
        probe = self.current_probe()
        if probe is not None:
            self.unfold_details()
            probe.focus_write()

    def unfold_details(self) -> None:
        """Open the current probe's details (folded on a short window) far enough for the
        write panel, taking the room from the chart (down to its minimum)."""
        probe = self.current_probe()
        if probe is None or not probe.details_folded():
            return
        sizes = self.splitter.sizes()
        if len(sizes) != 2:
            return
        wanted = probe.write_panel_height() + 3 * self.fontMetrics().height()
        grow = min(wanted, max(sizes[1] - self.lower_tabs.minimumHeight(), 0))
        self.splitter.setSizes([sizes[0] + grow, sizes[1] - grow])

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 (Qt override)
        # Tab from the PV field goes to the write field: unfold the details first
        if obj is self.pv_entry and event.type() == QEvent.KeyPress and \
                event.key() == Qt.Key_Tab and not event.modifiers():
            self.unfold_details()
        return super().eventFilter(obj, event)

    def close_current(self) -> None:
        probe = self.current_probe()
        if probe is not None:
            self.close_pv(probe.pv_name)

    def copy_pv_name(self) -> None:
        probe = self.current_probe()
        if probe is not None:
            QApplication.clipboard().setText(probe.pv_name)
            self.statusBar().showMessage(f"Copied {probe.pv_name}", 3000)

    def copy_value(self) -> None:
        probe = self.current_probe()
        if probe is not None and probe.response is not None:
            text = probe.value_text(max_elements=None)
            QApplication.clipboard().setText(text)
            self.statusBar().showMessage(f"Copied value of {probe.pv_name}", 3000)

    def copy_name_and_value(self) -> None:
        probe = self.current_probe()
        if probe is not None:
            value = probe.value_text(max_elements=None) if probe.response is not None else ""
            QApplication.clipboard().setText(f"{probe.pv_name} {value}".strip())
            self.statusBar().showMessage(f"Copied {probe.pv_name} and its value", 3000)

    def add_current_to_chart(self) -> None:
        probe = self.current_probe()
        if probe is not None:
            self.add_to_chart(probe.pv_name)

    def add_to_chart(self, name: str) -> None:
        if self.chart is None:
            self.statusBar().showMessage("The strip chart is not available in this build", 5000)
            return
        if name not in self.chart.pv_names():
            self.chart.add_pv(name)
        self.lower_tabs.setCurrentWidget(self.chart)
        self.statusBar().showMessage(f"{name} is on the strip chart", 3000)

    def show_current_array(self) -> None:
        probe = self.current_probe()
        if probe is not None:
            self.show_array(probe.pv_name)

    def show_array(self, name: str) -> None:
        probe = self.probes.get(name)
        if probe is None or probe.response is None:
            return
        self._sync_waveform(probe)
        dialog = ArrayDialog(name, probe.response.data, stamp_text=probe.timestamp_text(),
                             units=probe.units(), precision=probe.precision(), parent=self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        # 'finished' (not 'destroyed'): it fires while both objects are still whole.
        dialog.finished.connect(lambda _result, d=dialog: self._forget_dialog(d))
        self._array_dialogs.append(dialog)
        dialog.show()

    def _forget_dialog(self, dialog: ArrayDialog) -> None:
        self._array_dialogs = [d for d in self._array_dialogs if d is not dialog]

    def refresh_current(self) -> None:
        probe = self.current_probe()
        if probe is not None:
            self.refresh_metadata(probe.pv_name)

    def refresh_metadata(self, name: str) -> None:
        """Read ``name``'s DBR_CTRL metadata (for every view of it), DESC and RTYP again."""
        probe = self.probes.get(name)
        if probe is not None:
            self.service.refresh_metadata(name)
            probe.refresh_fields()

    def reset_current_history(self) -> None:
        probe = self.current_probe()
        if probe is not None:
            self.reset_history(probe.pv_name)

    def reset_history(self, name: str) -> None:
        probe = self.probes.get(name)
        if probe is not None:
            self._history.reset_history(name)
            probe.set_history(self._history.history(name))

    def _set_format(self, mode: display.DisplayFormat) -> None:
        probe = self.current_probe()
        if probe is not None:
            probe.set_display_format(mode)

    def zoom(self, steps: int) -> None:
        """Bigger (+1), smaller (-1) or normal (0) text in the whole window; remembered."""
        factor = theme.step_zoom(steps)
        theme.save(self.settings)
        self.statusBar().showMessage(f"Text size {factor:.0%}", 3000)

    def set_theme(self, name: str) -> None:
        """'light' or 'dark'; remembered."""
        theme.apply(name)
        theme.save(self.settings)
        for act in self.theme_group.actions():
            act.setChecked(act.data() == name)
        self.empty_hint.setStyleSheet(style.dim_text_style())
        for probe in self.probes.values():
            probe.tab_icon_key = None
            self._update_tab(probe)

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.menuBar(), self).exec_()

    def _about(self) -> None:
        QMessageBox.about(
            self, "About caprobe",
            f"<b>caprobe {caprobe.__version__}</b><br>A probe for EPICS Channel Access PVs."
            "<p>Alarm colours follow the MEDM/Phoebus convention in both themes: green "
            "NO_ALARM, yellow MINOR, red MAJOR, white INVALID; a grey dashed frame means not "
            "connected.  Severity and status are always written out next to the colour.</p>"
            "<p>Help ▸ Keyboard shortcuts (F1) lists every key.</p>")

    # ==== drag and drop anywhere in the window =================================================
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if pv_names_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        names = pv_names_from_mime(event.mimeData())
        if names:
            event.acceptProposedAction()
            self.open_pvs(names)

    # ==== settings and shutdown ================================================================
    def _restore_settings(self) -> None:
        geometry = self.settings.value(SETTINGS_GEOMETRY)
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self._default_size()
        splitter = self.settings.value(SETTINGS_SPLITTER)
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)
        else:
            self._splitter_pending = True  # sized at first show, when heights are known
        if self.chart is not None and hasattr(self.chart, "restore_settings"):
            try:
                self.chart.restore_settings(self.settings)
            except Exception as exc:  # a corrupt chart section must not stop the probe
                self.statusBar().showMessage(f"Strip chart settings ignored: {exc}", 10000)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._splitter_pending:
            self._splitter_pending = False
            self._default_splitter()

    def _header_height(self) -> int:
        """Height of the tab bar plus a probe header (estimated while no PV is open)."""
        probe = self.current_probe()
        line = self.fontMetrics().height()
        header = probe.header_height() if probe is not None else int(line * 6.5)
        return self.tabs.tabBar().sizeHint().height() + header + 4

    def _default_splitter(self) -> None:
        """The chart gets about CHART_LINES lines of height (360 px at 100 %) within 50-60 %
        of the room; what is left below the probe header goes to the details. When that is
        less than four lines (800x600 at a 10 pt font) the details start folded (the splitter,
        Tab or F2 open them) and the chart stays usable."""
        available = sum(self.splitter.sizes()) or self.splitter.height()
        line = self.fontMetrics().height()
        # CHART_LINES of text height, but never more than 60 % of the room (a 1366x768 laptop
        # keeps its write field in view), and at least half of it
        chart = max(min(CHART_LINES * line, int(available * 0.6)), available // 2)
        header = self._header_height()
        top = max(header, available - chart)
        collapse = top - header < 4 * line  # a sliver of details helps nobody
        if collapse:
            top = header
        self.splitter.setSizes([top, max(available - top, 0)])
        probe = self.current_probe()
        if probe is None:
            return
        # the estimate may leave a few pixels of folded details, or half a row below the
        # Write button: give them to the chart
        excess = probe.details_excess_height()
        if excess > 0:
            top -= excess
            self.splitter.setSizes([top, max(available - top, 0)])

    def _reveal_focus(self, _old: QWidget | None, new: QWidget | None) -> None:
        """Tab or F2 into the collapsed details opens them far enough to see the field."""
        probe = self.current_probe()
        if new is None or probe is None or not probe.isAncestorOf(new):
            return
        needed = probe.details_height_for(new)
        if needed <= 0:
            return
        sizes = self.splitter.sizes()
        grow = needed - probe.details_shown_height()
        if grow > 0 and len(sizes) == 2:
            grow = min(grow, max(sizes[1] - 120, 0))
            self.splitter.setSizes([sizes[0] + grow, sizes[1] - grow])

    def _default_size(self) -> None:
        """About 80 % of the screen, so 1366x768 and 4K both start sensibly."""
        screen = QApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        self.resize(int(area.width() * 0.8), int(area.height() * 0.85))
        if area.height() < 900:
            # A laptop / 1366x768 control-room screen: every pixel of height counts.
            self.setWindowState(self.windowState() | Qt.WindowMaximized)

    def save_settings(self) -> None:
        self.settings.setValue(SETTINGS_GEOMETRY, self.saveGeometry())
        self.settings.setValue(SETTINGS_SPLITTER, self.splitter.saveState())
        theme.save(self.settings)
        self.recent.save()
        if self.chart is not None and hasattr(self.chart, "save_settings"):
            try:
                self.chart.save_settings(self.settings)
            except Exception as exc:
                self.statusBar().showMessage(f"Strip chart settings not saved: {exc}", 10000)
        self.settings.sync()

    def shutdown(self) -> None:
        """Save settings, stop every worker and join every thread (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self._tick_timer.stop()
        self._drain_timer.stop()
        self.save_settings()
        for probe in self.probes.values():
            probe.shutdown()
        for widget in (self.chart, self.waveform, self.pv_table):
            if widget is not None and hasattr(widget, "shutdown"):
                widget.shutdown()
        self.probe_client.close()
        self.service.failed.disconnect(self._service_failed)
        app = QApplication.instance()
        if app is not None:
            try:
                app.focusChanged.disconnect(self._reveal_focus)
            except TypeError:
                pass
        release_shared(self.service)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        for dialog in list(self._array_dialogs):
            dialog.close()
        super().closeEvent(event)
