"""Snapshots against a real soft IOC with 2,000+ records (tests/many_ioc.py).

Another client (caproto's sync client) changes PVs behind caprobe's back and checks what a
restore wrote; nothing here is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator

import many_ioc
import numpy as np
import pytest
from caproto.sync.client import read as other_read
from caproto.sync.client import write as other_write

from caprobe.snapshot import autosave, capture, files, phoebus
from caprobe.snapshot import restore as restoring
from caprobe.snapshot.compare import DIFFERS, SAME, compare
from caprobe.snapshot.model import SavedPV, Snapshot, Tolerance

COUNT = 2000
CHANGED = (7, 500, 1234, 1999)


def names_of(server) -> list[str]:
    return [many_ioc.set_name(server.prefix, i) for i in range(COUNT)] + \
        [server.pv(extra) for extra in many_ioc.EXTRAS]


def other_value(name: str):
    return other_read(name, repeater=False, timeout=5).data


@pytest.fixture
def snapshot(many_env) -> Iterator[Snapshot]:
    """A snapshot of every PV; afterwards every PV written through ``change`` is put back
    (by the other client)."""
    taken, _live = capture.take(names_of(many_env), timeout=10.0)
    yield taken
    by_name = taken.by_name()
    for name in _touched:
        saved = by_name[name].value
        value = {"Standby": 1, "Off": 0}.get(saved, saved) if isinstance(saved, str) else saved
        other_write(name, value, repeater=False, timeout=5, notify=True)
    _touched.clear()


_touched: list[str] = []


def change(name: str, value) -> None:
    """Write ``value`` with the other client (caproto), to be put back after the test."""
    _touched.append(name)
    other_write(name, value, repeater=False, timeout=5, notify=True)


def test_snapshot_reads_every_pv_with_its_metadata(many_env, snapshot):
    assert len(snapshot.pvs) == COUNT + len(many_ioc.EXTRAS)
    by_name = snapshot.by_name()
    first = by_name[many_ioc.set_name(many_env.prefix, 1234)]
    assert (first.value, first.dbf, first.units, first.severity) == (123.4, "DOUBLE", "A", 0)
    assert first.time_ns and first.time_ns > 1.6e18
    assert by_name[many_env.pv("mode")].value == "Standby"
    assert by_name[many_env.pv("label")].value == "shift A"
    assert list(by_name[many_env.pv("wave")].value) == [1.5, 2.5, 3.5]
    assert all(pv.error == "" for pv in snapshot.pvs)


def test_diff_lists_exactly_the_changed_pvs_and_restore_puts_them_back(many_env, snapshot):
    changed = [many_ioc.set_name(many_env.prefix, i) for i in CHANGED]
    for offset, name in enumerate(changed):
        change(name, 1000.0 + offset)
    change(many_env.pv("mode"), 2)
    change(many_env.pv("label"), "shift B")
    expected = set(changed) | {many_env.pv("mode"), many_env.pv("label")}

    with capture.context_for(10.0) as context:
        live = capture.read_live(snapshot.names(), context)
    differing = {c.name for c in compare(snapshot, [item.pv for item in live])
                 if c.state == DIFFERS}
    assert differing == expected

    with capture.context_for(10.0) as context:
        items = restoring.plan(snapshot, context)
        preview = {item.name: item for item in items if item.name in expected}
        assert preview[changed[0]].line().endswith("1000 -> 0.7")
        items = restoring.execute(items, context, timeout=10.0)
    outcomes = {item.name: item.outcome for item in items}
    locked = many_env.pv("locked")
    assert outcomes.pop(locked) == restoring.NO_ACCESS
    assert set(outcomes.values()) == {restoring.DONE}
    # Read back by another client: the saved values are in the IOC again.
    for index in CHANGED:
        assert other_value(many_ioc.set_name(many_env.prefix, index))[0] == index / 10
    assert other_value(many_env.pv("mode"))[0] in (1, b"Standby")
    assert other_value(many_env.pv("label"))[0] == b"shift A"


def test_tolerance_hides_small_changes(many_env, snapshot):
    name = many_ioc.set_name(many_env.prefix, 10)
    change(name, 1.05)  # saved 1.0
    with capture.context_for(10.0) as context:
        live = [item.pv for item in capture.read_live([name], context)]
    one = Snapshot(pvs=[snapshot.by_name()[name]])
    assert compare(one, live, Tolerance(0.1))[0].state == SAME
    assert compare(one, live, Tolerance(0.01))[0].state == DIFFERS
    assert compare(one, live, Tolerance(0, 0.1))[0].state == SAME


def test_restore_refuses_what_does_not_fit_and_writes_the_rest(many_env, snapshot):
    good = many_ioc.set_name(many_env.prefix, 3)
    change(good, 99.0)
    bad = Snapshot(pvs=[
        SavedPV(many_env.pv("limited"), 50.0, "DOUBLE"),        # above DRVH 10
        SavedPV(many_env.pv("mode"), "Bogus", "ENUM"),          # no such state
        SavedPV(many_env.pv("label"), "x" * 45, "STRING"),      # longer than 39 bytes
        SavedPV(many_env.pv("wave"), np.arange(9.0), "DOUBLE"),  # 9 elements into 5
        SavedPV(many_ioc.set_name(many_env.prefix, 5), "1.0", "STRING"),  # type changed
        SavedPV(many_env.pv("locked"), 1.0, "DOUBLE"),
        SavedPV(many_env.prefix + "no:such:pv", 1.0, "DOUBLE"),
        SavedPV(good, 0.3, "DOUBLE"),
    ])
    items = restoring.restore(bad, timeout=3.0)
    result = {item.name: item for item in items}
    for name in (many_env.pv("limited"), many_env.pv("mode"), many_env.pv("label"),
                 many_env.pv("wave"), many_ioc.set_name(many_env.prefix, 5)):
        assert result[name].outcome == restoring.REFUSED, result[name].line()
    assert "control limits" in result[many_env.pv("limited")].reason
    assert "Bogus" in result[many_env.pv("mode")].reason
    assert "9 elements do not fit" in result[many_env.pv("wave")].reason
    assert "saved as STRING, but the PV is DOUBLE" in \
        result[many_ioc.set_name(many_env.prefix, 5)].reason
    assert result[many_env.pv("locked")].outcome == restoring.NO_ACCESS
    assert result[many_env.prefix + "no:such:pv"].outcome == restoring.NOT_CONNECTED
    assert result[good].outcome == restoring.DONE
    assert other_value(good)[0] == 0.3
    assert other_value(many_env.pv("limited"))[0] == 5.0  # untouched


@pytest.mark.parametrize("suffix", [".sav", ".pvs", ".snap"])
def test_file_round_trip_compares_equal_to_the_live_pvs(many_env, snapshot, tmp_path,
                                                        suffix):
    path = tmp_path / f"all{suffix}"
    files.save(path, snapshot)
    back = files.load(path)
    assert back.names() == snapshot.names()
    with capture.context_for(10.0) as context:
        live = [item.pv for item in capture.read_live(back.names(), context)]
    states = {c.name: c.state for c in compare(back, live)}
    assert set(states.values()) == {SAME}, [n for n, s in states.items() if s != SAME]


def test_sav_file_restores(many_env, snapshot, tmp_path):
    path = tmp_path / "ioc.sav"
    autosave.write(path, snapshot)
    name = many_ioc.set_name(many_env.prefix, 42)
    change(name, -1.0)
    change(many_env.pv("onoff"), 1)
    items = restoring.restore(autosave.read(path), [name, many_env.pv("onoff"),
                                                    many_env.pv("wave")], timeout=5.0)
    assert [item.outcome for item in items] == [restoring.DONE] * 3, \
        [item.line() for item in items]
    assert other_value(name)[0] == 4.2
    assert other_value(many_env.pv("onoff"))[0] in (0, b"Off")


def test_pvs_file_keeps_tolerance_for_compare(many_env, snapshot, tmp_path):
    name = many_ioc.set_name(many_env.prefix, 20)
    one = Snapshot(pvs=[snapshot.by_name()[name]])
    one.pvs[0].tolerance = Tolerance(0.5)
    path = tmp_path / "t.pvs"
    phoebus.write(path, one)
    change(name, 2.3)  # saved 2.0
    with capture.context_for(10.0) as context:
        live = [item.pv for item in capture.read_live([name], context)]
    assert compare(phoebus.read(path), live)[0].state == SAME


def test_protocol_prefixes(many_env):
    name = many_ioc.set_name(many_env.prefix, 8)
    with capture.context_for(5.0) as context:
        live = capture.read_live([f"ca://{name}", f"pva://{name}", f"sim://{name}", name],
                                 context)
    assert [item.pv.name for item in live] == [f"ca://{name}", f"pva://{name}",
                                              f"sim://{name}", name]
    assert live[0].pv.value == live[3].pv.value == 0.8
    # read over PV Access, which this CA-only IOC does not serve
    assert "not found" in live[1].pv.error and live[1].pv.value is None
    assert "unknown protocol" in live[2].pv.error
    items = restoring.restore(Snapshot(pvs=[SavedPV(f"ca://{name}", 0.8, "DOUBLE"),
                                            SavedPV(f"pva://{name}", 0.8, "DOUBLE")]))
    assert [item.outcome for item in items] == [restoring.DONE, restoring.NOT_CONNECTED]
