"""The PV table view: add PVs, watch them live, snapshot, compare, restore.

Only the visible rows are repainted, on a timer (``REPAINT_MS``): the model collects which
rows changed; the timer repaints the viewport when one of the rows on screen did. Snapshot,
restore and file reading of values run on the PV service's workers (``ca.Context`` for CA
rows and ``caprobe.pva.read_many``/``write_many`` for ``pva://`` rows: all PVs in flight at
once); the GUI thread never touches a socket.
"""

from __future__ import annotations

import os
import time
from typing import Any

from PyQt5.QtCore import QModelIndex, QSortFilterProxyModel, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QDragEnterEvent, QDropEvent, QKeySequence
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QShortcut,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from caprobe.gui import heap
from caprobe.gui.table.model import (
    COL_DIFF,
    COL_NAME,
    COL_RESULT,
    COL_SAVED,
    COL_SEVERITY,
    COL_TIME,
    COL_TOL,
    COL_VALUE,
    SORT_ROLE,
    PVTableModel,
    parse_tolerance,
    tolerance_text,
)
from caprobe.gui.table.restore_dialog import RestorePreview
from caprobe.snapshot import capture, files, pvlist
from caprobe.snapshot import restore as restoring
from caprobe.snapshot.compare import compare
from caprobe.snapshot.errors import SnapshotFileError
from caprobe.snapshot.model import EXACT, SavedPV, Snapshot, Tolerance

REPAINT_MS = 100
#: No update for this long: the CA thread is between bursts, a paint now is not slowed by it.
BURST_QUIET_MS = 3
#: A repaint is never held back longer than this waiting for a quiet moment.
BURST_WAIT_MAX_MS = 40
SETTLE_AFTER_ROWS = 200
SETTLE_DELAY_MS = 5000
SETTLE_POLL_MS = 250
FILTER_REFRESH_MS = 1000
SNAPSHOT_TIMEOUT = 5.0
RESTORE_TIMEOUT = 10.0
_FILE_FILTER = ";;".join(["All snapshot files (*.snap *.sav *.pvs *.txt *.lst)",
                          *files.FILTERS.values(), "All files (*)"])
STATE_FILTERS = ("All rows", "Differs", "Disconnected", "In alarm", "Checked")


def _settle_heap() -> None:
    heap.settle_heap(heap.BUSY_THRESHOLDS)


def result_text(item: restoring.RestoreItem) -> str:
    """Short text for the Result column (the tooltip has the whole line)."""
    if item.ok:
        return "restored" if not item.reason else f"restored; {item.reason}"
    if item.outcome == restoring.NO_ACCESS:
        return "no write access (read-only)"
    if item.outcome in (restoring.NOT_CONNECTED, restoring.TIMED_OUT):
        return item.outcome
    return f"{item.outcome}: {item.reason}"


class _Filter(QSortFilterProxyModel):
    """Name substring and state filter; reads the model's rows directly (no Qt roles)."""

    def __init__(self, model: PVTableModel) -> None:
        super().__init__()
        self.table = model
        self.text = ""
        self.state = STATE_FILTERS[0]
        self.setSourceModel(model)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(False)  # re-sorting 5,000 rows on every update: never

    def filterAcceptsRow(self, source_row: int, _parent: QModelIndex) -> bool:  # noqa: N802
        row = self.table.rows[source_row]
        if self.text and self.text not in row.name.lower():
            return False
        if self.state == "Differs":
            return row.differs
        if self.state == "Disconnected":
            return row.connected is not True
        if self.state == "In alarm":
            return bool(row.connected and row.severity)
        if self.state == "Checked":
            return row.checked
        return True

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:  # noqa: N802
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


class _Table(QTableView):
    """Accepts dropped PV names and files, and pasted names."""

    namesDropped = pyqtSignal(str)
    filesDropped = pyqtSignal(list)

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DropOnly)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasText() or event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        if paths:
            self.filesDropped.emit(paths)
        elif mime.hasText():
            self.namesDropped.emit(mime.text())
        event.acceptProposedAction()


