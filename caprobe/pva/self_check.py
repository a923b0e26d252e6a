"""A PV Access round trip inside this process, for ``caprobe --check`` of a packaged build:
p4p's libraries (pvxs, libevent, libCom) load and work, not only import. Nothing leaves
127.0.0.1 (p4p is imported here, lazily, as everywhere in caprobe: only inside caprobe.pva)."""

from __future__ import annotations

import os

#: A p4p server and client that talk over loopback only, on ports the system picks.
PVA_LOOPBACK = {"EPICS_PVAS_INTF_ADDR_LIST": "127.0.0.1", "EPICS_PVA_SERVER_PORT": "0",
                "EPICS_PVAS_BROADCAST_PORT": "0"}


def loopback_round_trip() -> None:
    """Serve one NTScalar from this process and read it back over loopback; raises if the
    value does not come back."""
    from p4p.client.thread import Context
    from p4p.nt import NTScalar
    from p4p.server import Server
    from p4p.server.thread import SharedPV

    pv = SharedPV(nt=NTScalar("d"), initial=1.5)
    name = f"caprobe:check:{os.getpid()}"
    with Server(providers=[{name: pv}], conf=PVA_LOOPBACK, useenv=False) as server:
        context = Context("pva", conf=server.conf(), useenv=False)
        try:
            value = context.get(name, timeout=5.0)
        finally:
            context.close()
    if float(value) != 1.5:
        raise RuntimeError(f"read {value!r} back instead of 1.5")
