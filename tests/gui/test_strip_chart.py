"""Strip chart panel with synthetic data (a fake worker, no network): drawing, pause, scroll/pan,
export, configuration, settings, drops."""

from __future__ import annotations

import io
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PyQt5.QtCore import QMimeData, QObject, QPointF, QSettings, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QDropEvent

from caprobe import format as cafmt
from caprobe.chart_data import SEVERITY_DISCONNECTED, SampleBatch, read_csv_rows
from caprobe.gui.chart.legend import COL_ALARM, COL_UNITS, COL_VALUE
from caprobe.gui.chart_config import ChartConfigError
from caprobe.gui.strip_chart import StripChartPanel, format_duration, parse_duration


class FakeWorker(QObject):
    """Stands in for ChartWorker: records add/remove, never touches the network."""

    samples_ready = pyqtSignal(object)
    error = pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__()
        self.pvs: list[str] = []
        self.running = False

    def start(self) -> None:
        self.running = True

    def stop(self, timeout_ms: int = 0) -> bool:
        self.running = False
        return True

    def add_pv(self, name: str) -> None:
        self.pvs.append(name)

    def remove_pv(self, name: str) -> None:
        if name in self.pvs:  # like ChartWorker: removing an unknown PV is a no-op
            self.pvs.remove(name)


@pytest.fixture
def panel(qtbot) -> Iterator[StripChartPanel]:
    widget = StripChartPanel(worker=FakeWorker())
    qtbot.addWidget(widget)
    widget.resize(900, 500)
    widget.show()
    yield widget
    widget.shutdown()


def batch(
    samples: dict[str, tuple[list[float], list[float], list[int]]] | None = None,
    connection: dict[str, bool] | None = None,
    metadata: dict[str, dict] | None = None,
) -> SampleBatch:
    arrays = {
        pv: (np.asarray(t, float), np.asarray(v, float), np.asarray(s, np.int8))
        for pv, (t, v, s) in (samples or {}).items()
    }
    return SampleBatch(arrays, connection or {}, metadata or {})


def ramp(n: int, t0: float, dt: float = 0.01) -> tuple[list[float], list[float], list[int]]:
    t = t0 + np.arange(n) * dt
    return list(t), list(np.arange(n, dtype=float)), [0] * n


def curve_len(panel: StripChartPanel, name: str) -> int:
    x, _ = panel.curve(name).getOriginalDataset()
    return 0 if x is None else len(x)


def test_add_pv_and_samples_reach_the_curve(panel: StripChartPanel, qtbot) -> None:
    assert panel.add_pv("A") and panel.add_pv("B")
    assert not panel.add_pv("A")  # duplicate
    assert not panel.add_pv("two words")
    assert panel.pv_names() == ["A", "B"]
    assert panel.worker.pvs == ["A", "B"] and panel.worker.running
    now = time.time()
    panel.worker.samples_ready.emit(batch({"A": ramp(100, now - 5)}, {"A": True}))
    qtbot.waitUntil(lambda: curve_len(panel, "A") == 100, timeout=2000)
    panel.worker.samples_ready.emit(batch({"A": ramp(50, now - 1)}))
    qtbot.waitUntil(lambda: curve_len(panel, "A") == 150, timeout=2000)
    assert curve_len(panel, "B") == 0


def test_scrolling_range_follows_now_and_manual_zoom_pans(panel: StripChartPanel, qtbot) -> None:
    panel.add_pv("A")
    panel.set_time_window(30.0)
    qtbot.wait(100)
    x0, x1 = panel.visible_time_range()
    assert x1 == pytest.approx(time.time(), abs=0.5) and x1 - x0 == pytest.approx(30.0)
    assert panel.view_box.autoRangeEnabled()[0] is False  # clip-to-view needs X auto-range off
    # the operator zooms: scrolling stops and the range stays put
    panel.view_box.scaleBy(x=0.5)
    panel.view_box.sigRangeChangedManually.emit([True, False])
    assert not panel.live_button.isChecked()
    fixed = panel.visible_time_range()
    qtbot.wait(150)
    assert panel.visible_time_range() == pytest.approx(fixed)
    panel.live_button.click()
    qtbot.wait(100)
    assert panel.visible_time_range()[1] == pytest.approx(time.time(), abs=0.5)


