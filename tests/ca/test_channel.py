"""caprobe.ca.Channel against EPICS base rsrv (softioc): one search and one circuit for several
calls, per-call timeouts, and errors about an unacknowledged write surfacing at the next read
or at close."""

from __future__ import annotations

import time
from typing import Any

import pytest
from ca_helpers import TIMEOUT, read, write

from caprobe import ca
from caprobe.ca import CATimeoutError, DisconnectedError, WriteFailed, WriteNotifyResponse
from caprobe.ca import channel as ca_client


def channel(server: Any, suffix: str, **kwargs: Any) -> ca.Channel:
    kwargs.setdefault("timeout", TIMEOUT)
    return ca.Channel(server.pv(suffix), repeater=False, **kwargs)


@pytest.fixture
def circuits_opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(host, port) of every TCP circuit the one-shot client opens during the test."""
    opened: list[tuple[str, int]] = []
    real = ca_client.open_tcp

    def spy(host: str, port: int, timeout: float) -> Any:
        opened.append((host, port))
        return real(host, port, timeout)

    monkeypatch.setattr(ca_client, "open_tcp", spy)
    return opened


def test_info_read_write_read_share_one_circuit(softioc_env, restore, circuits_opened):
    restore("long", 42)
    with channel(softioc_env, "long") as ch:
        assert ch.info.native_data_type == ca.ChannelType.LONG
        assert ch.info.can_write
        assert ch.read().data.tolist() == [42]
        assert ch.write(43) is None
        assert ch.read(data_type="time").data.tolist() == [43]
        assert isinstance(ch.write(44, notify=True), WriteNotifyResponse)
        assert ch.read().data.tolist() == [44]
    assert len(circuits_opened) == 1


def test_rejected_write_without_notify_surfaces_at_the_next_read(softioc_env, restore):
    restore("ao", 0.0)
    write(softioc_env, "ao", 1.25, notify=True)
    with channel(softioc_env, "ao") as ch:
        assert ch.write("abc") is None
        with pytest.raises(WriteFailed) as info:
            ch.read()
        assert "ECA_" in str(info.value) and softioc_env.pv("ao") in str(info.value)
        # the channel is still usable and the value is unchanged
        assert ch.read().data.tolist() == [1.25]


def test_rejected_write_without_notify_surfaces_when_the_block_ends(softioc_env, restore):
    restore("ao", 0.0)
    with pytest.raises(WriteFailed):
        with channel(softioc_env, "ao") as ch:
            ch.write("abc")


def test_accepted_write_without_notify_is_confirmed_at_close(softioc_env, restore):
    restore("long", 42)
    with channel(softioc_env, "long") as ch:
        ch.write(7)
    assert read(softioc_env, "long").data.tolist() == [7]


def test_an_exception_in_the_block_is_not_replaced_by_waiting_for_the_write(softioc_env,
                                                                            restore):
    restore("ao", 0.0)
    with pytest.raises(KeyError):
        with channel(softioc_env, "ao") as ch:
            ch.write("abc")
            raise KeyError("the caller's own error")


def test_each_call_has_its_own_timeout(softioc_env, slow_record):
    with channel(softioc_env, slow_record, timeout=0.3) as ch:
        started = time.monotonic()
        with pytest.raises(CATimeoutError):
            ch.write(1.0, notify=True)  # the channel's 0.3 s < 0.5 s completion
        assert time.monotonic() - started < 0.45
    with channel(softioc_env, slow_record, timeout=0.3) as ch:
        time.sleep(0.35)  # the connection's time has run out; a call starts its own
        assert ch.read().data is not None
        response = ch.write(2.0, notify=True, timeout=2.0)
        assert response.status.success


def test_calls_after_close_raise_disconnected(softioc_env):
    ch = channel(softioc_env, "long")
    ch.close()
    ch.close()  # twice is harmless
    with pytest.raises(DisconnectedError):
        ch.read()
    with pytest.raises(DisconnectedError):
        ch.write(1)


def test_missing_pv_times_out_within_the_timeout(softioc_env):
    started = time.monotonic()
    with pytest.raises(CATimeoutError) as info:
        channel(softioc_env, "no_such_record", timeout=0.3)
    assert 0.25 < time.monotonic() - started < 1.0
    assert "no_such_record" in str(info.value)


def test_write_without_access_is_refused_before_sending(softioc_env, sent_writes):
    with channel(softioc_env, "ro") as ch:
        assert not ch.info.can_write
        with pytest.raises(WriteFailed):
            ch.write(1.0)
    assert sent_writes == []


def test_a_read_the_server_fails_raises_error_response_and_the_channel_stays_usable(
        softioc_env):
    # "hello" has no DOUBLE form: rsrv answers READ_NOTIFY with a failure status.
    with channel(softioc_env, "str") as ch:
        with pytest.raises(ca.ErrorResponseReceived) as info:
            ch.read(data_type=ca.ChannelType.DOUBLE)
        assert not isinstance(info.value, WriteFailed)
        assert softioc_env.pv("str") in str(info.value)
        assert ch.read().data == [b"hello"]
