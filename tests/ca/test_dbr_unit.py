"""DBR encode/decode against hand-written wire vectors, and hypothesis round trips."""

from __future__ import annotations

import math
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caprobe.ca import dbr
from caprobe.ca.dbr import ChannelType
from caprobe.ca.errors import ProtocolError, ValueRefused


def test_metadata_sizes_match_db_access_h():
    # Value offsets (dbr_value_offset in db_access.h) for every type with metadata.
    expected = {7: 4, 8: 4, 9: 4, 10: 4, 11: 5, 12: 4, 13: 8, 14: 12, 15: 14, 16: 12, 17: 14,
                18: 15, 19: 12, 20: 16, 21: 4, 22: 24, 23: 40, 24: 422, 25: 19, 26: 36, 27: 64,
                28: 4, 29: 28, 30: 48, 31: 422, 32: 21, 33: 44, 34: 80, 37: 8}
    for dbr_id, size in expected.items():
        assert dbr.LAYOUTS[dbr_id].md_size == size, dbr.type_name(dbr_id)


def test_time_double_vector():
    payload = bytes.fromhex(
        "0003 0002"          # status HIHI, severity MAJOR
        "4567 89ab"          # secondsSinceEpoch
        "0000 0007"          # nanoSeconds
        "0000 0000"          # RISC pad
        "4022 0000 0000 0000"  # 9.0
    )
    data, md = dbr.decode(ChannelType.TIME_DOUBLE, 1, payload)
    assert data.tolist() == [9.0]
    assert (md.status, md.severity) == (3, 2)
    assert md.secondsSinceEpoch == 0x456789AB and md.nanoSeconds == 7
    assert md.timestamp == pytest.approx(0x456789AB + 631152000 + 7e-9)


def test_ctrl_double_vector_limits_in_epics_order():
    limits = [10.0, -10.0, 9.0, 5.0, -5.0, -9.0, 11.0, -11.0]
    payload = struct.pack(">hhh2x8s8dd", 0, 0, 3, b"mm", *limits, 1.5)
    data, md = dbr.decode(ChannelType.CTRL_DOUBLE, 1, payload)
    assert data.tolist() == [1.5]
    assert md.precision == 3 and md.units == b"mm"
    assert [md.upper_disp_limit, md.lower_disp_limit, md.upper_alarm_limit,
            md.upper_warning_limit, md.lower_warning_limit, md.lower_alarm_limit,
            md.upper_ctrl_limit, md.lower_ctrl_limit] == limits


def test_gr_enum_vector_and_no_str_clamped():
    strs = [f"S{i}".encode().ljust(26, b"\0") for i in range(16)]
    payload = struct.pack(">hhh", 0, 0, 3) + b"".join(strs) + struct.pack(">H", 2)
    data, md = dbr.decode(ChannelType.GR_ENUM, 1, payload)
    assert data.tolist() == [2]
    assert md.enum_strings == (b"S0", b"S1", b"S2")
    # A server claiming 40 states cannot make us index past the 16 slots.
    payload = struct.pack(">hhh", 0, 0, 40) + b"".join(strs) + struct.pack(">H", 0)
    _, md = dbr.decode(ChannelType.CTRL_ENUM, 1, payload)
    assert len(md.enum_strings) == 16


def test_ctrl_string_epics_layout_and_caproto_variant():
    value = b"0123456789012345678901234567890123456789"[:39]
    rsrv = struct.pack(">hh", 0, 1) + value.ljust(40, b"\0") + b"\0" * 4  # 48: 4+40 padded
    data, md = dbr.decode(ChannelType.CTRL_STRING, 1, rsrv)
    assert data == [value] and md.severity == 1
    caproto = struct.pack(">hhII", 0, 1, 5, 6) + value.ljust(40, b"\0") + b"\0" * 4  # 56
    data, md = dbr.decode(ChannelType.CTRL_STRING, 1, caproto)
    assert data == [value] and md.severity == 1


