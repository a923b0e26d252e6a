"""Retake the README's screenshots from the current code, on the demo IOC, with fresh settings.

    Xvfb :57 -screen 0 1400x900x24 &
    DISPLAY=:57 PYTHONPATH=. python resources/screenshots/take_screenshots.py

Writes main-window.png (light, 1400x800), main-window-dark.png and main-window-800x600.png next
to this file. Needs the demo extra (caproto runs the IOC). Settings go to a temporary
directory, so the shots show what a new operator sees and the user's settings are untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHOTS = (  # file, theme, width, height
    ("main-window.png", "light", 1400, 800),
    ("main-window-dark.png", "dark", 1400, 800),
    ("main-window-800x600.png", "light", 800, 600),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--settle", type=float, default=20.0,
                        help="seconds of demo data before each shot")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="caprobe-shots-")
    os.environ["XDG_CONFIG_HOME"] = scratch
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")

    from PyQt5.QtCore import QEventLoop, QSettings, QTimer

    from caprobe import demo
    from caprobe.gui import theme
    from caprobe.gui.app import make_application
    from caprobe.gui.main_window import MainWindow

    app = make_application()
    ioc = demo.start_demo()
    try:
        def wait(seconds: float) -> None:
            loop = QEventLoop()
            QTimer.singleShot(int(seconds * 1000), loop.quit)
            loop.exec_()

        for number, (file_name, theme_name, width, height) in enumerate(SHOTS):
            # a new window each time, as a new operator gets it at this size
            settings = QSettings(str(Path(scratch) / f"caprobe-{number}.ini"),
                                 QSettings.IniFormat)
            settings.setValue("view/theme", theme_name)
            window = MainWindow(settings)
            window.resize(width, height)
            for name in demo.DEMO_PVS:
                window.open_pv(name)
            window.tabs.setCurrentIndex(0)
            window.add_to_chart(demo.DEMO_PVS[0])
            window.probe(demo.DEMO_PVS[0]).set_precision(3)
            window.chart.set_precision(demo.DEMO_PVS[0], 3)
            window.show()
            wait(args.settle)
            path = args.out / file_name
            window.grab().save(str(path))
            print(f"{path} ({width}x{height}, {theme_name})")
            window.close()
        theme.apply("light")
        window.close()
    finally:
        ioc.stop()
    app.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
