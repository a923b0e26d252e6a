"""Unit tests of caprobe.format against hand-written caget/caput/camonitor output.

Responses are small SimpleNamespace stand-ins carrying the attributes the contract gives
caprobe.ca responses (.data, .data_type, .data_count, .metadata, .channel); numeric data are
big-endian numpy arrays like the client's.
"""

from __future__ import annotations

import math
import os
import platform
import time
from types import SimpleNamespace

import numpy as np
import pytest

from caprobe import format as fmt

# DBR type numbers (db_access.h)
STRING, SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE = range(7)
TIME_STRING, TIME_SHORT, TIME_ENUM, TIME_CHAR, TIME_DOUBLE = 14, 15, 17, 18, 20
STS_DOUBLE = 13
GR_DOUBLE = 27
CTRL_SHORT, CTRL_ENUM, CTRL_CHAR, CTRL_LONG, CTRL_DOUBLE = 29, 31, 32, 33, 34
STSACK_STRING, CLASS_NAME = 37, 38


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Timestamps are local time: pin the zone so expected strings are fixed."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def response(data, data_type, metadata=None, native=None, count=None):
    native = fmt.base_type(data_type) if native is None else native
    channel = SimpleNamespace(pv_name="PV", native_data_type=native, native_data_count=1,
                              host="127.0.0.1", port=5064, access=3)
    if isinstance(data, np.ndarray):
        count = data.size if count is None else count
    else:
        count = len(data) if count is None else count
    return SimpleNamespace(data=data, data_type=data_type, data_count=count, metadata=metadata,
                           channel=channel)


def f64(*values):
    return np.array(values, dtype=">f8")


# ------------------------------------------------------------------ scalars, floats, ints


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3.14159265, "3.14159"), (1e-5, "1e-05"), (123456789.0, "1.23457e+08"), (0.0, "0"),
     (-0.0, "-0"), (100000.0, "100000"), (1e6, "1e+06"), (float("nan"), "nan"),
     (float("inf"), "inf"), (float("-inf"), "-inf")],
)  # fmt: skip
def test_double_default_is_c_percent_g(value, expected):
    assert fmt.format_value(response(f64(value), DOUBLE)) == expected


def test_float32_prints_like_c_promotes_it():
    assert fmt.format_value(response(np.array([0.1], ">f4"), FLOAT)) == "0.1"
    assert fmt.format_value(response(np.array([0.1], ">f4"), FLOAT), float_format="f10") == (
        "0.1000000015")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("e3", "3.142e+00"), ("f2", "3.14"), ("g3", "3.14"), ("f0", "3"), ("%.4f", "3.1416"),
     ("eng", "3.142e+00"), ("prec", "3.14159"), ("hex", "0x3"), ("oct", "0o3"), ("bin", "11")],
)  # fmt: skip
def test_float_formats(spec, expected):
    assert fmt.format_value(response(f64(3.14159265), DOUBLE), float_format=spec) == expected


def test_long_rounding_like_caget_dash_l():
    # caget -lx adds/subtracts 0.5 then truncates: round half away from zero
    assert fmt.format_value(f64(2.5), float_format="hex") == "0x3"
    assert fmt.format_value(f64(-2.5), float_format="hex") == "0xFFFFFFFD"
    assert fmt.format_value(f64(0.2), float_format="bin") == "0"
    assert fmt.format_value(f64(1e300), float_format="hex") == "0x80000000"  # see below


NEG_NAN = -float("nan")  # sign bit set: x86's default NaN, what 0/0 gives in a record
assert math.copysign(1.0, NEG_NAN) < 0


@pytest.mark.parametrize("value", [
    float("nan"), NEG_NAN, float("inf"), float("-inf"), 1e10, -1e10, 2147483647.6,
    -2147483648.6, 3e9, float(2**31) - 0.5])
def test_dash_l_of_a_double_with_no_32_bit_integer_is_0x80000000_like_caget(value):
    # Deliberate choice (docs/cli/caprobe-get.rst): caget converts with a C cast, which on x86 gives the
    # "integer indefinite" 0x80000000 for NaN, inf and anything beyond 32 bits; caprobe prints
    # the same rather than clamping (a NaN shown as 0x0 read as a real, all-bits-clear value).
    assert fmt.format_value(f64(value), float_format="hex") == "0x80000000"
    assert fmt.format_value(f64(value), float_format="oct") == "0o20000000000"
    assert fmt.format_value(f64(value), float_format="bin") == "1" + "0" * 31
    assert fmt.format_value(np.array([value], ">f4"), float_format="hex") == "0x80000000"


@pytest.mark.parametrize(("value", "expected"), [
    (2147483647.4, "0x7FFFFFFF"), (2147483646.5, "0x7FFFFFFF"), (-2147483648.4, "0x80000000"),
    (-2147483647.5, "0x80000000"), (-0.4, "0x0"), (0.5, "0x1"), (-0.5, "0xFFFFFFFF")])
def test_dash_l_at_the_32_bit_edges(value, expected):
    assert fmt.format_value(f64(value), float_format="hex") == expected


@pytest.mark.parametrize(("spec", "expected"), [
    (None, "-nan"), ("e3", "-nan"), ("f2", "-nan"), ("g4", "-nan"), ("%.4f", "-nan"),
    ("eng", "-nan"), ("prec", "-nan")])
def test_negative_nan_prints_minus_nan_like_caget(spec, expected):
    # Deliberate choice (docs/cli/caprobe-get.rst): glibc's printf, hence caget and camonitor, prints a NaN's
    # sign bit; so does caprobe, which tells x86's default NaN (an invalid operation: 0/0,
    # inf-inf) from one written on purpose ("nan").
    assert fmt.format_value(f64(NEG_NAN), float_format=spec) == expected
    assert fmt.format_value(f64(float("nan")), float_format=spec) == "nan"
    assert fmt.format_value(np.array([NEG_NAN], ">f4"), float_format=spec) == expected


