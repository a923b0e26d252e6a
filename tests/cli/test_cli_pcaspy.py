"""The CLI tools against pcaspy (EPICS base's portable CA server library, PCAS): a third,
independent server implementation."""

from __future__ import annotations

import pytest
from cli_helpers import AI_CONTROL_DETAILS, run


@pytest.fixture(scope="module")
def ioc(pcaspy_server):
    return pcaspy_server


def tool(ioc, name, *args):
    full = [ioc.pv(a[1:]) if a.startswith(":") else a for a in args]
    return run(name, *full, server=ioc)


def lines(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_get_scalars_and_arrays(ioc):
    assert lines(tool(ioc, "get", ":double", ":enum", ":string", ":long", ":short")) == [
        f"{ioc.pv('double'):<30} 1.5",
        f"{ioc.pv('enum'):<30} Off",
        f"{ioc.pv('string'):<30} hello",
        f"{ioc.pv('long'):<30} 42",
        f"{ioc.pv('short'):<30} 7",
    ]
    assert lines(tool(ioc, "get", ":double_array", ":long_array")) == [
        f"{ioc.pv('double_array')} 10 0.5 1.5 2.5 3.5 4.5 0 0 0 0 0",
        f"{ioc.pv('long_array')} 10 1 -2 3 2147483647 -2147483648 0 0 0 0 0",
    ]
    assert lines(tool(ioc, "get", "-c", ":double_array")) == [
        f"{ioc.pv('double_array')} 5 0.5 1.5 2.5 3.5 4.5"]
    assert lines(tool(ioc, "get", "-S", "-t", ":char_array")) == ["hello world"]


def test_get_control_metadata_matches_the_soft_iocs(ioc):
    # Same units, precision and limits as the softioc's ai: the same caget -d block.
    assert lines(tool(ioc, "get", "-d", "control", ":double"))[1:] == AI_CONTROL_DETAILS


def test_get_a_type_pcas_cannot_convert_is_one_line(ioc):
    result = tool(ioc, "get", "-d", "DBR_DOUBLE", ":string")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().endswith("(ECA_NOCONVERT)")
    assert len(result.stderr.splitlines()) == 1


def test_put_old_and_new_then_restore(ioc):
    assert lines(tool(ioc, "put", ":enum", "Fault")) == [
        f"Old : {ioc.pv('enum'):<30} Off", f"New : {ioc.pv('enum'):<30} Fault"]
    assert lines(tool(ioc, "put", "-c", ":enum", "0")) == [
        f"Old : {ioc.pv('enum'):<30} Fault", f"New : {ioc.pv('enum'):<30} Off"]


def test_put_callback_waits_for_pcaspys_asynchronous_completion(ioc):
    result = tool(ioc, "put", "-c", "-w", "0.2", ":slow", "3")
    assert result.returncode == 1
    assert result.stderr.startswith("Write callback operation timed out")
    assert lines(tool(ioc, "put", "-c", "-w", "5", ":slow", "0"))[1] == (
        f"New : {ioc.pv('slow'):<30} 0")


def test_monitor_counts_without_gaps(ioc):
    result = tool(ioc, "monitor", "-t", "n", "-#", "1", "--count", "20", ":counter")
    assert result.returncode == 0, result.stderr
    values = [int(line.split()[-1]) for line in result.stdout.splitlines()]
    assert len(values) == 20
    assert [b - a for a, b in zip(values, values[1:], strict=False)] == [1] * 19


def test_info(ioc):
    block = lines(tool(ioc, "info", ":char_array"))
    assert block[0] == ioc.pv("char_array")
    assert block[4:] == ["    Native data type: DBF_CHAR", "    Request type:     DBR_CHAR",
                         "    Element count:    256"]