def test_stsack_string_and_class_name():
    payload = struct.pack(">hhHH", 4, 1, 1, 2) + b"hello".ljust(40, b"\0")
    data, md = dbr.decode(ChannelType.STSACK_STRING, 1, payload)
    assert data == [b"hello"] and (md.ackt, md.acks) == (1, 2)
    data, md = dbr.decode(ChannelType.CLASS_NAME, 1, b"ai".ljust(40, b"\0"))
    assert data == [b"ai"] and md.class_name == b"ai"


def test_string_without_nul_fills_its_width():
    raw = b"x" * 40
    data, _ = dbr.decode(ChannelType.STRING, 1, raw)
    assert data == [raw]


def test_short_payload_is_a_protocol_error_not_a_crash():
    with pytest.raises(ProtocolError):
        dbr.decode(ChannelType.DOUBLE, 3, b"\0" * 16)
    with pytest.raises(ProtocolError):
        dbr.decode(ChannelType.CTRL_DOUBLE, 1, b"\0" * 20)


def test_decode_is_a_view_not_a_copy():
    buf = bytearray(struct.pack(">3d", 1.0, 2.0, 3.0))
    data, _ = dbr.decode(ChannelType.DOUBLE, 3, memoryview(buf))
    assert np.shares_memory(data, np.frombuffer(buf, dtype=np.uint8))


@pytest.mark.parametrize(("native", "value"), [
    (ChannelType.INT, 70000), (ChannelType.INT, -40000), (ChannelType.LONG, math.nan),
    (ChannelType.LONG, 2**31), (ChannelType.LONG, 2.5), (ChannelType.ENUM, -1),
    (ChannelType.CHAR, 256), (ChannelType.CHAR, -129), (ChannelType.FLOAT, 1e39), (ChannelType.DOUBLE, "abc"),
])
def test_values_that_would_wrap_are_refused(native, value):
    with pytest.raises(ValueRefused):
        dbr.encode(native, [value])


def test_char_takes_a_byte_in_either_spelling():
    # DBR_CHAR is unsigned on the wire, but caget prints it signed and DBF_CHAR fields are
    # signed: -128..-1 are the bytes 0x80..0xFF (what rsrv stores and caget shows as -128..-1).
    payload, count = dbr.encode(ChannelType.CHAR, [-128, -1, 0, 127, 128, 255])
    assert count == 6 and payload[:6] == bytes([0x80, 0xFF, 0x00, 0x7F, 0x80, 0xFF])
    payload, _ = dbr.encode(ChannelType.CHAR, np.array([-1, 5], dtype=np.int8))
    assert payload[:2] == b"\xff\x05"
    payload, _ = dbr.encode(ChannelType.TIME_CHAR, -1, metadata=None)
    assert payload[dbr.LAYOUTS[ChannelType.TIME_CHAR].md_size] == 0xFF
    for outside in (-129, 256, -1.5, math.nan):
        with pytest.raises(ValueRefused, match="CHAR"):
            dbr.encode(ChannelType.CHAR, [0, outside])
    # Sent as a wider type to a CHAR PV: the IOC casts, so the CHAR range is checked here.
    dbr.encode(ChannelType.INT, -128, native=ChannelType.CHAR)
    with pytest.raises(ValueRefused, match=r"CHAR.*-128 to 255"):
        dbr.encode(ChannelType.INT, 300, native=ChannelType.CHAR)


def test_native_range_checked_when_sent_as_another_type():
    with pytest.raises(ValueRefused, match="SHORT"):
        dbr.encode(ChannelType.DOUBLE, 70000.0, native=ChannelType.INT)
    payload, count = dbr.encode(ChannelType.DOUBLE, 700.0, native=ChannelType.INT)
    assert count == 1 and payload == struct.pack(">d", 700.0)


def test_string_encoding_refuses_40_bytes_and_pads():
    payload, count = dbr.encode(ChannelType.STRING, "x" * 39)
    assert count == 1 and payload == b"x" * 39 + b"\0"  # 40 bytes: already a multiple of 8
    with pytest.raises(ValueRefused, match="39 bytes"):
        dbr.encode(ChannelType.STRING, "x" * 40)


def test_char_array_from_str_has_no_implicit_nul():
    payload, count = dbr.encode(ChannelType.CHAR, "hi")
    assert count == 2 and payload == b"hi" + b"\0" * 6


