"""``caprobe`` command: version, tool dispatch, --self-test, and the --demo IOC."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import caprobe
from caprobe.__main__ import main


def run_caprobe(*args: str, env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.pop("DISPLAY", None)
    full_env["QT_QPA_PLATFORM"] = "offscreen"
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "caprobe", *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout)


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"caprobe {caprobe.__version__}"


def test_tools_are_dispatched(monkeypatch):
    import types

    calls = []
    fake = types.SimpleNamespace(main=lambda argv=None: calls.append(argv) or 3)
    monkeypatch.setitem(sys.modules, "caprobe.cli.get", fake)
    assert main(["get", "-w", "2", "some:pv"]) == 3
    assert calls == [["-w", "2", "some:pv"]]


def test_self_test_reads_through_the_probe(softioc_server):
    result = run_caprobe("--self-test", softioc_server.pv("ai"), env=softioc_server.env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{softioc_server.pv('ai')} 1.500 mm"


def test_self_test_failure_is_one_clear_line(softioc_server):
    result = run_caprobe("--self-test", "no:such:pv", "--timeout", "1.5",
                         env=softioc_server.env)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # no Qt chatter, no traceback
    assert lines[0].startswith("caprobe self-test failed:") and "no:such:pv" in lines[0]


def test_self_test_refuses_a_bad_name_in_one_line():
    result = run_caprobe("--self-test", "bad\x07name")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "caprobe self-test failed: Not a PV name: 'bad\\x07name': it contains control "
        "characters; nothing opened"]


def test_demo_ioc_starts_answers_and_stops():
    pytest.importorskip("caproto")
    from caprobe import demo
    from caprobe.ca import read

    saved = {k: os.environ.get(k) for k in ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST",
                                            "EPICS_CA_SERVER_PORT", "EPICS_CA_REPEATER_PORT")}
    ioc = demo.start_demo(timeout=30)
    try:
        assert os.environ["EPICS_CA_SERVER_PORT"] == str(ioc.port)
        assert os.environ["EPICS_CA_ADDR_LIST"] == "127.0.0.1"
        assert float(read("random_walk:dt", timeout=2).data[0]) == demo.DEMO_STEP_SECONDS
        # the walk has taken its first step: it moves as soon as the window opens
        first = read(demo.DEMO_PVS[0], timeout=2).data[0]
        deadline = time.monotonic() + 2 * demo.DEMO_STEP_SECONDS + 1
        moved = False
        while time.monotonic() < deadline and not moved:
            moved = read(demo.DEMO_PVS[0], timeout=2).data[0] != first
        assert moved, "the walk did not step within two periods of start_demo returning"
        process = ioc.process
    finally:
        ioc.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert process.poll() is not None  # gone, killed by PID


def test_demo_without_caproto_says_so(monkeypatch):
    from caprobe import demo

    monkeypatch.setattr(demo.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(demo.DemoError, match="pip install 'caprobe\\[demo\\]'"):
        demo.DemoIOC().start()
