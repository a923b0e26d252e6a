"""Shared by the PV Access snapshot tests (tests/snapshot, tests/cli, tests/gui): one client
environment reaching the session p4p server and the QSRV soft IOC (which also serves CA),
and an independent p4p client that changes and checks PVs behind caprobe's back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from servers import LOCALHOST


def client_env(p4p_server: Any, qsrv_server: Any) -> dict[str, str]:
    """CA to the QSRV IOC; PVA searches to both servers (each on its own UDP port)."""
    env = dict(qsrv_server.client_environ())
    env.update(p4p_server.pva_env)
    env["EPICS_PVA_ADDR_LIST"] = (f"{LOCALHOST}:{p4p_server.pva_port + 1} "
                                  f"{LOCALHOST}:{qsrv_server.pva_port + 1}")
    return env


@contextmanager
def other_client(env: dict[str, str]) -> Iterator[Any]:
    """A bare p4p client (not caprobe) on the same servers."""
    from p4p.client.thread import Context

    conf = {key: value for key, value in env.items() if key.startswith("EPICS_PVA") and value}
    ctx = Context("pva", conf=conf, useenv=False, nt=False)
    try:
        yield ctx
    finally:
        ctx.close()


#: p4p server PVs a test may change, and their values at start (put back afterwards)
P4P_INITIAL = {"double": 1.5, "long": 42, "string": "hello", "array": [0.5, 1.5, 2.5],
               "int_array": [1, -2, 3], "string_array": ["a", "b"], "enum": 0}
#: QSRV records (over PVA) a test may change, and their values at start
QSRV_INITIAL = {"ao": 0.0, "long": 42, "mbbo": 0, "str": "hello"}


def put_back(ctx: Any, p4p_server: Any, qsrv_server: Any) -> None:
    """Every PV a test may have changed, back to its start value (the servers are shared)."""
    for table, server in ((P4P_INITIAL, p4p_server), (QSRV_INITIAL, qsrv_server)):
        for suffix, value in table.items():
            if suffix in ("mbbo", "enum"):  # NTEnum: its index
                ctx.put(server.pv(suffix), {"value.index": value}, timeout=5)
            else:
                ctx.put(server.pv(suffix), value, timeout=5)


@contextmanager
def mixed_servers(p4p_server: Any, qsrv_server: Any, pva_env: Any, ca_env: Any,
                  monkeypatch: Any) -> Iterator[tuple[dict[str, str], Any]]:
    """This process's environment pinned to both servers; yields (environment, a bare p4p
    client) and puts every PV a test may have changed back afterwards."""
    from caproto.sync.client import write as ca_write

    pva_env(p4p_server)
    pva_env(qsrv_server)
    ca_env(qsrv_server)
    env = client_env(p4p_server, qsrv_server)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with other_client(env) as other:
        try:
            yield env, other
        finally:
            put_back(other, p4p_server, qsrv_server)
            ca_write(qsrv_server.pv("long"), 42, repeater=False, timeout=5, notify=True)
