"""caprobe-info: what ``cainfo`` prints about a channel (state, server, access, native type).

    caprobe-info [options] PV...
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence

from caprobe import ca
from caprobe import format as fmt
from caprobe.cli import common, pva_tools

DESCRIPTION = """\
Connect to EPICS Channel Access PVs and print, like cainfo, their connection state, the
server's host:port, the access rights, the native data type and the element count."""


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("caprobe-info", DESCRIPTION)
    common.add_ca_options(parser)
    parser.add_argument("pvs", nargs="+", metavar="PV", help="PV names")
    return parser


def info_one(pv_name: str, args: argparse.Namespace, timeout: float) -> bool:
    protocol, name = pva_tools.route(pv_name, args.verbose)  # pva://, ca://, bare names
    if protocol != "ca":
        return protocol == "pva" and pva_tools.info_one(pv_name, name, args, timeout)
    pv_name = name
    channel = common.attempt(
        pv_name, functools.partial(ca.info, pv_name, timeout=timeout, priority=args.priority),
        common.connect_timeout_text(pv_name), args.verbose)
    if channel is None:
        return False
    common.print_line(fmt.format_info(channel, pv_name=pv_name, host=ca.host_name(channel.host)))
    return True


def _run(args: argparse.Namespace) -> int:
    timeout = common.resolve_timeout(args)
    results = common.for_each_pv(args.pvs, lambda pv_name: info_one(pv_name, args, timeout))
    return 0 if all(list(results)) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``caprobe-info`` (and ``caprobe info``); returns the exit code."""
    return common.run_tool(_run, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