def test_nan_signs_in_an_array_and_elsewhere():
    values = f64(float("nan"), NEG_NAN, 1.5, NEG_NAN)
    assert fmt.format_value(values) == "4 nan -nan 1.5 -nan"
    assert fmt.format_value(values, float_format="f1") == "4 nan -nan 1.5 -nan"
    assert fmt.format_value(values, max_elements=2) == "4 nan -nan ... (2 more)"
    assert fmt.format_engineering(NEG_NAN, units="V") == "-nan V"
    assert fmt.format_value(f64(NEG_NAN), precision=3, units="mm") == "-nan mm"
    details = fmt.format_details(response(f64(NEG_NAN), CTRL_DOUBLE, SimpleNamespace(
        status=0, severity=0, units=b"", precision=2, upper_disp_limit=NEG_NAN,
        lower_disp_limit=float("nan"), upper_alarm_limit=0.0, upper_warning_limit=0.0,
        lower_warning_limit=0.0, lower_alarm_limit=0.0, upper_ctrl_limit=0.0,
        lower_ctrl_limit=0.0)), pv_name="X")
    assert "    Value:            -nan" in details.splitlines()
    assert "    Hi disp limit:    -nan" in details.splitlines()
    assert "    Lo disp limit:    nan" in details.splitlines()
    # What an operator types back is the same NaN, sign included.
    assert math.copysign(1.0, fmt.parse_value("-nan", DOUBLE)) < 0





def test_precision_from_caller_and_metadata():
    resp = response(f64(2.0 / 3.0), CTRL_DOUBLE, SimpleNamespace(precision=3))
    assert fmt.format_value(resp) == "0.666667"  # caget ignores PREC
    assert fmt.format_value(resp, float_format="prec") == "0.667"
    assert fmt.format_value(resp, precision=1) == "0.7"
    assert fmt.format_value(resp, precision=1, units=b"mA\0junk") == "0.7 mA"
    assert fmt.format_value(f64(1.0), precision=-3) == "1"  # nonsense PREC clamped
    assert fmt.format_value(f64(1.0), float_format="prec") == "1"  # no PREC known: %g


@pytest.mark.parametrize(
    ("value", "int_format", "expected"),
    [(42, "dec", "42"), (42, "hex", "0x2A"), (42, "oct", "0o52"), (42, "bin", "101010"),
     (0, "bin", "0"), (0, "hex", "0x0"), (-1, "hex", "0xFFFFFFFF"), (-1, "dec", "-1"),
     (-2, "bin", "1" * 31 + "0")],
)  # fmt: skip
def test_integer_formats(value, int_format, expected):
    data = np.array([value], ">i4")
    assert fmt.format_value(response(data, LONG), int_format=int_format) == expected


def test_short_and_char():
    assert fmt.format_value(response(np.array([-5], ">i2"), SHORT)) == "-5"
    chars = np.array([65, 200], "u1")
    assert fmt.format_value(response(chars, CHAR)) == "2 65 -56"  # caget's signed char
    assert fmt.format_value(response(chars, CHAR), signed_char=False) == "2 65 200"
    assert fmt.format_value(response(chars, CHAR), int_format="hex") == "2 65 -56"


def test_bad_format_arguments_raise_value_error():
    with pytest.raises(ValueError):
        fmt.format_value(f64(1.0), float_format="xyz")
    with pytest.raises(ValueError):
        fmt.format_value(f64(1.0), int_format="roman")


# ------------------------------------------------------------------ arrays


def test_array_prints_count_then_values():
    assert fmt.format_value(response(f64(1, 2.5, 3), DOUBLE)) == "3 1 2.5 3"
    assert fmt.format_value(response(f64(1, 2.5, 3), DOUBLE), separator=",") == "3,1,2.5,3"


def test_requested_count_shows_count_even_for_one_element():
    assert fmt.format_value(response(f64(7), DOUBLE), show_count=True) == "1 7"


def test_empty_array():
    assert fmt.format_value(response(f64(), DOUBLE), show_count=True) == "0"


def test_truncation_says_so():
    data = np.arange(10, dtype=">i4")
    text = fmt.format_value(response(data, LONG), max_elements=3)
    assert text == "10 0 1 2 ... (7 more)"
    assert fmt.format_value(response(data, LONG), max_elements=10) == (
        "10 " + " ".join(str(i) for i in range(10)))


def test_truncation_of_a_big_array_converts_only_what_is_shown():
    data = np.arange(1_000_000, dtype=">f8")
    assert fmt.format_value(response(data, DOUBLE), max_elements=2) == "1000000 0 1 ... (999998 more)"
    assert fmt.format_value(np.float64(2.5)) == "2.5"
    assert fmt.format_value([b"a", b"b"], max_elements=0) == "2 ... (2 more)"


def test_char_array_as_string_up_to_nul():
    raw = np.frombuffer(b"hello\tworld\0garbage", "u1")
    assert fmt.format_value(response(raw, CHAR), char_as_string=True) == "hello\\tworld"
    # a one-element char array is a number unless a count was requested (as caget)
    assert fmt.format_value(response(np.array([65], "u1"), CHAR), char_as_string=True) == "65"


# ------------------------------------------------------------------ strings and escapes


def test_escape_bytes_matches_epics():
    raw = b'a\nb\tc"d\\e\'f\0g\x07\x08\x0c\r\x0b\x01\x7f\xe9 ~'
    assert fmt.escape_bytes(raw) == (
        "a\\nb\\tc\\\"d\\\\e\\'f\\0g\\a\\b\\f\\r\\v\\x01\\x7f\\xe9 ~")


def test_string_values_escaped():
    resp = response([b"line1\nline2", b"caf\xc3\xa9"], STRING)
    assert fmt.format_value(resp) == "2 line1\\nline2 caf\\xc3\\xa9"
    assert fmt.format_value(response([b"plain text"], TIME_STRING)) == "plain text"


