"""Search and EPICS_CA_* configuration: address lists, TCP name servers, duplicate servers,
array-size limits, timeouts. Everything stays on loopback; ``repeater=False`` throughout.
"""

from __future__ import annotations

import logging
import time
import tracemalloc
from typing import Any

import pytest
import servers

from caprobe import ca
from caprobe.ca import (
    CAError,
    CATimeoutError,
    ConfigurationError,
    ErrorResponseReceived,
)

TIMEOUT = 2.0


def read(name: str, **kwargs: Any) -> Any:
    kwargs.setdefault("timeout", TIMEOUT)
    return ca.read(name, repeater=False, **kwargs)


# ---------------------------------------------------------------------------------------------
# EPICS_CA_ADDR_LIST


def test_addr_list_entry_port_overrides_server_port(softioc_env, monkeypatch, free_port):
    monkeypatch.setenv("EPICS_CA_SERVER_PORT", str(free_port))  # nothing listens there
    monkeypatch.setenv("EPICS_CA_ADDR_LIST", f"127.0.0.1:{softioc_env.port}")
    assert read(softioc_env.pv("ai")).data.tolist() == [1.5]


def test_addr_list_with_silent_destination_first_still_finds_pv(softioc_env, monkeypatch,
                                                               free_port):
    monkeypatch.setenv("EPICS_CA_ADDR_LIST",
                       f"127.0.0.1:{free_port} 127.0.0.1:{softioc_env.port}")
    assert read(softioc_env.pv("ai")).data.tolist() == [1.5]


def test_addr_list_accepts_host_names(softioc_env, monkeypatch):
    monkeypatch.setenv("EPICS_CA_ADDR_LIST", f"localhost:{softioc_env.port}")
    assert read(softioc_env.pv("long")).data.tolist() == [42]


def test_missing_pv_message_names_every_search_destination(softioc_env, monkeypatch,
                                                           free_port):
    monkeypatch.setenv("EPICS_CA_ADDR_LIST",
                       f"127.0.0.1:{free_port} 127.0.0.1:{softioc_env.port}")
    name = softioc_env.pv("not_there")
    started = time.monotonic()
    with pytest.raises(CATimeoutError) as info:
        read(name, timeout=0.5)
    assert 0.45 <= time.monotonic() - started < 1.0
    message = str(info.value)
    assert name in message
    assert f"127.0.0.1:{free_port}" in message
    assert f"127.0.0.1:{softioc_env.port}" in message


@pytest.mark.parametrize("timeout", [0.2, 0.6])
def test_search_timeout_follows_the_timeout_argument(softioc_env, timeout):
    started = time.monotonic()
    with pytest.raises(CATimeoutError):
        read(softioc_env.pv("not_there"), timeout=timeout)
    assert timeout - 0.05 <= time.monotonic() - started < timeout + 0.4


def test_stopped_server_gives_timeout(ioc_factory):
    server = ioc_factory.caproto(use_env=True)
    server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(CATimeoutError):
            read(server.pv("double"), timeout=0.3)
        assert time.monotonic() - started < 0.8
    finally:
        server.cont()


@pytest.mark.parametrize("variable", ["EPICS_CA_ADDR_LIST", "EPICS_CA_NAME_SERVERS"])
@pytest.mark.parametrize("entry", ["a:b:c", "127.0.0.1:", ":5064", "127.0.0.1:99999",
                                   "127.0.0.1:0", "127.0.0.1:port", "127.0.0.1:5064:5065"])
def test_malformed_address_entry_is_a_configuration_error(softioc_env, monkeypatch, variable,
                                                         entry):
    monkeypatch.setenv(variable, f"127.0.0.1:{softioc_env.port} {entry}")
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as info:
        read(softioc_env.pv("ai"))
    assert time.monotonic() - started < 0.5
    message = str(info.value)
    assert variable in message and entry in message
    assert "\n" not in message
    with pytest.raises(ConfigurationError):
        ca.write(softioc_env.pv("ao"), 0.0, repeater=False)


