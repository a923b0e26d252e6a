"""The engine: one selector loop that owns the search, the circuits (one per server and
priority) and every channel on them, for subscriptions (``block()``) and for one-shot work
on many PVs (:mod:`caprobe.ca.many`) alike.

- Channels are shared per (PV name, priority): searched once, created once, used by every
  subscription and request on them. What a server says about a channel is interpreted by
  :class:`caprobe.ca.state.ChannelState`; this module only moves bytes and keeps tables.
- Sends never block: each circuit has an output queue written when the socket is writable,
  so a stalled server holds up nobody but itself.
- ``selectors`` (epoll/poll), so descriptors beyond 1,024 work.
- A circuit closes when its last channel goes; idle circuits are ECHOed after
  EPICS_CA_CONN_TMO and reported unresponsive when silent.

Not thread-safe: one thread runs it (``block()`` or the Context's calls); other threads
reach it only through :class:`caprobe.ca.subscription.SubscriptionGroup`'s queued ops.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import selectors
import socket
import time
from collections.abc import Callable
from typing import Any

from caprobe.ca import dbr
from caprobe.ca import messages as msg
from caprobe.ca.arguments import encode_pv_name, next_id
from caprobe.ca.circuit import Circuit, configure_tcp
from caprobe.ca.config import CAConfig
from caprobe.ca.dbr import ChannelType
from caprobe.ca.errors import (
    CAError,
    ChannelCreationFailed,
    DisconnectedError,
    ProtocolError,
    printable,
)
from caprobe.ca.hostname import client_identity
from caprobe.ca.messages import ErrorResponse, EventAddResponse
from caprobe.ca.requests import Request, server_error
from caprobe.ca.search import (
    NameServerLink,
    SearchScheduler,
    ensure_repeater,
    no_destinations_error,
    parse_search_reply,
    register_with_repeater,
    report_duplicate,
    tcp_search_requests,
    udp_packets,
    udp_socket,
)
from caprobe.ca.state import (
    CHANNEL_COMMANDS,
    ChannelState,
    ConnectionEvent,
    Event,
    creation_limit,
    reply_limit,
    request_target,
)

log = logging.getLogger("caprobe.ca")

ECHO_REPLY_TIMEOUT = 5.0
# Read coalescing: after a wake-up that brought fewer than COALESCE_BATCH messages, wait
# COALESCE_DELAY before the next select. Adds at most that latency to updates and to
# interrupt(); cuts the client CPU per update about 3x at high rates.
COALESCE_BATCH = 64
COALESCE_DELAY = 0.0005
RESOLVED_MEMORY = 4096  # answered searches remembered, to report a second server answering
NAME_SERVER_RETRY = 2.0
# connect_ex() results that mean "in progress" for a non-blocking socket.
_CONNECT_PENDING = {0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY,
                    10035}  # WSAEWOULDBLOCK on Windows

ReadyCallback = Callable[["EngineChannel", "CAError | None"], None]
ReplyCallback = Callable[[Any], None]  # a response object or a CAError


class Monitor:
    """One subscription's monitor on a channel."""

    __slots__ = ("sub", "chan", "subid", "data_type", "data_count")

    def __init__(self, sub: Any, chan: EngineChannel):
        self.sub = sub
        self.chan = chan
        self.subid = 0  # 0: no EVENT_ADD on the wire
        self.data_type = 0
        self.data_count = 0


class Operation:
    """A one-shot request in flight: its reply (or an error about it) goes to ``done``."""

    __slots__ = ("chan", "request", "done", "what")

    def __init__(self, chan: EngineChannel, request: Request, done: ReplyCallback, what: str):
        self.chan, self.request, self.done, self.what = chan, request, done, what


class EngineChannel:
    """One (PV name, priority) in the engine."""

    __slots__ = ("pv_name", "name", "priority", "search_cid", "search_started", "circuit",
                 "state", "monitors", "waiters", "users", "not_found_reported", "last_error")

    def __init__(self, pv_name: str, name: bytes, priority: int):
        self.pv_name = pv_name
        self.name = name
        self.priority = priority
        self.search_cid = 0
        self.search_started = 0.0
        self.circuit: EngineCircuit | None = None
        self.state: ChannelState | None = None  # None while searching
        self.monitors: list[Monitor] = []
        self.waiters: list[ReadyCallback] = []
        self.users = 0  # Context calls holding the channel
        self.not_found_reported = False
        self.last_error = ""  # why the last connection attempt failed, for a timeout message

    @property
    def connected(self) -> bool:
        return self.state is not None and self.state.connected

    @property
    def info(self) -> Any:
        return self.state.info if self.state is not None else None


