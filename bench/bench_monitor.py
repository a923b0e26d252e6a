"""Subscription throughput and interrupt latency: caprobe.ca vs caproto.sync vs pyepics.

    .venv/bin/python bench/bench_monitor.py [--duration 4] [--interrupts 50] [--profile]

The server is a soft IOC (EPICS base rsrv, PVA off) started by bench/poster/poster_ioc.py
through tests/servers.py on a free loopback port: its record P:value is written 1, 2, 3, ...
by a C thread (bench/poster/poster.c, built on demand against epicscorelibs) at the rate
held in P:rate. Since the value is the post count, a client that saw first value A and last
value B knows B - A updates were posted meanwhile; rsrv merges updates a slow client cannot
take, which shows as "delivered" < 100 %.

For each rate (50,000 updates/s, then as fast as the poster goes) each client runs in its
own subprocess (the IOC is another): it subscribes (DBR_TIME_DOUBLE, DBE_VALUE|DBE_ALARM)
with a callback that only counts and keeps the latest response, and blocks for
``--duration`` seconds (caprobe: block(duration=...); caproto.sync: block() ended by a timer
thread calling interrupt(); pyepics: PV(callback=...) while the main thread sleeps).
Measured from the first update on: updates/s delivered to the callback, % of the posted
updates, and client CPU (user+sys of the whole client process, all threads) per update.
The IOC's CPU over the same window is taken from /proc.

Interrupt latency: with the poster paused (no updates flowing), block() runs in a thread;
after its first update and a random 5-30 ms pause, the main thread calls interrupt() and
the time until block() returns is taken; median of ``--interrupts`` (caprobe, caproto.sync).

Prints markdown tables and writes bench/results/bench_monitor-<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import _support
from _support import servers

POSTER_DIR = _support.BENCH_DIR / "poster"
POSTER_IOC = POSTER_DIR / "poster_ioc.py"
RATES = (("50,000 updates/s", 50_000.0), ("as fast as the poster goes", 0.0))
TARGET_DELIVERED = 100.0
TARGET_CPU_FRACTION = 0.25
TARGET_INTERRUPT_MS = 10.0


# ---------------------------------------------------------------------------------------------
# Worker side


class Counter:
    """The callback under test: counts and keeps the first and the latest response."""

    def __init__(self) -> None:
        self.count = 0
        self.first: Any = None
        self.last: Any = None
        self.first_cpu = 0.0
        self.first_wall = 0.0

    def on_update(self, sub: Any, response: Any) -> None:
        self.count += 1
        self.last = response
        if self.first is None:
            self.first_cpu = time.process_time()
            self.first_wall = time.perf_counter()
            self.first = response
            print("ready", flush=True)  # handshake: the orchestrator starts IOC CPU sampling

    def on_pyepics(self, value: float = 0.0, **_kwargs: Any) -> None:
        self.count += 1
        self.last = value
        if self.first is None:
            self.first_cpu = time.process_time()
            self.first_wall = time.perf_counter()
            self.first = value
            print("ready", flush=True)


def _value(response: Any) -> float:
    return float(response) if isinstance(response, float) else float(response.data[0])


def monitor_caprobe(pv: str, duration: float, counter: Counter) -> None:
    from caprobe import ca

    updates: list[Any] = []

    def keep_updates(sub: Any, response: Any) -> None:
        # ConnectionEvents go to callbacks too; only EventAddResponses count.
        if response.__class__ is not ca.ConnectionEvent:
            counter.on_update(sub, response)
        else:
            updates.append(response)

    sub = ca.subscribe(pv)
    sub.add_callback(keep_updates)  # held weakly: keep_updates lives until we return
    sub.block(duration=duration, repeater=False)


def monitor_caproto(pv: str, duration: float, counter: Counter) -> None:
    from caproto.sync import client

    sub = client.subscribe(pv)
    sub.add_callback(counter.on_update)
    timer = threading.Timer(duration, client.interrupt)
    timer.start()
    try:
        sub.block(repeater=False)
    finally:
        timer.cancel()


def monitor_pyepics(pv: str, duration: float, counter: Counter) -> None:
    import epics

    channel = epics.PV(pv, callback=counter.on_pyepics, auto_monitor=True)
    if not channel.wait_for_connection(timeout=5.0):
        raise RuntimeError(f"pyepics could not connect to {pv}")
    deadline = time.monotonic() + 10.0
    while counter.first is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(duration)
    # Freeze the counters at the end of the window (callbacks continue on libca's thread).
    counter.on_pyepics = lambda **_kw: None  # type: ignore[method-assign]
    channel.clear_callbacks()
    channel.disconnect()


MONITORS = {"caprobe": monitor_caprobe, "caproto.sync": monitor_caproto,
            "pyepics": monitor_pyepics}


def worker_monitor(args: argparse.Namespace) -> dict[str, Any]:
    counter = Counter()
    run = MONITORS[args.client]
    profile_text = None
    if args.profile:
        profile_text = _support.profile_top(lambda: run(args.pv, args.duration, counter), 25)
    else:
        run(args.pv, args.duration, counter)
    end_cpu = time.process_time()
    end_wall = time.perf_counter()
    if counter.first is None:
        raise RuntimeError(f"{args.client}: no update from {args.pv}")
    delivered = counter.count - 1  # the first update is the current value, not a post
    posted = _value(counter.last) - _value(counter.first)
    wall = end_wall - counter.first_wall
    cpu = end_cpu - counter.first_cpu
    result = {
        "client": args.client,
        "updates": delivered,
        "posted": posted,
        "window_s": wall,
        "delivered_per_s": delivered / wall,
        "posted_per_s": posted / wall,
        "delivered_pct": 100.0 * delivered / posted if posted else 0.0,
        "cpu_s": cpu,
        "cpu_us_per_update": 1e6 * cpu / delivered if delivered else None,
        "cpu_pct": 100.0 * cpu / wall,
    }
    if profile_text:
        result["profile"] = profile_text
    return result


def worker_latency(args: argparse.Namespace) -> dict[str, Any]:
    if args.client == "caprobe":
        from caprobe import ca as lib
    else:
        from caproto.sync import client as lib  # type: ignore[no-redef]
    rng = random.Random(1)
    latencies = []
    for _ in range(args.interrupts):
        first_update = threading.Event()
        returned: list[float] = []

        def on_update(sub: Any, response: Any, first_update: threading.Event = first_update
                      ) -> None:
            if hasattr(response, "data"):
                first_update.set()

        def run(sub: Any, returned: list[float] = returned) -> None:
            sub.block(repeater=False)
            returned.append(time.perf_counter())

        sub = lib.subscribe(args.pv)
        sub.add_callback(on_update)
        thread = threading.Thread(target=run, args=(sub,), daemon=True)
        thread.start()
        if not first_update.wait(10.0):
            raise RuntimeError(f"{args.client}: no first update from {args.pv}")
        time.sleep(rng.uniform(0.005, 0.030))  # let block() settle in its select()
        began = time.perf_counter()
        lib.interrupt()
        thread.join(10.0)
        if not returned:
            raise RuntimeError(f"{args.client}: block() did not return within 10 s")
        latencies.append(returned[0] - began)
    return {"client": args.client, **_support.summarize(latencies)}


# ---------------------------------------------------------------------------------------------
# Orchestrator


def start_poster_ioc(batch: int) -> servers.Server:
    """The poster soft IOC on a free loopback port (waits until it answers a search)."""
    prefix = servers.random_prefix()
    lock = servers.reserve_port()
    command = [sys.executable, str(POSTER_IOC), "--prefix", prefix, "--batch", str(batch)]
    server = servers.Server("poster", command, prefix=prefix, probe_pv=prefix + "value",
                            port_lock=lock, port=lock.port)
    try:
        return server.start()
    except BaseException:
        server.close()
        raise


def set_rate(server: servers.Server, rate: float) -> None:
    from caprobe import ca

    ca.write(server.pv("rate"), rate, notify=True, repeater=False)


def run_monitor(server: servers.Server, script: Path, client: str, duration: float,
                profile: bool = False) -> dict[str, Any]:
    ioc_cpu: list[float] = []

    def on_line(line: str) -> None:
        if line == "ready":
            ioc_cpu.append(_support.process_cpu_seconds(server.pid))
            ioc_cpu.append(time.perf_counter())

    result = _support.run_worker(
        script, ["--worker", "monitor", "--client", client, "--pv", server.pv("value"),
                 "--duration", str(duration)] + (["--profile"] if profile else []),
        server.env, timeout=duration + 60, on_line=on_line)
    if ioc_cpu:
        # Ends after the client's block() returned: close enough over a window of seconds.
        used = _support.process_cpu_seconds(server.pid) - ioc_cpu[0]
        result["ioc_cpu_pct"] = 100.0 * used / (time.perf_counter() - ioc_cpu[1])
    return result


def throughput_table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    rows = []
    for label, _rate in RATES:
        by_client = results[label]
        reference = by_client["caproto.sync"]["cpu_us_per_update"]
        for client in _support.CLIENTS:
            r = by_client[client]
            cpu = r["cpu_us_per_update"]
            ratio = cpu / reference if reference else float("nan")
            note = ""
            if client == "caprobe" and label.startswith("50,000"):
                met = (r["delivered_pct"] >= TARGET_DELIVERED - 0.05
                       and ratio <= TARGET_CPU_FRACTION)
                note = " ✅" if met else " ❌"
            rows.append([label, client, f"{r['posted_per_s']:,.0f}",
                         f"{r['delivered_per_s']:,.0f}", f"{r['delivered_pct']:.1f} %",
                         f"{cpu:.2f} µs" if cpu is not None else "-",
                         f"{ratio:.2f}×{note}", f"{r['cpu_pct']:.0f} %",
                         f"{r.get('ioc_cpu_pct', float('nan')):.0f} %"])
    return _support.markdown_table(
        ["posted", "client", "posted/s", "delivered/s", "delivered", "client CPU/update",
         "CPU vs caproto.sync", "client CPU", "IOC CPU"], rows)


def latency_table(latency: dict[str, dict[str, Any]]) -> str:
    rows = []
    for client, r in latency.items():
        note = ""
        if client == "caprobe":
            note = " ✅" if r["median_ms"] <= TARGET_INTERRUPT_MS else " ❌"
        rows.append([client, f"{r['median_ms']:.2f} ms{note}", f"{r['p90_ms']:.2f} ms",
                     f"{r['max_ms']:.2f} ms", str(r["n"]),
                     f"≤ {TARGET_INTERRUPT_MS:g} ms median" if client == "caprobe" else ""])
    return _support.markdown_table(
        ["interrupt() → block() returns", "median", "p90", "max", "n", "target"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=4.0,
                        help="seconds each client blocks per rate (default 4)")
    parser.add_argument("--interrupts", type=int, default=50)
    parser.add_argument("--batch", type=int, default=1,
                        help="poster posts per wake-up (default 1: evenly spaced)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile caprobe's client at 50k/s (cProfile)")
    parser.add_argument("--worker", choices=("monitor", "latency"), help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=_support.CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--pv", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        work = worker_monitor if args.worker == "monitor" else worker_latency
        print(json.dumps(work(args)), flush=True)
        return

    script = Path(__file__).resolve()
    began = time.monotonic()
    server = start_poster_ioc(args.batch)
    try:
        import os

        os.environ.update(server.env)  # for set_rate (caprobe.ca in this process)
        print(f"poster IOC pid {server.pid} on 127.0.0.1:{server.port}", file=sys.stderr)
        throughput: dict[str, dict[str, dict[str, Any]]] = {}
        idle_cpu: dict[str, float] = {}
        for label, rate in RATES:
            set_rate(server, rate)
            cpu0, wall0 = _support.process_cpu_seconds(server.pid), time.perf_counter()
            time.sleep(1.0)  # the poster's own cost at this rate, nobody subscribed
            idle_cpu[label] = 100.0 * (_support.process_cpu_seconds(server.pid) - cpu0) / (
                time.perf_counter() - wall0)
            throughput[label] = {}
            for client in _support.CLIENTS:
                print(f"  {label}: {client} ...", file=sys.stderr, flush=True)
                throughput[label][client] = run_monitor(server, script, client,
                                                        args.duration)
        profile_text = None
        if args.profile:
            set_rate(server, RATES[0][1])
            profile_text = run_monitor(server, script, "caprobe", args.duration,
                                       profile=True).get("profile")
        set_rate(server, -1.0)  # paused: no updates flow while interrupts are timed
        latency: dict[str, dict[str, Any]] = {}
        for client in ("caprobe", "caproto.sync"):
            print(f"  interrupt latency: {client} ...", file=sys.stderr, flush=True)
            latency[client] = _support.run_worker(
                script, ["--worker", "latency", "--client", client, "--pv",
                         server.pv("value"), "--interrupts", str(args.interrupts)],
                server.env, timeout=300)
    finally:
        server.close()

    machine = _support.machine_info()
    settings = (f"poster IOC: softIoc (EPICS base rsrv via pythonSoftIOC), loopback, PVA off, "
                f"C poster posts/wake={args.batch}; each client {args.duration:g} s in its own "
                f"process, DBR_TIME_DOUBLE, callback counts only; poster alone (no client): "
                + ", ".join(f"{label} {cpu:.0f} % CPU" for label, cpu in idle_cpu.items()))
    tables = throughput_table(throughput) + "\n\n" + latency_table(latency)
    print(f"\n{machine['date_utc']} · {machine['nproc']} CPUs · {machine['cpu']} · "
          f"Python {machine['python']}\n{settings}\n")
    print(tables)
    if profile_text:
        print(f"\ncProfile, caprobe client at 50k/s (top by own time):\n{profile_text}")
    path = _support.write_results("bench_monitor", {
        "machine": machine, "settings": settings, "throughput": throughput,
        "latency": latency, "poster_idle_cpu_pct": idle_cpu, "profile": profile_text,
        "tables": tables, "elapsed_s": time.monotonic() - began})
    print(f"\nresults: {path} ({time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
