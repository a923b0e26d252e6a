"""The synchronous client: read, write, read_write_read, info (one circuit per call) and
subscriptions (subscribe, block, interrupt, SubscriptionGroup).

Each one-shot call searches, connects, does its work and closes its own sockets, so threads
never disturb each other. ``block()`` keeps its circuits for as long as it runs, re-finds PVs
that are missing or whose IOC restarted, and returns within milliseconds of ``interrupt()``.
"""

from __future__ import annotations

import errno
import functools
import getpass
import inspect
import itertools
import logging
import math
import os
import re
import selectors
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from caprobe.ca import dbr
from caprobe.ca import messages as msg
from caprobe.ca.circuit import Circuit, configure_tcp, open_tcp
from caprobe.ca.config import CAConfig, load_config
from caprobe.ca.dbr import AccessRights, ChannelType, SubscriptionType
from caprobe.ca.errors import (
    CAError,
    CATimeoutError,
    ChannelCreationFailed,
    ConfigurationError,
    DisconnectedError,
    ErrorResponseReceived,
    ProtocolError,
    ValueRefused,
    WriteFailed,
    printable,
)
from caprobe.ca.messages import (
    ErrorResponse,
    EventAddResponse,
    ReadNotifyResponse,
    ReadResponse,
    WriteNotifyResponse,
)
from caprobe.ca.repeater import spawn_repeater
from caprobe.ca.status import eca

log = logging.getLogger("caprobe.ca")

__all__ = ["read", "write", "read_write_read", "info", "subscribe", "block", "interrupt",
           "Subscription", "SubscriptionGroup", "ChannelInfo", "ConnectionEvent"]

MAX_NAME_BYTES = 500  # caProto.h: longer names are "unreasonable"
UDP_MAX_DATAGRAM = 1472  # what libca packs per search frame (ETHERNET_MAX_UDP)
SEARCH_FIRST_INTERVAL = 0.02
SEARCH_MAX_INTERVAL = 1.0  # block() re-searches missing PVs at least once a second
ECHO_REPLY_TIMEOUT = 5.0
# Read coalescing in block(): after a wake-up that brought fewer than COALESCE_BATCH messages,
# wait COALESCE_DELAY before the next select. Adds at most that latency to updates and to
# interrupt(); cuts the client CPU per update about 3x at high rates.
COALESCE_BATCH = 64
COALESCE_DELAY = 0.0005

_ids = itertools.count(1)
# connect_ex() results that mean "in progress" for a non-blocking socket.
_CONNECT_PENDING = {0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY,
                    10035}  # WSAEWOULDBLOCK on Windows


def _next_id() -> int:
    return next(_ids) & 0xFFFFFFFF


@dataclass(frozen=True)
class ChannelInfo:
    """What the server told us about a channel when it was created."""

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


_host_names: dict[str, str] = {}
_host_names_lock = threading.Lock()


def host_name(address: str, timeout: float = 0.5) -> str:
    """The name of a server's host for display, as libca's ``ca_host_name`` gives it to
    cainfo (reverse DNS: ``127.0.0.1`` -> ``localhost``); the address itself when it has no
    name or the lookup takes longer than ``timeout`` (it then goes on in the background and
    later calls get its answer). Answers are kept for the life of the process."""
    with _host_names_lock:
        known = _host_names.get(address)
    if known is not None:
        return known
    done = threading.Event()

    def look_up() -> None:
        try:
            name = socket.gethostbyaddr(address)[0] or address
        except (OSError, UnicodeError):
            name = address
        with _host_names_lock:
            _host_names[address] = name
        done.set()

    threading.Thread(target=look_up, name="caprobe-host-name", daemon=True).start()
    done.wait(timeout)
    with _host_names_lock:
        return _host_names.get(address, address)


@dataclass(frozen=True)
class ConnectionEvent:
    """Delivered to subscription callbacks when a channel (dis)connects.

    ``connected`` is False with reason 'disconnected', 'unresponsive' or 'not found after
    N s, still searching', and True with 'connected', 'responsive again' or 'access rights
    changed' (``channel.access`` holds the new rights).
    """

    pv_name: str
    connected: bool
    reason: str
    time: float
    channel: ChannelInfo | None = None


# ---------------------------------------------------------------------------------------------
# Arguments


_WHITESPACE = re.compile(r"\s")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def encode_pv_name(pv_name: str) -> bytes:
    """Validate a PV name and return its wire bytes; a bad name raises ValueRefused."""
    if not isinstance(pv_name, str):
        raise ValueRefused(f"PV name must be a string, not {type(pv_name).__name__}")
    if not pv_name:
        raise ValueRefused("PV name is empty")
    record_part = pv_name.split("{", 1)[0]  # JSON field modifiers may contain spaces
    if pv_name != pv_name.strip() or _WHITESPACE.search(record_part):
        raise ValueRefused(f"PV name {pv_name!r} contains white space")
    if _CONTROL.search(pv_name):
        raise ValueRefused(f"PV name {pv_name!r} contains control characters")
    if not record_part.isascii():
        raise ValueRefused(f"PV name {pv_name!r} contains non-ASCII characters")
    raw = pv_name.encode("utf-8")
    if len(raw) > MAX_NAME_BYTES:
        raise ValueRefused(f"PV name is {len(raw)} bytes long; Channel Access allows "
                           f"{MAX_NAME_BYTES} at most")
    return raw


def _check_priority(priority: int) -> int:
    if not isinstance(priority, (int,)) or not 0 <= priority <= msg.CA_PROTO_PRIORITY_MAX:
        raise ValueRefused(f"priority {priority!r} is out of range (0-99)")
    return priority


def _check_timeout(timeout: float | None) -> float:
    if timeout is None:
        raise ValueRefused("timeout must be a number of seconds (every wait has a timeout)")
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise ValueRefused(f"timeout {timeout!r} is not a number of seconds") from None
    if not value > 0 or math.isinf(value):
        raise ValueRefused(f"timeout {timeout!r} must be a positive, finite number of seconds")
    return value


_repeater_spawned: dict[int, float] = {}
_repeater_lock = threading.Lock()


def _ensure_repeater(config: CAConfig) -> None:
    """Start a repeater if none runs on this host (at most once every 5 s per port)."""
    port = config.repeater_port
    with _repeater_lock:
        last = _repeater_spawned.get(port, 0.0)
        if time.monotonic() - last < 5.0:
            return
        _repeater_spawned[port] = time.monotonic()
    spawn_repeater(port)


def _register_with_repeater(udp: socket.socket, config: CAConfig) -> None:
    try:
        udp.sendto(msg.repeater_register_request(), ("127.0.0.1", config.repeater_port))
    except OSError:
        pass  # no repeater reachable: beacons are an optimisation only


