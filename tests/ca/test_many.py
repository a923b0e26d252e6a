"""caprobe.ca's many-PV API (read_many, write_many, info_many, Context) against real soft
IOCs: thousands of PVs on one IOC, PVs spread over three, missing PVs among many, put-callback
and refused writes, results always in the order asked."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import servers

import caprobe.ca as ca

MANY = 2000
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def many_ioc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    db = servers.many_records_db(tmp_path_factory.mktemp("many") / "many.db", MANY,
                                 read_only_every=500)
    server = servers.start_softioc(db=db, acf=servers.TEST_ACF)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def three_iocs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[servers.Server]]:
    db = servers.many_records_db(tmp_path_factory.mktemp("three") / "three.db", 100)
    started: list[servers.Server] = []
    try:
        for _ in range(3):
            started.append(servers.start_softioc(db=db, acf=None))
        yield started
    finally:
        for server in started:
            server.close()


def use(monkeypatch: pytest.MonkeyPatch, *server_list: servers.Server) -> None:
    """Client environment reaching every given server (and only loopback)."""
    for key, value in server_list[0].env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("EPICS_CA_ADDR_LIST",
                       " ".join(f"127.0.0.1:{server.port}" for server in server_list))


def names(server: servers.Server, count: int, start: int = 0) -> list[str]:
    return [server.pv(f"m{i}") for i in range(start, start + count)]


def test_two_thousand_pvs_of_one_ioc_in_order_on_one_circuit(many_ioc, monkeypatch):
    use(monkeypatch, many_ioc)
    pvs = names(many_ioc, MANY)
    with ca.Context(timeout=TIMEOUT, repeater=False) as ctx:
        results = ctx.read_many(pvs)
        assert [float(r.data[0]) for r in results] == [float(i) for i in range(MANY)]
        assert len(ctx._engine.circuits) == 1
        infos = ctx.info_many(pvs[:10])
    assert all(info.native_data_type == ca.ChannelType.DOUBLE for info in infos)
    assert [info.pv_name for info in infos] == pvs[:10]


def test_time_and_control_metadata_for_many(many_ioc, monkeypatch):
    use(monkeypatch, many_ioc)
    results = ca.read_many(names(many_ioc, 20), data_type="control", timeout=TIMEOUT,
                           repeater=False)
    assert {r.metadata.units for r in results} == {b"mA"}
    assert {r.metadata.precision for r in results} == {2}
    timed = ca.read_many(names(many_ioc, 5), data_type="time", timeout=TIMEOUT,
                         repeater=False)
    assert all(r.data_type == ca.ChannelType.TIME_DOUBLE for r in timed)
    assert {r.metadata.severity for r in timed} == {ca.AlarmSeverity.NO_ALARM}


def test_pvs_spread_over_three_iocs_interleaved(three_iocs, monkeypatch):
    use(monkeypatch, *three_iocs)
    pvs = [server.pv(f"m{i}") for i in range(100) for server in three_iocs]
    with ca.Context(timeout=TIMEOUT, repeater=False) as ctx:
        results = ctx.read_many(pvs)
        circuits = {(c.host, c.port) for c in ctx._engine.circuits.values()}
    assert [float(r.data[0]) for r in results] == [float(i) for i in range(100) for _ in range(3)]
    assert [r.channel.port for r in results[:3]] == [s.tcp_port for s in three_iocs]
    assert len(circuits) == 3


def test_missing_pvs_among_many_cost_one_timeout(many_ioc, monkeypatch):
    use(monkeypatch, many_ioc)
    good = names(many_ioc, 50)
    missing = [many_ioc.pv(f"nothing{i}") for i in range(20)]
    pvs = [pv for pair in zip(good[:20], missing, strict=True) for pv in pair] + good[20:]
    started = time.monotonic()
    results = ca.read_many(pvs, timeout=1.0, repeater=False)
    elapsed = time.monotonic() - started
    # One timeout for all twenty, not twenty in a row (a behaviour, not a speed figure).
    assert elapsed < 3.0
    for pv, result in zip(pvs, results, strict=True):
        if "nothing" in pv:
            assert isinstance(result, ca.CATimeoutError)
            assert f"PV {pv!r} not found within 1 s" in str(result)
        else:
            assert isinstance(result, ca.ReadNotifyResponse)


def test_bad_names_get_their_own_error_and_change_nothing_else(many_ioc, monkeypatch):
    use(monkeypatch, many_ioc)
    results = ca.read_many([many_ioc.pv("m1"), "bad name", "", many_ioc.pv("m2")],
                           timeout=TIMEOUT, repeater=False)
    assert float(results[0].data[0]) == 1.0 and float(results[3].data[0]) == 2.0
    assert isinstance(results[1], ca.ValueRefused) and "white space" in str(results[1])
    assert isinstance(results[2], ca.ValueRefused) and "empty" in str(results[2])


def test_write_many_with_put_callback_read_back_by_another_client(many_ioc, monkeypatch):
    use(monkeypatch, many_ioc)
    pvs = names(many_ioc, 200, start=1000)
    pvs = [pv for pv in pvs if not pv.endswith(("m1000", "m1500"))]  # read-only records
    values = [1e5 + i for i in range(len(pvs))]
    try:
        results = ca.write_many(pvs, values, notify=True, timeout=TIMEOUT, repeater=False)
        assert all(isinstance(r, ca.WriteNotifyResponse) and r.status.success
                   for r in results), results[:3]
        from caproto.sync.client import read as caproto_read

        for pv, value in list(zip(pvs, values, strict=True))[::37]:
            assert caproto_read(pv, timeout=TIMEOUT, repeater=False).data[0] == value
    finally:
        ca.write_many(pvs, [float(pv.rsplit("m", 1)[1]) for pv in pvs], notify=True,
                      timeout=TIMEOUT, repeater=False)


def test_read_only_pv_is_reported_and_the_rest_written(many_ioc, monkeypatch):
    use(monkeypatch, many_ioc)
    pvs = [many_ioc.pv("m499"), many_ioc.pv("m500"), many_ioc.pv("m501")]  # m500 is RO
    try:
        results = ca.write_many(pvs, [7.0, 7.0, 7.0], notify=True, timeout=TIMEOUT,
                                repeater=False)
        assert isinstance(results[1], ca.WriteFailed)
        assert "no write access" in str(results[1])
        assert results[0].status.success and results[2].status.success
        assert [float(r.data[0]) for r in ca.read_many(pvs, timeout=TIMEOUT,
                                                      repeater=False)] == [7.0, 500.0, 7.0]
    finally:
        ca.write_many([pvs[0], pvs[2]], [499.0, 501.0], notify=True, timeout=TIMEOUT,
                      repeater=False)


def test_write_without_notify_confirmed_or_refused_by_the_server(softioc_env, restore):
    restore("mbbo", "Zero")
    restore("long", 42)
    pvs = [softioc_env.pv("mbbo"), softioc_env.pv("long"), softioc_env.pv("ai")]
    results = ca.write_many(pvs, ["NoSuchState", 7, "abc"], timeout=TIMEOUT, repeater=False)
    assert isinstance(results[0], ca.WriteFailed), results[0]
    assert results[1] is None
    assert isinstance(results[2], ca.WriteFailed), results[2]
    assert ca.read(softioc_env.pv("long"), repeater=False).data[0] == 7


def test_values_that_do_not_fit_are_refused_before_sending(softioc_env, sent_writes):
    pvs = [softioc_env.pv("long"), softioc_env.pv("str")]
    results = ca.write_many(pvs, [2**40, "x" * 60], timeout=TIMEOUT, repeater=False)
    assert all(isinstance(r, ca.ValueRefused) for r in results)
    assert "nothing was written" in str(results[0])
    assert sent_writes == []


def test_a_context_reuses_its_channels_between_calls(many_ioc, monkeypatch):
    use(monkeypatch, many_ioc)
    pvs = names(many_ioc, 50)
    with ca.Context(timeout=TIMEOUT, repeater=False) as ctx:
        ctx.read_many(pvs)
        engine = ctx._engine
        searched = dict(engine.resolved)
        ctx.read_many(pvs)
        assert engine.resolved == searched  # no new search
        assert len(engine.channels) == 50


def test_values_and_names_must_pair_up(softioc_env):
    with pytest.raises(ValueError, match="2 PV names but 1 values"):
        ca.write_many(["a", "b"], [1])


def test_many_values_of_every_kind_decoded_as_a_single_read_would(softioc_env):
    pvs = [softioc_env.pv(s) for s in ("ai", "long", "str", "mbbo", "wf_double", "wf_char")]
    together = ca.read_many(pvs, data_type="time", timeout=TIMEOUT, repeater=False)
    for pv, result in zip(pvs, together, strict=True):
        alone = ca.read(pv, data_type="time", timeout=TIMEOUT, repeater=False)
        assert result.data_type == alone.data_type
        assert list(result.data) == list(alone.data)

