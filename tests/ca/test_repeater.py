"""The CA repeater: registration and beacon fan-out on loopback, and how it is started.

The repeater is stdlib-only so the packaged app can run it without numpy (packaging/entry.py);
these tests run it in-process on a free port, and as the frozen entry point would, from source.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from caprobe.ca import messages as msg
from caprobe.ca import repeater

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK_IP = int.from_bytes(socket.inet_aton("127.0.0.1"), "big")


@pytest.fixture()
def running_repeater(free_port: int):
    port = free_port + 1  # the repeater port of the reserved pair
    thread = threading.Thread(target=repeater.run, args=(port,),
                              kwargs={"quiet": True, "max_seconds": 1.5}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while repeater.repeater_port_free(port) and time.monotonic() < deadline:
        time.sleep(0.005)
    yield port
    thread.join(timeout=10)


def udp_client() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    return sock


def test_header_layout_matches_the_client() -> None:
    """The repeater keeps its own copy of the header and commands (no numpy import)."""
    assert repeater.HEADER.format == msg.HEADER.format
    assert (repeater.RSRV_IS_UP, repeater.REPEATER_CONFIRM, repeater.REPEATER_REGISTER) == (
        msg.RSRV_IS_UP, msg.REPEATER_CONFIRM, msg.REPEATER_REGISTER)


def test_register_is_confirmed_and_beacons_are_forwarded(running_repeater: int) -> None:
    port = running_repeater
    with udp_client() as client, udp_client() as server:
        client.sendto(msg.repeater_register_request(), ("127.0.0.1", port))
        confirm, _ = client.recvfrom(1024)
        command, *_rest, address = struct.unpack(">HHHHII", confirm[:16])
        assert (command, address) == (msg.REPEATER_CONFIRM, LOOPBACK_IP)
        # A beacon without the server address: the repeater fills it in from the source.
        beacon = msg.HEADER.pack(msg.RSRV_IS_UP, 0, 13, 5064, 7, 0)
        server.sendto(beacon, ("127.0.0.1", port))
        forwarded, _ = client.recvfrom(1024)
        assert forwarded == msg.HEADER.pack(msg.RSRV_IS_UP, 0, 13, 5064, 7, LOOPBACK_IP)


def test_short_datagram_registers_like_an_old_client(running_repeater: int) -> None:
    with udp_client() as client:
        client.sendto(b"", ("127.0.0.1", running_repeater))
        confirm, _ = client.recvfrom(1024)
        assert struct.unpack(">H", confirm[:2])[0] == msg.REPEATER_CONFIRM


def test_repeater_command_names_the_port() -> None:
    assert repeater.repeater_command(5099)[-2:] == ["--port", "5099"]
    assert not repeater.running_from_single_file()  # a source run is not a single file


def test_frozen_entry_runs_the_repeater_without_numpy(free_port: int) -> None:
    """packaging/entry.py's `repeater` path skips caprobe.ca's package (client, numpy)."""
    port = free_port + 1
    process = subprocess.Popen([sys.executable, str(ROOT / "packaging" / "entry.py"),
                                "repeater", "--quiet", "--port", str(port)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while repeater.repeater_port_free(port) and time.monotonic() < deadline:
            assert process.poll() is None, "the repeater exited"
            time.sleep(0.01)
        assert not repeater.repeater_port_free(port)
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        assert "numpy" not in maps and "QtCore" not in maps
        with udp_client() as client:
            client.sendto(msg.repeater_register_request(), ("127.0.0.1", port))
            confirm, _ = client.recvfrom(1024)
        assert struct.unpack(">H", confirm[:2])[0] == msg.REPEATER_CONFIRM
    finally:
        process.kill()
        process.wait()
