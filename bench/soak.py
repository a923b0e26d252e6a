"""Soak test (not CI): the app monitoring 10 PVs at ~1 kHz each for a long time.

An EPICS base soft IOC runs N ``calc`` counters processed ~1000 times a second (the oscillator
of bench_strip_chart.py: two ``calcout`` records re-triggering each other through ODLY). The
real :class:`~caprobe.gui.main_window.MainWindow` opens every counter as a probe tab and charts
it in its strip chart. Every ``--every`` seconds this process records its RSS, thread count,
open file descriptors, CPU and the samples delivered so far; at the end it compares what was
delivered with what the IOC posted (the counters count by one, so the posts between the first
and the last delivered sample are ``last - first``) for both paths: the strip chart (every
sample is kept) and the probe (every update reaches History.add, before the display coalesces).
Chart losses are split into updates the server never sent (rsrv coalesces the monitors of a
client that falls behind) and updates caprobe.ca delivered that did not reach the chart.

Usage::

    .venv/bin/python bench/soak.py                 # 60 min, 10 PVs
    .venv/bin/python bench/soak.py --minutes 2     # quick run
    .venv/bin/python bench/soak.py --minutes 5 --window 60 --every 10

Prints a table per sample and a summary; writes JSON to bench/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from _support import RESULTS_DIR, machine_info, markdown_table, servers  # noqa: E402
from bench_strip_chart import COUNTER, OSCILLATOR_DB  # noqa: E402
from PyQt5.QtCore import QEventLoop, QSettings, Qt, QTimer  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402


def proc_status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def slope_per_hour(times: list[float], values: list[float]) -> float:
    """Least-squares slope of values over times (s), per hour."""
    n = len(times)
    if n < 2:
        return 0.0
    mean_t, mean_v = sum(times) / n, sum(values) / n
    var = sum((t - mean_t) ** 2 for t in times)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True))
    return cov / var * 3600


def start_ioc(pvs: int, odly: float) -> tuple[servers.Server, str]:
    db_text = OSCILLATOR_DB + "".join(
        COUNTER.format(i=i, flnk=f'field(FLNK, "$(P)c{i + 1}") ' if i + 1 < pvs else "")
        for i in range(pvs))
    with tempfile.NamedTemporaryFile("w", suffix=".db", delete=False) as db:
        db.write(db_text)
    return servers.start_softioc(db=db.name, acf=None, macros={"D": str(odly)}), db.name


def run(args: argparse.Namespace) -> dict:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from caprobe.gui.main_window import MainWindow

    ioc, db_path = start_ioc(args.pvs, args.odly)
    os.environ.update(ioc.env)
    settings_dir = tempfile.mkdtemp(prefix="caprobe-soak-")
    settings = QSettings(str(Path(settings_dir) / "soak.ini"), QSettings.IniFormat)
    try:
        window = MainWindow(settings=settings)
        window.resize(1366, 740)
        window.show()
        chart = window.chart
        chart.set_time_window(args.window)
        names = [ioc.pv(f"c{i}") for i in range(args.pvs)]
        # Count what caprobe.ca hands the chart's callbacks (worker thread), to tell updates
        # the server never sent (rsrv coalesces a slow client's monitors) from ones the chart
        # lost after receiving them.
        collector = chart.worker.collector
        delivered: dict[str, int] = dict.fromkeys(names, 0)
        original_add = collector.add_sample

        def counting_add(pv: str, t: float, value: float, severity: int) -> None:
            delivered[pv] = delivered.get(pv, 0) + 1
            original_add(pv, t, value, severity)

        collector.add_sample = counting_add
        for name in names:
            if not args.no_probes:
                window.open_pv(name)
            if not args.no_chart:
                window.add_to_chart(name)

        # Settle (connect, first updates, lazy imports), then start counting from here.
        loop = QEventLoop()
        QTimer.singleShot(int(args.settle * 1000), loop.quit)
        loop.exec_()
        traces = chart.traces()
        if args.no_chart:
            missing = [n for n in names if not window.probe(n).history.updates]
        else:
            missing = [n for n in names if n not in traces or not len(traces[n])]
        if missing:
            raise SystemExit(f"soak: no samples for {missing} after {args.settle} s")
        delivered_at_start = dict(delivered)
        for buf in traces.values():
            buf.total_appended = 0
        first_chart = {n: traces[n].last_value if n in traces else 0.0 for n in names}
        probe_first = {}
        for name in names:
            hist = window.history(name)
            probe_first[name] = (hist.updates if hist else 0, hist.maximum if hist else None)

        machine = machine_info()  # now: the commit whose code is running, not the one at the end
        if args.tracemalloc:
            tracemalloc.start(args.tracemalloc)
        snapshots: list[tuple[float, tracemalloc.Snapshot]] = []
        t0, cpu0 = time.monotonic(), cpu_seconds()
        rows: list[dict] = []
        last = {"t": t0, "cpu": cpu0}
        duration = args.minutes * 60

        def sample() -> None:
            now, cpu = time.monotonic(), cpu_seconds()
            row = {
                "t_s": round(now - t0),
                "rss_mb": round(proc_status("VmRSS") / 1024, 1),
                "threads": proc_status("Threads"),
                "fds": open_fds(),
                "cpu_pct": round(100 * (cpu - last["cpu"]) / max(1e-9, now - last["t"]), 1),
                "chart_samples": sum(buf.total_appended for buf in chart.traces().values()),
                "load": round(os.getloadavg()[0], 1),
            }
            if args.tracemalloc:
                row["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 1e6, 1)
                # Once the chart buffers hold a full window, anything that still grows is
                # kept from the first snapshot taken after that.
                if not snapshots and now - t0 >= args.window + args.every:
                    snapshots.append((now, tracemalloc.take_snapshot()))
            rows.append(row)
            last.update(t=now, cpu=cpu)
            print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            if now - t0 >= duration:
                loop.quit()

        ticker = QTimer()
        ticker.setTimerType(Qt.PreciseTimer)
        ticker.timeout.connect(sample)
        sample()
        ticker.start(int(args.every * 1000))
        loop.exec_()
        ticker.stop()
        elapsed = time.monotonic() - t0
        growth: list[str] = []
        if args.tracemalloc and snapshots:
            since, first = snapshots[0]
            stats = tracemalloc.take_snapshot().compare_to(first, "traceback")
            growth = [f"+{stat.size_diff / 1e3:.0f} kB in {stat.count_diff:+d} blocks "
                      f"over {time.monotonic() - since:.0f} s:\n    "
                      + "\n    ".join(stat.traceback.format()[-6:])
                      for stat in stats[:12] if stat.size_diff > 0]
            tracemalloc.stop()

        per_pv = []
        traces = chart.traces()
        for name in names:
            buf = traces.get(name)
            posted = int(round(buf.last_value - first_chart[name])) if buf is not None else 0
            received = buf.total_appended if buf is not None else 0
            # The split is exact to within one 30 ms drain batch: samples in the collector when
            # counting started or stopped are counted as delivered but appended on the other
            # side of the mark (so small +/- pairs are in-flight samples, not losses).
            ca_delivered = delivered[name] - delivered_at_start[name]
            hist = window.history(name)
            probe_received = (hist.updates - probe_first[name][0]) if hist else 0
            # History.maximum is the newest value of a counter that only counts up.
            probe_posted = (int(round(hist.maximum - probe_first[name][1]))
                            if hist and hist.maximum is not None
                            and probe_first[name][1] is not None else 0)
            per_pv.append({"pv": name, "posted": posted, "chart_received": received,
                           "chart_lost": posted - received,
                           "chart_not_sent_by_server": posted - ca_delivered,
                           "chart_lost_in_client": ca_delivered - received,
                           "probe_posted": probe_posted,
                           "probe_received": probe_received,
                           "probe_lost": probe_posted - probe_received})
        started = time.monotonic()
        window.close()
        shutdown_s = time.monotonic() - started
        app.processEvents()
    finally:
        ioc.close()
        os.unlink(db_path)

    half = [r for r in rows if r["t_s"] >= rows[-1]["t_s"] / 2] or rows
    total_posted = sum(p["posted"] for p in per_pv) or sum(p["probe_posted"] for p in per_pv)
    return {
        "machine": machine,
        "pvs": args.pvs,
        "minutes": round(elapsed / 60, 2),
        "window_s": args.window,
        "probes": not args.no_probes,
        "chart": not args.no_chart,
        "rate_per_pv_hz": round(total_posted / args.pvs / elapsed, 1),
        "posted": total_posted,
        "chart_lost": sum(p["chart_lost"] for p in per_pv),
        "chart_not_sent_by_server": sum(p["chart_not_sent_by_server"] for p in per_pv),
        "chart_lost_in_client": sum(p["chart_lost_in_client"] for p in per_pv),
        "probe_lost": sum(p["probe_lost"] for p in per_pv),
        "rss_mb_start_end": [rows[0]["rss_mb"], rows[-1]["rss_mb"]],
        "rss_mb_min_max_second_half": [min(r["rss_mb"] for r in half),
                                       max(r["rss_mb"] for r in half)],
        "rss_mb_per_hour_second_half": round(slope_per_hour(
            [r["t_s"] for r in half], [r["rss_mb"] for r in half]), 1),
        "threads_start_end_max": [rows[0]["threads"], rows[-1]["threads"],
                                  max(r["threads"] for r in rows)],
        "fds_start_end_max": [rows[0]["fds"], rows[-1]["fds"], max(r["fds"] for r in rows)],
        "cpu_pct_mean": round(sum(r["cpu_pct"] for r in rows[1:]) / max(1, len(rows) - 1), 1),
        "shutdown_s": round(shutdown_s, 2),
        "per_pv": per_pv,
        "timeline": rows,
        "tracemalloc_growth": growth,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="soak duration")
    parser.add_argument("--pvs", type=int, default=10)
    parser.add_argument("--odly", type=float, default=0.00045,
                        help="calcout ODLY; the period is about 2 x ODLY plus overhead")
    parser.add_argument("--window", type=float, default=60.0,
                        help="strip chart time window, s (buffers hold window x rate)")
    parser.add_argument("--every", type=float, default=10.0, help="sampling period, s")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds to connect before counting starts")
    parser.add_argument("--no-probes", action="store_true",
                        help="chart only (no probe tab per PV)")
    parser.add_argument("--no-chart", action="store_true",
                        help="probe tabs only (nothing on the strip chart)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="trace Python allocations (this many frames) and print what "
                             "grew after the first full window (slows the app)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    print(f"soak: {args.pvs} PVs for {args.minutes:g} min, chart window {args.window:g} s, "
          f"sample every {args.every:g} s", flush=True)
    result = run(args)
    print()
    print(markdown_table(
        ["t (s)", "RSS MB", "threads", "fds", "CPU %", "chart samples", "load"],
        [[str(r["t_s"]), f"{r['rss_mb']:.1f}", str(r["threads"]), str(r["fds"]),
          f"{r['cpu_pct']:.0f}", f"{r['chart_samples']:,}", f"{r['load']:.1f}"]
         for r in result["timeline"]]))
    print()
    print(markdown_table(
        ["PV", "posted", "chart got", "chart lost (server/client)", "probe posted",
         "probe got", "probe lost"],
        [[p["pv"], f"{p['posted']:,}", f"{p['chart_received']:,}",
          f"{p['chart_lost']} ({p['chart_not_sent_by_server']}/{p['chart_lost_in_client']})",
          f"{p['probe_posted']:,}", f"{p['probe_received']:,}", str(p["probe_lost"])]
         for p in result["per_pv"]]))
    print()
    summary = {k: v for k, v in result.items()
               if k not in ("per_pv", "timeline", "machine", "tracemalloc_growth")}
    print(json.dumps(summary, indent=2))
    for line in result["tracemalloc_growth"]:
        print(line)
    out = args.out or RESULTS_DIR / f"soak-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
