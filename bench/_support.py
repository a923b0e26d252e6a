"""Shared plumbing for the benchmarks in bench/ (not a benchmark itself).

- the test harness (tests/servers.py) is imported from tests/, never copied: servers start on
  a free loopback port, are polled until they answer a search and are killed by PID;
- every measured client runs in its own subprocess (``run_worker``) so CPU and RSS figures
  are its own; a worker prints one JSON object as its last stdout line;
- results: markdown tables on stdout and JSON in bench/results/ (gitignored).
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

for _path in (str(REPO_DIR / "tests"), str(REPO_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import servers  # noqa: E402, F401  (tests/servers.py, the tests' harness; re-exported)

CLIENTS = ("caprobe", "caproto.sync", "pyepics")


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for module in ("caproto", "epics", "softioc", "epicscorelibs", "numpy"):
        try:
            versions[module] = str(__import__(module).__version__)
        except (ImportError, AttributeError):
            versions[module] = "?"
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "caprobe_commit": caprobe_revision(),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
    }


def caprobe_revision() -> str:
    """HEAD's short hash, with "+dirty" when caprobe/ has uncommitted changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO_DIR), *args], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--", "caprobe") else "")


def machine_line(machine: Mapping[str, Any]) -> str:
    """One line: date, CPUs, model, Python, load, caprobe revision."""
    return (f"{machine['date_utc']} · {machine['nproc']} CPUs · {machine['cpu']} · "
            f"Python {machine['python']} · load average {machine.get('load_average', '?')} · "
            f"caprobe {machine.get('caprobe_commit', '?')}")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (fraction 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(seconds: Sequence[float]) -> dict[str, float]:
    """median / p90 / min / max in milliseconds, and the sample count."""
    return {
        "n": len(seconds),
        "median_ms": statistics.median(seconds) * 1e3,
        "p90_ms": percentile(seconds, 0.9) * 1e3,
        "min_ms": min(seconds) * 1e3,
        "max_ms": max(seconds) * 1e3,
    }


def time_calls(func: Callable[[], object], count: int, warmup: int) -> list[float]:
    """Wall time (s) of ``count`` calls of ``func`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        func()
    samples = []
    clock = time.perf_counter
    for _ in range(count):
        began = clock()
        func()
        samples.append(clock() - began)
    return samples


def time_alternating(funcs: Sequence[Callable[[], object]], count: int, warmup: int
                     ) -> list[tuple[list[float], float]]:
    """Call each of ``funcs`` in turn, ``count`` rounds after ``warmup``: per function the
    wall times (s) and its total CPU time (s) over the timed rounds. Interleaving puts every
    function under the same machine load."""
    for _ in range(warmup):
        for func in funcs:
            func()
    walls: list[list[float]] = [[] for _ in funcs]
    cpus = [0.0 for _ in funcs]
    clock, cpu_clock = time.perf_counter, time.process_time
    for _ in range(count):
        for index, func in enumerate(funcs):
            cpu_began = cpu_clock()
            began = clock()
            func()
            walls[index].append(clock() - began)
            cpus[index] += cpu_clock() - cpu_began
    return list(zip(walls, cpus, strict=True))


def profile_top(func: Callable[[], object], limit: int = 15, cpu: bool = False) -> str:
    """Run ``func`` under cProfile; the top functions by own time as text. ``cpu``: count
    process CPU time instead of wall time (blocking waits then weigh nothing)."""
    profiler = cProfile.Profile(time.process_time) if cpu else cProfile.Profile()
    profiler.runcall(func)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(limit)
    lines = text.getvalue().splitlines()
    # Drop pstats' preamble up to the column header.
    for index, line in enumerate(lines):
        if line.lstrip().startswith("ncalls"):
            return "\n".join(lines[index - 1:]).rstrip()
    return text.getvalue().rstrip()


def run_worker(script: Path, args: Sequence[str], env: Mapping[str, str], *,
               timeout: float = 120.0,
               on_line: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``python script args`` with ``env`` added; its last stdout line parsed as JSON.

    ``on_line`` sees each stdout line as it arrives (for handshakes such as "ready").
    The child is killed by PID if it overruns ``timeout`` or this process is interrupted.
    """
    child_env = dict(os.environ)
    child_env.update(env)
    process = subprocess.Popen([sys.executable, str(script), *args], env=child_env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    last = ""
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            if line:
                last = line
                if on_line is not None:
                    on_line(line)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{script.name} {' '.join(args)} overran {timeout} s")
        process.wait(timeout=max(deadline - time.monotonic(), 1.0))
        stderr = process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"worker {script.name} {' '.join(args)} exited with "
                           f"{process.returncode}:\n{stderr}")
    try:
        result = json.loads(last)
    except json.JSONDecodeError:
        raise RuntimeError(f"worker {script.name} {' '.join(args)} printed no JSON result; "
                           f"stdout ended {last!r}; stderr:\n{stderr}") from None
    if stderr.strip():
        result.setdefault("stderr", stderr.strip()[-2000:])
    return result


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, data: Mapping[str, Any]) -> Path:
    """bench/results/<name>-<UTC stamp>.json and <name>-latest.json; returns the first."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    text = json.dumps(data, indent=2, sort_keys=False, default=str)
    path.write_text(text + "\n")
    (RESULTS_DIR / f"{name}-latest.json").write_text(text + "\n")
    return path


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all threads) from /proc, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # After "pid (comm)": state is fields[0]; utime, stime are stat fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
