"""Screenshots of the probe on an NTNDArray PV (tests/ioc/p4p_server.py's image_live, on
loopback ports) with fresh settings, under Xvfb:

    xvfb-run -s "-screen 0 1920x1080x24" env PYTHONPATH=. python \
        resources/screenshots/make_pva_image.py --out /tmp/shots

Writes pva-image-1920.png (main window 1920x1080: the image in the probe's details, the
status bar), pva-image-800x600.png (main window at 800x600) and pva-image-window.png (the
Image… window) into --out.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--settle", type=float, default=3.0)
    args = parser.parse_args()
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="caprobe-shots-")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")
    sys.path.insert(0, str(REPO / "tests"))
    import pva_servers
    from PyQt5.QtCore import QSettings

    from caprobe.gui import pva_backend
    from caprobe.gui.app import make_application
    from caprobe.gui.main_window import MainWindow

    server = pva_servers.start_p4p_server(args=["--image-size", "320x240",
                                                "--image-rate", "5"])
    try:
        os.environ.update(server.pva_env)
        app = make_application([])
        pva_backend.install()
        args.out.mkdir(parents=True, exist_ok=True)

        def pump(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                app.processEvents()
                time.sleep(0.01)

        for name, (width, height), window_too in (("pva-image-1920.png", (1920, 1080), False),
                                                   ("pva-image-800x600.png", (800, 600), True)):
            settings = QSettings(str(Path(os.environ["XDG_CONFIG_HOME"]) / f"{name}.ini"),
                                 QSettings.IniFormat)
            window = MainWindow(settings=settings)
            window.resize(width, height)
            window.show()
            pump(0.5)
            probe = window.open_pv(f"pva://{server.pv('image_live')}")
            pump(args.settle)
            window.grab().save(str(args.out / name))
            if window_too:
                probe.open_image_window()
                pump(args.settle)
                probe.image_window.grab().save(str(args.out / "pva-image-window.png"))
            window.close()
            pump(0.5)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
