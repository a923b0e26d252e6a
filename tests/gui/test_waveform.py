"""Waveform view against a real soft IOC: live array, pause, CSV/PNG export, prompt shutdown."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from caprobe.ca import write  # noqa: E402
from caprobe.gui.waveform import WaveformView  # noqa: E402

INITIAL = [0.5, 1.5, 2.5, 3.5, 4.5]


@pytest.fixture
def view(qtbot) -> Iterator[WaveformView]:
    widget = WaveformView()
    qtbot.addWidget(widget)
    widget.resize(700, 400)
    yield widget
    widget.shutdown()
    assert not widget.worker.isRunning()


def shown(view: WaveformView) -> list[float]:
    data = view.data()
    return [] if data is None else list(data[:5])


def test_live_array_pause_and_export(softioc_env, view: WaveformView, qtbot, tmp_path: Path) -> None:
    pv = softioc_env.pv("wf_double")
    view.set_pv(pv)
    qtbot.waitUntil(lambda: shown(view) == INITIAL, timeout=5000)
    x, y = view.curve.getOriginalDataset()
    assert list(y[:5]) == INITIAL and list(x[:5]) == [0, 1, 2, 3, 4]
    try:
        write(pv, [9.0, 8.0, 7.0, 6.0, 5.0], notify=True)
        qtbot.waitUntil(lambda: shown(view) == [9.0, 8.0, 7.0, 6.0, 5.0], timeout=5000)
        view.set_paused(True)
        write(pv, [1.0, 1.0, 1.0, 1.0, 1.0], notify=True)
        qtbot.wait(300)
        assert shown(view) == [9.0, 8.0, 7.0, 6.0, 5.0]  # frozen
        view.set_paused(False)
        qtbot.waitUntil(lambda: shown(view) == [1.0] * 5, timeout=5000)
    finally:
        write(pv, INITIAL, notify=True)
    qtbot.waitUntil(lambda: shown(view) == INITIAL, timeout=5000)
    csv_path = tmp_path / "wf.csv"
    n = view.export_csv(csv_path)
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith(f"# {pv} at ") and lines[1] == f"index,{pv}"
    assert lines[2:7] == [f"{i},{v!r}" for i, v in enumerate(INITIAL)]
    assert n == len(view.data())
    view.export_image(tmp_path / "wf.png")
    assert (tmp_path / "wf.png").read_bytes()[:4] == b"\x89PNG"


def test_switching_pv_and_big_array(softioc_env, view: WaveformView, qtbot) -> None:
    view.set_pv(softioc_env.pv("wf_double"))
    qtbot.waitUntil(lambda: shown(view) == INITIAL, timeout=5000)
    view.set_pv(softioc_env.pv("wf_big"))  # a ramp 0, 1, 2, ...
    qtbot.waitUntil(lambda: view.data() is not None and len(view.data()) > 100, timeout=5000)
    data = view.data()
    np.testing.assert_array_equal(data, np.arange(len(data), dtype=float))


def test_shutdown_prompt_with_silent_pv(softioc_env, view: WaveformView, qtbot) -> None:
    view.set_pv("caprobe:test:no-such-waveform")
    qtbot.waitUntil(view.worker.isRunning, timeout=2000)
    qtbot.wait(300)
    started = time.monotonic()
    view.shutdown()
    assert time.monotonic() - started < 1.0
    assert not view.worker.isRunning()


def test_axis_shows_units(softioc_env, view: WaveformView, qtbot) -> None:
    pv = softioc_env.pv("wf_double")  # EGU "s"
    view.set_pv(pv)
    qtbot.waitUntil(lambda: "(s)" in view.plot_item.getAxis("left").labelString(), timeout=5000)
