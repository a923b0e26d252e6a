"""Strip chart against a real EPICS base soft IOC: samples arrive, add/remove while running,
IOC restart gap, prompt shutdown with a silent PV."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from caprobe.chart_data import SEVERITY_DISCONNECTED  # noqa: E402
from caprobe.gui.strip_chart import StripChartPanel  # noqa: E402


@pytest.fixture
def make_panel(qtbot) -> Iterator:
    panels: list[StripChartPanel] = []

    def make() -> StripChartPanel:
        panel = StripChartPanel()
        qtbot.addWidget(panel)
        panel.resize(800, 400)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()
        assert not panel.worker.isRunning()


def n_samples(panel: StripChartPanel, pv: str) -> int:
    return len(panel.traces()[pv])


def test_added_pv_receives_samples_and_curve_grows(softioc_env, make_panel, qtbot) -> None:
    panel = make_panel()
    pv = softioc_env.pv("counter")  # calc, 10 Hz
    panel.add_pv(pv)
    qtbot.waitUntil(lambda: n_samples(panel, pv) >= 3, timeout=5000)
    first = len(panel.curve(pv).getOriginalDataset()[0])
    qtbot.waitUntil(lambda: len(panel.curve(pv).getOriginalDataset()[0]) >= first + 3, timeout=5000)
    buf = panel.traces()[pv]
    assert np.all(np.diff(buf.values) == 1)  # consecutive counts: nothing lost
    assert abs(buf.last_time - time.time()) < 5  # IOC time stamps, not receive order
    qtbot.waitUntil(lambda: panel._traces[pv].precision is not None, timeout=5000)  # DBR_CTRL


def test_pcaspy_counter_at_100_hz_arrives_complete(pcaspy_env, make_panel, qtbot) -> None:
    panel = make_panel()
    pv = pcaspy_env.pv("counter")  # PCAS (pcaspy), +1 every 10 ms
    panel.add_pv(pv)
    qtbot.waitUntil(lambda: n_samples(panel, pv) >= 200, timeout=10000)
    assert np.all(np.diff(panel.traces()[pv].values) == 1)


def test_remove_and_add_while_running_keeps_other_traces(softioc_env, make_panel, qtbot) -> None:
    panel = make_panel()
    counter, ai = softioc_env.pv("counter"), softioc_env.pv("ai")
    panel.add_pv(counter)
    panel.add_pv(ai)
    qtbot.waitUntil(lambda: n_samples(panel, counter) >= 5 and n_samples(panel, ai) >= 1, timeout=5000)
    for _ in range(3):
        panel.remove_pv(ai)
        qtbot.wait(150)
        panel.add_pv(ai)
        qtbot.waitUntil(lambda: n_samples(panel, ai) >= 1, timeout=5000)
    before = n_samples(panel, counter)
    qtbot.waitUntil(lambda: n_samples(panel, counter) >= before + 5, timeout=5000)
    values = panel.traces()[counter].values
    # the counter counts by one every 0.1 s: any lost monitor would show as a step of 2+
    assert np.all(np.diff(values) == 1), np.diff(values)


def test_ioc_restart_draws_gap_then_resumes(ioc_factory, make_panel, qtbot) -> None:
    ioc = ioc_factory.softioc(use_env=True)
    panel = make_panel()
    pv = ioc.pv("counter")
    panel.add_pv(pv)
    qtbot.waitUntil(lambda: n_samples(panel, pv) >= 3, timeout=5000)
    ioc.kill()
    qtbot.waitUntil(lambda: panel._traces[pv].connected is False, timeout=15000)
    buf = panel.traces()[pv]
    assert buf.last_severity == SEVERITY_DISCONNECTED and np.isnan(buf.last_value)
    gap_index = len(buf) - 1
    ioc.restart()
    qtbot.waitUntil(lambda: n_samples(panel, pv) >= gap_index + 4, timeout=20000)
    buf = panel.traces()[pv]
    assert panel._traces[pv].connected is True
    assert np.isnan(buf.values[gap_index]) and np.isfinite(buf.values[gap_index + 1 :]).all()
    assert np.isfinite(buf.values[:gap_index]).all()


def test_close_with_worker_blocked_on_silent_pv_is_prompt(softioc_env, make_panel, qtbot) -> None:
    panel = make_panel()
    panel.add_pv("caprobe:test:does-not-exist")
    qtbot.waitUntil(panel.worker.isRunning, timeout=2000)
    qtbot.wait(300)  # well inside block(), searching
    started = time.monotonic()
    panel.shutdown()
    elapsed = time.monotonic() - started
    assert not panel.worker.isRunning()
    assert elapsed < 1.0, f"shutdown took {elapsed:.2f} s"
