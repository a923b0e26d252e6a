"""Run a module as ``__main__`` (e.g. caproto.ioc_examples.random_walk), tied to the harness.

``run_module.py [--parent-pid PID] MODULE [ARGS...]``: the lifeline is set before the module
runs, which a plain ``python -m MODULE`` cannot do.
"""

from __future__ import annotations

import runpy
import sys

import _child


def main() -> None:
    argv = sys.argv[1:]
    parent_pid = None
    if argv[:1] == ["--parent-pid"]:
        parent_pid = int(argv[1])
        argv = argv[2:]
    if not argv:
        sys.exit("usage: run_module.py [--parent-pid PID] MODULE [ARGS...]")
    _child.die_with_parent(parent_pid)
    _child.quiet_caproto_beacon_errors()
    module = argv[0]
    sys.argv = [module, *argv[1:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
