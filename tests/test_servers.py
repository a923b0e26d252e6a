"""Smoke tests of the test harness itself (tests/servers.py, tests/conftest.py).

caproto's sync client is the reference client here (tests only; caprobe never imports it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import servers
from caproto import ChannelType
from caproto.sync.client import read, write


def _read(name: str, **kwargs):
    return read(name, repeater=False, timeout=5, **kwargs)


def test_raw_search_answers_on_both_servers(softioc_server, caproto_server):
    for server in (softioc_server, caproto_server):
        assert server.is_running()
        assert server.port not in (5064, 5065)
        assert server.search() == server.tcp_port
        assert server.search("no_such_pv", timeout=0.2) is None


def test_server_env_is_loopback_only(softioc_server):
    assert softioc_server.env == {
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_SERVER_PORT": str(softioc_server.port),
        "EPICS_CA_REPEATER_PORT": str(softioc_server.port + 1),
    }
    assert os.environ["EPICS_CA_AUTO_ADDR_LIST"] == "NO"
    assert os.environ["EPICS_CA_ADDR_LIST"] == "127.0.0.1"
    assert os.environ["EPICS_CA_SERVER_PORT"] not in ("5064", str(softioc_server.port))


def test_softioc_env_fixture_sets_environment(softioc_env):
    for key, value in softioc_env.env.items():
        assert os.environ[key] == value


def test_softioc_ai_metadata(softioc_env):
    response = _read(softioc_env.pv("ai"), data_type="control")
    assert response.data_type == ChannelType.CTRL_DOUBLE
    assert response.data[0] == pytest.approx(1.5)
    assert response.metadata.units == b"mm"
    assert response.metadata.precision == 3
    assert (response.metadata.upper_alarm_limit, response.metadata.lower_alarm_limit) == (9, -9)


def test_pv_tables_match_the_servers(softioc_server, caproto_server):
    read_only = {(softioc_server, "ro"), (caproto_server, "read_only"),
                 (caproto_server, "counter")}
    for server, table in ((softioc_server, servers.SOFTIOC_PVS),
                          (caproto_server, servers.CAPROTO_PVS)):
        for suffix, (native_type, native_count) in table.items():
            access = 1 if (server, suffix) in read_only else 3
            expected = (native_type, native_count, access)
            assert server.channel_info(suffix) == expected, suffix


@pytest.mark.parametrize("suffix", sorted(servers.SOFTIOC_PVS))
def test_softioc_native_types_with_caproto(softioc_env, suffix):
    expected_type, _count = servers.SOFTIOC_PVS[suffix]
    response = _read(softioc_env.pv(suffix), data_type="native", data_count=1)
    assert response.data_type == ChannelType[expected_type.replace("SHORT", "INT")]


def test_softioc_read_only_pv_rejects_writes(softioc_env):
    name = softioc_env.pv("ro")
    response = write(name, 7.0, notify=True, repeater=False, timeout=5)
    assert response.status.name == "ECA_NOWTACCESS"
    assert _read(name).data[0] == pytest.approx(3.25)


def test_softioc_slow_put_callback_takes_half_a_second(softioc_env):
    started = time.monotonic()
    response = write(softioc_env.pv("slow"), 1.0, notify=True, repeater=False, timeout=5)
    elapsed = time.monotonic() - started
    assert response.status.name == "ECA_NORMAL"
    assert 0.45 <= elapsed < 2.0


def test_softioc_big_waveform_holds_a_ramp(softioc_env):
    response = _read(softioc_env.pv("wf_big"))
    assert response.data_count == 1_000_000
    assert response.data[0] == 0 and response.data[-1] == 999_999


def test_caproto_ioc_values(caproto_env):
    response = _read(caproto_env.pv("double"), data_type="control")
    assert response.data[0] == pytest.approx(1.5)
    assert response.metadata.units == b"mm"
    assert _read(caproto_env.pv("enum")).data == [b"Off"]


def test_caproto_read_only_pv_rejects_writes(caproto_env):
    from caproto import ErrorResponseReceived

    name = caproto_env.pv("read_only")
    with pytest.raises(ErrorResponseReceived):
        write(name, 7.0, notify=True, repeater=False, timeout=5)
    assert _read(name).data[0] == pytest.approx(3.25)


@pytest.mark.parametrize("kind", ["softioc", "caproto"])
def test_kill_and_restart_on_the_same_port(ioc_factory, kind):
    server = getattr(ioc_factory, kind)()
    old_pid, port = server.pid, server.port
    assert server.search() is not None

    server.kill()
    assert not server.is_running()
    assert server.search(timeout=0.3) is None

    server.restart()
    assert server.pid != old_pid
    assert server.port == port
    assert server.search() == server.tcp_port


def test_restart_on_a_new_port(ioc_factory):
    server = ioc_factory.softioc(use_env=True)
    old_port = server.port
    server.restart(same_port=False)
    assert server.port != old_port
    assert os.environ["EPICS_CA_SERVER_PORT"] == str(old_port)  # env is a per-call snapshot
    assert server.search() == server.tcp_port


def test_stop_and_cont(ioc_factory):
    server = ioc_factory.caproto()
    server.stop()
    assert server.search(timeout=0.3) is None
    server.cont()
    assert server.search(timeout=5) == server.tcp_port


def test_ioc_factory_kills_everything(ioc_factory):
    first = ioc_factory.caproto_example()
    second = ioc_factory.caproto()
    assert first.search() and second.search()
    ioc_factory.close()
    assert not first.is_running() and not second.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(first.pid, 0)


def test_start_failure_reports_server_output(tmp_path):
    bad_db = tmp_path / "bad.db"
    bad_db.write_text('record(nonsense, "$(P)x") {}\n')
    with pytest.raises(servers.ServerStartError, match="nonsense"):
        servers.start_softioc(db=bad_db, acf=None, timeout=10)


def test_free_port_fixture(free_port):
    assert free_port not in (5064, 5065)
    assert servers.port_is_free(free_port)


def test_env_fixture_revives_a_killed_session_server(softioc_server, request):
    # A test that kills the shared server must not break the tests after it.
    softioc_server.kill()
    revived = request.getfixturevalue("softioc_env")
    assert revived is softioc_server and revived.search() is not None


def test_close_kills_a_detached_repeater_on_port_plus_one(ioc_factory):
    server = ioc_factory.caproto()
    env = {**os.environ, **server.env}
    # Like a repeater spawned by a client under test: its own session, not our child to reap.
    repeater = subprocess.Popen(
        [sys.executable, "-m", "caproto.commandline.repeater", "-q"], env=env,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while repeater.pid not in servers.udp_port_owners(server.port + 1):
            assert time.monotonic() < deadline, "repeater never bound its port"
            time.sleep(0.05)
        server.close()
        assert repeater.wait(timeout=5) == -signal.SIGKILL
    finally:
        if repeater.poll() is None:
            os.kill(repeater.pid, signal.SIGKILL)
            repeater.wait()