def test_unescape_round_trip():
    assert fmt.unescape_string("a\\nb\\x41\\x4\\t\\0z\\q\\") == b"a\nbA\x04\t\0zq"
    for raw in (b"x\n\t\"'\\\0\x01\xff", bytes(range(256))):
        assert fmt.unescape_string(fmt.escape_bytes(raw)) == raw


def test_to_text_decodes_and_stops_at_nul():
    assert fmt.to_text(b"mA\0\0") == "mA"
    assert fmt.to_text(b"\xb5A") == "\xb5A"  # not UTF-8: Latin-1
    assert fmt.to_text(None) == ""


# ------------------------------------------------------------------ enums


STATES = (b"Off", b"On", b"Fault")


def test_enum_as_string_read():
    assert fmt.format_value(response([b"On"], STRING)) == "On"


def test_enum_index_with_states():
    md = SimpleNamespace(enum_strings=STATES, status=0, severity=0)
    resp = response(np.array([1], ">u2"), CTRL_ENUM, md)
    assert fmt.format_value(resp) == "On"
    assert fmt.format_value(resp, enum_as_number=True) == "1"
    # TIME_ENUM carries no strings: a number unless the caller supplies them
    timed = response(np.array([2], ">u2"), TIME_ENUM, SimpleNamespace())
    assert fmt.format_value(timed) == "2"
    assert fmt.format_value(timed, enum_strings=STATES) == "Fault"


def test_enum_out_of_range_texts_are_cagets():
    md = SimpleNamespace(enum_strings=STATES)
    assert fmt.format_value(response(np.array([5], ">u2"), CTRL_ENUM, md)) == (
        "Enum Index Overflow (5)")
    assert fmt.format_value(response(np.array([20], ">u2"), CTRL_ENUM, md)) == (
        "Illegal Value (20)")


# ------------------------------------------------------------------ alarms and colours


def test_alarm_names():
    assert fmt.severity_text(2) == "MAJOR"
    assert fmt.severity_text(7) == "??"
    assert fmt.status_text(3) == "HIHI"
    assert fmt.status_text(17) == "UDF"
    assert fmt.status_text(21) == "WRITE_ACCESS"
    assert fmt.status_text(99) == "??"
    assert fmt.alarm_text(2, 3) == "MAJOR - HIHI"
    assert fmt.alarm_text(0, 0) == "NO_ALARM"


def test_alarm_colours():
    assert fmt.alarm_color(0) == "#00C000"
    assert fmt.alarm_color(1) == "#F0C000"
    assert fmt.alarm_color(2) == "#E00000"
    assert fmt.alarm_color(3) == "#FFFFFF"
    assert fmt.alarm_color(9) == "#FFFFFF"
    assert fmt.alarm_color(0, connected=False) == fmt.DISCONNECTED_COLOR == "#A0A0A0"
    assert fmt.DISCONNECTED_COLOR not in fmt.ALARM_COLORS.values()
    assert fmt.DISCONNECTED_TEXT == "DISCONNECTED"


# ------------------------------------------------------------------ timestamps


def test_timestamp_epics_epoch_and_nanoseconds():
    assert fmt.format_timestamp(0, 0) == "<undefined>"  # never processed, as EPICS prints it
    assert fmt.format_timestamp(0, 1000) == "1990-01-01 00:00:00.000001"
    assert fmt.format_timestamp(0, 499) == "1990-01-01 00:00:00.000000"
    assert fmt.format_timestamp(float(fmt.EPICS_EPOCH_OFFSET)) == "<undefined>"
    # 2026-11-25 23:00:00 UTC = unix 1795647600
    secs = 1795647600 - fmt.EPICS_EPOCH_OFFSET
    assert fmt.format_timestamp(secs, 123456789) == "2026-11-25 23:00:00.123457"
    assert fmt.format_timestamp(secs, 123456789, nanos=True) == "2026-11-25 23:00:00.123456789"
    # rounded to the microsecond but never carried into the next second (as EPICS)
    assert fmt.format_timestamp(secs, 999999999) == "2026-11-25 23:00:00.999999"
    assert fmt.format_timestamp(secs, 1500) == "2026-11-25 23:00:00.000002"
    assert fmt.format_timestamp(secs, 1_000_000_000) == "2026-11-25 23:00:00.OVF"
    assert fmt.format_timestamp(1795647600, 5000, epics_epoch=False) == (
        "2026-11-25 23:00:00.000005")
    assert fmt.format_timestamp(1795647600.25, epics_epoch=False) == "2026-11-25 23:00:00.250000"
    # a float is Unix time (metadata.timestamp, time.time()); an int is the raw EPICS stamp
    assert fmt.format_timestamp(1795647600.25) == "2026-11-25 23:00:00.250000"
    assert fmt.format_timestamp(float(secs), epics_epoch=True) == "2026-11-25 23:00:00.000000"


def test_timestamp_is_local_time(monkeypatch):
    monkeypatch.setenv("TZ", "CET-1")
    time.tzset()
    assert fmt.format_timestamp(1, 0) == "1990-01-01 01:00:01.000000"


def test_response_stamp_prefers_raw_fields():
    md = SimpleNamespace(secondsSinceEpoch=10, nanoSeconds=123456789,
                         timestamp=fmt.EPICS_EPOCH_OFFSET + 10.123456)
    assert fmt.response_stamp(md) == (10, 123456789)
    assert fmt.format_response_time(md, nanos=True) == "1990-01-01 00:00:10.123456789"
    only_float = SimpleNamespace(timestamp=fmt.EPICS_EPOCH_OFFSET + 10.5)
    assert fmt.response_stamp(only_float) == (10, 500000000)
    assert fmt.response_stamp(SimpleNamespace()) is None
    assert fmt.response_stamp(None) is None


# ------------------------------------------------------------------ lines


def timed_md(status=0, severity=0, secs=1795647600 - fmt.EPICS_EPOCH_OFFSET, ns=500000):
    return SimpleNamespace(status=status, severity=severity, secondsSinceEpoch=secs,
                           nanoSeconds=ns, timestamp=secs + fmt.EPICS_EPOCH_OFFSET + ns * 1e-9)


