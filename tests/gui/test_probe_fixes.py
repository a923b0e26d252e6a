"""One test per item of issue #13's list of rough edges (the layout, keyboard and demo ones
are in test_layout.py): formatting shared by display and write field, the PREC hint, half-set
limits, the age field, string PVs' metadata, refusal messages, completion order."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt5.QtCore import QPoint

import caprobe.ca as ca
from caprobe.gui import display
from caprobe.gui.probe.widget import precision_hides
from caprobe.gui.pv_entry import RecentPVs
from caprobe.gui.write_panel import editable_text, refusal

WAIT_MS = 8000


def ready(qtbot, probe) -> None:
    qtbot.waitUntil(lambda: probe.response is not None and probe.ctrl is not None,
                    timeout=WAIT_MS)


def test_limits_with_only_one_side_set_never_say_nan() -> None:
    assert display.limits_text(float("nan"), 8.0, 3, "A") == "above 8.000 A (no low limit)"
    assert display.limits_text(-2.0, float("nan"), 1, None) == "below -2.0 (no high limit)"
    assert "nan" not in display.limits_text(float("nan"), float("nan"), 3, "A")


def test_write_field_formats_like_the_display() -> None:
    # a counter at PREC 0: both show 693
    counter = np.array([693.0])
    shown = display.format_value_text(counter, data_type=ca.ChannelType.DOUBLE, precision=0)
    assert shown == "693" == editable_text(counter, 0)
    assert editable_text(counter, None) == "693"
    # but the write field never rounds a value away: Enter on it writes back the same value
    assert editable_text(np.array([0.5]), 0) == "0.5"
    assert float(editable_text(np.array([1e-9]), None)) == 1e-9


def test_precision_that_hides_the_value_is_flagged() -> None:
    assert precision_hides(0.5, 0)  # dt = 0.5 s shown as "0"
    assert precision_hides(-5.4, 0)  # the demo's walk at PREC 0
    assert not precision_hides(693.0, 0)
    assert not precision_hides(1.23456, 3)
    assert not precision_hides(0.0, 0)


def test_prec_hint_in_the_probe(qtbot, make_window, softioc_env) -> None:
    name = softioc_env.pv("long")  # longout: PREC 0 by nature; use the ao at PREC 2 instead
    window = make_window()
    ao = softioc_env.pv("ao")
    ca.write(ao, 0.004, timeout=2)  # PREC 2 shows 0.00
    try:
        probe = window.open_pv(ao)
        ready(qtbot, probe)
        qtbot.waitUntil(lambda: probe.precision_hint.isVisible(), timeout=WAIT_MS)
        assert "PREC 2" in probe.precision_hint.text() and "0.004" in probe.precision_hint.text()
        assert probe.write_panel.line_edit.text() == "0.00"  # PREC 2 editor text
        probe.precision_spin.setValue(3)
        assert not probe.precision_hint.isVisible()
        ca.write(ao, 1.25, timeout=2)
        probe.precision_spin.setValue(-1)
        qtbot.waitUntil(lambda: "1.25" in probe.value_label.text(), timeout=WAIT_MS)
        assert not probe.precision_hint.isVisible()
    finally:
        ca.write(ao, 0, timeout=2)
    assert window.open_pv(name) is not None


def test_age_has_its_own_fixed_width_field(qtbot, make_window, softioc_env) -> None:
    window = make_window()
    probe = window.open_pv(softioc_env.pv("ai"))
    ready(qtbot, probe)
    qtbot.waitUntil(lambda: probe.age_label.text().endswith("ago)"), timeout=WAIT_MS)
    assert "ago" not in probe.timestamp_label.text()
    qtbot.wait(50)  # let the layout settle after the first value
    where = probe.timestamp_label.mapTo(window, QPoint(0, 0))
    needed = probe.age_label.fontMetrics().horizontalAdvance("(12.8 min ago)")
    assert probe.age_label.minimumWidth() >= needed
    probe.age_label.setText("(12.8 min ago)")
    qtbot.wait(30)
    assert probe.timestamp_label.mapTo(window, QPoint(0, 0)) == where
    assert probe.age_label.sizeHint().height() <= probe.age_label.fontMetrics().height() * 1.5


def test_string_pv_metadata_says_text_not_none(qtbot, make_window, softioc_env) -> None:
    window = make_window()
    probe = window.open_pv(softioc_env.pv("str"))
    ready(qtbot, probe)
    assert not probe.units_label.isVisibleTo(probe.details)
    assert "text PV" in probe.limits_box.title()
    numeric = window.open_pv(softioc_env.pv("ai"))
    ready(qtbot, numeric)
    assert numeric.units_label.isVisibleTo(numeric.details)
    assert numeric.units_label.text() == "mm"


@pytest.mark.parametrize("message", [
    "could not parse 'abc' as a number (float expected)",
    "12 is outside the control limits 0 .. 10; nothing was sent.",
    "Text is 50 characters; a DBR_STRING holds at most 39 bytes.",
    "Not connected",
])
def test_every_refusal_ends_the_same_way(message) -> None:
    text = refusal(message)
    assert text.endswith(". Nothing was sent.")
    assert text.lower().count("nothing was sent") == 1
    assert ".." not in text.replace(" .. ", "")


def test_refused_write_in_the_panel(qtbot, make_window, softioc_env) -> None:
    window = make_window()
    probe = window.open_pv(softioc_env.pv("ao"))
    ready(qtbot, probe)
    panel = probe.write_panel
    for typed in ("abc", "1000"):
        panel.line_edit.setText(typed)
        panel.write_current()
        assert panel.status_label.text().endswith(". Nothing was sent."), \
            panel.status_label.text()


def test_completion_offers_names_that_connected_first(settings) -> None:
    recent = RecentPVs(settings)
    for name in ("good:a", "typo:b", "good:c", "typo:d"):
        recent.remember(name)
    recent.mark_connected("good:a")
    recent.mark_connected("good:c")
    assert recent.completions() == ["good:c", "good:a", "typo:d", "typo:b"]
    recent.save()
    again = RecentPVs(settings)
    assert again.completions()[:2] == ["good:c", "good:a"]


def test_window_marks_connected_names(qtbot, make_window, softioc_env) -> None:
    window = make_window()
    window.open_pv("never:connects")
    probe = window.open_pv(softioc_env.pv("ai"))
    ready(qtbot, probe)
    assert window.recent.completions()[0] == softioc_env.pv("ai")
    assert window.recent.completions()[-1] == "never:connects"


def test_bad_custom_time_window_asks_again_with_the_reason(qtbot, monkeypatch) -> None:
    from PyQt5.QtCore import QObject, pyqtSignal

    from caprobe.gui import strip_chart

    class FakeWorker(QObject):  # no CA: the dialog is what is tested
        samples_ready = pyqtSignal(object)
        error = pyqtSignal(str)

        def start(self) -> None: ...
        def stop(self) -> bool: return True
        def add_pv(self, name: str) -> None: ...
        def remove_pv(self, name: str) -> None: ...

    panel = strip_chart.StripChartPanel(worker=FakeWorker())
    qtbot.addWidget(panel)
    answers = iter([("abc", True), ("90 s", True)])
    prompts: list[tuple[str, str]] = []

    def get_text(_parent, _title, prompt, text=""):
        prompts.append((prompt, text))
        return next(answers)

    from caprobe.gui.chart import panel as chart_panel

    monkeypatch.setattr(chart_panel.QInputDialog, "getText", staticmethod(get_text))
    panel._ask_custom_window()
    assert len(prompts) == 2  # asked again after 'abc' instead of closing
    assert prompts[1][1] == "abc" and prompts[1][0] != prompts[0][0]  # kept, with the reason
    assert panel.time_window() == 90

