"""The probe window operators live in, against a real soft IOC: a header that never scrolls or
clips (800x600, 1024x640), an enum write that moves nothing, the chart's height, keyboard
order and shortcuts, themes and font zoom, the demo's own settings."""

from __future__ import annotations

import pytest
from PyQt5.QtCore import QEvent, QPoint, QRect, Qt
from PyQt5.QtGui import QKeyEvent, QKeySequence
from PyQt5.QtWidgets import QAction, QApplication, QWidget

from caprobe import format as cafmt
from caprobe.gui import theme
from caprobe.gui.main_window import MainWindow
from caprobe.gui.probe import Connection

WAIT_MS = 8000


def ready(qtbot, probe) -> None:
    qtbot.waitUntil(lambda: probe.response is not None and probe.ctrl is not None,
                    timeout=WAIT_MS)


def fully_shown(widget: QWidget, window: QWidget) -> bool:
    """Not hidden, not clipped by a scroll area or a parent, inside the window."""
    if not widget.isVisible() or widget.width() <= 0 or widget.height() <= 0:
        return False
    if widget.visibleRegion().boundingRect() != widget.rect():
        return False
    top_left = widget.mapTo(window, QPoint(0, 0))
    return window.rect().contains(QRect(top_left, widget.size()))


def text_fits(label) -> bool:
    """The label's text needs no more room than the label has (wrapped, not clipped)."""
    width = label.width() - label.contentsMargins().left() - label.contentsMargins().right()
    needed = label.heightForWidth(label.width()) if label.wordWrap() else \
        label.sizeHint().height()
    return label.sizeHint().width() <= label.width() or label.wordWrap() and \
        needed <= label.height() + 1 and width > 0


def header_positions(window: MainWindow, probe) -> dict[str, QPoint]:
    return {name: getattr(probe, name).mapTo(window, QPoint(0, 0))
            for name in ("name_label", "value_label", "alarm_badge", "timestamp_label",
                         "connection_label")}


@pytest.fixture(autouse=True)
def desktop_font():
    """A typical desktop's 10 pt font (the offscreen platform defaults to 12 pt, X11 to 9)."""
    from PyQt5.QtGui import QFont

    app = QApplication.instance()
    before = QFont(app.font())
    app.setFont(QFont("DejaVu Sans", 10))
    yield
    app.setFont(before)


@pytest.fixture
def window_at(qtbot, settings):
    windows: list[MainWindow] = []

    def make(width: int, height: int) -> MainWindow:
        window = MainWindow(settings)
        qtbot.addWidget(window)
        window.setWindowState(Qt.WindowNoState)  # fresh settings maximise on small screens
        window.resize(width, height)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


@pytest.mark.parametrize("size", [(800, 600), (1024, 640)])
def test_value_and_severity_are_shown_in_full(qtbot, window_at, softioc_env, size) -> None:
    window = window_at(*size)
    assert (window.width(), window.height()) == size
    window.add_to_chart(softioc_env.pv("ai"))
    probe = window.open_pv(softioc_env.pv("ai"))
    ready(qtbot, probe)
    qtbot.waitUntil(lambda: probe.age_label.text() != "", timeout=WAIT_MS)
    qtbot.wait(50)
    for name in ("name_label", "value_label", "alarm_badge", "timestamp_label", "age_label",
                 "connection_label", "format_combo", "precision_spin"):
        widget = getattr(probe, name)
        assert fully_shown(widget, window), (name, widget.geometry())
    for label in (probe.value_label, probe.alarm_badge, probe.timestamp_label,
                  probe.connection_label):
        assert text_fits(label), (label.text(), label.size(), label.sizeHint())
    assert probe.alarm_badge.text() == "NO_ALARM"
    assert "1.500" in probe.value_label.text()
    # no horizontal scrolling anywhere in the probe
    assert not probe.details_scroll.horizontalScrollBar().isVisible()
    # the chart keeps a usable height
    assert window.lower_tabs.height() >= 15 * window.fontMetrics().height()
    assert window.chart.height() >= 200


