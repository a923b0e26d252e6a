"""Helpers shared by the caprobe.ca tests that talk to a real server (softioc or caproto).

Every call passes ``repeater=False`` so no test spawns a repeater.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from caprobe import ca
from caprobe.ca import messages as ca_messages

TIMEOUT = 2.0  # generous for positive cases; they finish in milliseconds on loopback


def read(server: Any, suffix: str, **kwargs: Any) -> Any:
    kwargs.setdefault("timeout", TIMEOUT)
    return ca.read(server.pv(suffix), repeater=False, **kwargs)


def write(server: Any, suffix: str, data: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("timeout", TIMEOUT)
    return ca.write(server.pv(suffix), data, repeater=False, **kwargs)


def restorer(server: Any) -> Iterator[Callable[[str, Any], None]]:
    """Body of a ``restore`` fixture: ``restore(suffix, value)`` writes ``value`` back
    (notify=True) when the test ends, last registered first."""
    pending: list[tuple[str, Any]] = []
    yield lambda suffix, value: pending.append((suffix, value))
    for suffix, value in reversed(pending):
        write(server, suffix, value, notify=True)


def spy_on_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every WRITE / WRITE_NOTIFY the client builds from now on (to prove nothing was sent)."""
    calls: list[tuple] = []
    real = ca_messages.write_request

    def spy(*args: Any, **kwargs: Any) -> bytes:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ca_messages, "write_request", spy)
    return calls


def wait_until_slow_record_idle(server: Any, timeout: float = 3.0) -> None:
    """A put-notify on $(P)slow completes at once while its delay calcout is still busy from an
    earlier put (or from PINI at IOC start), so each timing test starts and ends with it idle."""
    deadline = time.monotonic() + timeout
    while read(server, "slow:delay.PACT").data[0]:
        assert time.monotonic() < deadline, "slow:delay stayed busy"
        time.sleep(0.02)


def slow_record_session(server: Any) -> Iterator[str]:
    """Body of a ``slow_record`` fixture: the idle slow record, set back to 0 afterwards."""
    wait_until_slow_record_idle(server)
    yield "slow"
    wait_until_slow_record_idle(server)
    write(server, "slow", 0.0, notify=True)
    wait_until_slow_record_idle(server)
