"""caprobe.ca against a caproto server (tests/ioc/caproto_ioc.py, CAPROTO_PVS).

caproto servers differ from rsrv in places the client must cope with: DBR_CTRL_STRING comes in
the 12-byte TIME_STRING layout, a failed WRITE_NOTIFY is an ERROR message, a DBR_STRING read of
a char array gives one character per element, strings are stored up to 40 bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import ca_helpers
import caproto
import numpy as np
import pytest
from ca_helpers import TIMEOUT, read, write
from caproto._commands import read_from_bytestream
from caproto.sync import client as caproto_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import CAPROTO_PVS

from caprobe import ca
from caprobe.ca import ChannelType, ErrorResponseReceived, ValueRefused, WriteFailed

LONG_TEXT = b"This long string is longer than forty characters: 0123456789"
READABLE_TYPES = [t for t in range(39) if t not in (35, 36)]
STRING_VALUED = {0, 7, 14, 21, 28, 37}
FLOAT_VALUED = {2, 6, 9, 13, 16, 20, 23, 27, 30, 34}


def pad8(n: int) -> int:
    return (n + 7) & ~7


@pytest.fixture
def restore(caproto_env: Any) -> Iterator[Callable[[str, Any], None]]:
    """``restore(suffix, value)``: write ``value`` back to the caproto IOC when the test ends."""
    yield from ca_helpers.restorer(caproto_env)


# ---------------------------------------------------------------------------------------------
# Reading


@pytest.mark.parametrize(("suffix", "expected"), [
    ("double", [1.5]),
    ("long", [42]),
    ("enum", [b"Off"]),
    ("string", [b"hello"]),
    ("int_array", [1, -2, 3, 4, 5]),
    ("double_array", [0.5, 1.5, 2.5]),
    ("read_only", [3.25]),
])
def test_read_native_values(caproto_env, suffix, expected):
    data = read(caproto_env, suffix).data
    assert (data if isinstance(data, list) else data.tolist()) == expected


def test_read_char_array_as_long_string(caproto_env):
    res = read(caproto_env, "long_string")
    assert res.data_type == ChannelType.CHAR
    assert res.data_count == len(LONG_TEXT)
    assert res.data.tobytes() == LONG_TEXT


@pytest.mark.parametrize("suffix", sorted(CAPROTO_PVS))
def test_info_matches_raw_create_chan(caproto_env, suffix):
    raw_type, raw_count, raw_access = caproto_env.channel_info(suffix)
    info = ca.info(caproto_env.pv(suffix), timeout=TIMEOUT, repeater=False)
    assert info.native_data_type.name == raw_type
    assert info.native_data_count == raw_count == CAPROTO_PVS[suffix][1]
    assert int(info.access) == raw_access
    assert info.port == caproto_env.tcp_port


def test_read_only_pv_reports_read_access_only(caproto_env):
    info = ca.info(caproto_env.pv("read_only"), timeout=TIMEOUT, repeater=False)
    assert info.can_read and not info.can_write


def test_counter_changes_between_reads(caproto_env):
    first = read(caproto_env, "counter").data[0]
    deadline = time.monotonic() + 3.0
    while read(caproto_env, "counter").data[0] == first:
        assert time.monotonic() < deadline, "counter did not advance"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# Every DBR type


def caproto_decode(raw: bytes) -> Any:
    remaining, command, _ = read_from_bytestream(bytearray(raw), caproto.SERVER)
    assert len(remaining) == 0
    return command


@pytest.mark.parametrize("dbr_type", READABLE_TYPES, ids=lambda t: ChannelType(t).name)
@pytest.mark.parametrize("suffix", ["double", "long", "enum", "long_string"])
def test_every_dbr_type_decodes_from_caproto_server(caproto_env, suffix, dbr_type):
    res = read(caproto_env, suffix, data_type=dbr_type)
    assert res.data_type == dbr_type and res.status.success
    if dbr_type in (37, 38):
        return  # caproto servers fill these their own way (empty STSACK value, 'caproto')
    theirs = caproto_decode(bytes(res))
    if dbr_type in STRING_VALUED:
        assert list(theirs.data) == res.data
    else:
        np.testing.assert_array_equal(np.asarray(theirs.data), res.data)
    expected_number = {"double": [1.5], "long": [42], "enum": [0],
                       "long_string": list(LONG_TEXT)}[suffix]
    if dbr_type in STRING_VALUED:
        expected_text = {"double": [b"1.5"], "long": [b"42"], "enum": [b"Off"],
                         "long_string": [bytes([c]) for c in LONG_TEXT]}[suffix]
        assert res.data == expected_text
    elif dbr_type in FLOAT_VALUED:
        assert res.data.tolist() == expected_number
    else:
        assert res.data.tolist() == [int(v) for v in expected_number]
    if res.metadata is not None:
        assert (res.metadata.status, res.metadata.severity) == (0, 0)


@pytest.mark.parametrize("dbr_type", [t for t in READABLE_TYPES if t not in STRING_VALUED
                                      and t != 38], ids=lambda t: ChannelType(t).name)
def test_numeric_read_of_text_pv_gives_server_error_or_decoded_data(caproto_env, dbr_type):
    """A numeric read of the string PV ("hello"): caproto fails it with an ERROR message, except
    that it answers a *_CHAR read with the text's bytes when it runs on Python 3.12 or newer (its
    ``data_type in _LongStringChannelType`` check matches plain CHAR there, as Enum membership
    tests accept values from 3.12 on). caprobe must handle either answer; caproto's own client,
    asking the same server the same thing, says which one this server gives."""
    name = caproto_env.pv("string")
    try:
        theirs = caproto_client.read(name, data_type=dbr_type, timeout=TIMEOUT, repeater=False)
    except caproto.ErrorResponseReceived:
        theirs = None
    is_char = ChannelType(dbr_type).name.endswith("CHAR")
    if theirs is None or not is_char:
        assert theirs is None, "only a CHAR read of text may be answered with data"
        with pytest.raises(ErrorResponseReceived) as info:
            read(caproto_env, "string", data_type=dbr_type)
        assert not info.value.status.success
        assert "CaprotoConversionError" in info.value.server_text  # the server's own words
        assert name in str(info.value) and info.value.server_text in str(info.value)
        return
    res = read(caproto_env, "string", data_type=dbr_type)
    assert res.data_type == dbr_type and res.status.success
    assert res.data_count == len(b"hello")
    assert res.data.tobytes() == b"hello"
    np.testing.assert_array_equal(res.data, np.asarray(theirs.data))
    np.testing.assert_array_equal(res.data, np.asarray(caproto_decode(bytes(res)).data))
    if res.metadata is not None:
        assert (res.metadata.status, res.metadata.severity) == (0, 0)


def test_ctrl_string_from_caproto_server_uses_12_byte_layout(caproto_env):
    res = read(caproto_env, "string", data_type=ChannelType.CTRL_STRING)
    assert res.header.payload_size == pad8(12 + 40)
    assert res.data == [b"hello"]
    assert res.metadata.secondsSinceEpoch > 0


def test_ctrl_string_of_many_elements_from_caproto_server(caproto_env):
    res = read(caproto_env, "long_string", data_type=ChannelType.CTRL_STRING)
    assert res.header.payload_size == pad8(12 + 40 * len(LONG_TEXT))
    assert res.data == [bytes([c]) for c in LONG_TEXT]


def test_gr_string_from_caproto_server_uses_4_byte_layout(caproto_env):
    res = read(caproto_env, "string", data_type=ChannelType.GR_STRING)
    assert res.header.payload_size == pad8(4 + 40)
    assert res.data == [b"hello"]


def test_control_metadata_of_double(caproto_env):
    md = read(caproto_env, "double", data_type="control").metadata
    assert (md.units, md.precision) == (b"mm", 3)
    limits = (md.upper_disp_limit, md.lower_disp_limit, md.upper_alarm_limit,
              md.upper_warning_limit, md.lower_warning_limit, md.lower_alarm_limit,
              md.upper_ctrl_limit, md.lower_ctrl_limit)
    assert limits == (10.0, -10.0, 9.0, 5.0, -5.0, -9.0, 10.0, -10.0)


def test_units_of_long_are_bytes(caproto_env):
    assert read(caproto_env, "long", data_type="graphic").metadata.units == b"cts"


def test_ctrl_enum_gives_enum_strings(caproto_env):
    res = read(caproto_env, "enum", data_type="control")
    assert res.data_type == ChannelType.CTRL_ENUM
    assert res.metadata.enum_strings == (b"Off", b"On", b"Fault")
    assert res.data.tolist() == [0]


def test_time_metadata_from_caproto_server(caproto_env):
    md = read(caproto_env, "counter", data_type="time").metadata
    assert abs(md.timestamp - time.time()) < 60
    assert md.timestamp == pytest.approx(
        md.secondsSinceEpoch + 631152000 + md.nanoSeconds * 1e-9, abs=1e-6)


def test_put_ack_types_are_not_readable_from_caproto_server(caproto_env):
    for dbr_type in (35, 36):
        with pytest.raises(ValueRefused):
            read(caproto_env, "double", data_type=dbr_type)


def test_enum_force_int_enums(caproto_env):
    res = read(caproto_env, "enum", force_int_enums=True)
    assert res.data_type == ChannelType.ENUM and res.data.tolist() == [0]


# ---------------------------------------------------------------------------------------------
# Writing


def test_write_enum_by_string_and_by_index(caproto_env, restore):
    restore("enum", "Off")
    write(caproto_env, "enum", "On", notify=True)
    assert read(caproto_env, "enum").data == [b"On"]
    write(caproto_env, "enum", 2, notify=True)
    assert read(caproto_env, "enum").data == [b"Fault"]


@pytest.mark.parametrize("value", ["NoSuchState", 5], ids=["bad-string", "index-past-states"])
def test_write_invalid_enum_with_notify_raises_write_failed(caproto_env, value):
    with pytest.raises(WriteFailed) as info:
        write(caproto_env, "enum", value, notify=True)
    assert info.value.status.name == "ECA_PUTFAIL"
    assert read(caproto_env, "enum").data == [b"Off"]


@pytest.mark.xfail(reason="BUG: write(notify=False) never reports a put that a caproto server "
                   "rejects: caproto runs the put in its own task and acknowledges the "
                   "CLEAR_CHANNEL first, then drops the ERROR for the cleared channel, so "
                   "waiting for the CLEAR_CHANNEL ack catches nothing (rsrv works)",
                   strict=True)
@pytest.mark.parametrize(("suffix", "value"), [("enum", "NoSuchState"), ("double", "abc")])
def test_write_rejected_by_caproto_server_without_notify_raises_write_failed(caproto_env,
                                                                             suffix, value):
    for _ in range(3):
        with pytest.raises(WriteFailed):
            write(caproto_env, suffix, value)


def test_non_numeric_string_to_double_with_notify_raises_write_failed(caproto_env):
    with pytest.raises(WriteFailed) as info:
        write(caproto_env, "double", "abc", notify=True)
    assert info.value.status.name == "ECA_PUTFAIL"
    assert read(caproto_env, "double").data.tolist() == [1.5]


def test_numeric_string_to_double_is_converted_by_server(caproto_env, restore):
    restore("double", 1.5)
    write(caproto_env, "double", "2.5", notify=True)
    assert read(caproto_env, "double").data.tolist() == [2.5]


def test_string_of_39_characters_round_trips(caproto_env, restore):
    restore("string", "hello")
    write(caproto_env, "string", "z" * 39, notify=True)
    assert read(caproto_env, "string").data == [b"z" * 39]


def test_string_of_40_characters_is_refused_before_sending(caproto_env, sent_writes):
    with pytest.raises(ValueRefused):
        write(caproto_env, "string", "z" * 40, notify=True)
    assert sent_writes == []
    assert read(caproto_env, "string").data == [b"hello"]


def test_40_character_string_without_nul_from_caproto_server_is_read_whole(caproto_env,
                                                                           restore):
    # caproto's own client may store 45 characters; the server keeps 40 and sends no NUL.
    restore("string", "hello")
    caproto_client.write(caproto_env.pv("string"), "q" * 45, notify=True, timeout=TIMEOUT,
                         repeater=False)
    for data_type in (None, "time", "control"):
        assert read(caproto_env, "string", data_type=data_type).data == [b"q" * 40]


def test_latin1_string_round_trips(caproto_env, restore):
    restore("string", "hello")
    write(caproto_env, "string", "J\xfcrgen", notify=True)
    assert read(caproto_env, "string").data == [b"J\xfcrgen"]


def test_write_text_to_char_array(caproto_env, restore):
    restore("long_string", LONG_TEXT)
    write(caproto_env, "long_string", "hello world", notify=True)
    res = read(caproto_env, "long_string")
    assert res.data_count == 11 and res.data.tobytes() == b"hello world"


def test_write_empty_list_to_array(caproto_env, restore):
    restore("int_array", [1, -2, 3, 4, 5])
    assert write(caproto_env, "int_array", [], notify=True).data_count == 0
    res = read(caproto_env, "int_array")
    assert res.data_count == 0 and res.data.size == 0


def test_write_array_and_read_back(caproto_env, restore):
    restore("double_array", [0.5, 1.5, 2.5])
    values = [float(v) for v in range(-5, 5)]
    write(caproto_env, "double_array", np.array(values), notify=True)
    assert read(caproto_env, "double_array").data.tolist() == values


@pytest.mark.parametrize("notify", [False, True])
def test_write_to_read_only_pv_fails_before_sending(caproto_env, sent_writes, notify):
    with pytest.raises(WriteFailed) as info:
        write(caproto_env, "read_only", 1.0, notify=notify)
    assert info.value.status.name == "ECA_NOWTACCESS"
    assert sent_writes == []
    assert read(caproto_env, "read_only").data.tolist() == [3.25]


@pytest.mark.parametrize(("suffix", "value"), [("long", float("nan")), ("long", 2**31),
                                               ("int_array", [1, 2.5]), ("enum", 70000)])
def test_out_of_range_value_refused_before_sending(caproto_env, sent_writes, suffix, value):
    with pytest.raises(ValueRefused):
        write(caproto_env, suffix, value)
    assert sent_writes == []


def test_read_write_read_on_caproto_server(caproto_env, restore):
    restore("long", 42)
    initial, response, final = ca.read_write_read(caproto_env.pv("long"), 43, notify=True,
                                                  timeout=TIMEOUT, repeater=False)
    assert initial.data.tolist() == [42]
    assert response.status.success
    assert final.data.tolist() == [43]


@pytest.mark.parametrize("priority", [0, 99])
def test_priority_is_accepted_by_caproto_server(caproto_env, priority):
    assert read(caproto_env, "double", priority=priority).data.tolist() == [1.5]


ROUND_TRIP = settings(max_examples=25, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


@ROUND_TRIP
@given(values=st.lists(st.floats(allow_nan=False), min_size=1, max_size=10))
def test_any_doubles_round_trip_through_caproto_array(caproto_env, restore, values):
    restore("double_array", [0.5, 1.5, 2.5])
    write(caproto_env, "double_array", values, notify=True)
    assert read(caproto_env, "double_array").data.tolist() == values


@ROUND_TRIP
@given(values=st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=10))
def test_any_int32_values_round_trip_through_caproto_array(caproto_env, restore, values):
    restore("int_array", [1, -2, 3, 4, 5])
    write(caproto_env, "int_array", values, notify=True)
    assert read(caproto_env, "int_array").data.tolist() == values


@ROUND_TRIP
@given(text=st.binary(max_size=39).filter(lambda b: b"\0" not in b))
def test_any_string_of_up_to_39_bytes_round_trips_through_caproto(caproto_env, restore, text):
    restore("string", "hello")
    write(caproto_env, "string", text, notify=True)
    assert read(caproto_env, "string").data == [text]
