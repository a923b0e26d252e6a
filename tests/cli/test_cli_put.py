"""caprobe-put against a private soft IOC: caput's Old/New lines, local refusal of values that
do not fit (nothing written), enums by name or index, escapes, arrays, long strings and
put-callback."""

from __future__ import annotations

import re

import pytest
from cli_helpers import run

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"


@pytest.fixture(scope="module")
def ioc(private_ioc):
    return private_ioc


def put(ioc, pv, *args, options=(), **kwargs):
    return run("put", *options, ioc.pv(pv), *args, server=ioc, **kwargs)


def get(ioc, pv, *options):
    result = run("get", *options, ioc.pv(pv), server=ioc)
    assert result.returncode == 0, result.stderr
    return result.stdout


def row(ioc, pv, value):
    """caget's default line: name padded to 30, a space, the value."""
    return f"{ioc.pv(pv):<30} {value}"


def assert_refused(result, *fragments):
    assert result.returncode == 1
    assert result.stdout == ""  # no Old/New: nothing was written
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_scalar_old_and_new(ioc):
    put(ioc, "ao", "0")
    result = put(ioc, "ao", "2.5")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "Old : " + row(ioc, "ao", "0"),
        "New : " + row(ioc, "ao", "2.5"),
    ]


def test_negative_value_is_not_an_option(ioc):
    result = put(ioc, "ao", "-5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "New : " + row(ioc, "ao", "-5")


def test_terse_and_long(ioc):
    result = put(ioc, "ao", "1.25", options=["-t"])
    assert result.stdout == "1.25\n"
    result = put(ioc, "ao", "3", options=["-l"])
    out = result.stdout.splitlines()
    assert re.fullmatch(rf"Old : {re.escape(ioc.pv('ao'))} +{STAMP} 1\.25  ", out[0]), out
    assert re.fullmatch(rf"New : {re.escape(ioc.pv('ao'))} +{STAMP} 3  ", out[1]), out


def test_integer_forms(ioc):
    assert put(ioc, "long", "0x1F").stdout.splitlines()[1] == "New : " + row(ioc, "long", "31")
    assert put(ioc, "long", "-7").stdout.splitlines()[1] == "New : " + row(ioc, "long", "-7")


def test_out_of_range_refused_and_nothing_written(ioc):
    put(ioc, "short", "7")
    assert_refused(put(ioc, "short", "70000"),
                   "70000 is out of range for DBF_SHORT (-32768..32767)", "nothing was written")
    assert get(ioc, "short", "-t") == "7\n"
    assert_refused(put(ioc, "long", "nan"), "nan cannot be written to a DBF_LONG PV")
    assert_refused(put(ioc, "long", "2.5"), "2.5 is not an integer")
    assert_refused(put(ioc, "long", "4294967296"), "out of range for DBF_LONG")
    assert_refused(put(ioc, "ao", "abc"), "'abc' is not a number")
    assert_refused(put(ioc, "float", "1e39"), "out of range for DBF_FLOAT")


def test_enum_by_name_and_index(ioc):
    put(ioc, "mbbo", "Zero")
    result = put(ioc, "mbbo", "Three")
    assert result.stdout.splitlines() == ["Old : " + row(ioc, "mbbo", "Zero"),
                                          "New : " + row(ioc, "mbbo", "Three")]
    assert put(ioc, "mbbo", "15").stdout.splitlines()[1] == (
        "New : " + row(ioc, "mbbo", "Twenty-five char state!!!"))
    # several words are joined with spaces, as caput does
    assert put(ioc, "mbbo", "Twenty-five", "char", "state!!!").returncode == 0
    # with -n caput also prints the old and new value as numbers
    assert put(ioc, "bo", "1", options=["-n"]).stdout.splitlines() == [
        "Old : " + row(ioc, "bo", "0"), "New : " + row(ioc, "bo", "1")]
    assert put(ioc, "bo", "Off", options=["-s"]).stdout.splitlines()[1] == (
        "New : " + row(ioc, "bo", "Off"))


def test_enum_refusals(ioc):
    put(ioc, "bo", "Off")
    assert_refused(put(ioc, "bo", "Onn"), "'Onn' is not a state of this PV (states: 'Off', 'On')")
    assert_refused(put(ioc, "bo", "2"), "enum index 2 is out of range 0..1")
    assert_refused(put(ioc, "bo", "1", options=["-s"]), "is not a state")
    assert_refused(put(ioc, "bo", "On", options=["-n"]), "is not a state")
    assert get(ioc, "bo", "-t") == "Off\n"


def test_string_with_escapes(ioc):
    result = put(ioc, "str", 'tab\\there "quoted" back\\\\slash')
    assert result.returncode == 0, result.stderr
    expected = 'tab\\there \\"quoted\\" back\\\\slash'
    assert result.stdout.splitlines()[1] == "New : " + row(ioc, "str", expected)
    assert get(ioc, "str", "-t") == expected + "\n"
    # non-ASCII goes as the terminal's UTF-8 bytes and prints escaped, like caget
    assert put(ioc, "str", "caf\u00e9").stdout.splitlines()[1] == (
        "New : " + row(ioc, "str", "caf\\xc3\\xa9"))


def test_string_too_long_refused(ioc):
    put(ioc, "str", "kept")
    assert_refused(put(ioc, "str", "x" * 40),
                   "string of 40 bytes is too long for DBF_STRING (at most 39)")
    assert get(ioc, "str", "-t") == "kept\n"
    assert put(ioc, "str", "y" * 39).returncode == 0


def test_array(ioc):
    result = put(ioc, "wf_double", "3", "1", "2.5", "-3", options=["-a"])
    assert result.returncode == 0, result.stderr
    new = result.stdout.splitlines()[1]
    assert new == f"New : {ioc.pv('wf_double')} 10 1 2.5 -3 0 0 0 0 0 0 0"
    assert get(ioc, "wf_double", "-c", "-t") == "3 1 2.5 -3\n"


def test_array_refusals(ioc):
    assert_refused(put(ioc, "wf_short", "2", "1", "40000", options=["-a"]),
                   "element 1: 40000 is out of range for DBF_SHORT")
    assert_refused(put(ioc, "wf_short", "11", *["1"] * 11, options=["-a"]),
                   "11 values do not fit the PV's 10 elements")
    assert_refused(put(ioc, "wf_short", "x", "1", options=["-a"]),
                   "-a expects the element count first")


def test_array_count_mismatch_warns(ioc):
    result = put(ioc, "wf_long", "5", "7", "8", options=["-a"])
    assert result.returncode == 0
    assert "Warning: count 5 given but 2 values follow" in result.stderr
    assert get(ioc, "wf_long", "-c", "-t") == "2 7 8\n"


def test_long_string(ioc):
    put(ioc, "wf_char", "first", options=["-S"])
    result = put(ioc, "wf_char", "line1\\nline2", options=["-S"])
    assert result.returncode == 0, result.stderr
    # with -S the Old/New lines show the char array as text, as caput's do
    assert result.stdout.splitlines() == [f"Old : {ioc.pv('wf_char')} first",
                                          f"New : {ioc.pv('wf_char')} line1\\nline2"]
    assert get(ioc, "wf_char", "-S", "-t") == "line1\\nline2\n"
    # the trailing NUL is sent: the dynamic count is the length plus one
    assert get(ioc, "wf_char", "-c", "-t") == "12 108 105 110 101 49 10 108 105 110 101 50 0\n"
    text = "This long string is longer than forty characters, sent as chars"
    assert put(ioc, "lso.VAL$", text, options=["-S"]).returncode == 0
    assert get(ioc, "lso.VAL$", "-S", "-t") == text + "\n"
    assert get(ioc, "lso", "-t") == text[:39] + "\n"


def test_text_to_char_array_without_dash_s_suggests_it(ioc):
    assert_refused(put(ioc, "wf_char", "hello"), "use -S to write text to a char array")


def test_long_string_refusals(ioc):
    assert_refused(put(ioc, "str", "abc", options=["-S"]),
                   "-S writes a char array but the PV is DBF_STRING")
    assert_refused(put(ioc, "wf_char", "x" * 256, options=["-S"]),
                   "string of 256 bytes does not fit the PV's 256 characters")


def test_put_callback_waits_for_completion(ioc):
    put(ioc, "slow", "0", options=["-c", "-w", "5"])
    result = put(ioc, "slow", "3", options=["-c", "-w", "5"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "New : " + row(ioc, "slow", "3")


def test_put_callback_timeout(ioc):
    result = put(ioc, "slow", "4", options=["-c", "-w", "0.2"])
    assert result.returncode == 1
    assert result.stderr.startswith("Write callback operation timed out")
    assert len(result.stderr.splitlines()) == 1


def test_no_write_access(ioc):
    result = put(ioc, "ro", "1")
    assert_refused(result, "no write access", "nothing was written")
    assert get(ioc, "ro", "-t") == "3.25\n"


def test_not_found(ioc):
    result = run("put", "-w", "0.3", "no:such:pv", "1", server=ioc)
    assert result.returncode == 1
    assert result.stderr == "Channel connect timed out: 'no:such:pv' not found.\n"


def test_missing_value(ioc):
    result = put(ioc, "ao")
    assert result.returncode == 1
    assert result.stderr == "No value specified. ('caprobe-put -h' for help.)\n"


@pytest.mark.parametrize("options", [[], ["-c"], ["-t"]])
def test_put_the_ioc_refuses_is_a_write_error_and_no_new_value(ioc, options):
    # DISP=1: access rights allow the write, the IOC refuses it. Without -c the refusal
    # arrives before the answer to the read-back, on the same channel.
    result = put(ioc, "disabled", "7", options=options)
    assert result.returncode == 1
    assert result.stderr.startswith("Error occured writing data: ")
    assert "ECA_PUTFAIL" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "New : " not in result.stdout
    assert get(ioc, "disabled", "-t") == "2.5\n"


def test_put_does_everything_on_one_circuit(softioc_env, monkeypatch, capsys):
    # caput's sequence (enum states, old value, write, new value) on one channel: one search,
    # one TCP connection; not one per step.
    from caprobe.ca import channel as ca_client
    from caprobe.cli import put as put_tool

    opened = []
    real = ca_client.open_tcp
    monkeypatch.setattr(ca_client, "open_tcp",
                        lambda host, port, timeout: opened.append(port) or real(host, port, timeout))
    try:
        assert put_tool.main([softioc_env.pv("mbbo"), "Four"]) == 0
    finally:
        assert put_tool.main([softioc_env.pv("mbbo"), "Zero"]) == 0
    output = capsys.readouterr().out.splitlines()
    assert output[0].endswith(" Zero") and output[1].endswith(" Four")
    assert len(opened) == 2  # one per caprobe-put run
