"""caprobe.ca against a scripted CA server, for replies rsrv and caproto do not give on demand:
CREATE_CH_FAIL, a V4.12 peer (no dynamic count), ERROR with text, a silent server, a
40-byte string without NUL, unknown status codes, hostile sizes, dropped circuits.

The fake server speaks just enough CA (struct-packed, no caprobe code) on loopback: it answers
UDP searches for its PV names and serves one DOUBLE channel (4 elements) or one STRING
channel over TCP, doing what each test's ``script`` says.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from caprobe import ca
from caprobe.ca import (
    CAError,
    CATimeoutError,
    ChannelCreationFailed,
    DisconnectedError,
    ErrorResponseReceived,
    ProtocolError,
    WriteFailed,
)

HEADER = struct.Struct(">HHHHII")
VERSION, SEARCH, ERROR, CLEAR_CHANNEL, READ_NOTIFY = 0, 6, 11, 12, 15
CREATE_CHAN, WRITE_NOTIFY, ACCESS_RIGHTS, CREATE_CH_FAIL, SERVER_DISCONN = 18, 19, 22, 26, 27
ECA_NORMAL, ECA_GETFAIL, ECA_PUTFAIL = 1, 152, 160
SID = 77
VALUES = (1.25, 2.5, 3.75, 5.0)


def pad8(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


def rsrv_name(payload: bytes) -> str:
    # rsrv forces the last byte of the padded name to NUL before using it: a name sent
    # without its NUL loses its last character.
    return payload[:-1].split(b"\0")[0].decode("latin-1")


def message(command: int, payload: bytes = b"", data_type: int = 0, data_count: int = 0,
            p1: int = 0, p2: int = 0) -> bytes:
    payload = pad8(payload)
    return HEADER.pack(command, len(payload), data_type, data_count, p1, p2) + payload


def take_messages(buffer: bytes) -> tuple[list[tuple[int, int, int, int, int, bytes, bytes]],
                                          bytes]:
    """The complete CA messages at the start of ``buffer`` (extended headers understood) as
    (command, data_type, count, p1, p2, header, payload), and the incomplete rest."""
    messages = []
    while len(buffer) >= 16:
        command, size, dtype, count, p1, p2 = HEADER.unpack_from(buffer, 0)
        header_size = 16
        if size == 0xFFFF and count == 0:
            if len(buffer) < 24:
                break
            size, count = struct.unpack_from(">II", buffer, 16)
            header_size = 24
        if len(buffer) < header_size + size:
            break
        messages.append((command, dtype, count, p1, p2, buffer[:header_size],
                         buffer[header_size: header_size + size]))
        buffer = buffer[header_size + size:]
    return messages, buffer


class FakeServer:
    """A scripted CA server: UDP search on ``udp_port``, TCP on an ephemeral port.

    ``script`` maps a step name to behaviour: 'create' in {'ok', 'fail', 'silent'}; 'read' in
    {'ok', 'error', 'unknown_status', 'huge', 'close', 'disconn', 'silent'}; 'write' status;
    'native' 6 (DOUBLE) or 0 (STRING); 'string' the raw 40 value bytes for STRING reads;
    'version_last' sends the TCP VERSION after the CREATE_CHAN reply.
    """

    def __init__(self, udp_port: int, names: set[str], *, minor: int = 13,
                 search_ip: str | None = None, **script: Any) -> None:
        self.names = names
        self.minor = minor
        self.search_ip = search_ip
        self.script = script
        self.read_requests: list[tuple[int, int]] = []  # (data_type, data_count)
        self.write_requests: list[tuple[int, int]] = []
        self.name_payloads: list[tuple[int, bytes]] = []  # (command, raw SEARCH/CREATE payload)
        self._stop = threading.Event()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", udp_port))
        self.udp.settimeout(0.05)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.settimeout(0.05)
        self.tcp_port = self.tcp.getsockname()[1]
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.udp.close()
        self.tcp.close()

    # -- UDP -------------------------------------------------------------------------------

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.udp.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            offset = 0
            while offset + 16 <= len(data):
                command, size, _, _, p1, _ = HEADER.unpack_from(data, offset)
                payload = data[offset + 16: offset + 16 + size]
                offset += 16 + size
                if command != SEARCH:
                    continue
                self.name_payloads.append((SEARCH, payload))
                name = rsrv_name(payload)
                if command == SEARCH and name in self.names:
                    address = (0xFFFFFFFF if self.search_ip is None else
                               struct.unpack(">I", socket.inet_aton(self.search_ip))[0])
                    reply = message(VERSION, data_type=0, data_count=self.minor)
                    reply += message(SEARCH, struct.pack(">H", self.minor),
                                     data_type=self.tcp_port, p1=address, p2=p1)
                    self.udp.sendto(reply, source)

    # -- TCP -------------------------------------------------------------------------------

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve_circuit, args=(conn,), daemon=True).start()

    def _serve_circuit(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        buffer = b""
        with conn:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                messages, buffer = take_messages(buffer + chunk)
                for command, dtype, count, p1, p2, header, payload in messages:
                    reply = self._answer(command, dtype, count, p1, p2, header, payload)
                    if reply is None:
                        return  # close the circuit
                    if reply:
                        conn.sendall(reply)

    def _answer(self, command: int, dtype: int, count: int, p1: int, p2: int, header: bytes,
                payload: bytes) -> bytes | None:
        native = self.script.get("native", 6)
        if command == VERSION:
            return b"" if self.script.get("version_last") else message(
                VERSION, data_count=self.minor)
        if command == CREATE_CHAN:
            self.cid = p1
            self.name_payloads.append((CREATE_CHAN, payload))
            if rsrv_name(payload) not in self.names:
                return message(CREATE_CH_FAIL, p1=p1)
            behaviour = self.script.get("create", "ok")
            if behaviour == "fail":
                return message(CREATE_CH_FAIL, p1=p1)
            if behaviour == "silent":
                return b""
            rights = message(ACCESS_RIGHTS, p1=p1, p2=self.script.get("access", 3))
            created = message(CREATE_CHAN, data_type=native, data_count=len(VALUES)
                              if native == 6 else 1, p1=p1, p2=SID)
            # Conforming servers send ACCESS_RIGHTS first; both orders arrive in one segment.
            reply = (created + rights if self.script.get("rights_after_create")
                     else rights + created)
            if self.script.get("version_last"):
                reply += message(VERSION, data_count=self.minor)
            return reply
        if command == SEARCH:  # TCP name-server search (V4.12): reply without payload
            if rsrv_name(payload) in self.names:
                return message(SEARCH, data_type=self.tcp_port, p1=0xFFFFFFFF, p2=p1)
            return b""
        if command == READ_NOTIFY:
            self.read_requests.append((dtype, count))
            behaviour = self.script.get("read", "ok")
            if behaviour == "error":
                return message(ERROR, header + b"fake IOC: the read went wrong\0",
                               p1=self.cid, p2=ECA_GETFAIL)
            if behaviour == "silent":
                return b""
            if behaviour == "close":
                return None
            if behaviour == "disconn":
                return message(SERVER_DISCONN, p1=self.cid)
            if behaviour == "huge":
                # Extended header announcing 2 GB of payload: must never be allocated.
                return (HEADER.pack(READ_NOTIFY, 0xFFFF, 6, 0, ECA_NORMAL, p2)
                        + struct.pack(">II", 0x7FFFFFF8, 0x0FFFFFFF) + b"\0" * 64)
            status = 0x7FF0 if behaviour == "unknown_status" else ECA_NORMAL
            if native == 0:
                value = self.script.get("string", b"hello")
                return message(READ_NOTIFY, value.ljust(40, b"\0"), data_type=0, data_count=1,
                               p1=status, p2=p2)
            n = count or len(VALUES)
            body = struct.pack(f">{n}d", *(VALUES + (0.0,) * n)[:n])
            return message(READ_NOTIFY, body, data_type=6, data_count=n, p1=status, p2=p2)
        if command == WRITE_NOTIFY:
            self.write_requests.append((dtype, count))
            return message(WRITE_NOTIFY, data_type=dtype, data_count=count,
                           p1=self.script.get("write", ECA_NORMAL), p2=p2)
        if command == CLEAR_CHANNEL:
            return message(CLEAR_CHANNEL, p1=p1, p2=p2)
        return b""


@pytest.fixture
def fake_server(free_port: int, monkeypatch: pytest.MonkeyPatch
                ) -> Iterator[Callable[..., FakeServer]]:
    """``fake_server(**script)`` starts a FakeServer for 'fake:pv' that the client finds."""
    for key, value in {"EPICS_CA_ADDR_LIST": f"127.0.0.1:{free_port}",
                       "EPICS_CA_AUTO_ADDR_LIST": "NO",
                       "EPICS_CA_SERVER_PORT": str(free_port),
                       "EPICS_CA_REPEATER_PORT": str(free_port + 1)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("EPICS_CA_NAME_SERVERS", raising=False)
    monkeypatch.delenv("EPICS_CA_MAX_ARRAY_BYTES", raising=False)
    started: list[FakeServer] = []

    def start(names: tuple[str, ...] = ("fake:pv",), *, via_name_server: bool = False,
              **script: Any) -> FakeServer:
        server = FakeServer(free_port, set(names), **script)
        started.append(server)
        if via_name_server:  # TCP search only: no UDP destination at all
            monkeypatch.setenv("EPICS_CA_ADDR_LIST", "")
            monkeypatch.setenv("EPICS_CA_NAME_SERVERS", f"127.0.0.1:{server.tcp_port}")
        return server

    try:
        yield start
    finally:
        for server in started:
            with contextlib.suppress(OSError):
                server.close()


def read(**kwargs: Any) -> Any:
    kwargs.setdefault("timeout", 2.0)
    return ca.read("fake:pv", repeater=False, **kwargs)


# ---------------------------------------------------------------------------------------------


def test_fake_server_serves_a_plain_read(fake_server):
    fake_server()
    assert read().data.tolist() == list(VALUES)


def test_create_ch_fail_fails_at_once_not_after_the_timeout(fake_server):
    fake_server(create="fail")
    started = time.monotonic()
    with pytest.raises(ChannelCreationFailed) as info:
        read(timeout=3.0)
    assert time.monotonic() - started < 0.5
    assert "fake:pv" in str(info.value)


def test_server_that_never_creates_the_channel_gives_timeout(fake_server):
    fake_server(create="silent")
    started = time.monotonic()
    with pytest.raises(CATimeoutError) as info:
        read(timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 0.8
    assert "fake:pv" in str(info.value)


def test_server_that_never_answers_the_read_gives_timeout(fake_server):
    fake_server(read="silent")
    with pytest.raises(CATimeoutError):
        read(timeout=0.3)


def test_dynamic_count_is_requested_from_v4_13_server(fake_server):
    server = fake_server(minor=13)
    read()
    assert server.read_requests == [(6, 0)]


def test_v4_12_server_is_asked_for_the_native_count_not_zero(fake_server):
    server = fake_server(minor=12)
    assert read().data.tolist() == list(VALUES)
    assert server.read_requests == [(6, len(VALUES))]


def test_explicit_data_count_is_sent_as_given(fake_server):
    server = fake_server(minor=12)
    assert read(data_count=2).data.tolist() == list(VALUES[:2])
    assert server.read_requests == [(6, 2)]


def test_search_reply_with_explicit_server_address_is_used(fake_server):
    fake_server(search_ip="127.0.0.1")
    assert read().data.tolist() == list(VALUES)


def test_version_after_create_chan_reply_is_accepted(fake_server):
    fake_server(version_last=True)
    assert read().data.tolist() == list(VALUES)


def test_error_response_carries_eca_status_and_server_text(fake_server):
    fake_server(read="error")
    with pytest.raises(ErrorResponseReceived) as info:
        read()
    error = info.value
    assert error.status.name == "ECA_GETFAIL"
    assert error.server_text == "fake IOC: the read went wrong"
    assert "fake IOC: the read went wrong" in str(error)
    assert "fake:pv" in str(error)
    assert error.response.original_request.command == READ_NOTIFY


def test_unknown_status_code_in_reply_does_not_crash_decoder(fake_server):
    fake_server(read="unknown_status")
    with pytest.raises(CAError) as info:
        read()
    assert "\n" not in str(info.value)


def test_hostile_payload_size_is_refused_without_allocating_it(fake_server):
    fake_server(read="huge")
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError):
            read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_server_closing_the_circuit_mid_read_raises_disconnected(fake_server):
    fake_server(read="close")
    started = time.monotonic()
    with pytest.raises(DisconnectedError) as info:
        read(timeout=3.0)
    assert time.monotonic() - started < 0.5
    assert isinstance(info.value, ConnectionError)


def test_server_dropping_the_channel_raises_disconnected(fake_server):
    fake_server(read="disconn")
    with pytest.raises(DisconnectedError):
        read(timeout=3.0)


def test_string_of_40_bytes_without_nul_is_kept_whole(fake_server):
    fake_server(native=0, string=b"x" * 40)
    assert read().data == [b"x" * 40]


def test_string_with_bytes_after_nul_stops_at_nul(fake_server):
    fake_server(native=0, string=b"abc\0garbage")
    assert read().data == [b"abc"]


def test_write_notify_failure_status_raises_write_failed(fake_server):
    fake_server(write=ECA_PUTFAIL)
    with pytest.raises(WriteFailed) as info:
        ca.write("fake:pv", 1.0, notify=True, timeout=2.0, repeater=False)
    assert info.value.status.name == "ECA_PUTFAIL"
    assert "fake:pv" in str(info.value)


def test_write_notify_failure_status_returned_when_caller_asks_for_raw_response(fake_server):
    fake_server(write=ECA_PUTFAIL)
    response = ca.write("fake:pv", 1.0, notify=True, timeout=2.0, repeater=False, check=False)
    assert response.status.name == "ECA_PUTFAIL"
    assert not response.status.success


def test_access_rights_without_read_refuse_the_read(fake_server):
    server = fake_server(access=2)
    with pytest.raises(ErrorResponseReceived) as info:
        read()
    assert info.value.status.name == "ECA_NORDACCESS"
    assert server.read_requests == []


@pytest.mark.parametrize("name", ["abcdefgh", "abcdefghijklmnop", "a" * 23, "b" * 24])
def test_names_filling_whole_8_byte_blocks_still_carry_their_nul(fake_server, name):
    server = fake_server(names=(name,))
    res = ca.read(name, timeout=2.0, repeater=False)
    assert res.data.tolist() == list(VALUES)
    commands = [command for command, _ in server.name_payloads]
    assert SEARCH in commands and CREATE_CHAN in commands
    for _, payload in server.name_payloads:
        assert len(payload) % 8 == 0
        assert payload.startswith(name.encode() + b"\0")


def test_name_server_search_on_fake_server(fake_server):
    server = fake_server(via_name_server=True)
    assert read().data.tolist() == list(VALUES)
    assert server.read_requests == [(6, 0)]


def test_version_after_create_chan_still_sets_the_server_version(fake_server):
    # A TCP search reply carries no minor version, so only the circuit's VERSION tells the
    # client that the server understands a dynamic count; it may come after CREATE_CHAN.
    server = fake_server(via_name_server=True, version_last=True)
    info = ca.info("fake:pv", timeout=2.0, repeater=False)
    assert info.server_version == 13
    read()
    assert server.read_requests == [(6, 0)]


def test_access_rights_after_create_chan_in_the_same_segment_are_applied(fake_server):
    fake_server(rights_after_create=True)
    assert ca.info("fake:pv", timeout=2.0, repeater=False).can_write
    assert read().data.tolist() == list(VALUES)
