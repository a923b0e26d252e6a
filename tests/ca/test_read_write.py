"""caprobe.ca read / write / read_write_read / info against EPICS base rsrv (softioc).

Values come from tests/ioc/test.db (see SOFTIOC_PVS in tests/servers.py). Every call passes
``repeater=False`` so no test spawns a repeater. A test that changes a shared PV puts the
original value back through the ``restore`` fixture.
"""

from __future__ import annotations

import math
import struct
import threading
import time

import numpy as np
import pytest
from ca_helpers import TIMEOUT, read, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import SOFTIOC_PVS

from caprobe import ca
from caprobe.ca import (
    AccessRights,
    CATimeoutError,
    ChannelType,
    ReadNotifyResponse,
    ValueRefused,
    WriteFailed,
    WriteNotifyResponse,
)

# ---------------------------------------------------------------------------------------------
# Reading scalars and arrays


@pytest.mark.parametrize(("suffix", "data_type", "expected"), [
    ("ai", ChannelType.DOUBLE, [1.5]),
    ("long", ChannelType.LONG, [42]),
    ("short", ChannelType.INT, [7]),
    ("ai.PREC", ChannelType.INT, [3]),
    ("float", ChannelType.FLOAT, [2.5]),
    ("ro", ChannelType.DOUBLE, [3.25]),
])
def test_read_numeric_scalar_gives_value_in_native_type(softioc_env, suffix, data_type,
                                                        expected):
    res = read(softioc_env, suffix)
    assert isinstance(res, ReadNotifyResponse)
    assert res.data_type == data_type
    assert res.data_count == 1
    assert res.data.tolist() == expected
    assert res.metadata is None
    assert res.status.success and res.status.name == "ECA_NORMAL"


@pytest.mark.parametrize(("suffix", "dtype", "expected"), [
    ("wf_double", ">f8", [0.5, 1.5, 2.5, 3.5, 4.5]),
    ("wf_float", ">f4", [0.25, -0.25, 1.75]),
    ("wf_long", ">i4", [1, -2, 3, 2**31 - 1, -(2**31)]),
    ("wf_short", ">i2", [1, -2, 3, 32767, -32768]),
    ("wf_char", "u1", list(b"hello world\0")),
])
def test_read_waveform_gives_big_endian_array_of_current_elements(softioc_env, suffix, dtype,
                                                                  expected):
    res = read(softioc_env, suffix)
    assert res.data.dtype == np.dtype(dtype)
    assert res.data_count == len(expected)
    assert res.data.tolist() == expected


def test_read_string_pv_gives_list_of_bytes(softioc_env):
    res = read(softioc_env, "str")
    assert res.data_type == ChannelType.STRING
    assert res.data == [b"hello"]


@pytest.mark.parametrize(("suffix", "expected", "payload_size"), [
    ("str", [b"hello"], 8),           # rsrv trims a single string to strlen + 1
    ("mbbo", [b"Zero"], 8),
    ("lso_long", [b"This long string is longer than forty c"], 40),
    ("ai", [1.5], 8),
    ("wf_double", [0.5, 1.5, 2.5, 3.5, 4.5] + [0.0] * 5, 80),  # READ has no dynamic count
])
def test_deprecated_read_without_notify(softioc_env, suffix, expected, payload_size):
    res = read(softioc_env, suffix, notify=False)
    assert isinstance(res, ca.ReadResponse)
    assert res.header.command == 3
    assert res.header.payload_size == payload_size
    data = res.data if isinstance(res.data, list) else res.data.tolist()
    assert data == expected


def test_read_response_carries_channel_info(softioc_env):
    res = read(softioc_env, "wf_double")
    assert res.channel.pv_name == softioc_env.pv("wf_double")
    assert res.channel.native_data_type == ChannelType.DOUBLE
    assert res.channel.native_data_count == 10
    assert res.channel.host == "127.0.0.1"
    assert res.channel.port == softioc_env.tcp_port
    assert res.channel.address == softioc_env.address


