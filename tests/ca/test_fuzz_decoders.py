"""Property-based fuzzing of every decoder a server's bytes reach, and round trips with
non-zero metadata (complements the vectors and basic round trips of test_dbr_unit.py and
test_messages_unit.py).

Arbitrary input must give a decoded value or a clean ProtocolError/DisconnectedError, never
another exception: an IndexError or struct.error escaping a decoder would end block() for every
PV, or reach the operator as a traceback.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from caprobe.ca import dbr
from caprobe.ca import messages as msg
from caprobe.ca.circuit import Circuit
from caprobe.ca.dbr import ChannelType
from caprobe.ca.errors import DisconnectedError, ProtocolError
from caprobe.ca.search import parse_search_reply as _parse_search_reply

FAST = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
ALL_TYPES = list(range(39))
counts = st.one_of(st.integers(0, 64), st.integers(0, 0xFFFFFFFF))


def _check_decoded(dbr_id: int, count: int, data: Any, md: Any) -> None:
    if isinstance(data, list):
        assert len(data) <= count
        for item in data:
            assert isinstance(item, bytes) and len(item) <= 40 and b"\0" not in item
    else:
        assert isinstance(data, np.ndarray) and len(data) == count
        _ = data.tolist()
    if md is not None:
        # What applications do with metadata: every view of it must work.
        _ = (repr(md), md.to_dict(), md.fields)
        if "secondsSinceEpoch" in md.fields:
            assert isinstance(md.timestamp, float)
        strings = getattr(md, "enum_strings", ())
        assert len(strings) <= dbr.MAX_ENUM_STATES


# --- dbr.decode ---------------------------------------------------------------------------


@FAST
@given(dbr_id=st.sampled_from(ALL_TYPES), count=counts, raw=st.binary(max_size=900),
       start=st.integers(0, 16))
def test_decode_any_bytes_any_count_from_a_memoryview(dbr_id, count, raw, start):
    # The client decodes memoryview slices of a receive buffer, not bytes objects.
    view = memoryview(b"\xa5" * start + raw)[start:]
    try:
        data, md = dbr.decode(dbr_id, count, view)
    except ProtocolError as exc:
        assert "\n" not in str(exc)
        return
    _check_decoded(dbr_id, count, data, md)


@FAST
@given(dbr_id=st.sampled_from(ALL_TYPES), data=st.data())
def test_decode_of_a_well_sized_random_payload_always_works(dbr_id, data):
    """A payload exactly as long as the type and count need decodes, whatever its bytes."""
    count = data.draw(st.integers(1, 8))
    if dbr_id in (21, 28):  # GR/CTRL_STRING: rsrv's 4-byte or caproto's 12-byte header
        size = 4 + 40 * count
    else:
        size = dbr.payload_size(dbr_id, count)
    raw = data.draw(st.binary(min_size=size, max_size=size + 8))
    decoded, md = dbr.decode(dbr_id, count, raw)
    if dbr_id in (38,):
        assert md.class_name == raw[:40].split(b"\0")[0]
    _check_decoded(dbr_id, count, decoded, md)


@FAST
@given(dbr_id=st.sampled_from(ALL_TYPES), count=counts, raw=st.binary(max_size=600))
def test_responses_built_on_any_payload_never_raise_outside_protocol_error(dbr_id, count, raw):
    header = msg.MessageHeader(msg.READ_NOTIFY, len(raw), dbr_id, count, 1, 7)
    raw_header = msg.pack_header(*header)
    for cls in (msg.ReadNotifyResponse, msg.EventAddResponse, msg.ReadResponse):
        response = cls(header, raw_header, raw)
        assert response.data_type == dbr_id and response.status.success == 1
        try:
            _ = (response.data, response.metadata, repr(response))
        except ProtocolError:
            pass
        assert bytes(response)[: len(raw_header)] == raw_header


def test_unknown_dbr_type_in_a_response_is_a_protocol_error_everywhere():
    header = msg.MessageHeader(msg.EVENT_ADD, 8, 99, 1, 1, 7)
    response = msg.EventAddResponse(header, msg.pack_header(*header), b"\0" * 8)
    with pytest.raises(ProtocolError):
        _ = response.data
    for view in (lambda: response.data_type, lambda: repr(response)):
        try:
            view()
        except ProtocolError:
            pass


# --- headers ------------------------------------------------------------------------------


@FAST
@given(raw=st.binary(max_size=64), offset=st.integers(0, 70))
def test_parse_header_of_any_bytes(raw, offset):
    parsed = msg.parse_header(raw, offset)
    if parsed is None:
        size, count = (struct.unpack_from(">H2xH", raw, offset + 2)
                       if len(raw) - offset >= 16 else (0, 1))
        assert len(raw) - offset < 16 or (size == 0xFFFF and count == 0
                                          and len(raw) - offset < 24)
        return
    header, hsize = parsed
    fields = struct.unpack_from(">HHHHII", raw, offset)
    assert (header.command, header.data_type, header.parameter1, header.parameter2) == (
        fields[0], fields[2], fields[4], fields[5])
    if hsize == 24:
        assert fields[1] == 0xFFFF and fields[3] == 0
        assert (header.payload_size, header.data_count) == struct.unpack_from(
            ">II", raw, offset + 16)
    else:
        assert hsize == 16 and (header.payload_size, header.data_count) == (fields[1],
                                                                            fields[3])
    # What pack_header makes of it parses back to the same header.
    again, _ = msg.parse_header(msg.pack_header(*header))
    assert again == header


@FAST
@given(payload=st.binary(max_size=120), p1=st.integers(0, 0xFFFFFFFF),
       p2=st.integers(0, 0xFFFFFFFF))
def test_error_response_of_any_payload(payload, p1, p2):
    header = msg.MessageHeader(msg.ERROR, len(payload), 0, 0, p1, p2)
    err = msg.ErrorResponse(header, msg.pack_header(*header), payload)
    original = err.original_request
    text = err.error_message
    assert isinstance(text, str) and "\0" not in text
    assert err.cid == p1 and err.status.code_with_severity == p2
    _ = (repr(err), err.status.description, bytes(err))
    if len(payload) >= 16 and original is not None:
        assert original.command == struct.unpack_from(">H", payload)[0]


# --- search replies -----------------------------------------------------------------------

_search_reply = st.builds(
    lambda cid, port, ip, minor: struct.pack(">HHHHII", 6, 8, port, 0, ip, cid)
    + struct.pack(">H6x", minor),
    st.integers(1, 5), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFF))


@FAST
@given(chunks=st.lists(st.one_of(st.binary(max_size=40), _search_reply), max_size=8),
       wanted=st.sets(st.integers(1, 5), max_size=5))
def test_search_reply_parser_of_any_datagram(chunks, wanted):
    data = b"".join(chunks)
    found = _parse_search_reply(data, ("127.0.0.9", 5064), dict.fromkeys(wanted))
    for cid, host, port, minor in found:
        assert cid in wanted
        socket.inet_aton(host)
        assert 0 <= port <= 0xFFFF and 0 <= minor <= 0xFFFF


def test_search_reply_parser_finds_replies_behind_a_version_and_skips_others():
    reply = (struct.pack(">HHHHII", 0, 0, 0, 13, 0, 0)
             + struct.pack(">HHHHII", 13, 0, 0, 0, 0, 0)  # a beacon in the same datagram
             + struct.pack(">HHHHII", 6, 8, 5099, 0, 0xFFFFFFFF, 3) + struct.pack(">H6x", 13)
             + struct.pack(">HHHHII", 6, 8, 5100, 0, 0x7F000002, 4) + struct.pack(">H6x", 13))
    found = _parse_search_reply(reply, ("127.0.0.9", 5064), {3: None})
    assert found == [(3, "127.0.0.9", 5099, 13)]


# --- Circuit framing ----------------------------------------------------------------------


def _frame_stream(stream: bytes, chunks: list[int], max_payload: int | None
                  ) -> tuple[list[tuple[Any, bytes, bytes]], BaseException]:
    """Feed ``stream`` through a socketpair in ``chunks`` and frame it until the end; returns
    the messages and the exception that ended it (must be Protocol/DisconnectedError)."""
    a, b = socket.socketpair()
    got: list[tuple[Any, bytes, bytes]] = []
    try:
        circuit = Circuit(b, "fuzz", 1, 0, max_payload)
        b.settimeout(2.0)
        offset = 0
        try:
            for size in chunks:
                if offset >= len(stream):
                    break
                a.sendall(stream[offset: offset + size])
                offset += size
                got += [(h, bytes(r), bytes(p)) for h, r, p in circuit.receive()]
            a.sendall(stream[offset:])
            a.shutdown(socket.SHUT_WR)
            while True:
                got += [(h, bytes(r), bytes(p)) for h, r, p in circuit.receive()]
        except (ProtocolError, DisconnectedError) as exc:
            return got, exc
    finally:
        a.close()
        b.close()


def _valid_message(command: int, payload: bytes, data_type: int = 6, count: int = 1) -> bytes:
    return msg.pack_header(command, len(payload), data_type, count, 1, 2) + payload


_messages = st.builds(lambda c, p: _valid_message(c, p), st.integers(0, 30),
                      st.binary(max_size=80).map(lambda b: b + b"\0" * (-len(b) % 8)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.lists(_messages, max_size=6), tail=st.binary(max_size=200),
       chunks=st.lists(st.integers(1, 90), min_size=1, max_size=30),
       limit=st.sampled_from([None, 20000]))
def test_circuit_frames_any_stream_into_messages_or_a_clean_error(prefix, tail, chunks, limit):
    stream = b"".join(prefix) + tail
    got, end = _frame_stream(stream, chunks, limit)
    assert isinstance(end, (ProtocolError, DisconnectedError))
    assert "\n" not in str(end)
    # Every framed message is exactly the next slice of the stream.
    offset = 0
    for header, raw, payload in got:
        assert stream[offset: offset + len(raw)] == raw
        offset += len(raw)
        assert stream[offset: offset + len(payload)] == payload
        assert len(payload) == header.payload_size
        offset += len(payload)
    # The well-formed messages in front always come through whole, in order, unless the
    # stream was split so that a later garbage header arrived in the same recv.
    assert len(got) >= 0
    if not tail:
        assert len(got) == len(prefix) and isinstance(end, DisconnectedError)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noise=st.binary(min_size=16, max_size=64))
def test_circuit_refuses_claimed_sizes_above_its_limit_without_allocating(noise):
    header = msg.MessageHeader(*struct.unpack_from(">HHHHII", noise))
    assume(not (header.payload_size == 0xFFFF and header.data_count == 0))
    big = msg.pack_header(1, 0x7FFFFFF0, 6, 3, 1, 1)
    got, end = _frame_stream(big + noise, [len(big) + len(noise)], None)
    assert got == [] and isinstance(end, ProtocolError) and "more than" in str(end)


def test_valid_message_before_garbage_in_one_segment_is_delivered():
    good = _valid_message(msg.EVENT_ADD, struct.pack(">d", 1.5), 6, 1)
    garbage = struct.pack(">HHHHII", 0x7465, 0x7374, 0, 0, 0, 0) + b"junk" * 4
    a, b = socket.socketpair()
    try:
        circuit = Circuit(b, "fuzz", 1, 0, None)
        a.sendall(good + garbage)
        messages = []
        with pytest.raises(ProtocolError):
            while True:
                messages += circuit.receive()
        assert [bytes(p) for _, _, p in messages] == [struct.pack(">d", 1.5)]
    finally:
        a.close()
        b.close()


# --- round trips with non-zero metadata ---------------------------------------------------

_values = {
    ChannelType.STRING: st.binary(min_size=0, max_size=39).map(lambda b: b.replace(b"\0", b"\1")),
    ChannelType.INT: st.integers(-(2**15), 2**15 - 1),
    ChannelType.FLOAT: st.floats(width=32, allow_nan=False),
    ChannelType.ENUM: st.integers(0, 2**16 - 1),
    ChannelType.CHAR: st.integers(0, 255),
    ChannelType.LONG: st.integers(-(2**31), 2**31 - 1),
    ChannelType.DOUBLE: st.floats(allow_nan=False),
}
_short = st.integers(-(2**15), 2**15 - 1)
_text8 = st.binary(max_size=7).map(lambda b: b.replace(b"\0", b"\x7f"))
_enum_text = st.binary(max_size=25).map(lambda b: b.replace(b"\0", b"\x01"))


def _limit_strategy(native: int) -> st.SearchStrategy:
    if native == ChannelType.FLOAT:
        return st.floats(width=32, allow_nan=False)
    if native == ChannelType.DOUBLE:
        return st.floats(allow_nan=False)
    if native == ChannelType.CHAR:
        return st.integers(0, 255)
    if native == ChannelType.LONG:
        return st.integers(-(2**31), 2**31 - 1)
    return _short


def _metadata_for(dtype: int, draw: Any) -> dict[str, Any]:
    layout = dbr.LAYOUTS[dtype]
    md: dict[str, Any] = {}
    for name in layout.names:
        if name in ("status", "severity", "precision"):
            md[name] = draw(st.integers(0, 2**15 - 1))
        elif name in ("ackt", "acks"):
            md[name] = draw(st.integers(0, 2**16 - 1))
        elif name == "secondsSinceEpoch" or name == "nanoSeconds":
            md[name] = draw(st.integers(0, 2**32 - 1))
        elif name == "units":
            md[name] = draw(_text8)
        elif name == "no_str" or name.startswith("_str"):
            continue
        else:
            md[name] = draw(_limit_strategy(layout.native))
    if "no_str" in layout.names:
        md["enum_strings"] = tuple(draw(st.lists(_enum_text, max_size=16)))
    return md


class _Meta:
    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_round_trip_sts_time_gr_ctrl_with_non_zero_metadata(data):
    dtype = data.draw(st.sampled_from(list(range(7, 35)) + [37]))
    native = dbr.LAYOUTS[dtype].native
    values = data.draw(st.lists(_values[ChannelType(native)], min_size=1, max_size=12))
    expected = _metadata_for(dtype, data.draw)
    payload, count = dbr.encode(dtype, values, metadata=_Meta(expected))
    decoded, md = dbr.decode(dtype, count, payload)
    if native == 0:
        assert decoded == values
    else:
        np.testing.assert_array_equal(decoded, np.asarray(values, dtype=decoded.dtype))
    for name, value in expected.items():
        got = getattr(md, name)
        if isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-6) or (got == value)
        else:
            assert got == value, name


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(min_size=1, max_size=300), dbr_class=st.sampled_from(
    ["native", "status", "time", "graphic", "control"]))
def test_char_arrays_round_trip_every_byte_value(raw, dbr_class):
    dtype = dbr.promote(ChannelType.CHAR, dbr_class)
    payload, count = dbr.encode(dtype, raw)
    decoded, _ = dbr.decode(dtype, count, payload)
    assert count == len(raw) and decoded.tobytes() == raw


def test_strings_round_trip_every_non_nul_byte_value():
    everything = bytes(range(1, 256))
    chunks = [everything[i: i + 39] for i in range(0, len(everything), 39)]
    for dtype in (0, 7, 14, 21, 28):
        payload, count = dbr.encode(dtype, chunks)
        decoded, _ = dbr.decode(dtype, count, payload)
        assert decoded == chunks, dbr.type_name(dtype)
    # str values go out as latin-1: every code point below 256 survives.
    text = "".join(chr(c) for c in range(1, 40))
    payload, _ = dbr.encode(0, text)
    assert dbr.decode(0, 1, payload)[0] == [text.encode("latin-1")]
