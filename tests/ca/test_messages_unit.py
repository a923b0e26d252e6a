"""Headers, request encoders and circuit framing, byte for byte."""

from __future__ import annotations

import random
import socket
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caprobe.ca import messages as msg
from caprobe.ca.circuit import Circuit
from caprobe.ca.errors import DisconnectedError, ProtocolError
from caprobe.ca.status import eca, status_from_value


def test_standard_header_bytes():
    assert msg.read_notify_request(20, 1, 0x11, 0x22) == bytes.fromhex(
        "000f 0000 0014 0001 00000011 00000022")


def test_extended_header_when_count_exceeds_16_bits():
    raw = msg.read_notify_request(6, 300000, 7, 8)
    assert raw == struct.pack(">HHHHIIII", 15, 0xFFFF, 6, 0, 7, 8, 0, 300000)
    header, size = msg.parse_header(raw)
    assert size == 24 and header.data_count == 300000 and header.payload_size == 0


def test_search_request_pads_name_with_nul():
    raw = msg.search_request(b"ABCDEFGH", 5)  # 8 chars: the NUL needs another 8 bytes
    assert raw == struct.pack(">HHHHII", 6, 16, 5, 13, 5, 5) + b"ABCDEFGH" + b"\0" * 8


def test_event_add_request_layout():
    raw = msg.event_add_request(20, 0, 3, 4, 5)
    assert raw == struct.pack(">HHHHII", 1, 16, 20, 0, 3, 4) + struct.pack(">fffHxx", 0, 0, 0, 5)


def test_parse_header_needs_whole_header():
    raw = msg.read_notify_request(6, 300000, 7, 8)
    assert msg.parse_header(raw[:15]) is None
    assert msg.parse_header(raw[:20]) is None  # extended marker seen, 8 bytes still missing


def test_error_response_parsing():
    original = msg.read_notify_request(6, 1, 9, 10)
    payload = original + b"bad things\0"
    payload += b"\0" * ((-len(payload)) % 8)
    header = msg.MessageHeader(msg.ERROR, len(payload), 0, 0, 9, eca("ECA_TOLARGE").code_with_severity)
    err = msg.ErrorResponse(header, b"\0" * 16, payload)
    assert err.status.name == "ECA_TOLARGE"
    assert err.original_request.command == msg.READ_NOTIFY
    assert err.error_message == "bad things"


def test_unknown_status_never_raises():
    status = status_from_value(0xFFFF)
    assert status.name.startswith("ECA_UNKNOWN")
    assert eca("ECA_NORMAL").success == 1 and eca("ECA_PUTFAIL").success == 0


def _stream(messages: list[bytes]) -> bytes:
    return b"".join(messages)


def _frame_all(raw: bytes, chunk_sizes: list[int], max_payload: int | None = None):
    a, b = socket.socketpair()
    try:
        circuit = Circuit(b, "test", 1, 0, max_payload)
        circuit.allow_payload(len(raw))
        got = []
        offset = 0
        b.settimeout(2)
        for size in chunk_sizes:
            chunk = raw[offset: offset + size]
            offset += size
            if not chunk:
                break
            a.sendall(chunk)
            while True:
                # Drain what the socket holds now; an empty result means "wait for more".
                b.setblocking(False)
                try:
                    batch = circuit.receive()
                except (BlockingIOError, TimeoutError):
                    batch = []
                finally:
                    b.settimeout(2)
                got += [(h, bytes(p)) for h, _, p in batch]
                if not batch:
                    break
        return got
    finally:
        a.close()
        b.close()


