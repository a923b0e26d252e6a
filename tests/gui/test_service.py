"""The GUI's one PV service against real IOCs: one subscription per PV, data type and
priority whatever the number of views, fan-out, metadata read once, batching, release, and a
prompt shutdown."""

from __future__ import annotations

import time
from typing import Any

import pytest
import servers

from caprobe.gui import service as pvservice
from caprobe.gui.chart_worker import CHART_PRIORITY, ChartWorker, WaveformWorker
from caprobe.gui.service import AllCollector, FeedKey, LatestCollector, PVService

WAIT_MS = 8000


@pytest.fixture
def service(qtbot) -> Any:
    svc = PVService(search_timeout=1.0)
    yield svc
    assert svc.shutdown(3000)


class Recorder:
    def __init__(self, client: pvservice.PVClient) -> None:
        self.batches: list[Any] = []
        self.metadata: list[tuple[str, Any]] = []
        client.updates.connect(self.batches.append)
        client.metadata_ready.connect(lambda pv, md: self.metadata.append((pv, md)))

    def values(self, pv: str) -> list[Any]:
        return [item for batch in self.batches for item in batch.get(pv, ())
                if not hasattr(item, "connected")]


def test_probe_chart_and_waveform_share_one_subscription_per_priority(qtbot, ioc_factory,
                                                                      monkeypatch) -> None:
    ioc = ioc_factory.softioc(use_env=True)
    pv = ioc.pv("wf_double")
    reads: list[str] = []
    backend = pvservice._backends["ca"]
    original = backend.read_metadata

    def counting_read(name: str, timeout: float) -> Any:
        reads.append(name)
        return original(name, timeout)

    monkeypatch.setattr(backend, "read_metadata", counting_read)
    svc = PVService(search_timeout=1.0)
    try:
        probe = svc.client(LatestCollector(), priority=0)
        seen = Recorder(probe)
        probe.add(pv)
        chart = ChartWorker(service=svc)
        chart.start()
        chart.add_pv(pv)
        waveform = WaveformWorker(service=svc)
        shapes: list[Any] = []
        waveform.waveform_ready.connect(lambda name, values, t, sev: shapes.append(values))
        chart_md: list[Any] = []
        chart.samples_ready.connect(lambda b: chart_md.extend(b.metadata.values()))
        waveform.set_pv(pv)
        qtbot.waitUntil(lambda: bool(seen.values(pv) and shapes and chart_md), timeout=WAIT_MS)
        assert sorted((k.priority, str(k.data_type), n) for k, n in svc.feeds()) == [
            (0, "None", 1), (CHART_PRIORITY, "time", 2)]
        # priority 0: the probe's values and the PV's one metadata subscription (DBR_CTRL,
        # DBE_PROPERTY); priority 1: the chart's and the waveform's shared values
        assert svc.metadata_subscriptions() == 1
        assert svc.loop_subscriptions() == {("ca", 0): 2, ("ca", CHART_PRIORITY): 1}
        # one circuit per priority, and no one-shot metadata read (no extra circuit)
        qtbot.waitUntil(lambda: servers.established_circuits(ioc.port) == 2, timeout=WAIT_MS)
        assert reads == []
        assert svc.metadata(pv) is not None
        assert len(shapes[-1]) > 1
        # the last view to let go cancels the subscription
        waveform.stop()
        assert svc.loop_subscriptions()[("ca", CHART_PRIORITY)] == 1
        chart.stop()
        assert svc.loop_subscriptions()[("ca", CHART_PRIORITY)] == 0
        assert svc.loop_subscriptions()[("ca", 0)] == 2
        probe.close()
        assert svc.feeds() == [] and set(svc.loop_subscriptions().values()) == {0}
        assert svc.metadata_subscriptions() == 0
    finally:
        assert svc.shutdown(3000)


def test_updates_fan_out_and_survive_one_view_leaving(qtbot, softioc_env, service) -> None:
    pv = softioc_env.pv("counter")  # 10 Hz
    first, second = service.client(AllCollector()), service.client(AllCollector())
    seen_first, seen_second = Recorder(first), Recorder(second)
    first.add(pv)
    second.add(pv)
    assert len(service.feeds()) == 1
    qtbot.waitUntil(lambda: len(seen_first.values(pv)) >= 3 and len(seen_second.values(pv)) >= 3,
                    timeout=WAIT_MS)
    first.remove(pv)
    before = len(seen_second.values(pv))
    qtbot.waitUntil(lambda: len(seen_second.values(pv)) >= before + 3, timeout=WAIT_MS)
    assert [k.pv for k, n in service.feeds()] == [pv.split("://")[-1]]
    assert service.feeds()[0][1] == 1


