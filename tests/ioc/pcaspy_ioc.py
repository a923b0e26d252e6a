"""A pcaspy server (EPICS base's portable CA server library, PCAS) for interop tests:
``pcaspy_ioc.py --prefix P``.

Started as a subprocess by tests/servers.py, which sets EPICS_CAS_INTF_ADDR_LIST,
EPICS_CAS_SERVER_PORT and the beacon variables so it stays on loopback and its own ports.
PVs and their native CA types are listed in tests/servers.py PCASPY_PVS.
"""

from __future__ import annotations

import argparse
import threading
import time

import _child
from pcaspy import Alarm, Driver, Severity, SimpleServer

PVDB = {
    "double": {"type": "float", "value": 1.5, "prec": 3, "unit": "mm",
               "lolim": -10.0, "hilim": 10.0, "lolo": -9.0, "low": -5.0, "high": 5.0,
               "hihi": 9.0},
    "long": {"type": "int", "value": 42, "unit": "cts"},
    "short": {"type": "short", "value": 7},
    "enum": {"type": "enum", "enums": ["Off", "On", "Fault"],
             "states": [Severity.NO_ALARM, Severity.NO_ALARM, Severity.MAJOR_ALARM]},
    "string": {"type": "string", "value": "hello"},
    "char_array": {"type": "char", "count": 256, "value": "hello world"},
    "double_array": {"type": "float", "count": 10, "value": [0.5, 1.5, 2.5, 3.5, 4.5]},
    "long_array": {"type": "int", "count": 10, "value": [1, -2, 3, 2**31 - 1, -(2**31)]},
    "rejects": {"type": "float", "value": 2.5},  # the driver refuses every write
    "slow": {"type": "float", "value": 0.0, "asyn": True},  # put completes 0.5 s later
    "counter": {"type": "int", "value": 0},  # +1 every 10 ms while the server runs
}


class TestDriver(Driver):
    def write(self, reason: str, value: object) -> bool:
        if reason == "rejects":
            return False
        if reason == "slow":
            self.setParam(reason, value)
            threading.Timer(0.5, self._complete, args=(reason,)).start()
            return True
        self.setParam(reason, value)
        return True

    def _complete(self, reason: str) -> None:
        self.callbackPV(reason)

    def count(self) -> None:
        value = self.getParam("counter") + 1
        self.setParam("counter", value)
        self.setParamStatus("counter", Alarm.NO_ALARM, Severity.NO_ALARM)
        self.updatePVs()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--parent-pid", type=int, help="exit when this process dies")
    args = parser.parse_args()
    _child.die_with_parent(args.parent_pid)
    server = SimpleServer()
    server.createPV(args.prefix, PVDB)
    driver = TestDriver()
    for name in PVDB:  # a defined, alarm-free start, as an IOC after PINI
        driver.setParamStatus(name, Alarm.NO_ALARM, Severity.NO_ALARM)
    driver.updatePVs()
    next_count = time.monotonic()
    while True:
        server.process(0.002)
        if time.monotonic() >= next_count:
            driver.count()
            next_count += 0.01


if __name__ == "__main__":
    main()
