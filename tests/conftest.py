"""Shared pytest fixtures: real CA servers on loopback (see tests/servers.py).

Fixtures
- ``softioc_server`` (session): EPICS base rsrv IOC with tests/ioc/test.db (``SOFTIOC_PVS``).
- ``caproto_server`` (session): caproto IOC tests/ioc/caproto_ioc.py (``CAPROTO_PVS``).
- ``pcaspy_server`` (session): pcaspy (PCAS) server tests/ioc/pcaspy_ioc.py (``PCASPY_PVS``).
- ``softioc_env`` / ``caproto_env`` / ``pcaspy_env`` (function): the session server, with its client env
  applied to os.environ for the test (monkeypatch), so in-process CA calls find it.
- ``ca_env`` (function): ``ca_env(server)`` applies any server's env; returns the server.
- ``ioc_factory`` (function): private servers a test may kill/stop/restart; all killed after.
- ``free_port`` (function): a free CA port P (P, P+1 free), reserved for the test.
- ``p4p_server`` / ``qsrv_server`` (session): PV Access servers (tests/pva_servers.py): the p4p
  server with every normative type, and test.db over CA and QSRV.
- ``pva_env`` (function): ``pva_env(server)`` points this test's PVA client environment at it.

The session servers are shared: a test that changes a PV should restore it or use
``ioc_factory``.
"""

from __future__ import annotations

import os

# Before anything can import Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import atexit  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

# Test modules import the harness as ``import servers`` / ``from servers import ...`` whether
# or not tests/ is a package; "tests.servers" is aliased to the same module object.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
import servers  # noqa: E402

sys.modules.setdefault("tests.servers", servers)

# No test may search beyond loopback, and a client with no server env must not touch the real
# EPICS ports 5064/5065 (not even to spawn a repeater): default to a reserved port pair on
# which nothing listens. Fixtures override these per test.
_NULL_PORT = servers.reserve_port()
atexit.register(servers.kill_repeaters, _NULL_PORT.port)
os.environ.update({
    "EPICS_CA_AUTO_ADDR_LIST": "NO",
    "EPICS_CA_ADDR_LIST": servers.LOCALHOST,
    "EPICS_CA_SERVER_PORT": str(_NULL_PORT.port),
    "EPICS_CA_REPEATER_PORT": str(_NULL_PORT.port + 1),
})
# The same for PV Access (caprobe.pva, p4p): loopback only, a reserved pair nobody serves on.
_NULL_PVA_PORT = servers.reserve_port()
os.environ.update({
    "EPICS_PVA_AUTO_ADDR_LIST": "NO",
    "EPICS_PVA_ADDR_LIST": servers.LOCALHOST,
    "EPICS_PVA_NAME_SERVERS": "",
    "EPICS_PVA_INTF_ADDR_LIST": servers.LOCALHOST,
    "EPICS_PVA_SERVER_PORT": str(_NULL_PVA_PORT.port),
    "EPICS_PVA_BROADCAST_PORT": str(_NULL_PVA_PORT.port + 1),
})


# Repeaters that caprobe spawns (detached, by design) during tests inherit this marker, so the
# session can find and kill exactly those processes, by PID, when it ends.
_SESSION_MARKER = f"CAPROBE_TEST_SESSION={os.getpid()}-{time.time_ns()}"
os.environ["CAPROBE_TEST_SESSION"] = _SESSION_MARKER.split("=", 1)[1]


def _kill_spawned_repeaters() -> None:  # also at exit, for interrupted sessions
    marker = _SESSION_MARKER.encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                if b"repeater" not in f.read():
                    continue
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if marker not in f.read().split(b"\0"):
                    continue
            os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


atexit.register(_kill_spawned_repeaters)


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_repeaters() -> Iterator[None]:
    yield
    _kill_spawned_repeaters()


@pytest.fixture(scope="session")
def softioc_server() -> Iterator[servers.Server]:
    """Session-wide EPICS base rsrv IOC (tests/ioc/test.db, ACF tests/ioc/test.acf)."""
    server = servers.start_softioc()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def caproto_server() -> Iterator[servers.Server]:
    """Session-wide caproto IOC (tests/ioc/caproto_ioc.py)."""
    server = servers.start_caproto_ioc()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pcaspy_server() -> Iterator[servers.Server]:
    """Session-wide pcaspy server (tests/ioc/pcaspy_ioc.py), EPICS base's PCAS library."""
    server = servers.start_pcaspy_ioc()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def ca_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[servers.Server], servers.Server]:
    """``ca_env(server)``: point this test's CA client environment at ``server``."""

    def apply(server: servers.Server) -> servers.Server:
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        return server

    return apply


