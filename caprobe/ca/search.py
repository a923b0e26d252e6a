"""Finding servers: SEARCH requests packed many to a datagram (as libca packs them), resent
with back-off, answered over UDP or by TCP name servers (EPICS_CA_NAME_SERVERS).

:class:`SearchScheduler` decides what to send when and has no sockets: the engine and the
one-shot search below do the sending.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time
from typing import Any

from caprobe.ca import messages as msg
from caprobe.ca.arguments import next_id
from caprobe.ca.circuit import Circuit, configure_tcp
from caprobe.ca.config import CAConfig
from caprobe.ca.errors import CATimeoutError, ConfigurationError, DisconnectedError, ProtocolError
from caprobe.ca.repeater import spawn_repeater

log = logging.getLogger("caprobe.ca")

UDP_MAX_DATAGRAM = 1472  # what libca packs per search frame (ETHERNET_MAX_UDP)
SEARCH_FIRST_INTERVAL = 0.02
SEARCH_MAX_INTERVAL = 1.0  # block() re-searches missing PVs at least once a second


def udp_socket() -> socket.socket:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    try:  # thousands of names answered at once must not overflow the receive buffer
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    except OSError:
        pass
    if os.name == "nt":
        udp.bind(("0.0.0.0", 0))  # Windows cannot recvfrom on an unbound socket
    return udp


def no_destinations_error() -> ConfigurationError:
    return ConfigurationError(
        "no search destinations: EPICS_CA_ADDR_LIST is empty, EPICS_CA_AUTO_ADDR_LIST=NO "
        "and EPICS_CA_NAME_SERVERS is empty")


_repeater_spawned: dict[int, float] = {}
_repeater_lock = threading.Lock()


def ensure_repeater(config: CAConfig) -> None:
    """Start a repeater if none runs on this host (at most once every 5 s per port)."""
    port = config.repeater_port
    with _repeater_lock:
        last = _repeater_spawned.get(port, 0.0)
        if time.monotonic() - last < 5.0:
            return
        _repeater_spawned[port] = time.monotonic()
    spawn_repeater(port)


def register_with_repeater(udp: socket.socket, config: CAConfig) -> None:
    try:
        udp.sendto(msg.repeater_register_request(), ("127.0.0.1", config.repeater_port))
    except OSError:
        pass  # no repeater reachable: beacons are an optimisation only


def parse_search_reply(data: bytes | memoryview, source: tuple[str, int], wanted: Any
                       ) -> list[tuple[int, str, int, int]]:
    """(cid, host, port, server minor) for each SEARCH reply in a datagram naming a cid in
    ``wanted`` (anything supporting ``in``); anything else (VERSION, beacons, junk) is
    skipped."""
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


class _Pending:
    __slots__ = ("name", "next_send", "interval", "started")

    def __init__(self, name: bytes, next_send: float, interval: float, started: float):
        self.name, self.next_send, self.interval, self.started = \
            name, next_send, interval, started


class SearchScheduler:
    """The names still being searched for, each with its own back-off: first resent after
    20 ms, then twice as long each time up to ``max_interval``. Due names are packed into as
    few datagrams as fit (each behind one VERSION). No sockets, no clock: callers pass ``now``.
    """

    def __init__(self, max_interval: float = SEARCH_MAX_INTERVAL) -> None:
        self.max_interval = max_interval
        self.pending: dict[int, _Pending] = {}
        self.next_due = float("inf")

    def __contains__(self, cid: int) -> bool:
        return cid in self.pending

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, cid: int, name: bytes, now: float) -> None:
        self.pending[cid] = _Pending(name, now, SEARCH_FIRST_INTERVAL, now)
        self.next_due = min(self.next_due, now)

    def discard(self, cid: int) -> _Pending | None:
        return self.pending.pop(cid, None)

    def delay(self, cid: int, until: float) -> None:
        """Hold a name back (its server refused it or could not be reached)."""
        entry = self.pending.get(cid)
        if entry is not None:
            entry.next_send = until
            entry.interval = 1.0

    def due(self, now: float) -> list[tuple[int, bytes]]:
        """The (cid, name) pairs to send now; reschedules them."""
        if now < self.next_due:
            return []
        out = []
        next_due = float("inf")
        max_interval = self.max_interval
        for cid, entry in self.pending.items():
            if entry.next_send <= now:
                out.append((cid, entry.name))
                entry.next_send = now + entry.interval
                entry.interval = min(entry.interval * 2, max_interval)
            if entry.next_send < next_due:
                next_due = entry.next_send
        self.next_due = next_due
        return out

    def on_beacon(self, now: float) -> None:
        """A server (re)started: search the names that have backed off again now."""
        for entry in self.pending.values():
            if entry.interval > 0.25:
                entry.next_send = now
                entry.interval = SEARCH_FIRST_INTERVAL
                self.next_due = now


def udp_packets(due: list[tuple[int, bytes]]) -> list[bytes]:
    """SEARCH requests packed into datagrams of at most UDP_MAX_DATAGRAM bytes."""
    head = msg.version_request(udp=True, sequence=next_id())
    packets: list[bytes] = []
    current = [head]
    size = len(head)
    for cid, name in due:
        req = msg.search_request(name, cid)
        if size + len(req) > UDP_MAX_DATAGRAM and size > len(head):
            packets.append(b"".join(current))
            current, size = [head], len(head)
        current.append(req)
        size += len(req)
    packets.append(b"".join(current))
    return packets


def tcp_search_requests(due: list[tuple[int, bytes]]) -> bytes:
    return b"".join(msg.search_request(name, cid, msg.DO_REPLY) for cid, name in due)


class NameServerLink:
    """A TCP connection to one name server (CA V4.12): SEARCH requests go out as the
    scheduler makes them due, answers come back framed like any circuit's."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex((host, port))
        self.circuit = Circuit(sock, host, port, 0)
        self.connected = False
        self.failed = False

    @property
    def sock(self) -> socket.socket:
        return self.circuit.sock

    def on_writable(self) -> bool:
        """The connect finished: True when it succeeded (VERSION then goes out)."""
        if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.failed = True
            return False
        configure_tcp(self.sock)
        self.connected = True
        self.circuit.queue(msg.version_request())
        return True

    def send(self, data: bytes) -> None:
        if self.connected and not self.failed:
            try:
                self.circuit.queue(data)
            except DisconnectedError:
                self.failed = True

    def replies(self, wanted: Any) -> list[tuple[int, str, int, int]]:
        """Answers to wanted cids among what arrived (marks the link failed when closed)."""
        try:
            messages = self.circuit.receive()
        except (DisconnectedError, ProtocolError, OSError):
            self.failed = True
            return []
        found = []
        for header, raw, payload in messages:
            if header.command == msg.SEARCH:
                found += parse_search_reply(bytes(raw) + bytes(payload), (self.host, self.port),
                                            wanted)
        return found

    def close(self) -> None:
        self.circuit.close()


