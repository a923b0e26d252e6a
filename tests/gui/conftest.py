"""GUI test fixtures: isolated settings, and a guard that fails any test leaking a thread.

A QThread still running when its test ends can crash a later test (Qt destroys the QThread
object while its thread runs: 'QThread: Destroyed while thread is still running' + abort), so
such a leak fails the test that caused it, as napari's ``_dangling_qthreads`` fixture does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")

from PyQt5.QtCore import QSettings, QThread  # noqa: E402

from caprobe.gui import workers  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every QSettings the app opens lands in this test's tmp dir, never the user's."""
    config = tmp_path / "config"
    config.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    for fmt in (QSettings.IniFormat, QSettings.NativeFormat):
        QSettings.setPath(fmt, QSettings.UserScope, str(config))
        QSettings.setPath(fmt, QSettings.SystemScope, str(config / "system"))
    yield config


@pytest.fixture(autouse=True)
def _no_dangling_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test if any QThread started during it (caprobe's or anyone's) or any caprobe
    thread pool task is still running at teardown."""
    started: list[tuple[QThread, str]] = []
    original_start = QThread.start

    def recording_start(self: QThread, *args: object) -> None:
        started.append((self, type(self).__name__))
        original_start(self, *args)

    monkeypatch.setattr(QThread, "start", recording_start)
    existing = workers.live_workers()  # strong refs: ids cannot be reused meanwhile
    yield
    leaked = [name for thread, name in started if _alive(thread)]
    # Only this test's workers: a call another test abandoned (an uncancellable CA call the
    # window stopped waiting for) must fail that test, not every test after it.
    mine = [w for w in workers.live_workers() if not any(w is old for old in existing)]
    del existing
    busy = workers.busy_workers(mine)
    # Join leaked threads so the next test is not the one that crashes.
    for thread, _ in started:
        if _alive(thread):
            stop = getattr(thread, "stop", None)
            if callable(stop):
                stop()
            thread.quit()
            thread.wait(5000)
    if leaked or busy:
        pytest.fail(f"test left threads running: {leaked + busy}")


def _alive(thread: QThread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:  # C++ object already deleted: it was stopped and destroyed
        return False


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    """A settings file private to the test."""
    return QSettings(str(tmp_path / "caprobe-test.ini"), QSettings.IniFormat)


@pytest.fixture
def make_window(qtbot, settings: QSettings) -> Callable[..., object]:
    """``make_window()`` -> a shown MainWindow, closed (threads joined) at teardown."""
    import gc

    from caprobe.gui.heap import settle_heap
    from caprobe.gui.main_window import MainWindow

    windows: list[MainWindow] = []
    default_threshold = gc.get_threshold()

    def factory(**kwargs: object) -> MainWindow:
        kwargs.setdefault("settings", settings)
        window = MainWindow(**kwargs)
        qtbot.addWidget(window)
        window.resize(1366, 740)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        settle_heap()  # as run_gui does: the test process's heap is what the app's would be
        return window

    yield factory
    for window in windows:
        window.close()
    gc.unfreeze()  # let the next test's collections see (and free) this test's objects
    gc.set_threshold(*default_threshold)
