"""A PV added to a running block() after every other PV connected still gets its "not
found" ConnectionEvent (the loop's report schedule had nothing left on it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("p4p")

from caprobe import pva  # noqa: E402


def test_missing_pv_added_to_a_settled_loop_is_reported(
        p4p_server: Any, pva_env: Callable[[Any], Any]) -> None:
    server = pva_env(p4p_server)
    events: list[tuple[str, bool]] = []

    def on_update(response: Any) -> None:
        if isinstance(response, pva.ConnectionEvent):
            events.append((response.pv_name, response.connected))

    present = pva.Subscription(server.pv("double"))
    present.add_callback(on_update)
    group = pva.SubscriptionGroup([present])
    loop = threading.Thread(target=group.block, kwargs={"timeout": 0.5}, daemon=True)
    loop.start()
    missing = pva.Subscription(server.pv("nothere"))
    missing.add_callback(on_update)
    try:
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert events == [(server.pv("double"), True)]
        time.sleep(0.6)  # past the first PV's report time: the schedule is empty now
        group.add(missing)
        deadline = time.monotonic() + 10
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert events[1:] == [(server.pv("nothere"), False)]
    finally:
        group.interrupt()
        loop.join(5)
    assert not loop.is_alive()
