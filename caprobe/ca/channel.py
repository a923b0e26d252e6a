"""The seed's one-shot calls, ``read``, ``write``, ``read_write_read`` and ``info``, and
:class:`Channel`: each opens its own circuit, does its work and closes it again, so calls in
different threads never share a socket (for many PVs at once, see :mod:`caprobe.ca.many`)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from caprobe.ca import messages as msg
from caprobe.ca.arguments import check_priority, check_timeout, encode_pv_name, next_id
from caprobe.ca.circuit import Circuit, open_tcp
from caprobe.ca.config import load_config
from caprobe.ca.errors import (
    CATimeoutError,
    ChannelCreationFailed,
    DisconnectedError,
    ErrorResponseReceived,
    ProtocolError,
)
from caprobe.ca.hostname import client_identity
from caprobe.ca.messages import ErrorResponse, ReadNotifyResponse, ReadResponse, WriteNotifyResponse
from caprobe.ca.requests import (
    Request,
    check_data_count,
    check_read,
    check_write,
    read_request,
    server_error,
    write_failed,
    write_request,
)
from caprobe.ca.search import DuplicateWatch, ensure_repeater, search_one
from caprobe.ca.state import CHANNEL_COMMANDS, ChannelInfo, ChannelState, Event, creation_limit


class _Channel:
    """A channel on a private circuit, for the length of one call."""

    def __init__(self, pv_name: str, timeout: float, priority: int, repeater: bool):
        self.pv_name = pv_name
        self.timeout = check_timeout(timeout)
        # The deadline comes first: configuration (DNS of list entries) counts against it.
        self.deadline = time.monotonic() + self.timeout
        check_priority(priority)
        name = encode_pv_name(pv_name)
        config = load_config(self.deadline)
        if repeater:
            ensure_repeater(config)
        self._duplicates: DuplicateWatch | None = None
        self._duplicates = search_one(pv_name, name, config, self.deadline, self.timeout)
        host, port, minor = self._duplicates.found
        try:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise CATimeoutError(f"PV {pv_name!r}: found on {host}:{port} but the timeout "
                                     f"({self.timeout:g} s) ran out before connecting")
            try:
                sock = open_tcp(host, port, remaining)
            except OSError as exc:
                raise DisconnectedError(f"PV {pv_name!r}: cannot connect to {host}:{port} "
                                        f"({exc})") from None
        except BaseException:
            self._duplicates.finish()
            raise
        self.circuit = Circuit(sock, host, port, priority, config.max_array_bytes)
        self.circuit.server_version = minor
        self.state = ChannelState(pv_name, next_id(), host, port, minor)
        self._backlog: deque[Any] = deque()
        try:
            hostname, user = client_identity()
            self.circuit.send(msg.version_request(priority) + msg.host_name_request(hostname)
                              + msg.client_name_request(user)
                              + self.state.create_request(name))
            self._wait(self._created, "channel creation")
        except BaseException:
            self.circuit.close()
            self._duplicates.finish()
            raise

    @property
    def info(self) -> ChannelInfo | None:
        return self.state.info

    # -- message loop --------------------------------------------------------------------

    def _created(self, header: msg.MessageHeader, raw: Any, payload: Any) -> Any:
        return self.state.info if self.state.connected else None

    def _wait(self, match: Callable[..., Any], what: str) -> Any:
        circuit = self.circuit
        backlog = self._backlog
        while True:
            while backlog:
                result = self._handle(backlog.popleft(), match)
                if result is not None:
                    # Messages that came with the match (a late ACCESS_RIGHTS or VERSION from
                    # a non-conforming server) still update the channel state now.
                    for header, _raw, _payload in backlog:
                        self._update_state(header)
                    return result
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise CATimeoutError(f"PV {self.pv_name!r}: timed out after "
                                     f"{self.timeout:g} s waiting for {what} from "
                                     f"{circuit.host}:{circuit.port}")
            circuit.sock.settimeout(remaining)
            try:
                backlog.extend(circuit.receive())
            except TimeoutError:
                continue
            except (DisconnectedError, ProtocolError) as exc:
                raise type(exc)(f"PV {self.pv_name!r}: {exc}") from None

    def _update_state(self, header: msg.MessageHeader) -> Event:
        command = header.command
        state = self.state
        if command in CHANNEL_COMMANDS:
            if header.parameter1 != state.cid:
                return Event.NONE
            event = state.on_message(header)
            if event == Event.CREATED:
                self.circuit.allow_payload(creation_limit(state.native_type,
                                                          state.native_count))
            return event
        if command == msg.VERSION:
            self.circuit.server_version = header.data_count
            state.on_server_version(header.data_count)
        return Event.NONE

    def _handle(self, message: Any, match: Callable[..., Any]) -> Any:
        header, raw, payload = message
        command = header.command
        if command in CHANNEL_COMMANDS or command == msg.VERSION:
            event = self._update_state(header)
            if event == Event.BAD_NATIVE_TYPE:
                raise ProtocolError(self.state.bad_native_type_text(header.data_type))
            if event == Event.CREATE_FAILED:
                raise ChannelCreationFailed(self.state.create_failed_text())
            if event == Event.DROPPED:
                raise DisconnectedError(f"PV {self.pv_name!r}: the server dropped the channel")
            if event != Event.CREATED:
                return None
        elif command == msg.ERROR:
            raise server_error(self.pv_name, ErrorResponse(header, raw, payload, self.info))
        return match(header, raw, payload)

    def request(self, request: Request, what: str) -> Any:
        """Send a request and wait for its reply (the channel's deadline applies)."""
        self.circuit.allow_payload(request.limit)
        self.circuit.send(request.data)
        command, ioid, cls = request.reply_command, request.ioid, request.response_class

        def reply(header: msg.MessageHeader, raw: Any, payload: Any) -> Any:
            if header.command == command and header.parameter2 == ioid:
                return cls(header, raw, payload, self.state.info)
            return None

        return self._wait(reply, what)

    def close(self, *, wait_for_errors: bool = False) -> None:
        """Close the circuit; the server clears its channels when the circuit closes, so a
        CLEAR_CHANNEL is sent only with ``wait_for_errors``: then its acknowledgement is
        awaited (within the timeout) so any ERROR the server sends about an earlier
        unacknowledged WRITE is seen first, as the server answers in order."""
        try:
            if self.state.sid is not None and wait_for_errors:
                def cleared(header: msg.MessageHeader, raw: Any, payload: Any) -> Any:
                    return True if header.command == msg.CLEAR_CHANNEL else None

                self.circuit.send(self.state.clear_request())
                self._wait(cleared, "the channel to clear")
        finally:
            self.circuit.close()
            if self._duplicates is not None:
                self._duplicates.finish()

    @property
    def closed(self) -> bool:
        return self.circuit.sock.fileno() == -1

    def __enter__(self) -> _Channel:
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.closed:
            self.close()


def _read_on(ch: _Channel, data_type: Any, data_count: int | None, notify: bool,
             force_int_enums: bool) -> ReadNotifyResponse | ReadResponse:
    request = read_request(ch.state, data_type, data_count, notify, force_int_enums)
    response = ch.request(request, "the read reply")
    if notify:
        return check_read(ch.pv_name, response)
    _ = response.data
    return response


def _write_on(ch: _Channel, data: Any, notify: bool, data_type: Any, metadata: Any,
              check: bool) -> WriteNotifyResponse | None:
    request = write_request(ch.state, data, data_type, metadata, notify)
    if not notify:
        ch.circuit.send(request.data)
        try:
            ch.close(wait_for_errors=True)
        except ErrorResponseReceived as exc:
            raise write_failed(ch.pv_name, exc) from None
        return None
    try:
        response = ch.request(request, "put completion")
    except ErrorResponseReceived as exc:
        raise write_failed(ch.pv_name, exc) from None
    return check_write(ch.pv_name, response, check)


# ---------------------------------------------------------------------------------------------
# Public one-shot API


def read(pv_name: str, *, data_type: Any = None, data_count: int | None = None,
         timeout: float = 1.0, priority: int = 0, notify: bool = True,
         force_int_enums: bool = False, repeater: bool = True
         ) -> ReadNotifyResponse | ReadResponse:
    """Read a channel.

    data_type: None (native; enums as strings unless ``force_int_enums``), one of 'native',
    'status', 'time', 'graphic', 'control', a ChannelType or its int. data_count: None for
    everything the server has now (dynamic count on V4.13 servers). Raises CATimeoutError,
    ErrorResponseReceived (server error or failed read), ValueRefused (bad argument).
    """
    check_data_count(data_count)
    with _Channel(pv_name, timeout, priority, repeater) as ch:
        return _read_on(ch, data_type, data_count, notify, force_int_enums)


def write(pv_name: str, data: Any, *, notify: bool = False, data_type: Any = None,
          metadata: Any = None, timeout: float = 1.0, priority: int = 0,
          repeater: bool = True, check: bool = True) -> WriteNotifyResponse | None:
    """Write to a channel; with ``notify``, wait for the put to complete and return the
    server's WriteNotifyResponse.

    Strings go as DBR_STRING (the server converts, as caput does; enum states by name), a
    ``str`` or ``bytes`` to a CHAR array as its bytes. Numbers are range-checked against the
    PV's native type first: a value that would wrap is refused (ValueRefused) and nothing is
    sent. No write access or a failure reported by the server raises WriteFailed (pass
    ``check=False`` to get a failed WriteNotifyResponse back instead).
    """
    with _Channel(pv_name, timeout, priority, repeater) as ch:
        return _write_on(ch, data, notify, data_type, metadata, check)


def read_write_read(pv_name: str, data: Any, *, notify: bool = False,
                    read_data_type: Any = None, write_data_type: Any = None,
                    metadata: Any = None, timeout: float = 1.0, priority: int = 0,
                    force_int_enums: bool = False, repeater: bool = True
                    ) -> tuple[Any, WriteNotifyResponse | None, Any]:
    """Read, write, read again on one connection (what caput does). As in caproto, the
    timeout applies to each step."""
    with Channel(pv_name, timeout=timeout, priority=priority, repeater=repeater) as ch:
        initial = ch.read(data_type=read_data_type, force_int_enums=force_int_enums)
        response = ch.write(data, notify=notify, data_type=write_data_type, metadata=metadata)
        # The server handles requests in order: an ERROR about the WRITE arrives before this.
        final = ch.read(data_type=read_data_type, force_int_enums=force_int_enums)
        return initial, response, final


class Channel:
    """One channel kept open on its own circuit for several calls in a row, the way caget and
    caput work (look at the native type, then read; read, write, read back)::

        with caprobe.ca.Channel("SR:current", timeout=1.0) as ch:
            if ch.info.can_write:
                ch.write(5.0, notify=True)
            value = ch.read(data_type="time")

    ``timeout`` bounds the search and connection; each call then has its own timeout (its
    ``timeout`` argument, else the same value), so a put-callback to a slow motor can wait
    longer than the search of a dead IOC. Not shared between threads. A ``write`` without
    ``notify`` is not acknowledged by CA: a failure the server reports about it surfaces as
    WriteFailed from the next ``read`` or from leaving the ``with`` block.
    """

    def __init__(self, pv_name: str, *, timeout: float = 1.0, priority: int = 0,
                 repeater: bool = True):
        self._channel = _Channel(pv_name, timeout, priority, repeater)
        self._timeout = self._channel.timeout
        self._unacknowledged_write = False

    @property
    def info(self) -> ChannelInfo:
        """Host, port, access rights (kept current), native type and count."""
        assert self._channel.info is not None
        return self._channel.info

    def _start_call(self, timeout: float | None) -> _Channel:
        ch = self._channel
        if ch.closed:
            raise DisconnectedError(f"PV {ch.pv_name!r}: the channel is closed")
        ch.timeout = self._timeout if timeout is None else check_timeout(timeout)
        ch.deadline = time.monotonic() + ch.timeout
        return ch

    def read(self, *, data_type: Any = None, data_count: int | None = None,
             notify: bool = True, force_int_enums: bool = False,
             timeout: float | None = None) -> ReadNotifyResponse | ReadResponse:
        """As :func:`read`, on this channel."""
        check_data_count(data_count)
        ch = self._start_call(timeout)
        try:
            response = _read_on(ch, data_type, data_count, notify, force_int_enums)
        except ErrorResponseReceived as exc:
            # An ERROR about an earlier plain WRITE (a failed read carries a response without
            # an original request).
            request = getattr(exc.response, "original_request", None)
            if request is not None and request.command == msg.WRITE:
                raise write_failed(ch.pv_name, exc) from None
            raise
        self._unacknowledged_write = False  # answered in order: any error came first
        return response

    def write(self, data: Any, *, notify: bool = False, data_type: Any = None,
              metadata: Any = None, check: bool = True, timeout: float | None = None
              ) -> WriteNotifyResponse | None:
        """As :func:`write`, on this channel (without ``notify`` it returns at once)."""
        ch = self._start_call(timeout)
        if notify:
            return _write_on(ch, data, True, data_type, metadata, check)
        ch.circuit.send(write_request(ch.state, data, data_type, metadata, False).data)
        self._unacknowledged_write = True
        return None

    def close(self) -> None:
        """Close the circuit; after a write without ``notify`` first wait (within the
        timeout) for the server's verdict on it, raising WriteFailed if it refused."""
        ch = self._channel
        if ch.closed:
            return
        if not self._unacknowledged_write:
            ch.close()
            return
        self._unacknowledged_write = False
        self._start_call(None)
        try:
            ch.close(wait_for_errors=True)
        except ErrorResponseReceived as exc:
            raise write_failed(ch.pv_name, exc) from None

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is not None:
            self._unacknowledged_write = False  # already failing: do not wait for more
        self.close()


def info(pv_name: str, *, timeout: float = 1.0, priority: int = 0,
         repeater: bool = True) -> ChannelInfo:
    """Connect to a channel and report host, access rights, native type and count."""
    with _Channel(pv_name, timeout, priority, repeater) as ch:
        assert ch.info is not None
        return ch.info