def test_value_line_pads_scalars_only():
    assert fmt.format_value_line("TEST:AI", response(f64(1.5), DOUBLE)) == (
        "TEST:AI                        1.5")
    assert fmt.format_value_line("TEST:WF", response(f64(1, 2), DOUBLE)) == "TEST:WF 2 1 2"
    assert fmt.format_value_line("TEST:AI", response(f64(1.5), DOUBLE), separator=",") == (
        "TEST:AI,1.5")
    assert fmt.format_value_line("A", response(f64(1.5), DOUBLE), show_count=True) == (
        "A                              1 1.5")


def test_wide_line_alarm_fields_only_when_nonzero():
    ok = response(f64(1.5), TIME_DOUBLE, timed_md())
    assert fmt.format_wide_line("TEST:AI", ok) == (
        "TEST:AI                        2026-11-25 23:00:00.000500 1.5  ")
    bad = response(f64(99.0), TIME_DOUBLE, timed_md(status=3, severity=2))
    assert fmt.format_wide_line("TEST:AI", bad) == (
        "TEST:AI                        2026-11-25 23:00:00.000500 99 HIHI MAJOR")
    assert fmt.format_wide_line("TEST:AI", bad, nanos=True).split()[2] == "23:00:00.000500000"
    arr = response(f64(1, 2), TIME_DOUBLE, timed_md())
    assert fmt.format_wide_line("TEST:WF", arr, separator=";") == (
        "TEST:WF;2026-11-25 23:00:00.000500;2;1;2;;")
    assert fmt.format_wide_line("X", ok, time_text="") == "X                               1.5  "


CTRL_DOUBLE_MD = SimpleNamespace(
    status=6, severity=1, units=b"mA", precision=3,
    upper_disp_limit=10.0, lower_disp_limit=-10.0, upper_alarm_limit=9.0,
    upper_warning_limit=8.0, lower_warning_limit=-8.0, lower_alarm_limit=-9.0,
    upper_ctrl_limit=10.5, lower_ctrl_limit=-10.5,
)  # fmt: skip


def test_details_ctrl_double():
    text = fmt.format_details(response(f64(-8.5), CTRL_DOUBLE, CTRL_DOUBLE_MD), pv_name="T:AI")
    assert text == "\n".join([
        "T:AI",
        "    Native data type: DBF_DOUBLE",
        "    Request type:     DBR_CTRL_DOUBLE",
        "    Element count:    1",
        "    Value:            -8.5",
        "    Status:           LOW",
        "    Severity:         MINOR",
        "    Units:            mA",
        "    Precision:        3",
        "    Lo disp limit:    -10",
        "    Hi disp limit:    10",
        "    Lo alarm limit:   -9",
        "    Lo warn limit:    -8",
        "    Hi warn limit:    8",
        "    Hi alarm limit:   9",
        "    Lo ctrl limit:    -10.5",
        "    Hi ctrl limit:    10.5",
    ])


def test_details_ctrl_long_uses_width_8_limits():
    md = SimpleNamespace(status=0, severity=0, units=b"", upper_disp_limit=100,
                         lower_disp_limit=0, upper_alarm_limit=0, upper_warning_limit=0,
                         lower_warning_limit=0, lower_alarm_limit=0, upper_ctrl_limit=100,
                         lower_ctrl_limit=-5)
    text = fmt.format_details(response(np.array([42], ">i4"), CTRL_LONG, md), pv_name="T:L")
    lines = text.splitlines()
    assert lines[5:] == [
        "    Status:           NO_ALARM",
        "    Severity:         NO_ALARM",
        "    Units:            ",
        "    Lo disp limit:           0",
        "    Hi disp limit:         100",
        "    Lo alarm limit:          0",
        "    Lo warn limit:           0",
        "    Hi warn limit:           0",
        "    Hi alarm limit:          0",
        "    Lo ctrl limit:          -5",
        "    Hi ctrl limit:         100",
    ]


def test_details_gr_double_has_no_ctrl_limits():
    text = fmt.format_details(response(f64(1), GR_DOUBLE, CTRL_DOUBLE_MD), pv_name="X")
    assert "Hi alarm limit:   9" in text
    assert "ctrl" not in text


def test_details_ctrl_enum():
    md = SimpleNamespace(status=0, severity=0, enum_strings=STATES)
    text = fmt.format_details(response(np.array([1], ">u2"), CTRL_ENUM, md), pv_name="T:BO")
    assert text == "\n".join([
        "T:BO",
        "    Native data type: DBF_ENUM",
        "    Request type:     DBR_CTRL_ENUM",
        "    Element count:    1",
        "    Value:            On",
        "    Status:           NO_ALARM",
        "    Severity:         NO_ALARM",
        "    Enums:            ( 3)",
        "                      [ 0] Off",
        "                      [ 1] On",
        "                      [ 2] Fault",
    ])


def test_details_time_array_and_plain():
    md = timed_md(status=17, severity=3, secs=0, ns=0)
    text = fmt.format_details(response(f64(1, 2, 3), TIME_DOUBLE, md), pv_name="T:WF")
    assert text.splitlines()[3:] == [
        "    Element count:    3",
        "    Value:            1 2 3",
        "    Timestamp:        <undefined>",
        "    Status:           UDF",
        "    Severity:         INVALID",
    ]
    plain = fmt.format_details(response(np.array([7], ">i2"), SHORT), pv_name="T:S")
    assert plain.splitlines()[1:] == [
        "    Native data type: DBF_SHORT",
        "    Request type:     DBR_SHORT",
        "    Element count:    1",
        "    Value:            7",
    ]


