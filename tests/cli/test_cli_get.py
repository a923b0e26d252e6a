"""caprobe-get against the session soft IOC (EPICS base rsrv), compared with caget's formats.

Expected lines are written out by hand from EPICS base's caget (modules/ca/src/tools: caget.c,
tool_lib.c): name padded to 30 for scalars, ``count v1 v2`` for arrays, ``%g`` floats, the
``-d`` field layout.  No caget binary exists in the test environment to compare against.
"""

from __future__ import annotations

import re

import pytest
from cli_helpers import AI_CONTROL_DETAILS, run

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"


@pytest.fixture(scope="module")
def ioc(softioc_server):
    return softioc_server


def get(ioc, *args, **kwargs):
    # PV arguments are given as suffixes starting with ':' and get the IOC prefix.
    full = [ioc.pv(a[1:]) if a.startswith(":") else a for a in args]
    return run("get", *full, server=ioc, **kwargs)


def lines(ioc, text):
    """Output lines with the random PV prefix replaced by 'P:' so expectations read like the
    db; a name that the tool padded to 30 columns is re-padded to 30 after the replacement."""
    return [unprefix(ioc.prefix, line) for line in text.splitlines()]


def unprefix(prefix, line):
    padded = re.match(rf"({re.escape(prefix)}\S*)( +)(.*)$", line)
    if padded and len(padded.group(1)) + len(padded.group(2)) == 31:
        name = "P:" + padded.group(1)[len(prefix):]
        return f"{name:<30} {padded.group(3)}"
    return line.replace(prefix, "P:")


def test_scalars_default_format(ioc):
    result = get(ioc, ":ai", ":ao", ":long", ":bo", ":mbbo", ":str", ":short", ":float",
                 ":ai.PREC")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert lines(ioc, result.stdout) == [
        "P:ai                           1.5",
        "P:ao                           0",
        "P:long                         42",
        "P:bo                           Off",
        "P:mbbo                         Zero",
        "P:str                          hello",
        "P:short                        7",
        "P:float                        2.5",
        "P:ai.PREC                      3",
    ]


def test_arrays_native_count_with_zeros_past_nord(ioc):
    result = get(ioc, ":wf_double", ":wf_float", ":wf_long", ":wf_short")
    assert result.returncode == 0, result.stderr
    assert lines(ioc, result.stdout) == [
        "P:wf_double 10 0.5 1.5 2.5 3.5 4.5 0 0 0 0 0",
        "P:wf_float 10 0.25 -0.25 1.75 0 0 0 0 0 0 0",
        "P:wf_long 10 1 -2 3 2147483647 -2147483648 0 0 0 0 0",
        "P:wf_short 10 1 -2 3 32767 -32768 0 0 0 0 0",
    ]


def test_dynamic_count_and_requested_count(ioc):
    result = get(ioc, "-c", ":wf_double", ":wf_empty")
    assert lines(ioc, result.stdout) == [
        "P:wf_double 5 0.5 1.5 2.5 3.5 4.5",
        "P:wf_empty                     ",  # no element: name padded, nothing after it
    ]
    result = get(ioc, "-#", "3", ":wf_double", ":ai")
    assert lines(ioc, result.stdout) == [
        "P:wf_double 3 0.5 1.5 2.5",
        "P:ai                           1 1.5",  # a requested count is always printed
    ]
    assert lines(ioc, get(ioc, "-#2", "-t", ":wf_long").stdout) == ["2 1 -2"]


def test_terse(ioc):
    result = get(ioc, "-t", ":ai", ":wf_double", ":bo")
    assert lines(ioc, result.stdout) == ["1.5", "10 0.5 1.5 2.5 3.5 4.5 0 0 0 0 0", "Off"]


def test_wide_mode(ioc):
    result = get(ioc, "-a", ":ai", ":mbbo", ":wf_empty")
    assert result.returncode == 0, result.stderr
    out = lines(ioc, result.stdout)
    assert re.fullmatch(rf"P:ai {{26}} {STAMP} 1\.5  ", out[0]), out[0]
    assert re.fullmatch(rf"P:mbbo {{24}} {STAMP} Zero  ", out[1]), out[1]
    # never processed: zero stamp (printed as EPICS base does), UDF INVALID because nonzero
    assert out[2] == "P:wf_empty <undefined> 10 0 0 0 0 0 0 0 0 0 0 UDF INVALID"


def test_wide_mode_nanoseconds(ioc):
    out = lines(ioc, get(ioc, "-a", "--ns", ":ai").stdout)
    assert re.fullmatch(r"P:ai {26} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} 1\.5  ", out[0])


