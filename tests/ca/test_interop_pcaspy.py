"""caprobe.ca against pcaspy: EPICS base's portable CA server library (PCAS), the third server
implementation besides rsrv and caproto (tests/ioc/pcaspy_ioc.py, PCASPY_PVS).

PCAS differs from rsrv where the client must cope: no DBR_STSACK_STRING (ECA_GETFAIL), no
numeric form of a string PV (ECA_NOCONVERT), arrays that report their current length, a
driver that can refuse a write only by raising a WRITE alarm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import ca_helpers
import numpy as np
import pytest
import servers
from ca_helpers import TIMEOUT, read, write

from caprobe import ca
from caprobe.ca import ChannelType, ErrorResponseReceived, WriteNotifyResponse

STRING_TYPES = {0, 7, 14, 21, 28}
READABLE_TYPES = [*range(35), 38]


@pytest.fixture
def pcas(pcaspy_env: servers.Server) -> servers.Server:
    return pcaspy_env


@pytest.fixture
def restore(pcas: servers.Server) -> Iterator[Any]:
    yield from ca_helpers.restorer(pcas)


# ---------------------------------------------------------------------------------------------
# Reading


@pytest.mark.parametrize("suffix", list(servers.PCASPY_PVS))
def test_native_type_and_count_are_what_the_server_declares(pcas, suffix):
    info = ca.info(pcas.pv(suffix), timeout=TIMEOUT, repeater=False)
    native, count = servers.PCASPY_PVS[suffix]
    assert info.native_data_type == ChannelType[native if native != "SHORT" else "INT"]
    assert info.native_data_count == count
    assert info.can_read and info.can_write


@pytest.mark.parametrize("suffix", [s for s in servers.PCASPY_PVS if s != "string"])
@pytest.mark.parametrize("dbr_type", READABLE_TYPES)
def test_every_dbr_type_of_a_numeric_pv_decodes(pcas, suffix, dbr_type):
    if dbr_type == 38 and servers.PCASPY_PVS[suffix][1] > 1:
        with pytest.raises(ErrorResponseReceived, match="ECA_NOCONVERT"):
            read(pcas, suffix, data_type=dbr_type)  # PCAS: no CLASS_NAME of an array
        return
    response = read(pcas, suffix, data_type=dbr_type)
    assert response.data_type == dbr_type
    if dbr_type == 38:  # CLASS_NAME
        assert isinstance(response.data[0], bytes)
        return
    assert len(response.data) >= 1
    if dbr_type in STRING_TYPES:
        assert all(isinstance(item, bytes) for item in response.data)
    else:
        assert np.all(np.isfinite(np.asarray(response.data, dtype=float)))


@pytest.mark.parametrize("dbr_type", [*range(1, 7), *range(8, 14), *range(15, 21)])
def test_numeric_read_of_a_string_pv_is_the_servers_clean_error(pcas, dbr_type):
    with pytest.raises(ErrorResponseReceived, match="ECA_NOCONVERT") as info:
        read(pcas, "string", data_type=dbr_type)
    assert pcas.pv("string") in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("dbr_type", [*range(22, 28), *range(29, 35)])
def test_gr_and_ctrl_reads_of_a_string_pv_give_pcas_zeros(pcas, dbr_type):
    # A PCAS quirk: success, a zero value and empty metadata (rsrv converts or fails).
    response = read(pcas, "string", data_type=dbr_type)
    assert response.status.success
    assert np.asarray(response.data, dtype=float).tolist() == [0.0]
    assert getattr(response.metadata, "units", b"") == b""  # GR/CTRL_ENUM have states instead


def test_stsack_string_is_refused_by_pcas_with_a_clean_error(pcas):
    with pytest.raises(ErrorResponseReceived, match="ECA_GETFAIL"):
        read(pcas, "double", data_type=37)


def test_control_double_carries_every_limit(pcas):
    md = read(pcas, "double", data_type="control").metadata
    assert (md.units, md.precision) == (b"mm", 3)
    assert (md.lower_disp_limit, md.upper_disp_limit) == (-10.0, 10.0)
    assert (md.lower_ctrl_limit, md.upper_ctrl_limit) == (-10.0, 10.0)
    assert (md.lower_alarm_limit, md.lower_warning_limit) == (-9.0, -5.0)
    assert (md.upper_warning_limit, md.upper_alarm_limit) == (5.0, 9.0)


def test_enum_reads_as_state_by_default_and_strings_come_with_ctrl(pcas):
    assert read(pcas, "enum").data == [b"Off"]
    assert read(pcas, "enum", force_int_enums=True).data.tolist() == [0]
    assert read(pcas, "enum", data_type="control").metadata.enum_strings == (
        b"Off", b"On", b"Fault")


def test_arrays_report_their_current_length(pcas):
    assert read(pcas, "double_array").data.tolist() == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert read(pcas, "long_array").data.tolist() == [1, -2, 3, 2**31 - 1, -(2**31)]
    assert bytes(read(pcas, "char_array").data).rstrip(b"\0") == b"hello world"
    full = read(pcas, "double_array", data_count=10).data
    assert len(full) == 10 and full[:5].tolist() == [0.5, 1.5, 2.5, 3.5, 4.5]


def test_time_types_carry_a_current_timestamp(pcas):
    stamp = read(pcas, "counter", data_type="time").metadata.timestamp
    assert abs(stamp - time.time()) < 60


# ---------------------------------------------------------------------------------------------
# Writing


@pytest.mark.parametrize(("suffix", "value", "expected", "original"), [
    ("double", 3.25, [3.25], 1.5),
    ("long", -77, [-77], 42),
    ("short", -5, [-5], 7),
    ("enum", "Fault", [b"Fault"], 0),
    ("enum", 1, [b"On"], 0),
    ("string", "world", [b"world"], "hello"),
    ("double_array", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.5, 1.5, 2.5, 3.5, 4.5]),
])
@pytest.mark.parametrize("notify", [False, True])
def test_write_and_read_back(pcas, restore, suffix, value, expected, original, notify):
    restore(suffix, original)
    response = write(pcas, suffix, value, notify=notify)
    assert (response is None) != notify
    data = read(pcas, suffix).data
    assert (list(data) if isinstance(data, list) else data.tolist()) == expected


def test_text_to_a_char_array(pcas, restore):
    restore("char_array", b"hello world\0")
    write(pcas, "char_array", "new text", notify=True)
    assert bytes(read(pcas, "char_array").data).rstrip(b"\0") == b"new text"


def test_read_write_read_on_one_circuit(pcas, restore):
    restore("long", 42)
    initial, response, final = ca.read_write_read(pcas.pv("long"), 43, notify=True,
                                                  timeout=TIMEOUT, repeater=False)
    assert initial.data.tolist() == [42]
    assert isinstance(response, WriteNotifyResponse) and response.status.success
    assert final.data.tolist() == [43]


def test_a_write_the_driver_refuses_leaves_the_value_and_raises_a_write_alarm(pcas):
    # PCAS has no way for a driver to fail the put itself: pcaspy reports the refusal as an
    # INVALID/WRITE alarm on the PV, which the read shows.
    write(pcas, "rejects", 99.0, notify=True)
    response = read(pcas, "rejects", data_type="time")
    assert response.data.tolist() == [2.5]
    assert response.metadata.severity == ca.AlarmSeverity.INVALID_ALARM
    assert response.metadata.status == ca.AlarmStatus.WRITE


def test_out_of_range_values_are_refused_before_sending(pcas, sent_writes):
    with pytest.raises(ca.ValueRefused):
        write(pcas, "short", 70000)
    with pytest.raises(ca.ValueRefused):
        write(pcas, "double_array", list(range(11)))
    assert sent_writes == []


def test_put_callback_waits_for_the_asynchronous_completion(pcas, restore):
    restore("slow", 0.0)
    started = time.monotonic()
    response = write(pcas, "slow", 1.0, notify=True, timeout=5)
    assert response.status.success
    assert 0.4 <= time.monotonic() - started < 3.0
    started = time.monotonic()
    with pytest.raises(ca.CATimeoutError):
        write(pcas, "slow", 2.0, notify=True, timeout=0.1)
    assert time.monotonic() - started < 1.0


# ---------------------------------------------------------------------------------------------
# Subscriptions


def test_monitor_of_a_100_hz_counter_misses_nothing(pcas):
    values: list[int] = []
    sub = ca.subscribe(pcas.pv("counter"))

    def collect(response: Any) -> None:
        if not isinstance(response, ca.ConnectionEvent):
            values.append(int(response.data[0]))
            if len(values) >= 100:
                sub.interrupt()

    sub.add_callback(collect)
    ca.block(sub, duration=10, timeout=TIMEOUT)
    assert len(values) >= 100
    assert np.all(np.diff(values) == 1), values


def test_monitor_sees_writes_from_another_client(pcas, restore):
    restore("double", 1.5)
    seen: list[float] = []
    sub = ca.subscribe(pcas.pv("double"))

    def collect(response: Any) -> None:
        if isinstance(response, ca.ConnectionEvent):
            return
        seen.append(float(response.data[0]))
        if len(seen) == 1:
            threading.Thread(target=write, args=(pcas, "double", 7.5),
                             kwargs={"notify": True}).start()
        elif 7.5 in seen:
            sub.interrupt()

    sub.add_callback(collect)
    ca.block(sub, duration=10, timeout=TIMEOUT)
    assert seen[0] == 1.5 and 7.5 in seen
