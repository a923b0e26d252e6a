"""PV table benchmark (not a test): 5,000 PVs updating at 10 Hz each in the real table.

An EPICS base soft IOC (tests/many_ioc.py) runs N ``calc`` counters scanned at ".1 second";
the real :class:`~caprobe.gui.table.PVTableView` on the window's PV service shows them all,
for ``--duration`` seconds after every PV has connected. Measured in this process:

* event-loop gap: a 5 ms ``QTimer`` records when it fires; the longest interval minus 5 ms is
  the longest time the GUI thread could not react (targets: <= 50 ms);
* app CPU: this process (GUI thread + CA thread + workers), % of one core (target <= 60 %);
* currency: once a second, the age of the newest value the table holds (now - IOC
  timestamp) for 500 random rows (target: <= 0.2 s), and at each real paint of the table the
  age of the values shown for the visible rows;
* paints per second of the table's viewport (only visible rows are formatted and drawn).

    PYTHONPATH=$PWD .venv/bin/python bench/bench_table.py [--pvs 5000] [--duration 30]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO / "tests"), str(REPO), str(REPO / "bench")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import many_ioc  # noqa: E402
from _support import (  # noqa: E402
    machine_info,
    machine_line,
    markdown_table,
    process_cpu_seconds,
    write_results,
)
from PyQt5.QtCore import QEvent, QObject, QTimer  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PaintWatch(QObject):
    """At every paint of the table's viewport: the age of the values of the visible rows."""

    def __init__(self, view) -> None:
        super().__init__()
        self.view = view
        self.count = 0
        self.ages: list[float] = []
        self.recording = False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Paint and self.recording:
            self.count += 1
            now = time.time()
            rows = self.view.model.rows
            for source in self.view.visible_source_rows():
                stamp = rows[source].stamp
                if stamp:
                    self.ages.append(now - stamp)
        return False


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pvs", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--snapshot", action="store_true",
                        help="take a snapshot first: every row then has a saved value, and "
                             "each update is also compared with it")
    args = parser.parse_args()

    from caprobe.gui import heap
    from caprobe.gui.service import PVService
    from caprobe.gui.table import PVTableView

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        server = many_ioc.start(Path(tmp), count=0, ticking=args.pvs)
        try:
            os.environ.update(server.env)
            service = PVService(search_timeout=2.0)
            view = PVTableView(service)
            view.resize(1200, 800)
            view.show()
            heap.settle_heap()  # what run_gui does once the window is up
            names = [f"{server.prefix}tick:{i:04d}" for i in range(args.pvs)]
            # The load: from adding the names until the table has settled its heap
            # (caprobe.gui.heap), the longest time the loop could not react.
            load_ticks: list[float] = []
            load_ticker = QTimer()
            load_ticker.setInterval(5)
            load_ticker.timeout.connect(lambda: load_ticks.append(time.monotonic()))
            load_ticker.start()
            started = time.monotonic()
            load_ticks.append(started)
            view.add_names(names)
            add_s = time.monotonic() - started
            while not all(row.connected and row.stamp for row in view.model.rows):
                pump(app, 0.05)
                if time.monotonic() - started > 60:
                    raise RuntimeError("PVs did not all connect within 60 s")
            connect_s = time.monotonic() - started
            # The service reads each PV's metadata (units, PREC) once, after it connects;
            # measure the steady state after that.
            while not all(row.precision is not None for row in view.model.rows):
                pump(app, 0.05)
                if time.monotonic() - started > 180:
                    raise RuntimeError("metadata did not arrive within 180 s")
            metadata_s = time.monotonic() - started
            while heap.full_collections_deferred():
                pump(app, 0.05)
            settled_s = time.monotonic() - started
            load_ticker.stop()
            load_gaps = sorted(b - a for a, b in zip(load_ticks, load_ticks[1:], strict=False))
            if args.snapshot:
                view.take_snapshot()
                while view.snapshot_time is None:
                    pump(app, 0.05)
            pump(app, 3.0)  # settle
            delivered = [0]
            original_ingest = view.model.ingest_newest

            def counting_ingest(batch: dict) -> None:
                delivered[0] += len(batch)
                original_ingest(batch)

            view.feed.client.updates.disconnect(view.model.ingest_newest)
            view.feed.client.updates.connect(counting_ingest)
            arrived = itertools.count()
            collector = view.feed.client.collector
            original_add = collector.add

            def counting_add(pv: str, item: object) -> None:  # in the CA thread
                next(arrived)
                original_add(pv, item)

            collector.add = counting_add

            watch = PaintWatch(view)
            view.table.viewport().installEventFilter(watch)
            ticks: list[float] = []
            ticker = QTimer()
            ticker.setInterval(5)
            ticker.timeout.connect(lambda: ticks.append(time.monotonic()))
            model_ages: list[float] = []
            worst_rows: list[float] = []

            currency_samples: list[tuple[float, list]] = []

            def sample_currency() -> None:
                # 500 random rows a second. Only the responses are taken here: decoding 500
                # of them for their time stamps is work the table never does (it decodes the
                # rows on screen), and done here it stalled the loop it measures whenever it
                # fell on a burst of updates. The ages are computed after the run.
                rows = random.sample(view.model.rows, min(500, len(view.model.rows)))
                currency_samples.append((time.time(), [row.response for row in rows]))

            sampler = QTimer()
            sampler.setInterval(1000)
            sampler.timeout.connect(sample_currency)
            collections: list[tuple[int, float]] = []  # (generation, seconds), this process
            started_gc: list[float] = [0.0]

            def on_gc(phase: str, info: dict) -> None:
                if phase == "start":
                    started_gc[0] = time.perf_counter()
                else:
                    collections.append((info["generation"],
                                        time.perf_counter() - started_gc[0]))

            gc.callbacks.append(on_gc)
            watch.recording = True
            ticker.start()
            sampler.start()
            ioc0 = process_cpu_seconds(server.pid)
            arrived0 = next(arrived)
            cpu0, t0, gui0 = cpu_seconds(), time.monotonic(), time.thread_time()
            app_loop_end = t0 + args.duration
            QTimer.singleShot(int(args.duration * 1000), app.quit)
            app.exec_()
            elapsed = time.monotonic() - t0
            cpu = cpu_seconds() - cpu0
            gui_cpu = time.thread_time() - gui0
            ioc_cpu = process_cpu_seconds(server.pid) - ioc0
            updates = next(arrived) - arrived0
            ticker.stop()
            sampler.stop()
            gc.callbacks.remove(on_gc)
            del app_loop_end
            gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
            for sampled_at, responses in currency_samples:
                ages = [sampled_at - response.metadata.timestamp
                        for response in responses if response is not None]
                model_ages.extend(ages)
                worst_rows.append(max(ages))
            view.shutdown()
            service.shutdown(3000)
        finally:
            server.close()

    result = {
        "pvs": args.pvs,
        "snapshot": args.snapshot,
        "duration_s": round(elapsed, 1),
        "connect_s": round(connect_s, 2),
        "metadata_s": round(metadata_s, 2),
        "settled_s": round(settled_s, 2),
        "add_rows_ms": round(1000 * add_s, 1),
        "load_longest_gaps_ms": [round(1000 * (g - 0.005), 1) for g in load_gaps[-3:]],
        "updates_per_s": round(updates / elapsed),
        "rows_updated_per_s": round(delivered[0] / elapsed),
        "longest_gap_ms": round(1000 * (max(gaps) - 0.005), 1),
        "gap_p99_ms": round(1000 * (percentile(gaps, 0.99) - 0.005), 1),
        "app_cpu_pct": round(100 * cpu / elapsed, 1),
        "gui_thread_cpu_pct": round(100 * gui_cpu / elapsed, 1),
        "paints_per_s": round(watch.count / elapsed, 1),
        "ioc_cpu_pct": round(100 * ioc_cpu / elapsed, 1),
        "full_gc_count": sum(1 for gen, _ in collections if gen == 2),
        "longest_gc_ms": round(1000 * max((d for _, d in collections), default=0.0), 1),
        "load_average": os.getloadavg()[0],
        "model_age_median_s": round(statistics.median(model_ages), 3),
        "model_age_max_s": round(max(worst_rows), 3),
        "model_age_p99_s": round(percentile(model_ages, 0.99), 3),
        "shown_age_median_s": round(statistics.median(watch.ages), 3) if watch.ages else None,
        "shown_age_max_s": round(max(watch.ages), 3) if watch.ages else None,
    }
    machine = machine_info()
    print(machine_line(machine))
    print(markdown_table(list(result), [[str(v) for v in result.values()]]))
    write_results("table", {"machine": machine, **result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
