"""Start the GUI: the QApplication (high-DPI set up before it exists) and the main window."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

# pyqtgraph picks the first Qt binding it finds (PyQt6 before PyQt5); caprobe is PyQt5.
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")

from PyQt5.QtCore import (  # noqa: E402
    QCoreApplication,
    QSettings,
    Qt,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)  # noqa: E402
from PyQt5.QtGui import QGuiApplication  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

from caprobe.gui.heap import settle_heap  # noqa: E402
from caprobe.gui.main_window import MainWindow  # noqa: E402


def make_application(argv: Sequence[str] | None = None) -> QApplication:
    """The one QApplication, with high-DPI scaling switched on (must precede its creation).
    PV Access (``pva://`` names) is switched on for every view here."""
    install_protocols()
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QCoreApplication.setAttribute(Qt.AA_EnableHighDpiScaling, True)
    QCoreApplication.setAttribute(Qt.AA_UseHighDpiPixmaps, True)
    if hasattr(QGuiApplication, "setHighDpiScaleFactorRoundingPolicy"):
        # 150 % screens get 1.5, not 2 (Qt >= 5.14)
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication(list(argv) if argv is not None else [sys.argv[0]])
    app.setOrganizationName("caprobe")
    app.setApplicationName("caprobe")
    try:
        from caprobe.resources import DESKTOP_FILE_NAME, app_icon

        app.setWindowIcon(app_icon())
        app.setDesktopFileName(DESKTOP_FILE_NAME)
    except Exception:  # an icon is decoration; never a reason not to start
        pass
    return app


def install_protocols() -> None:
    """Register PV Access with the PV service, so probe, chart and waveform take ``pva://``
    names (without p4p such a name is refused with the line saying how to install it)."""
    from caprobe.gui import pva_backend

    pva_backend.install()


def run_gui(pv_names: Sequence[str] = (), *, on_exit: Callable[[], None] | None = None,
            chart_pvs: Sequence[str] = (),
            configure: Callable[[MainWindow], None] | None = None,
            settings: QSettings | None = None) -> int:
    """Open the main window with ``pv_names`` (and ``chart_pvs`` on the strip chart) and run
    until it closes.  ``configure(window)`` runs once the PVs are open; ``settings`` replaces
    the user's (the demo keeps its own)."""
    app = make_application()
    window = MainWindow(settings)
    _report_exceptions_in_status_bar(window)
    for name in pv_names:
        window.open_pv(name)
    if pv_names:
        window.tabs.setCurrentIndex(0)
    for name in chart_pvs:
        window.add_to_chart(name)
    if configure is not None:
        configure(window)
    # aboutToQuit also covers a session logout that never sends closeEvent.
    app.aboutToQuit.connect(window.shutdown)
    if on_exit is not None:
        app.aboutToQuit.connect(on_exit)
    # Ctrl+C in the terminal quits cleanly: Qt's loop does not run Python signal handlers, so
    # give Python a moment every 200 ms.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wakeup = QTimer()
    wakeup.timeout.connect(lambda: None)
    wakeup.start(200)
    window.show()
    settle_heap()
    return app.exec_()


def _report_exceptions_in_status_bar(window: MainWindow) -> None:
    """PyQt5 aborts the whole application on an exception escaping a slot; an operator's
    probe must survive a bug in one display path: log the traceback, say it in one line."""
    import traceback

    def hook(kind: type[BaseException], value: BaseException, tb: object) -> None:
        traceback.print_exception(kind, value, tb)  # type: ignore[arg-type]
        try:
            window.statusBar().showMessage(f"Internal error (details on stderr): {value}",
                                           15000)
        except RuntimeError:  # the window is already gone
            pass

    sys.excepthook = hook


def _only_critical_qt_messages(kind: int, _context: object, message: str) -> None:
    if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
        print(message, file=sys.stderr)


def self_test(pv_name: str, timeout: float = 10.0) -> int:
    """Open the main window, read ``pv_name`` through the probe's own code path, print the
    value and exit: 0 when a value arrived, 1 with one line of explanation otherwise."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # The result must be one clear line: drop Qt's chatter (the offscreen platform warns
    # about window hints it cannot honour); keep critical messages.
    qInstallMessageHandler(_only_critical_qt_messages)
    app = make_application()
    # A throw-away settings file: a self-test must not change the operator's recent PVs.
    scratch = tempfile.TemporaryDirectory(prefix="caprobe-self-test-")
    settings = QSettings(os.path.join(scratch.name, "caprobe.ini"), QSettings.IniFormat)
    window = MainWindow(settings, search_timeout=min(2.0, timeout))
    window.show()
    probe = window.open_pv(pv_name)
    if probe is None:
        window.shutdown()
        print(f"caprobe self-test failed: {window.statusBar().currentMessage()}",
              file=sys.stderr)
        return 2
    deadline = time.monotonic() + timeout
    outcome: dict[str, str] = {}

    def check() -> None:
        if probe.response is not None and probe.ctrl is not None:
            outcome["ok"] = f"{pv_name} {probe.report_text()}"
        elif time.monotonic() > deadline:
            outcome["error"] = (f"caprobe self-test failed: no value from {pv_name} within "
                                f"{timeout:g} s ({probe.connection_text()})")
        else:
            return
        window.close()
        app.quit()

    poll = QTimer()
    poll.timeout.connect(check)
    poll.start(50)
    app.exec_()
    poll.stop()
    window.shutdown()
    scratch.cleanup()
    if "ok" in outcome:
        print(outcome["ok"])
        return 0
    print(outcome.get("error", "caprobe self-test failed: the window closed early"),
          file=sys.stderr)
    return 1