def test_details_sts_string_stsack_and_class_name():
    sts = fmt.format_details(response([b"a\"b"], 7, SimpleNamespace(status=0, severity=0)),
                             pv_name="S")
    assert sts.splitlines()[4:] == ['    Value:            a\\"b', "    Status:           NO_ALARM",
                                    "    Severity:         NO_ALARM"]
    ack = SimpleNamespace(status=3, severity=2, ackt=1, acks=2, value=b"5")
    text = fmt.format_details(response(np.array([], "u8"), STSACK_STRING, ack, native=DOUBLE),
                              pv_name="T:AI")
    assert text.splitlines()[2:] == [
        "    Request type:     DBR_STSACK_STRING",
        "    Element count:    1",
        "    Value:            5",
        "    Status:           HIHI",
        "    Severity:         MAJOR",
        "    Ack transient?:   YES",
        "    Ack severity:     MAJOR",
    ]
    cls = fmt.format_details(response([b"ai"], CLASS_NAME, None, native=DOUBLE), pv_name="T:AI")
    assert cls == ("T:AI\n    Native data type: DBF_DOUBLE\n"
                   "    Request type:     DBR_CLASS_NAME\n    Class Name:       ai")
    via_md = response(np.array([], "u8"), CLASS_NAME, SimpleNamespace(class_name=b"calc"))
    assert fmt.format_details(via_md, pv_name="C").endswith("Class Name:       calc")


def test_details_char_array_as_string():
    raw = np.frombuffer(b"hi\nthere\0\0", "u1")
    text = fmt.format_details(response(raw, CTRL_CHAR, SimpleNamespace(
        status=0, severity=0, units=b"", upper_disp_limit=0, lower_disp_limit=0,
        upper_alarm_limit=0, upper_warning_limit=0, lower_warning_limit=0, lower_alarm_limit=0,
        upper_ctrl_limit=0, lower_ctrl_limit=0)), pv_name="W", char_as_string=True)
    assert "    Element count:    10\n    Value:            hi\\nthere\n" in text


def test_info_block():
    channel = SimpleNamespace(pv_name="T:AI", host="127.0.0.1", port=5064, access=1,
                              native_data_type=6, native_data_count=1, address="127.0.0.1:5064",
                              can_read=True, can_write=False)
    assert fmt.format_info(channel) == "\n".join([
        "T:AI",
        "    State:            connected",
        "    Host:             127.0.0.1:5064",
        "    Access:           read, no write",
        "    Native data type: DBF_DOUBLE",
        "    Request type:     DBR_DOUBLE",
        "    Element count:    1",
    ])


# ------------------------------------------------------------------ type names


def test_type_names_and_parsing():
    assert fmt.dbf_type_text(1) == "DBF_SHORT"
    assert fmt.dbr_type_text(34) == "DBR_CTRL_DOUBLE"
    assert fmt.dbr_type_text(38) == "DBR_CLASS_NAME"
    assert fmt.parse_dbr_type("DBR_CTRL_DOUBLE") == 34
    assert fmt.parse_dbr_type("ctrl_double") == 34
    assert fmt.parse_dbr_type("TIME_INT") == 15
    assert fmt.parse_dbr_type("20") == 20
    assert fmt.parse_dbr_type("Control") == "control"
    assert fmt.parse_dbr_type("CLASS_NAME") == 38
    for bad in ("35", "DBR_PUT_ACKT", "99", "CTRL_BOGUS", "-1"):
        with pytest.raises(ValueError):
            fmt.parse_dbr_type(bad)
    assert fmt.base_type(34) == DOUBLE and fmt.base_type(37) == STRING
    assert fmt.type_class(20) == "time" and fmt.type_class(38) == "class_name"


def test_engineering():
    assert fmt.format_engineering(12345.678) == "12.346e+03"
    assert fmt.format_engineering(-0.00012345, 2) == "-123.45e-06"
    assert fmt.format_engineering(999.9996) == "1.000e+03"
    assert fmt.format_engineering(0.0) == "0.000e+00"
    assert fmt.format_engineering(1.5e-3, 1, si_prefix=True, units="A") == "1.5 mA"
    assert fmt.format_engineering(1.5, 1, si_prefix=True) == "1.5"
    assert fmt.format_engineering(2e30, 0, si_prefix=True) == "2e+30"
    assert fmt.format_engineering(float("nan")) == "nan"


# ------------------------------------------------------------------ parse_value


@pytest.mark.parametrize(
    ("text", "native", "expected"),
    [("42", LONG, 42), ("-32768", SHORT, -32768), ("0x1F", LONG, 31), ("0b101", SHORT, 5),
     ("0o17", LONG, 15), ("010", LONG, 10), ("1e3", LONG, 1000), (" 7 ", SHORT, 7),
     ("255", CHAR, 255), ("-128", CHAR, -128), ("2.5", DOUBLE, 2.5), ("0x10", DOUBLE, 16.0),
     ("-1e300", DOUBLE, -1e300), ("3.4e38", FLOAT, 3.4e38), ("inf", FLOAT, math.inf),
     ("hello world", STRING, b"hello world"), ("x" * 39, STRING, b"x" * 39)],
)  # fmt: skip
def test_parse_value_accepts(text, native, expected):
    assert fmt.parse_value(text, native) == expected


def test_parse_value_nan_double_ok():
    assert math.isnan(fmt.parse_value("nan", DOUBLE))


@pytest.mark.parametrize(
    ("text", "native", "message"),
    [("70000", SHORT, "70000 is out of range for DBF_SHORT (-32768..32767)"),
     ("2147483648", LONG, "out of range for DBF_LONG"),
     ("256", CHAR, "out of range for DBF_CHAR"),
     ("nan", LONG, "nan cannot be written to a DBF_LONG PV"),
     ("2.5", LONG, "2.5 is not an integer"),
     ("abc", DOUBLE, "'abc' is not a number (DBF_DOUBLE expected)"),
     ("", LONG, "empty value"),
     ("1e39", FLOAT, "out of range for DBF_FLOAT"),
     ("1_000", LONG, "is not a number"),
     ("x" * 40, STRING, "string of 40 bytes is too long for DBF_STRING (at most 39)")],
)  # fmt: skip
def test_parse_value_refuses_with_clear_message(text, native, message):
    with pytest.raises(ValueError) as excinfo:
        fmt.parse_value(text, native)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_parse_value_string_counts_bytes_not_characters():
    with pytest.raises(ValueError):
        fmt.parse_value("\u00e9" * 20, STRING)  # 40 bytes in UTF-8
    assert fmt.parse_value("a\\tb", STRING, unescape=True) == b"a\tb"
    assert fmt.parse_value("a\\tb", STRING) == b"a\\tb"
    assert fmt.parse_value("\u00e9\\xff", STRING, unescape=True) == b"\xc3\xa9\xff"


