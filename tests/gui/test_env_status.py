"""The status bar's search settings: CA and PV Access environment and the bare-name protocol,
in one line that fits an 800x600 window (elided, the tooltip has it all)."""

from __future__ import annotations

from typing import Any

import pytest

from caprobe.gui import env_status


def test_line_names_ca_pva_and_the_default_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPICS_CA_ADDR_LIST", "10.0.0.255")
    monkeypatch.setenv("EPICS_PVA_ADDR_LIST", "10.0.1.255 10.0.2.255")
    monkeypatch.setenv("EPICS_PVA_AUTO_ADDR_LIST", "NO")
    monkeypatch.setenv("EPICS_PVA_SERVER_PORT", "15075")
    monkeypatch.delenv("EPICS_PVA_BROADCAST_PORT", raising=False)
    monkeypatch.delenv("EPICS_PVA_NAME_SERVERS", raising=False)
    monkeypatch.setenv("CAPROBE_DEFAULT_PROTOCOL", "pva")
    monkeypatch.setattr(env_status, "pva_installed", lambda: True)
    line, tip = env_status.status_text()
    assert line.startswith("CA: ADDR_LIST=10.0.0.255 AUTO=")
    assert "PVA: ADDR_LIST=10.0.1.255 10.0.2.255 AUTO=NO PORTS=15075/5076" in line
    assert line.endswith("bare names: PVA ($CAPROBE_DEFAULT_PROTOCOL)")
    assert "EPICS_PVA_NAME_SERVERS=(empty)" in tip.splitlines()
    assert "EPICS_CA_ADDR_LIST=10.0.0.255" in tip.splitlines()
    monkeypatch.setenv("CAPROBE_DEFAULT_PROTOCOL", "http")
    assert env_status.status_text()[0].endswith(
        "bare names: CA ($CAPROBE_DEFAULT_PROTOCOL not understood)")
    monkeypatch.delenv("CAPROBE_DEFAULT_PROTOCOL")
    assert env_status.status_text()[0].endswith("bare names: CA")


def test_without_p4p_the_line_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "p4p" else real(name, *a))
    monkeypatch.setenv("CAPROBE_DEFAULT_PROTOCOL", "pva")
    line, tip = env_status.status_text()
    assert "PVA: not installed (pip install 'caprobe[pva]')" in line
    assert line.endswith("bare names: CA ($CAPROBE_DEFAULT_PROTOCOL asks for PVA, "
                         "not installed)")
    assert "EPICS_PVA_ADDR_LIST" not in tip


@pytest.mark.parametrize("size", [(800, 600), (1920, 1080)])
def test_status_line_fits_the_window_and_gives_way_to_messages(
        qtbot: Any, make_window: Any, monkeypatch: pytest.MonkeyPatch,
        size: tuple[int, int]) -> None:
    monkeypatch.setenv("EPICS_PVA_ADDR_LIST", " ".join(f"10.0.{i}.255" for i in range(20)))
    window = make_window()
    window.resize(*size)
    qtbot.waitUntil(lambda: window.width() <= size[0], timeout=5000)
    label = window.ca_env_label
    assert window.width() <= size[0]  # the long address list does not widen the window
    assert label.isVisible()
    assert label.geometry().right() <= window.statusBar().width()
    shown = label.elided_text()
    assert shown.startswith("CA: ADDR_LIST=")
    assert shown.endswith("…")  # twenty addresses never fit: cut, with the mark
    assert "EPICS_PVA_ADDR_LIST=10.0.0.255 10.0.1.255" in label.toolTip()
    window.statusBar().showMessage("Wrote 3 to X", 5000)
    assert not label.isVisible()
    window.statusBar().clearMessage()
    assert label.isVisible()
