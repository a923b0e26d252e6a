"""caprobe.pva read/write/read_write_read/info against real PVA servers on loopback: the p4p
server (every normative type and a custom structure) and EPICS records over QSRV."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("p4p")

from caprobe import pva  # noqa: E402
from caprobe.ca.dbr import ChannelType  # noqa: E402


@pytest.fixture
def p4p(p4p_server: Any, pva_env: Callable[[Any], Any]) -> Any:
    return pva_env(p4p_server)


@pytest.fixture
def qsrv(qsrv_server: Any, pva_env: Callable[[Any], Any]) -> Any:
    return pva_env(qsrv_server)


@pytest.fixture
def restore(p4p: Any) -> Iterator[Callable[[str, Any], None]]:
    """``restore(suffix, value)``: write it back when the test ends (the server is shared)."""
    saved: list[tuple[str, Any]] = []
    yield lambda suffix, value: saved.append((suffix, value))
    for suffix, value in reversed(saved):
        pva.write(p4p.pv(suffix), value, timeout=2)


# -- reading every type --------------------------------------------------------------------


def test_ntscalar_double_data_and_metadata_use_ca_names(p4p: Any) -> None:
    response = pva.read(p4p.pv("double"))
    assert isinstance(response.data, np.ndarray)
    assert response.data.dtype == np.float64 and response.data.tolist() == [1.5]
    assert response.data_type == ChannelType.TIME_DOUBLE
    md = response.metadata
    assert (md.units, md.precision, md.description) == ("mm", 3, "test double")
    assert (md.lower_disp_limit, md.upper_disp_limit) == (-10.0, 10.0)
    assert (md.lower_ctrl_limit, md.upper_ctrl_limit) == (-100.0, 100.0)
    assert (md.lower_alarm_limit, md.lower_warning_limit, md.upper_warning_limit,
            md.upper_alarm_limit) == (-9.0, -5.0, 5.0, 9.0)
    assert (md.severity, md.status, md.message) == (0, 0, "")
    # CA's epoch and meaning: timestamp is Unix seconds, secondsSinceEpoch counts from 1990
    assert md.timestamp == pytest.approx(md.secondsSinceEpoch + 631152000
                                         + md.nanoSeconds * 1e-9)
    assert md.timestamp > 1.7e9
    assert response.layout.type_text == "NTScalar double"
    assert response.channel.type_id.startswith("epics:nt/NTScalar:1")


@pytest.mark.parametrize(("suffix", "dtype", "expected", "ca_type", "type_text"), [
    ("long", np.int32, [42], ChannelType.TIME_LONG, "NTScalar int"),
    ("string", object, ["hello"], ChannelType.TIME_STRING, "NTScalar string"),
    ("array", np.float64, [0.5, 1.5, 2.5], ChannelType.TIME_DOUBLE, "NTScalarArray double[]"),
    ("int_array", np.int32, [1, -2, 3], ChannelType.TIME_LONG, "NTScalarArray int[]"),
    ("string_array", object, ["a", "b"], ChannelType.TIME_STRING,
     "NTScalarArray string[]"),
])
def test_scalars_and_arrays_are_numpy(p4p: Any, suffix: str, dtype: Any, expected: list,
                                      ca_type: ChannelType, type_text: str) -> None:
    response = pva.read(p4p.pv(suffix))
    assert isinstance(response.data, np.ndarray) and response.data.dtype == dtype
    assert response.data.tolist() == expected
    assert response.data_type == ca_type
    assert response.layout.type_text == type_text
    assert response.channel.native_data_count == len(expected)


def test_enum_is_its_state_string_with_the_index_available(p4p: Any) -> None:
    response = pva.read(p4p.pv("enum"))
    assert response.data.tolist() == ["Off"] and response.index == 0
    assert response.metadata.enum_strings == ("Off", "On", "Fault")
    assert response.data_type == ChannelType.TIME_STRING
    as_int = pva.read(p4p.pv("enum"), force_int_enums=True)
    assert as_int.data.tolist() == [0] and as_int.data_type == ChannelType.TIME_ENUM


def test_table_custom_and_ndarray_keep_the_whole_structure(p4p: Any) -> None:
    table = pva.read(p4p.pv("table"))
    assert table.layout.kind == "table"
    assert table.data["a"].tolist() == [1, 2] and table.data["c"].tolist() == ["x", "y"]
    assert list(table.value["labels"]) == ["a", "b", "c"]
    custom = pva.read(p4p.pv("custom"))
    assert custom.layout.type_id == "caprobe:test/custom:1.0" and custom.data_type is None
    assert custom.data["a"].tolist() == [1.0, 2.0]
    assert custom.data["b"] == "text" and custom.data["nested"] == {"x": 7}
    assert custom.metadata.fields == ()  # no alarm/time in this structure
    image = pva.read(p4p.pv("image"))
    assert image.data.shape == (3, 4) and image.data[2, 3] == 11


def test_data_count_keeps_the_first_elements(p4p: Any) -> None:
    assert pva.read(p4p.pv("array"), data_count=2).data.tolist() == [0.5, 1.5]


def test_info_reports_type_and_count(p4p: Any) -> None:
    info = pva.info(p4p.pv("array"))
    assert (info.type_text, info.value_type, info.native_data_count) == (
        "NTScalarArray double[]", "double[]", 3)
    assert "double[] value" in info.type_tree
    assert info.can_write is None  # PVA has no access-rights query


# -- writing every type --------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "old", "new", "expected"), [
    ("double", 1.5, 2.25, [2.25]),
    ("double", 1.5, "7.5", [7.5]),
    ("long", 42, -7, [-7]),
    ("string", "hello", "wörld", ["wörld"]),
    ("array", [0.5, 1.5, 2.5], [4, 5, 6, 7], [4.0, 5.0, 6.0, 7.0]),
    ("int_array", [1, -2, 3], np.array([9, 8], dtype=np.int32), [9, 8]),
    ("string_array", ["a", "b"], ["x", "y", "z"], ["x", "y", "z"]),
    ("enum", "Off", "Fault", ["Fault"]),
    ("enum", "Off", 1, ["On"]),
])
def test_write_and_read_back(p4p: Any, restore: Callable[[str, Any], None], suffix: str,
                             old: Any, new: Any, expected: list) -> None:
    restore(suffix, old)
    assert pva.write(p4p.pv(suffix), new) is None
    assert pva.read(p4p.pv(suffix)).data.tolist() == expected


def test_write_structures_by_field(p4p: Any, restore: Callable[[str, Any], None]) -> None:
    restore("custom", {"a": [1.0, 2.0], "b": "text", "nested.x": 7})
    pva.write(p4p.pv("custom"), {"b": "changed", "nested.x": 9})
    data = pva.read(p4p.pv("custom")).data
    assert (data["b"], data["nested"]["x"], data["a"].tolist()) == ("changed", 9, [1.0, 2.0])
    restore("table", {"value.a": [1, 2], "value.b": [0.5, 1.5], "value.c": ["x", "y"]})
    pva.write(p4p.pv("table"), {"value.a": [5], "value.b": [6.0], "value.c": ["z"]})
    assert pva.read(p4p.pv("table")).data["c"].tolist() == ["z"]


def test_notify_waits_for_completion_and_read_write_read(
        p4p: Any, restore: Callable[[str, Any], None]) -> None:
    restore("double", 1.5)
    done = pva.write(p4p.pv("double"), 3.0, notify=True)
    assert done.completed and done.status.success
    initial, written, final = pva.read_write_read(p4p.pv("double"), 4.0, notify=True)
    assert initial.data.tolist() == [3.0] and final.data.tolist() == [4.0]
    assert written is not None and written.completed


@pytest.mark.parametrize(("suffix", "value", "message"), [
    ("long", 2**40, "out of range for int"),
    ("long", 1.5, "not a whole number"),
    ("long", "abc", "not a number"),
    ("double", "1,5", "not a number"),
    ("double", [1.0, 2.0], "2 values given"),
    ("enum", "Nope", "not one of the states 'Off', 'On', 'Fault'"),
    ("enum", 7, "state index 7 is out of range"),
    ("custom", 5, "give a dict of fields"),
    ("custom", {"nope": 1}, "no field 'nope'"),
])
def test_bad_values_are_refused_and_nothing_changes(p4p: Any, suffix: str, value: Any,
                                                    message: str) -> None:
    def snapshot() -> str:
        return repr(pva.read(p4p.pv(suffix)).value.todict())

    before = snapshot()
    with pytest.raises(pva.ValueRefused, match=message) as info:
        pva.write(p4p.pv(suffix), value)
    assert "nothing was written" in str(info.value)
    assert snapshot() == before  # the timestamp too: no put reached the server


def test_no_write_access_raises_write_failed(p4p: Any) -> None:
    with pytest.raises(pva.WriteFailed, match="no write access.*read-only PV"):
        pva.write(p4p.pv("ro"), 1.0)
    failed = pva.write(p4p.pv("ro"), 1.0, check=False)
    assert failed is not None and not failed.completed and "read-only" in failed.message
    assert pva.read(p4p.pv("ro")).data.tolist() == [3.25]


def test_missing_pv_times_out_naming_the_search(p4p: Any) -> None:
    with pytest.raises(pva.CATimeoutError, match=r"'nope:missing'.*within 0.3 s.*127\.0\.0\.1"):
        pva.read("nope:missing", timeout=0.3)
    with pytest.raises(pva.CATimeoutError):
        pva.write("nope:missing", 1, timeout=0.3)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: pva.read(""), "empty"),
    (lambda: pva.read("a b"), "white space"),
    (lambda: pva.read("x", timeout=0), "positive"),
    (lambda: pva.read("x", data_type=6), "does not apply to PV Access"),
    (lambda: pva.read("x", data_count=-1), "data_count"),
    (lambda: pva.write("x", 1, metadata=(0, 0)), "metadata does not apply"),
    (lambda: pva.subscribe("x", queue_size=1), "queue_size"),
])
def test_bad_arguments_are_refused_before_any_io(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(pva.ValueRefused, match=message):
        call()


# -- EPICS records over QSRV -----------------------------------------------------------------


def test_qsrv_ai_metadata_matches_the_record(qsrv: Any) -> None:
    response = pva.read(qsrv.pv("ai"))
    assert response.data.tolist() == [1.5]
    md = response.metadata
    assert (md.units, md.precision) == ("mm", 3)
    assert (md.lower_disp_limit, md.upper_disp_limit) == (-10.0, 10.0)
    assert (md.upper_alarm_limit, md.upper_warning_limit, md.lower_warning_limit,
            md.lower_alarm_limit) == (9.0, 5.0, -5.0, -9.0)


def test_qsrv_types_read_and_written(qsrv: Any) -> None:
    assert pva.read(qsrv.pv("bo")).data.tolist() == ["Off"]
    assert pva.read(qsrv.pv("str")).data.tolist() == ["hello"]
    assert pva.read(qsrv.pv("long")).data.tolist() == [42]
    assert pva.read(qsrv.pv("wf_double")).data.tolist() == [0.5, 1.5, 2.5, 3.5, 4.5]
    try:
        pva.write(qsrv.pv("bo"), "On", notify=True)
        assert pva.read(qsrv.pv("bo")).data.tolist() == ["On"]
        pva.write(qsrv.pv("ao"), 12.5, notify=True)
        assert pva.read(qsrv.pv("ao")).data.tolist() == [12.5]
        pva.write(qsrv.pv("wf_double"), [1, 2, 3])
        assert pva.read(qsrv.pv("wf_double")).data.tolist() == [1.0, 2.0, 3.0]
    finally:
        pva.write(qsrv.pv("bo"), "Off")
        pva.write(qsrv.pv("ao"), 0.0)
        pva.write(qsrv.pv("wf_double"), [0.5, 1.5, 2.5, 3.5, 4.5])


def test_qsrv_alarm_severity_and_ca_status(qsrv: Any) -> None:
    try:
        pva.write(qsrv.pv("ai"), 9.5, notify=True)  # HIHI, MAJOR
        md = pva.read(qsrv.pv("ai")).metadata
        assert md.severity == 2 and md.message == "HIHI" and md.status == 3  # CA's HIHI
    finally:
        pva.write(qsrv.pv("ai"), 1.5, notify=True)


def test_qsrv_access_security_refuses_the_write(qsrv: Any) -> None:
    with pytest.raises(pva.WriteFailed, match="no write access"):
        pva.write(qsrv.pv("ro"), 1.0)
    assert pva.read(qsrv.pv("ro")).data.tolist() == [3.25]


# -- the PVA environment ---------------------------------------------------------------------


def test_environment_is_read_at_each_call(p4p: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert pva.read(p4p.pv("long")).data.tolist() == [42]
    monkeypatch.setenv("EPICS_PVA_ADDR_LIST", "")  # nowhere to search
    with pytest.raises(pva.CATimeoutError, match=r"searched \(empty\), auto address list NO"):
        pva.read(p4p.pv("long"), timeout=0.3)
    monkeypatch.setenv("EPICS_PVA_ADDR_LIST", "127.0.0.1")
    assert pva.read(p4p.pv("long")).data.tolist() == [42]


def test_name_servers_are_used(p4p: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # No UDP search at all: only a TCP connection to the server as a name server.
    monkeypatch.setenv("EPICS_PVA_ADDR_LIST", "")
    monkeypatch.setenv("EPICS_PVA_NAME_SERVERS", f"127.0.0.1:{p4p.pva_port}")
    assert pva.read(p4p.pv("long"), timeout=5).data.tolist() == [42]


def test_notify_waits_for_the_record_to_finish_processing(qsrv: Any) -> None:
    import time

    began = time.monotonic()
    done = pva.write(qsrv.pv("slow"), 1.0, notify=True, timeout=5)
    took = time.monotonic() - began
    assert done is not None and done.completed
    assert took >= 0.45  # the record's 0.5 s delay: completion, not just acceptance
    with pytest.raises(pva.CATimeoutError, match="may still complete"):
        pva.write(qsrv.pv("slow"), 2.0, notify=True, timeout=0.2)


def test_access_rights_changed_at_run_time_are_honoured(qsrv: Any) -> None:
    try:
        pva.write(qsrv.pv("gated"), 2.0, notify=True)
        assert pva.read(qsrv.pv("gated")).data.tolist() == [2.0]
        pva.write(qsrv.pv("gate"), "Closed", notify=True)
        with pytest.raises(pva.WriteFailed, match="no write access"):
            pva.write(qsrv.pv("gated"), 3.0)
        assert pva.read(qsrv.pv("gated")).data.tolist() == [2.0]
    finally:
        pva.write(qsrv.pv("gate"), "Open", notify=True)
        pva.write(qsrv.pv("gated"), 1.0)


def test_a_put_the_record_refuses_is_reported(qsrv: Any) -> None:
    with pytest.raises(pva.WriteFailed) as info:
        pva.write(qsrv.pv("disabled"), 1.0, notify=True)
    assert "disabled" in str(info.value) and "\n" not in str(info.value)
    assert pva.read(qsrv.pv("disabled")).data.tolist() == [2.5]