@pytest.mark.parametrize("suffix", sorted(SOFTIOC_PVS))
def test_info_native_type_count_and_access_match_raw_create_chan(softioc_env, suffix):
    raw_type, raw_count, raw_access = softioc_env.channel_info(suffix)
    info = ca.info(softioc_env.pv(suffix), timeout=TIMEOUT, repeater=False)
    assert info.native_data_type.name == raw_type.replace("SHORT", "INT")
    assert (raw_type, raw_count) == (SOFTIOC_PVS[suffix][0], SOFTIOC_PVS[suffix][1])
    assert info.native_data_count == raw_count
    assert int(info.access) == raw_access
    assert info.server_version >= 13


def test_info_of_read_only_record_reports_no_write_access(softioc_env):
    info = ca.info(softioc_env.pv("ro"), timeout=TIMEOUT, repeater=False)
    assert info.access == AccessRights.READ
    assert info.can_read and not info.can_write
    assert ca.info(softioc_env.pv("ao"), timeout=TIMEOUT, repeater=False).can_write


# ---------------------------------------------------------------------------------------------
# Element counts: dynamic, fixed, empty


def test_data_count_none_gives_current_count_not_nelm(softioc_env):
    res = read(softioc_env, "wf_double")  # NELM 10, 5 elements written
    assert res.data_count == 5
    assert res.header.data_count == 5


def test_explicit_data_count_smaller_than_current_gives_first_elements(softioc_env):
    assert read(softioc_env, "wf_double", data_count=2).data.tolist() == [0.5, 1.5]


def test_explicit_data_count_larger_than_current_is_zero_padded_by_rsrv(softioc_env):
    res = read(softioc_env, "wf_double", data_count=10)
    assert res.data_count == 10
    assert res.data.tolist() == [0.5, 1.5, 2.5, 3.5, 4.5] + [0.0] * 5


def test_negative_data_count_is_refused(softioc_env):
    with pytest.raises(ValueRefused):
        read(softioc_env, "wf_double", data_count=-1)


def test_never_written_waveform_reads_as_empty_array(softioc_env):
    res = read(softioc_env, "wf_empty")
    assert res.data_count == 0
    assert res.data.dtype == np.dtype(">f8")
    assert res.data.shape == (0,)
    assert res.header.payload_size == 0


def test_empty_waveform_with_fixed_count_reads_zeros(softioc_env):
    assert read(softioc_env, "wf_empty", data_count=3).data.tolist() == [0.0, 0.0, 0.0]


def test_write_empty_list_to_waveform_leaves_it_empty(softioc_env, restore):
    restore("wf_double", [0.5, 1.5, 2.5, 3.5, 4.5])
    response = write(softioc_env, "wf_double", [], notify=True)
    assert response.data_count == 0 and response.status.success
    res = read(softioc_env, "wf_double")
    assert res.data_count == 0 and res.data.size == 0


def test_empty_long_string_reads_with_count_zero(softioc_env):
    assert read(softioc_env, "lso").data == []
    char = read(softioc_env, "lso.VAL$")
    assert char.data_type == ChannelType.CHAR and char.data_count == 0


# ---------------------------------------------------------------------------------------------
# Large arrays


def test_read_300k_doubles_uses_extended_header(softioc_env):
    res = read(softioc_env, "wf_300k")
    assert res.data_count == 300_000
    np.testing.assert_array_equal(res.data, np.arange(300_000, dtype=float))
    raw = bytes(res)
    command, size_marker, data_type, count_marker = struct.unpack_from(">HHHH", raw, 0)
    assert (command, size_marker, data_type, count_marker) == (15, 0xFFFF, 6, 0)
    payload_size, data_count = struct.unpack_from(">II", raw, 16)
    assert (payload_size, data_count) == (2_400_000, 300_000)
    assert len(raw) == 24 + 2_400_000


def test_write_300k_doubles_and_read_back(softioc_env, restore):
    restore("wf_300k", np.arange(300_000, dtype=float))
    values = np.arange(300_000, dtype=float) * -0.5
    response = write(softioc_env, "wf_300k", values, notify=True)
    assert response.data_count == 300_000 and response.status.success
    np.testing.assert_array_equal(read(softioc_env, "wf_300k").data, values)


@pytest.mark.parametrize("count", [0xFFFF, 0x10000, 70_000])
def test_read_element_count_around_the_16_bit_header_limit(softioc_env, count):
    res = read(softioc_env, "wf_300k", data_count=count)
    assert res.data_count == count
    assert res.data[-1] == count - 1
    assert bytes(res)[2:4] == b"\xff\xff"  # the payload always needs the extended header