def test_enum_write_does_not_move_the_header(qtbot, window_at, softioc_env) -> None:
    window = window_at(800, 600)
    probe = window.open_pv(softioc_env.pv("mbbo"))
    ready(qtbot, probe)
    panel = probe.write_panel
    window.focus_write()
    qtbot.wait(100)  # layout settled after the first value
    before = header_positions(window, probe)
    try:
        for state in ("Three", "Zero"):
            panel.enum_combo.setCurrentIndex(panel.enum_combo.findText(state))
            panel._mark_dirty()
            qtbot.keyClick(panel.enum_combo, Qt.Key_Return)
            qtbot.waitUntil(lambda s=state: probe.value_label.text().startswith(s),
                            timeout=WAIT_MS)
            qtbot.wait(100)
            assert header_positions(window, probe) == before
            assert fully_shown(probe.alarm_badge, window)
            if state == "Three":
                assert probe.alarm_badge.text() == "MAJOR - STATE"
    finally:
        import caprobe.ca as ca

        ca.write(softioc_env.pv("mbbo"), 0, timeout=2)


def test_tab_goes_entry_write_field_write_details_chart(qtbot, window_at, softioc_env) -> None:
    window = window_at(1024, 640)
    window.add_to_chart(softioc_env.pv("ao"))
    probe = window.open_pv(softioc_env.pv("ao"))
    ready(qtbot, probe)
    window.focus_entry()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.pv_entry, timeout=2000)
    order = []
    for _ in range(12):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Tab)
        order.append(QApplication.focusWidget())
    panel = probe.write_panel
    assert order[0] is panel.line_edit
    assert order[1] is panel.write_button
    chart_at = next(i for i, w in enumerate(order) if window.chart.isAncestorOf(w))
    in_probe = [w for w in order[:chart_at] if probe.isAncestorOf(w)]
    # the details come before the chart; only the chart area's own tab bar lies between
    assert len(in_probe) >= 4
    assert all(probe.isAncestorOf(w) or window.lower_tabs.isAncestorOf(w)
               for w in order[:chart_at])
    # the header stayed where it was while focus walked through the details
    assert fully_shown(probe.value_label, window)


def test_every_menu_shortcut_works_from_the_pv_field(qtbot, window_at, softioc_env) -> None:
    window = window_at(1024, 640)
    probe = window.open_pv(softioc_env.pv("wf_double"))
    ready(qtbot, probe)
    shortcuts = [(a, s) for a in window.findChildren(QAction) for s in a.shortcuts()
                 if not s.isEmpty()]
    assert len(shortcuts) >= 15
    for _action, sequence in shortcuts:
        code = sequence[0]
        event = QKeyEvent(QEvent.ShortcutOverride, code & ~int(Qt.KeyboardModifierMask),
                          Qt.KeyboardModifiers(code & int(Qt.KeyboardModifierMask)))
        event.ignore()
        QApplication.sendEvent(window.pv_entry, event)
        assert not event.isAccepted(), sequence.toString()
    # and the one the issue names, end to end: Ctrl+E opens the array view
    window.focus_entry()
    qtbot.keyClick(window.pv_entry, Qt.Key_E, Qt.ControlModifier)
    qtbot.waitUntil(lambda: bool(window._array_dialogs), timeout=2000)
    for dialog in list(window._array_dialogs):
        dialog.close()


def test_help_lists_the_shortcuts(qtbot, window_at) -> None:
    from caprobe.gui.shortcuts import ShortcutsDialog

    window = window_at(800, 600)
    rows = ShortcutsDialog(window.menuBar(), window).rows()
    keys = {what: key for _where, key, what in rows}
    assert keys["Show all elements…"] == QKeySequence("Ctrl+E").toString(
        QKeySequence.NativeText)
    assert "Bigger text" in keys and "Keyboard shortcuts" in keys
    assert any(key == "Esc" for _w, key, _d in rows)


def test_zoom_scales_the_window_and_is_remembered(qtbot, window_at, settings) -> None:
    window = window_at(1024, 640)
    base = QApplication.font().pointSizeF()
    try:
        window.zoom(1)
        window.zoom(1)
        assert QApplication.font().pointSizeF() == pytest.approx(base * 1.2, rel=0.02)
        assert settings.value("view/zoom") in (1.2, "1.2")
        window.close()
        theme.apply(zoom_factor=1.0)
        again = MainWindow(settings)
        qtbot.addWidget(again)
        assert QApplication.font().pointSizeF() == pytest.approx(base * 1.2, rel=0.02)
        again.zoom(0)
        assert QApplication.font().pointSizeF() == pytest.approx(base, rel=0.02)
        again.close()
    finally:
        theme.apply(zoom_factor=1.0)


