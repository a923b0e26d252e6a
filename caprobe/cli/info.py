"""caprobe-info: what ``cainfo`` prints about a channel (state, server, access, native type).

    caprobe-info [options] PV...
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from caprobe import ca
from caprobe import format as fmt
from caprobe.cli import common, routing

DESCRIPTION = """\
Connect to EPICS Channel Access PVs and print, like cainfo, their connection state, the
server's host:port, the access rights, the native data type and the element count."""

EPILOG = """\
Examples:
  caprobe-info SR:C1:ai                 which IOC serves it, access rights, type, count
  caprobe-info -w 5 SR:C1:ai SR:C1:ro   several PVs, looked up at once
See man caprobe-info (docs/cli/caprobe-info.rst)."""


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("caprobe-info", DESCRIPTION, EPILOG)
    common.add_ca_options(parser)
    parser.add_argument("pvs", nargs="+", metavar="PV", help="PV names")
    return parser


def _run(args: argparse.Namespace) -> int:
    """Connect every PV at once, then print each in argument order."""
    if routing.handles(args):  # pva://, ca://, or PVA as the default protocol
        from caprobe.cli import pva_tools

        return pva_tools.run_info(args, _run)
    timeout = common.resolve_timeout(args)
    infos = ca.info_many(args.pvs, timeout=timeout, priority=args.priority)
    ok = True
    for pv_name, info in zip(args.pvs, infos, strict=True):
        if isinstance(info, ca.CAError):
            common.report_error(pv_name, info, common.connect_timeout_text(pv_name),
                                args.verbose)
            ok = False
            continue
        common.print_line(fmt.format_info(info, pv_name=pv_name,
                                          host=ca.host_name(info.host)))
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``caprobe-info`` (and ``caprobe info``); returns the exit code."""
    return common.run_tool(_run, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
