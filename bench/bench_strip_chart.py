"""Strip chart benchmark (not a test): throughput, redraw rate, CPU and memory.

Part 1, live: an EPICS base soft IOC (the ``softioc`` package, started with the test harness in
tests/servers.py) runs N ``calc`` counters that all process ~1000 times a second, and the real
:class:`~caprobe.gui.strip_chart.StripChartPanel` charts them through caprobe.ca for
``--duration`` seconds. Reported: samples delivered per PV and how many were lost (the counters
count by one, so a missing monitor is a step of 2+), achieved rate, painted frames per second,
process CPU % of one core, RSS every second.

EPICS base only offers periodic scans down to ".1 second" (``SCAN ".001 second"`` is rejected:
not a menuScan choice, and menus cannot be extended after base.dbd is loaded), so the 1 kHz
comes from two ``calcout`` records that re-trigger each other through their output delay
(``ODLY``); the first forward-links through the N counters, so they process together.

Part 2, big buffer: one trace holding ``--big-samples`` samples (default 3.6 M: one hour at
1 kHz, with a few disconnect gaps), a one-hour window, and the time of one redraw
(``setData`` + clip + peak downsampling + paint), median and 90th percentile.

Usage::

    .venv/bin/python bench/bench_strip_chart.py                     # both parts, 60 s, 10 PVs
    .venv/bin/python bench/bench_strip_chart.py --window 30         # shows RSS flat once full
    .venv/bin/python bench/bench_strip_chart.py --skip-live --big-samples 3600000
    .venv/bin/python bench/bench_strip_chart.py --statistics   # statistics columns shown
    .venv/bin/python bench/bench_strip_chart.py --skip-big --breakdown  # GUI CPU per part

Results are printed and written as JSON to bench/results/ (git-ignored). Runs offscreen unless
``QT_QPA_PLATFORM`` says otherwise (e.g. xcb under Xvfb).

"fps" counts real paint events of the plot; "redraws" counts executed redraw-timer frames
(30 Hz timer). With a 1 h window one pixel column is ~3 s, so most frames change nothing
visible and Qt paints only when something does: there, paints/s is low by design.

Figures measured 2026-11-25 on a shared 2-vCPU VM (other jobs running: load average 2-5),
Python 3.11, PyQt5 5.15.11, pyqtgraph 0.14.0, numpy 2.4, offscreen, panel 1200x700 (plot
1192x459 px), 10 PVs from the calcout oscillator (ODLY 0.45 ms):

* 30 s window, 120 s (every frame scrolls): 1,176,050 samples, 0 lost, 980 Hz per PV;
  29.1 paints/s mean, lowest second 19.3, 96 % of seconds >= 25; CPU 39 % of one core (GUI
  thread 29.5 %, 10 ms per frame; CA thread 10 us per sample); RSS 88 MB -> 100 MB when the
  buffers are full (31 s), then flat at 101-102 MB to the end; shutdown 4 ms.
* 1 h window, 60 s: 587,280 samples, 0 lost, 979 Hz per PV; 30.2 redraws/s (28 paints/s);
  CPU 19 % (GUI 8.7 %, 2.9 ms per frame; CA 10 us per sample); RSS 88 -> 101 MB (still
  filling: the window is 1 h); shutdown 1 ms.
* One trace of 3.6 M samples, 1 h window: a full redraw (new data and X moved: clip, peak
  downsampling, step drawing, paint) 9.7 ms median / 11 ms p90 / 13 ms max wall at load 4,
  5.4 ms of CPU (7.3 ms wall on a quieter moment); scroll only 8.7 ms wall, 4.9 ms CPU.
  Stock PlotDataItem use (setData + setXRange each frame) took 39 ms.
* With the host overloaded (load 6-9) the frame rate dips for seconds at a time while the
  process uses little CPU; the likely cause (not proven) is the GIL shared by the GUI and CA
  threads, each hand-over waiting for the OS to schedule the other. No sample is lost then.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the IOC harness (servers.py) lives with the tests

import numpy as np  # noqa: E402
from PyQt5.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

OSCILLATOR_DB = """\
# 1 kHz without Python: two calcouts re-trigger each other after ODLY; oscA forward-links
# through the counters c0..c(N-1), so every counter processes once per oscillation.
record(calcout, "$(P)oscA") {
    field(PINI, "YES")
    field(CALC, "VAL+1")
    field(ODLY, "$(D)")
    field(OOPT, "Every Time")
    field(OUT,  "$(P)oscB.PROC PP")
    field(FLNK, "$(P)c0")
}
record(calcout, "$(P)oscB") {
    field(CALC, "VAL+1")
    field(ODLY, "$(D)")
    field(OOPT, "Every Time")
    field(OUT,  "$(P)oscA.PROC PP")
}
"""

COUNTER = 'record(calc, "$(P)c{i}") {{ field(CALC, "VAL+1") {flnk}}}\n'


class PaintCounter(QObject):
    """Counts real paint events of the plot viewport (what the operator sees), not timer ticks."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Paint:
            self.count += 1
        return False


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)  # like an idle event loop: do not turn the pump itself into CPU load


