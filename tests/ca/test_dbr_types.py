"""Every DBR type (0-38) on a PV of every native type, read from EPICS base rsrv (softioc).

Checked independently of caprobe's own layout table: the metadata size before the value
(``MD_SIZE``, from db_access.h / research 1.5) against the payload size and the value bytes
on the wire, the decoded values and metadata, and caproto's decoder run on ``bytes(res)``
(caproto misreads DBR_CTRL_STRING from rsrv, so that one type is left out of the comparison).
"""

from __future__ import annotations

import math
import time
from typing import Any

import caproto
import numpy as np
import pytest
from caproto._commands import read_from_bytestream

from caprobe import ca
from caprobe.ca import ChannelType, ErrorResponseReceived, ValueRefused

TIMEOUT = 2.0
EPICS_EPOCH = 631152000

# Bytes of metadata before the first value element, per DBR type (db_access.h dbr_size[]
# minus the value). GR/CTRL_STRING are laid out as STS_STRING in EPICS base.
MD_SIZE = {
    0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0,
    7: 4, 8: 4, 9: 4, 10: 4, 11: 5, 12: 4, 13: 8,
    14: 12, 15: 14, 16: 12, 17: 14, 18: 15, 19: 12, 20: 16,
    21: 4, 22: 24, 23: 40, 24: 422, 25: 19, 26: 36, 27: 64,
    28: 4, 29: 28, 30: 48, 31: 422, 32: 21, 33: 44, 34: 80,
    37: 8, 38: 0,
}
ELEMENT_SIZE = {0: 40, 1: 2, 2: 4, 3: 2, 4: 1, 5: 4, 6: 8}
READABLE_TYPES = sorted(MD_SIZE)
STRING_VALUED = {0, 7, 14, 21, 28, 37}
FLOAT_VALUED = {2, 6, 9, 13, 16, 20, 23, 27, 30, 34}
ENUM_VALUED = {3, 10, 17, 24, 31}
LIMIT_NAMES = ("upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
               "upper_warning_limit", "lower_warning_limit", "lower_alarm_limit")
CTRL_LIMIT_NAMES = ("upper_ctrl_limit", "lower_ctrl_limit")

WF_CHAR = list(b"hello world\0")


class Expect:
    """What each PV holds, in the forms the server converts it to."""

    def __init__(self, record_type: str, number: Any, integer: Any, text: Any,
                 count: int = 1) -> None:
        self.record_type = record_type
        self.number = number if isinstance(number, list) else [number]
        self.integer = integer if isinstance(integer, list) else [integer]
        self.text = text if text is None or isinstance(text, list) else [text]
        self.count = count


# text None: the server's formatting (PREC 0 rounding) is not ours to test.
PVS = {
    "ai": Expect("ai", 1.5, 1, b"1.500"),
    "long": Expect("longout", 42, 42, b"42"),
    "ai.PREC": Expect("ai", 3, 3, b"3"),
    "float": Expect("waveform", 2.5, 2, None),
    "wf_char": Expect("waveform", WF_CHAR, WF_CHAR, [str(c).encode() for c in WF_CHAR],
                      count=len(WF_CHAR)),
    "mbbo": Expect("mbbo", 0, 0, b"Zero"),
    "str": Expect("stringout", 12, 12, b"12"),  # set to "12" by the module fixture
}


def pad8(n: int) -> int:
    return (n + 7) & ~7


def native_of(dbr_type: int) -> int:
    return 0 if dbr_type in (37, 38) else dbr_type % 7


@pytest.fixture(scope="class")
def numeric_text_in_str(softioc_server: Any) -> Any:
    """$(P)str holds "12" for the tests of a class, so every DBR type has a value to
    convert."""
    env = {**softioc_server.env}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        ca.write(softioc_server.pv("str"), "12", notify=True, timeout=TIMEOUT,
                 repeater=False)
        try:
            yield softioc_server
        finally:
            ca.write(softioc_server.pv("str"), "hello", notify=True, timeout=TIMEOUT,
                     repeater=False)