def test_enum_as_number_and_float_formats(ioc):
    assert lines(ioc, get(ioc, "-n", ":bo", ":mbbo").stdout) == [
        "P:bo                           0", "P:mbbo                         0"]
    # -s: the server formats with PREC 3
    assert lines(ioc, get(ioc, "-s", ":ai", ":long").stdout) == [
        "P:ai                           1.500", "P:long                         42"]
    assert lines(ioc, get(ioc, "-t", "-f", "2", ":ai").stdout) == ["1.50"]
    assert lines(ioc, get(ioc, "-t", "-e1", ":ai").stdout) == ["1.5e+00"]
    assert lines(ioc, get(ioc, "-t", "-g", "1", ":ai").stdout) == ["2"]
    # last float format wins, as in caget
    assert lines(ioc, get(ioc, "-t", "-f3", "-lx", ":ai").stdout) == ["0x2"]
    assert lines(ioc, get(ioc, "-t", "-lx", "-f3", ":ai").stdout) == ["1.500"]
    assert lines(ioc, get(ioc, "-t", "-lb", ":wf_float").stdout) == [
        "10 0 0 10 0 0 0 0 0 0 0"]  # 0.25, -0.25, 1.75: +-0.5 then truncated, as caget
    # -l only touches floats (integers follow -0x), as in caget
    assert lines(ioc, get(ioc, "-t", "-lx", "-#", "2", ":wf_long").stdout) == ["2 1 -2"]


def test_integer_formats(ioc):
    assert lines(ioc, get(ioc, "-t", "-0x", ":long", ":wf_short").stdout) == [
        "0x2A", "10 0x1 0xFFFFFFFE 0x3 0x7FFF 0xFFFF8000 0x0 0x0 0x0 0x0 0x0"]
    assert lines(ioc, get(ioc, "-t", "-0o", ":long").stdout) == ["0o52"]
    assert lines(ioc, get(ioc, "-t", "-0b", ":long").stdout) == ["101010"]


def test_field_separator(ioc):
    assert lines(ioc, get(ioc, "-F", ",", ":ai", ":wf_double").stdout) == [
        "P:ai,1.5", "P:wf_double,10,0.5,1.5,2.5,3.5,4.5,0,0,0,0,0"]
    out = lines(ioc, get(ioc, "-a", "-F", ";", ":wf_empty").stdout)
    assert out == ["P:wf_empty;<undefined>;10;0;0;0;0;0;0;0;0;0;0;UDF;INVALID"]


def test_char_array_as_string(ioc):
    assert lines(ioc, get(ioc, "-S", ":wf_char", ":lso_long.VAL$").stdout) == [
        "P:wf_char hello world",
        "P:lso_long.VAL$ This long string is longer than forty characters: 0123456789",
    ]
    # without -S: numbers (caget prints the char array element by element)
    out = get(ioc, "-#", "5", ":wf_char").stdout
    assert lines(ioc, out) == ["P:wf_char 5 104 101 108 108 111"]


def test_details_control_double(ioc):
    result = get(ioc, "-d", "control", ":ai")
    assert result.returncode == 0, result.stderr
    assert lines(ioc, result.stdout) == ["P:ai", *AI_CONTROL_DETAILS]
    # the same type by name and by number
    assert get(ioc, "-d", "DBR_CTRL_DOUBLE", ":ai").stdout == result.stdout
    assert get(ioc, "-d", "34", ":ai").stdout == result.stdout


def test_details_ctrl_long_integer_limits(ioc):
    assert lines(ioc, get(ioc, "-d", "CTRL_LONG", ":long").stdout)[4:] == [
        "    Value:            42",
        "    Status:           NO_ALARM",
        "    Severity:         NO_ALARM",
        "    Units:            cts",
        "    Lo disp limit:       -1000",
        "    Hi disp limit:        1000",
        "    Lo alarm limit:          0",
        "    Lo warn limit:           0",
        "    Hi warn limit:           0",
        "    Hi alarm limit:          0",
        "    Lo ctrl limit:       -1000",
        "    Hi ctrl limit:        1000",
    ]


def test_details_enum_states(ioc):
    out = lines(ioc, get(ioc, "-d", "ctrl_enum", ":mbbo").stdout)
    assert out[:8] == [
        "P:mbbo",
        "    Native data type: DBF_ENUM",
        "    Request type:     DBR_CTRL_ENUM",
        "    Element count:    1",
        "    Value:            Zero",
        "    Status:           NO_ALARM",
        "    Severity:         NO_ALARM",
        "    Enums:            (16)",
    ]
    assert out[8] == "                      [ 0] Zero"
    assert out[23] == "                      [15] Twenty-five char state!!!"
    assert len(out) == 24


def test_details_time_string_and_class_name(ioc):
    out = lines(ioc, get(ioc, "-d", "DBR_TIME_STRING", ":ai").stdout)
    assert out[2:5] == [
        "    Request type:     DBR_TIME_STRING",
        "    Element count:    1",
        "    Value:            1.500",  # converted by the server with PREC 3
    ]
    assert re.fullmatch(rf"    Timestamp:        {STAMP}", out[5])
    assert out[6:] == ["    Status:           NO_ALARM", "    Severity:         NO_ALARM"]
    out = lines(ioc, get(ioc, "-d", "TIME_DOUBLE", ":wf_empty").stdout)
    assert out[3:] == [
        "    Element count:    10",
        "    Value:            0 0 0 0 0 0 0 0 0 0",
        "    Timestamp:        <undefined>",
        "    Status:           UDF",
        "    Severity:         INVALID",
    ]
    assert lines(ioc, get(ioc, "-d", "CLASS_NAME", ":mbbo").stdout) == [
        "P:mbbo",
        "    Native data type: DBF_ENUM",
        "    Request type:     DBR_CLASS_NAME",
        "    Class Name:       mbbo",
    ]


