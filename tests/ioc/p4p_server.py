"""A PV Access server for the tests, on p4p (pvxs): ``p4p_server.py --prefix P``.

Started as a subprocess by tests/pva_servers.py, which sets EPICS_PVAS_* so it serves on
127.0.0.1 and its own ports only. Serves (suffix: type, initial value):

- double: NTScalar double 1.5, units mm, precision 3, display +-10, control +-100,
  alarm limits 9/5/-5/-9
- long: NTScalar int 42; string: NTScalar string "hello"
- array: NTScalarArray double [0.5, 1.5, 2.5]; int_array: int [1, -2, 3];
  string_array: string ["a", "b"]
- enum: NTEnum Off/On/Fault, index 0
- table: NTTable columns a (int), b (double), c (string), two rows
- custom: structure caprobe:test/custom:1.0 {double[] a, string b, {int x} nested}
- image: NTNDArray 4 x 3 uint16, 0..11
- ro: NTScalar double 3.25; every put is refused ("Put not permitted: read-only PV")
- seq: NTScalar long, posted by burst; burst: write N to post seq = 1..N at ``rate`` Hz
  (rate: NTScalar double, default 1000) from a thread, timestamps from the clock
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

import _child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--parent-pid", type=int, help="exit when this process dies")
    args = parser.parse_args()
    _child.die_with_parent(args.parent_pid)

    import numpy as np
    from p4p import Type, Value
    from p4p.nt import NTEnum, NTNDArray, NTScalar, NTTable
    from p4p.server import Server
    from p4p.server.thread import SharedPV

    prefix = args.prefix

    class Writable:
        def put(self, pv, op):
            value = op.value()
            if not isinstance(value, Value):  # an NT wrapper unwrapped it (nt=NTScalar)
                pv.post(value, timestamp=time.time())
            elif "timeStamp" in value.type().keys():
                now = time.time()
                value["timeStamp.secondsPastEpoch"] = int(now)
                value["timeStamp.nanoseconds"] = int(now % 1 * 1e9)
                pv.post(value)
            else:
                pv.post(value)
            op.done()

    class ReadOnly:
        def put(self, pv, op):
            op.done(error="Put not permitted: read-only PV")

    double_nt = NTScalar("d", display=True, control=True, valueAlarm=True, form=True)
    double = double_nt.wrap(1.5, timestamp=time.time())
    for path, item in {
        "display.units": "mm", "display.precision": 3, "display.description": "test double",
        "display.limitLow": -10.0, "display.limitHigh": 10.0,
        "control.limitLow": -100.0, "control.limitHigh": 100.0,
        "valueAlarm.lowAlarmLimit": -9.0, "valueAlarm.lowWarningLimit": -5.0,
        "valueAlarm.highWarningLimit": 5.0, "valueAlarm.highAlarmLimit": 9.0,
    }.items():
        double[path] = item

    custom_type = Type([("a", "ad"), ("b", "s"), ("nested", ("S", None, [("x", "i")]))],
                       id="caprobe:test/custom:1.0")
    table_nt = NTTable([("a", "i"), ("b", "d"), ("c", "s")])
    image = NTNDArray().wrap(np.arange(12, dtype=np.uint16).reshape(3, 4))

    pvs = {
        "double": SharedPV(initial=double, handler=Writable()),
        "long": SharedPV(nt=NTScalar("i"), initial=42, handler=Writable()),
        "string": SharedPV(nt=NTScalar("s"), initial="hello", handler=Writable()),
        "array": SharedPV(nt=NTScalar("ad"), initial=[0.5, 1.5, 2.5], handler=Writable()),
        "int_array": SharedPV(nt=NTScalar("ai"), initial=[1, -2, 3], handler=Writable()),
        "string_array": SharedPV(nt=NTScalar("as"), initial=["a", "b"], handler=Writable()),
        "enum": SharedPV(initial=NTEnum().wrap({"index": 0, "choices": ["Off", "On", "Fault"]}),
                         handler=Writable()),
        "table": SharedPV(initial=table_nt.wrap([{"a": 1, "b": 0.5, "c": "x"},
                                                 {"a": 2, "b": 1.5, "c": "y"}]),
                          handler=Writable()),
        "custom": SharedPV(initial=Value(custom_type, {"a": [1.0, 2.0], "b": "text",
                                                       "nested": {"x": 7}}),
                           handler=Writable()),
        "image": SharedPV(initial=image, handler=Writable()),
        "ro": SharedPV(nt=NTScalar("d"), initial=3.25, handler=ReadOnly()),
        "seq": SharedPV(nt=NTScalar("l"), initial=0, handler=ReadOnly()),
        "rate": SharedPV(nt=NTScalar("d"), initial=1000.0, handler=Writable()),
    }
    seq = pvs["seq"]
    busy = threading.Lock()

    def post_burst(count: int, rate: float) -> None:
        # Post seq = 1..count on schedule: everything that is due is posted at once, so a
        # late wake-up catches up instead of slowing the rate down.
        with busy:
            start = time.monotonic()
            posted = 0
            while posted < count:
                due = min(count, int((time.monotonic() - start) * rate) + 1)
                while posted < due:
                    posted += 1
                    seq.post(posted, timestamp=time.time())
                time.sleep(min(0.001, max(0.0, start + posted / rate - time.monotonic())))

    class Burst:
        def put(self, pv, op):
            count = int(op.value())
            rate = float(pvs["rate"].current())
            pv.post(count, timestamp=time.time())
            op.done()
            threading.Thread(target=post_burst, args=(count, rate), daemon=True).start()

    pvs["burst"] = SharedPV(nt=NTScalar("l"), initial=0, handler=Burst())

    provider = {prefix + name: pv for name, pv in pvs.items()}
    server = Server(providers=[provider])  # EPICS_PVAS_* from the environment
    print(f"p4p_server: serving {len(provider)} PVs, pid {os.getpid()}, "
          f"{server.conf()}", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
