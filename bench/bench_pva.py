"""caprobe.pva against p4p's own client, side by side in one run, on one p4p server
(tests/ioc/p4p_server.py) on loopback.

    .venv/bin/python bench/bench_pva.py [--reads 300] [--fresh 30] [--repeats 3]

- one-shot reads: ``caprobe.pva.read`` vs ``p4p.client.thread.Context.get``, warm (a context
  and channel already up) and fresh (a new client context per call: search, connect, get),
  interleaved call by call in one process so both see the same load;
- monitors: the server posts a counter at 1 kHz and 10 kHz (``burst``); ``caprobe.pva``'s
  subscribe/block with a callback that reads ``.data``, vs a bare p4p ``Context.monitor``
  callback that reads the value; each client in its own process (its own CPU), updates
  delivered and CPU per update between its first and last update of the burst;
- interrupt(): time from ``caprobe.pva.interrupt()`` to ``block()`` returning.

Markdown tables on stdout, JSON in bench/results/bench_pva-*.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import _support

SCRIPT = Path(__file__).resolve()
RATES = (1_000.0, 10_000.0)
MONITOR_CLIENTS = ("caprobe.pva", "p4p", "p4p+pipeline")
BURST_SECONDS = 2.0


# ---------------------------------------------------------------------------------------------
# Workers (run as ``bench_pva.py --worker MODE ...`` in their own process)


def worker_reads(args: argparse.Namespace) -> dict[str, Any]:
    from p4p.client.thread import Context

    from caprobe import pva

    name = args.pv
    ctx = Context("pva")
    warm = _support.time_alternating(
        [lambda: pva.read(name), lambda: ctx.get(name)], args.reads, warmup=30)

    def caprobe_fresh() -> None:
        pva.reset()  # drop the shared context: the next read starts from nothing
        pva.read(name, timeout=5)

    def p4p_fresh() -> None:
        with Context("pva") as fresh:
            fresh.get(name, timeout=5)

    fresh = _support.time_alternating([caprobe_fresh, p4p_fresh], args.fresh, warmup=2)
    ctx.close()
    out: dict[str, Any] = {}
    for label, results in (("warm", warm), ("fresh", fresh)):
        for client, (walls, cpu) in zip(("caprobe.pva", "p4p"), results, strict=True):
            out[f"{label}/{client}"] = {**_support.summarize(walls),
                                        "cpu_us_per_call": cpu / len(walls) * 1e6}
    return out


class _Tally:
    """Counts a burst 1..count: first/last update times and CPU, values missing."""

    def __init__(self, count: int):
        self.count = count
        self.seen: set[int] = set()
        self.updates = 0
        self.cpu_first = self.cpu_last = 0.0
        self.wall_first = self.wall_last = 0.0
        self.done = threading.Event()

    def value(self, number: int) -> None:
        if not self.updates:
            self.cpu_first, self.wall_first = time.process_time(), time.perf_counter()
        self.updates += 1
        self.seen.add(number)
        if number == self.count:
            self.cpu_last, self.wall_last = time.process_time(), time.perf_counter()
            self.done.set()

    def result(self) -> dict[str, Any]:
        span = max(self.updates - 1, 1)
        return {
            "count": self.count, "delivered": len(self.seen), "updates": self.updates,
            "cpu_us_per_update": (self.cpu_last - self.cpu_first) / span * 1e6,
            "rate_hz": span / max(self.wall_last - self.wall_first, 1e-9),
        }


def worker_monitor(args: argparse.Namespace) -> dict[str, Any]:
    tally = _Tally(args.count)
    if args.client == "caprobe.pva":
        from caprobe import pva

        sub = pva.subscribe(args.pv)

        first = threading.Event()

        def on_update(response: Any) -> None:
            if isinstance(response, pva.ConnectionEvent):
                return
            if not first.is_set():  # the value before the burst (the last one's end)
                first.set()
                print("ready", flush=True)
                return
            tally.value(int(response.data[0]))
            if tally.done.is_set():
                sub.interrupt()

        sub.add_callback(on_update)
        sub.block(duration=args.timeout)
        result = tally.result()
        result["queue_overflows"] = sub.queue_overflows
        return result
    from p4p.client.thread import Context

    ctx = Context("pva")
    first = threading.Event()

    def callback(value: Any) -> None:
        if not first.is_set():  # the value before the burst (the last one's end)
            first.set()
            print("ready", flush=True)
            return
        tally.value(int(value))

    # "p4p": its default pvRequest; "p4p+pipeline": the one caprobe.pva sends, like for like.
    request = None
    if args.client == "p4p+pipeline":
        from caprobe.pva import subscribe

        request = subscribe(args.pv).pv_request
    subscription = ctx.monitor(args.pv, callback, request=request)
    tally.done.wait(args.timeout)
    subscription.close()
    ctx.close()
    return tally.result()


def worker_interrupt(args: argparse.Namespace) -> dict[str, Any]:
    from caprobe import pva

    samples = []
    for _ in range(args.samples):
        sub = pva.subscribe(args.pv)
        connected = threading.Event()
        returned: list[float] = []

        def on_update(response: Any, connected: threading.Event = connected) -> None:
            if not isinstance(response, pva.ConnectionEvent):
                connected.set()

        sub.add_callback(on_update)

        def run(sub: Any = sub, returned: list[float] = returned) -> None:
            sub.block(duration=30)
            returned.append(time.perf_counter())

        thread = threading.Thread(target=run)
        thread.start()
        connected.wait(10)
        time.sleep(0.02)  # block() is idle in its wait, as between real updates
        began = time.perf_counter()
        pva.interrupt()
        thread.join(10)
        samples.append(returned[0] - began)
    return _support.summarize(samples)


WORKERS = {"reads": worker_reads, "monitor": worker_monitor, "interrupt": worker_interrupt}


# ---------------------------------------------------------------------------------------------
# Driver


def run_monitor(server: Any, client: str, rate: float, timeout: float) -> dict[str, Any]:
    from p4p.client.thread import Context

    count = int(rate * BURST_SECONDS)
    with Context("pva", conf={k: v for k, v in server.pva_env.items() if v},
                 useenv=False) as ctx:
        ctx.put(server.pv("rate"), rate, timeout=5)

        def on_line(line: str) -> None:
            if line == "ready":
                ctx.put(server.pv("burst"), count, timeout=5)

        return _support.run_worker(
            SCRIPT, ["--worker", "monitor", "--client", client, "--pv", server.pv("seq"),
                     "--count", str(count), "--timeout", str(timeout)],
            server.pva_env, timeout=timeout + 30, on_line=on_line)


def _ms(summary: dict[str, Any]) -> str:
    return f"{summary['median_ms']:.3f} (p90 {summary['p90_ms']:.3f})"


def reads_table(reads: dict[str, Any]) -> str:
    rows = []
    for label in ("warm", "fresh"):
        ours, theirs = reads[f"{label}/caprobe.pva"], reads[f"{label}/p4p"]
        for client, summary in (("caprobe.pva.read", ours), ("p4p Context.get", theirs)):
            rows.append([label, client, _ms(summary), f"{summary['cpu_us_per_call']:.0f}"])
        rows.append([label, "ratio caprobe/p4p",
                     f"{ours['median_ms'] / theirs['median_ms']:.2f}x",
                     f"{ours['cpu_us_per_call'] / theirs['cpu_us_per_call']:.2f}x"])
    return _support.markdown_table(["context", "client", "wall ms, median (p90)",
                                    "CPU µs/call"], rows)


def monitor_table(monitors: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    rows = []
    for rate_label, per_client in monitors.items():
        medians = {}
        for client, runs in per_client.items():
            cpu = statistics.median(r["cpu_us_per_update"] for r in runs)
            medians[client] = cpu
            delivered = min(r["delivered"] / r["count"] for r in runs) * 100
            rates = statistics.median(r["rate_hz"] for r in runs)
            overflows = sum(r.get("queue_overflows", 0) for r in runs)
            rows.append([rate_label, client, f"{cpu:.1f}",
                         f"{delivered:.2f} %" + (f" ({overflows} overflows)"
                                                  if client == "caprobe.pva" else ""),
                         f"{rates:,.0f}"])
        for reference in ("p4p", "p4p+pipeline"):
            if reference in medians and "caprobe.pva" in medians:
                rows.append([rate_label, f"ratio caprobe/{reference}",
                             f"{medians['caprobe.pva'] / medians[reference]:.2f}x", "", ""])
    return _support.markdown_table(["posted", "client", "CPU µs/update (median)",
                                    "delivered (worst run)", "received/s"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--pv")
    parser.add_argument("--client", default="caprobe.pva")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--reads", type=int, default=300, help="warm reads timed per client")
    parser.add_argument("--fresh", type=int, default=30, help="fresh-context reads per client")
    parser.add_argument("--repeats", type=int, default=3, help="monitor runs per client/rate")
    parser.add_argument("--samples", type=int, default=30, help="interrupt() samples")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)), flush=True)
        return

    import pva_servers

    began = time.monotonic()
    machine = _support.machine_info()
    server = pva_servers.start_p4p_server()
    try:
        reads = _support.run_worker(
            SCRIPT, ["--worker", "reads", "--pv", server.pv("double"), "--reads",
                     str(args.reads), "--fresh", str(args.fresh)], server.pva_env,
            timeout=600)
        monitors: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for rate in RATES:
            label = f"{rate:,.0f} updates/s"
            monitors[label] = {client: [] for client in MONITOR_CLIENTS}
            for _ in range(args.repeats):
                for client in MONITOR_CLIENTS:  # round robin: the same load for each
                    monitors[label][client].append(run_monitor(server, client, rate,
                                                               args.timeout))
        interrupt = _support.run_worker(
            SCRIPT, ["--worker", "interrupt", "--pv", server.pv("double"), "--samples",
                     str(args.samples)], server.pva_env, timeout=600)
    finally:
        server.close()
    tables = "\n\n".join([
        "One-shot reads of an NTScalar double:\n\n" + reads_table(reads),
        "Monitors (a counter posted by the p4p server for 2 s; p4p: a bare Context.monitor "
        "callback with p4p's default pvRequest; p4p+pipeline: the same with caprobe.pva's "
        "pvRequest, queueSize=4096 and pipeline=true):\n\n" + monitor_table(monitors),
        _support.markdown_table(["caprobe.pva.interrupt() to block() returning",
                                 "median ms", "p90 ms", "max ms"],
                                [["", f"{interrupt['median_ms']:.2f}",
                                  f"{interrupt['p90_ms']:.2f}", f"{interrupt['max_ms']:.2f}"]]),
    ])
    print(_support.machine_line(machine))
    print()
    print(tables)
    _support.write_results("bench_pva", {
        "machine": machine, "elapsed_s": time.monotonic() - began,
        "settings": f"{args.reads} warm / {args.fresh} fresh reads per client, "
                    f"{args.repeats} monitor runs per client and rate, "
                    f"{args.samples} interrupt samples",
        "reads": reads, "monitors": monitors, "interrupt": interrupt, "table": tables})


if __name__ == "__main__":
    sys.exit(main())
