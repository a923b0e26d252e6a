"""Probe widgets on their own (no IOC needed for these: they test parsing, persistence and
input handling)."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt5.QtCore import QMimeData, QPoint, QPointF, Qt
from PyQt5.QtGui import QDropEvent, QWheelEvent
from PyQt5.QtWidgets import QApplication

from caprobe.ca import ChannelType
from caprobe.gui import display
from caprobe.gui.pv_entry import PVEntry, RecentPVs, pv_names_from_text
from caprobe.gui.write_panel import NoWheelComboBox, parse_array, strip_units


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("SR:C01:BPM:X", ["SR:C01:BPM:X"]),
        ("  a:b  c:d.DESC\n", ["a:b", "c:d.DESC"]),
        ('"a:b", "c:d"', ["a:b", "c:d"]),
        ("a:b a:b", ["a:b"]),
        ('wf.VAL${"arr": {"s": 1}} x:y', ['wf.VAL${"arr": {"s": 1}}', "x:y"]),
        ("", []),
        ("tëst:ai ok:pv", ["ok:pv"]),  # invalid names are dropped, never split into pieces
        ("bell\x07:ai", []),
        ("x" * 501, []),
    ],
)
def test_pv_names_from_text(text, names):
    assert pv_names_from_text(text) == names


@pytest.mark.parametrize(
    ("text", "problem"),
    [("tëst:ai", "non-ASCII"), ("bell\x07:ai", "control characters"), ("x" * 600, "500 bytes")],
)
def test_bad_names_typed_open_nothing_and_say_why(qtbot, make_window, text, problem):
    window = make_window()
    window.pv_entry.setText(text)
    qtbot.keyClick(window.pv_entry, Qt.Key_Return)
    assert window.probes == {}
    message = window.statusBar().currentMessage()
    assert problem in message and "\n" not in message and len(message) < 200, message
    assert window.pv_entry.text() == text  # left for the operator to correct
    assert window.open_pv(text) is None


def test_recent_pvs_persist_newest_first(settings):
    recent = RecentPVs(settings)
    for name in ("a", "b", "a", "c"):
        recent.remember(name)
    assert recent.names() == ["c", "a", "b"]
    recent.save()
    settings.sync()
    again = RecentPVs(settings)
    assert again.names() == ["c", "a", "b"]
    assert again.model.stringList() == ["c", "a", "b"]


def test_entry_completes_from_recent_and_enter_emits(qtbot, settings):
    recent = RecentPVs(settings)
    recent.remember("SR:BPM1:X")
    recent.remember("BOOSTER:current")
    entry = PVEntry(recent)
    qtbot.addWidget(entry)
    completer = entry.completer()
    completer.setCompletionPrefix("bpm")
    assert completer.currentCompletion() == "SR:BPM1:X"  # contains, case-insensitive
    with qtbot.waitSignal(entry.pvsRequested) as blocker:
        qtbot.keyClicks(entry, "x:y z:w")
        qtbot.keyClick(entry, Qt.Key_Return)
    assert blocker.args == [["x:y", "z:w"]]
    assert entry.text() == ""


def test_drop_pv_names_on_the_entry(qtbot, settings):
    entry = PVEntry(RecentPVs(settings))
    qtbot.addWidget(entry)
    mime = QMimeData()
    mime.setText("dropped:one\ndropped:two")
    event = QDropEvent(QPointF(3, 3), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(entry.pvsRequested) as blocker:
        entry.dropEvent(event)
    assert blocker.args == [["dropped:one", "dropped:two"]]


def test_drop_on_the_window_opens_tabs(qtbot, make_window):
    window = make_window()
    mime = QMimeData()
    mime.setText("drop:a drop:b")
    window.dropEvent(QDropEvent(QPointF(3, 3), Qt.CopyAction, mime, Qt.LeftButton,
                                Qt.NoModifier))
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["drop:a", "drop:b"]


def test_enum_combo_ignores_the_wheel(qtbot):
    combo = NoWheelComboBox()
    qtbot.addWidget(combo)
    combo.addItems(["Off", "On", "Fault"])
    combo.show()
    combo.setFocus()
    for delta in (-120, 120, -120):
        wheel = QWheelEvent(QPointF(5, 5), QPointF(5, 5), QPoint(0, delta), QPoint(0, delta),
                            Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
        QApplication.sendEvent(combo, wheel)
    assert combo.currentText() == "Off"
    assert combo.focusPolicy() == Qt.StrongFocus


def test_parse_array_and_units():
    assert parse_array("1, 2 3", ChannelType.DOUBLE, 10).tolist() == [1.0, 2.0, 3.0]
    assert parse_array("[1 2]", ChannelType.LONG, 2).tolist() == [1, 2]
    with pytest.raises(ValueError, match="at most 2"):
        parse_array("1 2 3", ChannelType.LONG, 2)
    with pytest.raises(ValueError, match="not a number"):
        parse_array("1 x", ChannelType.DOUBLE, 5)
    with pytest.raises(ValueError, match="at least one"):
        parse_array("  ", ChannelType.DOUBLE, 5)
    assert strip_units("12.5 mm", "mm") == "12.5"
    assert strip_units("12.5", "mm") == "12.5"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (display.DisplayFormat.DEFAULT, "12345.68 V"),
        (display.DisplayFormat.DECIMAL, "12345.68 V"),
        (display.DisplayFormat.EXPONENTIAL, "1.23e+04 V"),
        (display.DisplayFormat.ENGINEERING, "12.35e+03 V"),
        (display.DisplayFormat.HEX, "0x303A V"),
    ],
)
def test_display_formats(mode, expected):
    text = display.format_value_text(np.array([12345.6789]), data_type=ChannelType.DOUBLE,
                                     mode=mode, precision=2, units="V")
    assert text == expected


def test_arrays_are_summarised_and_char_arrays_read_as_text():
    data = np.arange(20, dtype=float)
    text = display.format_value_text(data, data_type=ChannelType.DOUBLE, precision=1)
    assert text.startswith("0.0 1.0") and "(12 more)" in text
    chars = np.frombuffer(b"hello\0junk", dtype=np.uint8)
    assert display.format_value_text(chars, data_type=ChannelType.CHAR, is_char=True) == "hello"
    assert display.limits_text(0, 0, 3, "mm").startswith("not set")
    assert display.limits_text(-1, 1, 2, "V") == "-1.00 .. 1.00 V"


def test_window_without_pvs_shows_a_hint_and_closes_cleanly(make_window):
    window = make_window()
    assert window.empty_hint.isVisible()
    assert not window.tabs.isVisible()
    window.close()
    assert not window.service.is_running()


def test_enum_index_takes_a_state_name_or_an_index() -> None:
    from caprobe.gui.write_panel import enum_index

    states = ["Off", "On", "2", "on air"]
    assert enum_index("On", states) == 1
    assert enum_index(" on air ", states) == 3
    assert enum_index("ON AIR", states) == 3  # one state matches without case
    assert enum_index("2", states) == 2  # a state named '2' wins over index 2 (the same here)
    assert enum_index("3", states) == 3
    with pytest.raises(ValueError, match="'Of' is not one of the 4 states"):
        enum_index("Of", states)
    with pytest.raises(ValueError, match="state index 7 is outside 0..3"):
        enum_index("7", states)
    with pytest.raises(ValueError, match="not known yet"):
        enum_index("On", [])
    assert enum_index("1", ["1", "0"]) == 0  # the state's name, not its index