def test_time_window_buttons_and_custom(panel: StripChartPanel) -> None:
    panel._window_buttons[600.0].click()
    assert panel.time_window() == 600.0
    panel.set_time_window(90.0)
    assert panel.custom_window_button.isChecked()
    assert panel.custom_window_button.text() == "90 s"
    assert parse_duration("5 min") == 300 and parse_duration("2h") == 7200
    assert format_duration(3600) == "1 h"
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_pause_keeps_recording_but_freezes_the_picture(panel: StripChartPanel, qtbot) -> None:
    panel.add_pv("A")
    now = time.time()
    panel.worker.samples_ready.emit(batch({"A": ramp(10, now - 2)}, {"A": True}))
    qtbot.waitUntil(lambda: curve_len(panel, "A") == 10, timeout=2000)
    panel.pause_button.click()
    assert panel.is_paused()
    frozen_range = panel.visible_time_range()
    panel.worker.samples_ready.emit(batch({"A": ramp(10, now - 1)}))
    qtbot.wait(150)
    assert len(panel.traces()["A"]) == 20  # recorded
    assert curve_len(panel, "A") == 10  # not drawn
    assert panel.visible_time_range() == pytest.approx(frozen_range)
    panel.pause_button.click()
    qtbot.waitUntil(lambda: curve_len(panel, "A") == 20, timeout=2000)


def test_disconnect_draws_gap_and_keeps_colour(panel: StripChartPanel, qtbot) -> None:
    panel.add_pv("A")
    now = time.time()
    panel.ingest(batch({"A": ramp(5, now - 3)}, {"A": True}, {"A": {"units": "mm", "precision": 2}}))
    panel.ingest(batch({"A": ([now - 2], [math.nan], [SEVERITY_DISCONNECTED])}, {"A": False}))
    pen = panel.curve("A").opts["pen"]
    assert pen.color().name() == panel._traces["A"].color.name() != QColor(
        cafmt.DISCONNECTED_COLOR).name()  # the history keeps its colour
    assert panel.gap_marks("A") == [(now - 2, 4.0)]  # a cross at the last value
    panel._update_legend()
    assert panel.legend.item(0, COL_ALARM).text() == "DISCONNECTED"
    panel.ingest(batch({"A": ramp(3, now - 1)}, {"A": True}))
    buf = panel.traces()["A"]
    assert np.isnan(buf.values[5]) and np.isfinite(buf.values[6:]).all()
    assert panel.curve("A").opts["pen"].color().name() == panel._traces["A"].color.name()
    panel._update_legend()
    assert panel.legend.item(0, COL_VALUE).text() == "2.00"
    assert panel.legend.item(0, COL_UNITS).text() == "mm"
    assert panel.legend.item(0, COL_ALARM).text() == "NO_ALARM"


def test_never_connected_pv_says_not_found(panel: StripChartPanel) -> None:
    panel.add_pv("missing")
    panel._update_legend()
    assert panel.legend.item(0, COL_ALARM).text() == "searching…"
    panel.ingest(batch(connection={"missing": False}))
    panel._update_legend()
    assert panel.legend.item(0, COL_ALARM).text() == "NOT FOUND"


def test_remove_keeps_other_traces(panel: StripChartPanel) -> None:
    panel.add_pv("A")
    panel.add_pv("B")
    now = time.time()
    panel.ingest(batch({"A": ramp(10, now - 2), "B": ramp(10, now - 2)}))
    panel.remove_pv("B")
    panel.ingest(batch({"B": ramp(5, now - 1)}))  # in-flight samples of a removed PV: ignored
    assert panel.pv_names() == ["A"] and panel.worker.pvs == ["A"]
    assert len(panel.traces()["A"]) == 10
    assert panel.legend.rowCount() == 1
    panel.add_pv("B")
    assert len(panel.traces()["B"]) == 0 and len(panel.traces()["A"]) == 10