def test_resolve_data_type_forms():
    assert dbr.resolve_data_type(None, 6) == ChannelType.DOUBLE
    assert dbr.resolve_data_type("time", 6) == ChannelType.TIME_DOUBLE
    assert dbr.resolve_data_type("control", 0) == ChannelType.CTRL_STRING
    assert dbr.resolve_data_type("DBR_GR_LONG", 6) == ChannelType.GR_LONG
    assert dbr.resolve_data_type(34, 0) == ChannelType.CTRL_DOUBLE
    with pytest.raises(ValueError):
        dbr.resolve_data_type("bogus", 6)
    with pytest.raises(ValueError):
        dbr.resolve_data_type(39, 6)
    assert dbr.type_name(15) == "DBR_TIME_SHORT"


# --- property-based ------------------------------------------------------------------------

_numeric_values = {
    ChannelType.INT: st.integers(-(2**15), 2**15 - 1),
    ChannelType.FLOAT: st.floats(width=32, allow_nan=False),
    ChannelType.ENUM: st.integers(0, 2**16 - 1),
    ChannelType.CHAR: st.integers(0, 255),
    ChannelType.LONG: st.integers(-(2**31), 2**31 - 1),
    ChannelType.DOUBLE: st.floats(allow_nan=False),
}


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip_every_numeric_type_and_class(data):
    native = data.draw(st.sampled_from(list(_numeric_values)))
    dbr_class = data.draw(st.sampled_from(["native", "status", "time", "graphic", "control"]))
    values = data.draw(st.lists(_numeric_values[native], max_size=40))
    dtype = dbr.promote(native, dbr_class)
    md = None
    if dtype >= 7:
        md = (1, 2) + tuple(0 for _ in dbr.LAYOUTS[dtype].names[2:])
        md = tuple(b"u" if n == "units" or n.startswith("_str") else v
                   for n, v in zip(dbr.LAYOUTS[dtype].names, md, strict=True))
    payload, count = dbr.encode(dtype, values, metadata=md)
    assert len(payload) % 8 == 0 and count == len(values)
    decoded, meta = dbr.decode(dtype, count, payload)
    np.testing.assert_array_equal(decoded, np.asarray(values, dtype=decoded.dtype))
    if dtype >= 7:
        assert (meta.status, meta.severity) == (1, 2)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.binary(max_size=39).filter(lambda b: b"\0" not in b), max_size=10),
       dbr_class=st.sampled_from(["native", "status", "time", "graphic", "control"]))
def test_round_trip_strings(values, dbr_class):
    dtype = dbr.promote(0, dbr_class)
    payload, count = dbr.encode(dtype, values)
    decoded, _ = dbr.decode(dtype, count, payload)
    assert decoded == values


@settings(max_examples=300, deadline=None)
@given(dbr_id=st.integers(0, 40), count=st.integers(0, 70000), raw=st.binary(max_size=600))
def test_arbitrary_bytes_decode_or_raise_protocol_error(dbr_id, count, raw):
    try:
        data, _ = dbr.decode(dbr_id, count, raw)
    except ProtocolError:
        return
    assert len(data) == count


# --- plain Python values (decode_list) and encoding without numpy --------------------------


def _bits(values: list) -> list:
    # Floats by their bits, so a NaN's sign (caget's "-nan") counts as a difference.
    return [struct.pack(">d", v) if isinstance(v, float) else v for v in values]


@settings(max_examples=300, deadline=None)
@given(dbr_id=st.sampled_from(list(range(35)) + [35, 36, 37, 38]), count=st.integers(0, 20),
       raw=st.binary(max_size=900), limit=st.none() | st.integers(-1, 25))
def test_decode_list_is_decode_tolist(dbr_id, count, raw, limit):
    # The CLI prints from decode_list; the library hands out decode's numpy view: same values
    # (float32 widened as numpy does, NaN signs, CHAR unsigned), same ProtocolErrors.
    try:
        data, meta = dbr.decode(dbr_id, count, raw)
    except ProtocolError as exc:
        with pytest.raises(ProtocolError, match=re.escape(str(exc))):
            dbr.decode_list(dbr_id, count, raw, limit)
        return
    values, meta_list = dbr.decode_list(dbr_id, count, raw, limit)
    expected = data if isinstance(data, list) else data.tolist()
    expected = expected if limit is None else expected[:max(0, limit)]
    assert _bits(values) == _bits(expected)
    assert [type(v) for v in values] == [type(v) for v in expected]
    assert repr(meta_list) == repr(meta)


