"""The CLI tools against a caproto server (a second, independent CA server implementation)."""

from __future__ import annotations

import pytest
from cli_helpers import AI_CONTROL_DETAILS, run


@pytest.fixture(scope="module")
def ioc(caproto_server):
    return caproto_server


def get(ioc, *args):
    full = [ioc.pv(a[1:]) if a.startswith(":") else a for a in args]
    result = run("get", *full, server=ioc)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_get_scalars_and_arrays(ioc):
    assert get(ioc, ":double", ":enum", ":string", ":long") == [
        f"{ioc.pv('double'):<30} 1.5",
        f"{ioc.pv('enum'):<30} Off",
        f"{ioc.pv('string'):<30} hello",
        f"{ioc.pv('long'):<30} 42",
    ]
    assert get(ioc, "-c", ":int_array", ":double_array") == [
        f"{ioc.pv('int_array')} 5 1 -2 3 4 5",
        f"{ioc.pv('double_array')} 3 0.5 1.5 2.5",
    ]


def test_get_long_string(ioc):
    assert get(ioc, "-S", "-t", ":long_string") == [
        "This long string is longer than forty characters: 0123456789"]


def test_get_control_metadata(ioc):
    assert get(ioc, "-d", "control", ":double")[1:] == AI_CONTROL_DETAILS
    assert get(ioc, "-d", "CTRL_ENUM", ":enum")[4:] == [
        "    Value:            Off",
        "    Status:           NO_ALARM",
        "    Severity:         NO_ALARM",
        "    Enums:            ( 3)",
        "                      [ 0] Off",
        "                      [ 1] On",
        "                      [ 2] Fault",
    ]


def test_put_and_restore(ioc):
    # the session server is shared: restore what is changed
    result = run("put", ioc.pv("enum"), "Fault", server=ioc)
    try:
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [f"Old : {ioc.pv('enum'):<30} Off",
                                              f"New : {ioc.pv('enum'):<30} Fault"]
    finally:
        run("put", ioc.pv("enum"), "Off", server=ioc)
    refused = run("put", ioc.pv("read_only"), "1", server=ioc)
    assert refused.returncode == 1
    assert "no write access" in refused.stderr


def test_monitor_counter(ioc):
    result = run("monitor", "--count", "2", "-t", "n", ioc.pv("counter"), server=ioc)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert len(out) == 2 and all(line.startswith(f"{ioc.pv('counter'):<30}  ") for line in out)
