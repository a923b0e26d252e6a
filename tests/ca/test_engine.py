"""The engine behind block() and the many-PV API, against real soft IOCs: circuits that close
with their last channel, name servers for subscriptions, a stalled IOC that holds up nobody
else, descriptors beyond 1,024, bad subscription arguments refused up front, and search replies
for names answered long ago."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import servers

import caprobe.ca as ca
from caprobe.ca.config import load_config
from caprobe.ca.engine import RESOLVED_MEMORY, Engine

TIMEOUT = 5.0


class Collector:
    """Subscription callback that keeps every update and connection event."""

    def __init__(self) -> None:
        self.updates: list[Any] = []
        self.events: list[Any] = []
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, response: Any) -> None:
        with self.lock:
            if isinstance(response, ca.ConnectionEvent):
                self.events.append(response)
            else:
                self.updates.append(response)
                self.times.append(time.time())

    def wait_for(self, count: int, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while len(self.updates) < count:
            assert time.monotonic() < deadline, f"{len(self.updates)} of {count} updates"
            time.sleep(0.01)


@pytest.fixture
def running_group() -> Iterator[Any]:
    """``start(*subs)`` runs a SubscriptionGroup's block() in a thread; stopped after."""
    runs: list[tuple[ca.SubscriptionGroup, threading.Thread]] = []

    def start(*subs: ca.Subscription, timeout: float = TIMEOUT) -> ca.SubscriptionGroup:
        group = ca.SubscriptionGroup(subs, repeater=False)
        thread = threading.Thread(target=group.block, kwargs={"timeout": timeout},
                                  daemon=True)
        thread.start()
        runs.append((group, thread))
        return group

    yield start
    for group, thread in runs:
        group.interrupt()
        thread.join(5)
        assert not thread.is_alive()


def test_circuit_closes_when_its_last_channel_is_removed_from_a_running_block(
        softioc_env, running_group):
    sub = ca.subscribe(softioc_env.pv("ai"))
    seen = Collector()
    sub.add_callback(seen)
    group = running_group(sub)
    seen.wait_for(1)
    assert servers.established_circuits(softioc_env.tcp_port) == 1
    group.remove(sub)
    deadline = time.monotonic() + TIMEOUT
    while servers.established_circuits(softioc_env.tcp_port):
        assert time.monotonic() < deadline, "the circuit stayed open with no channel on it"
        time.sleep(0.02)
    # and the group still works: a new subscription opens a circuit again
    again = ca.subscribe(softioc_env.pv("long"))
    more = Collector()
    again.add_callback(more)
    group.add(again)
    more.wait_for(1)


def test_subscriptions_share_one_channel_per_pv_and_one_circuit_per_server(
        softioc_env, running_group):
    subs = [ca.subscribe(softioc_env.pv("ai")), ca.subscribe(softioc_env.pv("ai")),
            ca.subscribe(softioc_env.pv("ai"), data_type="control"),
            ca.subscribe(softioc_env.pv("long"))]
    collectors = [Collector() for _ in subs]
    for sub, collector in zip(subs, collectors, strict=True):
        sub.add_callback(collector)
    running_group(*subs)
    for collector in collectors:
        collector.wait_for(1)
    assert servers.established_circuits(softioc_env.tcp_port) == 1
    assert collectors[2].updates[0].data_type == ca.ChannelType.CTRL_DOUBLE


def test_subscriptions_find_pvs_through_a_name_server_only(softioc_env, monkeypatch,
                                                           free_port, running_group):
    monkeypatch.setenv("EPICS_CA_ADDR_LIST", "")
    monkeypatch.setenv("EPICS_CA_AUTO_ADDR_LIST", "NO")
    monkeypatch.setenv("EPICS_CA_SERVER_PORT", str(free_port))  # UDP search would fail
    monkeypatch.setenv("EPICS_CA_NAME_SERVERS", f"127.0.0.1:{softioc_env.tcp_port}")
    sub = ca.subscribe(softioc_env.pv("ai"))
    seen = Collector()
    sub.add_callback(seen)
    running_group(sub)
    seen.wait_for(1)
    assert seen.updates[0].data.tolist() == [1.5]
    # and the many-PV API the same way
    results = ca.read_many([softioc_env.pv("ai"), softioc_env.pv("long")], timeout=TIMEOUT,
                           repeater=False)
    assert all(isinstance(r, ca.ReadNotifyResponse) for r in results)


