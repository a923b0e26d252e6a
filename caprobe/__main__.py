"""``caprobe``: the GUI, and the command-line tools as sub-commands.

    caprobe [PV ...]                 open the probe window on these PVs
    caprobe --demo                   start a demo IOC and open the window on it
    caprobe --self-test PV           open the window offscreen, read PV, print it, exit
                                     (ca://NAME, pva://NAME or a bare CA name)
    caprobe --check                  can this copy run? imports, Qt plugins, window; no IOC
    caprobe get|put|monitor|info ... the caget/caput/camonitor/cainfo-like tools
    caprobe snapshot save|diff|restore ...  many PVs to a file and back
    caprobe repeater                 run a CA repeater
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Before anything can import pyqtgraph (it prefers PyQt6 if both are installed).
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")

TOOLS = ("get", "put", "monitor", "info", "snapshot")

EPILOG = """\
Command-line tools: caprobe get|put|monitor|info|snapshot ARGS (see caprobe get -h),
caprobe repeater.  A PV named like a tool can be opened after '--'.
Examples:
  caprobe SR:C1:ai SR:C1:ao             open the window on two PVs
  caprobe --demo                        try it on a demo IOC (needs the 'demo' extra)
  caprobe get -a SR:C1:ai               the caget-like tool, from the same program
See man caprobe (docs/cli/caprobe.rst)."""


def _parser() -> argparse.ArgumentParser:
    import caprobe
    from caprobe.cli.suggest import SuggestingParser

    parser = SuggestingParser(
        prog="caprobe",
        description="A desktop probe for EPICS Channel Access PVs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pvs", nargs="*", metavar="PV", help="PV names to open")
    parser.add_argument("--demo", action="store_true",
                        help="start caproto's random_walk demo IOC on a free loopback port "
                             "and open its PVs (needs the 'demo' extra)")
    parser.add_argument("--self-test", metavar="PV",
                        help="open the window (offscreen without a display), read PV through "
                             "the probe, print 'PV value' and exit 0; non-zero on failure "
                             "(pva://NAME reads over PV Access)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds --self-test waits for the value (default 10)")
    parser.add_argument("--check", action="store_true",
                        help="check that this copy can run (every module imports, Qt platform "
                             "plugins load, the window builds offscreen; no IOC needed): "
                             "exit 0, or 1 with one line per problem")
    parser.add_argument("--version", action="version", version=f"caprobe {caprobe.__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``caprobe`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in TOOLS:
        tool = importlib.import_module(f"caprobe.cli.{args[0]}")
        return int(tool.main(args[1:]) or 0)
    if args and args[0] == "repeater":
        from caprobe.cli import repeater

        return int(repeater.main(args[1:]) or 0)

    options = _parser().parse_args(args)
    try:
        if options.check:
            from caprobe.self_check import run_check

            return run_check()
        if options.self_test:
            from caprobe.gui.app import self_test

            return self_test(options.self_test, timeout=options.timeout)
        if options.demo:
            from caprobe.demo import run_demo

            return run_demo()
        from caprobe.gui.app import run_gui

        return run_gui(options.pvs)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