def _update(subid: int, values: np.ndarray) -> bytes:
    body = values.astype(">f8").tobytes()
    return msg.pack_header(msg.EVENT_ADD, len(body), 6, len(values), 1, subid) + body


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(0, 20), min_size=1, max_size=20), seed=st.integers(0, 1000))
def test_framing_survives_any_split(counts, seed):
    rng = random.Random(seed)
    messages = [_update(i, np.arange(n, dtype=float)) for i, n in enumerate(counts)]
    raw = _stream(messages)
    sizes = []
    left = len(raw)
    while left > 0:
        n = rng.randint(1, 64)
        sizes.append(n)
        left -= n
    got = _frame_all(raw, sizes)
    assert [h.parameter2 for h, _ in got] == list(range(len(counts)))
    for (h, payload), n in zip(got, counts, strict=True):
        assert h.data_count == n and len(payload) == 8 * n


def test_large_payload_received_into_its_own_buffer():
    values = np.arange(200_000, dtype=float)
    raw = _update(1, values) + _update(2, np.arange(3.0))
    got = _frame_all(raw, [10_000] * (len(raw) // 10_000 + 1))
    assert [h.parameter2 for h, _ in got] == [1, 2]
    assert np.frombuffer(got[0][1], ">f8").tolist() == values.tolist()


def test_oversized_payload_is_refused_without_allocating():
    a, b = socket.socketpair()
    try:
        circuit = Circuit(b, "test", 1, 0, None)
        a.sendall(struct.pack(">HHHHIIII", 1, 0xFFFF, 6, 0, 1, 1, 0x7FFFFFF0, 1))
        with pytest.raises(ProtocolError, match="more than"):
            circuit.receive()
    finally:
        a.close()
        b.close()


def test_closed_connection_is_reported():
    a, b = socket.socketpair()
    circuit = Circuit(b, "test", 1, 0, None)
    a.close()
    with pytest.raises(DisconnectedError):
        circuit.receive()
    b.close()


def _read_reply(data_type: int, count: int, payload: bytes) -> msg.ReadNotifyResponse:
    header = msg.MessageHeader(msg.READ_NOTIFY, len(payload), data_type, count, 1, 7)
    raw = msg.pack_header(*header)
    return msg.ReadNotifyResponse(header, raw, memoryview(payload))


def test_tolist_equals_data_tolist_and_metadata_is_one_object():
    payload = struct.pack(">hhII4x3d", 0, 0, 5, 6, 1.5, -2.0, 3.0)
    first = _read_reply(20, 3, payload)
    metadata = first.metadata
    assert first.tolist() == [1.5, -2.0, 3.0] and first.tolist(2) == [1.5, -2.0]
    assert first.data.tolist() == first.tolist()
    assert first.metadata is metadata  # decoding the values keeps the metadata handed out
    second = _read_reply(20, 3, payload)
    assert second.data.tolist() == second.tolist() == [1.5, -2.0, 3.0]
    assert second.tolist(0) == [] and second.tolist(-1) == []
    strings = _read_reply(0, 2, b"ab".ljust(40, b"\0") + b"c\0")
    assert strings.tolist() == strings.data == [b"ab", b"c"]
    assert strings.tolist() is not strings.data  # a copy: the caller may change it


def test_metadata_checks_the_whole_payload_without_numpy():
    # Reads are checked through .metadata (caprobe.ca.requests.check_read): it must refuse
    # what .data refuses, naming the PV, and leave numpy unloaded.
    code = """
import struct, sys
from caprobe.ca import messages as msg
from caprobe.ca.errors import ProtocolError
def reply(data_type, count, payload):
    header = msg.MessageHeader(msg.READ_NOTIFY, len(payload), data_type, count, 1, 7)
    return msg.ReadNotifyResponse(header, msg.pack_header(*header), memoryview(payload))
good = reply(20, 1, struct.pack('>hhII4xd', 0, 0, 5, 6, 1.5))
assert good.metadata.nanoSeconds == 6 and good.tolist() == [1.5]
for bad in (reply(20, 2, struct.pack('>hhII4xd', 0, 0, 5, 6, 1.5)),
            reply(0, 3, b'x'.ljust(40, b'\\0'))):
    try:
        bad.metadata
    except ProtocolError:
        pass
    else:
        raise AssertionError('short payload accepted')
assert 'numpy' not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
