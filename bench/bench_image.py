"""The probe's NTNDArray image under a camera-like load: does the GUI stay responsive?

A p4p server (tests/ioc/p4p_server.py, started by the tests' harness on loopback ports) posts
``image_live`` frames of ``--size`` uint16 pixels at ``--rate`` Hz; the main window probes
``pva://…image_live`` with its Image… window open (the whole picture on screen). Measured for
``--duration`` seconds from the real event loop:

- event-loop gap: a 5 ms precise timer's tick-to-tick intervals (max, p99, median) minus the
  5 ms period, i.e. the longest the GUI thread was busy without answering (a click, a repaint);
- frames received per second (the probe's History, counted in the PV service's thread), frames
  drawn per second, and the GUI thread's CPU time per drawn frame (``time.thread_time``);
- the whole process's CPU (PV Access client, decoding, GUI).

    QT_QPA_PLATFORM=offscreen python bench/bench_image.py --size 1024x1024 --rate 10

Results: a markdown line on stdout and JSON in bench/results/image.json.
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
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from PyQt5.QtCore import QEventLoop, QSettings, Qt, QTimer  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

TICK_MS = 5


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(args: argparse.Namespace) -> dict:
    import pva_servers

    from caprobe.gui import pva_backend
    from caprobe.gui.main_window import MainWindow

    server = pva_servers.start_p4p_server(args=["--image-size", args.size,
                                                "--image-rate", str(args.rate)])
    try:
        os.environ.update(server.pva_env)
        pva_backend.install()
        settings_dir = tempfile.mkdtemp(prefix="caprobe-bench-")
        settings = QSettings(os.path.join(settings_dir, "bench.ini"), QSettings.IniFormat)
        window = MainWindow(settings=settings)
        window.resize(1280, 800)
        window.show()
        probe = window.open_pv(f"pva://{server.pv('image_live')}")
        app = QApplication.instance()
        deadline = time.monotonic() + 15
        while probe.response is None and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        if probe.response is None:
            raise SystemExit("no image arrived within 15 s")
        window.drain()
        probe.open_image_window()
        view = probe.image_window.view
        settle = time.monotonic() + 2.0
        while time.monotonic() < settle:
            app.processEvents()
            time.sleep(0.002)

        intervals: list[float] = []
        last = [time.monotonic()]

        def tick() -> None:
            now = time.monotonic()
            intervals.append(now - last[0])
            last[0] = now

        loop = QEventLoop()
        ticker = QTimer()
        ticker.setTimerType(Qt.PreciseTimer)
        ticker.timeout.connect(tick)
        draws0, updates0 = view.draws, probe.history.updates
        cpu0, gui0, t0 = cpu_seconds(), time.thread_time(), time.monotonic()
        last[0] = t0
        ticker.start(TICK_MS)
        QTimer.singleShot(int(args.duration * 1000), loop.quit)
        loop.exec_()
        ticker.stop()
        elapsed = time.monotonic() - t0
        gui = time.thread_time() - gui0
        cpu = cpu_seconds() - cpu0
        draws = view.draws - draws0
        received = probe.history.updates - updates0
        gaps = sorted(max(0.0, i - TICK_MS / 1000) for i in intervals)
        frame = view.frame
        result = {
            "size": args.size,
            "dtype": frame.dtype_name if frame is not None else "?",
            "rate_hz": args.rate,
            "duration_s": round(elapsed, 1),
            "frames_received_per_s": round(received / elapsed, 1),
            "frames_drawn_per_s": round(draws / elapsed, 1),
            "measured_rate_shown": None if view.rate is None else round(view.rate, 1),
            "loop_gap_max_ms": round(1000 * gaps[-1], 1),
            "loop_gap_p99_ms": round(1000 * gaps[int(0.99 * (len(gaps) - 1))], 1),
            "loop_gap_median_ms": round(1000 * statistics.median(gaps), 2),
            "gui_thread_cpu_pct": round(100 * gui / elapsed, 1),
            "gui_ms_per_drawn_frame": round(1000 * gui / max(draws, 1), 1),
            "process_cpu_pct": round(100 * cpu / elapsed, 1),
            "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
            "platform": os.environ.get("QT_QPA_PLATFORM"),
        }
        window.close()
        return result
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1024x1024", help="WIDTHxHEIGHT (uint16 pixels)")
    parser.add_argument("--rate", type=float, default=10.0, help="frames per second posted")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    result = run(args)
    print(json.dumps(result, indent=1))
    print(f"| {result['size']} {result['dtype']} @ {result['rate_hz']:g} Hz "
          f"| {result['frames_received_per_s']} received/s "
          f"| {result['frames_drawn_per_s']} drawn/s "
          f"| loop gap max {result['loop_gap_max_ms']} ms, p99 {result['loop_gap_p99_ms']} ms "
          f"| GUI {result['gui_ms_per_drawn_frame']} ms/frame, "
          f"{result['gui_thread_cpu_pct']} % | process {result['process_cpu_pct']} % |")
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "image.json").write_text(json.dumps(result, indent=1))
    app.quit()


if __name__ == "__main__":
    main()
