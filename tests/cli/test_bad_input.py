"""Bad input to every CLI tool, as an operator types it: malformed PV names (spaces, 600
characters, non-ASCII, control characters, empty) and values that do not parse, do not fit or
may not be written. Each gives exit status 1, exactly one line on stderr, never a traceback,
and nothing written (read back with caprobe.ca after the attempt).

One case per tool, and a few refused values, run the installed entry points as subprocesses
(on a small thread pool); the other cases call the same ``main(argv)`` in-process, which is
what each entry point runs, to keep the suite fast. The assertions only look at the finished
results; an exception that reaches the tools' last line of defence ("caprobe-get: KeyError:
...") counts as a failure too.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import servers
from cli_helpers import run

from caprobe import ca

BAD_NAMES = {
    "space": "bad name",
    "long_600": "x" * 600,
    "non_ascii": "tëst:ai",
    "control_char": "bell\x07:ai",
    "empty": "",
}
# (tool, name case)
NAME_RUNS = ([("get", case) for case in BAD_NAMES] + [("put", case) for case in BAD_NAMES]
             + [("info", case) for case in BAD_NAMES] + [("monitor", case) for case in BAD_NAMES])

# (suffix, caprobe-put arguments, fragment of the message)
VALUE_RUNS = {
    "not_a_number": ("ao", ["abc"], "not a number"),
    "empty_value": ("ao", [""], "empty value"),
    "fraction_to_long": ("long", ["1.5"], "not an integer"),
    "underscore_number": ("long", ["1_000"], "not a number"),
    "long_overflow": ("long", ["99999999999"], "out of range"),
    "short_underflow": ("short", ["-40000"], "out of range"),
    "unknown_state": ("bo", ["Maybe"], "not a state"),
    "state_index_past_end": ("mbbo", ["16"], "out of range"),
    "string_too_long": ("str", ["x" * 40], "40"),
    "read_only": ("ro", ["1"], "no write access"),
    "array_bad_element": ("wf_short", ["-a", "2", "1", "zz"], "not a number"),
}


@contextmanager
def client_env(server: servers.Server) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in server.env}
    os.environ.update(server.env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# Run as real subprocesses; everything else in-process.
SUBPROCESS_RUNS = {"get:space", "put:long_600", "info:non_ascii", "monitor:control_char",
                   "value:not_a_number", "value:read_only", "mixed"}


def run_in_process(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    main = importlib.import_module(f"caprobe.cli.{tool}").main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess([tool, *args], code, out.getvalue(), err.getvalue())


def read_value(server: servers.Server, suffix: str) -> Any:
    data = ca.read(server.pv(suffix), timeout=5.0, repeater=False).data
    return list(data) if isinstance(data, list) else np.asarray(data).tolist()


@pytest.fixture(scope="module")
def results(private_ioc: servers.Server) -> dict[str, Any]:
    """Every run's CompletedProcess (and the PV values before and after the refused puts)."""
    ioc = private_ioc
    jobs: dict[str, tuple[str, list[str]]] = {}
    for tool, case in NAME_RUNS:
        name = BAD_NAMES[case]
        jobs[f"{tool}:{case}"] = (tool, [name, "1"] if tool == "put" else [name])
    for case, (suffix, args, _) in VALUE_RUNS.items():
        options = [a for a in args if a.startswith("-") and len(a) == 2 and a[1].isalpha()]
        values = [a for a in args if a not in options]
        jobs[f"value:{case}"] = ("put", [*options, ioc.pv(suffix), *values])
    jobs["mixed"] = ("get", [ioc.pv("ai"), "bad name", ioc.pv("str")])
    suffixes = sorted({suffix for suffix, _, _ in VALUE_RUNS.values()})
    with client_env(ioc):
        before = {s: read_value(ioc, s) for s in suffixes}
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {key: pool.submit(run, tool, *args, server=ioc, timeout=30)
                       for key, (tool, args) in jobs.items() if key in SUBPROCESS_RUNS}
            out: dict[str, Any] = {key: run_in_process(tool, *args)
                                   for key, (tool, args) in jobs.items()
                                   if key not in SUBPROCESS_RUNS}
            out.update({key: future.result() for key, future in futures.items()})
        after = {s: read_value(ioc, s) for s in suffixes}
    out["before"], out["after"] = before, after
    return out


def assert_one_line_refusal(result: Any) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Error:" not in lines[0], f"an exception reached the last line of defence: {lines}"
    return lines[0]


@pytest.mark.parametrize(("tool", "case"), NAME_RUNS)
def test_bad_pv_name_is_one_line_and_exit_1(results, tool, case):
    result = results[f"{tool}:{case}"]
    line = assert_one_line_refusal(result)
    assert result.stdout == ""
    assert "PV name" in line
    if case == "long_600":
        assert "500" in line


@pytest.mark.parametrize("case", sorted(VALUE_RUNS))
def test_bad_value_is_one_line_and_nothing_is_written(results, private_ioc, case):
    suffix, _, fragment = VALUE_RUNS[case]
    result = results[f"value:{case}"]
    line = assert_one_line_refusal(result)
    assert result.stdout == ""  # no Old/New lines
    assert fragment in line and private_ioc.pv(suffix) in line, line
    assert results["after"][suffix] == results["before"][suffix]


def test_one_bad_name_among_good_ones(results, private_ioc):
    result = results["mixed"]
    line = assert_one_line_refusal(result)
    assert "bad name" in line
    printed = result.stdout.splitlines()
    assert [row.split()[0] for row in printed] == [private_ioc.pv("ai"), private_ioc.pv("str")]


# Was a strict xfail until e44055c: units and enum states were printed raw.
def test_metadata_text_from_the_ioc_cannot_drive_the_terminal(private_ioc):
    ioc = private_ioc
    with client_env(ioc):
        ca.write(ioc.pv("ai.EGU"), b"mm\x1b[2J", timeout=5.0, repeater=False)
        ca.write(ioc.pv("bo.ONAM"), b"On\x1b]0;x\x07", timeout=5.0, repeater=False)
    try:
        units = run("get", "-d", "DBR_CTRL_DOUBLE", ioc.pv("ai"), server=ioc)
        states = run("get", "-d", "DBR_CTRL_ENUM", ioc.pv("bo"), server=ioc)
    finally:
        with client_env(ioc):
            ca.write(ioc.pv("ai.EGU"), "mm", timeout=5.0, repeater=False)
            ca.write(ioc.pv("bo.ONAM"), "On", timeout=5.0, repeater=False)
    for result in (units, states):
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout, result.stdout