def test_dark_theme_keeps_alarm_colours_and_words(qtbot, window_at, softioc_env,
                                                   settings) -> None:
    window = window_at(1024, 640)
    probe = window.open_pv(softioc_env.pv("mbbo"))
    ready(qtbot, probe)
    try:
        for name in ("dark", "light"):
            window.set_theme(name)
            assert settings.value("view/theme") == name
            dark = QApplication.palette().window().color().lightness() < 100
            assert dark is (name == "dark")
            sheet = probe.alarm_badge.styleSheet().lower()
            assert cafmt.ALARM_COLORS[0].lower() in sheet
            assert probe.alarm_badge.text() == "NO_ALARM"
    finally:
        theme.apply("light")


def test_demo_keeps_its_own_settings(qtbot, tmp_path) -> None:
    from caprobe import demo
    from caprobe.gui.main_window import default_settings

    mine, theirs = default_settings(), demo.demo_settings()
    assert mine.fileName() != theirs.fileName()
    assert theirs.fileName().endswith("caprobe-demo.ini")
    window = MainWindow(theirs)
    qtbot.addWidget(window)
    window.open_pv("random_walk:x")
    window.close()
    mine.sync()
    assert "random_walk:x" not in (mine.value("pv_entry/recent") or [])
    assert "random_walk:x" in theirs.value("pv_entry/recent")


def test_state_changes_keep_the_format_controls_in_place(qtbot, window_at,
                                                         softioc_env) -> None:
    window = window_at(800, 600)
    probe = window.open_pv(softioc_env.pv("ai"))
    ready(qtbot, probe)
    where = probe.format_combo.mapTo(window, QPoint(0, 0))
    probe.alarm_badge.setText("INVALID - READ_ACCESS")
    qtbot.wait(50)
    assert probe.format_combo.mapTo(window, QPoint(0, 0)) == where
    assert probe.state is Connection.CONNECTED


def test_folded_details_open_for_tab_and_f2(qtbot, window_at, softioc_env) -> None:
    window = window_at(800, 600)
    probe = window.open_pv(softioc_env.pv("ao"))
    ready(qtbot, probe)
    window._default_splitter()  # as at first show with this PV open
    qtbot.wait(50)
    assert probe.details_scroll.is_folded()  # the chart got the room at 800x600
    assert not probe.details.isVisible()  # no sliver of cut text
    chart_height = window.chart.height()
    window.focus_entry()
    qtbot.keyClick(window.pv_entry, Qt.Key_Tab)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is probe.write_panel.line_edit,
                    timeout=2000)
    qtbot.wait(50)
    assert fully_shown(probe.write_panel.line_edit, window)
    assert fully_shown(probe.write_panel.write_button, window)
    assert fully_shown(probe.value_label, window) and fully_shown(probe.alarm_badge, window)
    assert window.lower_tabs.height() >= window.lower_tabs.minimumHeight()
    assert window.chart.height() < chart_height
    # and F2 from a folded state does the same
    window._default_splitter()
    qtbot.wait(50)
    window.focus_entry()
    qtbot.keyClick(window.pv_entry, Qt.Key_F2)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is probe.write_panel.line_edit,
                    timeout=2000)
    # the splitter gives way over a few layout passes: wait for it, do not guess a time
    qtbot.waitUntil(lambda: fully_shown(probe.write_panel.line_edit, window), timeout=2000)


def test_laptop_window_shows_the_write_field_unasked(qtbot, window_at, softioc_env) -> None:
    window = window_at(1366, 740)  # a 1366x768 laptop screen, maximised
    assert (window.width(), window.height()) == (1366, 740)
    probe = window.open_pv(softioc_env.pv("ao"))
    ready(qtbot, probe)
    window._default_splitter()  # as at first show with this PV open
    qtbot.wait(50)
    assert not probe.details_scroll.is_folded()
    assert fully_shown(probe.write_panel.line_edit, window)
    assert window.chart.height() >= 300
