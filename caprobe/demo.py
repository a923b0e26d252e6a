"""``caprobe --demo``: caprobe on a live demo IOC, with nothing to configure.

Runs caproto's ``random_walk`` example IOC (from the ``demo`` extra) as a subprocess on a free
loopback port, points this process's CA environment at it, waits until it answers a search and
opens ``random_walk:x`` and ``random_walk:dt``.  caprobe never imports caproto: it only runs it.
The IOC is stopped (by PID) when the window closes, and also if caprobe itself dies (Linux
parent-death signal), so a demo never leaves a server behind.

The demo keeps its own settings (``caprobe-demo.ini`` beside the user's ``caprobe.ini``): it
never reads or writes the user's recent PVs, chart or window layout, and a normal session never
sees the demo's PVs.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

DEMO_MODULE = "caproto.ioc_examples.random_walk"
DEMO_PREFIX = "random_walk:"
DEMO_PVS = (f"{DEMO_PREFIX}x", f"{DEMO_PREFIX}dt")
LOOPBACK = "127.0.0.1"
#: random_walk steps every 3 s by default; a faster walk makes a livelier first impression.
DEMO_STEP_SECONDS = 0.5


class DemoError(RuntimeError):
    """The demo IOC could not be started; str() is one line for the operator."""


def _port_pair_free(port: int) -> bool:
    """TCP+UDP ``port`` (the server) and UDP ``port+1`` (its repeater) all bindable."""
    checks = ((socket.SOCK_STREAM, port), (socket.SOCK_DGRAM, port),
              (socket.SOCK_DGRAM, port + 1))
    for kind, number in checks:
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((LOOPBACK, number))
            except OSError:
                return False
    return True


def free_port(attempts: int = 50) -> int:
    """A loopback CA server port P with P and P+1 free (never the site's 5064/5065)."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
        if port not in (5064, 5065) and port < 65535 and _port_pair_free(port):
            return port
    raise DemoError("no free loopback port pair found for the demo IOC")


def _python_with_caproto() -> str:
    """The interpreter that runs the IOC.  In a frozen build sys.executable is caprobe itself,
    so running '-m caproto...' with it would start another caprobe: use a real python."""
    if not getattr(sys, "frozen", False):
        if importlib.util.find_spec("caproto") is None:  # looks, does not import
            raise DemoError("the demo needs caproto, which is not installed: "
                            "pip install 'caprobe[demo]'")
        return sys.executable
    python = shutil.which("python3") or shutil.which("python")
    if python is None:
        raise DemoError("the demo needs a Python with caproto installed "
                        "(pip install caproto), and none was found on PATH")
    return python


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG


class DemoIOC:
    """The random_walk IOC subprocess."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port if port is not None else free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()

    @property
    def client_env(self) -> dict[str, str]:
        """What a CA client needs to find this IOC (and nothing else)."""
        return {
            "EPICS_CA_ADDR_LIST": LOOPBACK,
            "EPICS_CA_AUTO_ADDR_LIST": "NO",
            "EPICS_CA_SERVER_PORT": str(self.port),
            "EPICS_CA_REPEATER_PORT": str(self.port + 1),
        }

    def start(self) -> None:
        python = _python_with_caproto()
        env = dict(os.environ)
        env.update(self.client_env)
        env.update({
            "EPICS_CAS_INTF_ADDR_LIST": LOOPBACK,
            "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
            "EPICS_CAS_BEACON_ADDR_LIST": LOOPBACK,
        })
        command = [python, "-m", DEMO_MODULE, "--list-pvs", "--interfaces", LOOPBACK]
        self.process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if os.name == "posix" else None)  # noqa: PLW1509
        atexit.register(self.stop)

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def wait_ready(self, timeout: float = 20.0,
                   probe: Callable[[str, float], object] | None = None) -> None:
        """Poll a CA search for random_walk:x until it answers (no fixed sleep)."""
        if probe is None:
            from caprobe.ca import info

            def probe(name: str, t: float) -> object:
                return info(name, timeout=t)

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = self.output().strip().splitlines()[-1:] or ["no output"]
                raise DemoError(f"the demo IOC exited with code {self.process.returncode}: "
                                f"{tail[0]}")
            try:
                probe(DEMO_PVS[0], 0.25)
                return
            except Exception as exc:  # not up yet: search again
                last_error = exc
        raise DemoError(f"the demo IOC did not answer within {timeout:g} s ({last_error})")

    def stop(self) -> None:
        """Terminate the IOC by PID, kill it if it does not go within 3 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(3.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(3.0)


def start_demo(timeout: float = 20.0) -> DemoIOC:
    """Start the IOC, point this process's CA environment at it, wait until it answers."""
    ioc = DemoIOC()
    ioc.start()
    os.environ.update(ioc.client_env)
    try:
        ioc.wait_ready(timeout)
        from caprobe.ca import write

        # Not the GUI thread: the window does not exist yet.
        write(f"{DEMO_PREFIX}dt", DEMO_STEP_SECONDS, timeout=2.0)
        wait_first_step()
    except BaseException:
        ioc.stop()
        raise
    return ioc


def wait_first_step(timeout: float = 4.0) -> bool:
    """random_walk sleeps its start-up ``dt`` (3 s) before its first step, whatever ``dt`` is
    set to afterwards: wait for that step, so the window opens on a walk that moves at once
    instead of one that looks stuck for its first seconds. False if it did not come."""
    from caprobe.ca import read

    name = DEMO_PVS[0]
    first = read(name, timeout=2.0).data[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if read(name, timeout=2.0).data[0] != first:
            return True
    return False


def demo_settings() -> object:
    """The demo's own settings file (never the user's)."""
    from PyQt5.QtCore import QSettings

    return QSettings(QSettings.IniFormat, QSettings.UserScope, "caprobe", "caprobe-demo")


def run_demo() -> int:
    """``caprobe --demo``."""
    try:
        ioc = start_demo()
    except DemoError as exc:
        print(f"caprobe --demo: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. the dt write was refused: say so, never a traceback
        print(f"caprobe --demo: the demo IOC did not start properly: {exc}", file=sys.stderr)
        return 2
    print(f"caprobe --demo: random_walk IOC on {LOOPBACK}:{ioc.port} (pid "
          f"{ioc.process.pid if ioc.process else '?'})", file=sys.stderr)
    from caprobe.gui.app import run_gui

    def configure(window: object) -> None:
        # random_walk:x has PREC 0, which would show a walk between -3 and 3 as integers;
        # the digits field says the demo chose 3 decimals.
        probe = window.probe(DEMO_PVS[0])  # type: ignore[attr-defined]
        if probe is not None:
            probe.set_precision(3)
        chart = getattr(window, "chart", None)
        if chart is not None and hasattr(chart, "set_precision"):
            chart.set_precision(DEMO_PVS[0], 3)

    try:
        return run_gui(DEMO_PVS, on_exit=ioc.stop, chart_pvs=(DEMO_PVS[0],),
                       configure=configure, settings=demo_settings())
    finally:
        ioc.stop()
