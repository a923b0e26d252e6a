"""Command-line parsing of the CLI tools, in-process (no server needed for these)."""

from __future__ import annotations

import pytest

from caprobe.cli import common, get, monitor, put
from caprobe.format import FloatFormat


def parse_get(*argv):
    return get.build_parser().parse_args(list(argv))


def test_float_format_last_one_wins():
    assert parse_get("-e", "3", "pv").float_format == FloatFormat("e", 3)
    assert parse_get("-f2", "-lx", "pv").float_format == FloatFormat("hex")
    assert parse_get("-lo", "-g5", "pv").float_format == FloatFormat("g", 5)
    assert parse_get("pv").float_format is None


def test_integer_format_and_options():
    args = parse_get("-0x", "-#", "5", "-c", "-n", "-S", "-F", ",", "-w", "2.5", "-p", "10",
                     "a", "b")
    assert (args.int_format, args.count, args.dynamic, args.enum_as_number) == ("hex", 5, True,
                                                                                True)
    assert (args.char_as_string, args.separator, args.timeout, args.priority) == (True, ",",
                                                                                 2.5, 10)
    assert args.pvs == ["a", "b"]
    assert parse_get("pv").int_format == "dec"


def test_dbr_type_argument():
    assert parse_get("-d", "DBR_CTRL_DOUBLE", "pv").dbr_type == 34
    assert parse_get("-d", "time", "pv").dbr_type == "time"
    with pytest.raises(common.UsageError, match="unknown DBR type"):
        parse_get("-d", "nonsense", "pv")


@pytest.mark.parametrize("argv", [["-t", "-a", "pv"], ["-w", "x", "pv"], ["-p", "100", "pv"],
                                  ["-#", "-2", "pv"], ["-e", "19", "pv"], ["-0q", "pv"], []])
def test_usage_errors_raise_usage_error(argv):
    with pytest.raises(common.UsageError):
        parse_get(*argv)


def test_main_returns_1_on_usage_error(capsys):
    assert get.main(["--no-such-option", "pv"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "caprobe-get -h" in err


def test_request_type_and_count_like_caget():
    assert get.request_type(6) == 20  # DBR_TIME_DOUBLE
    assert get.request_type(3) == 14  # enum as TIME_STRING
    assert get.request_type(3, enum_as_number=True) == 15  # TIME_SHORT (caget's TIME_INT)
    assert get.request_type(2, float_as_string=True) == 14
    assert get.request_type(5, float_as_string=True) == 19
    assert get.request_count(10, 0, False) == 10
    assert get.request_count(10, 0, True) == 0
    assert get.request_count(10, 3, True) == 3
    assert get.request_count(10, 30, False) == 10


def test_put_values_keep_leading_dashes():
    args = put.build_parser().parse_args(["-c", "pv", "-5", "-c"])
    assert args.callback and args.pv == "pv" and args.values == ["-5", "-c"]
    args = put.build_parser().parse_args(["-a", "wf", "3", "-1", "-2", "-3"])
    assert args.array and args.values == ["3", "-1", "-2", "-3"]
    with pytest.raises(common.UsageError):
        put.build_parser().parse_args(["-a", "-S", "pv", "x"])


def test_monitor_mask_and_time_keys():
    parser = monitor.build_parser()
    assert parser.parse_args(["pv"]).mask == 5
    assert parser.parse_args(["-m", "vlap", "pv"]).mask == 15
    mode = parser.parse_args(["-t", "cI", "pv"]).time_mode
    assert (mode.server, mode.client, mode.kind) == (False, True, "incremental_by_channel")
    assert parser.parse_args(["-t", "n", "pv"]).time_mode.server is False
    for bad in (["-m", "q", "pv"], ["-t", "z", "pv"], ["--count", "0", "pv"],
                ["--duration", "-1", "pv"]):
        with pytest.raises(common.UsageError):
            parser.parse_args(bad)


def test_default_timeout_from_environment(capsys):
    assert common.default_timeout({"EPICS_CLI_TIMEOUT": "0.25"}) == 0.25
    assert common.default_timeout({"EPICS_CLI_TIMEOUT": "-1"}) == 1.0
    assert "not a valid timeout" in capsys.readouterr().err
