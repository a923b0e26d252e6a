"""The CA repeater: fans server beacons out to every client registered on this host.

Run as ``caprobe-repeater``, ``python -m caprobe.ca.repeater`` or, from the packaged app,
``caprobe repeater``. Clients spawn it (detached, so it outlives them) when its port is free.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import time

from caprobe.ca import messages as msg
from caprobe.ca.config import load_config
from caprobe.ca.errors import CAError

log = logging.getLogger("caprobe.ca.repeater")


def repeater_port_free(port: int) -> bool:
    """True if nothing is bound to UDP ``port`` (so no repeater runs on this host)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("0.0.0.0", port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def repeater_command() -> list[str]:
    """How to start the repeater: never by re-running a frozen executable's GUI."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "repeater", "--quiet"]
    return [sys.executable, "-m", "caprobe.ca.repeater", "--quiet"]


def spawn_repeater(port: int) -> subprocess.Popen | None:
    """Start a detached repeater if ``port`` is free. Two racing clients may both try; the
    loser's bind fails and it exits quietly."""
    if not repeater_port_free(port):
        return None
    env = dict(os.environ, EPICS_CA_REPEATER_PORT=str(port))
    try:
        return subprocess.Popen(repeater_command(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd="/", env=env, start_new_session=True, close_fds=True)
    except OSError as exc:
        log.warning("could not start the CA repeater: %s", exc)
        return None


def _client_gone(addr: tuple[str, int]) -> bool:
    # A client's UDP port that we can bind is no longer in use: the client has exited.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((addr[0], addr[1]))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def run(port: int, *, quiet: bool = False, max_seconds: float | None = None) -> int:
    """Serve until killed (or for ``max_seconds``, for tests)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("0.0.0.0", port))
    except OSError:
        if not quiet:
            print(f"caprobe-repeater: UDP port {port} is in use: a repeater already runs",
                  file=sys.stderr)
        return 0  # another repeater serves this host; that is success
    clients: set[tuple[str, int]] = set()
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    if not quiet:
        print(f"caprobe-repeater: listening on UDP port {port}", file=sys.stderr)
    while deadline is None or time.monotonic() < deadline:
        sock.settimeout(None if deadline is None else max(0.01, deadline - time.monotonic()))
        try:
            data, source = sock.recvfrom(0xFFFF + 16)
        except TimeoutError:
            break
        except OSError:
            continue
        parsed = msg.parse_header(data) if data else None
        command = parsed[0].command if parsed else msg.REPEATER_REGISTER  # empty = old client
        if command == msg.REPEATER_REGISTER:
            clients.add(source)
            ip = int.from_bytes(socket.inet_aton(source[0]), "big")
            confirm = msg.HEADER.pack(msg.REPEATER_CONFIRM, 0, 0, 0, 0, ip)
            try:
                sock.sendto(confirm, source)
            except OSError:
                clients.discard(source)
            continue
        if parsed and command == msg.RSRV_IS_UP and parsed[0].parameter2 == 0:
            # Fill in the beacon's server address from its source, as libca's repeater does.
            h = parsed[0]
            ip = int.from_bytes(socket.inet_aton(source[0]), "big")
            data = msg.HEADER.pack(h.command, h.payload_size, h.data_type, h.data_count,
                                   h.parameter1, ip) + data[16:]
        for client in list(clients):
            if client == source:
                continue
            try:
                sock.sendto(data, client)
            except OSError:
                if _client_gone(client):
                    clients.discard(client)
    sock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="caprobe-repeater",
                                     description="Channel Access repeater (beacon fan-out)")
    parser.add_argument("--port", type=int, default=None,
                        help="UDP port (default: EPICS_CA_REPEATER_PORT or 5065)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    try:
        port = args.port or load_config().repeater_port
    except CAError as exc:
        print(f"caprobe-repeater: {exc}", file=sys.stderr)
        return 1
    try:
        return run(port, quiet=args.quiet)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