class EngineCircuit(Circuit):
    def __init__(self, sock: socket.socket, host: str, port: int, priority: int,
                 max_payload: int | None):
        super().__init__(sock, host, port, priority, max_payload)
        self.connected = False
        self.writing = False  # registered for EVENT_WRITE (output queued)
        self.outgoing: list[bytes] = []  # requests made this round, sent together
        self.by_cid: dict[int, EngineChannel] = {}
        self.by_subid: dict[int, Monitor] = {}
        self.by_ioid: dict[int, Operation] = {}
        # Writes without notify, answered by the ECHO sent after each (None: a watchdog ECHO).
        self.echo_fifo: list[Operation | None] = []
        self.last_rx = time.monotonic()
        self.echo_deadline: float | None = None
        self.unresponsive = False


class _Either:
    """``cid in wanted`` for search replies: still searching, or answered already."""

    __slots__ = ("a", "b")

    def __init__(self, a: dict[int, Any], b: dict[int, Any]):
        self.a, self.b = a, b

    def __contains__(self, cid: int) -> bool:
        return cid in self.a or cid in self.b


class Engine:
    """The loop's state: search, circuits, channels. See the module docstring."""

    def __init__(self, config: CAConfig, *, timeout: float, force_int_enums: bool = False,
                 wake_r: socket.socket | None = None, coalesce: bool = False):
        self.config = config
        self.timeout = timeout  # after this a missing PV is reported (monitors)
        self.force_int_enums = force_int_enums
        self.sel = selectors.DefaultSelector()
        self.udp = udp_socket()
        self.udp.setblocking(False)
        self.sel.register(self.udp, selectors.EVENT_READ, "udp")
        if wake_r is not None:
            self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        self.wake_r = wake_r
        self.search = SearchScheduler()
        self.searching: dict[int, EngineChannel] = {}
        self.resolved: dict[int, tuple[str, str, int]] = {}
        self.channels: dict[tuple[str, int], EngineChannel] = {}
        self.circuits: dict[tuple[str, int, int], EngineCircuit] = {}
        self.name_servers: list[NameServerLink] = []
        self.name_server_retry_at = math.inf
        self.hostname, self.user = client_identity()
        self.dirty: list[EngineCircuit] = []  # circuits with requests not yet handed to send()
        self.housekeeping_at = 0.0  # when searches/reports/watchdog next need a look
        self.delivered = 0  # messages read in the last wake-up
        # Monitors trickling in: wait COALESCE_DELAY between wake-ups (block() only; a
        # one-shot call wants every reply at once).
        self.coalesce = coalesce
        self.closed = False

    # -- set-up and teardown -------------------------------------------------------------

    def start(self, repeater: bool) -> None:
        if not self.config.addresses and not self.config.name_servers:
            raise no_destinations_error()
        if repeater:
            ensure_repeater(self.config)
            register_with_repeater(self.udp, self.config)
        self._connect_name_servers()

    def close(self) -> None:
        """Cancel monitors and clear channels where that costs no wait, close every socket."""
        if self.closed:
            return
        self.closed = True
        for circuit in list(self.circuits.values()):
            circuit.outgoing.clear()
            if circuit.connected and not circuit.queued_bytes:
                data = b""
                for chan in circuit.by_cid.values():
                    if chan.connected:
                        for mon in chan.monitors:
                            if mon.subid:
                                data += msg.event_cancel_request(mon.data_type, mon.data_count,
                                                                 chan.state.sid, mon.subid)
                        data += chan.state.clear_request()
                if data:
                    try:
                        circuit.queue(data)  # best effort: the rest goes with the circuit
                    except DisconnectedError:
                        pass
            circuit.close()
        self.circuits.clear()
        for link in self.name_servers:
            link.close()
        self.sel.close()
        self.udp.close()

    # -- channels --------------------------------------------------------------------------

    def channel(self, pv_name: str, priority: int) -> EngineChannel:
        """The channel for a PV at a priority, searched for if new (ValueRefused for a bad
        name)."""
        key = (pv_name, priority)
        chan = self.channels.get(key)
        if chan is None:
            chan = EngineChannel(pv_name, encode_pv_name(pv_name), priority)
            self.channels[key] = chan
            self._start_search(chan, time.monotonic())
        return chan

    def release(self, chan: EngineChannel) -> None:
        """Forget a channel nobody uses any more: clear it, and close its circuit when it
        was the last one there."""
        if chan.monitors or chan.users or chan.waiters:
            return
        if self.channels.get((chan.pv_name, chan.priority)) is chan:
            del self.channels[(chan.pv_name, chan.priority)]
        self.searching.pop(chan.search_cid, None)
        self.search.discard(chan.search_cid)
        circuit = chan.circuit
        if circuit is None or chan.state is None:
            return
        circuit.by_cid.pop(chan.state.cid, None)
        if chan.connected and circuit.connected:
            self._send(circuit, chan.state.clear_request())
        chan.circuit = None
        if not circuit.by_cid and self.circuits.get(self._key(circuit)) is circuit:
            self._drop_circuit(circuit)

    def when_connected(self, chan: EngineChannel, callback: ReadyCallback) -> None:
        """Call ``callback(chan, None)`` once the channel is created (now if it is), or
        ``callback(chan, error)`` if the server refuses it."""
        if chan.connected:
            callback(chan, None)
        else:
            chan.waiters.append(callback)

    def cancel_waiter(self, chan: EngineChannel, callback: ReadyCallback) -> None:
        try:
            chan.waiters.remove(callback)
        except ValueError:
            pass

    def _start_search(self, chan: EngineChannel, now: float, delay: float = 0.0) -> None:
        self.housekeeping_at = 0.0
        chan.state = None
        chan.circuit = None
        chan.search_cid = next_id()
        chan.search_started = now
        chan.not_found_reported = False
        self.searching[chan.search_cid] = chan
        self.search.add(chan.search_cid, chan.name, now)
        if delay:
            self.search.delay(chan.search_cid, now + delay)

    # -- requests --------------------------------------------------------------------------

    def submit(self, chan: EngineChannel, request: Request, done: ReplyCallback,
               what: str) -> Operation:
        """Send a request on a connected channel; ``done`` gets the response or a CAError."""
        circuit = chan.circuit
        assert circuit is not None and chan.connected
        op = Operation(chan, request, done, what)
        circuit.allow_payload(request.limit)
        if request.reply_command:
            circuit.by_ioid[request.ioid] = op
            self._send(circuit, request.data)
        else:
            # No reply to a plain WRITE: an ECHO right behind it is answered after any ERROR
            # about it, as the server answers in order.
            circuit.by_ioid[request.ioid] = op
            circuit.echo_fifo.append(op)
            self._send(circuit, request.data + msg.echo_request())
        return op

    def forget(self, op: Operation) -> None:
        """Stop waiting for an operation's reply (its deadline passed)."""
        circuit = op.chan.circuit
        if circuit is not None:
            circuit.by_ioid.pop(op.request.ioid, None)

    # -- monitors --------------------------------------------------------------------------

    def add_monitor(self, sub: Any) -> Monitor:
        chan = self.channel(sub.pv_name, sub.priority)
        mon = Monitor(sub, chan)
        chan.monitors.append(mon)
        if chan.connected:
            self._subscribe(chan, mon)
        return mon

    def remove_monitor(self, mon: Monitor) -> None:
        chan = mon.chan
        if mon in chan.monitors:
            chan.monitors.remove(mon)
        circuit = chan.circuit
        if mon.subid and circuit is not None:
            circuit.by_subid.pop(mon.subid, None)
            if chan.connected and circuit.connected:
                self._send(circuit, msg.event_cancel_request(mon.data_type, mon.data_count,
                                                             chan.state.sid, mon.subid))
        mon.subid = 0
        self.release(chan)

    def _event(self, chan: EngineChannel, connected: bool, reason: str) -> None:
        if not chan.monitors:
            return
        event = ConnectionEvent(chan.pv_name, connected, reason, time.time(), chan.info)
        for mon in list(chan.monitors):
            mon.sub.process(event)

    def _subscribe(self, chan: EngineChannel, mon: Monitor) -> None:
        state, circuit = chan.state, chan.circuit
        assert state is not None and circuit is not None
        sub = mon.sub
        native = state.native_type
        try:
            if sub.data_type is None:
                if native == ChannelType.ENUM and not self.force_int_enums:
                    dtype = ChannelType.TIME_STRING
                else:
                    dtype = dbr.promote(native, "time")
            else:
                dtype = dbr.resolve_data_type(sub.data_type, native)
        except ValueError as exc:  # checked at subscribe(); kept so block() never dies of it
            log.warning("PV %r: %s; not subscribed", sub.pv_name, exc)
            return
        if sub.data_count is not None:
            count = int(sub.data_count)
        else:
            count = state.dynamic_count()
        mon.data_type = dtype
        mon.data_count = count
        mon.subid = next_id()
        circuit.allow_payload(reply_limit(dtype, max(state.native_count, count)))
        circuit.by_subid[mon.subid] = mon
        sub.process(ConnectionEvent(sub.pv_name, True, "connected", time.time(), state.info))
        self._send(circuit, msg.event_add_request(dtype, count, state.sid, mon.subid,
                                                  int(sub.mask), sub.low, sub.high, sub.to))

    # -- sockets -------------------------------------------------------------------------

    @staticmethod
    def _key(circuit: EngineCircuit) -> tuple[str, int, int]:
        return (circuit.host, circuit.port, circuit.priority)

    def _send(self, circuit: EngineCircuit, data: bytes) -> None:
        """Queue a request; requests made in one round go out in one send() per circuit
        (2,000 reads are one write, not 2,000 system calls)."""
        if not circuit.outgoing:
            self.dirty.append(circuit)
        circuit.outgoing.append(data)

    def flush(self) -> None:
        """Hand every circuit's requests of this round to its socket (never waits)."""
        dirty, self.dirty = self.dirty, []
        for circuit in dirty:
            if not circuit.outgoing or circuit.sock.fileno() == -1:
                circuit.outgoing.clear()
                continue
            data = b"".join(circuit.outgoing)
            circuit.outgoing.clear()
            try:
                pending = circuit.queue(data)
            except DisconnectedError:
                self._circuit_lost(circuit, "disconnected")
                continue
            if pending and not circuit.writing:
                circuit.writing = True
                self.sel.modify(circuit.sock, selectors.EVENT_READ | selectors.EVENT_WRITE,
                                circuit)

    def _on_writable(self, circuit: EngineCircuit) -> None:
        try:
            pending = circuit.flush()
        except DisconnectedError:
            self._circuit_lost(circuit, "disconnected")
            return
        if not pending:
            circuit.writing = False
            self.sel.modify(circuit.sock, selectors.EVENT_READ, circuit)

    def _connect(self, chan: EngineChannel, host: str, port: int, minor: int) -> None:
        key = (host, port, chan.priority)
        circuit = self.circuits.get(key)
        if circuit is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex((host, port))
            if err not in _CONNECT_PENDING:
                sock.close()
                chan.last_error = f"cannot connect to {host}:{port}: {os.strerror(err)}"
                log.debug("PV %r: %s", chan.pv_name, chan.last_error)
                self._start_search(chan, time.monotonic(), delay=0.2)
                return
            circuit = EngineCircuit(sock, host, port, chan.priority,
                                    self.config.max_array_bytes)
            circuit.server_version = minor
            self.circuits[key] = circuit
            self.sel.register(sock, selectors.EVENT_WRITE, circuit)
        chan.circuit = circuit
        chan.state = ChannelState(chan.pv_name, next_id(), host, port, circuit.server_version)
        circuit.by_cid[chan.state.cid] = chan
        if circuit.connected:
            self._send(circuit, chan.state.create_request(chan.name))

    def _on_connected(self, circuit: EngineCircuit) -> None:
        sock = circuit.sock
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            reason = f"cannot connect to {circuit.host}:{circuit.port}: {os.strerror(err)}"
            for chan in circuit.by_cid.values():
                chan.last_error = reason
            self._circuit_lost(circuit, reason)
            return
        configure_tcp(sock)
        circuit.connected = True
        circuit.last_rx = time.monotonic()
        self.housekeeping_at = 0.0  # schedule this circuit's watchdog
        self.sel.modify(sock, selectors.EVENT_READ, circuit)
        parts = [msg.version_request(circuit.priority), msg.host_name_request(self.hostname),
                 msg.client_name_request(self.user)]
        parts += [chan.state.create_request(chan.name) for chan in circuit.by_cid.values()]
        self._send(circuit, b"".join(parts))

    def _drop_circuit(self, circuit: EngineCircuit) -> None:
        key = self._key(circuit)
        if self.circuits.get(key) is circuit:
            del self.circuits[key]
        try:
            self.sel.unregister(circuit.sock)
        except (KeyError, ValueError):
            pass
        circuit.close()

    def _circuit_lost(self, circuit: EngineCircuit, reason: str) -> None:
        self._drop_circuit(circuit)
        now = time.monotonic()
        lost = DisconnectedError(f"lost the connection to {circuit.host}:{circuit.port} "
                                 f"({reason})")
        ops = list(circuit.by_ioid.values())
        circuit.by_ioid.clear()
        circuit.by_subid.clear()
        for chan in list(circuit.by_cid.values()):
            was_connected = chan.connected
            self._start_search(chan, now)
            if was_connected:
                # Already reported as disconnected: no "not found" on top while re-searching.
                chan.not_found_reported = True
                for mon in chan.monitors:
                    mon.subid = 0
                self._event(chan, False, "disconnected")
        circuit.by_cid.clear()
        for op in ops:
            op.done(DisconnectedError(f"PV {op.chan.pv_name!r}: {lost}"))

    def _channel_gone(self, chan: EngineChannel, error: CAError, delay: float) -> None:
        """The server refused or dropped a channel: fail what waits on it, search again."""
        circuit = chan.circuit
        was_connected = chan.connected
        if circuit is not None and chan.state is not None:
            circuit.by_cid.pop(chan.state.cid, None)
            for mon in chan.monitors:
                circuit.by_subid.pop(mon.subid, None)
                mon.subid = 0
            for ioid, op in list(circuit.by_ioid.items()):
                if op.chan is chan:
                    del circuit.by_ioid[ioid]
                    op.done(error)
        chan.last_error = str(error)
        self._start_search(chan, time.monotonic(), delay)
        if was_connected:
            chan.not_found_reported = True
            self._event(chan, False, "disconnected")
        self._fail_waiters(chan, error)

    def _fail_waiters(self, chan: EngineChannel, error: CAError) -> None:
        waiters, chan.waiters = chan.waiters, []
        for callback in waiters:
            callback(chan, error)

    # -- incoming --------------------------------------------------------------------------

    def _on_udp(self) -> None:
        wanted = _Either(self.searching, self.resolved)
        for _ in range(64):  # drain what is queued, bounded so other sockets get a turn
            try:
                data, source = self.udp.recvfrom(0xFFFF + 16)
            except OSError:  # BlockingIOError included: drained
                return
            if len(data) >= 16 and data[0:2] == b"\x00\x0d":
                # A beacon: a server (re)started or is alive: look for missing PVs again.
                self.search.on_beacon(time.monotonic())
                self.housekeeping_at = 0.0
                continue
            self._on_search_replies(parse_search_reply(data, source, wanted))

    def _on_search_replies(self, replies: list[tuple[int, str, int, int]]) -> None:
        for cid, host, port, minor in replies:
            chan = self.searching.pop(cid, None)
            if chan is not None:
                self.search.discard(cid)
                if len(self.resolved) >= RESOLVED_MEMORY:
                    for old in list(self.resolved)[:RESOLVED_MEMORY // 2]:
                        del self.resolved[old]
                self.resolved[cid] = (chan.pv_name, host, port)
                self._connect(chan, host, port, minor)
                continue
            first = self.resolved.get(cid)
            if first is not None and (host, port) != first[1:]:
                report_duplicate(first[0], first[1:], (host, port))

    def _on_circuit(self, circuit: EngineCircuit) -> None:
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
        if circuit.echo_deadline is not None:
            circuit.echo_deadline = None
            if circuit.unresponsive:
                circuit.unresponsive = False
                for chan in list(circuit.by_cid.values()):
                    self._event(chan, True, "responsive again")
        self.delivered += len(messages)
        by_subid = circuit.by_subid
        for header, raw, payload in messages:
            if header.command == msg.EVENT_ADD:
                mon = by_subid.get(header.parameter2)
                if mon is not None:
                    # An unknown id is a cancelled subscription's ack or a late update.
                    sub = mon.sub
                    sub.process(EventAddResponse(header, raw, payload, mon.chan.state.info, sub))
                continue
            self._on_other(circuit, header, raw, payload)
            if circuit.sock.fileno() == -1:
                return  # dropped while handling (a send failed)

    def _on_other(self, circuit: EngineCircuit, header: Any, raw: Any, payload: Any) -> None:
        command = header.command
        if command in CHANNEL_COMMANDS:
            chan = circuit.by_cid.get(header.parameter1)
            if chan is None or chan.state is None:
                return
            state = chan.state
            event = state.on_message(header)
            if event == Event.CREATED:
                circuit.allow_payload(creation_limit(state.native_type, state.native_count))
                chan.not_found_reported = False
                chan.last_error = ""
                for mon in list(chan.monitors):
                    self._subscribe(chan, mon)
                waiters, chan.waiters = chan.waiters, []
                for callback in waiters:
                    callback(chan, None)
            elif event == Event.ACCESS_CHANGED:
                # Rights changed at run time (ACF reload): tell the callbacks.
                self._event(chan, True, "access rights changed")
            elif event == Event.CREATE_FAILED:
                log.warning("PV %r: server %s:%d refused to create the channel; retrying",
                            chan.pv_name, circuit.host, circuit.port)
                self._channel_gone(chan, ChannelCreationFailed(state.create_failed_text()),
                                   delay=1.0)
            elif event == Event.BAD_NATIVE_TYPE:
                text = state.bad_native_type_text(header.data_type)
                log.warning("%s; retrying", text)
                self._channel_gone(chan, ProtocolError(text), delay=1.0)
            elif event == Event.DROPPED:
                self._channel_gone(chan, DisconnectedError(
                    f"PV {chan.pv_name!r}: the server dropped the channel"), delay=0.0)
        elif command in (msg.READ_NOTIFY, msg.WRITE_NOTIFY, msg.READ):
            op = circuit.by_ioid.pop(header.parameter2, None)
            if op is not None and op.request.reply_command == command:
                op.done(op.request.response_class(header, raw, payload, op.chan.info))
        elif command == msg.ECHO:
            if circuit.echo_fifo:
                op = circuit.echo_fifo.pop(0)
                if op is not None and circuit.by_ioid.pop(op.request.ioid, None) is op:
                    op.done(None)  # the write went through without an ERROR
        elif command == msg.VERSION:
            circuit.server_version = header.data_count
            for chan in circuit.by_cid.values():
                if chan.state is not None:
                    chan.state.on_server_version(header.data_count)
        elif command == msg.ERROR:
            self._on_error(circuit, header, raw, payload)
        # CLEAR_CHANNEL acks and anything else only count as traffic (last_rx).

    def _on_error(self, circuit: EngineCircuit, header: Any, raw: Any, payload: Any) -> None:
        err = ErrorResponse(header, raw, payload)
        original = err.original_request
        name = "?"
        if original is not None:
            kind, ident = request_target(original)
            if kind == "ioid":
                op = circuit.by_ioid.pop(ident, None)
                if op is not None:
                    op.done(server_error(op.chan.pv_name,
                                         ErrorResponse(header, raw, payload, op.chan.info)))
                    return
            elif kind == "subid":
                mon = circuit.by_subid.get(ident)
                if mon is not None:
                    name = mon.sub.pv_name
            else:
                chan = circuit.by_cid.get(ident)
                if chan is not None:
                    name = chan.pv_name
        log.warning("server %s:%d reported %s for PV %r: %s", circuit.host, circuit.port,
                    err.status.name, name, printable(err.error_message))

    # -- housekeeping ----------------------------------------------------------------------

    def _send_searches(self, now: float) -> float:
        """Send every due search, packed into datagrams; returns when the next one is due."""
        due = self.search.due(now)
        if due:
            for packet in udp_packets(due):
                for dest in self.config.addresses:
                    try:
                        self.udp.sendto(packet, dest)
                    except OSError as exc:
                        log.debug("search to %s failed: %s", dest, exc)
            if self.name_servers:
                data = tcp_search_requests(due)
                for link in self.name_servers:
                    link.send(data)
        return self.search.next_due

    def _connect_name_servers(self) -> None:
        self.name_server_retry_at = math.inf
        for host, port in self.config.name_servers:
            if any((link.host, link.port) == (host, port) for link in self.name_servers):
                continue
            link = NameServerLink(host, port)
            self.name_servers.append(link)
            self.sel.register(link.sock, selectors.EVENT_WRITE, link)

    def _on_name_server(self, link: NameServerLink, events: int) -> None:
        if not link.connected:
            if link.on_writable():
                self.sel.modify(link.sock, selectors.EVENT_READ, link)
                # Everything still missing goes to the name server at once.
                link.send(tcp_search_requests([(cid, chan.name)
                                               for cid, chan in self.searching.items()]))
        else:
            self._on_search_replies(link.replies(_Either(self.searching, self.resolved)))
        if link.failed:
            self.sel.unregister(link.sock)
            link.close()
            self.name_servers.remove(link)
            self.name_server_retry_at = time.monotonic() + NAME_SERVER_RETRY
            self.housekeeping_at = 0.0

    def _watchdog(self, now: float) -> float:
        """ECHO idle circuits after EPICS_CA_CONN_TMO; flag them unresponsive if silent."""
        next_check = math.inf
        tmo = self.config.conn_tmo
        for circuit in list(self.circuits.values()):
            if not circuit.connected:
                continue
            if circuit.echo_deadline is None:
                if now - circuit.last_rx >= tmo:
                    circuit.echo_fifo.append(None)
                    self._send(circuit, msg.echo_request())
                    circuit.echo_deadline = now + min(ECHO_REPLY_TIMEOUT, tmo)
                    next_check = min(next_check, circuit.echo_deadline)
                else:
                    next_check = min(next_check, circuit.last_rx + tmo)
            elif now >= circuit.echo_deadline:
                if not circuit.unresponsive:
                    circuit.unresponsive = True
                    for chan in list(circuit.by_cid.values()):
                        if chan.connected:
                            self._event(chan, False, "unresponsive")
                circuit.echo_deadline = now + tmo  # keep probing
                if not circuit.queued_bytes:
                    circuit.echo_fifo.append(None)
                    self._send(circuit, msg.echo_request())
                next_check = min(next_check, circuit.echo_deadline)
            else:
                next_check = min(next_check, circuit.echo_deadline)
        return next_check

    def _report_missing(self, now: float) -> float:
        """Tell monitors about PVs still unanswered after ``timeout``: not found by the
        search, or found on a server that never completes the channel."""
        next_check = math.inf
        for chan in list(self.channels.values()):
            if chan.not_found_reported or chan.connected or not chan.monitors:
                continue
            due = chan.search_started + self.timeout
            if now < due:
                next_check = min(next_check, due)
                continue
            chan.not_found_reported = True
            if chan.circuit is None:
                reason = f"not found after {self.timeout:g} s, still searching"
            else:
                circuit = chan.circuit
                reason = (f"no answer from {circuit.host}:{circuit.port} after "
                          f"{self.timeout:g} s, still waiting")
            self._event(chan, False, reason)
        return next_check

    def _housekeeping(self, now: float) -> None:
        if now >= self.name_server_retry_at:
            self._connect_name_servers()
        self.housekeeping_at = min(self._send_searches(now), self._report_missing(now),
                                   self._watchdog(now), self.name_server_retry_at)

    # -- the loop ----------------------------------------------------------------------------

    def poll(self, until: float | None, stop: Callable[[], bool] | None = None) -> None:
        """One round: housekeeping when due, wait for sockets (until ``until`` at most, a
        monotonic time; None: as long as nothing is due), handle what is ready. Returns early
        when ``stop()`` turns true between sockets."""
        now = time.monotonic()
        if now >= self.housekeeping_at:
            self._housekeeping(now)
        if self.dirty:
            self.flush()
        wake_at = self.housekeeping_at
        if until is not None:
            wake_at = min(wake_at, until)
        wait = None if wake_at == math.inf else max(0.0, wake_at - now)
        if self.coalesce and 0 < self.delivered < COALESCE_BATCH and \
                (wait is None or wait > COALESCE_DELAY):
            # Updates are trickling in one wake-up at a time: let a few more arrive so each
            # wake-up (a fixed ~50 us of system calls) serves several.
            time.sleep(COALESCE_DELAY)
        self.delivered = 0
        for key, events in self.sel.select(wait):
            data = key.data
            if data.__class__ is EngineCircuit:
                if events & selectors.EVENT_WRITE:
                    if not data.connected:
                        self._on_connected(data)
                        continue
                    self._on_writable(data)
                if events & selectors.EVENT_READ and data.sock.fileno() != -1:
                    self._on_circuit(data)
            elif data == "udp":
                self._on_udp()
            elif data == "wake":
                try:
                    self.wake_r.recv(4096)
                except OSError:
                    pass
            else:
                self._on_name_server(data, events)
            if stop is not None and stop():
                break
        if self.dirty:
            self.flush()