class Breakdown:
    """``--breakdown``: GUI-thread CPU per part of the chart, timed with ``time.thread_time()``
    around its slots (redraw, legend, statistics, ingest) and the paints of the plot and the
    legend. Whole-frame figures on a shared machine move by 10-25 % from run to run; the
    parts' shares are steadier, so they show where a change of a few percent comes from.
    ``_legend_tick`` (the legend's timer) includes ``_update_legend`` and, when due,
    ``_update_statistics``; the paints come later, from Qt's event loop."""

    SLOTS = ("_redraw", "_legend_tick", "_update_legend", "_update_statistics", "ingest")

    def __init__(self) -> None:
        self.cpu: dict[str, list[float]] = {}  # part -> [seconds, calls]
        self._patched: list[tuple[type, str, object]] = []

    def _add(self, part: str, seconds: float) -> None:
        entry = self.cpu.setdefault(part, [0.0, 0])
        entry[0] += seconds
        entry[1] += 1

    def _patch(self, cls: type, attr: str, replacement: object) -> None:
        self._patched.append((cls, attr, cls.__dict__.get(attr)))
        setattr(cls, attr, replacement)

    def install(self, panel_cls: type) -> None:
        """Wrap the chart's classes before the panel is made (its timers bind the slots)."""
        for attr in self.SLOTS:
            if attr in panel_cls.__dict__:
                self._patch(panel_cls, attr, self._timed(attr, panel_cls.__dict__[attr]))
        try:  # the builds before the chart package (ad84fa0) have neither class
            from caprobe.gui.chart.legend import ChartLegend
            from caprobe.gui.chart.plot import ChartPlot
        except ImportError:
            import pyqtgraph as pg

            from caprobe.gui import strip_chart

            ChartLegend, ChartPlot = None, getattr(strip_chart, "_ChartPlot", pg.PlotWidget)
        for cls, part in ((ChartLegend, "legend paint"), (ChartPlot, "plot paint")):
            if cls is not None:
                self._patch(cls, "viewportEvent", self._timed_paint(part, cls.viewportEvent))

    def uninstall(self) -> None:
        for cls, attr, original in reversed(self._patched):
            if original is None:
                delattr(cls, attr)
            else:
                setattr(cls, attr, original)
        self._patched.clear()

    def _timed(self, part: str, fn: object) -> object:
        def timed(*a: object, **k: object) -> object:
            started = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                self._add(part, time.thread_time() - started)

        return timed

    def _timed_paint(self, part: str, base: object) -> object:
        def viewport_event(widget: object, event: QEvent) -> bool:
            if event.type() != QEvent.Paint:
                return base(widget, event)
            started = time.thread_time()
            try:
                return base(widget, event)
            finally:
                self._add(part, time.thread_time() - started)

        return viewport_event

    def per_frame(self, frames: int) -> dict:
        return {
            part: {"ms_per_frame": round(1000 * sec / max(1, frames), 3), "calls": calls,
                   "ms_per_call": round(1000 * sec / max(1, calls), 3)}
            for part, (sec, calls) in sorted(self.cpu.items(), key=lambda kv: -kv[1][0])
        }  # fmt: skip


