"""What the command-line tools import: reading, writing, monitoring scalars never loads numpy.

numpy alone is ~50 ms of a ~100 ms start-up; the tools print scalars and small arrays from
plain Python values (``caprobe.ca`` responses' ``.tolist()``), so an operator's one-PV
``caprobe-get`` does not pay for it. Each tool runs as installed, under ``python -X importtime``
(which lists every module the process imports), against the session soft IOC.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
from cli_helpers import AI_CONTROL_DETAILS, LineReader, tool_command, tool_env

# Scalars of every native type: DOUBLE, LONG, ENUM (mbbo, bo), STRING, SHORT, FLOAT, CHAR
# (UDF is a DBF_UCHAR), and a STRING field.
SCALARS = (":ai", ":long", ":mbbo", ":bo", ":str", ":short", ":float", ":ai.UDF", ":ao.EGU")
SCALAR_VALUES = ["1.5", "42", "Zero", "Off", "hello", "7", "2.5", "0", "V"]


@pytest.fixture(scope="module")
def ioc(softioc_server):
    return softioc_server


def imported_modules(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines (``import time: self | cumulative | name``)."""
    return {match.group(1) for match in re.finditer(r"^import time:.*\|\s*(\S+)\s*$", stderr,
                                                   re.MULTILINE)}


def run_traced(ioc, tool: str, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run caprobe-<tool> (PV suffixes start with ':') under -X importtime."""
    full = [ioc.pv(a[1:]) if a.startswith(":") else a for a in args]
    command = tool_command(tool)
    if command[0] != sys.executable:
        command = [sys.executable, *command]  # the console script, run by this Python
    result = subprocess.run([command[0], "-X", "importtime", *command[1:], *full],
                            env=tool_env(ioc), capture_output=True, text=True, timeout=60,
                            check=False)
    modules = imported_modules(result.stderr)
    errors = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert result.returncode == 0, errors
    assert not errors
    return result, modules


def test_the_trace_sees_every_import():
    # The check below would pass vacuously if the trace format were misread: read numpy's.
    result = subprocess.run([sys.executable, "-X", "importtime", "-c",
                             "import caprobe.cli.get, numpy"],
                            capture_output=True, text=True, timeout=60, check=True)
    modules = imported_modules(result.stderr)
    assert {"caprobe.cli.get", "caprobe.format", "numpy"} <= modules


def test_get_of_scalars_imports_no_numpy(ioc):
    result, modules = run_traced(ioc, "get", *SCALARS)
    assert "caprobe.cli.get" in modules
    assert "numpy" not in modules
    values = [line.split(None, 1)[1] for line in result.stdout.splitlines()]
    assert values == SCALAR_VALUES


@pytest.mark.parametrize("options", [["-a"], ["-t", "-lx"], ["-n", "-0x"], ["-s"], ["-#", "1"],
                                     ["-F", ","]])
def test_get_options_on_scalars_import_no_numpy(ioc, options):
    result, modules = run_traced(ioc, "get", *options, *SCALARS)
    assert "numpy" not in modules
    assert len(result.stdout.splitlines()) == len(SCALARS)


def test_get_details_imports_no_numpy(ioc):
    result, modules = run_traced(ioc, "get", "-d", "control", ":ai")
    assert "numpy" not in modules
    assert result.stdout.splitlines()[1:] == AI_CONTROL_DETAILS


def test_get_of_small_arrays_imports_no_numpy(ioc):
    result, modules = run_traced(ioc, "get", ":wf_double", ":wf_float", ":wf_short",
                                 ":wf_long", ":wf_char", ":lso")
    assert "numpy" not in modules
    assert result.stdout.splitlines()[0].split()[1:] == [
        "10", "0.5", "1.5", "2.5", "3.5", "4.5", "0", "0", "0", "0", "0"]


def test_info_and_put_of_scalars_import_no_numpy(private_ioc):
    _, modules = run_traced(private_ioc, "info", ":ai", ":mbbo")
    assert "numpy" not in modules
    for pv, value in ((":ao", "3.5"), (":long", "-7"), (":mbbo", "One"), (":str", "abc")):
        result, modules = run_traced(private_ioc, "put", pv, value)
        assert "numpy" not in modules
        assert result.stdout.splitlines()[-1].split()[-1] == value


def test_monitor_of_scalars_imports_no_numpy(ioc):
    command = tool_command("monitor")
    if command[0] != sys.executable:
        command = [sys.executable, *command]
    process = subprocess.Popen([command[0], "-X", "importtime", *command[1:], ioc.pv("counter"),
                                ioc.pv("mbbo"), ioc.pv("str")], env=tool_env(ioc),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reader = LineReader(process)
        for name in ("counter", "mbbo", "str"):
            reader.wait_for(lambda line, name=name: line.startswith(ioc.pv(name)))
        reader.wait_for(lambda line: line.startswith(ioc.pv("counter")))  # an update
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    modules = imported_modules(stderr)
    assert "caprobe.cli.monitor" in modules
    assert "numpy" not in modules
