"""The CA repeater: fans server beacons out to every client registered on this host.

Run as ``caprobe-repeater``, ``python -m caprobe.ca.repeater`` or, from the packaged app,
``caprobe repeater``. Clients spawn it (detached, so it outlives them) when its port is free.

Standard library only (plus caprobe.ca.config, itself stdlib-only, and only when no --port is
given): the packaged app runs this module without caprobe.ca's package (and numpy), so the
process that may run for the rest of the host's uptime stays small (packaging/entry.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import struct
import sys
import time
from typing import Any

# The CA header and the three commands a repeater handles (as in caprobe.ca.messages, which
# this module does not import: it pulls in numpy through the DBR types).
HEADER = struct.Struct(">HHHHII")
RSRV_IS_UP = 13
REPEATER_CONFIRM = 17
REPEATER_REGISTER = 24
#: How long a client from a single-file executable waits for its repeater to be up.
ONEFILE_START_WAIT = 5.0

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


def repeater_command(port: int | None = None) -> list[str]:
    """How to start the repeater: never by re-running a frozen executable's GUI."""
    port_args = [] if port is None else ["--port", str(port)]
    if getattr(sys, "frozen", False):
        return [sys.executable, "repeater", "--quiet", *port_args]
    return [sys.executable, "-m", "caprobe.ca.repeater", "--quiet", *port_args]


def running_from_single_file() -> bool:
    """True in a PyInstaller single-file executable: its files live in a temporary _MEIxxxxxx
    directory that is deleted when this process exits."""
    bundle_dir = getattr(sys, "_MEIPASS", None)
    return bool(getattr(sys, "frozen", False) and bundle_dir
                and os.path.basename(os.path.normpath(bundle_dir)).startswith("_MEI"))


def spawn_repeater(port: int) -> Any:
    """Start a detached repeater if ``port`` is free. Two racing clients may both try; the
    loser's bind fails and it exits quietly.

    From a single file, the repeater runs from this process's unpacked directory (PyInstaller
    lets a ``sys.executable`` child reuse it instead of unpacking ~130 MB again); that directory
    goes when this process exits, so wait until the repeater has loaded everything it needs,
    which it has once its port is bound (within ONEFILE_START_WAIT)."""
    if not repeater_port_free(port):
        return None
    import subprocess  # only when a repeater must be started: it costs ms at import

    env = dict(os.environ, EPICS_CA_REPEATER_PORT=str(port))
    try:
        process = subprocess.Popen(repeater_command(port), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   cwd="/", env=env, start_new_session=True, close_fds=True)
    except OSError as exc:
        log.warning("could not start the CA repeater: %s", exc)
        return None
    if running_from_single_file():
        deadline = time.monotonic() + ONEFILE_START_WAIT
        while repeater_port_free(port) and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.005)
    return process


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
        header = HEADER.unpack_from(data) if len(data) >= HEADER.size else None
        command = header[0] if header else REPEATER_REGISTER  # empty = old client
        if command == REPEATER_REGISTER:
            clients.add(source)
            ip = int.from_bytes(socket.inet_aton(source[0]), "big")
            confirm = HEADER.pack(REPEATER_CONFIRM, 0, 0, 0, 0, ip)
            try:
                sock.sendto(confirm, source)
            except OSError:
                clients.discard(source)
            continue
        if header and command == RSRV_IS_UP and header[5] == 0:
            # Fill in the beacon's server address from its source, as libca's repeater does.
            ip = int.from_bytes(socket.inet_aton(source[0]), "big")
            data = HEADER.pack(*header[:5], ip) + data[HEADER.size:]
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


EPILOG = """\
Clients start a repeater by themselves when its port is free; run one by hand only to keep it
up across clients or on another port.
Examples:
  caprobe-repeater                      on EPICS_CA_REPEATER_PORT (default 5065)
  caprobe-repeater --port 15065 --quiet   another port, printing nothing
See man caprobe-repeater (docs/cli/caprobe-repeater.rst)."""


def build_parser(parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
                 ) -> argparse.ArgumentParser:
    """The command line of ``caprobe-repeater`` (``caprobe.cli.repeater`` passes a parser class
    that suggests the nearest option for a typo)."""
    parser = parser_class(prog="caprobe-repeater",
                          description="Channel Access repeater (beacon fan-out)",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=None,
                        help="UDP port (default: EPICS_CA_REPEATER_PORT or 5065)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    return parser


def main(argv: list[str] | None = None,
         parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> int:
    args = build_parser(parser_class).parse_args(argv)
    if args.port is None:
        from caprobe.ca.config import load_config
        from caprobe.ca.errors import CAError

        try:
            args.port = load_config().repeater_port
        except CAError as exc:
            print(f"caprobe-repeater: {exc}", file=sys.stderr)
            return 1
    port = args.port
    try:
        return run(port, quiet=args.quiet)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
