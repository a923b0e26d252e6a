"""Run the real installed CLI entry points as subprocesses (imported by the CLI tests).

The tools are run exactly as an operator runs them (``.venv/bin/caprobe-get``), with the test
server's CA environment, TZ=UTC (so timestamps are predictable) and no EPICS_CLI_TIMEOUT from
the outside.  Nothing is mocked: every test talks to a real IOC on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import servers

BIN_DIR = Path(sys.executable).parent

#: ``caprobe-get -d control`` of the 1.5 mm ai that both test IOCs serve (softioc ``ai``,
#: caproto ``double``), after the name line: caget -d's layout.
AI_CONTROL_DETAILS = [
    "    Native data type: DBF_DOUBLE",
    "    Request type:     DBR_CTRL_DOUBLE",
    "    Element count:    1",
    "    Value:            1.5",
    "    Status:           NO_ALARM",
    "    Severity:         NO_ALARM",
    "    Units:            mm",
    "    Precision:        3",
    "    Lo disp limit:    -10",
    "    Hi disp limit:    10",
    "    Lo alarm limit:   -9",
    "    Lo warn limit:    -5",
    "    Hi warn limit:    5",
    "    Hi alarm limit:   9",
    "    Lo ctrl limit:    -10",
    "    Hi ctrl limit:    10",
]


def tool_command(tool: str) -> list[str]:
    """The console script ``caprobe-<tool>`` next to this Python, else ``python -m``."""
    script = BIN_DIR / f"caprobe-{tool}"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", f"caprobe.cli.{tool}"]


def tool_env(server: servers.Server | None, extra: Mapping[str, str] | None = None
             ) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("EPICS_CLI_TIMEOUT", None)
    if server is not None:
        env.update(server.env)
    env["TZ"] = "UTC"
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def run(tool: str, *args: str, server: servers.Server | None = None,
        env: Mapping[str, str] | None = None, timeout: float = 60.0
        ) -> subprocess.CompletedProcess[str]:
    """Run caprobe-<tool> with ``args`` against ``server``; returns the finished process."""
    return subprocess.run([*tool_command(tool), *args], env=tool_env(server, env),
                          capture_output=True, text=True, timeout=timeout, check=False)


def popen(tool: str, *args: str, server: servers.Server | None = None,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start caprobe-<tool> (for monitors); the caller reads stdout and stops it."""
    return subprocess.Popen([*tool_command(tool), *args], env=tool_env(server, env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class LineReader:
    """Collects a running tool's stdout lines in a thread, so a test can wait for a line with
    a deadline (polling, no fixed sleeps)."""

    def __init__(self, process: subprocess.Popen[str]):
        import queue
        import threading

        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, predicate, timeout: float = 20.0) -> str:
        """The first new line for which predicate(line) is true; AssertionError on timeout."""
        import queue
        import time

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching line within {timeout} s; got {self.lines}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the tool exited; output was {self.lines}")
            self.lines.append(line)
            if predicate(line):
                return line
