"""Helpers for the server processes the harness starts (imported by the scripts in tests/ioc).

die_with_parent: the harness kills every server by PID at teardown; this is the last resort when pytest itself
is SIGKILLed. PR_SET_PDEATHSIG fires when the *thread* that forked us exits, so the harness only
asks for it (``--parent-pid``) when it starts servers from its main thread.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None) -> None:
    """Ask Linux to SIGKILL this process when ``parent_pid`` goes away (no-op elsewhere)."""
    if not parent_pid or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    # The parent may have died before prctl took effect: we would have been re-parented.
    if os.getppid() != parent_pid:
        os._exit(1)


class _DropBeaconFailures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to send beacon")


def quiet_caproto_beacon_errors() -> None:
    """Drop caproto's beacon send errors (with traceback) from the server log.

    Beacons go to 127.0.0.1:<port+1>, where usually nothing listens (a repeater only runs in
    tests that start one), so every other send reports ICMP "connection refused".
    """
    logging.getLogger("caproto.ctx").addFilter(_DropBeaconFailures())