@pytest.mark.parametrize("count", [8191, 8192, 0xFFFF, 0x10000])
def test_write_around_the_16_bit_payload_limit_round_trips(softioc_env, restore, count):
    # 8191 doubles = 65528 bytes (standard header); 8192 = 65536 bytes (extended header).
    restore("wf_300k", np.arange(300_000, dtype=float))
    values = np.arange(count, dtype=float) + 0.5
    assert write(softioc_env, "wf_300k", values, notify=True).data_count == count
    res = read(softioc_env, "wf_300k")
    assert res.data_count == count
    np.testing.assert_array_equal(res.data, values)


def test_read_1m_doubles_gives_correct_values(softioc_env):
    res = read(softioc_env, "wf_big")
    assert res.data_count == 1_000_000
    assert res.data[0] == 0.0 and res.data[123_456] == 123_456.0
    assert res.data[-1] == 999_999.0
    np.testing.assert_array_equal(res.data, np.arange(1_000_000, dtype=float))


def test_read_1m_doubles_data_is_a_view_on_the_receive_buffer(softioc_env):
    res = read(softioc_env, "wf_big")
    payload = res.buffers[1]
    assert np.shares_memory(res.data, np.frombuffer(payload, dtype=np.uint8))
    # Follow .base (ndarray) / .obj (memoryview) down to the buffer the socket filled.
    owner, chain = res.data, []
    while owner is not None and len(chain) < 10:
        chain.append(owner)
        owner = owner.obj if isinstance(owner, memoryview) else getattr(owner, "base", None)
    assert chain[-1] is not res.data, "data owns its memory: it is a copy"
    assert len(memoryview(chain[-1]).cast("B")) >= 8_000_000
    assert not res.data.flags.owndata


@pytest.mark.parametrize("suffix", ["ai", "wf_double", "wf_char", "wf_300k"])
def test_numeric_data_views_the_received_payload(softioc_env, suffix):
    res = read(softioc_env, suffix)
    assert np.shares_memory(res.data, np.frombuffer(res.buffers[1], dtype=np.uint8))
    assert not res.data.flags.owndata


# ---------------------------------------------------------------------------------------------
# Strings


def test_string_of_39_characters_round_trips(softioc_env, restore):
    restore("str", "hello")
    text = "".join(chr(ord("a") + i % 26) for i in range(39))
    write(softioc_env, "str", text, notify=True)
    assert read(softioc_env, "str").data == [text.encode()]


@pytest.mark.parametrize("length", [40, 41, 100])
@pytest.mark.parametrize("notify", [False, True])
def test_string_of_40_or_more_characters_is_refused_and_nothing_written(
        softioc_env, sent_writes, length, notify):
    with pytest.raises(ValueRefused) as info:
        write(softioc_env, "str", "x" * length, notify=notify)
    assert softioc_env.pv("str") in str(info.value)
    assert sent_writes == []
    assert read(softioc_env, "str").data == [b"hello"]


@pytest.mark.parametrize("value", ["J\xfcrgen", b"J\xfcrgen"], ids=["str", "bytes"])
def test_latin1_string_round_trips_as_raw_bytes(softioc_env, restore, value):
    restore("str", "hello")
    write(softioc_env, "str", value, notify=True)
    assert read(softioc_env, "str").data == [b"J\xfcrgen"]


@pytest.mark.parametrize("suffix", ["str", "wf_char"])
def test_string_not_encodable_as_latin1_is_refused_with_value_refused(softioc_env, sent_writes,
                                                                      suffix):
    with pytest.raises(ValueRefused):
        write(softioc_env, suffix, "price: 5 \u20ac")
    assert sent_writes == []


def test_read_of_40_plus_char_long_string_as_string_is_truncated_by_server(softioc_env):
    # rsrv keeps a CA string at 39 characters + NUL; the char-array form has everything.
    text = b"This long string is longer than forty characters: 0123456789"
    assert read(softioc_env, "lso_long").data == [text[:39]]
    assert read(softioc_env, "lso_long.VAL$").data.tobytes() == text + b"\0"


# ---------------------------------------------------------------------------------------------
# Enums


