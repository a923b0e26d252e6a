"""Channel Access messages: the 16/24-byte header, request encoders, response objects.

No sockets here. Responses keep the exact wire bytes (``bytes(res)``) and decode lazily:
``.data`` is a numpy view on the received memory, built on first access; ``.metadata`` and
``.tolist()`` (plain Python values) never import numpy.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from caprobe.ca import dbr
from caprobe.ca.dbr import ChannelType, pad8
from caprobe.ca.errors import ProtocolError
from caprobe.ca.status import CAStatusCode, status_from_value

CA_MINOR_VERSION = 13
CA_PROTO_PRIORITY_MAX = 99

# Command IDs (caProto.h)
VERSION = 0
EVENT_ADD = 1
EVENT_CANCEL = 2
READ = 3
WRITE = 4
SEARCH = 6
EVENTS_OFF = 8
EVENTS_ON = 9
ERROR = 11
CLEAR_CHANNEL = 12
RSRV_IS_UP = 13
NOT_FOUND = 14
READ_NOTIFY = 15
REPEATER_CONFIRM = 17
CREATE_CHAN = 18
WRITE_NOTIFY = 19
CLIENT_NAME = 20
HOST_NAME = 21
ACCESS_RIGHTS = 22
ECHO = 23
REPEATER_REGISTER = 24
CREATE_CH_FAIL = 26
SERVER_DISCONN = 27

COMMAND_NAMES = {
    0: "VERSION", 1: "EVENT_ADD", 2: "EVENT_CANCEL", 3: "READ", 4: "WRITE", 6: "SEARCH",
    8: "EVENTS_OFF", 9: "EVENTS_ON", 11: "ERROR", 12: "CLEAR_CHANNEL", 13: "RSRV_IS_UP",
    14: "NOT_FOUND", 15: "READ_NOTIFY", 17: "REPEATER_CONFIRM", 18: "CREATE_CHAN",
    19: "WRITE_NOTIFY", 20: "CLIENT_NAME", 21: "HOST_NAME", 22: "ACCESS_RIGHTS", 23: "ECHO",
    24: "REPEATER_REGISTER", 26: "CREATE_CH_FAIL", 27: "SERVER_DISCONN",
}

DO_REPLY = 10
DONT_REPLY = 5

HEADER = struct.Struct(">HHHHII")
EXTENDED = struct.Struct(">II")
HEADER_SIZE = 16
EXTENDED_HEADER_SIZE = 24


class MessageHeader(NamedTuple):
    """A decoded header; payload_size and data_count are the extended values when present."""

    command: int
    payload_size: int
    data_type: int
    data_count: int
    parameter1: int
    parameter2: int


def pack_header(command: int, payload_size: int, data_type: int, data_count: int,
                parameter1: int, parameter2: int) -> bytes:
    """A header, extended (24 bytes) when payload or count exceed 16 bits."""
    if payload_size >= 0xFFFF or data_count > 0xFFFF:
        return (HEADER.pack(command, 0xFFFF, data_type, 0, parameter1, parameter2)
                + EXTENDED.pack(payload_size, data_count))
    return HEADER.pack(command, payload_size, data_type, data_count, parameter1, parameter2)


def parse_header(buf: memoryview | bytes, offset: int = 0) -> tuple[MessageHeader, int] | None:
    """Parse one header at ``offset``; None if the buffer does not hold all of it yet."""
    if len(buf) - offset < HEADER_SIZE:
        return None
    command, size, dtype, count, p1, p2 = HEADER.unpack_from(buf, offset)
    if size == 0xFFFF and count == 0:
        if len(buf) - offset < EXTENDED_HEADER_SIZE:
            return None
        size, count = EXTENDED.unpack_from(buf, offset + HEADER_SIZE)
        return MessageHeader(command, size, dtype, count, p1, p2), EXTENDED_HEADER_SIZE
    return MessageHeader(command, size, dtype, count, p1, p2), HEADER_SIZE


def _padded_string(text: bytes) -> bytes:
    raw = text + b"\0"
    return raw + b"\0" * (pad8(len(raw)) - len(raw))


# ---------------------------------------------------------------------------------------------
# Requests


def version_request(priority: int = 0, *, udp: bool = False, sequence: int = 0) -> bytes:
    # Over UDP libca sets data_type 1 (sequence number valid) and the sequence in parameter1.
    if udp:
        return HEADER.pack(VERSION, 0, 1, CA_MINOR_VERSION, sequence, 0)
    return HEADER.pack(VERSION, 0, priority, CA_MINOR_VERSION, 0, 0)


def search_request(name: bytes, cid: int, reply: int = DONT_REPLY) -> bytes:
    payload = _padded_string(name)
    return HEADER.pack(SEARCH, len(payload), reply, CA_MINOR_VERSION, cid, cid) + payload


def host_name_request(host: str) -> bytes:
    payload = _padded_string(host.encode("utf-8", "replace")[:500])
    return HEADER.pack(HOST_NAME, len(payload), 0, 0, 0, 0) + payload


def client_name_request(user: str) -> bytes:
    payload = _padded_string(user.encode("utf-8", "replace")[:500])
    return HEADER.pack(CLIENT_NAME, len(payload), 0, 0, 0, 0) + payload


def create_chan_request(name: bytes, cid: int) -> bytes:
    payload = _padded_string(name)
    return HEADER.pack(CREATE_CHAN, len(payload), 0, 0, cid, CA_MINOR_VERSION) + payload


def read_notify_request(data_type: int, data_count: int, sid: int, ioid: int) -> bytes:
    return pack_header(READ_NOTIFY, 0, data_type, data_count, sid, ioid)


def read_request(data_type: int, data_count: int, sid: int, ioid: int) -> bytes:
    return pack_header(READ, 0, data_type, data_count, sid, ioid)


def write_request(payload: bytes, data_type: int, data_count: int, sid: int, ioid: int,
                  notify: bool) -> bytes:
    command = WRITE_NOTIFY if notify else WRITE
    return pack_header(command, len(payload), data_type, data_count, sid, ioid) + payload


EVENT_ADD_PAYLOAD = struct.Struct(">fffHxx")


def event_add_request(data_type: int, data_count: int, sid: int, subscription_id: int,
                      mask: int, low: float = 0.0, high: float = 0.0, to: float = 0.0) -> bytes:
    payload = EVENT_ADD_PAYLOAD.pack(low, high, to, mask)
    return pack_header(EVENT_ADD, len(payload), data_type, data_count, sid,
                       subscription_id) + payload


def event_cancel_request(data_type: int, data_count: int, sid: int, subscription_id: int
                         ) -> bytes:
    return pack_header(EVENT_CANCEL, 0, data_type, data_count, sid, subscription_id)


def clear_channel_request(sid: int, cid: int) -> bytes:
    return HEADER.pack(CLEAR_CHANNEL, 0, 0, 0, sid, cid)


def echo_request() -> bytes:
    return HEADER.pack(ECHO, 0, 0, 0, 0, 0)


def repeater_register_request(client_ip: int = 0) -> bytes:
    return HEADER.pack(REPEATER_REGISTER, 0, 0, 0, 0, client_ip)


# ---------------------------------------------------------------------------------------------
# Responses


class _WireMessage:
    """Common wire-level view: the header, its raw bytes and the payload memory."""

    __slots__ = ("header", "_raw_header", "_payload", "channel")

    def __bytes__(self) -> bytes:
        payload = bytes(self._payload)
        return bytes(self._raw_header) + payload + b"\0" * (pad8(len(payload)) - len(payload))

    def __len__(self) -> int:
        return len(self._raw_header) + pad8(len(self._payload))

    @property
    def buffers(self) -> tuple[memoryview, memoryview]:
        """(header bytes, payload bytes) as memory views on what was received."""
        return (memoryview(self._raw_header), memoryview(self._payload))

    @property
    def payload(self) -> memoryview:
        return memoryview(self._payload)


class _DataResponse(_WireMessage):
    # _decoded: None until decoded, then (numpy data or None until asked for, metadata,
    # offset and native type of the values): the metadata alone never needs numpy.
    __slots__ = ("_decoded",)

    def _decode_with(self, decoder: Any) -> Any:
        h = self.header
        try:
            return decoder(h.data_type, h.data_count, self._payload)
        except ProtocolError as exc:
            channel = self.channel
            if channel is None:
                raise
            # Name the PV and the server: with many PVs open, that says which IOC is wrong.
            raise ProtocolError(f"PV {channel.pv_name!r} from {channel.address}: {exc}"
                                ) from None

    def _located(self) -> tuple[Any, Any, int, int]:
        decoded = self._decoded
        if decoded is None:
            metadata, offset, native = self._decode_with(dbr.locate)
            decoded = self._decoded = (None, metadata, offset, native)
        return decoded

    @property
    def data(self) -> Any:
        """numpy array viewing the received bytes, or a list of bytes for string types."""
        decoded = self._decoded
        if decoded is None:  # a monitor update's usual way: one call
            data, metadata = self._decode_with(dbr.decode)
            self._decoded = (data, metadata, 0, 0)
            return data
        data = decoded[0]
        if data is None:  # the metadata came first (and checked the payload)
            _, metadata, offset, native = decoded
            data = dbr.values_array(native, self.header.data_count, self._payload, offset)
            self._decoded = (data, metadata, offset, native)
        return data

    @property
    def metadata(self) -> dbr.DbrMetadata | None:
        decoded = self._decoded
        return (decoded if decoded is not None else self._located())[1]

    def tolist(self, limit: int | None = None) -> list:
        """The values as a list of plain Python values (float, int; bytes for strings), equal
        to ``.data.tolist()`` (``list(.data)`` for strings) but decoded without numpy, which
        a command-line read of a scalar then never loads; ``limit``: only the first ones."""
        data, _, offset, native = self._located()
        if data is not None:
            data = data if limit is None else data[:max(0, limit)]
            return list(data) if isinstance(data, list) else data.tolist()
        return dbr.values_list(native, self.header.data_count, self._payload, offset, limit)

    @property
    def data_type(self) -> ChannelType:
        return _channel_type(self.header.data_type)

    @property
    def data_count(self) -> int:
        return self.header.data_count


_CHANNEL_TYPES = {member.value: member for member in ChannelType}  # canonical names only


def _channel_type(value: int) -> ChannelType:
    channel_type = _CHANNEL_TYPES.get(value)  # a dict, not ChannelType(value): ~10x faster
    if channel_type is None:
        raise ProtocolError(f"unknown DBR type {value} in a server reply")
    return channel_type


def _init_message(obj: _WireMessage, header: MessageHeader, raw_header: Any, payload: Any,
                  channel: Any) -> None:
    obj.header = header
    obj._raw_header = raw_header
    obj._payload = payload
    obj.channel = channel


class ReadNotifyResponse(_DataResponse):
    """Reply to READ_NOTIFY: ``.status`` is the server's ECA code for the read."""

    __slots__ = ()

    def __init__(self, header: MessageHeader, raw_header: Any, payload: Any,
                 channel: Any = None):
        _init_message(self, header, raw_header, payload, channel)
        self._decoded = None

    @property
    def status(self) -> CAStatusCode:
        return status_from_value(self.header.parameter1)

    @property
    def ioid(self) -> int:
        return self.header.parameter2

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(data={self.data!r}, data_type={self.data_type!r}, "
                f"data_count={self.data_count}, status={self.status.name}, ioid={self.ioid}, "
                f"metadata={self.metadata!r})")


