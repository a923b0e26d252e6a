"""Measure how long caprobe takes from launch to its window being shown (or to exit).

    python packaging/measure_start.py dist/caprobe-dir/caprobe            # window shown, 5 runs
    python packaging/measure_start.py --runs 10 dist/caprobe
    python packaging/measure_start.py --exit dist/caprobe --version       # launch to exit

"Shown" means: an X window whose WM_CLASS instance is ``caprobe`` is mapped and viewable
(polled with xwininfo every few ms, so the figures carry ~5 ms of polling granularity). A private
Xvfb is started unless --display is given; with no window manager a window is viewable as soon as
it is mapped. Files are in the page cache after the first run (warm start: the figure that
repeats). The program is stopped with SIGTERM after each run. Standard library only; needs Xvfb
and xwininfo (apt: xvfb x11-utils).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

WINDOW_CLASS = "caprobe"


@contextlib.contextmanager
def private_xvfb() -> Iterator[str]:
    """Start Xvfb on a free display number (it picks and reports it via -displayfd)."""
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as stream:
            number = stream.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def viewable_window(display: str) -> bool:
    """True once a top-level window of class caprobe is viewable."""
    env = {**os.environ, "DISPLAY": display}
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True,
                          text=True).stdout
    pattern = re.compile(r'^\s*(0x[0-9a-f]+) .*\("' + WINDOW_CLASS + r'" ', re.M)
    for window_id in pattern.findall(tree):
        info = subprocess.run(["xwininfo", "-id", window_id], env=env, capture_output=True,
                              text=True).stdout
        if "Map State: IsViewable" in info:
            return True
    return False


def tree_cpu_seconds(root_pid: int) -> float:
    """User+system CPU time used so far by a process and its descendants (from /proc).

    Less sensitive to other load on the machine than wall time: what the start-up costs.
    """
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    tree = {root_pid}
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= children
        grew = bool(children)
    return sum(times.get(pid, 0.0) for pid in tree)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def isolated_env(scratch: str) -> dict[str, str]:
    """A fresh settings directory (no restored PVs, operator settings untouched) and CA kept on
    loopback, so what is measured is the start-up itself."""
    env = {**os.environ, "XDG_CONFIG_HOME": scratch, "EPICS_CA_AUTO_ADDR_LIST": "NO",
           "EPICS_CA_ADDR_LIST": "127.0.0.1"}
    env.pop("QT_QPA_PLATFORM", None)  # the real xcb path, not offscreen
    return env


def time_to_window(command: list[str], display: str, timeout: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="caprobe-measure-") as scratch:
        env = {**isolated_env(scratch), "DISPLAY": display}
        return _time_to_window(command, env, display, timeout)


def _time_to_window(command: list[str], env: dict[str, str], display: str,
                    timeout: float) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree) from launch to window shown."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout:
            if viewable_window(display):
                return time.perf_counter() - started, tree_cpu_seconds(process.pid)
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited ({process.returncode}) before showing a window")
            time.sleep(0.002)
        raise RuntimeError(f"no window within {timeout} s")
    finally:
        stop(process)


def time_to_exit(command: list[str], timeout: float) -> tuple[float, float]:
    """(wall seconds, CPU seconds of it and its children) from launch to exit."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=timeout, check=True)
    wall = time.perf_counter() - started
    after = os.times()
    return wall, (after.children_user - before.children_user
                  + after.children_system - before.children_system)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--exit", action="store_true",
                        help="time launch to exit (e.g. with --version) instead of to a window")
    parser.add_argument("--display", help="use this X display instead of a private Xvfb")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("give the program to start")

    try:
        if args.exit:
            times = [time_to_exit(args.command, args.timeout) for _ in range(args.runs)]
        else:
            with contextlib.ExitStack() as stack:
                display = args.display or stack.enter_context(private_xvfb())
                times = [time_to_window(args.command, display, args.timeout)
                         for _ in range(args.runs)]
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        print(f"measure_start: {error}", file=sys.stderr)
        return 1
    what = "exit" if args.exit else "window shown"
    walls = [wall for wall, _ in times]
    cpus = [cpu for _, cpu in times]
    print(f"{' '.join(args.command)}: launch to {what}: median {statistics.median(walls):.3f} s "
          f"(min {min(walls):.3f}, max {max(walls):.3f}; {args.runs} runs: "
          + ", ".join(f"{w:.3f}" for w in walls)
          + f"); CPU median {statistics.median(cpus):.2f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