@pytest.mark.parametrize(("variable", "value"), [
    ("EPICS_CA_SERVER_PORT", "abc"),
    ("EPICS_CA_SERVER_PORT", "70000"),
    ("EPICS_CA_REPEATER_PORT", "x"),
    ("EPICS_CA_MAX_ARRAY_BYTES", "lots"),
    ("EPICS_CA_CONN_TMO", "soon"),
])
def test_malformed_numeric_variable_is_a_configuration_error(softioc_env, monkeypatch,
                                                            variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as info:
        read(softioc_env.pv("ai"))
    assert variable in str(info.value)


def test_no_search_destination_at_all_is_a_configuration_error(softioc_env, monkeypatch):
    monkeypatch.setenv("EPICS_CA_ADDR_LIST", "")
    monkeypatch.setenv("EPICS_CA_AUTO_ADDR_LIST", "NO")
    monkeypatch.delenv("EPICS_CA_NAME_SERVERS", raising=False)
    started = time.monotonic()
    with pytest.raises(ConfigurationError):
        read(softioc_env.pv("ai"))
    assert time.monotonic() - started < 0.2


# ---------------------------------------------------------------------------------------------
# EPICS_CA_NAME_SERVERS (TCP search, CA V4.12)


@pytest.fixture
def name_server_only(softioc_env: Any, monkeypatch: pytest.MonkeyPatch, free_port: int) -> Any:
    """Client env that can reach the soft IOC only through a TCP name-server search."""
    monkeypatch.setenv("EPICS_CA_ADDR_LIST", "")
    monkeypatch.setenv("EPICS_CA_AUTO_ADDR_LIST", "NO")
    monkeypatch.setenv("EPICS_CA_SERVER_PORT", str(free_port))  # UDP search would fail
    monkeypatch.setenv("EPICS_CA_NAME_SERVERS", f"127.0.0.1:{softioc_env.tcp_port}")
    return softioc_env


def test_name_server_search_finds_pv_without_udp(name_server_only):
    res = read(name_server_only.pv("ai"))
    assert res.data.tolist() == [1.5]
    assert res.channel.port == name_server_only.tcp_port
    # The TCP search reply has no version; the circuit's VERSION (13) still enables count 0.
    assert read(name_server_only.pv("wf_double")).data_count == 5


def test_name_server_search_supports_write_and_info(name_server_only):
    info = ca.info(name_server_only.pv("ro"), timeout=TIMEOUT, repeater=False)
    assert not info.can_write
    response = ca.write(name_server_only.pv("long"), 42, notify=True, timeout=TIMEOUT,
                        repeater=False)
    assert response.status.success


def test_name_server_search_for_missing_pv_times_out_naming_the_name_server(name_server_only):
    name = name_server_only.pv("not_there")
    started = time.monotonic()
    with pytest.raises(CATimeoutError) as info:
        read(name, timeout=0.3)
    assert time.monotonic() - started < 0.8
    assert name in str(info.value)
    assert f"127.0.0.1:{name_server_only.tcp_port}" in str(info.value)


def test_unreachable_name_server_does_not_stop_udp_search(softioc_env, monkeypatch, free_port):
    monkeypatch.setenv("EPICS_CA_NAME_SERVERS", f"127.0.0.1:{free_port}")  # refused
    assert read(softioc_env.pv("ai")).data.tolist() == [1.5]


# ---------------------------------------------------------------------------------------------
# Two servers answering one search


def _duplicate_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith("caprobe")]


def _check_first_wins_and_other_reported(twins: list[Any], pv_name: str,
                                         caplog: pytest.LogCaptureFixture,
                                         attempts: int) -> int:
    """Connect ``attempts`` times; every warning must name the PV, the server used and the
    one ignored. Returns how many calls reported the other server."""
    addresses = {f"127.0.0.1:{server.tcp_port}" for server in twins}
    reported = 0
    for _ in range(attempts):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="caprobe"):
            info = ca.info(pv_name, timeout=TIMEOUT, repeater=False)
        assert info.address in addresses
        (other,) = addresses - {info.address}
        warnings = _duplicate_warnings(caplog)
        assert len(warnings) <= 1, warnings
        for warning in warnings:
            assert pv_name in warning
            assert other in warning
            assert info.address in warning
        reported += len(warnings)
    return reported