def test_invalid_data_type_or_count_is_refused_at_subscribe():
    with pytest.raises(ca.ValueRefused, match="99"):
        ca.subscribe("some:pv", data_type=99)
    with pytest.raises(ca.ValueRefused, match="unknown data type"):
        ca.subscribe("some:pv", data_type="TIME_FOO")
    with pytest.raises(ca.ValueRefused, match="data_count"):
        ca.subscribe("some:pv", data_count=-1)


def test_search_replies_for_names_answered_long_ago_are_harmless(softioc_env):
    # After a restart, one datagram can answer a name being searched for and names answered
    # so long ago that their record was forgotten: the first must connect, the rest ignored.
    engine = Engine(load_config(), timeout=TIMEOUT)
    try:
        for cid in range(1, RESOLVED_MEMORY + 1):
            engine.resolved[cid] = (f"old{cid}", "127.0.0.1", 1)
        chan = engine.channel(softioc_env.pv("ai"), 0)
        replies = [(chan.search_cid, "127.0.0.1", softioc_env.tcp_port, 13)]
        replies += [(cid, "127.0.0.1", 2, 13) for cid in range(1, 40)]  # evicted meanwhile
        engine._on_search_replies(replies)
        assert chan.circuit is not None
    finally:
        engine.close()


def test_block_and_many_pv_calls_work_beyond_1024_descriptors(softioc_env, restore):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard limit of open files is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = []
    try:
        while True:
            fd = os.open(os.devnull, os.O_RDONLY)
            held.append(fd)
            if fd >= 1030:
                break
        restore("long", 42)
        sub = ca.subscribe(softioc_env.pv("ai"))
        seen = Collector()
        sub.add_callback(seen)
        ca.block(sub, duration=0.5, repeater=False)
        assert seen.updates and seen.updates[0].data.tolist() == [1.5]
        assert ca.read(softioc_env.pv("ai"), timeout=TIMEOUT, repeater=False).data[0] == 1.5
        assert ca.write(softioc_env.pv("long"), 7, notify=True, timeout=TIMEOUT,
                        repeater=False).status.success
        results = ca.read_many([softioc_env.pv("ai"), softioc_env.pv("long")],
                               timeout=TIMEOUT, repeater=False)
        assert [float(r.data[0]) for r in results] == [1.5, 7.0]
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


POSTER = """
import sys, time
import caprobe.ca as ca
with ca.Channel(sys.argv[1], timeout=5, repeater=False) as ch:
    n, start = 0, time.monotonic()
    while time.monotonic() - start < 30:
        n += 1
        ch.write(float(n))
        time.sleep(max(0.0, start + n * 0.01 - time.monotonic()))
"""


