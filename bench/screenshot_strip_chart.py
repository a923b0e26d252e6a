"""The README's strip chart screenshot (not a benchmark): a soft IOC with a few lively PVs, the
chart with per-trace Y axes, statistics shown, paused, two cursors placed; saved with Qt's
``QWidget.grab``.

Usage (a display is needed for a faithful look; Xvfb is fine)::

    Xvfb :57 -screen 0 1280x800x24 &
    DISPLAY=:57 XDG_CONFIG_HOME=$(mktemp -d) .venv/bin/python bench/screenshot_strip_chart.py \\
        --out resources/screenshots/strip-chart.png --size 1200x720
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the IOC harness (servers.py) lives with the tests

DB = """\
record(calc, "$(P)tick") { field(SCAN, ".1 second") field(CALC, "A+1") field(INPA, "$(P)tick") }
record(calc, "$(P)SR:current") {
    field(SCAN, ".1 second") field(INPA, "$(P)tick") field(EGU, "mA") field(PREC, "2")
    field(CALC, "A<150?200+8*SIN(A/12)+RNDM:(A<190?200-0.9*(A-150)+RNDM:164+6*SIN(A/12)+RNDM)")
}
record(calc, "$(P)RF:power") {
    field(SCAN, ".1 second") field(INPA, "$(P)tick") field(EGU, "kW") field(PREC, "1")
    field(CALC, "A<160?52+3*COS(A/9)+RNDM:(A<175?52-2.4*(A-160):16+2*RNDM)")
}
record(calc, "$(P)VAC:temp") {
    field(SCAN, ".5 second") field(INPA, "$(P)tick") field(EGU, "degC") field(PREC, "2")
    field(CALC, "A<170?24.5+0.3*SIN(A/20):24.5+0.04*(A-170)")
}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "resources/screenshots/strip-chart.png")
    parser.add_argument("--size", default="1200x720")
    parser.add_argument("--seconds", type=float, default=27.0, help="data to collect first")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    import servers
    from PyQt5.QtWidgets import QApplication

    from caprobe.gui.chart import StripChartPanel

    with tempfile.NamedTemporaryFile("w", suffix=".db", delete=False) as f:
        f.write(DB)
        db_path = f.name
    ioc = servers.start_softioc(db=db_path, acf=None, prefix="")
    os.environ.update(ioc.env)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    try:
        panel = StripChartPanel()
        panel.resize(width, height)
        panel.setWindowTitle("caprobe strip chart")
        panel.show()
        panel.set_time_window(30.0)
        panel.set_y_mode("per-trace")
        for name in ("SR:current", "RF:power", "VAC:temp"):
            panel.add_pv(ioc.pv(name))
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        panel.show_statistics(True)
        panel.set_paused(True)
        t0, t1 = panel.visible_time_range()
        panel.set_cursors(t0 + 0.45 * (t1 - t0), t0 + 0.8 * (t1 - t0))
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        panel.grab().save(str(args.out))
        print(f"written {args.out} ({width}x{height})")
        panel.shutdown()
    finally:
        ioc.close()
        os.unlink(db_path)


if __name__ == "__main__":
    main()
