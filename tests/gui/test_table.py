"""The PV table against a real soft IOC: live values, snapshot, differences, restore.

Another client (caproto) changes PVs and checks what the table's restore wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import many_ioc
import pytest
import servers
from caproto.sync.client import read as other_read
from caproto.sync.client import write as other_write
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

from caprobe.gui.service import PVService
from caprobe.gui.table.model import COL_RESULT, COL_VALUE, PVTableModel, parse_tolerance
from caprobe.gui.table.view import PVTableView
from caprobe.snapshot import files
from caprobe.snapshot.model import Tolerance

COUNT = 300


@pytest.fixture(scope="module")
def ioc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    server = many_ioc.start(tmp_path_factory.mktemp("table_ioc"), count=COUNT)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def table(qtbot, ioc, ca_env) -> Iterator[PVTableView]:
    ca_env(ioc)
    service = PVService(search_timeout=1.0)
    view = PVTableView(service)
    qtbot.addWidget(view)
    view.resize(1100, 600)
    view.show()
    yield view
    view.shutdown()
    assert service.shutdown(3000)


def names(ioc) -> list[str]:
    return [many_ioc.set_name(ioc.prefix, i) for i in range(COUNT)] + \
        [ioc.pv(extra) for extra in many_ioc.EXTRAS]


def all_connected(model: PVTableModel) -> bool:
    return all(row.connected and row.data is not None for row in model.rows)


def cell(view: PVTableView, name: str, column: int) -> Any:
    row = view.model.row_of(name)
    return view.model.data(view.model.index(row, column))


def test_tolerance_text():
    assert parse_tolerance("0.5") == Tolerance(0.5, 0.0)
    assert parse_tolerance("2%") == Tolerance(0.0, 0.02)
    assert parse_tolerance("0.5 2%") == Tolerance(0.5, 0.02)
    assert parse_tolerance("") is None
    with pytest.raises(ValueError, match="not a tolerance"):
        parse_tolerance("lots")


def test_live_snapshot_differences_restore(qtbot, ioc, table, monkeypatch):
    view = table
    assert view.add_text("\n".join(names(ioc)) + "\n# comment\n")
    qtbot.waitUntil(lambda: all_connected(view.model), timeout=20000)
    first = many_ioc.set_name(ioc.prefix, 12)
    # PREC 3 and units, once the service has read the metadata (once per PV)
    qtbot.waitUntil(lambda: cell(view, first, COL_VALUE) == "1.200 A", timeout=10000)
    assert cell(view, ioc.pv("mode"), COL_VALUE) == "Standby"

    view.take_snapshot()
    qtbot.waitUntil(lambda: view.snapshot_time is not None, timeout=15000)
    assert view.model.differing == 0

    second = many_ioc.set_name(ioc.prefix, 250)
    other_write(first, 1.25, repeater=False, timeout=5, notify=True)   # saved 1.2
    other_write(second, 77.0, repeater=False, timeout=5, notify=True)  # saved 25.0
    qtbot.waitUntil(lambda: view.model.differing == 2, timeout=10000)
    row = view.model.rows[view.model.row_of(first)]
    from caprobe.gui.table.model import COL_DIFF
    assert row.differs and cell(view, first, COL_DIFF) == "+0.050"

    # a per-row tolerance hides the small change; the table-wide default too
    view.model.set_tolerance([view.model.row_of(first)], Tolerance(0.1))
    assert view.model.differing == 1
    view.model.set_tolerance([view.model.row_of(first)], None)
    view.tolerance_edit.setText("0.1")
    view.tolerance_edit.editingFinished.emit()
    assert view.model.differing == 1
    view.tolerance_edit.setText("0")
    view.tolerance_edit.editingFinished.emit()
    assert view.model.differing == 2

    view.state_combo.setCurrentText("Differs")
    assert view.proxy.rowCount() == 2
    view.state_combo.setCurrentText("All rows")

    # Restore the two changed rows and the read-only one: preview, confirm, results.
    view.table.clearSelection()
    for name in (first, second, ioc.pv("locked")):
        proxy_row = view.proxy.mapFromSource(view.model.index(view.model.row_of(name), 0))
        view.table.selectionModel().select(
            proxy_row, view.table.selectionModel().Select | view.table.selectionModel().Rows)
    view.restore()
    qtbot.waitUntil(lambda: getattr(view, "preview", None) is not None
                    and view.preview.isVisible(), timeout=10000)
    preview = view.preview
    assert preview.write_button.text() == "Write 2 PV(s)"
    texts = {preview.table.item(r, 0).text(): preview.table.item(r, 3).text()
             for r in range(preview.table.rowCount())}
    assert texts[ioc.pv("locked")].startswith("no write access")
    assert other_read(first, repeater=False, timeout=5).data[0] == 1.25  # nothing written yet
    preview.accept()
    qtbot.waitUntil(lambda: hasattr(view, "last_restore"), timeout=15000)
    assert other_read(first, repeater=False, timeout=5).data[0] == 1.2
    assert other_read(second, repeater=False, timeout=5).data[0] == 25.0
    assert cell(view, first, COL_RESULT) == "restored"
    assert cell(view, ioc.pv("locked"), COL_RESULT) == "no write access (read-only)"
    qtbot.waitUntil(lambda: view.model.differing == 0, timeout=10000)


def test_cancelled_restore_writes_nothing(qtbot, ioc, table):
    view = table
    name = many_ioc.set_name(ioc.prefix, 5)
    view.add_names([name])
    qtbot.waitUntil(lambda: all_connected(view.model), timeout=10000)
    view.take_snapshot()
    qtbot.waitUntil(lambda: view.snapshot_time is not None, timeout=10000)
    other_write(name, 9.0, repeater=False, timeout=5, notify=True)
    try:
        view.restore()
        qtbot.waitUntil(lambda: getattr(view, "preview", None) is not None
                        and view.preview.isVisible(), timeout=10000)
        view.preview.reject()
        QApplication.processEvents()
        assert other_read(name, repeater=False, timeout=5).data[0] == 9.0
    finally:
        other_write(name, 0.5, repeater=False, timeout=5, notify=True)


def test_files_open_and_save(qtbot, ioc, table, tmp_path):
    view = table
    name = many_ioc.set_name(ioc.prefix, 7)
    sav = tmp_path / "ioc.sav"
    sav.write_text(f"{name} 0.7\n{ioc.pv('mode')} 2\n<END>\n")
    assert view.open_path(str(sav))
    assert view.model.names() == [name, ioc.pv("mode")]
    qtbot.waitUntil(lambda: all_connected(view.model), timeout=10000)
    qtbot.waitUntil(lambda: view.model.differing == 1, timeout=5000)  # mode is Standby (1)
    out = tmp_path / "out.pvs"
    assert view.save_path(str(out))
    back = files.load(out)
    assert back.names() == [name, ioc.pv("mode")]
    bad = tmp_path / "bad.snap"
    bad.write_text("caprobe-snapshot 1\nX BOGUS 1 - - - \"\"\nend\n")
    from PyQt5.QtWidgets import QMessageBox
    shown = []
    original = QMessageBox.warning
    QMessageBox.warning = staticmethod(lambda *a: shown.append(a[2]))
    try:
        assert not view.open_path(str(bad))
    finally:
        QMessageBox.warning = original
    assert shown and "bad.snap:2: unknown TYPE" in shown[0]
    assert view.model.names() == [name, ioc.pv("mode")]  # nothing changed


def test_filter_sort_disconnected_and_visible_repaint(qtbot, ioc, table, monkeypatch):
    view = table
    missing = ioc.prefix + "no:such:pv"
    view.add_text(f"{ioc.pv('mode')}, {missing}\n" + "\n".join(names(ioc)[:COUNT]))
    qtbot.waitUntil(lambda: view.model.rows[view.model.row_of(missing)].connected is False,
                    timeout=10000)
    assert cell(view, missing, COL_VALUE) == "DISCONNECTED"
    qtbot.waitUntil(lambda: all(r.connected for r in view.model.rows if r.name != missing),
                    timeout=20000)

    view.state_combo.setCurrentText("Disconnected")
    assert view.proxy.rowCount() == 1
    view.state_combo.setCurrentText("All rows")
    view.filter_edit.setText("set:00")
    assert view.proxy.rowCount() == 100
    view.filter_edit.setText("")

    view.table.sortByColumn(COL_VALUE, 1)  # descending by value: the largest setpoint first
    order = [view.proxy.index(r, 0).data() for r in range(view.proxy.rowCount())]
    setpoints = [name for name in order if ":set:" in name]
    assert setpoints[:3] == [many_ioc.set_name(ioc.prefix, i) for i in (299, 298, 297)]

    # Only rows on screen cause a repaint: a change to a row scrolled out of view does not.
    visible = set(view.visible_source_rows())
    assert 0 < len(visible) < 60
    hidden = next(i for i in range(len(view.model.rows)) if i not in visible)
    updates = []
    monkeypatch.setattr(view.table.viewport(), "repaint", lambda *a: updates.append(a))
    view.model.take_dirty()
    view.model._dirty.add(hidden)
    view.repaint_visible()
    assert updates == []
    view.model._dirty.add(next(iter(visible)))
    view.repaint_visible()
    assert len(updates) == 1


def test_refused_names_change_nothing(table):
    view = table
    assert not view.add_text("GOOD:one BAD\x07name")
    assert view.model.names() == []


def test_difference_text_follows_each_update(qtbot, ioc, table):
    view = table
    name = many_ioc.set_name(ioc.prefix, 40)
    view.add_names([name])
    qtbot.waitUntil(lambda: all_connected(view.model), timeout=10000)
    view.take_snapshot()
    qtbot.waitUntil(lambda: view.snapshot_time is not None, timeout=10000)
    from caprobe.gui.table.model import COL_DIFF
    try:
        for value, text in ((4.25, "+0.250"), (3.5, "-0.500")):
            other_write(name, value, repeater=False, timeout=5, notify=True)
            # shown as soon as the value arrives, and the text updated with it
            qtbot.waitUntil(lambda t=text: cell(view, name, COL_DIFF) == t, timeout=5000)
    finally:
        other_write(name, 4.0, repeater=False, timeout=5, notify=True)


def test_drop_paste_and_two_file_comparison(qtbot, ioc, table, tmp_path):
    from PyQt5.QtCore import QMimeData, QPoint, Qt, QUrl
    from PyQt5.QtGui import QDropEvent

    view = table

    def drop(mime: QMimeData) -> None:
        event = QDropEvent(QPoint(5, 5), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        view.table.dropEvent(event)

    mime = QMimeData()
    mime.setText(f"{ioc.pv('mode')}\n{ioc.pv('onoff')}")
    drop(mime)
    assert view.model.names() == [ioc.pv("mode"), ioc.pv("onoff")]
    listing = tmp_path / "more.txt"
    listing.write_text(f"# two more\n{ioc.pv('label')}\n{ioc.pv('wave')}\n")
    files_mime = QMimeData()
    files_mime.setUrls([QUrl.fromLocalFile(str(listing))])
    drop(files_mime)
    assert view.model.names()[2:] == [ioc.pv("label"), ioc.pv("wave")]
    QApplication.clipboard().setText(ioc.pv("limited"))
    view.paste()
    assert view.model.names()[-1] == ioc.pv("limited")

    first, second = tmp_path / "a.snap", tmp_path / "b.sav"
    first.write_text("caprobe-snapshot 1\n"
                     f'{ioc.pv("limited")} DOUBLE 5.0 - - - "V"\n'
                     f'{ioc.pv("label")} STRING "shift A" - - - ""\nend\n')
    second.write_text(f"{ioc.pv('limited')} 6.5\n{ioc.pv('label')} shift A\n<END>\n")
    dialog = view.show_file_comparison(str(first), str(second))
    assert dialog is not None
    assert dialog.text.toPlainText() == f"{ioc.pv('limited')} 5 -> 6.5 (+1.5)"
    dialog.close()


def test_comparison_budget_reaches_every_row():
    """More changed rows than the per-tick budget: all are compared within a few ticks, the
    visible ones first."""
    from caprobe.snapshot.model import SavedPV as Saved

    model = PVTableModel()
    model.add_names([f"R{i}" for i in range(50)])
    model.set_saved([Saved(f"R{i}", 1.0, "DOUBLE") for i in range(50)])
    for row in model.rows:  # a live value that differs, as the service would deliver
        row.connected = True
        row.dbf = "DOUBLE"
        row.response = type("R", (), {"data": __import__("numpy").array([2.0]),
                                      "metadata": None})()
    model._to_compare = set(range(50))
    model.update_differences(visible=[49], budget=10)
    assert model.rows[49].differs and sum(r.differs for r in model.rows) == 11
    for _ in range(4):
        model.update_differences(budget=10)
    assert all(row.differs for row in model.rows) and model.differing == 50


def test_repaint_waits_for_a_pause_in_a_burst_of_updates(qtbot, table, monkeypatch):
    import time as _time

    view = table
    painted = []
    monkeypatch.setattr(view, "repaint_visible", lambda: painted.append(_time.monotonic()))
    collector = view.feed.client.collector
    collector.last_add = 0.0  # long quiet: painted at once
    view._repaint_due()
    assert len(painted) == 1
    collector.last_add = _time.monotonic()  # an update just arrived: a burst may be on
    view._repaint_due()
    assert len(painted) == 1 and view._quiet_timer.isActive()
    qtbot.waitUntil(lambda: len(painted) == 2, timeout=2000)  # painted once it is quiet
    # a burst that never pauses holds the paint back only so long
    keep_busy = QTimer()
    keep_busy.timeout.connect(lambda: setattr(collector, "last_add", _time.monotonic()))
    keep_busy.start(1)
    try:
        collector.last_add = _time.monotonic()
        view._repaint_due()
        assert len(painted) == 2
        qtbot.waitUntil(lambda: len(painted) == 3, timeout=2000)
    finally:
        keep_busy.stop()