def test_recolour_and_hide(panel: StripChartPanel) -> None:
    panel.add_pv("A")
    panel.set_color("A", "#123456")
    assert panel.curve("A").opts["pen"].color().name() == "#123456"
    panel.legend.item(0, 0).setCheckState(Qt.Unchecked)
    assert not panel.curve("A").isVisible()


@pytest.mark.parametrize("mode", ["normalised", "per-trace", "shared"])
def test_y_modes(panel: StripChartPanel, qtbot, mode: str) -> None:
    panel.add_pv("A")
    panel.add_pv("B")
    now = time.time()
    panel.ingest(batch({"A": ramp(100, now - 5), "B": ([now - 5, now - 1], [1e-7, 3e-7], [0, 0])}))
    qtbot.waitUntil(lambda: curve_len(panel, "A") == 100, timeout=2000)  # curves hold data
    panel.set_y_mode("per-trace" if mode != "per-trace" else "normalised")
    panel.set_y_mode(mode)
    qtbot.wait(700)  # normalisation refreshes twice a second
    if mode == "per-trace":
        assert all(tr.axis is not None for tr in panel._traces.values())
    else:
        assert all(tr.axis is None for tr in panel._traces.values())
    if mode == "normalised":
        # B spans 1e-7..3e-7 and is mapped onto 0..1 by an item transform, data untouched
        tr = panel.curve("B").transform()
        assert tr.map(QPointF(0, 3e-7)).y() == pytest.approx(1.0)
        assert panel.traces()["B"].values[-1] == 3e-7


def test_readout_shows_held_values(panel: StripChartPanel) -> None:
    panel.add_pv("A")
    t0 = 1_700_000_000.0
    panel.ingest(batch({"A": ([t0, t0 + 1], [1.5, 2.5], [0, 2])}, {"A": True}, {"A": {"units": "V", "precision": 1}}))
    text = panel.readout_text(t0 + 1.5)
    assert "A=2.5 V [MAJOR]" in text
    assert "A=" not in panel.readout_text(t0 - 1)


def test_csv_export_matches_buffer(panel: StripChartPanel, tmp_path: Path) -> None:
    panel.add_pv("A")
    panel.add_pv("B")
    now = time.time()
    panel.ingest(batch({"A": ramp(20, now - 100, 1.0), "B": ([now - 10, now - 5], [1.25, math.nan], [1, 4])}))
    out = tmp_path / "all.csv"
    assert panel.export_csv(out) == 22
    rows = read_csv_rows(io.StringIO(out.read_text()))
    a = [r for r in rows if r["pv"] == "A"]
    np.testing.assert_allclose([float(r["epoch_seconds"]) for r in a], panel.traces()["A"].times, atol=1e-6)
    assert [float(r["value"]) for r in a] == list(panel.traces()["A"].values)
    assert [r["severity"] for r in rows if r["pv"] == "B"] == ["MINOR", "DISCONNECTED"]
    # visible only: the 60 s window holds A's last samples, the one held into it, and all of B
    panel.set_time_window(60.0)
    visible = tmp_path / "visible.csv"
    t0, t1 = panel.visible_time_range()
    n_a = int(np.count_nonzero((panel.traces()["A"].times >= t0) & (panel.traces()["A"].times <= t1)))
    assert panel.export_csv(visible, visible_only=True) == n_a + 1 + 2


def test_image_export(panel: StripChartPanel, tmp_path: Path) -> None:
    panel.add_pv("A")
    panel.ingest(batch({"A": ramp(50, time.time() - 5)}))
    panel.export_image(tmp_path / "chart.png")
    panel.export_image(tmp_path / "chart.svg")
    assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (tmp_path / "chart.svg").read_text()


def test_json_config_round_trip(panel: StripChartPanel, tmp_path: Path) -> None:
    panel.add_pv("A", "#ff0000")
    panel.add_pv("B")
    panel.set_visible("B", False)
    panel.set_time_window(600)
    panel.set_y_mode("normalised")
    path = tmp_path / "chart.json"
    panel.save_config_file(path)
    panel.clear_pvs()
    panel.set_time_window(30)
    panel.load_config_file(path)
    assert panel.pv_names() == ["A", "B"]
    assert panel._traces["A"].color.name() == "#ff0000"
    assert not panel._traces["B"].visible and not panel.curve("B").isVisible()
    assert panel.time_window() == 600 and panel._y_mode == "normalised"