def test_enum_reads_as_state_string_by_default(softioc_env):
    res = read(softioc_env, "mbbo")
    assert res.data_type == ChannelType.STRING
    assert res.data == [b"Zero"]
    assert read(softioc_env, "bo").data == [b"Off"]


def test_enum_with_force_int_enums_reads_index(softioc_env):
    res = read(softioc_env, "mbbo", force_int_enums=True)
    assert res.data_type == ChannelType.ENUM
    assert res.data.dtype == np.dtype(">u2") and res.data.tolist() == [0]


@pytest.mark.parametrize(("data_type", "expected"), [
    ("time", ChannelType.TIME_ENUM), ("control", ChannelType.CTRL_ENUM),
])
def test_enum_read_with_explicit_class_gives_index(softioc_env, data_type, expected):
    res = read(softioc_env, "mbbo", data_type=data_type)
    assert res.data_type == expected
    assert res.data.tolist() == [0]


def test_write_enum_by_state_string_sends_string(softioc_env, restore):
    restore("mbbo", 0)
    response = write(softioc_env, "mbbo", "Twenty-five char state!!!", notify=True)
    assert response.data_type == ChannelType.STRING
    assert read(softioc_env, "mbbo").data == [b"Twenty-five char state!!!"]
    assert read(softioc_env, "mbbo", force_int_enums=True).data.tolist() == [15]


def test_write_enum_by_index_sends_enum(softioc_env, restore):
    restore("mbbo", 0)
    response = write(softioc_env, "mbbo", 3, notify=True)
    assert response.data_type == ChannelType.ENUM
    assert read(softioc_env, "mbbo").data == [b"Three"]


def test_write_binary_enum_by_string_and_by_bool(softioc_env, restore):
    restore("bo", "Off")
    write(softioc_env, "bo", "On", notify=True)
    assert read(softioc_env, "bo").data == [b"On"]
    write(softioc_env, "bo", False, notify=True)
    assert read(softioc_env, "bo").data == [b"Off"]


@pytest.mark.parametrize("notify", [True, False])
def test_write_unknown_enum_state_raises_write_failed(softioc_env, notify):
    with pytest.raises(WriteFailed) as info:
        write(softioc_env, "mbbo", "NoSuchState", notify=notify)
    assert info.value.status.name == "ECA_PUTFAIL"
    assert softioc_env.pv("mbbo") in str(info.value)
    assert read(softioc_env, "mbbo").data == [b"Zero"]


def test_write_negative_enum_index_is_refused(softioc_env, sent_writes):
    with pytest.raises(ValueRefused):
        write(softioc_env, "mbbo", -1)
    assert sent_writes == []


# ---------------------------------------------------------------------------------------------
# Char arrays as long strings


def test_write_text_to_char_waveform_sends_its_bytes(softioc_env, restore):
    restore("wf_char", b"hello world\0")
    response = write(softioc_env, "wf_char", "hello world", notify=True)
    assert response.data_type == ChannelType.CHAR and response.data_count == 11
    res = read(softioc_env, "wf_char")
    assert res.data_count == 11
    assert res.data.tobytes() == b"hello world"


def test_write_long_text_to_long_string_field_modifier(softioc_env, restore):
    original = b"This long string is longer than forty characters: 0123456789\0"
    restore("lso_long.VAL$", original)
    text = "A long string written through VAL$: " + "0123456789" * 5
    write(softioc_env, "lso_long.VAL$", text + "\0", notify=True)
    char = read(softioc_env, "lso_long.VAL$")
    assert char.data_type == ChannelType.CHAR
    assert char.data.tobytes() == text.encode() + b"\0"
    assert read(softioc_env, "lso_long").data == [text.encode()[:39]]


# ---------------------------------------------------------------------------------------------
# Access rights


@pytest.mark.parametrize("notify", [False, True])
def test_write_without_write_access_fails_before_sending(softioc_env, sent_writes, notify):
    started = time.monotonic()
    with pytest.raises(WriteFailed) as info:
        write(softioc_env, "ro", 1.0, notify=notify)
    assert time.monotonic() - started < 1.0
    assert info.value.status.name == "ECA_NOWTACCESS"
    assert softioc_env.pv("ro") in str(info.value)
    assert sent_writes == []
    assert read(softioc_env, "ro").data.tolist() == [3.25]


