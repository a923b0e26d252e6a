"""``caprobe --self-test pva://NAME``: the window's own PV Access path, in a subprocess,
against the p4p test server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("p4p")

import pva_servers  # noqa: E402


@pytest.fixture(scope="module")
def p4p_server() -> Iterator[Any]:
    server = pva_servers.start_p4p_server()
    try:
        yield server
    finally:
        server.close()


def self_test(server: Any, pv: str, timeout: str = "8") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(server.pva_env)
    return subprocess.run([sys.executable, "-m", "caprobe", "--self-test", pv,
                           "--timeout", timeout], capture_output=True, text=True, env=env,
                          timeout=60)


def test_self_test_prints_a_pva_scalar(p4p_server: Any) -> None:
    name = f"pva://{p4p_server.pv('double')}"
    result = self_test(p4p_server, name)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{name} 1.500 mm\n"


def test_self_test_prints_an_nttable_as_pvget_does(p4p_server: Any) -> None:
    name = f"pva://{p4p_server.pv('table')}"
    result = self_test(p4p_server, name)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{name} NTTable: 2 rows × 3 columns (a, b, c)"
    assert [line.split() for line in lines[1:]] == [["a", "b", "c"], ["1", "0.5", "x"],
                                                   ["2", "1.5", "y"]]


def test_self_test_of_a_missing_pva_pv_is_one_line(p4p_server: Any) -> None:
    name = f"pva://{p4p_server.pv('no_such_pv')}"
    # the search gives up (not found) after min(2, timeout) s; the self-test at timeout
    result = self_test(p4p_server, name, timeout="3")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("caprobe self-test failed: no value from")
    assert "EPICS_PVA_ADDR_LIST" in lines[0]
