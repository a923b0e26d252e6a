"""A TCP virtual circuit: framing of the byte stream into CA messages, and sending.

Shared by the one-shot calls and by ``block()``. Small messages are views on the bytes of one
``recv``; a large payload is received straight into a buffer of exactly its size, so a 1M-element
waveform is never copied.
"""

from __future__ import annotations

import selectors
import socket
import time
from typing import Any

from caprobe.ca import messages as msg
from caprobe.ca.errors import DisconnectedError, ProtocolError

# Below glibc's mmap threshold, so each recv's buffer comes from the heap, not mmap/munmap.
RECV_SIZE = 64 * 1024
SEND_TIMEOUT = 5.0  # a server that stops reading for this long is treated as gone
LARGE_PAYLOAD = 64 * 1024
# Payload accepted before any channel says otherwise: the largest CA metadata+string message.
BASE_MAX_PAYLOAD = 16384 + 512
# Without EPICS_CA_MAX_ARRAY_BYTES, no reply may exceed this (64M doubles); set the variable
# to go beyond it.
CHANNEL_PAYLOAD_CEILING = 512 * 1024 * 1024

Message = tuple  # (MessageHeader, raw header memoryview, payload memoryview)


def open_tcp(host: str, port: int, timeout: float) -> socket.socket:
    # host is already a numeric IPv4 address (from the search reply): no getaddrinfo.
    # A one-call circuit needs only TCP_NODELAY: Linux autotunes its receive buffer.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(max(timeout, 0.001))
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def configure_tcp(sock: socket.socket) -> None:
    """Options for a long-lived circuit (block(), name servers)."""
    # Without TCP_NODELAY every request waits ~40 ms for the server's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Keep-alive notices a dead peer on a circuit idle for hours.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


