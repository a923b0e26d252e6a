"""A monitor closed within milliseconds of opening must not drop the connection the other
PVs of its server share (pvxs disconnects on "sends invalid MONITOR" when a monitor is closed
while its creation is still being answered; reproduced with bare p4p). caprobe.pva holds such
a close back until the first value or CLOSE_GRACE, on a thread of its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("p4p")

from caprobe import pva  # noqa: E402
from caprobe.pva import subscription  # noqa: E402


def test_monitors_closed_right_after_opening_leave_the_others_connected(
        p4p_server: Any, pva_env: Callable[[Any], Any]) -> None:
    server = pva_env(p4p_server)
    events: list[tuple[bool, str]] = []

    def on_update(response: Any) -> None:
        if isinstance(response, pva.ConnectionEvent):
            events.append((response.connected, response.reason))

    watched = pva.Subscription(server.pv("double"))
    watched.add_callback(on_update)
    group = pva.SubscriptionGroup([watched])
    loop = threading.Thread(target=group.block, kwargs={"timeout": 5}, daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert events == [(True, "connected")]
        held_back = subscription._closer.deferred_total
        for i in range(200):  # open and close at once, and a little later (0 .. 10 ms)
            brief = pva.Subscription(server.pv(("long", "string", "array", "enum")[i % 4]))
            group.add(brief)
            time.sleep((i % 20) * 0.0005)
            group.remove(brief)
        # the hazard was met: some closes had to wait for their monitor's first value
        assert subscription._closer.deferred_total > held_back
        # every held-back monitor gets closed (its value arrives), then the closer stops
        deadline = time.monotonic() + subscription.CLOSE_GRACE + 10
        while subscription._closer._thread is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert subscription._closer._thread is None
        assert events == [(True, "connected")]  # never disconnected
        assert pva.read(server.pv("double"), timeout=2).data.tolist() == [1.5]
    finally:
        group.interrupt()
        loop.join(5)
    assert not loop.is_alive()
