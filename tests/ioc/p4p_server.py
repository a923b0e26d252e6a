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
- image_live: NTNDArray mono uint16 ``--image-size`` (64x48), a gradient moving one pixel per
  frame, posted at ``--image-rate`` Hz (5) with uniqueId 1, 2, ... and timestamps
- image_rgb: NTNDArray RGB1 (ColorMode 2, dims 3 x 8 x 6) uint8: red rises along x, green
  along y, blue 128
- image_jpeg: NTNDArray with codec "jpeg" (compressed bytes); image_bayer: ColorMode 1
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
    parser.add_argument("--image-size", default="64x48", help="image_live's WIDTHxHEIGHT")
    parser.add_argument("--image-rate", type=float, default=5.0,
                        help="image_live's frames per second")
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
        "image_live": SharedPV(initial=NTNDArray().wrap(np.zeros((1, 1), np.uint16)),
                               handler=ReadOnly()),
        "image_rgb": SharedPV(initial=rgb_image(np), handler=ReadOnly()),
        "image_jpeg": SharedPV(initial=jpeg_image(np), handler=ReadOnly()),
        "image_bayer": SharedPV(initial=NTNDArray().wrap(np.zeros((6, 8), np.uint8),
                                                         attrib={"ColorMode": 1}),
                                handler=ReadOnly()),
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

    width, height = (int(n) for n in args.image_size.lower().split("x"))
    threading.Thread(target=post_images, args=(pvs["image_live"], width, height,
                                               args.image_rate), daemon=True).start()

    provider = {prefix + name: pv for name, pv in pvs.items()}
    server = Server(providers=[provider])  # EPICS_PVAS_* from the environment
    print(f"p4p_server: serving {len(provider)} PVs, pid {os.getpid()}, "
          f"{server.conf()}", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        signal.pause()


def rgb_image(np):  # noqa: ANN001, ANN201 (numpy is imported in main)
    """RGB1: numpy shape (y, x, 3), dims 3, x, y; red along x, green along y."""
    from p4p.nt import NTNDArray

    y, x = np.mgrid[0:6, 0:8]
    pixels = np.stack([x * 32, y * 40, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    return NTNDArray().wrap(pixels, attrib={"ColorMode": 2})


def jpeg_image(np):  # noqa: ANN001, ANN201
    """What areaDetector's codec plugin sends: compressed bytes, codec.name set."""
    from p4p.nt import NTNDArray

    value = NTNDArray().wrap(np.zeros((6, 8), np.uint8))
    value["value"] = ("ubyteValue", np.frombuffer(b"\xff\xd8\xff\xe0 not really a jpeg",
                                                  np.uint8))
    value["codec.name"] = "jpeg"
    value["compressedSize"] = 22
    value["uncompressedSize"] = 48
    return value


def post_images(pv, width: int, height: int, rate: float) -> None:  # noqa: ANN001
    """image_live: a diagonal gradient moving one pixel a frame, uniqueId counting up."""
    import numpy as np
    from p4p.nt import NTNDArray

    nt = NTNDArray()
    y, x = np.mgrid[0:height, 0:width]
    base = ((x + y) * (65535 // max(width + height, 1))).astype(np.uint16)
    period = 1.0 / max(rate, 0.01)
    start = time.monotonic()
    frame = 0
    while True:
        frame += 1
        pixels = np.roll(base, frame, axis=1)
        value = nt.wrap(pixels, attrib={"ColorMode": 0})
        now = time.time()
        value["uniqueId"] = frame
        value["timeStamp.secondsPastEpoch"] = int(now)
        value["timeStamp.nanoseconds"] = int(now % 1 * 1e9)
        pv.post(value)
        # on schedule: a late frame does not slow the rate down
        time.sleep(max(0.0, start + frame * period - time.monotonic()))


if __name__ == "__main__":
    sys.exit(main())