@pytest.mark.parametrize("notify", [False, True])
def test_read_write_read_without_write_access_fails_before_sending(softioc_env, sent_writes,
                                                                   notify):
    with pytest.raises(WriteFailed):
        ca.read_write_read(softioc_env.pv("ro"), 1.0, notify=notify, timeout=TIMEOUT,
                           repeater=False)
    assert sent_writes == []


# ---------------------------------------------------------------------------------------------
# Write conversions and range checks


@pytest.mark.parametrize(("suffix", "value"), [
    ("short", 70000),
    ("short", -32769),
    ("wf_short", [1, 2, 70000]),
    ("long", float("nan")),
    ("long", float("inf")),
    ("long", 2.5),
    ("long", 2**31),
    ("wf_char", [256]),
    ("float", 1e39),
    ("ao", None),
    ("ao", object()),
], ids=["short-70000", "short-underflow", "wf_short-70000", "long-nan", "long-inf",
        "long-2.5", "long-2**31", "char-256", "float-1e39", "double-None", "double-object"])
@pytest.mark.parametrize("notify", [False, True])
def test_value_that_does_not_fit_native_type_is_refused_before_sending(
        softioc_env, sent_writes, suffix, value, notify):
    before = read(softioc_env, suffix).data.tolist()
    with pytest.raises(ValueRefused) as info:
        write(softioc_env, suffix, value, notify=notify)
    assert isinstance(info.value, ValueError)
    assert softioc_env.pv(suffix) in str(info.value)
    assert "\n" not in str(info.value)
    assert sent_writes == []
    assert read(softioc_env, suffix).data.tolist() == before


@pytest.mark.parametrize(("suffix", "value", "original"), [
    ("wf_double", [float(i) for i in range(11)], [0.5, 1.5, 2.5, 3.5, 4.5]),  # NELM 10
    ("wf_char", b"x" * 300, b"hello world\0"),                             # NELM 256
    ("str", ["one", "two"], "hello"),                                      # scalar
], ids=["11-doubles-into-10", "300-chars-into-256", "2-strings-into-scalar"])
def test_more_elements_than_the_native_count_are_refused_before_sending(
        softioc_env, sent_writes, restore, suffix, value, original):
    restore(suffix, original)  # while the bug lasts, the write does reach the IOC
    before = read(softioc_env, suffix).data
    with pytest.raises(ValueRefused):
        write(softioc_env, suffix, value, notify=True)
    assert sent_writes == []
    after = read(softioc_env, suffix).data
    assert (after == before) if isinstance(before, list) else after.tolist() == before.tolist()


@pytest.mark.parametrize("data_count", ["abc", [1]])
def test_data_count_that_is_not_a_number_is_refused(softioc_env, data_count):
    with pytest.raises(ValueRefused):
        read(softioc_env, "wf_double", data_count=data_count)


def test_whole_float_written_to_long_is_accepted(softioc_env, restore):
    restore("long", 42)
    write(softioc_env, "long", 7.0, notify=True)
    assert read(softioc_env, "long").data.tolist() == [7]


def test_numeric_string_to_double_pv_is_converted_by_server(softioc_env, restore):
    restore("ao", 0.0)
    response = write(softioc_env, "ao", "2.5", notify=True)
    assert response.data_type == ChannelType.STRING
    assert read(softioc_env, "ao").data.tolist() == [2.5]


@pytest.mark.parametrize("notify", [True, False])
def test_non_numeric_string_to_double_pv_raises_write_failed_from_server(softioc_env, notify):
    with pytest.raises(WriteFailed) as info:
        write(softioc_env, "ao", "abc", notify=notify)
    assert info.value.status.name == "ECA_PUTFAIL"
    assert softioc_env.pv("ao") in str(info.value)
    assert read(softioc_env, "ao").data.tolist() == [0.0]


def test_nan_written_to_double_reads_back_as_nan(softioc_env, restore):
    restore("ao", 0.0)
    write(softioc_env, "ao", float("nan"), notify=True)
    assert math.isnan(read(softioc_env, "ao").data[0])
    # rsrv converts NaN to the most negative LONG.
    assert read(softioc_env, "ao", data_type=ChannelType.LONG).data.tolist() == [-(2**31)]


@pytest.mark.parametrize(("value", "expected"), [(float("inf"), 100.0),
                                                 (float("-inf"), -100.0)])