def test_stp_config_load(panel: StripChartPanel, tmp_path: Path) -> None:
    path = tmp_path / "old.stp"
    path.write_text(
        "StripConfig                   1.2\n"
        "Strip.Time.Timespan           300\n"
        "Strip.Color.Color1            65535     0         0\n"
        "Strip.Curve.0.Name            SR:CURRENT\n"
        "Strip.Curve.0.Units           mA\n"
        "Strip.Curve.0.Min             0.0\n"
        "Strip.Curve.0.Max             500.0\n"
        "Strip.Curve.1.Name            VAC:P1\n"
        "Strip.Curve.1.PlotStatus      0\n"
    )
    panel.load_config_file(path)
    assert panel.pv_names() == ["SR:CURRENT", "VAC:P1"]
    assert panel._traces["SR:CURRENT"].color.name() == "#ff0000"
    assert panel._traces["SR:CURRENT"].fixed_range == (0.0, 500.0)
    assert not panel._traces["VAC:P1"].visible
    assert panel.time_window() == 300


def test_bad_config_changes_nothing(panel: StripChartPanel, tmp_path: Path) -> None:
    panel.add_pv("KEEP")
    path = tmp_path / "bad.json"
    path.write_text('{"traces": [{"name": "ok"}, {"name": "has space"}]}')
    with pytest.raises(ChartConfigError, match="not a PV name"):
        panel.load_config_file(path)
    assert panel.pv_names() == ["KEEP"]


