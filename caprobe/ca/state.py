"""A channel's life as a state machine, with no socket, clock or thread.

Both the one-shot calls (:mod:`caprobe.ca.channel`) and the engine behind ``block()`` and the
many-PV API (:mod:`caprobe.ca.engine`) feed every server message about a channel to one
:class:`ChannelState` and act on the event it returns, so a reply means the same thing on
either path. The model is caproto's ``_state.py``: the wire is interpreted here, the I/O lives
elsewhere.

Channel-level messages carry the client's cid in ``parameter1``: CREATE_CHAN (the server's
sid, native type and count), CREATE_CH_FAIL, ACCESS_RIGHTS (may come before or after
CREATE_CHAN, and again at any time when access security changes) and SERVER_DISCONN.
"""

from __future__ import annotations

from enum import IntEnum

from caprobe.ca import dbr
from caprobe.ca import messages as msg
from caprobe.ca.dbr import AccessRights, ChannelType
from caprobe.ca.frozen import Frozen

#: Commands whose ``parameter1`` is the client's channel id.
CHANNEL_COMMANDS = frozenset({msg.CREATE_CHAN, msg.CREATE_CH_FAIL, msg.ACCESS_RIGHTS,
                              msg.SERVER_DISCONN})


class ChannelInfo(Frozen):
    """What the server told us about a channel when it was created: ``pv_name``, ``host``,
    ``port``, ``access`` (AccessRights), ``native_data_type`` (ChannelType),
    ``native_data_count``, ``server_version`` (CA minor version)."""

    __slots__ = ("pv_name", "host", "port", "access", "native_data_type", "native_data_count",
                 "server_version")
    pv_name: str
    host: str
    port: int
    access: AccessRights
    native_data_type: ChannelType
    native_data_count: int
    server_version: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def can_read(self) -> bool:
        return bool(self.access & AccessRights.READ)

    @property
    def can_write(self) -> bool:
        return bool(self.access & AccessRights.WRITE)


class ConnectionEvent(Frozen):
    """Delivered to subscription callbacks when a channel (dis)connects.

    ``connected`` is False with reason 'disconnected', 'unresponsive' or 'not found after
    N s, still searching', and True with 'connected', 'responsive again' or 'access rights
    changed' (``channel.access`` holds the new rights).
    """

    __slots__ = ("pv_name", "connected", "reason", "time", "channel")
    _defaults = {"channel": None}
    pv_name: str
    connected: bool
    reason: str
    time: float
    channel: ChannelInfo | None


class Phase(IntEnum):
    CREATING = 0  # CREATE_CHAN sent, no answer yet
    CONNECTED = 1  # the server gave a sid, native type and count
    CLOSED = 2  # refused, dropped by the server, or cleared by us


class Event(IntEnum):
    NONE = 0  # the message changed nothing a caller must act on
    CREATED = 1
    CREATE_FAILED = 2
    ACCESS_CHANGED = 3  # rights changed on a connected channel
    DROPPED = 4  # SERVER_DISCONN: the record went away; search again
    BAD_NATIVE_TYPE = 5  # CREATE_CHAN with a native type that is no DBF type: unusable


def reply_limit(data_type: int, data_count: int) -> int:
    """The largest reply payload a request of ``data_count`` elements of ``data_type`` may
    bring (one rule for every path: a larger one from a server is a protocol error)."""
    return dbr.payload_size(data_type, max(int(data_count), 1)) + 8


def creation_limit(native: int, native_count: int) -> int:
    """What any request on a freshly created channel may bring back: its CTRL type (the
    largest metadata) with every element."""
    return reply_limit(int(native) + 28, native_count)


class ChannelState:
    """One channel on one circuit: from CREATE_CHAN sent until closed."""

    __slots__ = ("pv_name", "cid", "sid", "phase", "access", "info", "host", "port",
                 "server_version", "native_type", "native_count")

    def __init__(self, pv_name: str, cid: int, host: str, port: int, server_version: int = 0):
        self.pv_name = pv_name
        self.cid = cid
        self.sid: int | None = None
        self.phase = Phase.CREATING
        # Rights may arrive before CREATE_CHAN; a server that never sends them (pre-V4.4)
        # grants read and write.
        self.access: AccessRights | None = None
        self.info: ChannelInfo | None = None
        self.host, self.port = host, port
        self.server_version = server_version
        self.native_type = ChannelType.STRING
        self.native_count = 0

    def on_message(self, header: msg.MessageHeader) -> Event:
        """Apply one channel-level message (its ``parameter1`` is this cid)."""
        command = header.command
        if command == msg.ACCESS_RIGHTS:
            access = AccessRights(header.parameter2 & 3)
            changed = self.access is not None and access != self.access
            self.access = access
            if self.info is not None:
                self.info = self.info.replace(access=access)
            return Event.ACCESS_CHANGED if changed and self.phase == Phase.CONNECTED \
                else Event.NONE
        if command == msg.CREATE_CHAN:
            if self.phase != Phase.CREATING:
                return Event.NONE  # a repeat: the first answer stands
            native = header.data_type
            if native > 6:
                self.phase = Phase.CLOSED
                return Event.BAD_NATIVE_TYPE
            self.sid = header.parameter2
            self.native_type = ChannelType(native)
            self.native_count = header.data_count
            self.phase = Phase.CONNECTED
            self._make_info()
            return Event.CREATED
        if command == msg.CREATE_CH_FAIL:
            if self.phase != Phase.CREATING:
                return Event.NONE
            self.phase = Phase.CLOSED
            return Event.CREATE_FAILED
        if command == msg.SERVER_DISCONN:
            if self.phase == Phase.CLOSED:
                return Event.NONE
            self.phase = Phase.CLOSED
            return Event.DROPPED
        return Event.NONE

    def on_server_version(self, version: int) -> None:
        """A VERSION message on the circuit (servers may send it late)."""
        self.server_version = version
        if self.info is not None:
            self.info = self.info.replace(server_version=version)

    def _make_info(self) -> None:
        access = AccessRights.READ_WRITE if self.access is None else self.access
        self.info = ChannelInfo(self.pv_name, self.host, self.port, access, self.native_type,
                                self.native_count, self.server_version)

    @property
    def connected(self) -> bool:
        return self.phase == Phase.CONNECTED

    def dynamic_count(self) -> int:
        """The count to ask for "everything there is now": 0 on V4.13 servers, which
        understand it, else the native count."""
        return 0 if self.server_version >= 13 else self.native_count

    def create_request(self, name: bytes) -> bytes:
        return msg.create_chan_request(name, self.cid)

    def clear_request(self) -> bytes:
        assert self.sid is not None
        return msg.clear_channel_request(self.sid, self.cid)

    def bad_native_type_text(self, native: int) -> str:
        return (f"PV {self.pv_name!r}: server {self.host}:{self.port} reported native type "
                f"{native}, which is not a DBF type")

    def create_failed_text(self) -> str:
        return (f"PV {self.pv_name!r}: server {self.host}:{self.port} refused to create the "
                "channel")


def request_target(header: msg.MessageHeader) -> tuple[str, int]:
    """What an ERROR's echoed request was about: ('cid', id) for channel creation,
    ('subid', id) for a subscription, ('ioid', id) for a read or write."""
    command = header.command
    if command in (msg.EVENT_ADD, msg.EVENT_CANCEL):
        return "subid", header.parameter2
    if command == msg.CREATE_CHAN:
        return "cid", header.parameter1
    return "ioid", header.parameter2