def test_infinity_written_to_ao_is_clamped_to_drive_limits(softioc_env, restore, value,
                                                           expected):
    restore("ao", 0.0)
    write(softioc_env, "ao", value, notify=True)
    assert read(softioc_env, "ao").data.tolist() == [expected]


# ---------------------------------------------------------------------------------------------
# Put completion


def test_write_notify_waits_for_slow_record_to_complete(softioc_env, slow_record):
    started = time.monotonic()
    response = write(softioc_env, "slow", 1.0, notify=True)
    elapsed = time.monotonic() - started
    assert isinstance(response, WriteNotifyResponse)
    assert response.status.success
    assert 0.4 <= elapsed < 1.5


def test_write_without_notify_does_not_wait_for_slow_record(softioc_env, slow_record):
    started = time.monotonic()
    assert write(softioc_env, "slow", 2.0) is None
    assert time.monotonic() - started < 0.4


def test_write_notify_timeout_shorter_than_completion_raises_timeout(softioc_env,
                                                                       slow_record):
    started = time.monotonic()
    with pytest.raises(CATimeoutError) as info:
        write(softioc_env, "slow", 3.0, notify=True, timeout=0.1)
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - started < 0.4
    assert softioc_env.pv("slow") in str(info.value)


# ---------------------------------------------------------------------------------------------
# read_write_read


def test_read_write_read_without_notify_returns_initial_none_final(softioc_env, restore):
    restore("long", 42)
    initial, response, final = ca.read_write_read(softioc_env.pv("long"), 43,
                                                  timeout=TIMEOUT, repeater=False)
    assert initial.data.tolist() == [42]
    assert response is None
    assert final.data.tolist() == [43]


def test_read_write_read_with_notify_returns_write_notify_response(softioc_env, restore):
    restore("long", 42)
    initial, response, final = ca.read_write_read(softioc_env.pv("long"), -5, notify=True,
                                                  timeout=TIMEOUT, repeater=False)
    assert initial.data.tolist() == [42]
    assert isinstance(response, WriteNotifyResponse) and response.status.success
    assert final.data.tolist() == [-5]


def test_read_write_read_on_enum_by_string(softioc_env, restore):
    restore("mbbo", 0)
    initial, _, final = ca.read_write_read(softioc_env.pv("mbbo"), "Four", timeout=TIMEOUT,
                                           repeater=False)
    assert (initial.data, final.data) == ([b"Zero"], [b"Four"])


def test_read_write_read_with_server_put_failure_raises_write_failed(softioc_env):
    with pytest.raises(WriteFailed):
        ca.read_write_read(softioc_env.pv("ao"), "abc", timeout=TIMEOUT, repeater=False)


def test_read_write_read_refuses_out_of_range_value_before_sending(softioc_env, sent_writes):
    with pytest.raises(ValueRefused):
        ca.read_write_read(softioc_env.pv("short"), 70000, timeout=TIMEOUT, repeater=False)
    assert sent_writes == []


# ---------------------------------------------------------------------------------------------
# Status codes and response fields


def test_status_of_a_normal_read(softioc_env):
    status = read(softioc_env, "ai").status
    assert (status.name, status.code, status.code_with_severity) == ("ECA_NORMAL", 0, 1)
    assert status.success
    assert status.description == "Normal successful completion"


def test_status_of_a_put_the_server_rejects(softioc_env):
    with pytest.raises(WriteFailed) as info:
        write(softioc_env, "ao", "abc", notify=True)
    status = info.value.status
    assert (status.name, status.code, status.code_with_severity) == ("ECA_PUTFAIL", 20, 160)
    assert not status.success
    assert status.description == "Channel write request failed"
    assert status.description in str(info.value)


def test_write_notify_response_fields(softioc_env, restore):
    restore("wf_double", [0.5, 1.5, 2.5, 3.5, 4.5])
    response = write(softioc_env, "wf_double", [9.0, 8.0, 7.0], notify=True)
    assert (response.data_type, response.data_count) == (ChannelType.DOUBLE, 3)
    assert response.status.name == "ECA_NORMAL"
    assert isinstance(response.ioid, int)
    assert response.channel.pv_name == softioc_env.pv("wf_double")
    assert response.channel.can_write


# ---------------------------------------------------------------------------------------------
# Wire form of responses