class ReadResponse(ReadNotifyResponse):
    """Reply to the deprecated READ: parameter1 is the channel's sid, not a status, so the
    status is always ECA_NORMAL (a failed READ is reported by an ERROR message instead)."""

    __slots__ = ()

    @property
    def status(self) -> CAStatusCode:
        return status_from_value(1)


class EventAddResponse(_DataResponse):
    """A subscription update. ``.sub`` is the Subscription it belongs to."""

    __slots__ = ("sub",)

    def __init__(self, header: MessageHeader, raw_header: Any, payload: Any,
                 channel: Any = None, sub: Any = None):
        # Kept flat (no helper call): this runs once per monitor update.
        self.header = header
        self._raw_header = raw_header
        self._payload = payload
        self.channel = channel
        self._decoded = None
        self.sub = sub

    @property
    def status(self) -> CAStatusCode:
        return status_from_value(self.header.parameter1)

    @property
    def subscriptionid(self) -> int:
        return self.header.parameter2

    def __repr__(self) -> str:
        return (f"EventAddResponse(data={self.data!r}, data_type={self.data_type!r}, "
                f"data_count={self.data_count}, subscriptionid={self.subscriptionid}, "
                f"metadata={self.metadata!r})")


class WriteNotifyResponse(_WireMessage):
    """Reply to WRITE_NOTIFY: ``.status`` tells whether the put (and its processing) worked."""

    __slots__ = ()

    def __init__(self, header: MessageHeader, raw_header: Any, payload: Any = b"",
                 channel: Any = None):
        _init_message(self, header, raw_header, payload, channel)

    @property
    def status(self) -> CAStatusCode:
        return status_from_value(self.header.parameter1)

    @property
    def data_type(self) -> ChannelType:
        return _channel_type(self.header.data_type)

    @property
    def data_count(self) -> int:
        return self.header.data_count

    @property
    def ioid(self) -> int:
        return self.header.parameter2

    def __repr__(self) -> str:
        return (f"WriteNotifyResponse(data_type={self.data_type!r}, "
                f"data_count={self.data_count}, status={self.status.name}, ioid={self.ioid})")


class ErrorResponse(_WireMessage):
    """ERROR: the server's status, the offending request's header and its text."""

    __slots__ = ()

    def __init__(self, header: MessageHeader, raw_header: Any, payload: Any,
                 channel: Any = None):
        _init_message(self, header, raw_header, payload, channel)

    @property
    def cid(self) -> int:
        return self.header.parameter1

    @property
    def status(self) -> CAStatusCode:
        return status_from_value(self.header.parameter2)

    @property
    def original_request(self) -> MessageHeader | None:
        parsed = parse_header(self._payload, 0)
        return parsed[0] if parsed else None

    @property
    def error_message(self) -> str:
        parsed = parse_header(self._payload, 0)
        start = parsed[1] if parsed else len(self._payload)
        raw = bytes(self._payload[start:])
        end = raw.find(b"\0")
        return (raw if end < 0 else raw[:end]).decode("latin-1")

    def __repr__(self) -> str:
        return (f"ErrorResponse(cid={self.cid}, status={self.status.name}, "
                f"original_request={self.original_request!r}, "
                f"error_message={self.error_message!r})")