def test_details_bad_type_is_a_usage_error(ioc):
    result = get(ioc, "-d", "CTRL_BOGUS", ":ai")
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "unknown DBR type 'CTRL_BOGUS'" in result.stderr


def test_not_found_is_one_stderr_line_and_exit_1(ioc):
    result = get(ioc, "-w", "0.3", ":ai", "no:such:pv", ":long")
    assert result.returncode == 1
    assert lines(ioc, result.stdout) == ["P:ai                           1.5",
                                         "P:long                         42"]
    assert result.stderr == "Channel connect timed out: 'no:such:pv' not found.\n"


def test_verbose_shows_the_full_error_otherwise_never(ioc):
    quiet = get(ioc, "-w", "0.2", "no:such:pv")
    assert quiet.stderr == "Channel connect timed out: 'no:such:pv' not found.\n"
    loud = get(ioc, "-v", "-w", "0.2", "no:such:pv")
    assert loud.returncode == 1
    assert loud.stderr.startswith("Channel connect timed out: 'no:such:pv' not found.\n")
    # the client's own words after caget's: the exception, where it searched
    assert "CATimeoutError: PV 'no:such:pv' not found within 0.2 s" in loud.stderr
    assert "127.0.0.1:" in loud.stderr


def test_bad_pv_name_is_one_line(ioc):
    result = get(ioc, "bad name")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert "white space" in result.stderr


def test_usage_errors(ioc):
    for args in (["--bogus", ":ai"], ["-w", "abc", ":ai"], ["-p", "100", ":ai"], [],
                 ["-t", "-a", ":ai"], ["-0z", ":ai"], ["-e", "40", ":ai"]):
        result = get(ioc, *args)
        assert result.returncode == 1, args
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_help_and_version(ioc):
    result = get(ioc, "-h")
    assert result.returncode == 0
    assert "-d TYPE" in result.stdout
    version = get(ioc, "-V")
    assert version.returncode == 0 and "caprobe" in version.stdout


def test_priority_option(ioc):
    assert lines(ioc, get(ioc, "-p", "50", "-t", ":ai").stdout) == ["1.5"]


def test_python_dash_m_entry_point(ioc):
    import subprocess
    import sys

    from cli_helpers import tool_env

    result = subprocess.run([sys.executable, "-m", "caprobe.cli.get", "-t", ioc.pv("ai")],
                            env=tool_env(ioc), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "1.5\n"


def test_epics_cli_timeout_environment():
    from caprobe.cli import common

    assert common.default_timeout({}) == 1.0
    assert common.default_timeout({"EPICS_CLI_TIMEOUT": "2.5"}) == 2.5
    assert common.default_timeout({"EPICS_CLI_TIMEOUT": "soon"}) == 1.0


def test_epics_cli_timeout_is_used(ioc):
    # An invalid value is reported (one line) and the default used; the PV is then read.
    result = get(ioc, "-t", ":ai", env={"EPICS_CLI_TIMEOUT": "soon"})
    assert result.returncode == 0
    assert result.stdout == "1.5\n"
    assert result.stderr.startswith("'soon' is not a valid timeout value")


def test_bad_environment_is_reported_once(ioc):
    result = get(ioc, ":ai", ":long", env={"EPICS_CA_SERVER_PORT": "abc"})
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "EPICS_CA_SERVER_PORT" in result.stderr and "Traceback" not in result.stderr


def test_pvs_are_looked_up_in_parallel_and_printed_in_order(ioc):
    # caget connects all its channels at once: twelve missing PVs cost one -w timeout, not
    # twelve (6 s one after the other). Output keeps the order of the arguments, stdout and
    # stderr interleaved as if the PVs had been read one by one.
    import subprocess
    import time

    from cli_helpers import tool_command, tool_env

    missing = [f"no:such:pv{i}" for i in range(12)]
    names = [ioc.pv("ai"), ioc.pv("bo"), *missing[:6], ioc.pv("long"), *missing[6:],
             ioc.pv("str"), ioc.pv("mbbo")]
    started = time.monotonic()
    result = subprocess.run([*tool_command("get"), "-w", "0.5", *names], env=tool_env(ioc),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    expected = (["P:ai                           1.5", "P:bo                           Off"]
                + [f"Channel connect timed out: '{name}' not found." for name in missing[:6]]
                + ["P:long                         42"]
                + [f"Channel connect timed out: '{name}' not found." for name in missing[6:]]
                + ["P:str                          hello", "P:mbbo                         Zero"])
    assert lines(ioc, result.stdout) == expected
    assert elapsed < 4.0, f"{elapsed:.1f} s: the PVs were looked up one after another"
