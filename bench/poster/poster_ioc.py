"""Soft IOC (EPICS base rsrv, PVA off) whose ``$(P)value`` record is updated from C.

``poster_ioc.py --prefix P [--rate HZ]``: loads poster.db, iocInit, then starts the C poster
thread of libposter.so (built on demand by make_poster.py) on P + "value", paced by the
record P + "rate" (a CA put changes the rate: HZ/s, 0 as fast as possible, < 0 paused).
Started by bench/bench_monitor.py through tests/servers.py (which supplies the loopback
EPICS_CAS_* environment and ``--parent-pid``); serves until killed.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests" / "ioc"))  # _child: die with the parent

import _child  # noqa: E402
import make_poster  # noqa: E402

DATABASE = HERE / "poster.db"


def load_poster(library: Path) -> ctypes.CDLL:
    """libposter.so with its C signatures declared."""
    lib = ctypes.CDLL(str(library))
    lib.start_poster.argtypes = (ctypes.c_char_p, ctypes.c_double)
    lib.start_poster.restype = ctypes.c_int
    lib.poster_rate_from.argtypes = (ctypes.c_char_p,)
    lib.poster_rate_from.restype = ctypes.c_int
    lib.poster_set_rate.argtypes = (ctypes.c_double,)
    lib.poster_set_rate.restype = None
    lib.poster_set_spin_ns.argtypes = (ctypes.c_int64,)
    lib.poster_set_spin_ns.restype = None
    lib.poster_set_batch.argtypes = (ctypes.c_int,)
    lib.poster_set_batch.restype = None
    lib.poster_count.argtypes = ()
    lib.poster_count.restype = ctypes.c_uint64
    for name in ("poster_schedule_resets", "poster_put_failures"):
        getattr(lib, name).argtypes = ()
        getattr(lib, name).restype = ctypes.c_uint64
    lib.poster_last_put_status.argtypes = ()
    lib.poster_last_put_status.restype = ctypes.c_long
    lib.stop_poster.argtypes = ()
    lib.stop_poster.restype = None
    return lib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefix", required=True, help="PV prefix, the $(P) macro")
    parser.add_argument("--rate", type=float, default=None,
                        help="initial rate, written to P:rate (default: paused)")
    parser.add_argument("--spin-us", type=float, default=0.0,
                        help="spin this long before each due post instead of sleeping "
                             "(evener spacing, more CPU; default 0: sleep only)")
    parser.add_argument("--batch", type=int, default=1,
                        help="posts per wake-up when paced (default 1)")
    parser.add_argument("--cpu", type=int, default=None,
                        help="pin the IOC (all its threads) to this CPU")
    parser.add_argument("--parent-pid", type=int, help="exit when this process dies")
    args = parser.parse_args()
    _child.die_with_parent(args.parent_pid)

    if args.cpu is not None:
        # Threads created later (poster, rsrv's) inherit it. On one CPU the poster's wake-up
        # of rsrv's event task is a local reschedule instead of a cross-CPU interrupt, which
        # costs tens of microseconds per post on a VM.
        os.sched_setaffinity(0, {args.cpu})
    library = make_poster.build()  # before iocInit: a compile error fails fast

    from softioc import imports, softioc

    softioc.dbLoadDatabase(str(DATABASE), None, f"P={args.prefix}")
    softioc.iocInit(dispatcher=lambda func, *func_args: func(*func_args), enable_pva=False)

    poster = load_poster(library)
    rate_pv = args.prefix + "rate"
    if args.rate is not None:
        rate = ctypes.c_double(args.rate)
        dbf = imports.get_DBF_values()
        imports.db_put_field_process(rate_pv, dbf["DBF_DOUBLE"], ctypes.addressof(rate), 1,
                                     True)
    poster.poster_set_spin_ns(int(args.spin_us * 1000))
    poster.poster_set_batch(args.batch)
    if poster.start_poster((args.prefix + "value").encode(), -1.0) != 0:
        sys.exit(f"poster_ioc: cannot start the poster on {args.prefix}value")
    if poster.poster_rate_from(rate_pv.encode()) != 0:
        sys.exit(f"poster_ioc: cannot follow {rate_pv}")
    print(f"poster_ioc: posting to {args.prefix}value, rate from {rate_pv}, pid {os.getpid()}",
          flush=True)

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    # Once a second, a line for the log (tests/servers.py keeps it): what the poster did.
    last = 0
    while True:
        time.sleep(1.0)
        count = poster.poster_count()
        if count != last:
            print(f"poster_ioc: {count} posts (+{count - last}/s), "
                  f"{poster.poster_schedule_resets()} schedule resets, "
                  f"{poster.poster_put_failures()} failed puts "
                  f"(last status {poster.poster_last_put_status()})", flush=True)
            last = count


if __name__ == "__main__":
    main()