class PVTableView(QWidget):
    """The PV table tab. ``feed`` is the data source (see :mod:`caprobe.gui.table.feed`)."""

    message = pyqtSignal(str)

    def __init__(self, service: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from caprobe.gui.table.feed import ServiceFeed

        self.model = PVTableModel(self)
        self.feed = ServiceFeed(service, self.model, self)
        self.proxy = _Filter(self.model)
        self.snapshot_time: int | None = None
        self.restore_timeout = RESTORE_TIMEOUT  # the preview offers to change it
        self._busy = False
        self._build()
        self._repaint_timer = QTimer(self)
        self._repaint_timer.setInterval(REPAINT_MS)
        self._repaint_timer.timeout.connect(self._repaint_due)
        self._repaint_asked = 0.0
        self._quiet_timer = QTimer(self)
        self._quiet_timer.setSingleShot(True)
        self._quiet_timer.setInterval(BURST_QUIET_MS)
        self._quiet_timer.timeout.connect(self._repaint_when_quiet)
        self._repaint_timer.start()
        self._filter_timer = QTimer(self)
        self._filter_timer.setInterval(FILTER_REFRESH_MS)
        self._filter_timer.timeout.connect(self._refresh_filter)
        self._filter_timer.start()
        # Thousands of rows add hundreds of thousands of long-lived objects (rows,
        # subscriptions, channels): once the rows have their first values, freeze them out
        # of the cycle collector's sight (caprobe.gui.heap), so no full pass over them stalls
        # the loop while the table updates. Polled: settles as soon as the load is in, at the
        # latest SETTLE_DELAY_MS after it began (PVs that never connect do not hold it up).
        self._settle_timer = QTimer(self)
        self._settle_timer.setInterval(SETTLE_POLL_MS)
        self._settle_timer.timeout.connect(self._settle_when_loaded)
        self._settle_started = 0.0
        self.model.differingChanged.connect(self._update_summary)
        self.model.namesChanged.connect(self._update_summary)
        self._update_summary()

    # ---- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.entry = QLineEdit()
        self.entry.setPlaceholderText("Add PVs: type or paste names (spaces, commas or lines)")
        self.entry.returnPressed.connect(self.add_from_entry)
        add = QPushButton("Add")
        add.clicked.connect(self.add_from_entry)

        def button(text: str, slot: Any, tip: str) -> QPushButton:
            widget = QPushButton(text)
            widget.setToolTip(tip)
            widget.clicked.connect(slot)
            return widget

        self.open_button = button("Open…", self.open_file,
                                  "Open a PV list, snapshot (.snap), autosave (.sav) or Phoebus "
                                  "(.pvs) file: its PVs are added, its values become the "
                                  "saved column")
        self.save_button = button("Save…", self.save_file,
                                  "Save the saved column (or the PV names) as .snap, .sav, "
                                  ".pvs or a PV list")
        self.snapshot_button = button("Snapshot", self.take_snapshot,
                                      "Read every PV now (all at once) into the saved column")
        self.compare_button = button("Compare…", self.compare_files,
                                     "Compare two snapshot files with each other")
        self.restore_button = button("Restore…", self.restore,
                                     "Write saved values back to the selected rows (or the "
                                     "checked rows): preview first, then confirm")
        top = QHBoxLayout()
        top.addWidget(QLabel("PVs:"))
        top.addWidget(self.entry, 1)
        top.addWidget(add)
        for widget in (self.open_button, self.save_button, self.snapshot_button,
                       self.compare_button, self.restore_button):
            top.addWidget(widget)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by name")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._set_filter_text)
        self.state_combo = QComboBox()
        self.state_combo.addItems(STATE_FILTERS)
        self.state_combo.currentTextChanged.connect(self._set_filter_state)
        self.tolerance_edit = QLineEdit("0")
        self.tolerance_edit.setFixedWidth(self.tolerance_edit.fontMetrics()
                                          .horizontalAdvance("0.001 10%") + 16)
        self.tolerance_edit.setToolTip("Default tolerance of every row without its own: "
                                       "0.5 (absolute), 2% (relative) or both ('0.5 2%')")
        self.tolerance_edit.editingFinished.connect(self._set_default_tolerance)
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.PlainText)
        # May be cut at a narrow width (the tooltip holds it all); never widens the window.
        self.summary.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        second = QHBoxLayout()
        self.filter_edit.setMinimumWidth(self.filter_edit.fontMetrics()
                                         .horizontalAdvance("Filter by name") + 24)
        second.addWidget(self.filter_edit, 1)
        second.addWidget(self.state_combo)
        second.addWidget(QLabel("Tolerance:"))
        second.addWidget(self.tolerance_edit)
        second.addWidget(self.summary, 1)

        self.table = _Table()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked
                                   | QAbstractItemView.EditKeyPressed)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(
            self.table.fontMetrics().height() + 6)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setStretchLastSection(True)
        metrics = self.table.fontMetrics()

        def room(sample: str) -> int:
            return metrics.horizontalAdvance(sample) + 16

        for column, width in ((COL_NAME, room("SR:C01-MG:G02A<HCM:01>Fld-SP")),
                              (COL_VALUE, room("-1234.567 mm")),
                              (COL_SEVERITY, room("MAJOR HIHI")),
                              (COL_TIME, room("2026-12-07 16:17:15.123456")),
                              (COL_SAVED, room("-1234.567 mm")), (COL_DIFF, room("+123.456")),
                              (COL_TOL, room("0.01 2%")), (COL_RESULT, 160)):
            self.table.setColumnWidth(column, width)
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.namesDropped.connect(self.add_text)
        self.table.filesDropped.connect(lambda paths: [self.open_path(p) for p in paths])
        QShortcut(QKeySequence.Paste, self.table, self.paste, context=Qt.WidgetShortcut)
        QShortcut(QKeySequence.Delete, self.table, self.remove_selected,
                  context=Qt.WidgetShortcut)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(second)
        layout.addWidget(self.table, 1)

    # ---- adding and removing ---------------------------------------------------------------
    def add_names(self, names: list[str]) -> list[str]:
        if len(names) >= SETTLE_AFTER_ROWS:
            # Thousands of new rows, subscriptions and channels all survive: no full pass
            # over them until they have connected and are frozen (see caprobe.gui.heap).
            heap.defer_full_collections()
        added = self.model.add_names(names)
        if len(added) >= SETTLE_AFTER_ROWS:
            self._settle_started = time.monotonic()
            self._settle_timer.start()
        elif heap.full_collections_deferred() and not self._settle_timer.isActive():
            heap.resume_full_collections()  # nothing new after all: no collection needed
        for name, problem in self.feed.refused:
            self.message.emit(f"{name}: {problem}")
        return added

    def _settle_when_loaded(self) -> None:
        waited = time.monotonic() - self._settle_started
        loading = any(row.connected is None or (row.connected and row.response is None)
                      for row in self.model.rows)
        if loading and waited < SETTLE_DELAY_MS / 1000:
            return
        self._settle_timer.stop()
        _settle_heap()

    def add_text(self, text: str) -> bool:
        try:
            names = pvlist.split_names(text)
        except ValueError as exc:
            self._say(f"Not added: {exc}")
            return False
        added = self.add_names(names)
        self._say(f"Added {len(added)} PV(s)" + (f" ({len(names) - len(added)} already in "
                                                   "the table)" if len(added) < len(names)
                                                   else ""))
        return True

    def add_from_entry(self) -> None:
        if self.add_text(self.entry.text()):
            self.entry.clear()

    def paste(self) -> None:
        self.add_text(QApplication.clipboard().text())

    def selected_rows(self) -> list[int]:
        rows = {self.proxy.mapToSource(index).row()
                for index in self.table.selectionModel().selectedRows()}
        return sorted(rows)

    def remove_selected(self) -> None:
        rows = self.selected_rows()
        if rows:
            self.model.remove_rows(rows)
            self._say(f"Removed {len(rows)} row(s)")

    # ---- repainting ------------------------------------------------------------------------
    def visible_source_rows(self) -> range | list[int]:
        viewport = self.table.viewport()
        first = self.table.rowAt(0)
        if first < 0:
            return []
        last = self.table.rowAt(viewport.height() - 1)
        if last < 0:
            last = self.proxy.rowCount() - 1
        return [self.proxy.mapToSource(self.proxy.index(r, 0)).row()
                for r in range(first, last + 1)]

    def _repaint_due(self) -> None:
        self._repaint_asked = time.monotonic()
        self._repaint_when_quiet()

    def _repaint_when_quiet(self) -> None:
        """Repaint between bursts of updates. An IOC that scans thousands of records together
        sends their updates in one burst, which the CA thread decodes holding the GIL for
        tens of ms; a paint during it waits for the GIL again and again and stalls the loop
        2-4 times as long as the paint itself. So wait, up to BURST_WAIT_MAX_MS, for a few ms
        without an update (the values painted are then the burst's, the newest)."""
        now = time.monotonic()
        quiet = now - self.feed.client.collector.last_add >= BURST_QUIET_MS / 1000
        if not quiet and now - self._repaint_asked < BURST_WAIT_MAX_MS / 1000:
            self._quiet_timer.start()
            return
        self.repaint_visible()

    def repaint_visible(self) -> None:
        """Repaint the viewport when a row on screen changed since last time."""
        visible = self.visible_source_rows() if self.table.isVisible() else []
        self.model.update_differences(visible)
        dirty = self.model.take_dirty()
        if not dirty or not visible:
            return
        if any(row in dirty for row in visible):
            # Painted now, inside this slot, so the GIL is held for the whole paint. Through
            # update() the paint runs from the event loop, which takes the GIL again for each
            # of the ~1,500 data() calls: while the CA thread works through a burst (5,000
            # PVs scanned together) each take waits for it, and a 10 ms paint became a
            # 45 ms stall (bench/bench_table.py).
            self.table.viewport().repaint()

    def _refresh_filter(self) -> None:
        if self.proxy.state != STATE_FILTERS[0] and self.table.isVisible():
            self.proxy.invalidateFilter()  # a live state may have changed (once a second)

    def _set_filter_text(self, text: str) -> None:
        self.proxy.text = text.strip().lower()
        self.proxy.invalidateFilter()

    def _set_filter_state(self, state: str) -> None:
        self.proxy.state = state
        self.proxy.invalidateFilter()

    def _set_default_tolerance(self) -> None:
        try:
            tolerance = parse_tolerance(self.tolerance_edit.text()) or EXACT
        except ValueError as exc:
            self._say(str(exc))
            self.tolerance_edit.setText(tolerance_text(self.model.default_tolerance))
            return
        self.model.set_default_tolerance(tolerance)
        self._update_summary()

    def _update_summary(self, *_: Any) -> None:
        total = len(self.model.rows)
        parts = [f"{total} PV(s)"]
        if self.snapshot_time is not None or any(r.saved is not None for r in self.model.rows):
            parts.insert(0, f"{self.model.differing} beyond tolerance")
        if self.snapshot_time is not None:
            parts.append("saved " + time.strftime("%Y-%m-%d %H:%M:%S",
                                                  time.localtime(self.snapshot_time / 1e9)))
        self.summary.setText(" · ".join(parts))
        self.summary.setToolTip(" · ".join(parts))

    def _say(self, text: str) -> None:
        self.message.emit(text)

    # ---- files -----------------------------------------------------------------------------
    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open PVs or snapshot", "", _FILE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        try:
            snapshot = files.load(path)
        except SnapshotFileError as exc:
            QMessageBox.warning(self, "Cannot open file", str(exc))
            return False
        with_values = [pv for pv in snapshot.pvs if pv.value is not None or pv.error]
        self.add_names(snapshot.names())
        if with_values:
            self.model.set_saved(snapshot.pvs)
            if snapshot.tolerance != EXACT:
                self.model.set_default_tolerance(snapshot.tolerance)
                self.tolerance_edit.setText(tolerance_text(snapshot.tolerance))
            self.snapshot_time = snapshot.time_ns or self.snapshot_time
            if snapshot.timeout:
                self.restore_timeout = snapshot.timeout
        self._update_summary()
        self._say(f"Opened {os.path.basename(path)}: {len(snapshot.pvs)} PV(s)"
                  + (", saved values shown" if with_values else ""))
        return True

    def current_snapshot(self) -> Snapshot:
        """The saved column (with check marks and tolerances) as a Snapshot."""
        pvs = []
        for row in self.model.rows:
            saved = row.saved or SavedPV(row.name)
            copy = SavedPV(**{**vars(saved), "selected": row.checked,
                              "tolerance": row.tolerance})
            pvs.append(copy)
        return Snapshot(pvs=pvs, time_ns=self.snapshot_time,
                        tolerance=self.model.default_tolerance, timeout=self.restore_timeout)

    def save_file(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Save table", "table.snap",
                                                   _FILE_FILTER)
        if path:
            self.save_path(path)

    def save_path(self, path: str) -> bool:
        try:
            files.save(path, self.current_snapshot())
        except SnapshotFileError as exc:
            QMessageBox.warning(self, "Cannot save file", str(exc))
            return False
        self._say(f"Saved {len(self.model.rows)} PV(s) to {path}")
        return True

    # ---- snapshot, compare, restore --------------------------------------------------------
    def take_snapshot(self) -> None:
        names = self.model.names()
        if self._busy:
            self._say("Busy: wait until the snapshot or restore under way has finished")
            return
        if not names:
            self._say("Nothing to read: add PVs first")
            return
        self._set_busy(True, f"Reading {len(names)} PV(s)…")
        self.feed.submit(lambda: capture.take(names, timeout=SNAPSHOT_TIMEOUT)[0],
                         self._snapshot_done, self._failed)

    def _snapshot_done(self, snapshot: Snapshot) -> None:
        self._set_busy(False)
        self.snapshot_time = snapshot.time_ns
        self.model.set_saved(snapshot.pvs, add_missing=False)
        missing = sum(1 for pv in snapshot.pvs if pv.value is None)
        self._update_summary()
        self._say(f"Snapshot of {len(snapshot.pvs)} PV(s)"
                  + (f"; {missing} could not be read" if missing else ""))

    def compare_files(self) -> None:
        first, _ = QFileDialog.getOpenFileName(self, "First snapshot", "", _FILE_FILTER)
        if not first:
            return
        second, _ = QFileDialog.getOpenFileName(self, "Second snapshot", "", _FILE_FILTER)
        if second:
            self.show_file_comparison(first, second)

    def show_file_comparison(self, first: str, second: str) -> QDialog | None:
        """A window listing the PVs that differ between two files (nothing is read live)."""
        try:
            a, b = files.load(first), files.load(second)
        except SnapshotFileError as exc:
            QMessageBox.warning(self, "Cannot open file", str(exc))
            return None
        results = [r for r in compare(a, b, self.model.default_tolerance)
                   if r.differs or r.state == "unreadable"]
        units = {pv.name: pv.units for pv in b.pvs}
        dialog = QDialog(self)
        dialog.setWindowTitle("Snapshot comparison")
        summary = QLabel(f"{len(results)} of {len(a.pvs)} PV(s) differ between "
                         f"{os.path.basename(first)} and {os.path.basename(second)} "
                         f"(tolerance: {tolerance_text(self.model.default_tolerance)} unless "
                         "a PV has its own).")
        summary.setTextFormat(Qt.PlainText)
        summary.setWordWrap(True)
        text = QPlainTextEdit("\n".join(r.line(units.get(r.name, "")) for r in results)
                              or "(no differences)")
        text.setReadOnly(True)
        text.setLineWrapMode(QPlainTextEdit.NoWrap)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(dialog.close)
        layout = QVBoxLayout(dialog)
        layout.addWidget(summary)
        layout.addWidget(text, 1)
        layout.addWidget(buttons)
        dialog.resize(720, 420)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.text = text  # type: ignore[attr-defined]
        dialog.show()
        return dialog

    def restore_targets(self) -> list[str]:
        rows = self.selected_rows() or [i for i, r in enumerate(self.model.rows) if r.checked]
        return [self.model.rows[i].name for i in rows
                if self.model.rows[i].saved is not None]

    def restore(self) -> None:
        names = self.restore_targets()
        if self._busy:
            self._say("Busy: wait until the snapshot or restore under way has finished")
            return
        if not names:
            self._say("Nothing to restore: take a snapshot or open a file with saved values, "
                      "and select or check rows")
            return
        snapshot = self.current_snapshot()
        snapshot.pvs = [pv for pv in snapshot.pvs if pv.name in set(names)]
        for pv in snapshot.pvs:
            pv.selected = True
        self._set_busy(True, f"Checking {len(names)} PV(s) before writing…")

        def plan() -> list[restoring.RestoreItem]:
            with capture.context_for(SNAPSHOT_TIMEOUT) as context:
                return restoring.plan(snapshot, context)

        self.feed.submit(plan, self._confirm_restore, self._failed)

    def _confirm_restore(self, items: list[restoring.RestoreItem]) -> None:
        self._set_busy(False)
        self.preview = RestorePreview(items, self.restore_timeout, self)
        self.preview.accepted.connect(lambda: self._write(items, self.preview.timeout))
        self.preview.rejected.connect(lambda: self._say("Restore cancelled: nothing was "
                                                        "written"))
        self.preview.open()

    def _write(self, items: list[restoring.RestoreItem], timeout: float) -> None:
        ready = sum(1 for item in items if item.ready)
        self._set_busy(True, f"Writing {ready} PV(s)…")
        self.restore_timeout = timeout

        def execute() -> list[restoring.RestoreItem]:
            with capture.context_for(timeout) as context:
                return restoring.execute(items, context, timeout=timeout)

        self.feed.submit(execute, self._restore_done, self._failed)

    def _restore_done(self, items: list[restoring.RestoreItem]) -> None:
        self._set_busy(False)
        self.model.set_results({item.name: result_text(item) for item in items},
                               {item.name: item.line() for item in items})
        done = sum(1 for item in items if item.ok)
        self.last_restore = items
        self._say(f"Restored {done} of {len(items)} PV(s)"
                  + ("" if done == len(items) else "; see the Result column"))

    def _failed(self, exc: Exception) -> None:
        self._set_busy(False)
        self._say(f"Failed: {exc}")

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        for widget in (self.snapshot_button, self.restore_button):
            widget.setEnabled(not busy)
        if text:
            self._say(text)

    # ---- context menu ----------------------------------------------------------------------
    def _context_menu(self, position: Any) -> None:
        menu = QMenu(self)
        rows = self.selected_rows()
        menu.addAction("Set tolerance of selected rows…", self.ask_tolerance).setEnabled(
            bool(rows))
        menu.addAction("Check selected rows", lambda: self._check(rows, True))
        menu.addAction("Uncheck selected rows", lambda: self._check(rows, False))
        menu.addSeparator()
        menu.addAction("Restore selected rows…", self.restore)
        menu.addAction("Remove selected rows", self.remove_selected)
        menu.addAction("Copy PV names", self.copy_names)
        menu.exec_(self.table.viewport().mapToGlobal(position))

    def ask_tolerance(self) -> None:
        rows = self.selected_rows()
        text, ok = QInputDialog.getText(self, "Tolerance", "Tolerance for the selected rows "
                                        "(0.5, 2% or both; empty: the default):")
        if not ok:
            return
        try:
            tolerance = parse_tolerance(text)
        except ValueError as exc:
            self._say(str(exc))
            return
        self.model.set_tolerance(rows, tolerance)

    def set_tolerance(self, rows: list[int], tolerance: Tolerance | None) -> None:
        self.model.set_tolerance(rows, tolerance)

    def _check(self, rows: list[int], checked: bool) -> None:
        for row in rows:
            self.model.rows[row].checked = checked
            self.model.rows[row]._cache.clear()
        self.table.viewport().update()

    def copy_names(self) -> None:
        rows = self.selected_rows()
        QApplication.clipboard().setText("\n".join(self.model.rows[r].name for r in rows))

    def shutdown(self) -> None:
        if self._settle_timer.isActive():
            self._settle_timer.stop()
            heap.resume_full_collections()
        self._repaint_timer.stop()
        self._quiet_timer.stop()
        self._filter_timer.stop()
        self.feed.close()


__all__ = ["PVTableView"]
