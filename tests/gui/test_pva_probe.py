"""The probe window on ``pva://`` PVs against real PV Access servers on loopback: the p4p test
server (tests/ioc/p4p_server.py: NTScalar, NTScalarArray, NTEnum, NTTable, custom structure,
a read-only PV) and EPICS records over QSRV (pythonSoftIOC with PVA, access security on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PyQt5.QtCore import Qt
from PyQt5.QtGui import QColor

pytest.importorskip("p4p")

import pva_servers  # noqa: E402

from caprobe.gui import pva_backend, style  # noqa: E402
from caprobe.gui.probe import Connection  # noqa: E402
from caprobe.gui.probe.widget import PVA_ACCESS_TEXT, PVA_SERVER_TEXT  # noqa: E402
from caprobe.gui.write_panel import PVA_STRUCTURE_NOT_WRITABLE  # noqa: E402

WAIT_MS = 8000


@pytest.fixture(scope="module")
def p4p_server() -> Iterator[Any]:
    server = pva_servers.start_p4p_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def qsrv() -> Iterator[Any]:
    server = pva_servers.start_qsrv_ioc()
    try:
        yield server
    finally:
        server.close()


def _use(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in server.pva_env.items():
        monkeypatch.setenv(key, value)
    assert pva_backend.install() == "PV Access registered"


@pytest.fixture
def p4p_env(p4p_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    _use(p4p_server, monkeypatch)
    return p4p_server


@pytest.fixture
def qsrv_env(qsrv: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    _use(qsrv, monkeypatch)
    return qsrv


def open_ready(qtbot: Any, window: Any, name: str) -> Any:
    probe = window.open_pv(name)
    assert probe is not None
    qtbot.waitUntil(lambda: probe.response is not None and probe.ctrl is not None,
                    timeout=WAIT_MS)
    window.drain()
    return probe


def write_text(qtbot: Any, probe: Any, text: str) -> str:
    editor = probe.write_panel.line_edit
    editor.setFocus()
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key_Return)
    return wait_write(qtbot, probe)


def wait_write(qtbot: Any, probe: Any) -> str:
    qtbot.waitUntil(lambda: not probe.write_panel._busy, timeout=WAIT_MS)
    return probe.write_panel.status_label.text()


def test_ntscalar_double_shows_value_units_limits_type_and_server(qtbot: Any, make_window: Any,
                                                                  p4p_env: Any) -> None:
    window = make_window()
    name = f"pva://{p4p_env.pv('double')}"
    probe = open_ready(qtbot, window, name)
    assert probe.state is Connection.CONNECTED
    assert probe.value_label.text().replace("\u200b", "") == "1.500 mm"
    assert probe.units_label.text() == "mm"
    assert probe.prec_label.text() == "3"
    assert "-10.000" in probe.disp_label.text() and "10.000 mm" in probe.disp_label.text()
    assert "-100.000" in probe.ctrl_label.text()
    assert "-5.000" in probe.warn_label.text() and "5.000" in probe.warn_label.text()
    assert "-9.000" in probe.alarm_limits_label.text()
    assert probe.alarm_badge.text() == "NO_ALARM"
    assert probe.timestamp_label.text().startswith("PV time 20")
    assert probe.type_label.text() == "NTScalar double"
    assert probe.rtyp_label.text().startswith("epics:nt/NTScalar:1")
    assert probe.host_label.text() == PVA_SERVER_TEXT
    assert probe.access_label.text() == PVA_ACCESS_TEXT
    assert probe.connection_text() == (f"Connected to {PVA_SERVER_TEXT}; p4p does not "
                                       "report the server's address")
    # write: outside the control limits refused locally, inside written and read back
    assert "outside the control limits" in write_text(qtbot, probe, "150")
    assert "Nothing was sent" in probe.write_panel.status_label.text()
    assert write_text(qtbot, probe, "2.25").startswith("IOC now holds: 2.250 mm")
    qtbot.waitUntil(lambda: "2.250" in probe.value_label.text(), timeout=WAIT_MS)
    assert write_text(qtbot, probe, "1.5").startswith("IOC now holds: 1.500")


def test_ntenum_shows_states_and_writes_by_state(qtbot: Any, make_window: Any,
                                                p4p_env: Any) -> None:
    window = make_window()
    probe = open_ready(qtbot, window, f"pva://{p4p_env.pv('enum')}")
    assert probe.value_label.text().replace("\u200b", "") == "Off  (0)"
    assert not probe.enum_box.isHidden()
    assert [probe.enum_list.item(i).text() for i in range(3)] == \
        ["▶ 0 = Off", "1 = On", "2 = Fault"]
    panel = probe.write_panel
    assert panel.editor_stack.currentWidget() is panel.enum_combo
    panel.enum_combo.setCurrentIndex(2)
    panel._mark_dirty()
    qtbot.mouseClick(panel.write_button, Qt.LeftButton)
    assert wait_write(qtbot, probe).startswith("IOC now holds: Fault")
    qtbot.waitUntil(lambda: "Fault  (2)" in probe.value_label.text(), timeout=WAIT_MS)
    panel.enum_combo.setCurrentIndex(0)
    qtbot.mouseClick(panel.write_button, Qt.LeftButton)
    assert wait_write(qtbot, probe).startswith("IOC now holds: Off")


def test_string_and_long_text_write(qtbot: Any, make_window: Any, p4p_env: Any) -> None:
    window = make_window()
    probe = open_ready(qtbot, window, f"pva://{p4p_env.pv('string')}")
    assert probe.value_label.text().replace("\u200b", "") == "hello"
    assert probe.type_label.text() == "NTScalar string"
    text = "a PV Access string longer than the forty bytes of a DBR_STRING"
    assert write_text(qtbot, probe, text).startswith(f"IOC now holds: {text}")
    assert write_text(qtbot, probe, "hello").startswith("IOC now holds: hello")


def test_arrays_show_and_write_any_length(qtbot: Any, make_window: Any, p4p_env: Any) -> None:
    window = make_window()
    probe = open_ready(qtbot, window, f"pva://{p4p_env.pv('array')}")
    assert probe.type_label.text() == "NTScalarArray double[]"
    assert probe.is_array() and not probe.show_all_button.isHidden()
    assert probe.value_label.text().endswith("[3 elements]")
    assert probe.write_panel.limits_label.text().startswith("Any number of elements")
    assert write_text(qtbot, probe, "1 2 3 4.5").startswith("IOC now holds: ")
    qtbot.waitUntil(lambda: probe.response.data.tolist() == [1.0, 2.0, 3.0, 4.5],
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: probe.value_label.text().endswith("[4 elements]"),
                    timeout=WAIT_MS)
    assert probe.count_label.text() == "4"
    assert write_text(qtbot, probe, "1 x 3").endswith("Nothing was sent.")
    assert probe.response.data.tolist() == [1.0, 2.0, 3.0, 4.5]
    write_text(qtbot, probe, "0.5, 1.5, 2.5")
    qtbot.waitUntil(lambda: probe.response.data.tolist() == [0.5, 1.5, 2.5], timeout=WAIT_MS)

    strings = open_ready(qtbot, window, f"pva://{p4p_env.pv('string_array')}")
    assert strings.write_panel.line_edit.text() == "a, b"
    write_text(qtbot, strings, "first one, second")
    qtbot.waitUntil(lambda: list(strings.response.data) == ["first one", "second"],
                    timeout=WAIT_MS)
    write_text(qtbot, strings, "a, b")


def test_nttable_as_table_and_custom_structure_as_tree(qtbot: Any, make_window: Any,
                                                      p4p_env: Any) -> None:
    window = make_window()
    probe = open_ready(qtbot, window, f"pva://{p4p_env.pv('table')}")
    box = probe.structure_box
    assert not box.isHidden() and probe.limits_box.isHidden()
    assert box.stack.currentWidget() is box.table
    table = box.table
    assert table.columnCount() == 3 and table.rowCount() == 2
    assert [table.horizontalHeaderItem(c).text() for c in range(3)] == ["a", "b", "c"]
    assert table.item(0, 0).text() == "1" and table.item(0, 2).text() == "x"
    assert probe.value_label.text().replace("\u200b", "") == \
        "NTTable: 2 rows × 3 columns (a, b, c)"
    assert probe.count_label.text() == "2 rows"
    assert probe.type_label.text() == "NTTable"
    panel = probe.write_panel
    assert not panel.write_button.isEnabled()
    assert not panel.write_button.isVisibleTo(panel)
    assert panel.status_label.text() == PVA_STRUCTURE_NOT_WRITABLE
    assert panel.limits_label.text() == ""  # said once, not twice

    custom = open_ready(qtbot, window, f"pva://{p4p_env.pv('custom')}")
    tree = custom.structure_box.tree
    assert custom.structure_box.stack.currentWidget() is tree
    tops = {tree.topLevelItem(i).text(0): tree.topLevelItem(i)
            for i in range(tree.topLevelItemCount())}
    assert {"a", "b", "nested"} <= set(tops)
    assert tops["b"].text(2) == "text"
    nested = tops["nested"]
    assert nested.isExpanded() and nested.child(0).text(0) == "x"
    assert custom.alarm_badge.text() == "NO SEVERITY"  # the structure has no alarm field
    assert not custom.write_panel.editor_stack.isVisibleTo(custom.write_panel)


def test_read_only_p4p_pv_refuses_write_with_the_servers_reason(qtbot: Any, make_window: Any,
                                                               p4p_env: Any) -> None:
    window = make_window()
    probe = open_ready(qtbot, window, f"pva://{p4p_env.pv('ro')}")
    status = write_text(qtbot, probe, "7")
    assert status.startswith("Write failed:") and "read-only" in status.lower()
    assert probe.response.data.tolist() == [3.25]


def test_qsrv_record_description_severity_and_access_security(qtbot: Any, make_window: Any,
                                                              qsrv_env: Any) -> None:
    window = make_window()
    probe = open_ready(qtbot, window, f"pva://{qsrv_env.pv('ai')}")
    assert probe.desc_label.text() == "Test analog input"
    assert probe.units_label.text() == "mm"
    assert probe.alarm_badge.text() == "NO_ALARM"
    assert write_text(qtbot, probe, "6").startswith("IOC now holds: 6.000 mm")
    qtbot.waitUntil(lambda: probe.alarm_badge.text().startswith("MINOR"), timeout=WAIT_MS)
    sheet = probe.alarm_badge.styleSheet()
    badge = QColor(sheet.split("background-color:")[1].split(";")[0].strip())
    assert badge == QColor(style.severity_color(1))
    write_text(qtbot, probe, "1.5")
    qtbot.waitUntil(lambda: probe.alarm_badge.text() == "NO_ALARM", timeout=WAIT_MS)

    ro = open_ready(qtbot, window, f"pva://{qsrv_env.pv('ro')}")
    status = write_text(qtbot, ro, "1")
    assert status.startswith("Write failed:"), status
    assert ro.response.data.tolist() == [3.25]


def test_missing_pva_pv_shows_not_found(qtbot: Any, make_window: Any, p4p_env: Any) -> None:
    window = make_window(search_timeout=0.5)
    probe = window.open_pv(f"pva://{p4p_env.pv('no_such_pv')}")
    qtbot.waitUntil(lambda: probe.state is Connection.NOT_FOUND, timeout=WAIT_MS)
    assert "EPICS_PVA_ADDR_LIST, now '127.0.0.1' with auto list NO" in \
        probe.connection_text()
    assert probe.alarm_badge.text() == "NOT FOUND"
    assert not probe.write_panel.write_button.isEnabled()


def test_chart_plots_ntscalar_and_waveform_shows_ntscalararray(qtbot: Any, make_window: Any,
                                                                p4p_env: Any) -> None:
    from caprobe import pva

    window = make_window()
    double, enum = p4p_env.pv("double"), p4p_env.pv("enum")
    window.add_to_chart(f"pva://{double}")
    window.add_to_chart(f"pva://{enum}")
    traces = window.chart.traces
    qtbot.waitUntil(lambda: len(traces().get(f"pva://{double}", ())) >= 1
                    and len(traces().get(f"pva://{enum}", ())) >= 1, timeout=WAIT_MS)
    assert traces()[f"pva://{double}"].last_value == 1.5
    assert traces()[f"pva://{enum}"].last_value == 0  # an enum plots as its index
    try:
        pva.write(double, 2.75, timeout=5)
        qtbot.waitUntil(lambda: traces()[f"pva://{double}"].last_value == 2.75,
                        timeout=WAIT_MS)
        assert traces()[f"pva://{double}"].values[-2:].tolist() == [1.5, 2.75]
    finally:
        pva.write(double, 1.5, timeout=5)
    # one monitor per PV and kind of view: the chart's and nothing else for these two
    feeds = {(key.protocol, key.pv, key.data_type) for key, _count in window.service.feeds()}
    assert ("pva", double, "time") in feeds and ("pva", enum, "time") in feeds

    array = f"pva://{p4p_env.pv('array')}"
    probe = open_ready(qtbot, window, array)
    window.show_array(probe.pv_name)
    waveform = window.waveform
    assert waveform is not None
    qtbot.waitUntil(lambda: waveform.pv_name() == array and waveform.data() is not None,
                    timeout=WAIT_MS)
    assert waveform.data().tolist() == [0.5, 1.5, 2.5]


def test_qsrv_enum_string_array_and_put_callback(qtbot: Any, make_window: Any,
                                                 qsrv_env: Any) -> None:
    window = make_window()
    bo = open_ready(qtbot, window, f"pva://{qsrv_env.pv('bo')}")
    assert bo.type_label.text() == "NTEnum"
    assert bo.value_label.text().replace("\u200b", "") == "Off  (0)"
    assert bo.desc_label.text() == "Test binary output"
    bo.write_panel.enum_combo.setCurrentIndex(1)
    qtbot.mouseClick(bo.write_panel.write_button, Qt.LeftButton)
    assert wait_write(qtbot, bo).startswith("IOC now holds: On")
    bo.write_panel.enum_combo.setCurrentIndex(0)
    qtbot.mouseClick(bo.write_panel.write_button, Qt.LeftButton)
    assert wait_write(qtbot, bo).startswith("IOC now holds: Off")

    # a stringout keeps 39 bytes: PVA lets more through, the panel says what was kept
    text = "x" * 45
    status = write_text(qtbot, open_ready(qtbot, window, f"pva://{qsrv_env.pv('str')}"),
                        text)
    assert status.startswith("IOC now holds: " + "x" * 39)
    assert "the server kept 39 of the 45 characters sent" in status

    wf = open_ready(qtbot, window, f"pva://{qsrv_env.pv('wf_double')}")
    assert wf.type_label.text() == "NTScalarArray double[]"
    write_text(qtbot, wf, "1 2 3")
    qtbot.waitUntil(lambda: wf.response.data.tolist() == [1.0, 2.0, 3.0], timeout=WAIT_MS)

    ao = open_ready(qtbot, window, f"pva://{qsrv_env.pv('ao')}")
    ao.write_panel.callback_box.setChecked(True)
    status = write_text(qtbot, ao, "12.5")
    assert status.startswith("IOC now holds: 12.50 V  (put-callback completed in"), status
    qtbot.waitUntil(lambda: ao.response.data.tolist() == [12.5], timeout=WAIT_MS)
    assert "outside the control limits" in write_text(qtbot, ao, "150")
    qtbot.wait(200)
    assert ao.response.data.tolist() == [12.5]


def test_probe_follows_a_pva_server_killed_and_restarted(qtbot: Any, make_window: Any,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    server = pva_servers.start_p4p_server()
    try:
        _use(server, monkeypatch)
        window = make_window()
        probe = open_ready(qtbot, window, f"pva://{server.pv('double')}")
        server.kill()
        qtbot.waitUntil(lambda: probe.state is Connection.DISCONNECTED, timeout=WAIT_MS)
        assert probe.alarm_badge.text() == "DISCONNECTED"
        assert not probe.write_panel.write_button.isEnabled()
        assert probe.value_label.text().replace("\u200b", "") == "1.500 mm"  # the last one
        server.restart()
        qtbot.waitUntil(lambda: probe.state is Connection.CONNECTED
                        and probe.alarm_badge.text() == "NO_ALARM", timeout=15000)
        assert probe.write_panel.write_button.isEnabled()
        assert probe.type_label.text() == "NTScalar double"
    finally:
        server.close()


def test_probe_chart_and_metadata_share_one_monitor_per_pv(qtbot: Any, make_window: Any,
                                                           p4p_env: Any) -> None:
    from caprobe import pva

    window = make_window()
    name = f"pva://{p4p_env.pv('long')}"
    probe = open_ready(qtbot, window, name)
    # the chart joins a monitor whose PV does not change: it gets the newest value at once
    window.add_to_chart(name)
    traces = window.chart.traces
    qtbot.waitUntil(lambda: len(traces().get(name, ())) >= 1, timeout=WAIT_MS)
    assert traces()[name].last_value == 42
    groups = [loop.group for (protocol, _), loop in window.service._loops.items()
              if protocol == "pva"]
    assert len(groups) == 2  # the probe's priority and the chart's

    def monitors() -> int:
        return sum(group.monitors() for group in groups)

    assert window.service.settle()
    # probe (states), chart (indices, its own loop) and metadata: one PVA monitor
    assert monitors() == 1
    assert sum(len(group.subscriptions) for group in groups) == 3
    # the probe lets go: the chart's subscription takes the monitor over and keeps plotting
    window.close_pv(name)
    assert window.service.settle()
    try:
        pva.write(p4p_env.pv("long"), 43, timeout=5)
        qtbot.waitUntil(lambda: traces()[name].last_value == 43, timeout=WAIT_MS)
        assert monitors() == 1
        assert sum(len(group.subscriptions) for group in groups) == 2
    finally:
        pva.write(p4p_env.pv("long"), 42, timeout=5)
    # the last view lets go: the monitor closes; opening the PV again opens a new one
    window.chart.remove_pv(name)
    qtbot.waitUntil(lambda: window.service.settle() and monitors() == 0
                    and sum(len(group.subscriptions) for group in groups) == 0,
                    timeout=WAIT_MS)
    again = open_ready(qtbot, window, name)
    assert again is not probe and again.response.data.tolist() == [42]
    assert window.service.settle() and monitors() == 1


def test_without_p4p_a_pva_name_opens_nothing_and_says_how_to_install(
        qtbot: Any, make_window: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from caprobe import pva

    assert pva_backend.install() == "PV Access registered"
    monkeypatch.setattr(pva, "available", lambda: False)
    window = make_window()
    tabs = window.tabs.count()
    assert window.open_pv("pva://SOME:PV") is None
    message = window.statusBar().currentMessage()
    assert message.startswith("pva://SOME:PV: PV Access needs the p4p package")
    assert pva.INSTALL_HINT in message and message.endswith("nothing opened")
    assert window.tabs.count() == tabs and window.probe("pva://SOME:PV") is None


def test_f5_rereads_pva_metadata(qtbot: Any, make_window: Any, p4p_env: Any) -> None:
    window = make_window()
    name = f"pva://{p4p_env.pv('double')}"
    probe = open_ready(qtbot, window, name)
    probe.ctrl = None
    window.refresh_metadata(name)
    qtbot.waitUntil(lambda: probe.ctrl is not None, timeout=WAIT_MS)
    assert probe.units_label.text() == "mm"
    assert probe.type_label.text() == "NTScalar double"


def write_enum_text(qtbot: Any, probe: Any, text: str) -> str:
    """Type ``text`` into the enum field and press Enter."""
    editor = probe.write_panel.enum_combo.lineEdit()
    editor.setFocus()
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key_Return)
    return wait_write(qtbot, probe)


def test_ntenum_state_typed_by_name_or_index(qtbot: Any, make_window: Any,
                                             p4p_env: Any) -> None:
    window = make_window()
    probe = open_ready(qtbot, window, f"pva://{p4p_env.pv('enum')}")
    try:
        assert write_enum_text(qtbot, probe, "Fault").startswith("IOC now holds: Fault")
        qtbot.waitUntil(lambda: "Fault  (2)" in probe.value_label.text(), timeout=WAIT_MS)
        assert write_enum_text(qtbot, probe, "1").startswith("IOC now holds: On")
        assert write_enum_text(qtbot, probe, "off").startswith("IOC now holds: Off")
        qtbot.waitUntil(lambda: "Off  (0)" in probe.value_label.text(), timeout=WAIT_MS)
        status = write_enum_text(qtbot, probe, "Broken")
        assert status == ("'Broken' is not one of the 3 states ('Off', 'On', 'Fault') nor an "
                          "index 0..2. Nothing was sent.")
        status = write_enum_text(qtbot, probe, "3")
        assert status == "state index 3 is outside 0..2. Nothing was sent."
        assert probe.response.index == 0  # the refused writes changed nothing
    finally:
        from caprobe import pva
        pva.write(p4p_env.pv("enum"), 0, timeout=5)


def test_qsrv_mbbo_states_chosen_and_typed(qtbot: Any, make_window: Any,
                                          qsrv_env: Any) -> None:
    window = make_window()
    probe = open_ready(qtbot, window, f"pva://{qsrv_env.pv('mbbo')}")
    panel = probe.write_panel
    assert probe.type_label.text() == "NTEnum"
    assert panel.editor_stack.currentWidget() is panel.enum_combo
    assert panel.enum_combo.count() == 16
    assert panel.enum_combo.itemText(15) == "Twenty-five char state!!!"
    try:
        panel.enum_combo.setCurrentIndex(14)
        panel._mark_dirty()
        qtbot.mouseClick(panel.write_button, Qt.LeftButton)
        assert wait_write(qtbot, probe).startswith("IOC now holds: Fourteen")
        qtbot.waitUntil(lambda: probe.alarm_badge.text().startswith("INVALID"),
                        timeout=WAIT_MS)  # FTSV: the state's severity
        assert write_enum_text(qtbot, probe, "Twenty-five char state!!!").startswith(
            "IOC now holds: Twenty-five char state!!!")
        assert write_enum_text(qtbot, probe, "3").startswith("IOC now holds: Three")
        qtbot.waitUntil(lambda: "Three  (3)" in probe.value_label.text(), timeout=WAIT_MS)
        assert "outside 0..15" in write_enum_text(qtbot, probe, "16")
    finally:
        write_enum_text(qtbot, probe, "Zero")