def test_decode_list_of_each_native_type():
    nan32 = struct.pack(">I", 0xFFC00000)  # a float32 NaN with its sign bit set
    cases = [
        (ChannelType.INT, struct.pack(">2h", -2, 7), [-2, 7]),
        (ChannelType.FLOAT, struct.pack(">f", 0.1) + nan32, [float(np.float32(0.1)), None]),
        (ChannelType.ENUM, struct.pack(">H", 65535), [65535]),
        (ChannelType.CHAR, b"\xff\x01", [255, 1]),
        (ChannelType.LONG, struct.pack(">i", -(2**31)), [-(2**31)]),
        (ChannelType.DOUBLE, struct.pack(">d", -0.0), [-0.0]),
    ]
    for native, payload, expected in cases:
        values, _ = dbr.decode_list(native, len(expected), payload)
        assert len(values) == len(expected)
        for value, want in zip(values, expected, strict=True):
            if want is None:
                assert math.isnan(value) and math.copysign(1.0, value) < 0
            else:
                assert value == want and math.copysign(1.0, value) == math.copysign(1.0, want)


def test_decode_list_checks_the_whole_payload_even_when_cut():
    with pytest.raises(ProtocolError, match="claims 3 elements"):
        dbr.decode_list(ChannelType.DOUBLE, 3, b"\0" * 16, limit=1)
    with pytest.raises(ProtocolError, match="fewer than the 3 elements"):
        dbr.decode_list(ChannelType.STRING, 3, b"a".ljust(40, b"\0"), limit=1)
    assert dbr.decode_list(ChannelType.DOUBLE, 3, struct.pack(">3d", 1, 2, 3), limit=2)[0] == [
        1.0, 2.0]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_encode_without_numpy_matches_numpy_casts(data):
    # Encoding uses struct: the bytes are what numpy's casts gave (float64 -> >f4 rounding,
    # NaN sign kept, whole floats to integers, CHAR -1 as 0xFF).
    native = data.draw(st.sampled_from([1, 2, 3, 4, 5, 6]))
    if native in (2, 6):
        element = st.floats(width=32 if native == 2 else 64) | st.floats(
            min_value=-3.4e38, max_value=3.4e38)
    else:
        low, high = {1: (-(2**15), 2**15 - 1), 3: (0, 65535), 4: (-128, 255),
                     5: (-(2**31), 2**31 - 1)}[native]
        element = st.integers(low, high) | st.integers(max(low, -(2**20)),
                                                       min(high, 2**20)).map(float)
    values = data.draw(st.lists(element, min_size=1, max_size=20))
    payload, count = dbr.encode(native, values)
    numbers = np.asarray(values, dtype=np.float64 if native in (2, 6) else np.int64)
    if native == 4:
        numbers &= 0xFF
    code = {1: ">i2", 2: ">f4", 3: ">u2", 4: "u1", 5: ">i4", 6: ">f8"}[native]
    expected = numbers.astype(code).tobytes()
    assert count == len(values)
    assert payload[:len(expected)] == expected
    assert payload[len(expected):] == b"\0" * (len(payload) - len(expected))
    # numpy input gives the same bytes as the list.
    assert dbr.encode(native, np.asarray(values))[0] == payload


def test_dbr_imports_numpy_only_for_a_numpy_view():
    code = """
import struct, sys
from caprobe.ca import dbr
values, md = dbr.decode_list(20, 2, struct.pack('>hhII4x2d', 0, 0, 1, 2, 1.5, -1.0))
payload, _ = dbr.encode(6, [1.5, 2])
dbr.encode(0, 'text')
assert values == [1.5, -1.0] and md.secondsSinceEpoch == 1, values
assert 'numpy' not in sys.modules
data, _ = dbr.decode(20, 2, struct.pack('>hhII4x2d', 0, 0, 1, 2, 1.5, -1.0))
assert 'numpy' in sys.modules and data.dtype.str == '>f8', data
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