def run_live(app: QApplication, args: argparse.Namespace) -> dict:
    import servers

    from caprobe.gui.strip_chart import StripChartPanel

    n = args.pvs
    db_text = OSCILLATOR_DB + "".join(
        COUNTER.format(i=i, flnk=f'field(FLNK, "$(P)c{i + 1}") ' if i + 1 < n else "")
        for i in range(n)
    )
    with tempfile.NamedTemporaryFile("w", suffix=".db", delete=False) as f:
        f.write(db_text)
        db_path = f.name
    ioc = servers.start_softioc(db=db_path, acf=None, macros={"D": str(args.odly)})
    os.environ.update(ioc.env)
    breakdown = Breakdown() if args.breakdown else None
    try:
        if breakdown is not None:
            breakdown.install(StripChartPanel)
        panel = StripChartPanel()
        panel.resize(1200, 700)
        panel.show()
        panel.set_time_window(args.window)
        show_statistics(panel, args)
        painter = PaintCounter()
        panel.plot_widget.viewport().installEventFilter(painter)
        names = [ioc.pv(f"c{i}") for i in range(n)]
        for name in names:
            panel.add_pv(name)
        pump(app, 2.0)  # connect and settle; not measured
        for buf in panel.traces().values():
            buf.total_appended = 0
        start_values = {k: (b.last_value if len(b) else None) for k, b in panel.traces().items()}
        timeline: list[dict] = []
        t0, cpu0, paints0 = time.monotonic(), cpu_seconds(), painter.count
        frames0 = panel.frames_drawn
        if breakdown is not None:
            breakdown.cpu.clear()
        gui_cpu0 = time.thread_time()  # this (GUI) thread only: cost, independent of load
        last = {"t": t0, "cpu": cpu0, "paints": paints0, "frames": frames0, "gui": gui_cpu0}
        loop = QEventLoop()

        def sample() -> None:
            """Once a second, from the real event loop (as the app runs): no busy pump."""
            now, cpu = time.monotonic(), cpu_seconds()
            dt = now - last["t"]
            timeline.append({
                "t": round(now - t0, 2),
                "rss_mb": round(rss_mb(), 1),
                "cpu_pct": round(100 * (cpu - last["cpu"]) / dt, 1),
                "gui_cpu_pct": round(100 * (time.thread_time() - last["gui"]) / dt, 1),
                "fps": round((painter.count - last["paints"]) / dt, 1),
                "redraws": round((panel.frames_drawn - last["frames"]) / dt, 1),
                "samples": sum(b.total_appended for b in panel.traces().values()),
            })  # fmt: skip
            print("  ", timeline[-1], flush=True)
            last.update(
                t=now, cpu=cpu, paints=painter.count, frames=panel.frames_drawn,
                gui=time.thread_time(),
            )  # fmt: skip
            if now - t0 >= args.duration:
                loop.quit()

        ticker = QTimer()
        ticker.setTimerType(Qt.PreciseTimer)
        ticker.timeout.connect(sample)
        ticker.start(1000)
        loop.exec_()
        ticker.stop()
        elapsed = time.monotonic() - t0
        gui_cpu = time.thread_time() - gui_cpu0
        other_cpu = (cpu_seconds() - cpu0) - gui_cpu
        frames = panel.frames_drawn - frames0
        per_pv = {}
        for name, buf in panel.traces().items():
            values = buf.values[np.isfinite(buf.values)]
            first = start_values[name]
            got = buf.total_appended
            # counters step by exactly one per processing: expected = value span since start
            expected = int(values[-1] - first) if first is not None and len(values) else got
            per_pv[name] = {"received": got, "expected": expected, "lost": expected - got}
        total = sum(p["received"] for p in per_pv.values())
        result = {
            "pvs": n,
            "duration_s": round(elapsed, 1),
            "window_s": args.window,
            "odly_s": args.odly,
            "samples_received": total,
            "samples_lost": sum(p["lost"] for p in per_pv.values()),
            "rate_per_pv_hz": round(total / n / elapsed, 1),
            "fps_mean": round((painter.count - paints0) / elapsed, 1),
            "redraws_per_s": round((panel.frames_drawn - frames0) / elapsed, 1),
            "fps_min_1s": min(s["fps"] for s in timeline),
            "cpu_pct_mean": round(100 * (cpu_seconds() - cpu0) / elapsed, 1),
            "gui_thread_cpu_pct": round(100 * gui_cpu / elapsed, 1),
            "gui_cpu_ms_per_frame": round(1000 * gui_cpu / max(1, frames), 2),
            "ca_thread_cpu_us_per_sample": round(1e6 * other_cpu / max(1, total), 2),
            "rss_mb_start": timeline[0]["rss_mb"],
            "rss_mb_end": timeline[-1]["rss_mb"],
            "per_pv": per_pv,
            "timeline": timeline,
        }
        if breakdown is not None:
            result["gui_cpu_breakdown"] = breakdown.per_frame(frames)
        started = time.monotonic()
        panel.shutdown()
        result["shutdown_s"] = round(time.monotonic() - started, 3)
        panel.deleteLater()
        return result
    finally:
        if breakdown is not None:
            breakdown.uninstall()
        ioc.close()
        os.unlink(db_path)


