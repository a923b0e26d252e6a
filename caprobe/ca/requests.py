"""Building read and write requests for a created channel and judging their replies, the same
for a one-shot channel and for the engine. Everything here raises before anything is sent:
no access, a type that cannot be read or written, a value that does not fit."""

from __future__ import annotations

from typing import Any

from caprobe.ca import dbr
from caprobe.ca import messages as msg
from caprobe.ca.arguments import next_id
from caprobe.ca.dbr import ChannelType
from caprobe.ca.errors import ErrorResponseReceived, ValueRefused, WriteFailed, printable
from caprobe.ca.messages import ReadNotifyResponse, ReadResponse, WriteNotifyResponse
from caprobe.ca.state import ChannelState, reply_limit
from caprobe.ca.status import eca


class Request:
    """One request on the wire: its bytes, the ioid its reply carries, which command that
    reply has (0: none, a WRITE without notify), the largest payload it may bring and the
    class of the reply."""

    __slots__ = ("data", "ioid", "reply_command", "limit", "response_class")

    def __init__(self, data: bytes, ioid: int, reply_command: int, limit: int,
                 response_class: Any = None) -> None:
        self.data = data
        self.ioid = ioid
        self.reply_command = reply_command
        self.limit = limit
        self.response_class = response_class


def check_data_count(data_count: Any) -> None:
    if data_count is not None and (isinstance(data_count, bool)
                                   or not hasattr(data_count, "__index__")
                                   or data_count < 0):
        raise ValueRefused(f"data_count {data_count!r} must be None or a whole number >= 0")


def read_request(state: ChannelState, data_type: Any, data_count: int | None, notify: bool,
                 force_int_enums: bool) -> Request:
    info = state.info
    assert info is not None and state.sid is not None
    native = info.native_data_type
    if data_type is None and native == ChannelType.ENUM and not force_int_enums:
        dtype = ChannelType.STRING
    else:
        try:
            dtype = dbr.resolve_data_type(data_type, native)
        except ValueError as exc:
            raise ValueRefused(str(exc)) from None
    if dtype in (ChannelType.PUT_ACKT, ChannelType.PUT_ACKS):
        raise ValueRefused(f"{dbr.type_name(dtype)} is write-only and cannot be read")
    if not info.can_read:
        raise ErrorResponseReceived(f"PV {state.pv_name!r}: no read access",
                                    status=eca("ECA_NORDACCESS"))
    if data_count is None:
        count = state.dynamic_count()
    else:
        count = int(data_count)
        if count < 0:
            raise ValueRefused(f"data_count {data_count!r} must be >= 0")
    ioid = next_id()
    limit = reply_limit(dtype, count or info.native_data_count)
    if notify:
        return Request(msg.read_notify_request(dtype, count, state.sid, ioid), ioid,
                       msg.READ_NOTIFY, limit, ReadNotifyResponse)
    return Request(msg.read_request(dtype, count or info.native_data_count, state.sid, ioid),
                   ioid, msg.READ, limit, ReadResponse)


def check_read(pv_name: str, response: ReadNotifyResponse) -> ReadNotifyResponse:
    """Raise for a read the server failed; decode now, so a malformed payload fails here
    and not in the caller."""
    if not response.status.success:
        raise ErrorResponseReceived(
            f"PV {pv_name!r}: read failed: {response.status.description} "
            f"({response.status.name})", status=response.status, response=response)
    _ = response.metadata  # checks the whole payload too; .data (numpy) waits to be asked for
    return response


def _is_text(data: Any) -> bool:
    if isinstance(data, (str, bytes)):
        return True
    if isinstance(data, (list, tuple)) and data:
        return all(isinstance(v, (str, bytes)) for v in data)
    return False


def _write_type(data: Any, data_type: Any, native: ChannelType) -> ChannelType:
    if data_type is not None:
        try:
            return dbr.resolve_data_type(data_type, native)
        except ValueError as exc:
            raise ValueRefused(str(exc)) from None
    if native == ChannelType.CHAR and isinstance(data, (str, bytes, bytearray)):
        return ChannelType.CHAR  # a long string written to a char array
    if _is_text(data):
        return ChannelType.STRING  # the server converts, as caput does
    return native


def write_request(state: ChannelState, data: Any, data_type: Any, metadata: Any,
                  notify: bool) -> Request:
    """Check access, type, range and element count; encode. Raises before anything is sent."""
    info = state.info
    assert info is not None and state.sid is not None
    pv_name = state.pv_name
    if not info.can_write:
        grants = "read only" if info.can_read else "no access at all"
        raise WriteFailed(f"PV {pv_name!r}: no write access (the server grants {grants})",
                          status=eca("ECA_NOWTACCESS"))
    dtype = _write_type(data, data_type, info.native_data_type)
    if dtype in range(7, 35) or dtype in (37, 38):
        if dtype in (37, 38) or metadata is None and dtype >= 14:
            raise ValueRefused(f"PV {pv_name!r}: cannot write {dbr.type_name(dtype)}: use "
                               "the plain value type, or STS/TIME/GR/CTRL with metadata")
    native = int(info.native_data_type)
    try:
        payload, count = dbr.encode(dtype, data, metadata=metadata, native=native)
    except ValueRefused as exc:
        raise ValueRefused(f"PV {pv_name!r}: {exc}; nothing was written") from None
    if count > info.native_data_count and dtype not in (35, 36):
        # libca refuses this (ECA_BADCOUNT); the server would silently drop the excess.
        raise ValueRefused(f"PV {pv_name!r}: {count} elements do not fit its "
                           f"{info.native_data_count}; nothing was written")
    ioid = next_id()
    return Request(msg.write_request(payload, dtype, count, state.sid, ioid, notify), ioid,
                   msg.WRITE_NOTIFY if notify else 0, reply_limit(0, 1),
                   WriteNotifyResponse if notify else None)


def check_write(pv_name: str, response: WriteNotifyResponse, check: bool
                ) -> WriteNotifyResponse:
    if check and not response.status.success:
        raise WriteFailed(f"PV {pv_name!r}: write failed: {response.status.description} "
                          f"({response.status.name})", status=response.status,
                          response=response)
    return response


def server_error(pv_name: str, err: msg.ErrorResponse) -> ErrorResponseReceived:
    """The exception for an ERROR message about one of a channel's requests."""
    return ErrorResponseReceived(
        f"PV {pv_name!r}: server error {err.status.name} ({err.status.description})"
        + (f": {printable(err.error_message)}" if err.error_message else ""),
        status=err.status, server_text=err.error_message, response=err)


def write_failed(pv_name: str, exc: ErrorResponseReceived) -> WriteFailed:
    return WriteFailed(f"PV {pv_name!r}: write failed: {exc.status.description} "
                       f"({exc.status.name})"
                       + (f": {printable(exc.server_text)}" if exc.server_text else ""),
                       status=exc.status, response=exc.response)