def test_parse_enum():
    assert fmt.parse_value("On", ENUM, STATES) == 1
    assert fmt.parse_value("2", ENUM, STATES) == 2
    assert fmt.parse_value("Fault", ENUM, [s.decode() for s in STATES]) == 2
    assert fmt.parse_value("5", ENUM) == 5  # states unknown: 0..15
    # a state named like a number wins over the index, as in caput
    assert fmt.parse_value("1", ENUM, (b"0", b"1")) == 1
    assert fmt.parse_value("0", ENUM, (b"1", b"0")) == 1
    assert fmt.parse_value("0", ENUM, (b"1", b"0"), enum_mode="number") == 0
    with pytest.raises(ValueError, match=r"enum index 3 is out of range 0..2"):
        fmt.parse_value("3", ENUM, STATES)
    with pytest.raises(ValueError, match=r"'Of' is not a state of this PV \(states: 'Off'"):
        fmt.parse_value("Of", ENUM, STATES)
    with pytest.raises(ValueError, match="is not a state"):
        fmt.parse_value("1", ENUM, STATES, enum_mode="string")
    with pytest.raises(ValueError, match="out of range 0..15"):
        fmt.parse_value("16", ENUM)


def test_parse_values_names_the_element():
    assert fmt.parse_values(["1", "2", "0x3"], LONG) == [1, 2, 3]
    with pytest.raises(ValueError, match="element 1: 'x' is not a number"):
        fmt.parse_values(["1", "x"], DOUBLE)


def test_parse_long_string():
    assert fmt.parse_long_string("ab\\n") == b"ab\n\0"
    assert fmt.parse_long_string("abc", max_count=4) == b"abc\0"
    with pytest.raises(ValueError, match="does not fit"):
        fmt.parse_long_string("abcd", max_count=4)


def test_module_has_no_qt_or_socket_imports():
    source = open(os.path.join(os.path.dirname(fmt.__file__), "format.py")).read()
    assert "PyQt" not in source and "import socket" not in source


# ------------------------------------------------------------------ properties (hypothesis)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _c_printf(pattern: bytes, value: float | int) -> str:
    """The C library's own snprintf, the reference caget's output comes from (a float is
    passed as a C double, an int as a C int, as caget's val2str/sprint_long do)."""
    import ctypes

    libc = ctypes.CDLL(None)
    buffer = ctypes.create_string_buffer(512)
    arg = ctypes.c_double(value) if isinstance(value, float) else ctypes.c_int(value)
    libc.snprintf(buffer, 512, pattern, arg)
    return buffer.value.decode()


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=True, width=64),
       st.sampled_from(["g", "e", "f"]), st.integers(0, 18))
def test_float_text_equals_c_printf(value, kind, digits):
    if kind == "f" and abs(value) > 1e30:
        return  # %f of huge numbers is just long; same digits, not worth the time
    ours = fmt.format_value(f64(value), float_format=f"{kind}{digits}")
    assert ours == _c_printf(f"%-.{digits}{kind}".encode(), value)
    assert fmt.format_value(f64(value)) == _c_printf(b"%g", value)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="the reference is x86's double-to-int conversion (caget's C cast)")
@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(width=64), st.floats(-(2.0**32), 2.0**32),
                 st.sampled_from([2**31 - 0.5, -(2**31) - 0.5, 2**31 - 0.6, -(2**31) - 0.4])))
def test_dash_l_equals_the_c_conversion_on_x86(value):
    # numpy's float64 -> int32 cast is the same cvttsd2si caget's `val_long = x + 0.5` runs.
    rounded = np.array([value + 0.5 if value > 0.0 else value - 0.5])
    with np.errstate(invalid="ignore"):
        c_long = int(rounded.astype(np.int32)[0])
    assert fmt.format_value(f64(value), float_format="hex") == f"0x{c_long & 0xFFFFFFFF:X}"


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**51 - 1), st.booleans(), st.sampled_from(["g", "e", "f"]),
       st.integers(0, 18))
def test_nan_text_equals_c_printf(payload, negative, kind, digits):
    # Every NaN (any payload, either sign) prints as glibc's printf prints it.
    bits = (0xFFF8 if negative else 0x7FF8) << 48 | payload
    value = np.array([bits], dtype=np.uint64).view(np.float64)[0].item()
    assert math.isnan(value)
    assert fmt.format_value(f64(value), float_format=f"{kind}{digits}") == _c_printf(
        f"%-.{digits}{kind}".encode(), value)
    assert fmt.format_value(f64(value)) == _c_printf(b"%g", value)


@given(st.binary(max_size=64))
def test_escape_round_trip_and_single_line(raw):
    text = fmt.escape_bytes(raw)
    assert text.isprintable() and "\n" not in text
    assert fmt.unescape_string(text) == raw


@given(st.sampled_from([(SHORT, -32768, 32767), (LONG, -(2**31), 2**31 - 1), (CHAR, -128, 255)]),
       st.integers(-(2**40), 2**40))
def test_parse_value_integer_range(spec, number):
    native, low, high = spec
    if low <= number <= high:
        assert fmt.parse_value(str(number), native) == number
        assert fmt.parse_value(hex(number), native) == number
    else:
        with pytest.raises(ValueError, match="out of range"):
            fmt.parse_value(str(number), native)


@pytest.mark.parametrize(("native", "low", "high"),
                         [(SHORT, -32768, 32767), (LONG, -(2**31), 2**31 - 1), (CHAR, -128, 255)])