def caproto_decode(raw: bytes) -> Any:
    remaining, command, _ = read_from_bytestream(bytearray(raw), caproto.SERVER)
    assert len(remaining) == 0
    return command


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bytes) and len(a) == 1 and isinstance(b, int):
        a = a[0]  # caproto keeps DBR_GR/CTRL_CHAR limits as ctypes c_char
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def read_type(server: Any, suffix: str, dbr_type: int, **kwargs: Any) -> Any:
    return ca.read(server.pv(suffix), data_type=dbr_type, timeout=TIMEOUT, repeater=False,
                   **kwargs)


# ---------------------------------------------------------------------------------------------
# All 37 readable types x 7 native types


@pytest.mark.usefixtures("numeric_text_in_str")
class TestEveryDbrTypeOnEveryNativeType:
    @pytest.mark.parametrize("dbr_type", READABLE_TYPES, ids=lambda t: ChannelType(t).name)
    @pytest.mark.parametrize("suffix", sorted(PVS))
    def test_decodes_from_rsrv(self, softioc_env, suffix, dbr_type):
        check_dbr_type_from_rsrv(softioc_env, suffix, dbr_type)


def check_dbr_type_from_rsrv(softioc_env: Any, suffix: str, dbr_type: int) -> None:
    expect = PVS[suffix]
    if suffix == "str" and dbr_type in ENUM_VALUED:
        # rsrv cannot turn the string "12" into an enum index: the read fails, cleanly.
        with pytest.raises(ErrorResponseReceived) as info:
            read_type(softioc_env, suffix, dbr_type)
        assert info.value.status.name == "ECA_GETFAIL"
        return
    res = read_type(softioc_env, suffix, dbr_type)
    assert res.data_type == dbr_type
    assert res.status.success

    # Payload size = metadata + count elements, padded to 8 (GR/CTRL_STRING: 4-byte layout).
    count = res.data_count
    if dbr_type != 38:  # rsrv answers a dynamic CLASS_NAME read with NELM strings
        assert count == expect.count
    md = MD_SIZE[dbr_type]
    value_size = ELEMENT_SIZE[native_of(dbr_type)]
    assert res.header.payload_size == pad8(md + count * value_size)
    raw = bytes(res)
    header_size = len(raw) - res.header.payload_size
    value_bytes = raw[header_size + md: header_size + md + count * value_size]

    # Values.
    if dbr_type == 38:
        assert res.metadata.class_name == expect.record_type.encode()
        assert res.data[0] == expect.record_type.encode()
        assert value_bytes.startswith(expect.record_type.encode() + b"\0")
        return
    if dbr_type in STRING_VALUED:
        assert isinstance(res.data, list)
        assert all(isinstance(item, bytes) for item in res.data)
        if expect.text is not None:
            assert res.data == expect.text
        assert value_bytes[:40].startswith(res.data[0] + b"\0")
    else:
        wanted = expect.number if dbr_type in FLOAT_VALUED else expect.integer
        assert res.data.tolist() == wanted
        assert res.data.dtype.byteorder in (">", "|")
        assert value_bytes == res.data.tobytes()

    # Metadata by class.
    md_obj = res.metadata
    if dbr_type <= 6:
        assert md_obj is None
        return
    assert (md_obj.status, md_obj.severity) == (0, 0)
    if 14 <= dbr_type <= 20:
        assert md_obj.secondsSinceEpoch > 0
        assert 0 <= md_obj.nanoSeconds < 1_000_000_000
        assert md_obj.timestamp == pytest.approx(
            md_obj.secondsSinceEpoch + EPICS_EPOCH + md_obj.nanoSeconds * 1e-9, abs=1e-6)
        assert abs(md_obj.timestamp - time.time()) < 24 * 3600
    if dbr_type in (24, 31):
        if suffix == "mbbo":
            assert len(md_obj.enum_strings) == 16
        else:
            assert md_obj.enum_strings == ()
    elif 22 <= dbr_type <= 34 and dbr_type not in (28,):
        names = LIMIT_NAMES + (CTRL_LIMIT_NAMES if dbr_type >= 29 else ())
        for name in names + ("units",):
            assert hasattr(md_obj, name), name
        if dbr_type in (23, 27, 30, 34):
            assert isinstance(md_obj.precision, int)
    if dbr_type == 37:
        assert md_obj.ackt in (0, 1) and md_obj.acks in range(4)