def test_bytes_of_response_are_header_plus_padded_payload(softioc_env):
    res = read(softioc_env, "ai", data_type="time")
    raw = bytes(res)
    assert len(raw) == 16 + 24 == len(res)
    fields = struct.unpack_from(">HHHHII", raw, 0)
    assert fields == (15, 24, 20, 1, 1, res.ioid)
    assert tuple(res.header) == fields
    assert raw[:16] == bytes(res.buffers[0])
    assert raw[16:] == bytes(res.buffers[1])
    status, severity, seconds, nanos, _pad, value = struct.unpack_from(">hhIIid", raw, 16)
    assert (status, severity) == (res.metadata.status, res.metadata.severity)
    assert (seconds, nanos) == (res.metadata.secondsSinceEpoch, res.metadata.nanoSeconds)
    assert value == res.data[0] == 1.5


def test_bytes_of_string_response_keep_the_8_byte_padding(softioc_env):
    res = read(softioc_env, "str")
    raw = bytes(res)
    assert len(raw) == 16 + 40
    assert res.header.payload_size == 40
    assert raw[16:21] == b"hello" and raw[21:] == b"\0" * 35


# ---------------------------------------------------------------------------------------------
# Round trips of arbitrary values through rsrv

ROUND_TRIP = settings(max_examples=30, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


@ROUND_TRIP
@given(values=st.lists(st.floats(allow_nan=False), max_size=10))
def test_any_doubles_round_trip_through_a_waveform(softioc_env, restore, values):
    restore("wf_double", [0.5, 1.5, 2.5, 3.5, 4.5])
    write(softioc_env, "wf_double", values, notify=True)
    assert read(softioc_env, "wf_double").data.tolist() == values


@ROUND_TRIP
@given(values=st.lists(st.floats(width=32), max_size=10))
def test_any_float32_values_round_trip_through_a_float_waveform(softioc_env, restore, values):
    restore("wf_float", [0.25, -0.25, 1.75])
    write(softioc_env, "wf_float", values, notify=True)
    got = read(softioc_env, "wf_float").data
    np.testing.assert_array_equal(got, np.asarray(values, dtype=np.float32))


@ROUND_TRIP
@given(values=st.lists(st.integers(-(2**31), 2**31 - 1), max_size=10))
def test_any_int32_values_round_trip_through_a_long_waveform(softioc_env, restore, values):
    restore("wf_long", [1, -2, 3, 2**31 - 1, -(2**31)])
    write(softioc_env, "wf_long", values, notify=True)
    assert read(softioc_env, "wf_long").data.tolist() == values


@ROUND_TRIP
@given(values=st.lists(st.integers(-(2**15), 2**15 - 1), max_size=10))
def test_any_int16_values_round_trip_through_a_short_waveform(softioc_env, restore, values):
    restore("wf_short", [1, -2, 3, 32767, -32768])
    write(softioc_env, "wf_short", values, notify=True)
    assert read(softioc_env, "wf_short").data.tolist() == values


@ROUND_TRIP
@given(raw=st.binary(max_size=256))
def test_any_bytes_round_trip_through_a_char_waveform(softioc_env, restore, raw):
    restore("wf_char", b"hello world\0")
    write(softioc_env, "wf_char", raw, notify=True)
    assert read(softioc_env, "wf_char").data.tobytes() == raw


@ROUND_TRIP
@given(text=st.binary(max_size=39).filter(lambda b: b"\0" not in b))
def test_any_string_of_up_to_39_bytes_round_trips(softioc_env, restore, text):
    restore("str", "hello")
    write(softioc_env, "str", text, notify=True)
    assert read(softioc_env, "str").data == [text]


# ---------------------------------------------------------------------------------------------
# Names, arguments, timeouts


@pytest.mark.parametrize("name", ["has space", " leading", "x" * 600, "J\xfcrgen:ai", "",
                                  "tab\there", "nul\0byte"],
                         ids=["space", "leading-space", "600-chars", "non-ascii", "empty",
                              "tab", "nul"])
def test_bad_pv_name_is_refused_immediately(softioc_env, name):
    started = time.monotonic()
    with pytest.raises(ValueRefused):
        ca.read(name, timeout=1.0, repeater=False)
    with pytest.raises(ValueRefused):
        ca.write(name, 1, timeout=1.0, repeater=False)
    assert time.monotonic() - started < 0.1


def test_pv_name_of_500_bytes_is_searched_and_501_refused(softioc_env):
    with pytest.raises(CATimeoutError):
        ca.read("x" * 500, timeout=0.2, repeater=False)
    with pytest.raises(ValueRefused):
        ca.read("x" * 501, timeout=0.2, repeater=False)


def test_field_modifier_with_json_passes_through_to_server(softioc_env):
    res = ca.read(softioc_env.pv('wf_double.{"arr":{"s":1,"e":2}}'), timeout=TIMEOUT,
                  repeater=False)
    assert res.data.tolist() == [1.5, 2.5]


def test_missing_pv_times_out_naming_pv_and_address_list(softioc_env):
    name = softioc_env.pv("no_such_record")
    started = time.monotonic()
    with pytest.raises(CATimeoutError) as info:
        ca.read(name, timeout=0.3, repeater=False)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 0.8
    assert isinstance(info.value, TimeoutError)
    message = str(info.value)
    assert name in message
    assert f"127.0.0.1:{softioc_env.port}" in message
    assert "\n" not in message


@pytest.mark.parametrize("timeout", [0, -1, None, float("inf"), "soon"])
def test_invalid_timeout_is_refused(softioc_env, timeout):
    with pytest.raises(ValueRefused):
        ca.read(softioc_env.pv("ai"), timeout=timeout, repeater=False)


@pytest.mark.parametrize("priority", [0, 1, 50, 99])
def test_read_and_write_work_at_every_valid_priority(softioc_env, restore, priority):
    restore("long", 42)
    assert read(softioc_env, "ai", priority=priority).data.tolist() == [1.5]
    write(softioc_env, "long", priority, notify=True, priority=priority)
    assert read(softioc_env, "long", priority=priority).data.tolist() == [priority]


@pytest.mark.parametrize("priority", [100, -1, 1000, 1.5])
def test_priority_out_of_range_is_refused(softioc_env, priority):
    with pytest.raises(ValueRefused):
        read(softioc_env, "ai", priority=priority)
    with pytest.raises(ValueRefused):
        write(softioc_env, "ao", 0.0, priority=priority)


@pytest.mark.parametrize("data_type", ["bogus", 39, 1000, -1])
def test_unknown_data_type_is_refused(softioc_env, data_type):
    with pytest.raises(ValueRefused):
        read(softioc_env, "ai", data_type=data_type)


def test_repeater_false_never_tries_to_spawn_a_repeater(softioc_env, restore, monkeypatch):
    from caprobe.ca import search as client

    def refuse(port: int) -> None:
        raise AssertionError(f"repeater spawn attempted on port {port}")

    monkeypatch.setattr(client, "spawn_repeater", refuse)
    restore("long", 42)
    read(softioc_env, "ai")
    write(softioc_env, "long", 1, notify=True)
    write(softioc_env, "long", 2)
    ca.read_write_read(softioc_env.pv("long"), 3, timeout=TIMEOUT, repeater=False)
    ca.info(softioc_env.pv("ai"), timeout=TIMEOUT, repeater=False)


# ---------------------------------------------------------------------------------------------
# Threads


def test_eight_threads_reading_different_pvs_concurrently_all_get_their_own_values(
        softioc_env):
    expected = {
        "ai": [1.5], "long": [42], "short": [7], "float": [2.5], "ai.PREC": [3],
        "ro": [3.25], "wf_long": [1, -2, 3, 2**31 - 1, -(2**31)],
        "wf_float": [0.25, -0.25, 1.75],
    }
    barrier = threading.Barrier(len(expected))
    failures: list[str] = []
    counts: dict[str, int] = {}

    def worker(suffix: str) -> None:
        barrier.wait()
        done = 0
        try:
            for _ in range(50):
                got = read(softioc_env, suffix).data.tolist()
                if got != expected[suffix]:
                    failures.append(f"{suffix}: {got}")
                done += 1
        except Exception as exc:  # reported below with the PV that failed
            failures.append(f"{suffix}: {type(exc).__name__}: {exc}")
        counts[suffix] = done

    threads = [threading.Thread(target=worker, args=(s,)) for s in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert counts == dict.fromkeys(expected, 50)
