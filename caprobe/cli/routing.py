"""Which protocol each PV name of a command line goes to (``ca://``, ``pva://``, bare names
and CAPROBE_DEFAULT_PROTOCOL), without importing the PV Access side: a CA-only command line
never loads caprobe.pva (nor numpy through it)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from caprobe import pvname
from caprobe.cli import common


def route(pv_name: str, verbose: bool = False) -> tuple[str, str]:
    """('ca', bare name) | ('pva', name) | ('error', '') after printing why the name is bad."""
    try:
        target = pvname.parse(pv_name)
    except pvname.PVNameError as exc:
        common.report(str(exc), verbose)
        return "error", ""
    return target.protocol, target.name


def route_quietly(typed: str) -> tuple[str, str]:
    """(protocol, name), or ('error', message) for a name no protocol takes."""
    try:
        target = pvname.parse(typed)
    except pvname.PVNameError as exc:
        return "error", str(exc)
    return target.protocol, target.name


RESOLVED = "pva_tools_resolved"


def handles(args: argparse.Namespace) -> bool:
    """True when pva_tools should run the command line (see :func:`any_pva`)."""
    return not getattr(args, RESOLVED, False) and any_pva(args.pvs)


def any_pva(pv_names: Sequence[str]) -> bool:
    """True when a name needs pva_tools: a scheme (pva://, ca://, or a bad one) or a bare
    name while PVA is the default."""
    for typed in pv_names:
        try:
            parsed = pvname.parse(typed)
        except pvname.PVNameError:
            return True
        if parsed.explicit or parsed.protocol != pvname.CA:
            return True
    return False