def _twins(start: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    prefix = servers.random_prefix()
    twins = [start(prefix=prefix), start(prefix=prefix)]
    for key, value in twins[0].env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("EPICS_CA_ADDR_LIST",
                       " ".join(f"127.0.0.1:{server.port}" for server in twins))
    return twins


def test_two_softiocs_answering_one_search_first_wins_other_reported(ioc_factory, monkeypatch,
                                                                    caplog):
    twins = _twins(ioc_factory.softioc, monkeypatch)
    # rsrv answers within microseconds: both replies are in before the call ends.
    assert _check_first_wins_and_other_reported(twins, twins[0].pv("ai"), caplog,
                                                attempts=3) == 3
    assert read(twins[0].pv("ai")).data.tolist() == [1.5]


def test_two_caproto_servers_answering_one_search_reported_by_block(
        ioc_factory, monkeypatch, caplog):
    # A one-shot call lasts ~1 ms and can only report replies that arrive meanwhile (caproto
    # servers answer milliseconds apart); block() keeps listening, so it always reports.
    twins = _twins(ioc_factory.caproto, monkeypatch)
    pv_name = twins[0].pv("double")
    sub = ca.subscribe(pv_name)
    updates: list[Any] = []

    def on_update(response: Any) -> None:
        updates.append(response)

    sub.add_callback(on_update)
    with caplog.at_level(logging.WARNING, logger="caprobe"):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _duplicate_warnings(caplog):
            ca.block(sub, duration=0.3, repeater=False)
    [warning] = _duplicate_warnings(caplog)[:1]
    addresses = {f"127.0.0.1:{server.tcp_port}" for server in twins}
    assert pv_name in warning and all(address in warning for address in addresses)
    assert any(isinstance(u, ca.EventAddResponse) for u in updates)


def test_same_server_listed_twice_is_not_reported_as_duplicate(softioc_env, monkeypatch,
                                                               caplog):
    monkeypatch.setenv("EPICS_CA_ADDR_LIST",
                       f"127.0.0.1:{softioc_env.port} localhost:{softioc_env.port}")
    with caplog.at_level(logging.WARNING, logger="caprobe"):
        assert read(softioc_env.pv("ai")).data.tolist() == [1.5]
    assert _duplicate_warnings(caplog) == []


# ---------------------------------------------------------------------------------------------
# Array size limits


def test_small_max_array_bytes_refuses_1m_waveform_without_allocating_it(softioc_env,
                                                                        monkeypatch):
    monkeypatch.setenv("EPICS_CA_MAX_ARRAY_BYTES", "100000")
    tracemalloc.start()
    try:
        started = time.monotonic()
        with pytest.raises(CAError) as info:
            read(softioc_env.pv("wf_big"))
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 2_000_000, f"allocated {peak} bytes for a refused 8 MB reply"
    message = str(info.value)
    assert "EPICS_CA_MAX_ARRAY_BYTES" in message
    assert "\n" not in message


def test_small_max_array_bytes_still_allows_reads_that_fit(softioc_env, monkeypatch):
    monkeypatch.setenv("EPICS_CA_MAX_ARRAY_BYTES", "100000")
    res = read(softioc_env.pv("wf_big"), data_count=1000)
    assert res.data.tolist() == [float(i) for i in range(1000)]
    assert read(softioc_env.pv("ai")).data.tolist() == [1.5]


def test_max_array_bytes_below_16384_is_raised_to_libca_minimum(softioc_env, monkeypatch):
    monkeypatch.setenv("EPICS_CA_MAX_ARRAY_BYTES", "100")
    assert read(softioc_env.pv("wf_big"), data_count=2000).data_count == 2000  # 16000 bytes
    assert len(read(softioc_env.pv("mbbo"), data_type="control").metadata.enum_strings) == 16
    with pytest.raises(CAError):
        read(softioc_env.pv("wf_big"), data_count=3000)  # 24000 bytes


def test_large_enough_max_array_bytes_allows_1m_waveform(softioc_env, monkeypatch):
    monkeypatch.setenv("EPICS_CA_MAX_ARRAY_BYTES", "8000100")
    assert read(softioc_env.pv("wf_big")).data_count == 1_000_000


@pytest.fixture(scope="module")
def old_style_array_server() -> Any:
    """A soft IOC with EPICS_CA_AUTO_ARRAY_BYTES=NO and a 100 kB array limit."""
    server = servers.start_softioc(extra_env={"EPICS_CA_MAX_ARRAY_BYTES": "100000",
                                              "EPICS_CA_AUTO_ARRAY_BYTES": "NO"})
    try:
        yield server
    finally:
        server.close()


def test_server_array_limit_error_carries_eca_status_and_server_text(old_style_array_server,
                                                                    ca_env):
    server = ca_env(old_style_array_server)
    with pytest.raises(ErrorResponseReceived) as info:
        read(server.pv("wf_300k"))
    assert info.value.status.name == "ECA_TOLARGE"
    assert info.value.server_text
    assert server.pv("wf_300k") in str(info.value)
    assert "\n" not in str(info.value)


def test_server_array_limit_allows_explicit_smaller_count(old_style_array_server, ca_env):
    server = ca_env(old_style_array_server)
    res = read(server.pv("wf_300k"), data_count=5000)
    assert res.data.tolist() == [float(i) for i in range(5000)]


@pytest.mark.parametrize("notify", [True, False])
def test_write_larger_than_server_array_limit_raises_write_failed(old_style_array_server,
                                                                  ca_env, notify):
    server = ca_env(old_style_array_server)
    with pytest.raises(ca.WriteFailed) as info:
        ca.write(server.pv("wf_300k"), [1.0] * 20_000, notify=notify, timeout=TIMEOUT,
                 repeater=False)
    assert info.value.status.name == "ECA_TOLARGE"
    assert "Max bytes" in str(info.value)  # the server's own text
    assert read(server.pv("wf_300k"), data_count=3).data.tolist() == [0.0, 1.0, 2.0]
