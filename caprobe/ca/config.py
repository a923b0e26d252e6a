"""EPICS_CA_* environment: search destinations, ports, timeouts, array limits.

Read afresh on each call (cheap), so a changed environment takes effect at once; interface
broadcast addresses are cached briefly because finding them costs system calls.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
import time

from caprobe.ca.errors import CATimeoutError, ConfigurationError
from caprobe.ca.frozen import Frozen

DEFAULT_SERVER_PORT = 5064
DEFAULT_REPEATER_PORT = 5065
DEFAULT_CONN_TMO = 30.0
DEFAULT_MAX_ARRAY_BYTES = 16384


class CAConfig(Frozen):
    __slots__ = ("addresses", "name_servers", "server_port", "repeater_port", "conn_tmo",
                 "max_array_bytes")
    addresses: tuple[tuple[str, int], ...]  # UDP search destinations
    name_servers: tuple[tuple[str, int], ...]  # TCP search destinations (CA V4.12)
    server_port: int
    repeater_port: int
    conn_tmo: float
    max_array_bytes: int | None  # None: allocate as needed (EPICS_CA_AUTO_ARRAY_BYTES)

    def describe_destinations(self) -> str:
        parts = [f"{h}:{p}" for h, p in self.addresses]
        parts += [f"{h}:{p} (TCP name server)" for h, p in self.name_servers]
        return ", ".join(parts) if parts else "(none)"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise ConfigurationError(f"{name}={raw!r} is not a port number (1-65535)")
    return value


def _is_no(value: str) -> bool:
    # EPICS treats any value containing "no"/"NO" as off; accept every case to be forgiving.
    return "no" in value.lower()


def _resolve(host: str, deadline: float | None) -> str:
    """IPv4 address of ``host``; a name lookup waits at most until ``deadline`` (it goes on
    in the background and is cached for the next call)."""
    try:
        socket.inet_aton(host)
        if host.count(".") == 3:
            return host
    except OSError:
        pass
    with _resolved_lock:
        known = _resolved.get(host)
        if known is not None and time.monotonic() - known[0] < _CONFIG_TTL:
            return known[1]
        done = _resolving.get(host)
        if done is None:
            done = _resolving[host] = threading.Event()
            threading.Thread(target=_look_up, args=(host, done), daemon=True,
                             name="caprobe-resolve").start()
    wait = None if deadline is None else max(0.0, deadline - time.monotonic())
    if not done.wait(wait):
        raise _ResolveTimeout(host)
    with _resolved_lock:
        known = _resolved.get(host)
    if known is None or not known[1]:
        raise OSError(f"cannot resolve {host!r}")
    return known[1]


class _ResolveTimeout(Exception):
    pass


_resolved: dict[str, tuple[float, str]] = {}
_resolving: dict[str, threading.Event] = {}
_resolved_lock = threading.Lock()


def _look_up(host: str, done: threading.Event) -> None:
    try:
        ip = socket.gethostbyname(host)
    except (OSError, UnicodeError):
        ip = ""
    with _resolved_lock:
        _resolved[host] = (time.monotonic(), ip)
        _resolving.pop(host, None)
    done.set()


def parse_address_list(var: str, value: str, default_port: int,
                       deadline: float | None = None) -> tuple[tuple[str, int], ...]:
    """Parse 'host[:port] host[:port] ...' into resolved (ipv4, port) pairs, in order.
    Name lookups end at ``deadline`` (CATimeoutError), so a slow DNS server cannot stretch
    a call beyond its timeout."""
    out: list[tuple[str, int]] = []
    for entry in value.split():
        host, sep, port_text = entry.partition(":")
        if not host or (sep and not port_text) or ":" in port_text:
            raise ConfigurationError(f"{var} entry {entry!r} is not host[:port]")
        port = default_port
        if sep:
            try:
                port = int(port_text)
            except ValueError:
                raise ConfigurationError(f"{var} entry {entry!r}: {port_text!r} is not a port "
                                         "number") from None
            if not 1 <= port <= 65535:
                raise ConfigurationError(f"{var} entry {entry!r}: port out of range")
        try:
            ip = _resolve(host, deadline)
        except _ResolveTimeout:
            raise CATimeoutError(f"{var} entry {entry!r}: looking up host {host!r} took longer "
                                 "than the timeout") from None
        except (OSError, UnicodeError):
            raise ConfigurationError(f"{var} entry {entry!r}: host {host!r} cannot be "
                                     "resolved") from None
        if (ip, port) not in out:
            out.append((ip, port))
    return tuple(out)


_bcast_cache: tuple[float, tuple[str, ...]] = (0.0, ())
_bcast_lock = threading.Lock()


def _linux_broadcast_addresses() -> tuple[str, ...]:
    import fcntl  # Linux/Unix only

    SIOCGIFFLAGS, SIOCGIFBRDADDR = 0x8913, 0x8919
    IFF_UP, IFF_BROADCAST = 0x1, 0x2
    out: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _index, name in socket.if_nameindex():
            req = struct.pack("256s", name.encode()[:15])
            try:
                flags = struct.unpack_from("H", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req), 16)[0]
                if not (flags & IFF_UP and flags & IFF_BROADCAST):
                    continue
                res = fcntl.ioctl(s.fileno(), SIOCGIFBRDADDR, req)
            except OSError:
                continue  # no IPv4 address on this interface
            addr = socket.inet_ntoa(res[20:24])
            if addr not in out and addr != "0.0.0.0":
                out.append(addr)
    return tuple(out)


def broadcast_addresses() -> tuple[str, ...]:
    """Broadcast addresses of the up, broadcast-capable IPv4 interfaces (cached 10 s)."""
    global _bcast_cache
    with _bcast_lock:
        stamp, cached = _bcast_cache
        if time.monotonic() - stamp < 10.0 and stamp:
            return cached
        try:
            found = _linux_broadcast_addresses() if sys.platform.startswith("linux") else ()
        except (OSError, ImportError):
            found = ()
        if not found and not sys.platform.startswith("linux"):
            found = ("255.255.255.255",)
        _bcast_cache = (time.monotonic(), found)
        return found


_ENV_VARS = ("EPICS_CA_SERVER_PORT", "EPICS_CA_REPEATER_PORT", "EPICS_CA_ADDR_LIST",
             "EPICS_CA_AUTO_ADDR_LIST", "EPICS_CA_NAME_SERVERS", "EPICS_CA_CONN_TMO",
             "EPICS_CA_MAX_ARRAY_BYTES")
_config_cache: dict[tuple[str | None, ...], tuple[float, CAConfig]] = {}
_CONFIG_TTL = 5.0  # host names in the lists are re-resolved this often


def load_config(deadline: float | None = None) -> CAConfig:
    """The client configuration from the environment; malformed entries raise. Host names in
    the address lists are looked up until ``deadline`` at most (CATimeoutError after).

    Parsed once per distinct environment (and re-resolved every few seconds), because every
    one-shot call needs it and parsing costs more than a loopback round trip.
    """
    key = tuple(os.environ.get(name) for name in _ENV_VARS)
    cached = _config_cache.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _CONFIG_TTL:
        return cached[1]
    config = _load_config(deadline)
    if len(_config_cache) > 32:
        _config_cache.clear()
    _config_cache[key] = (now, config)
    return config


def _load_config(deadline: float | None) -> CAConfig:
    env = os.environ
    server_port = _port("EPICS_CA_SERVER_PORT", DEFAULT_SERVER_PORT)
    repeater_port = _port("EPICS_CA_REPEATER_PORT", DEFAULT_REPEATER_PORT)
    addresses = list(parse_address_list("EPICS_CA_ADDR_LIST", env.get("EPICS_CA_ADDR_LIST", ""),
                                        server_port, deadline))
    if not _is_no(env.get("EPICS_CA_AUTO_ADDR_LIST", "YES")):
        bcast = broadcast_addresses() or ("127.0.0.1",)
        for ip in bcast:
            if (ip, server_port) not in addresses:
                addresses.append((ip, server_port))
    name_servers = parse_address_list("EPICS_CA_NAME_SERVERS",
                                      env.get("EPICS_CA_NAME_SERVERS", ""), server_port,
                                      deadline)
    raw_tmo = env.get("EPICS_CA_CONN_TMO", "").strip()
    try:
        conn_tmo = float(raw_tmo) if raw_tmo else DEFAULT_CONN_TMO
    except ValueError:
        raise ConfigurationError(f"EPICS_CA_CONN_TMO={raw_tmo!r} is not a number of seconds"
                                 ) from None
    if not conn_tmo > 0:
        raise ConfigurationError(f"EPICS_CA_CONN_TMO={raw_tmo!r} must be positive")
    raw_max = env.get("EPICS_CA_MAX_ARRAY_BYTES", "").strip()
    max_array_bytes: int | None = None
    if raw_max:
        try:
            max_array_bytes = int(raw_max)
        except ValueError:
            raise ConfigurationError(
                f"EPICS_CA_MAX_ARRAY_BYTES={raw_max!r} is not a number of bytes") from None
        if max_array_bytes < DEFAULT_MAX_ARRAY_BYTES:
            max_array_bytes = DEFAULT_MAX_ARRAY_BYTES  # libca's floor
    return CAConfig(tuple(addresses), name_servers, server_port, repeater_port, conn_tmo,
                    max_array_bytes)
