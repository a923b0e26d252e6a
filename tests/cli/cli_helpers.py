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