def test_a_stalled_ioc_does_not_delay_another_iocs_monitor(ioc_factory, monkeypatch,
                                                           tmp_path):
    # IOC A is stopped (SIGSTOP) while megabytes of writes are queued to it; IOC B's 100 Hz
    # monitor on the same engine must keep flowing (a blocking send would hold the loop for
    # seconds).
    stalled = ioc_factory.softioc()
    db = tmp_path / "tick.db"
    db.write_text('record(ao, "$(P)tick") {\n    field(MDEL, "-1")\n}\n')
    lively = ioc_factory.softioc(db=db, acf=None)
    # base's periodic scans stop at 10 Hz: another process writes the tick at 100 Hz
    poster = subprocess.Popen(
        [sys.executable, "-c", POSTER, lively.pv("tick")],
        env={**os.environ, **lively.env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    monkeypatch.setenv("EPICS_CA_AUTO_ADDR_LIST", "NO")
    monkeypatch.setenv("EPICS_CA_ADDR_LIST",
                       f"127.0.0.1:{stalled.port} 127.0.0.1:{lively.port}")
    monkeypatch.setenv("EPICS_CA_SERVER_PORT", str(stalled.port))
    engine = Engine(load_config(), timeout=TIMEOUT)
    try:
        sub = ca.subscribe(lively.pv("tick"))
        ticks = Collector()
        sub.add_callback(ticks)
        engine.add_monitor(sub)
        big = engine.channel(stalled.pv("wf_300k"), 0)
        deadline = time.monotonic() + TIMEOUT
        while not (big.connected and len(ticks.updates) >= 5):
            assert time.monotonic() < deadline
            engine.poll(time.monotonic() + 0.05)
        from caprobe.ca.requests import write_request

        # 48 MB: more than the kernel buffers between the two (tcp_rmem may reach 32 MB)
        write = write_request(big.state, [1.0] * 300_000, None, None, False)  # 2.4 MB
        writes = [write] * 20
        os.kill(stalled.pid, signal.SIGSTOP)
        try:
            queued = 0
            for request in writes:
                engine.submit(big, request, lambda response: None, "the write")
                engine.flush()
                queued = big.circuit.queued_bytes
            assert queued > 1_000_000, f"only {queued} bytes queued"
            engine.poll(time.monotonic())  # what arrived while the test encoded
            start = len(ticks.times)
            until = time.monotonic() + 1.5
            while time.monotonic() < until:
                engine.poll(until)
            # How late each update reached the callback after the IOC stamped it.
            delays = [arrived - update.metadata.timestamp for arrived, update in
                      zip(ticks.times[start:], ticks.updates[start:], strict=True)]
            assert len(delays) >= 50, len(delays)
            assert max(delays) < 0.1, f"an update waited {max(delays) * 1e3:.0f} ms"
        finally:
            os.kill(stalled.pid, signal.SIGCONT)
    finally:
        engine.close()
        poster.kill()
        poster.wait(5)


def test_no_udp_socket_is_left_when_the_deadline_passes_after_the_search(softioc_env,
                                                                          monkeypatch):
    from caprobe.ca import channel as channel_module

    real_search = channel_module.search_one

    def search_then_stall(*args: Any) -> Any:
        watch = real_search(*args)
        time.sleep(0.25)  # the deadline passes between the search and the connect
        return watch

    monkeypatch.setattr(channel_module, "search_one", search_then_stall)

    def udp_sockets() -> int:
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                sock = socket.socket(fileno=int(fd))
            except OSError:
                continue
            try:
                if sock.type == socket.SOCK_DGRAM:
                    count += 1
            finally:
                sock.detach()
        return count

    before = udp_sockets()
    for _ in range(3):
        with pytest.raises(ca.CATimeoutError, match="ran out before connecting"):
            ca.read(softioc_env.pv("ai"), timeout=0.2, repeater=False)
    assert udp_sockets() == before


def test_slow_dns_in_the_address_list_cannot_stretch_a_call(softioc_env, monkeypatch):
    from caprobe.ca import config as config_module

    release = threading.Event()

    def slow_lookup(host: str) -> str:
        release.wait(10)
        return "127.0.0.1"

    monkeypatch.setattr(config_module.socket, "gethostbyname", slow_lookup)
    monkeypatch.setattr(config_module, "_resolved", {})
    monkeypatch.setattr(config_module, "_config_cache", {})
    monkeypatch.setenv("EPICS_CA_ADDR_LIST", f"ioc-host.invalid:{softioc_env.port}")
    started = time.monotonic()
    try:
        with pytest.raises(ca.CATimeoutError, match="looking up host 'ioc-host.invalid'"):
            ca.read(softioc_env.pv("ai"), timeout=0.3, repeater=False)
        assert time.monotonic() - started < 2.0  # the timeout, not the resolver, decides
    finally:
        release.set()
