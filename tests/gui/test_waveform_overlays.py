"""Waveform view with several array PVs overlaid, an X array PV (XY plot) and the export of
what is shown, against a real soft IOC; every worker comes from the one factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PyQt5.QtCore import Qt

from caprobe.gui.chart_worker import WaveformWorker  # noqa: E402
from caprobe.gui.waveform import WaveformView  # noqa: E402

DOUBLE = [0.5, 1.5, 2.5, 3.5, 4.5]
FLOAT = [0.25, -0.25, 1.75]
LONG = [1, -2, 3, 2147483647, -2147483648]
SHORT = [1, -2, 3, 32767, -32768]


@pytest.fixture
def made() -> list[WaveformWorker]:
    return []


@pytest.fixture
def view(qtbot, made: list[WaveformWorker]) -> Iterator[WaveformView]:
    def factory(parent):
        made.append(WaveformWorker(parent))
        return made[-1]

    widget = WaveformView(worker_factory=factory)
    qtbot.addWidget(widget)
    widget.resize(900, 500)
    widget.show()
    yield widget
    widget.shutdown()
    assert not any(running(w) for w in made)


def running(worker: WaveformWorker) -> bool:
    try:
        return worker.isRunning()
    except RuntimeError:  # deleted after it was stopped (a removed overlay)
        return False


def test_overlays_xy_and_export(softioc_env, view: WaveformView, made, qtbot,
                                tmp_path: Path) -> None:
    wf_double, wf_float = softioc_env.pv("wf_double"), softioc_env.pv("wf_float")
    wf_long, wf_short = softioc_env.pv("wf_long"), softioc_env.pv("wf_short")
    view.set_pv(wf_double)
    assert view.add_overlay(wf_float) and view.add_overlay(wf_long)
    assert not view.add_overlay(wf_float)  # already there
    assert view.overlay_names() == [wf_double, wf_float, wf_long]
    for pv, expected in ((wf_double, DOUBLE), (wf_float, FLOAT), (wf_long, LONG)):
        qtbot.waitUntil(lambda pv=pv: view.data(pv) is not None, timeout=5000)
        assert list(view.data(pv)[: len(expected)]) == expected
    # three curves, three colours, a legend row each; against element index
    curves = [view._find(pv).curve for pv in view.overlay_names()]
    assert len({c.opts["pen"].color().name() for c in curves}) == 3
    assert view.legend.isVisible() and view.legend.rowCount() == 3
    assert list(curves[1].getOriginalDataset()[0]) == [0, 1, 2]
    # XY: every array against wf_short
    view.set_x_pv(wf_short)
    qtbot.waitUntil(lambda: view.data(wf_short) is not None, timeout=5000)
    qtbot.waitUntil(lambda: list(curves[0].getOriginalDataset()[0]) == SHORT, timeout=3000)
    x, y = curves[0].getOriginalDataset()
    assert list(y) == DOUBLE
    x, y = curves[1].getOriginalDataset()
    assert list(x) == SHORT[:3] and list(y) == FLOAT  # the shorter array: its length
    assert view.plot_item.getAxis("bottom").labelText == wf_short
    assert view.legend.rowCount() == 4
    assert len(made) == 4  # the first PV's, two overlays, X: all from the factory
    # export what is shown, hidden curves left out
    row = next(r for r in range(view.legend.rowCount())
               if view.legend.item(r, 1).data(Qt.UserRole) == wf_long)
    view.legend.item(row, 0).setCheckState(Qt.Unchecked)
    assert not view._find(wf_long).curve.isVisible()
    out = tmp_path / "xy.csv"
    assert view.export_csv(out) == 5
    lines = out.read_text().splitlines()
    assert lines[0].startswith(f"# X {wf_short} at ") and lines[1].startswith(f"# {wf_double} at ")
    assert "units s" in lines[1]
    assert lines[3] == f"index,{wf_short},{wf_double},{wf_float}"
    rows = [ln.split(",") for ln in lines[4:]]
    assert [float(r[1]) for r in rows] == SHORT and [float(r[2]) for r in rows] == DOUBLE
    assert [r[3] for r in rows] == ["0.25", "-0.25", "1.75", "", ""]
    # back to index, one overlay fewer; the workers of dropped PVs are stopped
    view.set_x_pv(None)
    qtbot.waitUntil(lambda: list(curves[0].getOriginalDataset()[0]) == [0, 1, 2, 3, 4],
                    timeout=3000)
    view.remove_overlay(wf_float)
    assert view.overlay_names() == [wf_double, wf_long]
    assert not running(made[1]) and not running(made[3])
    # removing the first PV promotes the next one
    view.remove_overlay(wf_double)
    assert view.pv_name() == wf_long
    qtbot.waitUntil(lambda: view.data() is not None and list(view.data()) == LONG, timeout=5000)
    assert np.isfinite(view.data()).all()
