"""Many PVs in one process: caprobe.ca's engine vs pyepics (and caproto's threading client).

    .venv/bin/python bench/bench_many.py [--pvs 10000] [--duration 10] [--repeats 3]

One EPICS base soft IOC (PVA off) on a free loopback port serves ``--pvs`` calc records, each
counting up at 10 Hz (SCAN ".1 second"). Each client runs in its own subprocess:

- **read**: read every PV once, fresh (search, connect, read; the process's first call) and
  again warm where the library keeps connections (caprobe ``Context``, pyepics' PV cache,
  caproto's threading ``Context``). caprobe: ``Context.read_many``; pyepics:
  ``epics.caget_many``; caproto: ``Context.get_pvs`` + ``read`` of each PV in a thread pool
  (its documented way), at most 2,000 PVs (it takes tens of seconds beyond that).
- **monitor**: subscribe to every PV (DBR_TIME_DOUBLE) and count updates for ``--duration``
  seconds after all are connected: connection time, updates/s delivered, % of the expected
  10 Hz x PVs, client CPU (user+sys of the whole process) per update. caprobe: one
  ``block()`` over all subscriptions; pyepics: ``PV(callback=...)`` each.

Prints markdown tables and writes bench/results/bench_many-<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import _support
from _support import servers

CLIENTS = ("caprobe", "pyepics", "caproto")
CAPROTO_MAX = 2000


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------
# Workers (one subprocess per client and task)


def worker_read(client: str, names: list[str]) -> dict[str, Any]:
    began = time.perf_counter()
    if client == "caprobe":
        import caprobe.ca as ca

        ctx = ca.Context(timeout=10.0)
        results = ctx.read_many(names)
        fresh = time.perf_counter() - began
        began = time.perf_counter()
        again = ctx.read_many(names)
        warm = time.perf_counter() - began
        ctx.close()
        failed = sum(isinstance(r, ca.CAError) for r in results + again)
    elif client == "pyepics":
        import epics

        results = epics.caget_many(names, connection_timeout=10.0, timeout=10.0)
        fresh = time.perf_counter() - began
        began = time.perf_counter()
        again = epics.caget_many(names, connection_timeout=10.0, timeout=10.0)
        warm = time.perf_counter() - began
        failed = sum(r is None for r in list(results) + list(again))
    else:
        from concurrent.futures import ThreadPoolExecutor

        from caproto.threading.client import Context

        ctx = Context()
        pvs = ctx.get_pvs(*names, timeout=10.0)

        def read_all() -> list[Any]:
            with ThreadPoolExecutor(32) as pool:
                return list(pool.map(lambda pv: pv.read(timeout=10.0), pvs))

        results = read_all()
        fresh = time.perf_counter() - began
        began = time.perf_counter()
        again = read_all()
        warm = time.perf_counter() - began
        failed = 0
        ctx.disconnect()
    return {"fresh_s": fresh, "warm_s": warm, "failed": failed, "count": len(names)}


def worker_monitor(client: str, names: list[str], duration: float) -> dict[str, Any]:
    counts = {"updates": 0}
    connected = threading.Event()
    first_seen: set[str] = set()
    lock = threading.Lock()
    began = time.perf_counter()

    def seen(name: str) -> None:
        with lock:
            counts["updates"] += 1
            if name not in first_seen:
                first_seen.add(name)
                if len(first_seen) == len(names):
                    connected.set()

    if client == "caprobe":
        import caprobe.ca as ca

        def on_update(sub: Any, response: Any) -> None:
            if not isinstance(response, ca.ConnectionEvent):
                seen(sub.pv_name)

        subs = [ca.subscribe(name, data_type="time") for name in names]
        for sub in subs:
            sub.add_callback(on_update)
        group = ca.SubscriptionGroup(subs)
        thread = threading.Thread(target=group.block, kwargs={"timeout": 10.0}, daemon=True)
        thread.start()
        stop = group.interrupt
    else:
        import epics

        def make(name: str) -> Any:
            def on_value(**_kwargs: Any) -> None:
                seen(name)
            return on_value

        pvs = [epics.PV(name, form="time", callback=make(name), auto_monitor=True)
               for name in names]
        stop = None
    if not connected.wait(120):
        raise RuntimeError(f"only {len(first_seen)} of {len(names)} PVs updated")
    connect_s = time.perf_counter() - began
    with lock:
        start_updates = counts["updates"]
    start_cpu, start_wall = _cpu(), time.perf_counter()
    time.sleep(duration)
    with lock:
        updates = counts["updates"] - start_updates
    cpu = _cpu() - start_cpu
    wall = time.perf_counter() - start_wall
    if stop is not None:
        stop()
        thread.join(10)
    else:
        for pv in pvs:
            pv.clear_callbacks()
    return {"connect_s": connect_s, "updates_per_s": updates / wall,
            "delivered": updates / (wall * 10.0 * len(names)),
            "cpu_us_per_update": cpu / max(updates, 1) * 1e6,
            "cpu_share": cpu / wall}


# ---------------------------------------------------------------------------------------------
# Orchestrator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pvs", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--worker", choices=("read", "monitor"), help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        names = [f"{args.prefix}m{i}" for i in range(args.pvs)]
        if args.worker == "read":
            result = worker_read(args.client, names)
        else:
            result = worker_monitor(args.client, names, args.duration)
        print(json.dumps(result))
        return 0

    began = time.monotonic()
    _support.RESULTS_DIR.mkdir(exist_ok=True)
    db = servers.many_records_db(_support.RESULTS_DIR / "bench_many.db", args.pvs,
                                 scan=".1 second")
    server = servers.start_softioc(db=db, acf=None, timeout=120)
    clients = args.clients.split(",")
    script = Path(__file__).resolve()
    reads: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    monitors: dict[str, list[dict[str, Any]]] = {c: [] for c in clients if c != "caproto"}
    try:
        env = dict(server.env)
        for _ in range(args.repeats):
            for client in clients:
                count = min(args.pvs, CAPROTO_MAX) if client == "caproto" else args.pvs
                reads[client].append(_support.run_worker(
                    script, ["--worker", "read", "--client", client, "--prefix",
                             server.prefix, "--pvs", str(count)], env, timeout=300))
            for client in monitors:
                monitors[client].append(_support.run_worker(
                    script, ["--worker", "monitor", "--client", client, "--prefix",
                             server.prefix, "--pvs", str(args.pvs), "--duration",
                             str(args.duration)], env, timeout=300))
    finally:
        server.close()

    def median(runs: list[dict[str, Any]], key: str) -> float:
        return sorted(run[key] for run in runs)[len(runs) // 2]

    read_rows = []
    for client, runs in reads.items():
        read_rows.append([client, f"{runs[0]['count']:,}", f"{median(runs, 'fresh_s'):.2f} s",
                          f"{median(runs, 'warm_s'):.2f} s",
                          str(max(run["failed"] for run in runs))])
    monitor_rows = []
    for client, runs in monitors.items():
        monitor_rows.append([client, f"{args.pvs:,}", f"{median(runs, 'connect_s'):.1f} s",
                             f"{median(runs, 'updates_per_s'):,.0f}/s",
                             f"{median(runs, 'delivered') * 100:.0f} %",
                             f"{median(runs, 'cpu_us_per_update'):.1f} us",
                             f"{median(runs, 'cpu_share') * 100:.0f} %"])
    read_table = _support.markdown_table(
        ["read every PV once", "PVs", "fresh (search + connect + read)", "warm", "failed"],
        read_rows)
    monitor_table = _support.markdown_table(
        ["monitor, 10 Hz each", "PVs", "all connected after", "updates delivered", "of posted",
         "client CPU per update", "client CPU"], monitor_rows)
    print(read_table)
    print()
    print(monitor_table)
    _support.write_results("bench_many", {
        "machine": _support.machine_info(),
        "settings": f"{args.pvs} PVs at 10 Hz, {args.duration:g} s monitors, "
                    f"{args.repeats} repeats (medians)",
        "elapsed_s": time.monotonic() - began,
        "reads": reads, "monitors": monitors,
        "table": read_table + "\n\n" + monitor_table,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
