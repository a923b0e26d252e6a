"""Make resources/screenshots/pv-table.png: the PV table with differences highlighted.

    Xvfb :57 -screen 0 1280x900x24 &
    DISPLAY=:57 QT_QPA_PLATFORM=xcb XDG_CONFIG_HOME=$(mktemp -d) PYTHONPATH=$PWD \\
        .venv/bin/python resources/screenshots/make_pv_table.py [WIDTH HEIGHT [OUT.png]]

A soft IOC with 200 setpoints (tests/many_ioc.py) on a free loopback port; a snapshot is
taken, another client (caproto) changes a few PVs, one row gets its own tolerance, two rows
are restored (one of them read-only), and one PV does not exist.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import many_ioc  # noqa: E402
from caproto.sync.client import write as other_write  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    width, height = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (1200, 900)
    out = sys.argv[3] if len(sys.argv) > 3 else str(Path(__file__).with_name("pv-table.png"))
    server = many_ioc.start(Path(tempfile.mkdtemp()), count=200, ticking=3)
    try:
        os.environ.update(server.env)
        app = QApplication(sys.argv)
        from caprobe.gui.main_window import MainWindow
        from caprobe.snapshot.model import Tolerance

        window = MainWindow()
        window.resize(width, height)
        window.show()
        table = window.pv_table
        window.lower_tabs.setCurrentWidget(table)
        names = [server.pv(e) for e in ("mode", "onoff", "label", "wave", "limited", "locked")]
        names += [f"{server.prefix}tick:{i:04d}" for i in range(3)]
        names += [many_ioc.set_name(server.prefix, i) for i in range(200)]
        table.add_names(names[:6] + [server.prefix + "spare:I"] + names[6:])
        pump(app, 3)
        table.take_snapshot()
        while table.snapshot_time is None:  # the missing PV costs the snapshot's timeout
            pump(app, 0.1)

        def put(name: str, value: object) -> None:
            other_write(name, value, repeater=False, timeout=5, notify=True)

        for index, value in ((1, 0.12), (2, 7.5), (3, 9.0), (4, 0.4004)):
            put(many_ioc.set_name(server.prefix, index), value)
        put(server.pv("mode"), 2)
        put(server.pv("label"), "shift B")
        model = table.model
        model.set_tolerance([model.row_of(many_ioc.set_name(server.prefix, 4))],
                            Tolerance(0.01))
        pump(app, 1)
        selection = table.table.selectionModel()
        for name in (many_ioc.set_name(server.prefix, 3), server.pv("locked")):
            index = table.proxy.mapFromSource(model.index(model.row_of(name), 0))
            selection.select(index, selection.Select | selection.Rows)
        table.message.connect(lambda text: print("table:", text))
        table.restore()
        deadline = time.monotonic() + 20
        while getattr(table, "preview", None) is None or not table.preview.isVisible():
            pump(app, 0.05)
            if time.monotonic() > deadline:
                raise RuntimeError("no restore preview")
        table.preview.accept()
        while not hasattr(table, "last_restore"):
            pump(app, 0.05)
            if time.monotonic() > deadline + 20:
                raise RuntimeError("restore did not finish")
        table.table.clearSelection()
        window.open_pv(many_ioc.set_name(server.prefix, 2))
        pump(app, 2)
        window.lower_tabs.setCurrentWidget(table)
        window.splitter.setSizes([300, height - 300])
        pump(app, 1.5)
        window.grab().save(out)
        print(f"{out}: {model.differing} rows beyond tolerance")
        window.close()
        pump(app, 0.5)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