def test_what_parses_is_what_the_encoder_sends(native, low, high):
    # One range rule for both layers: a value parse_value accepts must not be refused by the
    # DBR encoder afterwards (it was: '-1' for a CHAR parsed, then dbr.encode refused it).
    from caprobe.ca import dbr
    from caprobe.ca.errors import ValueRefused

    for number in (low - 1, low, -1, 0, 1, high, high + 1):
        try:
            value = fmt.parse_value(str(number), native)
        except ValueError:
            assert not low <= number <= high
            with pytest.raises(ValueRefused):
                dbr.encode(native, number)
            continue
        payload, count = dbr.encode(native, value)
        assert count == 1, number
        sent = dbr.decode(native, 1, payload)[0][0]
        # CHAR travels as the unsigned byte: -1 is 0xFF, which caget prints as -1 again.
        assert sent == (number & 0xFF if native == CHAR else number)


@given(st.integers(-(2**31), 2**31 - 1), st.sampled_from(["hex", "oct", "bin", "dec"]))
def test_integer_text_matches_caget_sprint_long(value, int_format):
    text = fmt.format_value(np.array([value], ">i4"), int_format=int_format)
    if int_format == "bin":
        assert text == (f"{value & 0xFFFFFFFF:b}")  # C has no %b: caget loops over the bits
    else:
        pattern = {"dec": b"%d", "hex": b"0x%X", "oct": b"0o%o"}[int_format]
        assert text == _c_printf(pattern, value)


# ------------------------------------------------------------------ EPICS base itself
# epicscorelibs (a test dependency) ships EPICS base's libCom and libca: where they load, the
# escaping, unescaping, timestamp text and name tables are checked against the very functions
# and tables caget uses, not against our reading of them.


@pytest.fixture(scope="module")
def epics_libs():
    import ctypes

    path = pytest.importorskip("epicscorelibs.path")
    try:
        com = ctypes.CDLL(os.path.join(path.lib_path, "libCom.so"), mode=ctypes.RTLD_GLOBAL)
        ca = ctypes.CDLL(os.path.join(path.lib_path, "libca.so"), mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        pytest.skip(f"EPICS base libraries do not load: {exc}")
    return SimpleNamespace(com=com, ca=ca)


def _epics_escape(libs, raw: bytes) -> str:
    import ctypes

    size = 4 * len(raw) + 1
    buffer = ctypes.create_string_buffer(size)
    libs.com.epicsStrnEscapedFromRaw(buffer, size, raw, len(raw))
    return buffer.raw[: buffer.raw.index(b"\0")].decode("ascii")


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=80))
def test_escape_equals_epicsStrnEscapedFromRaw(epics_libs, raw):
    assert fmt.escape_bytes(raw) == _epics_escape(epics_libs, raw)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab\\xnt0'\"fF9 q")), max_size=30))
def test_unescape_equals_epicsStrnRawFromEscaped(epics_libs, text):
    import ctypes

    source = text.encode()
    buffer = ctypes.create_string_buffer(len(source) + 1)
    count = epics_libs.com.epicsStrnRawFromEscaped(buffer, len(source) + 1, source, len(source))
    expected = buffer.raw[:count]
    # EPICS stops at the first NUL it produces only when reading C strings back; the bytes
    # it wrote are the reference.
    assert fmt.unescape_string(text) == expected


@settings(max_examples=200, deadline=None)
@given(seconds=st.integers(0, 2**32 - 1), nanoseconds=st.integers(0, 2**32 - 1),
       nanos=st.booleans())
def test_timestamp_equals_epicsTimeToStrftime(epics_libs, seconds, nanoseconds, nanos):
    import ctypes

    class EpicsTimeStamp(ctypes.Structure):
        _fields_ = [("secPastEpoch", ctypes.c_uint32), ("nsec", ctypes.c_uint32)]

    pattern = b"%Y-%m-%d %H:%M:%S.%09f" if nanos else b"%Y-%m-%d %H:%M:%S.%06f"
    buffer = ctypes.create_string_buffer(64)
    epics_libs.com.epicsTimeToStrftime(buffer, 64, pattern,
                                       ctypes.byref(EpicsTimeStamp(seconds, nanoseconds)))
    assert fmt.format_timestamp(seconds, nanoseconds, nanos=nanos) == buffer.value.decode()


def test_name_tables_equal_epics_base(epics_libs):
    import ctypes

    dbr_text = (ctypes.c_char_p * 39).in_dll(epics_libs.ca, "dbr_text")
    assert [fmt.dbr_type_text(i) for i in range(39)] == [t.decode() for t in dbr_text]
    dbf_text = (ctypes.c_char_p * 9).in_dll(epics_libs.ca, "dbf_text")  # [0] = TYPENOTCONN
    assert [fmt.dbf_type_text(i) for i in range(7)] == [t.decode() for t in dbf_text[1:8]]
    severities = (ctypes.c_char_p * 4).in_dll(epics_libs.com, "epicsAlarmSeverityStrings")
    assert list(fmt.SEVERITY_NAMES) == [s.decode() for s in severities]
    conditions = (ctypes.c_char_p * 22).in_dll(epics_libs.com, "epicsAlarmConditionStrings")
    assert list(fmt.STATUS_NAMES) == [s.decode() for s in conditions]


def test_decode_text_shows_strings_and_states_as_text_not_byte_escapes():
    strings = [b"caf\xc3\xa9 \xe2\x82\xac"]  # UTF-8
    assert fmt.format_value(strings, data_type=fmt.STRING) == "caf\\xc3\\xa9 \\xe2\\x82\\xac"
    assert fmt.format_value(strings, data_type=fmt.STRING, decode_text=True) == "café €"
    assert fmt.format_value([b"J\xfcrgen"], data_type=fmt.STRING, decode_text=True) == "Jürgen"
    chars = np.frombuffer(b"5 \xc2\xb5A\0junk", dtype=np.uint8)
    assert fmt.format_value(chars, data_type=fmt.CHAR, char_as_string=True,
                            decode_text=True) == "5 µA"
    assert fmt.format_value([1], data_type=fmt.ENUM, enum_strings=[b"Off", b"\xc2\xb0C"],
                            decode_text=True) == "°C"
    # control characters stay visible escapes either way: IOC text never drives a display
    assert fmt.format_value([b"a\nb\x1b"], data_type=fmt.STRING, decode_text=True) == "a\\nb\\x1b"


