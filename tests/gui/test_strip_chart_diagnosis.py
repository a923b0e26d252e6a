"""The strip chart as a diagnosis tool, against a real EPICS base soft IOC: colours kept through
an IOC kill and restart, a legend sized to its rows, pause, statistics, two cursors, log axes,
time-aligned export, and what the chart does with string and array PVs."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import QApplication

from caprobe import format as cafmt  # noqa: E402
from caprobe.ca import write  # noqa: E402
from caprobe.chart_data import read_csv_rows  # noqa: E402
from caprobe.gui.chart import StripChartPanel  # noqa: E402
from caprobe.gui.chart.legend import (  # noqa: E402
    COL_ALARM,
    COL_NAME,
    COL_STATS,
    COL_UNITS,
    COL_VALUE,
)


@pytest.fixture
def make_panel(qtbot) -> Iterator:
    panels: list[StripChartPanel] = []

    def make(width: int = 1000, height: int = 640) -> StripChartPanel:
        panel = StripChartPanel()
        qtbot.addWidget(panel)
        panel.resize(width, height)
        panel.show()
        qtbot.waitExposed(panel)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()
        assert not panel.worker.isRunning()


def n_samples(panel: StripChartPanel, pv: str) -> int:
    return len(panel.traces()[pv])


def legend_text(panel: StripChartPanel, pv: str, column: int) -> str:
    return panel.legend.item(panel.legend.row_of(pv), column).text()


def wait_value(panel: StripChartPanel, pv: str, value: float, qtbot) -> None:
    qtbot.waitUntil(lambda: n_samples(panel, pv) and panel.traces()[pv].last_value == value,
                    timeout=5000)


def test_ioc_kill_keeps_trace_colours_and_marks_the_loss(ioc_factory, make_panel, qtbot) -> None:
    ioc = ioc_factory.softioc(use_env=True)
    panel = make_panel()
    counter, ai = ioc.pv("counter"), ioc.pv("ai")
    panel.add_pv(counter)
    panel.add_pv(ai)
    qtbot.waitUntil(lambda: n_samples(panel, counter) >= 5 and n_samples(panel, ai) >= 1,
                    timeout=5000)
    colours = {pv: panel._traces[pv].color.name() for pv in (counter, ai)}
    assert len(set(colours.values())) == 2
    ioc.kill()
    qtbot.waitUntil(lambda: all(panel._traces[pv].connected is False for pv in (counter, ai)),
                    timeout=15000)
    qtbot.wait(300)  # a few frames and legend updates while disconnected
    grey = QColor(cafmt.DISCONNECTED_COLOR).name()
    for pv in (counter, ai):
        assert panel.curve(pv).opts["pen"].color().name() == colours[pv] != grey
        buf = panel.traces()[pv]
        finite = buf.values[np.isfinite(buf.values)]
        # one cross, at the moment of loss, on the last value drawn
        marks = panel.gap_marks(pv)
        assert len(marks) == 1 and marks[0][0] == buf.last_time and marks[0][1] == finite[-1]
        x, y = panel._traces[pv].marks.getData()
        assert list(x) == [buf.last_time] and list(y) == [finite[-1]]
        assert legend_text(panel, pv, COL_ALARM) == cafmt.DISCONNECTED_TEXT
    gap_index = n_samples(panel, counter) - 1
    ioc.restart()
    qtbot.waitUntil(lambda: n_samples(panel, counter) >= gap_index + 4, timeout=20000)
    qtbot.waitUntil(lambda: legend_text(panel, counter, COL_ALARM) == "NO_ALARM", timeout=3000)
    for pv in (counter, ai):
        assert panel.curve(pv).opts["pen"].color().name() == colours[pv]
    assert len(panel.gap_marks(counter)) == 1  # the loss stays marked after the recovery


def test_legend_sizes_to_its_rows_then_scrolls(softioc_env, make_panel, qtbot) -> None:
    panel = make_panel(1000, 700)
    pvs = [softioc_env.pv(s) for s in ("ai", "ao", "counter", "long")]
    for pv in pvs:
        panel.add_pv(pv)
    qtbot.waitUntil(lambda: legend_text(panel, pvs[0], COL_UNITS) == "mm", timeout=5000)
    qtbot.waitUntil(lambda: legend_text(panel, pvs[1], COL_VALUE) == "0.00", timeout=5000)
    assert legend_text(panel, pvs[0], COL_VALUE) == "1.500"  # PREC 3, units apart
    assert legend_text(panel, pvs[0], COL_ALARM) == "NO_ALARM"
    qtbot.wait(50)
    legend = panel.legend
    # every row visible, no scroll bar, and no blank space left under the last row
    last = legend.visualItemRect(legend.item(3, COL_NAME))
    assert last.bottom() <= legend.viewport().height()
    assert not legend.verticalScrollBar().isVisible()
    assert legend.viewport().height() - last.bottom() < legend.row_height
    assert panel.plot_widget.height() > 2 * legend.height()
    # many traces: the legend stops at its share of the height and scrolls
    for i in range(20):
        panel.add_pv(f"{softioc_env.prefix}nothing{i}")
    qtbot.wait(50)
    share = legend.height() / sum(panel.splitter.sizes())
    assert 0.3 < share <= 0.41
    assert legend.verticalScrollBar().isVisible()
    # statistics on demand
    assert legend.isColumnHidden(COL_STATS)
    panel.stats_button.click()
    assert not legend.isColumnHidden(COL_STATS)


def test_pause_is_unmistakable_and_loses_nothing(softioc_env, make_panel, qtbot) -> None:
    panel = make_panel()
    ao = softioc_env.pv("ao")
    try:
        write(ao, 1.25, notify=True)
        panel.add_pv(ao)
        wait_value(panel, ao, 1.25, qtbot)
        qtbot.waitUntil(lambda: legend_text(panel, ao, COL_VALUE) == "1.25", timeout=3000)
        assert panel.pause_button.text() == "Pause" and not panel.plot_widget.banner.isVisible()
        panel.pause_button.click()
        assert panel.is_paused() and panel.pause_button.text() == "Resume"
        assert panel.plot_widget.banner.isVisible() and "PAUSED" in panel.plot_widget.banner.text()
        write(ao, 7.5, notify=True)
        wait_value(panel, ao, 7.5, qtbot)  # still collected
        qtbot.wait(600)  # three legend periods
        assert legend_text(panel, ao, COL_VALUE) == "1.25"  # frozen with the picture
        panel.pause_button.click()
        assert panel.pause_button.text() == "Pause" and not panel.plot_widget.banner.isVisible()
        qtbot.waitUntil(lambda: legend_text(panel, ao, COL_VALUE) == "7.50", timeout=3000)
        assert list(panel.traces()[ao].values[-2:]) == [1.25, 7.5]
    finally:
        write(ao, 0.0, notify=True)


def test_statistics_of_the_visible_range(softioc_env, make_panel, qtbot, tmp_path: Path) -> None:
    panel = make_panel()
    counter = softioc_env.pv("counter")
    panel.add_pv(counter)
    qtbot.waitUntil(lambda: n_samples(panel, counter) >= 15, timeout=5000)
    panel.set_time_window(30.0)
    panel.show_statistics(True)
    panel.set_paused(True)  # the range and the samples in it hold still
    t0, t1 = panel.visible_time_range()
    buf = panel.traces()[counter]
    sel = (buf.times >= t0) & (buf.times <= t1)
    values, times = buf.values[sel], buf.times[sel]
    qtbot.waitUntil(lambda: panel.statistics().get(counter) is not None
                    and panel.statistics()[counter].count == len(values), timeout=3000)
    st = panel.statistics()[counter]
    assert (st.minimum, st.maximum) == (values.min(), values.max())
    assert st.mean == pytest.approx(values.mean()) and st.std == pytest.approx(values.std())
    assert (st.first_time, st.last_time) == (times[0], times[-1])
    row = panel.legend.row_of(counter)
    titles = [panel.legend.horizontalHeaderItem(c).text()
              for c in range(COL_STATS, panel.legend.columnCount())]
    cells = dict(zip(titles, (panel.legend.item(row, c).text()
                              for c in range(COL_STATS, panel.legend.columnCount())), strict=True))
    assert cells["Count"] == f"{len(values):,}" and float(cells["Min"]) == values.min()
    panel.copy_statistics()
    copied = QApplication.clipboard().text().splitlines()
    assert copied[0].split("\t")[:4] == ["pv", "units", "min", "max"]
    assert copied[1].split("\t")[0] == counter and copied[1].split("\t")[6] == str(len(values))
    out = tmp_path / "stats.csv"
    panel.export_statistics(out)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert float(rows[0]["mean"]) == pytest.approx(values.mean())
    # the view moves: the statistics follow
    panel.set_paused(False)
    panel.set_scrolling(False)
    panel.view_box.setXRange(times[2] - 0.01, times[6] + 0.01, padding=0)
    qtbot.waitUntil(lambda: panel.statistics()[counter].count == 5, timeout=3000)
    assert panel.statistics()[counter].minimum == values[2]


def test_two_cursors_read_held_values_and_differences(softioc_env, make_panel, qtbot) -> None:
    panel = make_panel()
    counter, ai = softioc_env.pv("counter"), softioc_env.pv("ai")
    panel.add_pv(counter)
    panel.add_pv(ai)
    qtbot.waitUntil(lambda: n_samples(panel, counter) >= 30, timeout=8000)
    panel.set_paused(True)
    buf = panel.traces()[counter]
    t, v = buf.times.copy(), buf.values.copy()
    # between samples: each cursor reads the sample before it, as the stairs are drawn
    t_a, t_b = t[5] + 0.6 * (t[6] - t[5]), t[25] + 0.01
    panel.cursors_button.click()
    panel.set_cursors(t_a, t_b)
    assert panel.cursor_positions() == (t_a, t_b)
    table = panel.cursor_readout.table
    rows = {table.item(r, 0).text(): [table.item(r, c).text() for c in (1, 2, 3)]
            for r in range(table.rowCount())}
    assert float(rows[counter][0]) == v[5] and float(rows[counter][1]) == v[25]
    assert float(rows[counter][2]) == pytest.approx(v[25] - v[5])
    assert rows[ai][:2] == ["1.500 mm", "1.500 mm"] and rows[ai][2] == "+0.000 mm"
    assert f"dt = B − A = {t_b - t_a:+.3f} s" in panel.cursor_readout.times.text()
    assert panel.cursor_readout.isVisible()
    # dragging a cursor (what the operator does) updates the readout
    panel.cursors.lines["B"].setValue(t[10] + 0.01)
    assert float(table.item(0, 2).text()) == v[10]


def test_log_axis_says_what_it_cannot_draw(softioc_env, make_panel, qtbot) -> None:
    panel = make_panel()
    ao, ai = softioc_env.pv("ao"), softioc_env.pv("ai")
    try:
        write(ao, 100.0, notify=True)
        panel.add_pv(ao)
        wait_value(panel, ao, 100.0, qtbot)
        write(ao, 0.01, notify=True)
        wait_value(panel, ao, 0.01, qtbot)
        panel.log_button.click()
        assert panel.is_log_y() and panel.plot_item.getAxis("left").logMode
        qtbot.waitUntil(lambda: panel.curve(ao).getData()[1] is not None
                        and len(panel.curve(ao).getData()[1]) >= 2, timeout=3000)
        y = panel.curve(ao).getData()[1]
        assert np.nanmax(y) == pytest.approx(2.0) and np.nanmin(y) == pytest.approx(-2.0)
        lo, hi = panel.view_box.viewRange()[1]
        assert -3 < lo <= -2 and 2 <= hi < 3  # the axis range is in decades
        assert not panel.plot_widget.note.isVisible()
        write(ao, -5.0, notify=True)
        wait_value(panel, ao, -5.0, qtbot)
        qtbot.waitUntil(lambda: panel.plot_widget.note.isVisible(), timeout=3000)
        note = panel.plot_widget.note.text()
        assert ao in note and "1 value(s) ≤ 0" in note
        # one axis per trace: log for one trace only
        panel.add_pv(ai)
        panel.set_y_mode("per-trace")
        panel.set_log_y(False)
        panel.set_trace_log(ai, True)
        assert panel._traces[ai].axis.logMode and not panel._traces[ao].axis.logMode
        assert panel.is_log_y(ai) and not panel.is_log_y(ao)
        assert {t.name: t.log for t in panel.config().traces} == {ao: False, ai: True}
    finally:
        write(ao, 0.0, notify=True)


def test_time_aligned_export_includes_held_traces(softioc_env, make_panel, qtbot,
                                                  tmp_path: Path) -> None:
    panel = make_panel()
    counter, ao = softioc_env.pv("counter"), softioc_env.pv("ao")
    try:
        write(ao, 2.5, notify=True)
        panel.add_pv(ao)
        panel.add_pv(counter)
        wait_value(panel, ao, 2.5, qtbot)
        qtbot.waitUntil(lambda: legend_text(panel, ao, COL_UNITS) == "V", timeout=5000)
        held_since = panel.traces()[ao].last_time
        qtbot.waitUntil(lambda: panel.traces()[counter].last_time > held_since + 1.0,
                        timeout=5000)
        # the visible range starts after ao's only sample: ao is drawn as a held line
        panel.set_scrolling(False)
        t0, t1 = held_since + 0.3, panel.traces()[counter].last_time
        panel.view_box.setXRange(t0, t1, padding=0)
        t0, t1 = panel.visible_time_range()
        out = tmp_path / "aligned.csv"
        n = panel.export_csv(out, visible_only=True, aligned=True)
        rows = list(csv.reader(io.StringIO(out.read_text())))
        assert rows[0] == ["time", "epoch_seconds", f"{ao} [V]", f"{ao} severity",
                           counter, f"{counter} severity"]
        cbuf = panel.traces()[counter]
        in_range = cbuf.times[(cbuf.times >= t0) & (cbuf.times <= t1)]
        assert n == len(rows) - 1 == len(in_range) + 1  # + the row at the left edge
        assert float(rows[1][1]) == pytest.approx(t0)
        assert np.allclose([float(r[1]) for r in rows[2:]], in_range, rtol=0, atol=1e-6)
        assert all(r[2] == "2.5" and r[3] == "NO_ALARM" for r in rows[1:])
        # counter: held from its last sample at or before each row's time
        for r in rows[1:]:
            assert float(r[4]) == cbuf.values[cbuf.index_before(float(r[1]))]
        # the long format keeps the held sample of ao too, with units
        long_out = tmp_path / "long.csv"
        panel.export_csv(long_out, visible_only=True, aligned=False)
        long_rows = read_csv_rows(io.StringIO(long_out.read_text()))
        ao_rows = [r for r in long_rows if r["pv"] == ao]
        assert len(ao_rows) == 1 and ao_rows[0]["value"] == "2.5" and ao_rows[0]["units"] == "V"
        # the whole buffer, aligned
        whole = tmp_path / "whole.csv"
        assert panel.export_csv(whole, aligned=True) == len(
            np.unique(np.concatenate([cbuf.times, panel.traces()[ao].times])))
    finally:
        write(ao, 0.0, notify=True)


def test_string_refused_array_named_and_offered_as_waveform(softioc_env, make_panel,
                                                            qtbot) -> None:
    panel = make_panel()
    messages: list[str] = []
    panel.message.connect(messages.append)
    text_pv, wf = softioc_env.pv("str"), softioc_env.pv("wf_double")
    panel.add_pv(text_pv)
    panel.add_pv(wf)
    qtbot.waitUntil(lambda: text_pv not in panel.pv_names(), timeout=5000)
    assert any(text_pv in m and "string" in m for m in messages)
    assert "string PV" in panel.plot_widget.note.text() and panel.plot_widget.note.isVisible()
    qtbot.waitUntil(lambda: "element 0 of 10" in legend_text(panel, wf, COL_NAME), timeout=5000)
    assert any(wf in m and "array of 10 elements" in m for m in messages)
    assert panel.traces()[wf].last_value == 0.5  # element 0, plotted
    panel.open_waveform(wf)
    (window,) = panel.waveform_windows()
    qtbot.waitUntil(lambda: window.data() is not None, timeout=5000)
    assert list(window.data()[:5]) == [0.5, 1.5, 2.5, 3.5, 4.5]
    window.close()
    qtbot.waitUntil(lambda: not panel.waveform_windows(), timeout=3000)
    # the main window may take the request instead
    requested: list[str] = []
    panel.waveform_requested.connect(requested.append)
    panel.open_waveform(wf)
    assert requested == [wf] and not panel.waveform_windows()
    assert math.isfinite(panel.traces()[wf].last_value)
