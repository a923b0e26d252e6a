"""The app under faults: an IOC killed and restarted (same port, then another port found by
search) or frozen past EPICS_CA_CONN_TMO while the probe and the strip chart monitor it; 20
dead or silent PVs with the event loop measured by a heartbeat; a server sending malformed
updates; bad PV names typed by an operator.

Every wait polls (qtbot.waitUntil); every server is killed by PID by its fixture.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import servers
from PyQt5.QtCore import Qt, QTimer

from caprobe.gui.probe import Connection

# The scripted CA servers live with the client tests; reuse them rather than copy them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ca"))
from test_ca_fake_server import ECA_NORMAL, FakeServer, message  # noqa: E402
from test_hostile_server import HostileServer, time_double_update  # noqa: E402

WAIT_MS = 15000


def n_samples(chart, pv: str) -> int:
    return len(chart.traces()[pv])


def finite_values(chart, pv: str) -> np.ndarray:
    values = chart.traces()[pv].values
    return values[np.isfinite(values)]


def open_and_chart(qtbot, window, name: str):
    probe = window.open_pv(name)
    window.add_to_chart(name)
    qtbot.waitUntil(lambda: probe.state is Connection.CONNECTED
                    and n_samples(window.chart, name) >= 3, timeout=WAIT_MS)
    return probe


def steps_after(values: np.ndarray, start: int) -> np.ndarray:
    return np.diff(values[start:])


# ---------------------------------------------------------------------------------------------
# IOC faults under the probe and the strip chart


def test_ioc_killed_restarted_same_port_then_new_port(qtbot, make_window, ioc_factory,
                                                      free_port, monkeypatch):
    ioc = ioc_factory.softioc(use_env=True, ramps=())
    # The second incarnation will serve on free_port: both ports are search destinations from
    # the start, as both IOCs would be in a real EPICS_CA_ADDR_LIST.
    monkeypatch.setenv("EPICS_CA_ADDR_LIST", f"127.0.0.1:{ioc.port} 127.0.0.1:{free_port}")
    name = ioc.pv("counter")
    window = make_window()
    probe = open_and_chart(qtbot, window, name)
    chart = window.chart

    def gap_then_recover(restart) -> None:
        before = n_samples(chart, name)
        ioc_process_gone = restart()
        assert ioc_process_gone
        qtbot.waitUntil(lambda: probe.state is Connection.CONNECTED
                        and chart._traces[name].connected
                        and n_samples(chart, name) >= before + 6, timeout=WAIT_MS)
        buf = chart.traces()[name]
        gap = [i for i in range(before - 1, len(buf)) if np.isnan(buf.values[i])]
        assert gap, "no gap drawn for the outage"
        after = buf.values[gap[-1] + 1:]
        assert np.isfinite(after).all()
        # The restarted counter counts from 1 by one every 0.1 s: every update posted after the
        # reconnection arrived.
        assert np.all(np.diff(after) == 1), np.diff(after)

    def same_port() -> bool:
        ioc.kill()
        qtbot.waitUntil(lambda: probe.state is Connection.DISCONNECTED
                        and not chart._traces[name].connected, timeout=WAIT_MS)
        assert probe.alarm_badge.text() == "DISCONNECTED"
        ioc.restart(same_port=True)
        return True

    gap_then_recover(same_port)
    assert probe.channel.port == ioc.tcp_port

    def new_port() -> bool:
        ioc.kill()
        qtbot.waitUntil(lambda: probe.state is Connection.DISCONNECTED, timeout=WAIT_MS)
        moved = ioc_factory.softioc(prefix=ioc.prefix, port=free_port, ramps=())
        assert moved.port != ioc.port
        return True

    gap_then_recover(new_port)
    assert probe.channel.port == free_port
    assert "Connected to" in probe.connection_label.text()


def test_ioc_frozen_past_conn_tmo_is_unresponsive_then_recovers(qtbot, make_window,
                                                                 ioc_factory, monkeypatch):
    ioc = ioc_factory.softioc(use_env=True, ramps=())
    monkeypatch.setenv("EPICS_CA_CONN_TMO", "1.0")
    name = ioc.pv("counter")
    window = make_window()
    probe = open_and_chart(qtbot, window, name)
    chart = window.chart
    ioc.stop()
    try:
        stopped = time.monotonic()
        qtbot.waitUntil(lambda: probe.state is Connection.DISCONNECTED
                        and not chart._traces[name].connected, timeout=WAIT_MS)
        # ECHO after 1 s of silence, flagged after 1 s more without a reply.
        assert time.monotonic() - stopped >= 1.0
        assert probe.state_reason == "unresponsive"
        assert "no reply from the IOC" in probe.connection_label.text()
        before = n_samples(chart, name)
    finally:
        ioc.cont()
    qtbot.waitUntil(lambda: probe.state is Connection.CONNECTED
                    and chart._traces[name].connected
                    and n_samples(chart, name) >= before + 5, timeout=WAIT_MS)
    values = finite_values(chart, name)
    # The IOC was frozen, not restarted: its counter resumes where it stopped and nothing
    # posted after the recovery is missing.
    assert np.all(np.diff(values) == 1), np.diff(values)


# ---------------------------------------------------------------------------------------------
# 20 dead PVs: the event loop never stalls


class Heartbeat:
    """A ``interval_ms`` timer on the GUI thread for ``seconds``: ``max_gap_ms`` is the longest
    wall-clock gap between ticks; ``max_busy_ms`` the most CPU the GUI thread itself used inside
    any gap (our own code blocking the loop, whatever the machine's load)."""

    def __init__(self, qtbot, seconds: float, interval_ms: int = 10) -> None:
        stamps: list[tuple[float, float]] = []
        timer = QTimer()
        timer.setTimerType(Qt.PreciseTimer)
        timer.setInterval(interval_ms)
        timer.timeout.connect(lambda: stamps.append((time.perf_counter(), time.thread_time())))
        timer.start()
        qtbot.wait(int(seconds * 1000))
        timer.stop()
        wall, cpu = (np.diff(np.array(column)) * 1000 for column in zip(*stamps, strict=True))
        self.beats = len(stamps)
        self.max_gap_ms = float(wall.max())
        self.max_busy_ms = float(cpu.max())
        self.busy_in_max_gap_ms = float(cpu[int(wall.argmax())])
        self.load = float(Path("/proc/loadavg").read_text().split()[0])

    def __str__(self) -> str:
        return (f"{self.beats} beats, longest gap {self.max_gap_ms:.1f} ms (GUI thread busy "
                f"{self.busy_in_max_gap_ms:.1f} ms of it), longest GUI-thread burst "
                f"{self.max_busy_ms:.1f} ms, load average {self.load:.1f}")


@pytest.fixture
def silent_and_dead(free_port, monkeypatch) -> Iterator[tuple[list[str], list[str]]]:
    """10 PV names served by a server that answers searches and accepts the circuit but never
    creates a channel, and 10 names searched on a port where nothing listens."""
    dead = servers.reserve_port()
    silent_names = [f"silent:pv{i}" for i in range(10)]
    dead_names = [f"dead:pv{i}" for i in range(10)]
    for key, value in {"EPICS_CA_ADDR_LIST": f"127.0.0.1:{free_port} 127.0.0.1:{dead.port}",
                       "EPICS_CA_AUTO_ADDR_LIST": "NO",
                       "EPICS_CA_SERVER_PORT": str(free_port),
                       "EPICS_CA_REPEATER_PORT": str(free_port + 1)}.items():
        monkeypatch.setenv(key, value)
    server = FakeServer(free_port, set(silent_names), create="silent")
    try:
        yield silent_names, dead_names
    finally:
        with contextlib.suppress(OSError):
            server.close()
        dead.release()


def test_twenty_dead_pvs_never_stall_the_event_loop(qtbot, make_window, silent_and_dead):
    silent_names, dead_names = silent_and_dead
    window = make_window()
    # The same measurement with nothing open: how much of a stall the machine's load alone
    # causes (other test runs and benchmarks share the two cores).
    idle = Heartbeat(qtbot, 0.5)
    window.open_pvs(silent_names + dead_names)
    for name in silent_names[:5] + dead_names[:5]:
        window.add_to_chart(name)
    for probe in window.probes.values():
        window.refresh_metadata(probe.pv_name)  # 60 one-shot reads that can only time out
    # 2.5 s covers the 2 s search timeout, when 10 'not found' events and 60 failed reads land.
    busy = Heartbeat(qtbot, 2.5)
    print(f"\nidle window: {idle}\n20 dead PVs: {busy}")
    # The app's own share: the GUI thread never runs 50 ms without returning to the loop.
    assert busy.max_busy_ms < 50, str(busy)
    # Wall clock: also includes time the OS gave other processes. Asserted when the machine is
    # not overloaded; otherwise reported (pytest -rw) rather than silently loosened.
    if busy.load < os.cpu_count() and idle.max_gap_ms < 25:
        assert busy.max_gap_ms < 50, str(busy)
    elif busy.max_gap_ms >= 50:
        warnings.warn(f"event-loop gap {busy.max_gap_ms:.0f} ms not asserted: machine "
                      f"overloaded (load {busy.load:.1f} on {os.cpu_count()} CPUs, idle-window "
                      f"gap {idle.max_gap_ms:.0f} ms); {busy}", stacklevel=1)
    probes = window.probes
    assert all(p.state is not Connection.CONNECTED for p in probes.values())
    qtbot.waitUntil(lambda: all(probes[n].state is Connection.NOT_FOUND for n in dead_names),
                    timeout=WAIT_MS)
    assert "still searching" in probes[dead_names[0]].connection_label.text()
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 6.0


# ---------------------------------------------------------------------------------------------
# malformed updates reach neither the operator nor the event loop as exceptions


def test_malformed_updates_do_not_break_probe_or_chart(qtbot, make_window, free_port,
                                                       monkeypatch):
    for key, value in servers.loopback_client_env(free_port).items():
        monkeypatch.setenv(key, value)

    def bad_updates(subid: int) -> list:
        updates = [time_double_update(subid, 1.0)]
        for payload, dtype, count in ((b"7".ljust(40, b"\0"), 0, 1),  # STRING for a DOUBLE
                                      (b"\0" * 24, 99, 1),  # no such DBR type
                                      (b"\0" * 24, 20, 500),  # count past the payload
                                      (b"\0" * 8, 20, 1)):  # shorter than TIME metadata
            updates.append(message(1, payload, data_type=dtype, data_count=count,
                                   p1=ECA_NORMAL, p2=subid))
        updates += [("sleep", 0.2), time_double_update(subid, 2.0)]
        return updates

    server = HostileServer(free_port, {"fake:pv"}, on_event_add=bad_updates)
    try:
        window = make_window()
        probe = window.open_pv("fake:pv")
        window.add_to_chart("fake:pv")
        qtbot.waitUntil(lambda: probe.response is not None
                        and float(probe.response.data[0]) == 2.0, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: 2.0 in finite_values(window.chart, "fake:pv"), timeout=WAIT_MS)
        assert probe.state is Connection.CONNECTED
        qtbot.wait(200)  # a few repaints of what arrived
    finally:
        server.close()


# ---------------------------------------------------------------------------------------------
# bad PV names typed by an operator

BAD_NAMES = {
    "too_long": "x" * 600,
    "non_ascii": "tëst:ai",
    "control_char": "bell\x07:ai",
}


def type_into(qtbot, line_edit, text: str) -> None:
    line_edit.setFocus()
    line_edit.setText(text)  # keyClicks cannot type every character (e.g. BEL)
    qtbot.keyClick(line_edit, Qt.Key_Return)


# Fixed in 25da0ba (were strict xfails: a refused name opened a tab that searched forever;
# non-ASCII and control characters split the name into fragments that were opened as PVs).
def test_bad_names_typed_in_the_pv_field_open_nothing(qtbot, make_window, monkeypatch):
    import caprobe.ca as ca

    window = make_window()
    searched: list[str] = []
    original = ca.subscribe
    monkeypatch.setattr(ca, "subscribe", lambda name, *a, **k: (searched.append(name),
                                                                original(name, *a, **k))[1])
    for case in ["empty", "too_long", "non_ascii", "control_char"]:
        window.statusBar().clearMessage()
        type_into(qtbot, window.pv_entry, "" if case == "empty" else BAD_NAMES[case])
        qtbot.wait(200)  # the subscribe task would run on a pool thread by now
        assert window.probes == {}, f"{case}: opened {list(window.probes)}"
        assert searched == [], case
        if case != "empty":
            message = window.statusBar().currentMessage()
            assert message and "\n" not in message and len(message) < 300, (case, message)


def test_bad_names_for_the_strip_chart_are_one_message_each_and_no_trace(qtbot, make_window):
    window = make_window()
    chart = window.chart
    messages: list[str] = []
    chart.message.connect(messages.append)
    for case in sorted(BAD_NAMES) + ["with_space", "empty"]:
        messages.clear()
        name = {"with_space": "a b", "empty": ""}.get(case, BAD_NAMES.get(case))
        assert chart.add_pv(name) is False, case
        assert chart.pv_names() == [] and chart.traces() == {}, case
        assert len(messages) == 1 and "\n" not in messages[0], (case, messages)


# ---------------------------------------------------------------------------------------------
# values an operator types that the PV cannot hold: one message, nothing written


@pytest.fixture(scope="module")
def writable_ioc() -> Iterator[servers.Server]:
    """A private soft IOC for the write tests (a buggy write must not change the session
    IOC other tests read)."""
    server = servers.start_softioc(ramps=())
    try:
        yield server
    finally:
        server.close()


def _write_typed(qtbot, probe, text: str) -> str:
    panel = probe.write_panel
    panel.line_edit.setText(text)
    panel._mark_dirty()
    panel.write_current()
    qtbot.waitUntil(lambda: not panel._busy, timeout=WAIT_MS)
    return panel.status_label.text()


@pytest.mark.parametrize(("suffix", "typed"), [
    ("str", "x" * 37 + "€"),  # 38 characters but 40 bytes in UTF-8: never cut to 39
    ("lso.VAL$", "price: " + "€" * 65),  # 72 characters, 202 bytes: over 199 + NUL
    ("ao", "1e400"),  # overflows to inf: outside the control limits
    ("ao", "12 kV"),  # units that are not the PV's
    ("long", "0.5"),
])
def test_unwritable_text_is_refused_with_one_message(qtbot, make_window, writable_ioc, ca_env,
                                                      suffix, typed):
    import caprobe.ca as ca

    name = ca_env(writable_ioc).pv(suffix)
    window = make_window()
    probe = window.open_pv(name)
    qtbot.waitUntil(lambda: probe.response is not None and probe.ctrl is not None,
                    timeout=WAIT_MS)
    before = ca.read(name, timeout=5.0).data
    status = _write_typed(qtbot, probe, typed)
    after = ca.read(name, timeout=5.0).data
    assert np.array_equal(np.asarray(after), np.asarray(before)), (before, after, status)
    assert status and "\n" not in status
    assert "nothing was" in status.lower(), status


# ---------------------------------------------------------------------------------------------
# text that comes from the IOC is shown as it is, never interpreted as markup


def shown_literally(label) -> bool:
    """True when a QLabel shows its text as plain text (Qt.AutoText renders anything that
    looks like HTML as rich text)."""
    from PyQt5.QtCore import Qt as _Qt

    fmt = label.textFormat()
    return fmt == _Qt.PlainText or (fmt == _Qt.AutoText and not _Qt.mightBeRichText(
        label.text()))


# Was a strict xfail until d6d2141: the labels rendered such text as rich text.
def test_ioc_text_that_looks_like_html_is_shown_literally(qtbot, make_window, writable_ioc,
                                                          ca_env):
    import caprobe.ca as ca

    name = ca_env(writable_ioc).pv("str")
    markup = "<b>bold</b> <i>x</i>"
    ca.write(name, markup, timeout=5.0)
    ca.write(name + ".DESC", "<font color=red>desc</font>", timeout=5.0)
    window = make_window()
    probe = window.open_pv(name)
    qtbot.waitUntil(lambda: probe.response is not None and probe.desc is not None
                    and "desc" in probe.desc_label.text(), timeout=WAIT_MS)
    assert markup in probe.value_label.text()
    assert shown_literally(probe.value_label), probe.value_label.text()
    assert shown_literally(probe.desc_label), probe.desc_label.text()


def _slow_probe(qtbot, window, ioc):
    import caprobe.ca as ca

    probe = window.open_pv(ioc.pv("slow"))  # the put-callback completes ~0.5 s after a write
    qtbot.waitUntil(lambda: probe.response is not None and probe.ctrl is not None,
                    timeout=WAIT_MS)
    # PINI starts the 0.5 s delay at IOC start; a put while it runs completes at once.
    qtbot.waitUntil(lambda: int(ca.read(ioc.pv("slow:delay.PACT"), data_type="native",
                                        timeout=2.0).data[0]) == 0, timeout=WAIT_MS)
    panel = probe.write_panel
    panel.callback_box.setChecked(True)
    panel.line_edit.setText("4")
    panel._mark_dirty()
    return probe, panel


def test_ioc_killed_during_put_callback_write_gives_one_message(qtbot, make_window,
                                                                 ioc_factory):
    import caprobe.ca as ca

    ioc = ioc_factory.softioc(use_env=True, ramps=())
    window = make_window()
    probe, panel = _slow_probe(qtbot, window, ioc)
    panel.timeout_spin.setValue(30.0)
    shown: list[str] = []
    original_set_text = panel.status_label.setText
    panel.status_label.setText = lambda text: (shown.append(text), original_set_text(text))
    panel.write_current()
    assert panel._busy
    # The record takes the value at once and completes 0.5 s later: kill it in between.
    qtbot.waitUntil(lambda: float(ca.read(ioc.pv("slow"), timeout=2.0).data[0]) == 4.0,
                    timeout=WAIT_MS)
    ioc.kill()
    started = time.monotonic()
    qtbot.waitUntil(lambda: not panel._busy, timeout=WAIT_MS)
    # The circuit dies with the IOC: the 30 s completion timeout is not waited out.
    assert time.monotonic() - started < 5.0
    failures = [text for text in shown if text.startswith("Write failed")]
    assert "\n" not in failures[0], shown
    qtbot.waitUntil(lambda: probe.state is Connection.DISCONNECTED, timeout=WAIT_MS)
    # The disconnect, whenever it is noticed, adds its reason but never hides the failure.
    final = panel.status_label.text()
    assert final.startswith(failures[0]), shown
    assert final.endswith("(Not connected: nothing can be written.)"), shown
    assert {text.split(" (Not connected")[0] for text in shown
            if text.startswith("Write failed")} == {failures[0]}, shown


# Was a strict xfail until 0d39c15: the put-callback timeout also bounded the search, so the
# panel stayed busy for all of it.
def test_write_to_a_just_died_ioc_fails_after_the_search_timeout(qtbot, make_window,
                                                                 free_port, monkeypatch):
    from caprobe.gui.workers import READ_TIMEOUT

    for key, value in servers.loopback_client_env(free_port).items():
        monkeypatch.setenv(key, value)
    server = FakeServer(free_port, {"fake:pv"})
    window = make_window()
    probe = window.open_pv("fake:pv")
    qtbot.waitUntil(lambda: probe.state is Connection.CONNECTED, timeout=WAIT_MS)
    panel = probe.write_panel
    panel.callback_box.setChecked(True)
    panel.timeout_spin.setValue(READ_TIMEOUT + 1.5)
    panel.line_edit.setText("4")
    panel._mark_dirty()
    server.close()  # gone: no more search replies
    panel.write_current()  # the monitor has not reported it yet
    assert panel._busy
    started = time.monotonic()
    failed_in = float("inf")
    try:
        qtbot.waitUntil(lambda: not panel._busy, timeout=int((READ_TIMEOUT + 0.8) * 1000))
        failed_in = time.monotonic() - started
    except Exception:  # noqa: BLE001 - judged below, after the worker has finished
        pass
    finally:
        qtbot.waitUntil(lambda: not panel._busy, timeout=WAIT_MS)  # no thread left running
    assert failed_in < READ_TIMEOUT + 0.8
