"""Run an EPICS base (rsrv) soft IOC for the tests: ``run_softioc.py --prefix P --db FILE``.

Started as a subprocess by tests/servers.py, which also sets the EPICS_CA*/EPICS_CAS* variables
that keep it on loopback and on its own ports (EPICS_PVAS* too when --pva serves the
records over PV Access as well). No interactive shell: it serves until killed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

import _child


def _write_ramp(pv_name: str) -> None:
    """Fill a DOUBLE waveform with 0, 1, 2, ... NELM-1 and process it (like dbpf)."""
    import numpy
    from softioc import imports

    nelm = numpy.zeros(1, dtype=numpy.int32)
    dbf = imports.get_DBF_values()
    imports.db_get_field(pv_name + ".NELM", dbf["DBF_LONG"], nelm.ctypes.data, 1)
    ramp = numpy.arange(int(nelm[0]), dtype=numpy.float64)
    imports.db_put_field_process(pv_name, dbf["DBF_DOUBLE"], ramp.ctypes.data, len(ramp), True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prefix", required=True, help="PV prefix, the $(P) macro")
    parser.add_argument("--db", action="append", required=True,
                        help="database file (repeatable)")
    parser.add_argument("--macros", default="", help="extra macros, 'A=1,B=2'")
    parser.add_argument("--acf", help="access security file")
    parser.add_argument("--ramp", action="append", default=[], metavar="SUFFIX",
                        help="after iocInit fill DOUBLE waveform <prefix>SUFFIX with 0, 1, 2, ...")
    parser.add_argument("--pva", action="store_true",
                        help="also serve the records over PV Access (QSRV, pvxsIoc)")
    parser.add_argument("--parent-pid", type=int, help="exit when this process dies")
    args = parser.parse_args()

    _child.die_with_parent(args.parent_pid)
    started = time.monotonic()

    # Imported late so a bad command line fails fast; importing softioc loads base.dbd.
    from epicscorelibs.ioc import dbCore
    from softioc import softioc

    macros = f"P={args.prefix}" + (f",{args.macros}" if args.macros else "")
    for db in args.db:
        softioc.dbLoadDatabase(os.path.abspath(db), None, macros)
    if args.acf:
        # asSetFilename is what the iocsh command does; iocInit then loads the file.
        # softioc.imports.install_pv_logging would load it too, but also logs every put.
        dbCore.asSetFilename.argtypes = (softioc.auto_encode,)
        dbCore.asSetFilename(os.path.abspath(args.acf))
        # $(P) in the ACF (INPA links of run-time access rules) is the PV prefix.
        dbCore.asSetSubstitutions.argtypes = (softioc.auto_encode,)
        dbCore.asSetSubstitutions(f"P={args.prefix}")

    # Records here are plain database records; no Python device support needs a dispatcher.
    softioc.iocInit(dispatcher=lambda func, *func_args: func(*func_args), enable_pva=args.pva)
    for suffix in args.ramp:
        _write_ramp(args.prefix + suffix)
    print(f"run_softioc: ready in {time.monotonic() - started:.3f} s, pid {os.getpid()}",
          flush=True)

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