def test_a_view_joining_a_silent_pv_gets_its_value_at_once(qtbot, softioc_env, service) -> None:
    pv = softioc_env.pv("ao")  # changes only when written
    first = service.client()
    seen_first = Recorder(first)
    first.add(pv)
    qtbot.waitUntil(lambda: bool(seen_first.values(pv) and seen_first.metadata), timeout=WAIT_MS)
    late = service.client()
    seen_late = Recorder(late)
    late.add(pv)
    qtbot.waitUntil(lambda: bool(seen_late.values(pv) and seen_late.metadata), timeout=1000)
    connected = [i for b in seen_late.batches for i in b[pv] if hasattr(i, "connected")]
    assert connected and connected[0].connected


def test_one_signal_per_flush_whatever_the_rate(qtbot, pcaspy_env, service) -> None:
    pv = pcaspy_env.pv("counter")  # +1 every 10 ms
    latest, every = service.client(LatestCollector()), service.client(AllCollector())
    seen_latest, seen_every = Recorder(latest), Recorder(every)
    latest.add(pv)
    every.add(pv)
    qtbot.waitUntil(lambda: len(seen_every.values(pv)) >= 5, timeout=WAIT_MS)
    seen_latest.batches.clear()
    seen_every.batches.clear()
    started = time.monotonic()
    qtbot.wait(1000)
    elapsed = time.monotonic() - started
    samples = len(seen_every.values(pv))
    assert samples >= 40  # the server sent at ~100 Hz
    # never one signal per sample: at most one per flush interval (+ slack for timer jitter)
    limit = elapsed * 1000 / pvservice.FLUSH_INTERVAL_MS + 3
    assert len(seen_every.batches) <= limit
    assert len(seen_latest.batches) <= limit
    # the latest-only client got one value per batch
    assert all(len(b[pv]) == 1 for b in seen_latest.batches)
    values = [float(i.data[0]) for i in seen_every.values(pv)]
    assert all(b - a == 1 for a, b in zip(values, values[1:], strict=False))


def test_bad_name_is_refused_and_nothing_subscribed(service) -> None:
    client = service.client()
    with pytest.raises(ValueError):
        client.add("has space")
    assert client.pvs() == [] and service.feeds() == []
    refused = client.add_many(["dead:ok", "bad name"])
    assert [pv for pv, _problem in refused] == ["bad name"]
    assert client.pvs() == ["dead:ok"]


def test_thousands_of_names_are_subscribed_a_chunk_per_loop_turn(qtbot, softioc_env,
                                                                  service) -> None:
    client = service.client()
    live = softioc_env.pv("counter")
    names = [f"dead:chunk{i}" for i in range(3 * pvservice.ATTACH_CHUNK)] + [live, "bad name"]
    refused = client.add_many(names)
    assert refused == [("bad name", refused[0][1])] and "bad name" not in client.pvs()
    assert client.pvs() == names[:-1]  # held at once, in order
    assert len(service.feeds()) == 0  # no subscription made on the caller's turn
    assert client.attaching == len(names) - 1
    client.remove("dead:chunk5")  # let go before it was ever subscribed
    client.remove(live)
    client.add(live)  # add() subscribes at once
    assert len(service.feeds()) == 1
    seen = Recorder(client)
    qtbot.waitUntil(lambda: client.attaching == 0, timeout=WAIT_MS)
    assert len(service.feeds()) == len(names) - 2
    assert "dead:chunk5" not in client.pvs()
    qtbot.waitUntil(lambda: any(live in batch for batch in seen.batches), timeout=WAIT_MS)


def test_settle_and_close_finish_or_drop_the_waiting_names(qtbot, service) -> None:
    client = service.client()
    client.add_many([f"dead:wait{i}" for i in range(2 * pvservice.ATTACH_CHUNK)])
    assert service.settle()
    assert client.attaching == 0 and len(service.feeds()) == 2 * pvservice.ATTACH_CHUNK
    other = service.client()
    other.add_many([f"dead:other{i}" for i in range(2 * pvservice.ATTACH_CHUNK)])
    other.close()
    assert other.attaching == 0 and other.pvs() == []
    qtbot.wait(50)  # loop turns: a closed client subscribes nothing more
    assert len(service.feeds()) == 2 * pvservice.ATTACH_CHUNK