class Circuit:
    """Framing state of one TCP circuit."""

    def __init__(self, sock: socket.socket, host: str, port: int, priority: int,
                 max_payload: int | None = None):
        self.sock = sock
        self.host = host
        self.port = port
        self.priority = priority
        self.server_version = 0
        # Configured limit (EPICS_CA_MAX_ARRAY_BYTES) or, when None, derived from the channels
        # so a hostile payload_size never makes us allocate gigabytes.
        self.configured_max = max_payload
        self.channel_max = BASE_MAX_PAYLOAD
        self._partial = b""
        self._large: list[Any] | None = None  # [buffer, filled, header, raw_header]
        self._error: ProtocolError | None = None  # raised by the next receive()
        self._out = bytearray()  # queued output of a non-blocking circuit (engine)

    @property
    def max_payload(self) -> int:
        return self.configured_max if self.configured_max is not None else self.channel_max

    def allow_payload(self, nbytes: int) -> None:
        """Raise the receive limit to cover a channel's largest possible reply (capped, so a
        server announcing billions of elements cannot make us accept gigabytes)."""
        wanted = min(nbytes + 64, CHANNEL_PAYLOAD_CEILING)
        if wanted > self.channel_max:
            self.channel_max = wanted

    def send(self, data: bytes) -> None:
        """Send everything, waiting up to SEND_TIMEOUT for a full send buffer to drain (for
        a one-shot call's own circuit; the engine uses :meth:`queue`)."""
        view = memoryview(data)
        deadline: float | None = None
        try:
            while view:
                try:
                    sent = self.sock.send(view)
                except (BlockingIOError, InterruptedError):
                    now = time.monotonic()
                    deadline = deadline or now + SEND_TIMEOUT
                    if now >= deadline or not _wait_writable(self.sock, deadline - now):
                        raise TimeoutError("the server stopped reading") from None
                    continue
                view = view[sent:]
        except OSError as exc:
            raise DisconnectedError(f"lost the connection to {self.host}:{self.port} "
                                    f"while sending ({exc})") from None

    def queue(self, data: bytes) -> bool:
        """Send what the socket takes now and keep the rest for :meth:`flush`; never waits,
        so a server that stops reading holds up nobody but itself. True while output is
        left."""
        if self._out:
            self._out += data
            return True
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            raise DisconnectedError(f"lost the connection to {self.host}:{self.port} "
                                    f"while sending ({exc})") from None
        if sent < len(data):
            self._out += memoryview(data)[sent:]
            return True
        return False

    def flush(self) -> bool:
        """Send queued output as far as the socket takes it; True while some is left."""
        out = self._out
        while out:
            try:
                sent = self.sock.send(out)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as exc:
                raise DisconnectedError(f"lost the connection to {self.host}:{self.port} "
                                        f"while sending ({exc})") from None
            del out[:sent]
        return False

    @property
    def queued_bytes(self) -> int:
        return len(self._out)

    def receive(self) -> list[Message]:
        """One recv; returns the complete messages it finished (possibly none).

        Raises DisconnectedError when the server closed the circuit and ProtocolError for
        a malformed stream (the caller must then drop the circuit).
        """
        if self._error is not None:
            raise self._error
        large = self._large
        if large is not None:
            return self._receive_large(large)
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return []
        except TimeoutError:
            raise
        except OSError as exc:
            raise DisconnectedError(f"connection to {self.host}:{self.port} failed: {exc}"
                                    ) from None
        if not data:
            raise DisconnectedError(f"server {self.host}:{self.port} closed the connection")
        if self._partial:
            data = self._partial + data
            self._partial = b""
        return self._frame(memoryview(data))

    def _frame(self, view: memoryview) -> list[Message]:
        # The per-message hot path: header unpacked inline, MessageHeader built without the
        # NamedTuple constructor's Python-level argument handling.
        out: list[Message] = []
        append = out.append
        offset = 0
        end = len(view)
        unpack = msg.HEADER.unpack_from
        unpack_ext = msg.EXTENDED.unpack_from
        new_header = tuple.__new__
        header_cls = msg.MessageHeader
        max_payload = self.max_payload
        while end - offset >= 16:
            command, size, dtype, count, p1, p2 = unpack(view, offset)
            hsize = 16
            if size == 0xFFFF and count == 0:
                if end - offset < 24:
                    break
                size, count = unpack_ext(view, offset + 16)
                hsize = 24
            header = new_header(header_cls, (command, size, dtype, count, p1, p2))
            if size > max_payload:
                error = ProtocolError(
                    f"server {self.host}:{self.port} sent a "
                    f"{msg.COMMAND_NAMES.get(command, command)} message of {size} bytes, more "
                    f"than the {max_payload} this client accepts (EPICS_CA_MAX_ARRAY_BYTES or "
                    "the channel's element count)")
                if not out:
                    raise error
                # Deliver the good messages framed before it; the next receive() raises.
                self._error = error
                return out
            total = hsize + size
            if end - offset < total:
                if size >= LARGE_PAYLOAD:
                    # numpy.empty: no zero-fill of a buffer the socket is about to overwrite
                    # (imported here: most command-line reads never receive one).
                    import numpy

                    buf = memoryview(numpy.empty(size, dtype=numpy.uint8))
                    have = end - offset - hsize
                    buf[:have] = view[offset + hsize: end]
                    self._large = [buf, have, header, bytes(view[offset: offset + hsize])]
                    return out
                break
            append((header, view[offset: offset + hsize], view[offset + hsize: offset + total]))
            offset += total
        if offset < end:
            self._partial = bytes(view[offset:])
        return out

    def _receive_large(self, large: list[Any]) -> list[Message]:
        # One recv_into per call: the caller's select (or socket timeout) decides when to wait.
        buf, filled, header, raw_header = large
        view = buf
        try:
            n = self.sock.recv_into(view[filled:])
        except (BlockingIOError, InterruptedError):
            return []
        except TimeoutError:
            raise
        except OSError as exc:
            raise DisconnectedError(
                f"connection to {self.host}:{self.port} failed: {exc}") from None
        if n == 0:
            raise DisconnectedError(f"server {self.host}:{self.port} closed the connection")
        filled += n
        large[1] = filled
        if filled < len(buf):
            return []
        self._large = None
        return [(header, memoryview(raw_header), view)]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _wait_writable(sock: socket.socket, timeout: float) -> bool:
    # selectors (epoll/poll), not select(): select() fails on descriptors >= 1024.
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_WRITE)
        return bool(sel.select(timeout))