@pytest.mark.parametrize("dbr_type", [t for t in READABLE_TYPES if t != 28],
                         ids=lambda t: ChannelType(t).name)
@pytest.mark.parametrize("suffix", ["ai", "long", "ai.PREC", "float", "wf_char", "mbbo"])
def test_caproto_decoder_agrees_on_the_wire_bytes(softioc_env, suffix, dbr_type):
    res = read_type(softioc_env, suffix, dbr_type)
    theirs = caproto_decode(bytes(res))
    assert int(theirs.data_type) == dbr_type
    assert theirs.data_count == res.data_count
    if dbr_type in (37, 38):
        # caproto keeps these values in its metadata struct and leaves .data empty.
        if dbr_type == 37:
            assert (theirs.metadata.ackt, theirs.metadata.acks) == (res.metadata.ackt,
                                                                    res.metadata.acks)
            assert theirs.metadata.value == res.data[0]
        return
    if dbr_type in STRING_VALUED:
        assert list(theirs.data) == res.data
    else:
        np.testing.assert_array_equal(np.asarray(theirs.data), res.data)
    if res.metadata is None:
        assert theirs.metadata is None
        return
    for name in res.metadata.fields:
        if name == "enum_strings":
            assert tuple(theirs.metadata.enum_strings) == res.metadata.enum_strings
        elif name in ("secondsSinceEpoch", "nanoSeconds"):
            assert getattr(theirs.metadata, name) == getattr(res.metadata, name)
        else:
            assert same(getattr(theirs.metadata, name), getattr(res.metadata, name)), name


@pytest.mark.parametrize("dbr_type", [t for t in READABLE_TYPES if t != 38],
                         ids=lambda t: ChannelType(t).name)
def test_every_dbr_type_on_empty_waveform_gives_metadata_and_no_elements(softioc_env,
                                                                        dbr_type):
    res = read_type(softioc_env, "wf_empty", dbr_type)
    assert res.data_count == 0
    assert len(res.data) == 0
    assert res.header.payload_size == pad8(MD_SIZE[dbr_type])
    if dbr_type >= 7:
        # Never processed: UDF alarm, INVALID severity.
        assert (res.metadata.status, res.metadata.severity) == (17, 3)
    else:
        assert res.metadata is None


# ---------------------------------------------------------------------------------------------
# GR/CTRL_STRING: EPICS' 4-byte layout


@pytest.mark.parametrize("dbr_type", [ChannelType.GR_STRING, ChannelType.CTRL_STRING])
def test_gr_and_ctrl_string_from_rsrv_use_the_4_byte_sts_layout(softioc_env, dbr_type):
    res = read_type(softioc_env, "str", dbr_type)
    assert res.header.payload_size == 48  # 4 + 40, padded to 8
    assert res.data == [b"hello"]
    assert res.metadata.fields == ("status", "severity")


def test_ctrl_string_of_many_elements_from_rsrv(softioc_env):
    res = read_type(softioc_env, "wf_char", ChannelType.CTRL_STRING)
    assert res.header.payload_size == pad8(4 + 40 * 12)
    assert res.data == [str(c).encode() for c in WF_CHAR]


def test_control_class_on_string_pv_reads_value_and_alarm(softioc_env):
    res = ca.read(softioc_env.pv("str"), data_type="control", timeout=TIMEOUT, repeater=False)
    assert res.data == [b"hello"]
    assert (res.metadata.status, res.metadata.severity) == (0, 0)


# ---------------------------------------------------------------------------------------------
# Type classes and how a type may be named