def _revived(server: servers.Server) -> servers.Server:
    # A test that stopped or killed a shared server must not break every later test.
    server.cont()
    if not server.is_running():
        server.restart()
    return server


@pytest.fixture
def softioc_env(softioc_server: servers.Server,
                ca_env: Callable[[servers.Server], servers.Server]) -> servers.Server:
    """The session soft IOC (running), with its env in os.environ for this test."""
    return ca_env(_revived(softioc_server))


@pytest.fixture
def caproto_env(caproto_server: servers.Server,
                ca_env: Callable[[servers.Server], servers.Server]) -> servers.Server:
    """The session caproto IOC (running), with its env in os.environ for this test."""
    return ca_env(_revived(caproto_server))


@pytest.fixture
def pcaspy_env(pcaspy_server: servers.Server,
               ca_env: Callable[[servers.Server], servers.Server]) -> servers.Server:
    """The session pcaspy server (running), with its env in os.environ for this test."""
    return ca_env(_revived(pcaspy_server))


class IocFactory:
    """Starts private servers for one test and kills them all (by PID) afterwards.

    ``ioc_factory.softioc(**kw)`` / ``.caproto(**kw)`` / ``.caproto_example(module, **kw)``
    take the arguments of servers.start_softioc / start_caproto_ioc / start_caproto_example;
    ``use_env=True`` also applies the server's env to os.environ for the test.
    """

    def __init__(self, ca_env: Callable[[servers.Server], servers.Server]) -> None:
        self._ca_env = ca_env
        self.servers: list[servers.Server] = []

    def _track(self, starter: Callable[..., servers.Server], use_env: bool,
               **kwargs: Any) -> servers.Server:
        server = starter(**kwargs)
        self.servers.append(server)
        if use_env:
            self._ca_env(server)
        return server

    def softioc(self, *, use_env: bool = False, **kwargs: Any) -> servers.Server:
        return self._track(servers.start_softioc, use_env, **kwargs)

    def caproto(self, *, use_env: bool = False, **kwargs: Any) -> servers.Server:
        return self._track(servers.start_caproto_ioc, use_env, **kwargs)

    def caproto_example(self, module: str = "caproto.ioc_examples.random_walk", *,
                        use_env: bool = False, **kwargs: Any) -> servers.Server:
        return self._track(servers.start_caproto_example, use_env, module=module, **kwargs)

    __call__ = softioc

    def close(self) -> None:
        for server in self.servers:
            server.close()
        self.servers.clear()


@pytest.fixture
def ioc_factory(ca_env: Callable[[servers.Server], servers.Server]) -> Iterator[IocFactory]:
    """Private servers for this test; every one is killed at teardown, pass or fail."""
    factory = IocFactory(ca_env)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def free_port() -> Iterator[int]:
    """A CA port P with TCP P, UDP P and UDP P+1 free on loopback, reserved for this test."""
    lock = servers.reserve_port()
    try:
        yield lock.port
    finally:
        lock.release()


# ---------------------------------------------------------------------------------------------
# PV Access (tests/pva_servers.py)


@pytest.fixture(scope="session")
def p4p_server() -> Iterator[servers.Server]:
    """Session-wide p4p server (tests/ioc/p4p_server.py, PVs in pva_servers.P4P_PVS)."""
    pva_servers = pytest.importorskip("pva_servers")
    pytest.importorskip("p4p")
    server = pva_servers.start_p4p_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def qsrv_server() -> Iterator[servers.Server]:
    """Session-wide soft IOC with tests/ioc/test.db served over CA and PVA (QSRV)."""
    pva_servers = pytest.importorskip("pva_servers")
    pytest.importorskip("p4p")
    server = pva_servers.start_qsrv_ioc()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pva_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], Any]:
    """``pva_env(server)``: point this test's PVA client environment at ``server`` (revived
    first if an earlier test killed it)."""

    def apply(server: Any) -> Any:
        _revived(server)
        for key, value in server.pva_env.items():
            monkeypatch.setenv(key, value)
        return server

    return apply
