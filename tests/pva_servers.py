"""Real PV Access servers for the tests, on loopback, each on its own ports (next to
tests/servers.py, whose Server class, port locks and kill-by-PID they reuse).

- ``start_qsrv_ioc()``: EPICS records (tests/ioc/test.db, test.acf) served over CA and over PVA
  by QSRV (pythonSoftIOC with PVA on, pvxsIoc).
- ``start_p4p_server()``: tests/ioc/p4p_server.py, a p4p server with NTScalar, NTScalarArray,
  NTEnum, NTTable, NTNDArray and a custom structure (PVs in ``P4P_PVS``).

Each server gets a second reserved port pair for PVA: TCP P (EPICS_PVAS_SERVER_PORT) and UDP
P+1 (EPICS_PVAS_BROADCAST_PORT), with EPICS_PVAS_INTF_ADDR_LIST=127.0.0.1 and beacons to
127.0.0.1 only. ``server.pva_env`` is the client environment that reaches it and nothing
else. A server is ready when a PVA search (a p4p get of its probe PV, retried with growing
timeouts) is answered; the harness never imports caprobe.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from servers import (
    DEFAULT_START_TIMEOUT,
    IOC_DIR,
    LOCALHOST,
    TEST_ACF,
    TEST_DB,
    PortLock,
    Server,
    ServerStartError,
    _claim_port,
    random_prefix,
    reserve_port,
)

P4P_PVS: dict[str, str] = {
    "double": "NTScalar double",
    "long": "NTScalar int",
    "string": "NTScalar string",
    "array": "NTScalarArray double",
    "int_array": "NTScalarArray int",
    "string_array": "NTScalarArray string",
    "enum": "NTEnum",
    "table": "NTTable",
    "custom": "caprobe:test/custom:1.0",
    "image": "NTNDArray",
    "image_live": "NTNDArray mono uint16, posted (--image-size, --image-rate)",
    "image_rgb": "NTNDArray RGB1 uint8",
    "image_jpeg": "NTNDArray, codec jpeg",
    "image_bayer": "NTNDArray, ColorMode Bayer",
    "ro": "NTScalar double (puts refused)",
    "seq": "NTScalar long (posted by burst)",
    "burst": "NTScalar long (write N: post seq 1..N at rate Hz)",
    "rate": "NTScalar double",
}


def pva_client_env(pva_port: int) -> dict[str, str]:
    """The PVA client environment that reaches a server on 127.0.0.1:pva_port only."""
    return {
        "EPICS_PVA_ADDR_LIST": LOCALHOST,
        "EPICS_PVA_AUTO_ADDR_LIST": "NO",
        "EPICS_PVA_NAME_SERVERS": "",
        "EPICS_PVA_SERVER_PORT": str(pva_port),
        "EPICS_PVA_BROADCAST_PORT": str(pva_port + 1),
        "EPICS_PVA_INTF_ADDR_LIST": LOCALHOST,
    }


def pva_server_env(pva_port: int) -> dict[str, str]:
    env = pva_client_env(pva_port)
    env.update({
        "EPICS_PVAS_INTF_ADDR_LIST": LOCALHOST,
        "EPICS_PVAS_SERVER_PORT": str(pva_port),
        "EPICS_PVAS_BROADCAST_PORT": str(pva_port + 1),
        "EPICS_PVAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_PVAS_BEACON_ADDR_LIST": LOCALHOST,
        "EPICS_PVAS_IGNORE_ADDR_LIST": "",
    })
    return env


def pva_search(pv_name: str, pva_port: int, timeout: float) -> bool:
    """True if a PVA server on 127.0.0.1 (ports pva_port/+1) answers for ``pv_name``."""
    from p4p.client.thread import Context

    conf = {key: value for key, value in pva_client_env(pva_port).items() if value}
    with Context("pva", conf=conf, useenv=False, nt=False) as ctx:
        try:
            ctx.get(pv_name, timeout=timeout)
        except Exception:
            return False
    return True


class PVAServer(Server):
    """A Server that also serves PV Access on its own port pair (``pva_port``)."""

    def __init__(self, *args: object, pva_lock: PortLock, pva_probe: str,
                 serves_ca: bool, **kwargs: object) -> None:
        self.pva_lock: PortLock | None = pva_lock
        self.pva_port = pva_lock.port
        self.pva_probe = pva_probe
        self.serves_ca = serves_ca
        extra = dict(kwargs.pop("extra_env", None) or {})  # type: ignore[arg-type]
        extra.update(pva_server_env(self.pva_port))
        super().__init__(*args, extra_env=extra, **kwargs)  # type: ignore[arg-type]

    @property
    def pva_env(self) -> dict[str, str]:
        """Client environment reaching this server over PVA (and only loopback)."""
        return pva_client_env(self.pva_port)

    def wait_ready(self, timeout: float = DEFAULT_START_TIMEOUT) -> int:
        import time

        deadline = time.monotonic() + timeout
        tcp_port = super().wait_ready(timeout) if self.serves_ca else self.pva_port
        attempt = 0.1
        while True:
            if not self.is_running():
                raise ServerStartError(f"{self.kind} exited before answering PVA for "
                                       f"{self.pva_probe}; output:\n{self.output()}")
            if pva_search(self.pva_probe, self.pva_port, attempt):
                return tcp_port
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.kind} (pid {self.pid}) did not answer PVA for {self.pva_probe} on "
                    f"{LOCALHOST}:{self.pva_port} within {timeout} s; output:\n{self.output()}")
            attempt = min(attempt * 1.5, 1.0)

    def close(self) -> None:
        super().close()
        if self.pva_lock is not None:
            self.pva_lock.release()
            self.pva_lock = None


def _launch(server: Server) -> Server:
    try:
        return server.start()
    except BaseException:
        server.close()
        raise


def start_qsrv_ioc(prefix: str | None = None, *, extra_env: Mapping[str, str] | None = None,
                   timeout: float = DEFAULT_START_TIMEOUT) -> PVAServer:
    """tests/ioc/test.db (with test.acf) over CA and, through QSRV, over PVA; wf_big holds
    0, 1, ... 999999 (8 MB)."""
    prefix = random_prefix() if prefix is None else prefix
    command = [sys.executable, str(IOC_DIR / "run_softioc.py"), "--prefix", prefix,
               "--db", str(TEST_DB), "--acf", str(TEST_ACF), "--pva", "--ramp", "wf_big"]
    lock, port = _claim_port(None)
    server = PVAServer("softioc", command, prefix=prefix, probe_pv=prefix + "ai",
                       port_lock=lock, port=port, extra_env=extra_env, start_timeout=timeout,
                       pva_lock=reserve_port(), pva_probe=prefix + "ai", serves_ca=True)
    return _launch(server)  # type: ignore[return-value]


def start_p4p_server(prefix: str | None = None, *,
                     extra_env: Mapping[str, str] | None = None,
                     timeout: float = DEFAULT_START_TIMEOUT,
                     args: Sequence[str] = ()) -> PVAServer:
    """tests/ioc/p4p_server.py (PVs in ``P4P_PVS``) over PVA; ``args`` go to the server
    (``--image-size 1024x1024 --image-rate 10``)."""
    prefix = random_prefix() if prefix is None else prefix
    command = [sys.executable, str(IOC_DIR / "p4p_server.py"), "--prefix", prefix, *args]
    lock, port = _claim_port(None)
    server = PVAServer("p4p", command, prefix=prefix, probe_pv=prefix + "double",
                       port_lock=lock, port=port, extra_env=extra_env, start_timeout=timeout,
                       pva_lock=reserve_port(), pva_probe=prefix + "double", serves_ca=False)
    return _launch(server)  # type: ignore[return-value]