def _udp_socket() -> socket.socket:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if os.name == "nt":
        udp.bind(("0.0.0.0", 0))  # Windows cannot recvfrom on an unbound socket
    return udp


@functools.lru_cache(maxsize=1)
def _client_identity() -> tuple[str, str]:
    try:
        user = getpass.getuser()
    except Exception:  # getuser raises various errors in containers without a passwd entry
        user = os.environ.get("USER", "unknown")
    return socket.gethostname(), user


def _parse_search_reply(data: bytes, source: tuple[str, int], wanted: dict[int, Any]
                        ) -> list[tuple[int, str, int, int]]:
    """(cid, host, port, server minor) for each SEARCH reply in a datagram naming a wanted
    cid; anything else (VERSION, beacons, junk) is skipped."""
    found = []
    view = memoryview(data)
    offset = 0
    while True:
        try:
            parsed = msg.parse_header(view, offset)
        except Exception:
            break
        if parsed is None:
            break
        header, hsize = parsed
        if header.command == msg.SEARCH and header.parameter2 in wanted:
            if header.parameter1 == 0xFFFFFFFF or header.parameter1 == 0:
                host = source[0]
            else:
                host = socket.inet_ntoa(header.parameter1.to_bytes(4, "big"))
            minor = 0
            if header.payload_size >= 2 and len(view) >= offset + hsize + 2:
                minor = int.from_bytes(view[offset + hsize: offset + hsize + 2], "big")
            found.append((header.parameter2, host, header.data_type, minor))
        offset += hsize + header.payload_size
        if offset > len(view):
            break
    return found


# ---------------------------------------------------------------------------------------------
# One-shot channel: search, connect, create, operate, clear


class _SearchFailed(CATimeoutError):
    pass


class _DuplicateWatch:
    """Keeps a finished search's UDP socket until the call ends, then reports any other
    server that answered meanwhile (libca's ECA_DBLCHNL), without delaying the call."""

    def __init__(self, pv_name: str, udp: socket.socket, cid: int,
                 found: tuple[str, int, int]):
        self.pv_name, self.udp, self.cid, self.found = pv_name, udp, cid, found

    def finish(self) -> None:
        if self.udp.fileno() == -1:
            return
        try:
            _report_duplicates(self.pv_name, self.udp, self.cid, self.found)
        finally:
            self.udp.close()


