"""caprobe-snapshot save / restore of 2,000 PVs, as an operator runs them (wall time of the
whole command, interpreter start included), with pyepics' caget_many / caput_many(wait)
from a fresh interpreter alongside.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_snapshot.py [--pvs 2000] [--runs 5]

Targets (issue 15): save <= 1 s, restore (put-callback on each) <= 2 s.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import machine_info, machine_line, markdown_table, write_results

many_ioc = importlib.import_module("many_ioc")  # tests/many_ioc.py, on the path _support sets

PYEPICS_GET = """
import sys, time, epics
names = open(sys.argv[1]).read().split()
values = epics.caget_many(names, timeout=5.0)
missing = sum(v is None for v in values)
sys.exit(1 if missing else 0)
"""
PYEPICS_PUT = """
import sys, epics
names = open(sys.argv[1]).read().split()
values = [i / 10 for i in range(len(names))]
status = epics.caput_many(names, values, wait='all', connection_timeout=5.0, put_timeout=5.0)
sys.exit(0 if all(s == 1 for s in status) else 1)
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed ({result.returncode}): "
                           f"{result.stderr.strip()[:500]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pvs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tool = Path(sys.executable).parent / "caprobe-snapshot"
    snapshot_cmd = [str(tool)] if tool.exists() else [sys.executable, "-m", "caprobe",
                                                      "snapshot"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = many_ioc.start(work, count=args.pvs)
        try:
            env = {**os.environ, **server.client_environ()}
            names = [many_ioc.set_name(server.prefix, i) for i in range(args.pvs)]
            listing = work / "names.txt"
            listing.write_text("\n".join(names) + "\n")
            snap = work / "all.snap"
            rows: dict[str, list[float]] = {k: [] for k in (
                "caprobe-snapshot save", "caprobe-snapshot restore",
                "pyepics caget_many", "pyepics caput_many(wait)")}
            for _ in range(args.runs):
                rows["caprobe-snapshot save"].append(timed(
                    [*snapshot_cmd, "save", str(snap), "-f", str(listing), "-w", "5"], env))
                rows["caprobe-snapshot restore"].append(timed(
                    [*snapshot_cmd, "restore", str(snap), "-w", "5"], env))
                rows["pyepics caget_many"].append(timed(
                    [sys.executable, "-c", PYEPICS_GET, str(listing)], env))
                rows["pyepics caput_many(wait)"].append(timed(
                    [sys.executable, "-c", PYEPICS_PUT, str(listing)], env))
        finally:
            server.close()
    machine = machine_info()
    table = [[name, f"{statistics.median(v):.2f}", f"{min(v):.2f}", f"{max(v):.2f}"]
             for name, v in rows.items()]
    print(f"{args.pvs} PVs, {args.runs} runs; wall time of the whole command (s)")
    print(machine_line(machine))
    print(markdown_table(["command", "median", "min", "max"], table))
    write_results("snapshot", {"machine": machine, "pvs": args.pvs, "runs": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