def test_shutdown_is_prompt_with_dead_pvs(qtbot, softioc_env) -> None:
    svc = PVService(search_timeout=1.0)
    client = svc.client()
    client.add_many([f"dead:pv{i}" for i in range(20)])
    chart = svc.client(priority=CHART_PRIORITY, data_type="time")
    chart.add_many([f"dead:pv{i}" for i in range(5)])
    client.add(softioc_env.pv("counter"))
    qtbot.wait(300)
    assert svc.is_running()
    started = time.monotonic()
    assert svc.shutdown(3000)
    assert time.monotonic() - started < 2
    assert not svc.is_running()


def test_shared_service_lives_while_someone_holds_it(qtbot) -> None:
    first = pvservice.acquire_shared()
    second = pvservice.acquire_shared()
    assert first is second
    pvservice.release_shared(first)
    client = second.client()
    client.add("dead:shared")
    pvservice.release_shared(second)
    assert not second.is_running()
    third = pvservice.acquire_shared()
    assert third is not first
    pvservice.release_shared(third)


def test_protocol_prefix_selects_the_backend() -> None:
    assert pvservice.split_protocol("ca://X:y") == ("ca", "X:y")
    assert pvservice.split_protocol("X:y") == ("ca", "X:y")
    assert pvservice.split_protocol("weird://X")[0] == "ca"  # unknown scheme: part of the name
    key = FeedKey("ca", "X", 0, None)
    assert key == FeedKey("ca", "X", 0, None)


def test_metadata_follows_a_property_change(qtbot, ioc_factory, service) -> None:
    import caprobe.ca as ca

    ioc = ioc_factory.softioc(use_env=True)
    pv = ioc.pv("ai")
    client = service.client()
    seen = Recorder(client)
    client.add(pv)
    qtbot.waitUntil(lambda: bool(seen.metadata), timeout=WAIT_MS)
    assert seen.metadata[-1][1].metadata.upper_disp_limit == 10
    ca.write(ioc.pv("ai.HOPR"), 20, timeout=2)  # DBE_PROPERTY: no re-read, no reconnection
    qtbot.waitUntil(lambda: seen.metadata[-1][1].metadata.upper_disp_limit == 20,
                    timeout=WAIT_MS)
    assert service.metadata(pv).metadata.upper_disp_limit == 20


def test_bare_names_follow_the_default_protocol(monkeypatch) -> None:
    from caprobe.gui import service as service_module

    class FakePVA(service_module.Backend):
        name = "pva"

    monkeypatch.setitem(service_module._backends, "pva", FakePVA())
    monkeypatch.delenv("CAPROBE_DEFAULT_PROTOCOL", raising=False)
    assert service_module.split_protocol("X:ai") == ("ca", "X:ai")
    monkeypatch.setenv("CAPROBE_DEFAULT_PROTOCOL", "pva")
    assert service_module.split_protocol("X:ai") == ("pva", "X:ai")
    assert service_module.split_protocol("ca://X:ai") == ("ca", "X:ai")
    monkeypatch.delitem(service_module._backends, "pva")
    assert service_module.split_protocol("X:ai") == ("ca", "X:ai")  # no p4p: CA


def test_metadata_of_a_big_load_is_handed_out_a_flush_at_a_time(qtbot, tmp_path,
                                                                 monkeypatch) -> None:
    import many_ioc

    count = 3 * pvservice.METADATA_PER_FLUSH
    ioc = many_ioc.start(tmp_path, count=count)
    try:
        for key, value in ioc.env.items():
            monkeypatch.setenv(key, value)
        svc = PVService(search_timeout=2.0)
    except BaseException:
        ioc.close()
        raise
    try:
        client = svc.client()
        per_flush: list[int] = []
        arrived: set[str] = set()
        original_flush = svc.flush

        def counting_flush() -> None:
            before = len(arrived)
            original_flush()
            per_flush.append(len(arrived) - before)

        svc._flush_timer.timeout.disconnect()
        svc._flush_timer.timeout.connect(counting_flush)
        client.metadata_ready.connect(lambda pv, _response: arrived.add(pv))
        names = [many_ioc.set_name(ioc.prefix, i) for i in range(count)]
        client.add_many(names)
        qtbot.waitUntil(lambda: len(arrived) == count, timeout=30_000)
        assert max(per_flush) <= pvservice.METADATA_PER_FLUSH
        assert sum(1 for n in per_flush if n) >= 3  # spread over flushes, none lost
    finally:
        assert svc.shutdown(3000)
        ioc.close()