def _search(pv_name: str, name: bytes, config: CAConfig, deadline: float, timeout: float
            ) -> _DuplicateWatch:
    """Find the server of one PV: UDP to every destination (and TCP name servers), resent
    with back-off until the deadline. The first answer wins; others are reported when the
    returned watch is finished."""
    if not config.addresses and not config.name_servers:
        raise ConfigurationError(
            "no search destinations: EPICS_CA_ADDR_LIST is empty, EPICS_CA_AUTO_ADDR_LIST=NO "
            "and EPICS_CA_NAME_SERVERS is empty")
    cid = _next_id()
    found: tuple[str, int, int] | None = None
    packet = msg.version_request(udp=True, sequence=cid) + msg.search_request(name, cid)
    tcp_packet = msg.version_request() + msg.search_request(name, cid, msg.DO_REPLY)
    udp = _udp_socket()
    if not config.name_servers:
        try:
            found = _search_udp(pv_name, udp, packet, cid, config, deadline, timeout)
        except BaseException:
            udp.close()
            raise
        return _DuplicateWatch(pv_name, udp, cid, found)  # reports duplicates at the end
    sel = selectors.DefaultSelector()
    ns_socks: list[socket.socket] = []
    try:
        sel.register(udp, selectors.EVENT_READ, None)
        for host, port in config.name_servers:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, port))
            ns_socks.append(s)
            sel.register(s, selectors.EVENT_WRITE, [(host, port), b""])
        resend = _Resender(pv_name, udp, packet, config, deadline, timeout)
        while found is None:
            for key, events in sel.select(resend.wait(time.monotonic())):
                if key.fileobj is udp:
                    try:
                        data, source = udp.recvfrom(0xFFFF + 16)
                    except OSError:
                        continue
                    replies = _parse_search_reply(data, source, {cid: None})
                    if replies and found is None:
                        _, host, port, minor = replies[0]
                        found = (host, port, minor)
                    continue
                s, (ns_addr, buf) = key.fileobj, key.data
                if events & selectors.EVENT_WRITE:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        sel.unregister(s)
                        continue
                    s.setblocking(True)
                    configure_tcp(s)
                    try:
                        s.sendall(tcp_packet)
                    except OSError:
                        sel.unregister(s)
                        continue
                    sel.modify(s, selectors.EVENT_READ, [ns_addr, b""])
                    continue
                try:
                    chunk = s.recv(4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(s)
                    continue
                key.data[1] = buf + chunk
                replies = _parse_search_reply(key.data[1], ns_addr, {cid: None})
                if replies and found is None:
                    _, host, port, minor = replies[0]
                    found = (host, port, minor)
        _report_duplicates(pv_name, udp, cid, found)
        watch = _DuplicateWatch(pv_name, udp, cid, found)
        return watch
    finally:
        sel.close()
        if found is None:
            udp.close()
        for s in ns_socks:
            s.close()


class _Resender:
    """Sends a search datagram to every destination, again and again with back-off, and
    raises once the deadline has passed."""

    def __init__(self, pv_name: str, udp: socket.socket, packet: bytes, config: CAConfig,
                 deadline: float, timeout: float):
        self.pv_name, self.udp, self.packet, self.config = pv_name, udp, packet, config
        self.deadline, self.timeout = deadline, timeout
        self.interval = SEARCH_FIRST_INTERVAL
        self.next_send = time.monotonic()

    def wait(self, now: float) -> float:
        """Send if due; return how long to wait for a reply before calling again."""
        if now >= self.deadline:
            raise _SearchFailed(
                f"PV {self.pv_name!r} not found within {self.timeout:g} s: no server answered "
                f"the search sent to {self.config.describe_destinations()}")
        if now >= self.next_send:
            for dest in self.config.addresses:
                try:
                    self.udp.sendto(self.packet, dest)
                except OSError as exc:
                    log.debug("search to %s failed: %s", dest, exc)
            self.next_send = now + self.interval
            self.interval = min(self.interval * 2, 0.5)
        return max(0.0, min(self.next_send, self.deadline) - now)


def _search_udp(pv_name: str, udp: socket.socket, packet: bytes, cid: int,
                config: CAConfig, deadline: float, timeout: float) -> tuple[str, int, int]:
    """The common case, no name servers: one socket, no selector."""
    resend = _Resender(pv_name, udp, packet, config, deadline, timeout)
    wanted = {cid: None}
    while True:
        udp.settimeout(max(1e-4, resend.wait(time.monotonic())))
        try:
            data, source = udp.recvfrom(0xFFFF + 16)
        except OSError:  # TimeoutError included: time to resend or give up
            continue
        replies = _parse_search_reply(data, source, wanted)
        if replies:
            _, host, port, minor = replies[0]
            return (host, port, minor)


def _report_duplicates(pv_name: str, udp: socket.socket, cid: int,
                       found: tuple[str, int, int]) -> None:
    """Warn about other servers that answered the same search (libca's ECA_DBLCHNL)."""
    udp.setblocking(False)
    while True:
        try:
            data, source = udp.recvfrom(0xFFFF + 16)
        except OSError:
            return
        for _, host, port, _minor in _parse_search_reply(data, source, {cid: None}):
            if (host, port) != found[:2]:
                log.warning("PV %r is served by more than one server: connected to %s:%d, "
                            "ignored %s:%d", pv_name, found[0], found[1], host, port)


class _Channel:
    """A channel on a private circuit, for the length of one call."""

    def __init__(self, pv_name: str, timeout: float, priority: int, repeater: bool):
        self.pv_name = pv_name
        self.timeout = _check_timeout(timeout)
        _check_priority(priority)
        name = encode_pv_name(pv_name)
        config = load_config()
        if repeater:
            _ensure_repeater(config)
        self.deadline = time.monotonic() + self.timeout
        self._duplicates = _search(pv_name, name, config, self.deadline, self.timeout)
        host, port, minor = self._duplicates.found
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise CATimeoutError(f"PV {pv_name!r}: found on {host}:{port} but the timeout "
                                 f"({self.timeout:g} s) ran out before connecting")
        try:
            sock = open_tcp(host, port, remaining)
        except OSError as exc:
            self._duplicates.finish()
            raise DisconnectedError(f"PV {pv_name!r}: cannot connect to {host}:{port} "
                                    f"({exc})") from None
        self.circuit = Circuit(sock, host, port, priority, config.max_array_bytes)
        self.circuit.server_version = minor
        self.cid = _next_id()
        self.sid: int | None = None
        self.access = AccessRights.NO_ACCESS
        self.info: ChannelInfo | None = None
        self._backlog: deque[Any] = deque()
        try:
            hostname, user = _client_identity()
            self.circuit.send(msg.version_request(priority) + msg.host_name_request(hostname)
                              + msg.client_name_request(user)
                              + msg.create_chan_request(name, self.cid))
            self._wait(self._created, "channel creation")
        except BaseException:
            self.circuit.close()
            self._duplicates.finish()
            raise

    # -- message loop --------------------------------------------------------------------

    def _created(self, header: msg.MessageHeader, raw: Any, payload: Any) -> Any:
        if header.command == msg.CREATE_CHAN and header.parameter1 == self.cid:
            self.sid = header.parameter2
            native = header.data_type
            if native > 6:
                raise ProtocolError(f"PV {self.pv_name!r}: server reported native type "
                                    f"{native}, which is not a DBF type")
            count = header.data_count
            self.circuit.allow_payload(dbr.LAYOUTS[native + 28].md_size + 40
                                       + dbr.VALUE_SIZE[native] * max(count, 1))
            self.info = ChannelInfo(self.pv_name, self.circuit.host, self.circuit.port,
                                    self.access, ChannelType(native), count,
                                    self.circuit.server_version)
            return self.info
        if header.command == msg.CREATE_CH_FAIL and header.parameter1 == self.cid:
            raise ChannelCreationFailed(
                f"PV {self.pv_name!r}: server {self.circuit.host}:{self.circuit.port} "
                "refused to create the channel")
        return None

    def _wait(self, match: Callable[..., Any], what: str) -> Any:
        circuit = self.circuit
        backlog = self._backlog
        while True:
            while backlog:
                result = self._handle(backlog.popleft(), match)
                if result is not None:
                    self._apply_backlog_state()
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

    def _apply_backlog_state(self) -> None:
        # Messages that arrived with the match (a late ACCESS_RIGHTS or VERSION from a
        # non-conforming server) still update the channel state now.
        for header, _raw, _payload in self._backlog:
            self._update_state(header)

    def _update_state(self, header: msg.MessageHeader) -> bool:
        command = header.command
        if command == msg.ACCESS_RIGHTS and header.parameter1 == self.cid:
            self.access = AccessRights(header.parameter2 & 3)
            if self.info is not None:
                self.info = replace(self.info, access=self.access)
            return True
        if command == msg.VERSION:
            self.circuit.server_version = header.data_count
            if self.info is not None:
                self.info = replace(self.info, server_version=header.data_count)
            return True
        return False

    def _handle(self, message: Any, match: Callable[..., Any]) -> Any:
        header, raw, payload = message
        if self._update_state(header):
            return None
        command = header.command
        if command == msg.ERROR:
            err = ErrorResponse(header, raw, payload, self.info)
            raise ErrorResponseReceived(
                f"PV {self.pv_name!r}: server error {err.status.name} "
                f"({err.status.description})"
                + (f": {printable(err.error_message)}" if err.error_message else ""),
                status=err.status, server_text=err.error_message, response=err)
        if command == msg.SERVER_DISCONN and header.parameter1 == self.cid:
            raise DisconnectedError(f"PV {self.pv_name!r}: the server dropped the channel")
        return match(header, raw, payload)

    def request(self, data: bytes, match: Callable[..., Any], what: str) -> Any:
        self.circuit.send(data)
        return self._wait(match, what)

    def dynamic_count(self) -> int:
        # Count 0 ("what is there now") is only understood by CA V4.13 servers.
        assert self.info is not None
        return 0 if self.circuit.server_version >= 13 else self.info.native_data_count

    def close(self, *, wait_for_errors: bool = False) -> None:
        """Close the circuit; the server clears its channels when the circuit closes, so a
        CLEAR_CHANNEL is sent only with ``wait_for_errors``: then its acknowledgement is
        awaited (within the timeout) so any ERROR the server sends about an earlier
        unacknowledged WRITE is seen first, as the server answers in order."""
        try:
            if self.sid is not None and wait_for_errors:
                def cleared(header: msg.MessageHeader, raw: Any, payload: Any) -> Any:
                    return True if header.command == msg.CLEAR_CHANNEL else None

                self.request(msg.clear_channel_request(self.sid, self.cid), cleared,
                             "the channel to clear")
        finally:
            self.circuit.close()
            self._duplicates.finish()

    def __enter__(self) -> _Channel:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.circuit.sock.fileno() != -1:
            self.close()


def _read_on(ch: _Channel, data_type: Any, data_count: int | None, notify: bool,
             force_int_enums: bool) -> ReadNotifyResponse | ReadResponse:
    info = ch.info
    assert info is not None
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
        raise ErrorResponseReceived(f"PV {ch.pv_name!r}: no read access",
                                    status=eca("ECA_NORDACCESS"))
    if data_count is None:
        count = ch.dynamic_count()
    else:
        count = int(data_count)
        if count < 0:
            raise ValueRefused(f"data_count {data_count!r} must be >= 0")
    ch.circuit.allow_payload(dbr.payload_size(dtype, count or info.native_data_count) + 8)
    ioid = _next_id()
    if notify:
        request = msg.read_notify_request(dtype, count, ch.sid, ioid)
        command, cls = msg.READ_NOTIFY, ReadNotifyResponse
    else:
        request = msg.read_request(dtype, count or info.native_data_count, ch.sid, ioid)
        command, cls = msg.READ, ReadResponse

    def reply(header: msg.MessageHeader, raw: Any, payload: Any) -> Any:
        if header.command == command and header.parameter2 == ioid:
            return cls(header, raw, payload, ch.info)
        return None

    response = ch.request(request, reply, "the read reply")
    if notify and not response.status.success:
        raise ErrorResponseReceived(
            f"PV {ch.pv_name!r}: read failed: {response.status.description} "
            f"({response.status.name})", status=response.status, response=response)
    _ = response.data  # decode now, so a malformed payload fails here and not in the caller
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


def _write_request(ch: _Channel, data: Any, data_type: Any, metadata: Any, notify: bool,
                   ioid: int) -> bytes:
    """Check access, type, range and element count; encode. Raises before anything is sent."""
    info = ch.info
    assert info is not None
    if not info.can_write:
        grants = "read only" if info.can_read else "no access at all"
        raise WriteFailed(f"PV {ch.pv_name!r}: no write access (the server grants {grants})",
                          status=eca("ECA_NOWTACCESS"))
    dtype = _write_type(data, data_type, info.native_data_type)
    if dtype in range(7, 35) or dtype in (37, 38):
        if dtype in (37, 38) or metadata is None and dtype >= 14:
            raise ValueRefused(f"PV {ch.pv_name!r}: cannot write {dbr.type_name(dtype)}: use "
                               "the plain value type, or STS/TIME/GR/CTRL with metadata")
    native = int(info.native_data_type)
    try:
        payload, count = dbr.encode(dtype, data, metadata=metadata, native=native)
    except ValueRefused as exc:
        raise ValueRefused(f"PV {ch.pv_name!r}: {exc}; nothing was written") from None
    if count > info.native_data_count and dtype not in (35, 36):
        # libca refuses this (ECA_BADCOUNT); the server would silently drop the excess.
        raise ValueRefused(f"PV {ch.pv_name!r}: {count} elements do not fit its "
                           f"{info.native_data_count}; nothing was written")
    return msg.write_request(payload, dtype, count, ch.sid, ioid, notify)


def _write_on(ch: _Channel, data: Any, notify: bool, data_type: Any, metadata: Any,
              check: bool) -> WriteNotifyResponse | None:
    ioid = _next_id()
    request = _write_request(ch, data, data_type, metadata, notify, ioid)
    if not notify:
        ch.circuit.send(request)
        try:
            ch.close(wait_for_errors=True)
        except ErrorResponseReceived as exc:
            raise _write_failed(ch.pv_name, exc) from None
        return None

    def reply(header: msg.MessageHeader, raw: Any, payload: Any) -> Any:
        if header.command == msg.WRITE_NOTIFY and header.parameter2 == ioid:
            return WriteNotifyResponse(header, raw, payload, ch.info)
        return None

    try:
        response = ch.request(request, reply, "put completion")
    except ErrorResponseReceived as exc:
        raise _write_failed(ch.pv_name, exc) from None
    if check and not response.status.success:
        raise WriteFailed(f"PV {ch.pv_name!r}: write failed: {response.status.description} "
                          f"({response.status.name})", status=response.status,
                          response=response)
    return response


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
    if data_count is not None and (isinstance(data_count, bool)
                                   or not isinstance(data_count, (int, np.integer))
                                   or data_count < 0):
        raise ValueRefused(f"data_count {data_count!r} must be None or a whole number >= 0")
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
        if ch.circuit.sock.fileno() == -1:
            raise DisconnectedError(f"PV {ch.pv_name!r}: the channel is closed")
        ch.timeout = self._timeout if timeout is None else _check_timeout(timeout)
        ch.deadline = time.monotonic() + ch.timeout
        return ch

    def read(self, *, data_type: Any = None, data_count: int | None = None,
             notify: bool = True, force_int_enums: bool = False,
             timeout: float | None = None) -> ReadNotifyResponse | ReadResponse:
        """As :func:`read`, on this channel."""
        ch = self._start_call(timeout)
        try:
            response = _read_on(ch, data_type, data_count, notify, force_int_enums)
        except ErrorResponseReceived as exc:
            # An ERROR about an earlier plain WRITE (a failed read carries a response without
            # an original request).
            request = getattr(exc.response, "original_request", None)
            if request is not None and request.command == msg.WRITE:
                raise _write_failed(ch.pv_name, exc) from None
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
        ch.circuit.send(_write_request(ch, data, data_type, metadata, False, _next_id()))
        self._unacknowledged_write = True
        return None

    def close(self) -> None:
        """Close the circuit; after a write without ``notify`` first wait (within the
        timeout) for the server's verdict on it, raising WriteFailed if it refused."""
        ch = self._channel
        if ch.circuit.sock.fileno() == -1:
            return
        if not self._unacknowledged_write:
            ch.close()
            return
        self._unacknowledged_write = False
        self._start_call(None)
        try:
            ch.close(wait_for_errors=True)
        except ErrorResponseReceived as exc:
            raise _write_failed(ch.pv_name, exc) from None

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is not None:
            self._unacknowledged_write = False  # already failing: do not wait for more
        self.close()


def _write_failed(pv_name: str, exc: ErrorResponseReceived) -> WriteFailed:
    return WriteFailed(f"PV {pv_name!r}: write failed: {exc.status.description} "
                       f"({exc.status.name})"
                       + (f": {printable(exc.server_text)}" if exc.server_text else ""),
                       status=exc.status, response=exc.response)


def info(pv_name: str, *, timeout: float = 1.0, priority: int = 0,
         repeater: bool = True) -> ChannelInfo:
    """Connect to a channel and report host, access rights, native type and count."""
    with _Channel(pv_name, timeout, priority, repeater) as ch:
        assert ch.info is not None
        return ch.info


# ---------------------------------------------------------------------------------------------
# Subscriptions

_global_lock = threading.RLock()
_running_groups: set[SubscriptionGroup] = set()
_all_subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()


def _takes_two_arguments(func: Callable[..., Any]) -> bool:
    """caproto's callbacks are f(sub, response); its documented older form f(response)."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(required) >= 2:
        return True
    has_var = any(p.kind == p.VAR_POSITIONAL for p in params)
    return has_var and not positional


class Subscription:
    """A monitor definition: no I/O until ``block()``. Callbacks are held weakly."""

    def __init__(self, pv_name: str, priority: int = 0, data_type: Any = None,
                 data_count: int | None = None, low: float = 0.0, high: float = 0.0,
                 to: float = 0.0, mask: int | None = None):
        encode_pv_name(pv_name)
        _check_priority(priority)
        if isinstance(data_type, str) and data_type.lower() not in dbr.DBR_CLASSES:
            try:
                dbr.resolve_data_type(data_type, 0)
            except ValueError as exc:
                raise ValueRefused(str(exc)) from None
        self.pv_name = pv_name
        self.priority = priority
        self.data_type = data_type
        self.data_count = data_count
        self.low, self.high, self.to = low, high, to
        self.mask = (SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM
                     if mask is None else SubscriptionType(int(mask)))
        self.callbacks: dict[int, tuple[Any, bool]] = {}
        self._snapshot: tuple[tuple[Any, bool], ...] = ()
        self._callback_lock = threading.Lock()
        self._tokens = itertools.count()
        self._pending_interrupt = False
        self._group: SubscriptionGroup | None = None
        _all_subscriptions.add(self)

    def __repr__(self) -> str:
        return f"<Subscription {self.pv_name!r} mask={int(self.mask)}>"

    def add_callback(self, func: Callable[..., Any]) -> int:
        """Register ``func(response)`` (or ``func(sub, response)``); returns a token.

        Only a weak reference is kept: a lambda with no other reference is dropped at once.
        """
        token = next(self._tokens)
        self_ref = weakref.ref(self)

        def drop(_ref: Any) -> None:
            sub = self_ref()
            if sub is not None:
                sub.remove_callback(token)

        if inspect.ismethod(func):
            ref: Any = weakref.WeakMethod(func, drop)
        else:
            ref = weakref.ref(func, drop)
        with self._callback_lock:
            self.callbacks[token] = (ref, _takes_two_arguments(func))
            self._snapshot = tuple(self.callbacks.values())
        return token

    def remove_callback(self, token: int) -> None:
        with self._callback_lock:
            self.callbacks.pop(token, None)
            self._snapshot = tuple(self.callbacks.values())

    def clear(self) -> None:
        """Remove every callback."""
        with self._callback_lock:
            self.callbacks.clear()
            self._snapshot = ()

    def process(self, response: Any) -> None:
        """Run the callbacks on a response (block() calls this for every update).

        A callback that raises is logged and the others still run; KeyboardInterrupt ends
        block() as Ctrl+C does.
        """
        for ref, two in self._snapshot:
            func = ref()
            if func is None:
                continue
            try:
                if two:
                    func(self, response)
                else:
                    func(response)
            except Exception:
                log.exception("callback %r for PV %r raised; delivery continues", func,
                              self.pv_name)

    def block(self, duration: float | None = None, timeout: float = 1,
              force_int_enums: bool = False, repeater: bool = True) -> None:
        """block(self, ...): see the module-level block()."""
        block(self, duration=duration, timeout=timeout, force_int_enums=force_int_enums,
              repeater=repeater)

    def interrupt(self) -> None:
        """Make the block() running this subscription return; if none runs yet, the next
        block() that includes it returns at once."""
        with _global_lock:
            group = self._group
            if group is not None and group._running:
                group._interrupt_locked()
            else:
                self._pending_interrupt = True


def subscribe(pv_name: str, priority: int = 0, data_type: Any = None,
              data_count: int | None = None, low: float = 0.0, high: float = 0.0,
              to: float = 0.0, mask: int | None = None) -> Subscription:
    """Define a subscription (no I/O). data_type None gives DBR_TIME_<native>."""
    return Subscription(pv_name, priority, data_type, data_count, low, high, to, mask)


def interrupt() -> None:
    """Make every running block() return promptly. An interrupt is never lost: every
    existing subscription that is not inside block() yet keeps it pending, and its next
    block() returns at once."""
    with _global_lock:
        for group in list(_running_groups):
            group._interrupt_locked()
        for sub in list(_all_subscriptions):
            if sub._group is None:
                sub._pending_interrupt = True


def block(*subscriptions: Subscription, duration: float | None = None, timeout: float = 1,
          force_int_enums: bool = False, repeater: bool = True) -> None:
    """Activate subscriptions and deliver their updates until ``duration`` passes,
    interrupt() is called or Ctrl+C. Missing PVs keep being searched; an IOC that restarts
    is re-found and re-subscribed; callbacks get ConnectionEvents for both."""
    SubscriptionGroup(subscriptions, force_int_enums=force_int_enums,
                      repeater=repeater).block(duration=duration, timeout=timeout)


class _SubChannel:
    """The live state of one subscription inside a running block()."""

    __slots__ = ("sub", "state", "search_cid", "next_search", "interval", "search_started",
                 "not_found_reported", "cid", "sid", "subid", "circuit", "info", "data_type",
                 "data_count")

    def __init__(self, sub: Subscription, now: float):
        self.sub = sub
        self.state = "searching"
        self.search_cid = _next_id()
        self.next_search = now
        self.interval = SEARCH_FIRST_INTERVAL
        self.search_started = now
        self.not_found_reported = False
        self.cid = 0
        self.sid = 0
        self.subid = 0
        self.circuit: _BlockCircuit | None = None
        self.info: ChannelInfo | None = None
        self.data_type = 0
        self.data_count = 0


class _BlockCircuit(Circuit):
    def __init__(self, sock: socket.socket, host: str, port: int, priority: int,
                 max_payload: int | None):
        super().__init__(sock, host, port, priority, max_payload)
        self.connected = False
        self.by_cid: dict[int, _SubChannel] = {}
        self.by_subid: dict[int, _SubChannel] = {}
        self.last_rx = time.monotonic()
        self.echo_deadline: float | None = None
        self.unresponsive = False


class SubscriptionGroup:
    """Subscriptions blocked on together; others threads may add/remove while it runs."""

    def __init__(self, subscriptions: Iterable[Subscription] = (), *,
                 force_int_enums: bool = False, repeater: bool = True):
        self._subs: list[Subscription] = []
        for sub in subscriptions:
            if sub not in self._subs:
                self._subs.append(sub)
        self.force_int_enums = force_int_enums
        self.repeater = repeater
        self._ops: deque[tuple[str, Subscription]] = deque()
        self._running = False
        self._interrupted = False
        self._wake_w: socket.socket | None = None

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        with _global_lock:
            return tuple(self._subs)

    def add(self, sub: Subscription) -> None:
        """Add a subscription; inside a running block() it is searched and subscribed at
        once without disturbing the others."""
        with _global_lock:
            if sub in self._subs:
                return
            if sub._group is not None and sub._group is not self and sub._group._running:
                raise CAError(f"{sub!r} is already active in another block()")
            self._subs.append(sub)
            if self._running:
                sub._group = self
                self._ops.append(("add", sub))
                self._wake_locked()

    def remove(self, sub: Subscription) -> None:
        """Remove a subscription: its monitor is cancelled and its channel cleared."""
        with _global_lock:
            if sub not in self._subs:
                return
            self._subs.remove(sub)
            if self._running:
                self._ops.append(("remove", sub))
                self._wake_locked()
                sub._group = None

    def interrupt(self) -> None:
        """Make block() return within milliseconds (or at once if called before it)."""
        with _global_lock:
            self._interrupt_locked()

    def _interrupt_locked(self) -> None:
        self._interrupted = True
        self._wake_locked()

    def _wake_locked(self) -> None:
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"\0")
            except OSError:
                pass  # the pipe is full: a wake-up is already pending

    # -- the loop ------------------------------------------------------------------------

    def block(self, duration: float | None = None, timeout: float = 1) -> None:
        """Run until ``duration`` passes or interrupt(); see module-level block()."""
        timeout = _check_timeout(timeout)
        if duration is not None:
            duration = float(duration)
        config = load_config()
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        with _global_lock:
            pending = self._interrupted or any(s._pending_interrupt for s in self._subs)
            if not pending:
                for sub in self._subs:
                    if sub._group is not None and sub._group is not self and \
                            sub._group._running:
                        wake_r.close()
                        wake_w.close()
                        raise CAError(f"{sub!r} is already active in another block()")
            for sub in self._subs:
                sub._pending_interrupt = False
            self._interrupted = False
            if pending:
                wake_r.close()
                wake_w.close()
                return
            self._running = True
            self._wake_w = wake_w
            self._ops.clear()
            for sub in self._subs:
                sub._group = self
            _running_groups.add(self)
        try:
            _BlockLoop(self, config, wake_r, duration, timeout).run()
        except KeyboardInterrupt:
            pass  # Ctrl+C (or a callback raising it) ends block() cleanly
        finally:
            with _global_lock:
                self._running = False
                self._wake_w = None
                _running_groups.discard(self)
                for sub in self._subs:
                    if sub._group is self:
                        sub._group = None
                self._interrupted = False
            wake_r.close()
            wake_w.close()


class _BlockLoop:
    """One run of SubscriptionGroup.block(): the selector loop and its state."""

    def __init__(self, group: SubscriptionGroup, config: CAConfig, wake_r: socket.socket,
                 duration: float | None, timeout: float):
        self.group = group
        self.config = config
        self.wake_r = wake_r
        self.timeout = timeout
        now = time.monotonic()
        self.deadline = None if duration is None else now + duration
        self.sel = selectors.DefaultSelector()
        self.udp = _udp_socket()
        self.chans: dict[Subscription, _SubChannel] = {}
        self.searching: dict[int, _SubChannel] = {}
        # Answered searches, so a second server answering the same search is reported.
        self.resolved: dict[int, tuple[str, str, int]] = {}
        self.circuits: dict[tuple[str, int, int], _BlockCircuit] = {}
        self.hostname, self.user = _client_identity()
        self.housekeeping_at = 0.0  # when searches/reports/watchdog next need a look
        self.delivered = 0  # messages read in the last wake-up

    # -- helpers -------------------------------------------------------------------------

    def _event(self, chan: _SubChannel, connected: bool, reason: str) -> None:
        chan.sub.process(ConnectionEvent(chan.sub.pv_name, connected, reason, time.time(),
                                         chan.info))

    def _start_search(self, chan: _SubChannel, now: float) -> None:
        self.housekeeping_at = 0.0
        chan.state = "searching"
        chan.search_cid = _next_id()
        chan.next_search = now
        chan.interval = SEARCH_FIRST_INTERVAL
        chan.search_started = now
        chan.not_found_reported = False
        chan.circuit = None
        self.searching[chan.search_cid] = chan

    def _add(self, sub: Subscription, now: float) -> None:
        if sub in self.chans:
            return
        chan = _SubChannel(sub, now)
        self.chans[sub] = chan
        self._start_search(chan, now)

    def _remove(self, sub: Subscription) -> None:
        chan = self.chans.pop(sub, None)
        if chan is None:
            return
        self.searching.pop(chan.search_cid, None)
        circuit = chan.circuit
        if circuit is None:
            return
        circuit.by_cid.pop(chan.cid, None)
        circuit.by_subid.pop(chan.subid, None)
        if chan.state == "connected" and circuit.connected:
            try:
                circuit.send(msg.event_cancel_request(chan.data_type, chan.data_count,
                                                      chan.sid, chan.subid)
                             + msg.clear_channel_request(chan.sid, chan.cid))
            except DisconnectedError:
                self._circuit_lost(circuit, "disconnected")

    def _send_searches(self, now: float) -> float:
        """Send every due search, packed into datagrams; returns when the next one is due."""
        due = [c for c in self.searching.values() if c.next_search <= now]
        next_due = min((c.next_search for c in self.searching.values()
                        if c.next_search > now), default=math.inf)
        if not due:
            return next_due
        seq = _next_id()
        head = msg.version_request(udp=True, sequence=seq)
        packets: list[bytes] = []
        current = head
        for chan in due:
            req = msg.search_request(chan.sub.pv_name.encode(), chan.search_cid)
            if len(current) + len(req) > UDP_MAX_DATAGRAM and current is not head:
                packets.append(current)
                current = head
            current += req
            chan.next_search = now + chan.interval
            chan.interval = min(chan.interval * 2, SEARCH_MAX_INTERVAL)
            next_due = min(next_due, chan.next_search)
        packets.append(current)
        for dest in self.config.addresses:
            for packet in packets:
                try:
                    self.udp.sendto(packet, dest)
                except OSError as exc:
                    log.debug("search to %s failed: %s", dest, exc)
        return next_due

    def _on_udp(self) -> None:
        for _ in range(64):  # drain what is queued, bounded so other sockets get a turn
            try:
                data, source = self.udp.recvfrom(0xFFFF + 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(data) >= 16 and data[0:2] == b"\x00\x0d":
                self._on_beacon()
                continue
            wanted = {**self.resolved, **self.searching} if self.resolved else self.searching
            for cid, host, port, minor in _parse_search_reply(data, source, wanted):
                chan = self.searching.pop(cid, None)
                if chan is not None:
                    if len(self.resolved) > 4096:
                        self.resolved.clear()
                    self.resolved[cid] = (chan.sub.pv_name, host, port)
                    self._connect(chan, host, port, minor)
                    continue
                pv_name, first_host, first_port = self.resolved[cid]
                if (host, port) != (first_host, first_port):
                    log.warning("PV %r is served by more than one server: connected to %s:%d, "
                                "ignored %s:%d", pv_name, first_host, first_port, host, port)

    def _on_beacon(self) -> None:
        # A beacon means a server (re)started or is alive: look for missing PVs again now.
        now = time.monotonic()
        for chan in self.searching.values():
            if chan.interval > 0.25:
                chan.next_search = now
                chan.interval = SEARCH_FIRST_INTERVAL
                self.housekeeping_at = 0.0

    def _connect(self, chan: _SubChannel, host: str, port: int, minor: int) -> None:
        key = (host, port, chan.sub.priority)
        circuit = self.circuits.get(key)
        if circuit is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex((host, port))
            if err not in _CONNECT_PENDING:
                sock.close()
                log.debug("connect to %s:%d failed: %s", host, port, os.strerror(err))
                self._start_search(chan, time.monotonic())
                chan.next_search = time.monotonic() + 0.2
                return
            circuit = _BlockCircuit(sock, host, port, chan.sub.priority,
                                    self.config.max_array_bytes)
            circuit.server_version = minor
            self.circuits[key] = circuit
            self.sel.register(sock, selectors.EVENT_WRITE, circuit)
        chan.state = "connecting"
        chan.circuit = circuit
        chan.cid = _next_id()
        circuit.by_cid[chan.cid] = chan
        if circuit.connected:
            try:
                circuit.send(msg.create_chan_request(chan.sub.pv_name.encode(), chan.cid))
            except DisconnectedError:
                # The circuit died before we noticed: every channel on it searches again.
                self._circuit_lost(circuit, "disconnected")

    def _on_connected(self, circuit: _BlockCircuit) -> None:
        sock = circuit.sock
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._circuit_lost(circuit, f"cannot connect: {os.strerror(err)}")
            return
        configure_tcp(sock)
        sock.setblocking(False)  # read only when select says so; Circuit.send bounds writes
        circuit.connected = True
        circuit.last_rx = time.monotonic()
        self.housekeeping_at = 0.0  # schedule this circuit's watchdog
        self.sel.modify(sock, selectors.EVENT_READ, circuit)
        data = (msg.version_request(circuit.priority) + msg.host_name_request(self.hostname)
                + msg.client_name_request(self.user))
        for chan in circuit.by_cid.values():
            data += msg.create_chan_request(chan.sub.pv_name.encode(), chan.cid)
        try:
            circuit.send(data)
        except DisconnectedError:
            self._circuit_lost(circuit, "disconnected")

    def _circuit_lost(self, circuit: _BlockCircuit, reason: str) -> None:
        key = (circuit.host, circuit.port, circuit.priority)
        if self.circuits.get(key) is circuit:
            del self.circuits[key]
        try:
            self.sel.unregister(circuit.sock)
        except (KeyError, ValueError):
            pass
        circuit.close()
        now = time.monotonic()
        for chan in list(circuit.by_cid.values()):
            was_connected = chan.state == "connected"
            self._start_search(chan, now)
            if was_connected:
                # Already reported as disconnected: no "not found" on top while re-searching.
                chan.not_found_reported = True
                self._event(chan, False, "disconnected")
            chan.info = None

    def _subscribe(self, circuit: _BlockCircuit, chan: _SubChannel, header: Any) -> None:
        native = header.data_type
        if native > 6:
            log.warning("PV %r: server reported native type %d; ignoring the channel",
                        chan.sub.pv_name, native)
            return
        sub = chan.sub
        chan.sid = header.parameter2
        access = chan.info.access if chan.info is not None else AccessRights.READ_WRITE
        chan.info = ChannelInfo(sub.pv_name, circuit.host, circuit.port, access,
                                ChannelType(native), header.data_count,
                                circuit.server_version)
        if sub.data_type is None:
            if native == ChannelType.ENUM and not self.group.force_int_enums:
                dtype = ChannelType.TIME_STRING
            else:
                dtype = dbr.promote(native, "time")
        else:
            dtype = dbr.resolve_data_type(sub.data_type, native)
        if sub.data_count is not None:
            count = int(sub.data_count)
        else:
            count = 0 if circuit.server_version >= 13 else header.data_count
        chan.data_type = dtype
        chan.data_count = count
        chan.subid = _next_id()
        circuit.allow_payload(dbr.payload_size(dtype, max(header.data_count, count, 1)) + 8)
        circuit.by_subid[chan.subid] = chan
        chan.state = "connected"
        chan.not_found_reported = False
        self._event(chan, True, "connected")
        circuit.send(msg.event_add_request(dtype, count, chan.sid, chan.subid, int(sub.mask),
                                           sub.low, sub.high, sub.to))

    def _on_circuit(self, circuit: _BlockCircuit) -> None:
        try:
            messages = circuit.receive()
        except (DisconnectedError, ProtocolError) as exc:
            if isinstance(exc, ProtocolError):
                log.warning("%s; dropping the circuit", exc)
            self._circuit_lost(circuit, "disconnected")
            return
        except TimeoutError:
            return
        circuit.last_rx = time.monotonic()
        if circuit.unresponsive or circuit.echo_deadline is not None:
            circuit.echo_deadline = None
            if circuit.unresponsive:
                circuit.unresponsive = False
                for chan in list(circuit.by_subid.values()):
                    self._event(chan, True, "responsive again")
        self.delivered += len(messages)
        by_subid = circuit.by_subid
        for header, raw, payload in messages:
            if header.command == msg.EVENT_ADD:
                chan = by_subid.get(header.parameter2)
                if chan is not None:
                    # An unknown id is a cancelled subscription's ack or a late update.
                    sub = chan.sub
                    sub.process(EventAddResponse(header, raw, payload, chan.info, sub))
                continue
            try:
                self._on_other(circuit, header, raw, payload)
            except DisconnectedError:
                self._circuit_lost(circuit, "disconnected")
                return

    def _on_other(self, circuit: _BlockCircuit, header: Any, raw: Any, payload: Any) -> None:
        command = header.command
        if command == msg.CREATE_CHAN:
            chan = circuit.by_cid.get(header.parameter1)
            if chan is not None and chan.state == "connecting":
                self._subscribe(circuit, chan, header)
        elif command == msg.ACCESS_RIGHTS:
            chan = circuit.by_cid.get(header.parameter1)
            if chan is not None:
                access = AccessRights(header.parameter2 & 3)
                if chan.info is not None:
                    changed = chan.info.access != access
                    chan.info = replace(chan.info, access=access)
                    if changed and chan.state == "connected":
                        # Rights changed at run time (ACF reload): tell the callbacks.
                        self._event(chan, True, "access rights changed")
                else:
                    chan.info = ChannelInfo(chan.sub.pv_name, circuit.host, circuit.port,
                                            access, ChannelType.STRING, 0,
                                            circuit.server_version)
        elif command == msg.VERSION:
            circuit.server_version = header.data_count
        elif command in (msg.SERVER_DISCONN, msg.CREATE_CH_FAIL):
            chan = circuit.by_cid.pop(header.parameter1, None)
            if chan is not None:
                circuit.by_subid.pop(chan.subid, None)
                was_connected = chan.state == "connected"
                self._start_search(chan, time.monotonic())
                if command == msg.CREATE_CH_FAIL:
                    chan.next_search = time.monotonic() + 1.0
                    log.warning("PV %r: server %s:%d refused to create the channel; retrying",
                                chan.sub.pv_name, circuit.host, circuit.port)
                if was_connected:
                    chan.not_found_reported = True
                    self._event(chan, False, "disconnected")
                chan.info = None
        elif command == msg.ERROR:
            err = ErrorResponse(header, raw, payload)
            original = err.original_request
            name = "?"
            if original is not None:
                chan = circuit.by_subid.get(original.parameter2) or \
                    circuit.by_cid.get(err.cid)
                if chan is not None:
                    name = chan.sub.pv_name
            log.warning("server %s:%d reported %s for PV %r: %s", circuit.host, circuit.port,
                        err.status.name, name, printable(err.error_message))
        # ECHO replies and anything else only count as traffic (last_rx above).

    def _watchdog(self, now: float) -> float:
        """ECHO idle circuits after EPICS_CA_CONN_TMO; flag them unresponsive if silent."""
        next_check = math.inf
        tmo = self.config.conn_tmo
        for circuit in list(self.circuits.values()):
            if not circuit.connected:
                continue
            if circuit.echo_deadline is None:
                if now - circuit.last_rx >= tmo:
                    try:
                        circuit.send(msg.echo_request())
                    except DisconnectedError:
                        self._circuit_lost(circuit, "disconnected")
                        continue
                    circuit.echo_deadline = now + min(ECHO_REPLY_TIMEOUT, tmo)
                    next_check = min(next_check, circuit.echo_deadline)
                else:
                    next_check = min(next_check, circuit.last_rx + tmo)
            elif now >= circuit.echo_deadline:
                if not circuit.unresponsive:
                    circuit.unresponsive = True
                    for chan in list(circuit.by_subid.values()):
                        self._event(chan, False, "unresponsive")
                circuit.echo_deadline = now + tmo  # keep probing
                try:
                    circuit.send(msg.echo_request())
                except DisconnectedError:
                    self._circuit_lost(circuit, "disconnected")
                    continue
                next_check = min(next_check, circuit.echo_deadline)
            else:
                next_check = min(next_check, circuit.echo_deadline)
        return next_check

    def _report_missing(self, now: float) -> float:
        """Tell callbacks about PVs still unanswered after ``timeout``: not found by the
        search, or found on a server that never completes the channel."""
        next_check = math.inf
        for chan in list(self.chans.values()):
            if chan.not_found_reported or chan.state == "connected":
                continue
            due = chan.search_started + self.timeout
            if now < due:
                next_check = min(next_check, due)
                continue
            chan.not_found_reported = True
            if chan.state == "searching":
                reason = f"not found after {self.timeout:g} s, still searching"
            else:
                circuit = chan.circuit
                where = f"{circuit.host}:{circuit.port}" if circuit is not None else "the server"
                reason = (f"no answer from {where} after {self.timeout:g} s, still "
                          "waiting")
            self._event(chan, False, reason)
        return next_check

    def _apply_ops(self, now: float) -> None:
        ops = self.group._ops
        while ops:
            try:
                op, sub = ops.popleft()
            except IndexError:
                break
            if op == "add":
                self._add(sub, now)
            else:
                self._remove(sub)

    # -- main ----------------------------------------------------------------------------

    def run(self) -> None:
        group = self.group
        sel = self.sel
        try:
            if group.repeater:
                _ensure_repeater(self.config)
                _register_with_repeater(self.udp, self.config)
            if not self.config.addresses and not self.config.name_servers:
                raise ConfigurationError(
                    "no search destinations: EPICS_CA_ADDR_LIST is empty and "
                    "EPICS_CA_AUTO_ADDR_LIST=NO")
            self.udp.setblocking(False)
            sel.register(self.wake_r, selectors.EVENT_READ, "wake")
            sel.register(self.udp, selectors.EVENT_READ, "udp")
            now = time.monotonic()
            with _global_lock:
                subs = list(group._subs)
                group._ops.clear()
            for sub in subs:
                self._add(sub, now)
            while not group._interrupted:
                now = time.monotonic()
                if self.deadline is not None and now >= self.deadline:
                    break
                if group._ops:
                    self._apply_ops(now)
                if now >= self.housekeeping_at:
                    # Searches, not-found reports and the ECHO watchdog, only when one is due.
                    self.housekeeping_at = min(self._send_searches(now),
                                               self._report_missing(now), self._watchdog(now))
                wake_at = self.housekeeping_at
                if self.deadline is not None:
                    wake_at = min(wake_at, self.deadline)
                wait = None if wake_at == math.inf else max(0.0, wake_at - now)
                if 0 < self.delivered < COALESCE_BATCH:
                    # Updates are trickling in one wake-up at a time: let a few more arrive
                    # so each wake-up (a fixed ~50 us of system calls) serves several.
                    time.sleep(COALESCE_DELAY)
                self.delivered = 0
                for key, events in sel.select(wait):
                    data = key.data
                    if data == "wake":
                        try:
                            self.wake_r.recv(4096)
                        except OSError:
                            pass
                    elif data == "udp":
                        self._on_udp()
                    elif events & selectors.EVENT_WRITE and not data.connected:
                        self._on_connected(data)
                    elif data.sock.fileno() != -1:
                        self._on_circuit(data)
                    if group._interrupted:
                        break
        finally:
            self._teardown()

    def _teardown(self) -> None:
        """Cancel every monitor and clear every channel, then close every socket."""
        for circuit in list(self.circuits.values()):
            if circuit.connected:
                data = b""
                for chan in circuit.by_cid.values():
                    if chan.state == "connected":
                        data += msg.event_cancel_request(chan.data_type, chan.data_count,
                                                         chan.sid, chan.subid)
                        data += msg.clear_channel_request(chan.sid, chan.cid)
                if data:
                    try:
                        circuit.sock.settimeout(0.5)
                        circuit.sock.sendall(data)
                    except OSError:
                        pass
            circuit.close()
        self.circuits.clear()
        self.sel.close()
        self.udp.close()