@pytest.mark.parametrize(("suffix", "native"), [
    ("str", 0), ("ai.PREC", 1), ("float", 2), ("mbbo", 3), ("wf_char", 4), ("long", 5),
    ("ai", 6),
])
@pytest.mark.parametrize(("dbr_class", "offset"), [
    ("native", 0), ("status", 7), ("time", 14), ("graphic", 21), ("control", 28),
])
def test_dbr_class_name_promotes_native_type(softioc_env, suffix, native, dbr_class, offset):
    res = ca.read(softioc_env.pv(suffix), data_type=dbr_class, timeout=TIMEOUT,
                  repeater=False)
    assert res.data_type == native + offset
    assert res.channel.native_data_type == native


@pytest.mark.parametrize("spelling", [ChannelType.TIME_DOUBLE, 20, "time"])
def test_data_type_given_as_channel_type_int_or_class(softioc_env, spelling):
    res = ca.read(softioc_env.pv("ai"), data_type=spelling, timeout=TIMEOUT, repeater=False)
    assert res.data_type == ChannelType.TIME_DOUBLE
    assert res.data.tolist() == [1.5]


# ---------------------------------------------------------------------------------------------
# Metadata values


def test_ctrl_double_of_ai_gives_units_precision_and_limits_in_order(softioc_env):
    res = ca.read(softioc_env.pv("ai"), data_type="control", timeout=TIMEOUT, repeater=False)
    md = res.metadata
    assert res.data_type == ChannelType.CTRL_DOUBLE
    assert md.units == b"mm"
    assert md.precision == 3
    limits = [getattr(md, name) for name in LIMIT_NAMES + CTRL_LIMIT_NAMES]
    assert limits == [10.0, -10.0, 9.0, 5.0, -5.0, -9.0, 10.0, -10.0]
    assert md.fields == ("status", "severity", "precision", "units") + LIMIT_NAMES + \
        CTRL_LIMIT_NAMES


@pytest.mark.parametrize(("dbr_type", "kind"), [
    (ChannelType.GR_INT, int), (ChannelType.GR_LONG, int), (ChannelType.GR_FLOAT, float),
    (ChannelType.CTRL_INT, int), (ChannelType.CTRL_LONG, int),
    (ChannelType.CTRL_FLOAT, float),
])
def test_limits_of_ai_converted_to_requested_type(softioc_env, dbr_type, kind):
    md = read_type(softioc_env, "ai", dbr_type).metadata
    assert md.units == b"mm"
    values = [getattr(md, name) for name in LIMIT_NAMES]
    assert values == [10, -10, 9, 5, -5, -9]
    assert all(isinstance(v, kind) for v in values)
    if dbr_type >= ChannelType.CTRL_STRING:
        assert (md.upper_ctrl_limit, md.lower_ctrl_limit) == (10, -10)


def test_gr_char_limits_are_unsigned_bytes(softioc_env):
    md = read_type(softioc_env, "ai", ChannelType.GR_CHAR).metadata
    # DBR_GR_CHAR limits are epicsUInt8: -10 arrives as 246.
    assert (md.upper_disp_limit, md.lower_disp_limit) == (10, 246)


def test_ctrl_enum_of_mbbo_gives_16_states_including_25_char_state(softioc_env):
    res = read_type(softioc_env, "mbbo", ChannelType.CTRL_ENUM)
    strings = res.metadata.enum_strings
    assert len(strings) == 16
    assert strings[:4] == (b"Zero", b"One", b"Two", b"Three")
    assert strings[-1] == b"Twenty-five char state!!!"
    assert len(strings[-1]) == 25
    assert all(isinstance(s, bytes) for s in strings)


def test_gr_enum_of_bo_gives_its_two_states(softioc_env):
    md = read_type(softioc_env, "bo", ChannelType.GR_ENUM).metadata
    assert md.enum_strings == (b"Off", b"On")


def test_long_and_waveform_units_and_precision(softioc_env):
    assert read_type(softioc_env, "long", "control").metadata.units == b"cts"
    md = read_type(softioc_env, "wf_double", "graphic").metadata
    assert (md.units, md.precision) == (b"s", 3)


# ---------------------------------------------------------------------------------------------
# Timestamps