class DuplicateWatch:
    """A finished search's UDP socket, kept until the call ends so any other server that
    answered meanwhile is reported (libca's ECA_DBLCHNL) without delaying the call."""

    def __init__(self, pv_name: str, udp: socket.socket | None, cid: int,
                 found: tuple[str, int, int]) -> None:
        self.pv_name, self.udp, self.cid, self.found = pv_name, udp, cid, found

    def finish(self) -> None:
        """Report late answers and close the socket (idempotent)."""
        udp, self.udp = self.udp, None
        if udp is None:
            return
        try:
            _report_duplicates(self.pv_name, _udp_replies(udp, (self.cid,)), self.found[:2])
        finally:
            udp.close()


def search_one(pv_name: str, name: bytes, config: CAConfig, deadline: float, timeout: float
               ) -> DuplicateWatch:
    """Find the server of one PV for a one-shot call: UDP to every destination and TCP name
    servers, resent with back-off until the deadline. The first answer wins (``.found`` of
    the returned watch: host, port, server minor version); call its ``finish()`` when the
    call ends to report other servers that answered and close the socket."""
    if not config.addresses and not config.name_servers:
        raise no_destinations_error()
    cid = next_id()
    scheduler = SearchScheduler(max_interval=0.5)
    scheduler.add(cid, name, time.monotonic())
    wanted = (cid,)
    udp: socket.socket | None = udp_socket()
    links: list[NameServerLink] = []
    sel = selectors.DefaultSelector()
    try:
        udp.setblocking(False)
        sel.register(udp, selectors.EVENT_READ, None)
        for host, port in config.name_servers:
            link = NameServerLink(host, port)
            links.append(link)
            sel.register(link.sock, selectors.EVENT_WRITE, link)
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise CATimeoutError(
                    f"PV {pv_name!r} not found within {timeout:g} s: no server answered "
                    f"the search sent to {config.describe_destinations()}")
            due = scheduler.due(now)
            if due:
                for packet in udp_packets(due):
                    for dest in config.addresses:
                        try:
                            udp.sendto(packet, dest)
                        except OSError as exc:
                            log.debug("search to %s failed: %s", dest, exc)
                for link in links:
                    link.send(tcp_search_requests(due))
            wait = max(0.0, min(scheduler.next_due, deadline) - now)
            for key, events in sel.select(wait):
                link = key.data
                if link is None:
                    found = _udp_replies(udp, wanted)
                elif events & selectors.EVENT_WRITE and not link.connected:
                    if link.on_writable():
                        link.send(tcp_search_requests([(cid, name)]))
                        sel.modify(link.sock, selectors.EVENT_READ, link)
                    else:
                        sel.unregister(link.sock)
                    continue
                else:
                    found = link.replies(wanted)
                    if link.failed:
                        sel.unregister(link.sock)
                if found:
                    _, host, port, minor = found[0]
                    _report_duplicates(pv_name, found[1:], (host, port))
                    watch = DuplicateWatch(pv_name, udp, cid, (host, port, minor))
                    udp = None
                    return watch
    finally:
        sel.close()
        if udp is not None:
            udp.close()
        for link in links:
            link.close()


def _udp_replies(udp: socket.socket, wanted: Any) -> list[tuple[int, str, int, int]]:
    found = []
    while True:
        try:
            data, source = udp.recvfrom(0xFFFF + 16)
        except OSError:
            return found
        found += parse_search_reply(data, source, wanted)


def _report_duplicates(pv_name: str, others: list[tuple[int, str, int, int]],
                       first: tuple[str, int]) -> None:
    for _cid, host, port, _minor in others:
        if (host, port) != first:
            report_duplicate(pv_name, first, (host, port))


def report_duplicate(pv_name: str, first: tuple[str, int], other: tuple[str, int]) -> None:
    log.warning("PV %r is served by more than one server: connected to %s:%d, ignored %s:%d",
                pv_name, first[0], first[1], other[0], other[1])