def run_big(app: QApplication, args: argparse.Namespace) -> dict:
    from caprobe.chart_data import SampleBatch
    from caprobe.gui.strip_chart import StripChartPanel

    class NoCA(QObject):
        from PyQt5.QtCore import pyqtSignal

        samples_ready = pyqtSignal(object)

        def start(self) -> None: ...
        def stop(self, timeout_ms: int = 0) -> bool:
            return True

        def add_pv(self, name: str) -> None: ...
        def remove_pv(self, name: str) -> None: ...

    n = args.big_samples
    panel = StripChartPanel(worker=NoCA())
    panel.resize(1200, 700)
    panel.show()
    panel.set_time_window(3600.0)
    show_statistics(panel, args)
    panel.add_pv("BIG")
    now = time.time()
    t = now - 3600.0 + np.arange(n) * (3600.0 / n)
    rng = np.random.default_rng(0)
    v = np.cumsum(rng.normal(0, 1, n))
    sev = np.zeros(n, np.int8)
    for gap in (0.2, 0.55, 0.8):  # three disconnects
        i = int(gap * n)
        v[i], sev[i] = np.nan, 4
    panel.ingest(SampleBatch({"BIG": (t, v, sev)}, {"BIG": True}, {}))
    assert len(panel.traces()["BIG"]) == n
    pump(app, 0.5)
    viewport = panel.plot_widget.viewport()

    def one_redraw(new_data: bool) -> float:
        # Force the worst case: the X range moves (scroll step) so pyqtgraph re-clips and
        # re-downsamples all 3.6 M samples, and, with new_data, the curve is re-uploaded too.
        panel._x_anchor = 0.0
        if new_data:
            panel._traces["BIG"].dirty = True
            panel._traces["BIG"].last_upload = 0.0
        started, cpu_started = time.perf_counter(), time.thread_time()
        panel._redraw()
        viewport.repaint()  # synchronous paint of the plot
        wall = 1000 * (time.perf_counter() - started)
        cpu_times.append(1000 * (time.thread_time() - cpu_started))
        return wall

    cpu_times: list[float] = []
    for _ in range(3):  # warm-up
        one_redraw(True)
    cpu_times.clear()
    with_data = [one_redraw(True) for _ in range(args.big_repeats)]
    cpu_with_data, cpu_times = cpu_times, []
    scroll_only = [one_redraw(False) for _ in range(args.big_repeats)]
    cpu_scroll_only = cpu_times
    stats_ms = []
    if args.statistics and hasattr(panel, "statistics"):
        # what one recomputation of the visible-range statistics costs (its timer stretches
        # its interval so that this stays under 5 % of the GUI thread)
        t0, t1 = panel.visible_time_range()
        for k in range(5):
            panel._statistics.invalidate()  # force: a new range or new samples
            started = time.perf_counter()
            panel._statistics.update(panel._traces, t0 - k, t1)
            stats_ms.append(1000 * (time.perf_counter() - started))
    panel.shutdown()
    panel.deleteLater()

    def summary(xs: list[float]) -> dict:
        xs = sorted(xs)
        return {
            "median_ms": round(statistics.median(xs), 1),
            "p90_ms": round(xs[int(0.9 * (len(xs) - 1))], 1),
            "max_ms": round(xs[-1], 1),
        }

    return {
        "samples": n,
        "window_s": 3600,
        "plot_px": [panel.plot_widget.width(), panel.plot_widget.height()],
        "redraw_with_new_data": summary(with_data),
        "redraw_scroll_only": summary(scroll_only),
        # CPU time of the GUI thread per redraw: what it costs, whatever else runs on the host
        "redraw_with_new_data_cpu": summary(cpu_with_data),
        "redraw_scroll_only_cpu": summary(cpu_scroll_only),
        "statistics_shown": bool(args.statistics),
        "statistics_update": summary(stats_ms) if stats_ms else None,
    }


