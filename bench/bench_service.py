"""The GUI's PV service feeding a many-PV view (what a PV table needs): N PVs at 10 Hz.

An EPICS base soft IOC serves N ``calc`` counters scanned at 10 Hz. One
:class:`~caprobe.gui.service.LatestCollector` client subscribes to all of them (as a table
would); a GUI-thread slot touches every item of every batch (as a model would find its row).
Measured over ``--seconds`` after every PV has connected: updates delivered per second, batched
signals per second, GUI-thread time per batch (median and max), the longest event-loop gap
(10 ms heartbeat; on a loaded machine mostly the OS's doing) with the GUI thread's own longest
busy stretch, and the process's CPU.

    .venv/bin/python bench/bench_service.py --pvs 1000 2000 --seconds 10

Prints a markdown table; writes JSON to bench/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from _support import machine_info, markdown_table, servers, write_results  # noqa: E402

RECORD = 'record(calc, "$(P)c{i}") {{ field(SCAN, ".1 second") field(CALC, "A+1") ' \
         'field(INPA, "$(P)c{i}") }}\n'


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(pvs: int, seconds: float, settle: bool) -> dict:
    from PyQt5.QtCore import QEventLoop, Qt, QTimer
    from PyQt5.QtWidgets import QApplication

    from caprobe.gui.heap import settle_heap
    from caprobe.gui.service import LatestCollector, PVService

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.NamedTemporaryFile("w", suffix=".db", delete=False) as db:
        db.write("".join(RECORD.format(i=i) for i in range(pvs)))
    ioc = servers.start_softioc(db=db.name, acf=None)
    os.environ.update(ioc.env)
    names = [ioc.pv(f"c{i}") for i in range(pvs)]
    service = PVService(search_timeout=5.0)
    try:
        client = service.client(LatestCollector())
        connected: set[str] = set()
        counts = {"updates": 0, "batches": 0}
        batch_ms: list[float] = []

        def on_batch(batch: dict) -> None:
            started = time.perf_counter()
            for name, items in batch.items():
                for item in items:
                    if hasattr(item, "connected"):
                        if item.connected:
                            connected.add(name)
                    else:
                        counts["updates"] += 1
            counts["batches"] += 1
            batch_ms.append((time.perf_counter() - started) * 1000)

        client.updates.connect(on_batch)
        t_connect = time.monotonic()
        client.add_many(names)

        def wait(sec: float) -> None:
            loop = QEventLoop()
            QTimer.singleShot(int(sec * 1000), loop.quit)
            loop.exec_()

        while len(connected) < pvs and time.monotonic() - t_connect < 60:
            wait(0.1)
        connect_s = time.monotonic() - t_connect
        if settle:
            settle_heap()  # what run_gui does once the window is up
        wait(1.0)
        counts.update(updates=0, batches=0)
        batch_ms.clear()
        beats: list[float] = []
        heartbeat = QTimer()
        heartbeat.setTimerType(Qt.PreciseTimer)
        heartbeat.setInterval(10)
        heartbeat.timeout.connect(
            lambda: beats.append((time.perf_counter(), time.thread_time())))
        heartbeat.start()
        t0, cpu0 = time.monotonic(), cpu_seconds()
        wait(seconds)
        elapsed, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
        heartbeat.stop()
        gaps = [(b[0] - a[0]) * 1000 for a, b in zip(beats, beats[1:], strict=False)]
        busy = [(b[1] - a[1]) * 1000 for a, b in zip(beats, beats[1:], strict=False)]
        return {
            "pvs": pvs,
            "heap_frozen": settle,
            "connected": len(connected),
            "connect_s": round(connect_s, 2),
            "updates_per_s": round(counts["updates"] / elapsed),
            "expected_per_s": pvs * 10,
            "signals_per_s": round(counts["batches"] / elapsed, 1),
            "gui_ms_per_batch_median": round(statistics.median(batch_ms), 2) if batch_ms else 0,
            "gui_ms_per_batch_max": round(max(batch_ms), 2) if batch_ms else 0,
            "longest_loop_gap_ms": round(max(gaps), 1) if gaps else 0,
            # the GUI thread's own CPU between two beats: its work, whatever the machine's load
            "longest_gui_busy_ms": round(max(busy), 1) if busy else 0,
            "cpu_pct": round(100 * cpu / elapsed, 1),
        }
    finally:
        service.shutdown()
        ioc.close()
        os.unlink(db.name)
        app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pvs", type=int, nargs="+", default=[1000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-settle", action="store_true",
                        help="do not freeze the heap after connecting (run_gui does)")
    args = parser.parse_args()
    machine = machine_info()
    rows = [run(n, args.seconds, not args.no_settle) for n in args.pvs]
    header = list(rows[0])
    print(markdown_table(header, [[str(row[key]) for key in header] for row in rows]))
    print(f"\nmachine: {machine['cpu']}, {machine['nproc']} cores, load {machine['load_average']}")
    write_results("bench_service", {"machine": machine, "rows": rows})


if __name__ == "__main__":
    main()