def test_settings_round_trip(qtbot, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    first = StripChartPanel(worker=FakeWorker())
    qtbot.addWidget(first)
    first.add_pv("A")
    first.add_pv("B", "#00ff00")
    first.set_time_window(3600)
    first.save_settings(settings)
    first.shutdown()
    settings.sync()
    second = StripChartPanel(worker=FakeWorker())
    qtbot.addWidget(second)
    second.restore_settings(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    assert second.pv_names() == ["A", "B"] and second.time_window() == 3600
    assert second._traces["B"].color.name() == "#00ff00"
    second.shutdown()


def test_drop_of_pv_names_adds_them(panel: StripChartPanel) -> None:
    mime = QMimeData()
    mime.setText("DROP:1\nDROP:2")
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    panel.plot_widget.dropEvent(event)
    assert panel.pv_names() == ["DROP:1", "DROP:2"]


def test_typed_names_are_added(panel: StripChartPanel, qtbot) -> None:
    qtbot.keyClicks(panel.pv_edit, "X:1 X:2")
    qtbot.keyClick(panel.pv_edit, Qt.Key_Return)
    assert panel.pv_names() == ["X:1", "X:2"] and panel.pv_edit.text() == ""


def test_shutdown_stops_worker_and_timers(panel: StripChartPanel) -> None:
    panel.add_pv("A")
    panel.shutdown()
    assert not panel.worker.running
    assert not panel._redraw_timer.isActive()


def _wheel(widget, pos) -> None:
    from PyQt5.QtCore import QPoint
    from PyQt5.QtGui import QWheelEvent
    from PyQt5.QtWidgets import QApplication

    global_pos = widget.mapToGlobal(pos)
    event = QWheelEvent(
        QPointF(pos), QPointF(global_pos), QPoint(0, 0), QPoint(0, 120),
        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)


@pytest.mark.parametrize("mode", ["shared", "per-trace"])
def test_mouse_wheel_zoom_switches_to_pan(panel: StripChartPanel, qtbot, mode: str) -> None:
    panel.add_pv("A")
    panel.set_y_mode(mode)
    panel.ingest(batch({"A": ramp(100, time.time() - 5)}, {"A": True}))
    qtbot.wait(100)
    viewport = panel.plot_widget.viewport()
    center = panel.plot_widget.mapFromScene(panel.view_box.sceneBoundingRect().center())
    before = panel.visible_time_range()
    _wheel(viewport, center)
    qtbot.wait(100)
    assert not panel.live_button.isChecked()  # pan mode: the zoom is kept
    assert not panel.autoscale_button.isChecked()
    after = panel.visible_time_range()
    assert after[1] - after[0] < before[1] - before[0]


def test_enum_legend_shows_label(panel: StripChartPanel) -> None:
    panel.add_pv("E")
    md = {"E": {"enum_strings": ["Off", "On"]}}
    panel.ingest(batch({"E": ([time.time()], [1.0], [0])}, {"E": True}, md))
    panel._update_legend()
    assert panel.legend.item(0, COL_VALUE).text() == "1 (On)"


def test_worker_refusing_a_name_leaves_chart_unchanged(panel: StripChartPanel, qtbot) -> None:
    def refuse(name: str) -> None:
        raise ValueError("name too long")

    panel.worker.add_pv = refuse
    with qtbot.waitSignal(panel.message) as signal:
        assert not panel.add_pv("X" * 150)
    assert "name too long" in signal.args[0]
    assert panel.pv_names() == [] and panel.legend.rowCount() == 0


def test_hold_steps_to_newest_value_between_uploads(panel: StripChartPanel) -> None:
    panel.add_pv("A")
    panel.set_time_window(3600.0)  # one pixel column is seconds: uploads are throttled
    now = time.time()
    panel.ingest(batch({"A": ([now - 10, now - 5], [1.0, 2.0], [0, 0])}, {"A": True}))
    panel._redraw_frame(now)
    assert curve_len(panel, "A") == 2
    panel.ingest(batch({"A": ([now + 0.01], [7.0], [0])}))
    panel._redraw_frame(now + 0.02)  # same pixel column: no re-upload, no scroll
    assert curve_len(panel, "A") == 2
    x, y = panel._traces["A"].hold.getData()
    assert list(y) == [2.0, 2.0, 7.0, 7.0]  # steps from the curve's end to the newest value
    assert list(x[:3]) == [now - 5, now + 0.01, now + 0.01]


def test_fixed_range_on_a_log_axis_is_in_decades(panel: StripChartPanel) -> None:
    panel.set_y_mode("per-trace")
    panel.add_pv("P")
    panel._traces["P"].fixed_range = (1e-9, 1e-5)
    panel.set_autoscale(False)
    panel.set_trace_log("P", True)
    lo, hi = panel._traces["P"].view.viewRange()[1]
    assert (lo, hi) == pytest.approx((-9.0, -5.0))


def test_statistics_recomputed_on_the_legend_tick_only_for_changed_traces(
    panel, qtbot, monkeypatch
) -> None:
    """A trace whose samples in the visible range did not change keeps its statistics (a
    steady PV costs nothing); the changed one is recomputed on the legend's tick and its row
    shows the new count."""
    from caprobe.gui.chart import statistics as stats_module
    from caprobe.gui.chart.legend import COL_STATS

    t0 = time.time() - 50
    for name in ("A", "B"):
        panel.add_pv(name)
    panel.ingest(batch({"A": ramp(100, t0), "B": ramp(200, t0)}, {"A": True, "B": True}))
    panel.set_scrolling(False)
    panel.view_box.setXRange(t0 - 1, t0 + 100, padding=0)
    panel.show_statistics(True)
    qtbot.waitUntil(lambda: panel.statistics().get("B") is not None
                    and panel.statistics()["A"].count == 100, timeout=3000)
    computed: list[float] = []

    def counting(buf, lo, hi):  # noqa: ANN001, ANN202 (the wrapped function's signature)
        computed.append(len(buf))
        return real(buf, lo, hi)

    real = stats_module.trace_statistics
    monkeypatch.setattr(stats_module, "trace_statistics", counting)
    qtbot.wait(600)  # three legend ticks: nothing changed, nothing recomputed
    assert computed == []
    panel.ingest(batch({"A": ([t0 + 10], [5.0], [0])}, {"A": True}))
    qtbot.waitUntil(lambda: panel.statistics()["A"].count == 101, timeout=3000)
    assert computed == [101]  # A only; B's result is the one computed before
    assert panel.statistics()["B"].count == 200
    count_col = COL_STATS + 4
    qtbot.waitUntil(lambda: panel.legend.text(panel.legend.row_of("A"), count_col) == "101",
                    timeout=3000)
