"""caprobe-snapshot save / restore of 2,000 PVs, as an operator runs them (wall time of the
whole command, interpreter start included), with pyepics' caget_many / caput_many(wait)
from a fresh interpreter alongside; and the same over PV Access (``pva://`` names, a p4p
server with N NTScalar doubles), with p4p's own ``Context.get``/``put`` of the list alongside.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_snapshot.py [--pvs 2000] [--runs 5]
        [--pva-pvs 2000] [--only ca|pva]

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
pva_servers = importlib.import_module("pva_servers")  # tests/pva_servers.py

#: A p4p server with ``--count`` writable NTScalar doubles PREFIXpv:0000... (its own ports
#: from EPICS_PVAS_*, set by pva_servers.PVAServer).
PVA_SERVER = """
import argparse, signal, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--parent-pid", type=int)
parser.add_argument("--prefix", required=True)
parser.add_argument("--count", type=int, required=True)
args = parser.parse_args()
from p4p.nt import NTScalar
from p4p.server import Server
from p4p.server.thread import SharedPV

class Writable:
    def put(self, pv, op):
        pv.post(op.value(), timestamp=time.time())
        op.done()

handler = Writable()
pvs = {f"{args.prefix}pv:{i:04d}": SharedPV(nt=NTScalar("d", display=True), initial=i / 10,
                                            handler=handler) for i in range(args.count)}
server = Server(providers=[pvs])
print("serving", len(pvs), flush=True)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
while True:
    signal.pause()
"""
P4P_GET = """
import os, sys
from p4p.client.thread import Context
names = open(sys.argv[1]).read().split()
with Context("pva") as ctx:
    values = ctx.get(names, timeout=5.0, throw=False)
sys.exit(1 if any(isinstance(v, Exception) for v in values) else 0)
"""
P4P_PUT = """
import sys
from p4p.client.thread import Context
names = open(sys.argv[1]).read().split()
with Context("pva") as ctx:
    results = ctx.put(names, [i / 10 for i in range(len(names))], timeout=5.0, throw=False,
                      wait=True)
sys.exit(1 if any(isinstance(r, Exception) for r in results) else 0)
"""


def start_pva_server(work: Path, count: int) -> object:
    script = work / "pva_bench_server.py"
    script.write_text(PVA_SERVER)
    prefix = pva_servers.random_prefix()
    lock, port = pva_servers._claim_port(None)
    server = pva_servers.PVAServer(
        "p4p-bench", [sys.executable, str(script), "--prefix", prefix, "--count", str(count)],
        prefix=prefix, probe_pv=f"{prefix}pv:0000", port_lock=lock, port=port,
        start_timeout=60.0, pva_lock=pva_servers.reserve_port(),
        pva_probe=f"{prefix}pv:0000", serves_ca=False)
    return pva_servers._launch(server)


def run_pva(args: argparse.Namespace, snapshot_cmd: list[str], work: Path,
            rows: dict[str, list[float]]) -> None:
    server = start_pva_server(work, args.pva_pvs)
    try:
        env = {**os.environ, **server.pva_env}  # type: ignore[attr-defined]
        names = [f"{server.prefix}pv:{i:04d}" for i in range(args.pva_pvs)]  # type: ignore[attr-defined]
        listing = work / "pva_names.txt"
        listing.write_text("\n".join(f"pva://{name}" for name in names) + "\n")
        bare = work / "pva_bare.txt"
        bare.write_text("\n".join(names) + "\n")
        snap = work / "pva.snap"
        time_rounds(rows, args.runs, env, {
            "caprobe-snapshot save (PVA)":
                [*snapshot_cmd, "save", str(snap), "-f", str(listing), "-w", "5"],
            "caprobe-snapshot restore (PVA)": [*snapshot_cmd, "restore", str(snap), "-w", "5"],
            "p4p Context.get(list)": [sys.executable, "-c", P4P_GET, str(bare)],
            "p4p Context.put(list, wait)": [sys.executable, "-c", P4P_PUT, str(bare)],
        })
    finally:
        server.close()  # type: ignore[attr-defined]

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


def time_rounds(rows: dict[str, list[float]], runs: int, env: dict[str, str],
                commands: dict[str, list[str]]) -> None:
    """Run each command once per round, in order (save before restore), ``runs`` rounds."""
    for label in commands:
        rows.setdefault(label, [])
    for _ in range(runs):
        for label, command in commands.items():
            rows[label].append(timed(command, env))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pvs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pva-pvs", type=int, default=2000)
    parser.add_argument("--only", choices=("ca", "pva"), default=None)
    args = parser.parse_args()
    tool = Path(sys.executable).parent / "caprobe-snapshot"
    snapshot_cmd = [str(tool)] if tool.exists() else [sys.executable, "-m", "caprobe",
                                                      "snapshot"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows: dict[str, list[float]] = {}
        if args.only != "pva":
            run_ca(args, snapshot_cmd, work, rows)
        if args.only != "ca":
            run_pva(args, snapshot_cmd, work, rows)
    machine = machine_info()
    table = [[name, f"{statistics.median(v):.2f}", f"{min(v):.2f}", f"{max(v):.2f}"]
             for name, v in rows.items()]
    print(f"{args.pvs} CA PVs, {args.pva_pvs} PVA PVs, {args.runs} runs; wall time of the "
          "whole command (s)")
    print(machine_line(machine))
    print(markdown_table(["command", "median", "min", "max"], table))
    write_results("snapshot", {"machine": machine, "pvs": args.pvs, "pva_pvs": args.pva_pvs,
                               "runs": rows})
    return 0


def run_ca(args: argparse.Namespace, snapshot_cmd: list[str], work: Path,
           rows: dict[str, list[float]]) -> None:
    server = many_ioc.start(work, count=args.pvs)
    try:
        env = {**os.environ, **server.client_environ()}
        names = [many_ioc.set_name(server.prefix, i) for i in range(args.pvs)]
        listing = work / "names.txt"
        listing.write_text("\n".join(names) + "\n")
        snap = work / "all.snap"
        time_rounds(rows, args.runs, env, {
            "caprobe-snapshot save":
                [*snapshot_cmd, "save", str(snap), "-f", str(listing), "-w", "5"],
            "caprobe-snapshot restore": [*snapshot_cmd, "restore", str(snap), "-w", "5"],
            "pyepics caget_many": [sys.executable, "-c", PYEPICS_GET, str(listing)],
            "pyepics caput_many(wait)": [sys.executable, "-c", PYEPICS_PUT, str(listing)],
        })
    finally:
        server.close()


if __name__ == "__main__":
    raise SystemExit(main())