def test_time_metadata_keeps_raw_epics_stamp(softioc_env):
    md = read_type(softioc_env, "counter", "time").metadata
    assert isinstance(md.secondsSinceEpoch, int) and isinstance(md.nanoSeconds, int)
    assert md.timestamp == pytest.approx(
        md.secondsSinceEpoch + EPICS_EPOCH + md.nanoSeconds / 1e9, abs=1e-6)
    assert abs(md.timestamp - time.time()) < 60


def test_nanoseconds_are_not_truncated_to_microseconds(softioc_env):
    # rsrv stamps carry full nanoseconds; caproto's float conversion truncates to us.
    stamps = {read_type(softioc_env, "counter", "time").metadata.nanoSeconds
              for _ in range(10)}
    assert any(nanos % 1000 for nanos in stamps)


def test_never_processed_record_has_epics_epoch_stamp_and_udf_invalid(softioc_env):
    res = read_type(softioc_env, "wf_empty", "time")
    md = res.metadata
    assert (md.secondsSinceEpoch, md.nanoSeconds) == (0, 0)
    assert md.timestamp == 631152000.0
    assert md.severity == ca.AlarmSeverity.INVALID_ALARM
    assert md.status == ca.AlarmStatus.UDF
    assert res.data_count == 0 and res.data.size == 0


def test_unwritten_long_string_reads_udf_invalid(softioc_env):
    md = read_type(softioc_env, "lso", "time").metadata
    assert (md.severity, md.status) == (3, 17)


# ---------------------------------------------------------------------------------------------
# PUT_ACKT / PUT_ACKS / STSACK_STRING / CLASS_NAME


@pytest.mark.parametrize("dbr_type", [ChannelType.PUT_ACKT, ChannelType.PUT_ACKS, 35, 36])
def test_put_ack_types_are_not_readable(softioc_env, dbr_type):
    with pytest.raises(ValueRefused):
        read_type(softioc_env, "ai", dbr_type)


def test_put_ackt_is_writable_and_shows_in_stsack_string(softioc_env):
    try:
        response = ca.write(softioc_env.pv("ai"), 0, data_type=ChannelType.PUT_ACKT,
                            notify=True, timeout=TIMEOUT, repeater=False)
        assert response.status.success
        assert response.data_type == ChannelType.PUT_ACKT
        assert read_type(softioc_env, "ai", ChannelType.STSACK_STRING).metadata.ackt == 0
    finally:
        ca.write(softioc_env.pv("ai"), 1, data_type=35, notify=True, timeout=TIMEOUT,
                 repeater=False)
    assert read_type(softioc_env, "ai", ChannelType.STSACK_STRING).metadata.ackt == 1


@pytest.mark.parametrize("notify", [True, False])
def test_put_acks_is_writable(softioc_env, notify):
    response = ca.write(softioc_env.pv("ai"), 0, data_type=36, notify=notify,
                        timeout=TIMEOUT, repeater=False)
    if notify:
        assert response.status.success and response.data_type == ChannelType.PUT_ACKS
    else:
        assert response is None


def test_stsack_string_gives_value_status_and_ack_fields(softioc_env):
    res = read_type(softioc_env, "ai", ChannelType.STSACK_STRING)
    assert res.data == [b"1.500"]
    assert res.metadata.fields == ("status", "severity", "ackt", "acks")
    assert (res.metadata.ackt, res.metadata.acks) == (1, 0)
    assert res.header.payload_size == 48


@pytest.mark.parametrize(("suffix", "record_type"), [
    ("ai", b"ai"), ("ao", b"ao"), ("long", b"longout"), ("bo", b"bo"), ("mbbo", b"mbbo"),
    ("str", b"stringout"), ("lso", b"lso"), ("wf_double", b"waveform"),
    ("counter", b"calc"), ("slow:delay", b"calcout"),
])
def test_class_name_gives_record_type(softioc_env, suffix, record_type):
    res = read_type(softioc_env, suffix, ChannelType.CLASS_NAME, data_count=1)
    assert res.metadata.class_name == record_type
    assert res.data == [record_type]
