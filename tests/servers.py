"""Real Channel Access servers for the tests, on loopback, each on its own free port.

Three kinds, each a subprocess (see tests/ioc/):
- ``start_softioc()``: EPICS base rsrv through pythonSoftIOC with tests/ioc/test.db and the
  access security file tests/ioc/test.acf; PVA off. PVs in ``SOFTIOC_PVS``.
- ``start_caproto_ioc()``: the caproto IOC tests/ioc/caproto_ioc.py. PVs in ``CAPROTO_PVS``.
- ``start_caproto_example("caproto.ioc_examples.random_walk")``: any caproto example module.

A server is ready once it answers a raw CA UDP search (packed here with struct; the harness
never imports caprobe, the code under test). Every process is killed by PID: by the fixtures,
by ``Server.kill()``, at interpreter exit (atexit) and, if pytest itself is SIGKILLed, by the
kernel (PR_SET_PDEATHSIG in tests/ioc/_child.py).

Ports: ``free_port()`` returns P with TCP P, UDP P and UDP P+1 (repeater/beacons) free on
127.0.0.1, never 5064/5065, and holds an flock on a per-port file for as long as the server
object lives, so parallel pytest runs on one machine do not pick the same port.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import itertools
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

IOC_DIR = Path(__file__).resolve().parent / "ioc"
TEST_DB = IOC_DIR / "test.db"
TEST_ACF = IOC_DIR / "test.acf"
LOCALHOST = "127.0.0.1"
DEFAULT_START_TIMEOUT = 20.0

# Suffixes of the PVs in tests/ioc/test.db and their native CA type (DBR type number as
# returned by CREATE_CHAN: STRING 0, SHORT 1, FLOAT 2, ENUM 3, CHAR 4, LONG 5, DOUBLE 6) and
# native element count.
SOFTIOC_PVS: dict[str, tuple[str, int]] = {
    "ai": ("DOUBLE", 1),          # 1.5 mm, PREC 3, limits +-10, alarms 9/5/-5/-9
    "ai.PREC": ("SHORT", 1),      # 3
    "ao": ("DOUBLE", 1),          # 0 V, PREC 2, DRVH/DRVL +-100
    "long": ("LONG", 1),          # 42 cts, DRVH/DRVL +-1000
    "bo": ("ENUM", 1),            # Off/On
    "mbbo": ("ENUM", 1),          # 16 states, FFST 25 chars
    "str": ("STRING", 1),         # "hello"
    "lso": ("STRING", 1),         # empty (UDF INVALID); "lso.VAL$" is CHAR 200
    "lso_long": ("STRING", 1),    # 60 chars; "lso_long.VAL$" is CHAR 200
    "wf_double": ("DOUBLE", 10),  # [0.5, 1.5, 2.5, 3.5, 4.5]
    "wf_float": ("FLOAT", 10),    # [0.25, -0.25, 1.75]
    "wf_char": ("CHAR", 256),     # b"hello world\0"
    "wf_long": ("LONG", 10),      # [1, -2, 3, 2**31-1, -2**31]
    "wf_short": ("SHORT", 10),    # [1, -2, 3, 32767, -32768]
    "wf_empty": ("DOUBLE", 10),   # NORD 0, never processed (UDF INVALID, stamp 1990)
    "wf_big": ("DOUBLE", 1_000_000),   # 0.0, 1.0, ... 999999.0
    "wf_300k": ("DOUBLE", 300_000),    # 0.0, 1.0, ... 299999.0
    "ro": ("DOUBLE", 1),          # 3.25, read-only (ACF ASG RO)
    "slow": ("DOUBLE", 1),        # put-callback completes ~0.5 s after the write
    "counter": ("DOUBLE", 1),     # calc, +1 every 0.1 s
    "short": ("SHORT", 1),        # waveform FTVL SHORT NELM 1, [7]
    "float": ("FLOAT", 1),        # waveform FTVL FLOAT NELM 1, [2.5]
    "gate": ("ENUM", 1),          # Open (1): gated is writable; Closed (0): read only
    "gated": ("DOUBLE", 1),       # ao in ASG GATED (access follows gate at run time)
    "disabled": ("DOUBLE", 1),    # 2.5, DISP=1: the IOC refuses every put (ECA_PUTFAIL)
}

# Suffixes of the PVs in tests/ioc/caproto_ioc.py and their native CA type and count.
CAPROTO_PVS: dict[str, tuple[str, int]] = {
    "double": ("DOUBLE", 1),        # 1.5 mm, precision 3, same limits as softioc ai
    "enum": ("ENUM", 1),            # Off/On/Fault
    "string": ("STRING", 1),        # "hello"
    "long_string": ("CHAR", 256),   # 60-char text (latin-1)
    "long": ("LONG", 1),            # 42 cts
    "int_array": ("LONG", 10),      # [1, -2, 3, 4, 5]
    "double_array": ("DOUBLE", 10),  # [0.5, 1.5, 2.5]
    "read_only": ("DOUBLE", 1),     # 3.25, read_only=True
    "counter": ("LONG", 1),         # +1 every 0.1 s, read_only=True
}

# Suffixes of the PVs in tests/ioc/pcaspy_ioc.py (PCAS, EPICS base's portable server library)
# and their native CA type and count.
PCASPY_PVS: dict[str, tuple[str, int]] = {
    "double": ("DOUBLE", 1),        # 1.5 mm, precision 3, same limits as softioc ai
    "long": ("LONG", 1),            # 42 cts
    "short": ("SHORT", 1),          # 7
    "enum": ("ENUM", 1),            # Off/On/Fault (Fault is MAJOR)
    "string": ("STRING", 1),        # "hello"
    "char_array": ("CHAR", 256),    # "hello world"
    "double_array": ("DOUBLE", 10),  # [0.5, 1.5, 2.5, 3.5, 4.5, 0, ...]
    "long_array": ("LONG", 10),     # [1, -2, 3, 2**31-1, -2**31, 0, ...]
    "rejects": ("DOUBLE", 1),       # 2.5; the driver refuses every write
    "slow": ("DOUBLE", 1),          # put-callback completes 0.5 s after the write
    "counter": ("LONG", 1),         # +1 every 10 ms
}

_PORT_RANGE = (20000, 32000)  # below Linux's ephemeral range (32768-60999)
_FORBIDDEN_PORTS = {5064, 5065}
_PORT_LOCK_DIR = Path(tempfile.gettempdir()) / "caprobe-test-ports"


class ServerStartError(RuntimeError):
    """A test server did not come up (its output is in the message)."""


# ---------------------------------------------------------------------------------------------
# Ports


class PortLock:
    """An exclusive flock on <tmp>/caprobe-test-ports/<port>.lock (released on close/exit)."""

    def __init__(self, port: int, fd: int) -> None:
        self.port = port
        self._fd: int | None = fd

    @classmethod
    def try_acquire(cls, port: int) -> PortLock | None:
        _PORT_LOCK_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(_PORT_LOCK_DIR / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return cls(port, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _can_bind(kind: int, port: int) -> bool:
    # No SO_REUSEADDR: a TCP port in TIME_WAIT or a UDP port that an IOC shares with
    # SO_REUSEADDR both count as taken.
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def port_is_free(port: int) -> bool:
    """True when TCP ``port``, UDP ``port`` and UDP ``port + 1`` are all free on loopback."""
    if port in _FORBIDDEN_PORTS or port + 1 in _FORBIDDEN_PORTS:
        return False
    return (_can_bind(socket.SOCK_STREAM, port) and _can_bind(socket.SOCK_DGRAM, port)
            and _can_bind(socket.SOCK_DGRAM, port + 1))


def reserve_port() -> PortLock:
    """Pick a free CA server port P (see ``port_is_free``) and lock it for this process."""
    low, high = _PORT_RANGE
    candidates = list(range(low, high, 2))
    random.shuffle(candidates)
    for port in candidates:
        lock = PortLock.try_acquire(port)
        if lock is None:
            continue
        if port_is_free(port):
            return lock
        lock.release()
    raise RuntimeError(f"no free CA port pair in {low}..{high} on {LOCALHOST}")


def free_port() -> int:
    """A currently free CA server port P (P and P+1 free, not locked; for ad-hoc use)."""
    lock = reserve_port()
    lock.release()
    return lock.port


def _lock_given_port(port: int) -> PortLock | None:
    if port in _FORBIDDEN_PORTS or port + 1 in _FORBIDDEN_PORTS:
        raise ValueError(f"port {port} would use the real EPICS ports 5064/5065")
    return PortLock.try_acquire(port)


def udp_port_owners(port: int) -> set[int]:
    """PIDs (of this user) with a UDP socket bound to ``port`` on 0.0.0.0 or 127.0.0.1 (Linux)."""
    wanted = {f"00000000:{port:04X}", f"0100007F:{port:04X}"}
    inodes: set[str] = set()
    try:
        with open("/proc/net/udp") as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[1] in wanted:
                    inodes.add(f"socket:[{fields[9]}]")
    except OSError:
        return set()
    owners: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) in inodes:
                        owners.add(int(entry.name))
                        break
    return owners


def kill_repeaters(port: int) -> list[int]:
    """SIGKILL every other process bound to UDP ``port`` + 1 (CA repeaters that clients under
    test spawned for a server on ``port``; they detach, so nothing else would stop them).

    Only for ports this process reserved: anything bound there was started by these tests.
    """
    victims = sorted(udp_port_owners(port + 1) - {os.getpid()})
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return victims


# ---------------------------------------------------------------------------------------------
# Raw CA search (the readiness probe)

_CA_MINOR_VERSION = 13
_CMD_VERSION = 0
_CMD_SEARCH = 6
_DONT_REPLY = 5
_cid_counter = itertools.count(random.randrange(1, 1 << 30))


def _pad8(payload: bytes) -> bytes:
    return payload + b"\0" * (-len(payload) % 8)


def pack_search_request(pv_name: str, cid: int) -> bytes:
    """VERSION + SEARCH datagram, as a CA client sends it (16-byte big-endian headers)."""
    name = _pad8(pv_name.encode() + b"\0")
    version = struct.pack(">HHHHII", _CMD_VERSION, 0, 0, _CA_MINOR_VERSION, 0, 0)
    search = struct.pack(">HHHHII", _CMD_SEARCH, len(name), _DONT_REPLY, _CA_MINOR_VERSION,
                         cid, cid)
    return version + search + name


def parse_search_reply(datagram: bytes, cid: int) -> tuple[int, str | None] | None:
    """(server TCP port, server IP or None = datagram source) of the reply for ``cid``."""
    offset = 0
    while offset + 16 <= len(datagram):
        command, payload_size, data_type, _count, p1, p2 = struct.unpack_from(
            ">HHHHII", datagram, offset)
        if command == _CMD_SEARCH and p2 == cid:
            address = None if p1 in (0, 0xFFFFFFFF) else socket.inet_ntoa(struct.pack(">I", p1))
            return data_type, address
        offset += 16 + payload_size
    return None


def ca_search(pv_name: str, port: int, *, host: str = LOCALHOST,
              timeout: float = 0.2) -> int | None:
    """Send one UDP search for ``pv_name`` to host:port; the TCP port from the reply, or None."""
    cid = next(_cid_counter) & 0xFFFFFFFF
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        try:
            sock.sendto(pack_search_request(pv_name, cid), (host, port))
        except OSError:
            return None
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                datagram, _source = sock.recvfrom(65536)
            except (TimeoutError, ConnectionRefusedError):
                # ICMP port unreachable surfaces as ECONNREFUSED on Linux: not up yet.
                return None
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.EAGAIN):
                    return None
                raise
            reply = parse_search_reply(datagram, cid)
            if reply is not None:
                return reply[0]
    return None


_CMD_CREATE_CHAN = 18
_CMD_ACCESS_RIGHTS = 22
_CMD_CREATE_CH_FAIL = 26
_CMD_ERROR = 11
_CMD_CLIENT_NAME = 20
_CMD_HOST_NAME = 21
_DBR_NAMES = ("STRING", "SHORT", "FLOAT", "ENUM", "CHAR", "LONG", "DOUBLE")


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("server closed the circuit")
        data += chunk
    return data


def ca_channel_info(pv_name: str, tcp_port: int, *, host: str = LOCALHOST,
                    timeout: float = 2.0) -> tuple[str, int, int]:
    """Create a channel over a raw TCP circuit: (native type name, native count, access bits).

    Type names as in SOFTIOC_PVS ("DOUBLE", "SHORT", ...); access bit 0 READ, bit 1 WRITE.
    Raises LookupError if the server refuses the channel.
    """
    cid = next(_cid_counter) & 0xFFFFFFFF
    name = _pad8(pv_name.encode() + b"\0")
    user = _pad8(b"caprobe-tests\0")
    request = (
        struct.pack(">HHHHII", _CMD_VERSION, 0, 0, _CA_MINOR_VERSION, 0, 0)
        + struct.pack(">HHHHII", _CMD_HOST_NAME, len(user), 0, 0, 0, 0) + user
        + struct.pack(">HHHHII", _CMD_CLIENT_NAME, len(user), 0, 0, 0, 0) + user
        + struct.pack(">HHHHII", _CMD_CREATE_CHAN, len(name), 0, 0, cid, _CA_MINOR_VERSION)
        + name
    )
    access = 0
    with socket.create_connection((host, tcp_port), timeout=timeout) as sock:
        sock.sendall(request)
        while True:
            command, size, data_type, count, p1, p2 = struct.unpack(
                ">HHHHII", _recv_exactly(sock, 16))
            if size == 0xFFFF and count == 0:  # extended header
                size, count = struct.unpack(">II", _recv_exactly(sock, 8))
            _recv_exactly(sock, size)
            if command == _CMD_ACCESS_RIGHTS and p1 == cid:
                access = p2
            elif command == _CMD_CREATE_CHAN and p1 == cid:
                return _DBR_NAMES[data_type], count, access
            elif command in (_CMD_CREATE_CH_FAIL, _CMD_ERROR):
                raise LookupError(f"server refused channel {pv_name!r} (command {command})")


# ---------------------------------------------------------------------------------------------
# Servers

_live_servers: set[Server] = set()
_live_lock = threading.Lock()


def _kill_all_at_exit() -> None:
    with _live_lock:
        servers = list(_live_servers)
    for server in servers:
        server.kill()


atexit.register(_kill_all_at_exit)


def random_prefix() -> str:
    """A unique PV prefix such as ``cpt3f9a1c2b:``."""
    return f"cpt{uuid.uuid4().hex[:8]}:"


def loopback_client_env(port: int) -> dict[str, str]:
    """The CA client environment that reaches a server on 127.0.0.1:port and nothing else."""
    return {
        "EPICS_CA_ADDR_LIST": LOCALHOST,
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CA_REPEATER_PORT": str(port + 1),
    }


def loopback_server_env(port: int) -> dict[str, str]:
    """Environment for a server process: its ports, and loopback for everything it sends."""
    env = loopback_client_env(port)
    env.update({
        "EPICS_CAS_SERVER_PORT": str(port),
        "EPICS_CAS_INTF_ADDR_LIST": LOCALHOST,
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_BEACON_ADDR_LIST": LOCALHOST,
        "EPICS_CAS_BEACON_PORT": str(port + 1),
        "EPICS_CAS_IGNORE_ADDR_LIST": "",
        # PVA is disabled in the soft IOC; pinned anyway in case something starts it.
        "EPICS_PVA_ADDR_LIST": LOCALHOST,
        "EPICS_PVA_AUTO_ADDR_LIST": "NO",
        "EPICS_PVAS_INTF_ADDR_LIST": LOCALHOST,
        "EPICS_PVAS_BEACON_ADDR_LIST": LOCALHOST,
        "EPICS_PVAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_PVAS_IGNORE_ADDR_LIST": "",
        "PYTHONUNBUFFERED": "1",
    })
    return env


class Server:
    """A CA server subprocess on 127.0.0.1.

    Attributes: ``kind`` ('softioc' | 'caproto' | module name), ``prefix``, ``port`` (UDP
    search port = client EPICS_CA_SERVER_PORT), ``tcp_port`` (from the last search reply;
    rsrv may fall back to a dynamic TCP port after a restart), ``pid``, ``process``,
    ``probe_pv`` (the PV used for readiness), ``log_path`` (stdout+stderr of the process),
    ``start_time`` (seconds the last start took until it answered a search).
    ``env`` is the client environment for this server (see ``loopback_client_env``).
    """

    def __init__(self, kind: str, command: list[str], *, prefix: str, probe_pv: str,
                 port_lock: PortLock | None, port: int,
                 extra_env: Mapping[str, str] | None = None,
                 start_timeout: float = DEFAULT_START_TIMEOUT) -> None:
        self.kind = kind
        self.command = list(command)
        self.prefix = prefix
        self.probe_pv = probe_pv
        self.port = port
        self.tcp_port: int | None = None
        self.start_timeout = start_timeout
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.start_time: float | None = None
        self._port_lock = port_lock
        log_dir = Path(tempfile.gettempdir()) / "caprobe-test-servers"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{kind.rsplit('.', 1)[-1]}-{prefix.rstrip(':')}.log"

    def __repr__(self) -> str:
        return (f"<Server {self.kind} prefix={self.prefix!r} port={self.port} "
                f"tcp_port={self.tcp_port} pid={self.pid}>")

    # -- environment -----------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """Client environment reaching this server (and only loopback)."""
        return loopback_client_env(self.port)

    def client_environ(self) -> dict[str, str]:
        """os.environ plus ``env``: for running a CLI client as a subprocess against this server."""
        return {**os.environ, **self.env}

    @property
    def server_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in list(env):
            if key.startswith(("EPICS_CA", "EPICS_PVA")):
                del env[key]
        env.update(loopback_server_env(self.port))
        env.update(self.extra_env)
        return env

    def pv(self, suffix: str) -> str:
        """Full PV name: ``server.pv('ai')`` -> ``'cpt1234abcd:ai'``."""
        return self.prefix + suffix

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def address(self) -> str:
        """'127.0.0.1:<tcp port>' as a client reports it after connecting."""
        return f"{LOCALHOST}:{self.tcp_port}"

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """What the process printed so far (stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Server:
        """Start the process and wait until it answers a search (raises ServerStartError)."""
        if self.is_running():
            raise RuntimeError(f"{self!r} is already running")
        began = time.monotonic()
        child_command = list(self.command)
        if threading.current_thread() is threading.main_thread():
            # PR_SET_PDEATHSIG follows the forking thread; only tie to the main thread.
            child_command[2:2] = ["--parent-pid", str(os.getpid())]
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')} port {self.port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                child_command, env=self.server_env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, cwd=str(IOC_DIR),
            )
        with _live_lock:
            _live_servers.add(self)
        try:
            self.wait_ready(self.start_timeout)
        except BaseException:
            self.kill()
            raise
        self.start_time = time.monotonic() - began
        return self

    def wait_ready(self, timeout: float = DEFAULT_START_TIMEOUT) -> int:
        """Poll a UDP search for ``probe_pv`` until answered; returns (and sets) tcp_port."""
        deadline = time.monotonic() + timeout
        attempt_timeout = 0.05
        while True:
            if not self.is_running():
                code = self.process.returncode if self.process else None
                raise ServerStartError(
                    f"{self.kind} server exited with {code} before answering a search for "
                    f"{self.probe_pv} on {LOCALHOST}:{self.port}; output:\n{self.output()}")
            tcp_port = ca_search(self.probe_pv, self.port, timeout=attempt_timeout)
            if tcp_port is not None:
                self.tcp_port = tcp_port
                return tcp_port
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.kind} server (pid {self.pid}) did not answer a search for "
                    f"{self.probe_pv} on {LOCALHOST}:{self.port} within {timeout} s; "
                    f"output:\n{self.output()}")
            attempt_timeout = min(attempt_timeout * 1.5, 0.5)

    def search(self, suffix_or_name: str | None = None, timeout: float = 1.0) -> int | None:
        """Raw UDP search for a PV (suffix or full name; default the probe PV): TCP port|None."""
        name = self.probe_pv if suffix_or_name is None else suffix_or_name
        if not name.startswith(self.prefix):
            name = self.prefix + name
        return ca_search(name, self.port, timeout=timeout)

    def channel_info(self, suffix_or_name: str) -> tuple[str, int, int]:
        """Raw CREATE_CHAN: (native type name, native count, access bits); see ca_channel_info."""
        name = suffix_or_name if suffix_or_name.startswith(self.prefix) else self.pv(
            suffix_or_name)
        tcp_port = self.search(name)
        if tcp_port is None:
            raise LookupError(f"no search reply for {name!r} from {LOCALHOST}:{self.port}")
        return ca_channel_info(name, tcp_port)

    def _signal(self, signum: int) -> None:
        if self.is_running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL by PID and reap. Safe to call any number of times."""
        if self.process is not None:
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        with _live_lock:
            _live_servers.discard(self)

    def terminate(self, timeout: float = 5.0) -> None:
        """SIGTERM (clean exit), then SIGKILL if it is still running after ``timeout``."""
        if self.is_running():
            self._signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            self._signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self.kill()

    def stop(self) -> None:
        """SIGSTOP: the server stays bound but answers nothing (a hung IOC / dead network)."""
        self._signal(signal.SIGSTOP)

    def cont(self) -> None:
        """SIGCONT after ``stop()``."""
        self._signal(signal.SIGCONT)

    def restart(self, same_port: bool = True) -> Server:
        """Kill and start again (same UDP port by default, else a new free one); waits ready.

        rsrv binds the TCP port with SO_REUSEADDR; if it cannot, it serves on a dynamic TCP
        port, which the search reply announces (``tcp_port`` is updated).
        """
        self.kill()
        if not same_port:
            new_lock = reserve_port()
            if self._port_lock is not None:
                self._port_lock.release()
            self._port_lock = new_lock
            self.port = new_lock.port  # servers read their port from server_env
        self.tcp_port = None
        return self.start()

    def close(self) -> None:
        """Kill the process and any repeater left on port+1; release the port reservation."""
        self.kill()
        if self._port_lock is not None:
            kill_repeaters(self.port)
            self._port_lock.release()
            self._port_lock = None

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _claim_port(port: int | None) -> tuple[PortLock | None, int]:
    if port is None:
        lock = reserve_port()
        return lock, lock.port
    return _lock_given_port(port), port


def _first_record_name(db: Path, prefix: str, macros: Mapping[str, str]) -> str:
    match = re.search(r'record\s*\(\s*\w+\s*,\s*"([^"]+)"', db.read_text())
    if match is None:
        raise ValueError(f"no record in {db}; pass probe_pv")
    name = match.group(1)
    for key, value in {"P": prefix, **macros}.items():
        name = name.replace(f"$({key})", value).replace(f"${{{key}}}", value)
    return name


def _launch(server: Server) -> Server:
    try:
        return server.start()
    except BaseException:
        server.close()
        raise


def start_softioc(prefix: str | None = None, db: str | os.PathLike[str] | Iterable[
                      str | os.PathLike[str]] = TEST_DB,
                  acf: str | os.PathLike[str] | None = TEST_ACF, port: int | None = None, *,
                  macros: Mapping[str, str] | None = None, probe_pv: str | None = None,
                  ramps: Iterable[str] | None = None,
                  extra_env: Mapping[str, str] | None = None,
                  timeout: float = DEFAULT_START_TIMEOUT) -> Server:
    """Start an EPICS base (rsrv) soft IOC serving ``db`` (macro P = prefix); wait until ready.

    ``extra_env`` goes to the IOC process, e.g. {"EPICS_CA_MAX_ARRAY_BYTES": "100000",
    "EPICS_CA_AUTO_ARRAY_BYTES": "NO"}. ``probe_pv`` defaults to the first record of the first
    database file. ``ramps``: DOUBLE waveform suffixes filled with 0, 1, 2, ... after iocInit
    (default: wf_big and wf_300k when ``db`` is tests/ioc/test.db).
    """
    prefix = random_prefix() if prefix is None else prefix
    dbs = [Path(db)] if isinstance(db, (str, os.PathLike)) else [Path(d) for d in db]
    macros = dict(macros or {})
    command = [sys.executable, str(IOC_DIR / "run_softioc.py"), "--prefix", prefix]
    for path in dbs:
        command += ["--db", str(path.resolve())]
    if macros:
        command += ["--macros", ",".join(f"{k}={v}" for k, v in macros.items())]
    if acf is not None:
        command += ["--acf", str(Path(acf).resolve())]
    if ramps is None:
        ramps = ("wf_big", "wf_300k") if dbs == [TEST_DB] else ()
    for suffix in ramps:
        command += ["--ramp", suffix]
    probe = probe_pv or _first_record_name(dbs[0], prefix, macros)
    lock, port = _claim_port(port)
    return _launch(Server("softioc", command, prefix=prefix, probe_pv=probe, port_lock=lock,
                          port=port, extra_env=extra_env, start_timeout=timeout))


def many_records_db(path: str | os.PathLike[str], count: int, *, scan: str = "Passive",
                    read_only_every: int = 0) -> Path:
    """Write a database of ``count`` ao records ``$(P)m0`` ... (VAL = index, PREC 2, EGU mA)
    processed at ``scan`` (e.g. ".1 second" for 10 Hz monitors: a calc ``$(P)m<i>`` then,
    counting up). With ``read_only_every`` N, every N-th record is in ASG RO (read only)."""
    lines = []
    for i in range(count):
        asg = '    field(ASG, "RO")\n' if read_only_every and i % read_only_every == 0 else ""
        if scan == "Passive":
            lines.append(f'record(ao, "$(P)m{i}") {{\n    field(VAL, "{i}")\n'
                         f'    field(PREC, "2")\n    field(EGU, "mA")\n    field(DRVH, "1e9")\n'
                         f'    field(DRVL, "-1e9")\n{asg}}}\n')
        else:
            lines.append(f'record(calc, "$(P)m{i}") {{\n    field(SCAN, "{scan}")\n'
                         f'    field(CALC, "A+1")\n    field(INPA, "$(P)m{i} NPP")\n'
                         f'    field(PREC, "0")\n{asg}}}\n')
    out = Path(path)
    out.write_text("".join(lines))
    return out


def start_caproto_ioc(prefix: str | None = None, port: int | None = None, *,
                      extra_env: Mapping[str, str] | None = None,
                      timeout: float = DEFAULT_START_TIMEOUT) -> Server:
    """Start tests/ioc/caproto_ioc.py (PVs in ``CAPROTO_PVS``); wait until ready."""
    prefix = random_prefix() if prefix is None else prefix
    command = [sys.executable, str(IOC_DIR / "caproto_ioc.py"), "--prefix", prefix,
               "--interfaces", LOCALHOST, "--list-pvs"]
    lock, port = _claim_port(port)
    return _launch(Server("caproto", command, prefix=prefix, probe_pv=prefix + "double",
                          port_lock=lock, port=port, extra_env=extra_env,
                          start_timeout=timeout))


def start_pcaspy_ioc(prefix: str | None = None, port: int | None = None, *,
                     extra_env: Mapping[str, str] | None = None,
                     timeout: float = DEFAULT_START_TIMEOUT) -> Server:
    """Start tests/ioc/pcaspy_ioc.py (PVs in ``PCASPY_PVS``); wait until ready."""
    prefix = random_prefix() if prefix is None else prefix
    command = [sys.executable, str(IOC_DIR / "pcaspy_ioc.py"), "--prefix", prefix]
    lock, port = _claim_port(port)
    return _launch(Server("pcaspy", command, prefix=prefix, probe_pv=prefix + "double",
                          port_lock=lock, port=port, extra_env=extra_env,
                          start_timeout=timeout))


_EXAMPLE_PROBES = {
    "caproto.ioc_examples.random_walk": "x",
    "caproto.ioc_examples.simple": "A",
    "caproto.ioc_examples.thermo_sim": "I",
}


def start_caproto_example(module: str = "caproto.ioc_examples.random_walk",
                          prefix: str | None = None, port: int | None = None, *,
                          probe_suffix: str | None = None, args: Iterable[str] = (),
                          extra_env: Mapping[str, str] | None = None,
                          timeout: float = DEFAULT_START_TIMEOUT) -> Server:
    """Run a caproto example IOC module (ioc_arg_parser style) on loopback; wait until ready.

    ``probe_suffix`` is a PV suffix the module serves; known for random_walk ('x'), simple
    ('A') and thermo_sim ('I').
    """
    prefix = random_prefix() if prefix is None else prefix
    suffix = probe_suffix or _EXAMPLE_PROBES.get(module)
    if suffix is None:
        raise ValueError(f"pass probe_suffix: which PV does {module} serve?")
    command = [sys.executable, str(IOC_DIR / "run_module.py"), module, "--prefix", prefix,
               "--interfaces", LOCALHOST, *args]
    lock, port = _claim_port(port)
    return _launch(Server(module, command, prefix=prefix, probe_pv=prefix + suffix,
                          port_lock=lock, port=port, extra_env=extra_env,
                          start_timeout=timeout))


def established_circuits(port: int) -> int:
    """TCP connections this process holds to ``port`` (what the server sees as circuits)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count