def test_encode_text_is_utf8_and_reads_back_unchanged():
    for text in ("plain", "café 5 µA €", "°C", ""):
        assert fmt.encode_text(text) == text.encode("utf-8")
        assert fmt.to_text(fmt.encode_text(text)) == text
    with pytest.raises(ValueError, match="cannot be written"):
        fmt.encode_text("bad \ud800 surrogate")


# --------------------------------------------------------------------------------------------
# caprobe.ca responses are printed from .tolist() (no numpy): the same text as from .data
# --------------------------------------------------------------------------------------------

_NEG_NAN = -float("nan")
_WIRE_CASES = [
    (TIME_DOUBLE, [1.5]), (TIME_DOUBLE, [_NEG_NAN]), (TIME_DOUBLE, [0.1, -2.5e-300, math.inf,
                                                                     _NEG_NAN, 3e9, 2**31]),
    (16, [0.1]), (16, [_NEG_NAN, 1e38, -0.0]),  # TIME_FLOAT
    (TIME_CHAR, [200]), (TIME_CHAR, [104, 105, 0, 255, 128]), (CTRL_CHAR, [255, 1]),
    (TIME_SHORT, [-32768]), (TIME_SHORT, [1, -2, 3]), (19, [-(2**31), 2**31 - 1]),
    (TIME_ENUM, [1]), (TIME_ENUM, [1, 20, 2]), (CTRL_ENUM, [2]), (CTRL_ENUM, [17]),
    (TIME_STRING, [b"caf\xc3\xa9\t"]), (TIME_STRING, [b"a", b"", b"\x00b"]),
    (CTRL_DOUBLE, [3.14159]), (CTRL_LONG, [7, 8]), (STSACK_STRING, [b"x"]),
    (CLASS_NAME, [b"ai"]), (DOUBLE, []), (TIME_DOUBLE, [float(i) for i in range(300)]),
]
_OPTION_SETS = [
    {}, {"float_format": "hex"}, {"float_format": fmt.FloatFormat("g", 3)}, {"int_format": "hex"},
    {"float_format": "e2", "int_format": "bin"}, {"enum_as_number": True},
    {"char_as_string": True}, {"show_count": True}, {"max_elements": 2}, {"max_elements": 0},
    {"separator": ","}, {"precision": 2}, {"decode_text": True, "units": "mA"},
    {"signed_char": False}, {"char_as_string": True, "max_elements": 1},
]


def _wire_response(data_type, values):
    from caprobe.ca import dbr
    from caprobe.ca import messages as msg

    layout = dbr.LAYOUTS[data_type]
    limit = {FLOAT: -1.5, DOUBLE: -1.5, CHAR: 255}.get(layout.native, -1)
    metadata = None
    if layout.struct is not None:
        filled = {"status": 3, "severity": 2, "secondsSinceEpoch": 1_000_000,
                  "nanoSeconds": 999_999_600, "units": b"mm", "precision": 3, "no_str": 3,
                  "_str0": b"Zero", "_str1": b"One", "_str2": b"Tw\xc3\xb6", "ackt": 1,
                  "acks": 2}
        metadata = tuple(filled.get(name, b"" if name.startswith("_str") else
                                    (limit if "limit" in name else 0))
                         for name in layout.names)
    if data_type == CLASS_NAME:
        payload = values[0].ljust(40, b"\0")
    else:
        payload, _ = dbr.encode(data_type, values, metadata=metadata)
    header = msg.MessageHeader(msg.READ_NOTIFY, len(payload), data_type, len(values), 1, 1)
    return msg.ReadNotifyResponse(header, msg.pack_header(*header), memoryview(payload))


@pytest.mark.parametrize(("data_type", "values"), _WIRE_CASES)
def test_wire_responses_print_as_their_numpy_data(data_type, values):
    for options in _OPTION_SETS:
        # A stand-in carrying the numpy .data goes the generic way; a fresh response is
        # printed from .tolist() (then, once .data exists, from that).
        for real in (_wire_response(data_type, values), None):
            if real is None:
                real = _wire_response(data_type, values)
                _ = real.data
            reference = _wire_response(data_type, values)
            stand_in = SimpleNamespace(data=reference.data, data_type=reference.data_type,
                                       data_count=reference.data_count,
                                       metadata=reference.metadata)
            lines = {
                "value": lambda r, o: fmt.format_value(r, **o),
                "line": lambda r, o: fmt.format_value_line("P:x", r, **o),
                "wide": lambda r, o: fmt.format_wide_line("P:x", r, **o),
                "details": lambda r, o: fmt.format_details(r, pv_name="P:x", **o),
            }
            for name, line in lines.items():
                if name == "details" and ("units" in options or "precision" in options):
                    continue
                assert line(real, dict(options)) == line(stand_in, dict(options)), (name,
                                                                                   options)


def test_float_format_is_an_immutable_value():
    import copy
    import pickle

    spec = fmt.FloatFormat("e", 3)
    assert spec == fmt.FloatFormat(kind="e", digits=3) and spec != fmt.FloatFormat("e", 4)
    assert fmt.FloatFormat() == fmt.FloatFormat("g", None, None)
    assert hash(spec) == hash(fmt.FloatFormat("e", 3)) and len({spec, fmt.FloatFormat("e", 3)}) == 1
    assert repr(spec) == "FloatFormat(kind='e', digits=3, pattern=None)"
    assert pickle.loads(pickle.dumps(spec)) == spec == copy.deepcopy(spec)
    assert spec != ("e", 3, None)
    with pytest.raises(AttributeError):
        spec.kind = "f"
    with pytest.raises(AttributeError):
        del spec.digits
