"""subscribe / block / interrupt / SubscriptionGroup against real servers on loopback."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable

import numpy as np

from caprobe.ca import (
    ConnectionEvent,
    EventAddResponse,
    SubscriptionGroup,
    SubscriptionType,
    block,
    interrupt,
    subscribe,
    write,
)


class Recorder:
    """Collects responses; can stop block() once a condition holds."""

    def __init__(self, stop_when: Callable[[Recorder], bool] | None = None):
        self.items: list[object] = []
        self.times: list[float] = []
        self.stop_when = stop_when
        self.lock = threading.Lock()

    def __call__(self, response: object) -> None:
        with self.lock:
            self.items.append(response)
            self.times.append(time.monotonic())
        if self.stop_when is not None and self.stop_when(self):
            interrupt()

    def updates(self, pv: str | None = None) -> list[EventAddResponse]:
        return [r for r in self.items if isinstance(r, EventAddResponse)
                and (pv is None or r.sub.pv_name == pv)]

    def events(self, pv: str | None = None) -> list[ConnectionEvent]:
        return [r for r in self.items if isinstance(r, ConnectionEvent)
                and (pv is None or r.pv_name == pv)]


def _wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_first_update_is_immediate(softioc_env):
    sub = subscribe(softioc_env.pv("ao"))  # ao never changes by itself
    rec = Recorder(lambda r: len(r.updates()) >= 1)
    sub.add_callback(rec)
    start = time.monotonic()
    block(sub, duration=5, repeater=False)
    assert len(rec.updates()) == 1
    assert rec.times[-1] - start < 0.5
    first = rec.updates()[0]
    assert first.data_type.name == "TIME_DOUBLE"  # default class is 'time'
    assert first.metadata.timestamp > 1e9
    assert first.channel.native_data_type.name == "DOUBLE"


def test_several_pvs_on_one_ioc_and_one_enum_as_string(softioc_env):
    names = [softioc_env.pv(s) for s in ("ai", "ao", "mbbo", "str", "counter")]
    subs = [subscribe(n) for n in names]
    rec = Recorder(lambda r: len({u.sub.pv_name for u in r.updates()}) == len(names))
    for s in subs:
        s.add_callback(rec)
    block(*subs, duration=5, repeater=False)
    got = {u.sub.pv_name: u for u in rec.updates()}
    assert set(got) == set(names)
    assert got[softioc_env.pv("mbbo")].data == [b"Zero"]
    assert got[softioc_env.pv("ai")].data.tolist() == [1.5]


def test_pvs_on_two_iocs_in_one_block(softioc_env, ioc_factory, monkeypatch):
    other = ioc_factory.softioc()
    monkeypatch.setenv("EPICS_CA_ADDR_LIST",
                       f"127.0.0.1:{softioc_env.port} 127.0.0.1:{other.port}")
    subs = [subscribe(softioc_env.pv("counter")), subscribe(other.pv("counter"))]
    rec = Recorder(lambda r: len({u.sub.pv_name for u in r.updates()}) == 2)
    for s in subs:
        s.add_callback(rec)
    block(*subs, duration=5, repeater=False)
    assert {u.channel.port for u in rec.updates()} == {softioc_env.tcp_port, other.tcp_port}


def test_data_type_and_mask_are_honoured_property_events(softioc_env):
    name = softioc_env.pv("ai")
    sub = subscribe(name, data_type="control", mask=SubscriptionType.DBE_PROPERTY)
    rec = Recorder(lambda r: len(r.updates()) >= 2)
    sub.add_callback(rec)

    def change_units() -> None:
        _wait_until(lambda: len(rec.updates()) >= 1, 5)
        write(name + ".EGU", "cm", repeater=False)

    t = threading.Thread(target=change_units)
    t.start()
    try:
        block(sub, duration=5, repeater=False)
    finally:
        t.join()
        write(name + ".EGU", "mm", repeater=False)
    updates = rec.updates()
    assert updates[0].data_type.name == "CTRL_DOUBLE"
    assert updates[0].metadata.units == b"mm"
    assert updates[-1].metadata.units == b"cm"


def test_duration_returns_on_time(softioc_env):
    sub = subscribe(softioc_env.pv("counter"))
    start = time.monotonic()
    block(sub, duration=0.3, repeater=False)
    assert 0.29 <= time.monotonic() - start < 0.8


def test_interrupt_from_another_thread_while_idle(softioc_env):
    sub = subscribe(softioc_env.pv("ao"))
    rec = Recorder()
    sub.add_callback(rec)
    fired: list[float] = []

    def later() -> None:
        _wait_until(lambda: len(rec.updates()) >= 1, 5)
        time.sleep(0.1)  # let block() settle into select with nothing arriving
        fired.append(time.monotonic())
        sub.interrupt()

    t = threading.Thread(target=later)
    t.start()
    block(sub, duration=10, repeater=False)
    returned = time.monotonic()
    t.join()
    assert returned - fired[0] < 0.5  # generous; the benchmark reports the real figure


def test_interrupt_before_block_is_not_lost(softioc_env):
    sub = subscribe(softioc_env.pv("counter"))
    rec = Recorder()
    sub.add_callback(rec)
    sub.interrupt()
    start = time.monotonic()
    block(sub, duration=10, repeater=False)
    assert time.monotonic() - start < 0.2 and rec.items == []
    # consumed: the next block runs normally
    block(sub, duration=0.3, repeater=False)
    assert rec.updates()
    # module-level interrupt() with no block running stays pending for existing subs
    interrupt()
    start = time.monotonic()
    block(sub, duration=10, repeater=False)
    assert time.monotonic() - start < 0.2


def test_callbacks_are_weak_references(softioc_env):
    sub = subscribe(softioc_env.pv("counter"))
    calls: list[object] = []
    sub.add_callback(lambda r: calls.append(r))  # no other reference: dropped at once
    gc.collect()
    assert sub.callbacks == {}

    class Holder:
        def __init__(self) -> None:
            self.n = 0

        def on_update(self, response: object) -> None:
            self.n += 1

    holder = Holder()
    sub.add_callback(holder.on_update)
    block(sub, duration=0.3, repeater=False)
    assert holder.n >= 1 and calls == []
    del holder
    gc.collect()
    assert sub.callbacks == {}


def test_two_argument_callbacks_get_the_subscription(softioc_env):
    sub = subscribe(softioc_env.pv("ao"))
    seen = []

    def cb(subscription, response):
        seen.append(subscription)
        interrupt()

    sub.add_callback(cb)
    block(sub, duration=5, repeater=False)
    assert seen and seen[0] is sub


def test_raising_callback_does_not_stop_delivery(softioc_env, caplog):
    sub = subscribe(softioc_env.pv("counter"))

    def bad(response: object) -> None:
        raise RuntimeError("boom")

    rec = Recorder(lambda r: len(r.updates()) >= 3)
    sub.add_callback(bad)
    sub.add_callback(rec)
    with caplog.at_level(logging.ERROR, logger="caprobe.ca"):
        block(sub, duration=5, repeater=False)
    assert len(rec.updates()) >= 3
    assert "boom" in caplog.text and "delivery continues" in caplog.text


def test_empty_array_updates_are_delivered(softioc_env):
    # A plain-type monitor of an empty array has payload 0, like an EVENT_CANCEL ack.
    sub = subscribe(softioc_env.pv("wf_empty"), data_type="native")
    rec = Recorder(lambda r: len(r.updates()) >= 1)
    sub.add_callback(rec)
    block(sub, duration=5, repeater=False)
    update = rec.updates()[0]
    assert update.data_count == 0 and len(update.data) == 0


def test_ioc_killed_and_restarted_during_block(ioc_factory):
    ioc = ioc_factory.softioc(use_env=True)
    name = ioc.pv("counter")
    sub = subscribe(name)
    rec = Recorder()
    sub.add_callback(rec)

    def chaos() -> None:
        try:
            assert _wait_until(lambda: len(rec.updates()) >= 2, 10)
            ioc.kill()
            assert _wait_until(lambda: any(not e.connected for e in rec.events()), 5)
            before = len(rec.updates())
            ioc.restart(same_port=True)
            assert _wait_until(lambda: len(rec.updates()) >= before + 3, 15)
        finally:
            sub.interrupt()

    t = threading.Thread(target=chaos)
    t.start()
    block(sub, duration=40, repeater=False)
    t.join()
    states = [(e.connected, e.reason) for e in rec.events()]
    assert states[:3] == [(True, "connected"), (False, "disconnected"), (True, "connected")]
    # after the restart the counter starts again from 1
    assert rec.updates()[-1].data[0] < rec.updates()[0].data[0] + 1000


def test_pv_that_appears_after_block_started(free_port, ioc_factory, monkeypatch):
    for key, value in {"EPICS_CA_ADDR_LIST": "127.0.0.1", "EPICS_CA_AUTO_ADDR_LIST": "NO",
                       "EPICS_CA_SERVER_PORT": str(free_port),
                       "EPICS_CA_REPEATER_PORT": str(free_port + 1)}.items():
        monkeypatch.setenv(key, value)
    prefix = "late:"
    sub = subscribe(prefix + "double")
    rec = Recorder(lambda r: len(r.updates()) >= 1)
    sub.add_callback(rec)

    def start_later() -> None:
        _wait_until(lambda: bool(rec.events()), 5)  # 'not found' reported first
        ioc_factory.caproto(prefix=prefix, port=free_port)

    t = threading.Thread(target=start_later)
    t.start()
    block(sub, duration=30, timeout=0.3, repeater=False)
    t.join()
    events = rec.events()
    assert not events[0].connected and "not found" in events[0].reason
    assert events[-1].connected
    assert rec.updates()[0].data.tolist() == [1.5]


def test_missing_pv_does_not_stop_the_others(softioc_env):
    good = subscribe(softioc_env.pv("counter"))
    missing = subscribe(softioc_env.pv("no_such_pv"))
    rec = Recorder()
    good.add_callback(rec)
    missing.add_callback(rec)
    block(good, missing, duration=1.0, timeout=0.3, repeater=False)
    assert len(rec.updates(good.pv_name)) >= 5
    [event] = rec.events(missing.pv_name)
    assert not event.connected and "not found after 0.3 s" in event.reason


def test_group_add_and_remove_while_running_keeps_other_samples(softioc_env):
    counter = subscribe(softioc_env.pv("counter"))
    extra = subscribe(softioc_env.pv("ai"))
    rec = Recorder()
    counter.add_callback(rec)
    extra.add_callback(rec)
    group = SubscriptionGroup([counter])

    def churn() -> None:
        try:
            _wait_until(lambda: len(rec.updates(counter.pv_name)) >= 2, 5)
            group.add(extra)
            _wait_until(lambda: len(rec.updates(extra.pv_name)) >= 1, 5)
            group.remove(extra)
            n = len(rec.updates(counter.pv_name))
            _wait_until(lambda: len(rec.updates(counter.pv_name)) >= n + 3, 5)
        finally:
            group.interrupt()

    t = threading.Thread(target=churn)
    t.start()
    group.block(duration=20)
    t.join()
    values = [u.data[0] for u in rec.updates(counter.pv_name)]
    assert np.all(np.diff(values) == 1), values  # no sample of the counter was lost
    assert len(rec.updates(extra.pv_name)) == 1


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_leaked_sockets_or_threads(softioc_env):
    subs = [subscribe(softioc_env.pv(s)) for s in ("counter", "ai", "no_such_pv")]
    block(*subs, duration=0.2, repeater=False)  # warm-up (lazy imports, logging)
    fds, threads = _open_fds(), threading.active_count()
    for _ in range(5):
        block(*subs, duration=0.2, timeout=0.1, repeater=False)
    assert _open_fds() == fds
    assert threading.active_count() == threads


def test_unresponsive_server_is_reported_and_recovers(ioc_factory, monkeypatch):
    ioc = ioc_factory.softioc(use_env=True)
    monkeypatch.setenv("EPICS_CA_CONN_TMO", "0.5")
    sub = subscribe(ioc.pv("counter"))
    rec = Recorder()
    sub.add_callback(rec)

    def freeze() -> None:
        try:
            _wait_until(lambda: len(rec.updates()) >= 2, 10)
            ioc.stop()
            _wait_until(lambda: any(e.reason == "unresponsive" for e in rec.events()), 10)
            ioc.cont()
            _wait_until(lambda: any(e.reason == "responsive again" for e in rec.events()), 10)
            n = len(rec.updates())
            _wait_until(lambda: len(rec.updates()) >= n + 2, 5)
        finally:
            ioc.cont()
            sub.interrupt()

    t = threading.Thread(target=freeze)
    t.start()
    block(sub, duration=40, repeater=False)
    t.join()
    reasons = [e.reason for e in rec.events()]
    assert reasons[:3] == ["connected", "unresponsive", "responsive again"]


def test_access_rights_change_is_reported_while_connected(ioc_factory):
    ioc = ioc_factory.softioc(use_env=True)
    sub = subscribe(ioc.pv("gated"))
    rec = Recorder()
    sub.add_callback(rec)

    def close_the_gate() -> None:
        try:
            assert _wait_until(lambda: len(rec.updates()) >= 1, 10)
            write(ioc.pv("gate"), 0, repeater=False)
            assert _wait_until(lambda: any(e.reason == "access rights changed"
                                           for e in rec.events()), 10)
        finally:
            sub.interrupt()

    t = threading.Thread(target=close_the_gate)
    t.start()
    block(sub, duration=20, repeater=False)
    t.join()
    changed = [e for e in rec.events() if e.reason == "access rights changed"]
    assert changed and changed[0].connected
    assert changed[0].channel.can_read and not changed[0].channel.can_write