def show_statistics(panel: object, args: argparse.Namespace) -> None:
    """With --statistics, run as an operator would with the statistics columns shown (the
    panel then recomputes them from the visible range as it scrolls)."""
    if args.statistics:
        if not hasattr(panel, "show_statistics"):
            raise SystemExit("--statistics: this build's chart has no statistics")
        panel.show_statistics(True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="live run, seconds")
    parser.add_argument("--pvs", type=int, default=10)
    parser.add_argument("--window", type=float, default=3600.0, help="chart time window, s")
    parser.add_argument(
        "--odly", type=float, default=0.00045,
        help="calcout output delay; the period is about 2 x ODLY plus overhead",
    )  # fmt: skip
    parser.add_argument("--big-samples", type=int, default=3_600_000)
    parser.add_argument("--big-repeats", type=int, default=30)
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--statistics", action="store_true",
                        help="show the statistics of the visible range during the runs")
    parser.add_argument("--breakdown", action="store_true",
                        help="time the GUI thread's parts (redraw, legend, statistics, paints)")
    parser.add_argument(
        "--switch-interval", type=float, default=None,
        help="sys.setswitchinterval for the run (GIL hand-over between CA thread and GUI)",
    )  # fmt: skip
    args = parser.parse_args()

    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    results: dict = {
        "platform": os.environ.get("QT_QPA_PLATFORM"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "switch_interval_s": sys.getswitchinterval(),
        "loadavg_before": os.getloadavg(),
        "statistics_shown": args.statistics,
    }
    if not args.skip_live:
        print(f"live: {args.pvs} PVs, window {args.window:g} s, {args.duration:g} s", flush=True)
        results["live"] = run_live(app, args)
        live = {k: v for k, v in results["live"].items()
                if k not in ("per_pv", "timeline", "gui_cpu_breakdown")}
        print(json.dumps(live, indent=2))
        for part, cost in results["live"].get("gui_cpu_breakdown", {}).items():
            print(f"  {part:20s} {cost['ms_per_frame']:7.3f} ms/frame  {cost['calls']:6d} calls"
                  f"  {cost['ms_per_call']:.3f} ms/call")
    if not args.skip_big:
        print(f"big buffer: {args.big_samples:,} samples", flush=True)
        results["big"] = run_big(app, args)
        print(json.dumps(results["big"], indent=2))
    results["loadavg_after"] = os.getloadavg()
    out = args.out or REPO / "bench" / "results" / f"strip_chart-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
