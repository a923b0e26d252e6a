"""Snapshots with ``pva://`` names against real servers: the p4p server (every normative type),
EPICS records over QSRV, and the same IOC over Channel Access, mixed in one snapshot.

Another client (bare p4p, and caproto for CA) changes PVs behind caprobe's back and checks
what a restore wrote; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("p4p")

from caproto.sync.client import read as ca_read  # noqa: E402
from caproto.sync.client import write as ca_write  # noqa: E402
from pva_setup import mixed_servers  # noqa: E402

from caprobe.snapshot import autosave, capture, files, phoebus, snapfile  # noqa: E402
from caprobe.snapshot import restore as restoring  # noqa: E402
from caprobe.snapshot.compare import DIFFERS, SAME, compare  # noqa: E402
from caprobe.snapshot.model import SavedPV, Snapshot, Tolerance  # noqa: E402

TIMEOUT = 2.0


class Servers:
    def __init__(self, p4p: Any, qsrv: Any, env: dict[str, str], other: Any) -> None:
        self.p4p, self.qsrv, self.env, self.other = p4p, qsrv, env, other

    def p(self, suffix: str) -> str:
        return f"pva://{self.p4p.pv(suffix)}"

    def q(self, suffix: str) -> str:
        return f"pva://{self.qsrv.pv(suffix)}"

    def ca(self, suffix: str) -> str:
        return self.qsrv.pv(suffix)

    def names(self) -> list[str]:
        return [self.p(s) for s in ("double", "long", "string", "array", "int_array",
                                    "string_array", "enum", "ro")] + \
            [self.q(s) for s in ("ao", "mbbo", "short", "float", "wf_char", "str", "ro")] + \
            [self.ca("long"), self.ca("ai")]


@pytest.fixture
def servers(p4p_server, qsrv_server, pva_env, ca_env, monkeypatch) -> Iterator[Servers]:
    with mixed_servers(p4p_server, qsrv_server, pva_env, ca_env, monkeypatch) as (env, other):
        yield Servers(p4p_server, qsrv_server, env, other)


def test_snapshot_reads_every_pva_type_with_its_metadata(servers):
    s = servers
    taken, live = capture.take(s.names() + [s.p("table"), s.p("custom"), s.p("image"),
                                            s.p("nothere")], timeout=TIMEOUT)
    by = taken.by_name()
    double = by[s.p("double")]
    assert (double.value, double.dbf, double.units, double.precision) == (1.5, "DOUBLE", "mm", 3)
    assert (double.severity, double.status) == (0, 0)
    assert double.time_ns > 1.6e18  # the server's timestamp, in Unix nanoseconds
    assert (by[s.p("long")].value, by[s.p("long")].dbf) == (42, "LONG")
    assert (by[s.p("string")].value, by[s.p("string")].dbf) == ("hello", "STRING")
    assert by[s.p("array")].dbf == "DOUBLE" and by[s.p("array")].value.tolist() == [0.5, 1.5, 2.5]
    assert by[s.p("int_array")].value.dtype == np.int32
    assert by[s.p("string_array")].value == ["a", "b"]
    enum = by[s.p("enum")]
    assert (enum.value, enum.dbf, enum.states) == ("Off", "ENUM", ("Off", "On", "Fault"))
    # records over QSRV: their CA types where CA has them, INT8 for a CHAR waveform (byte[])
    assert (by[s.q("mbbo")].value, by[s.q("mbbo")].dbf) == ("Zero", "ENUM")
    assert (by[s.q("short")].value, by[s.q("short")].dbf) == (7, "SHORT")
    assert by[s.q("float")].dbf == "FLOAT"
    assert by[s.q("wf_char")].dbf == "INT8"
    assert bytes(by[s.q("wf_char")].value.astype(np.uint8)).startswith(b"hello world")
    assert by[s.q("ao")].units == "V"
    # Channel Access rows of the same snapshot
    assert (by[s.ca("long")].value, by[s.ca("long")].dbf) == (42, "LONG")
    assert (by[s.ca("ai")].value, by[s.ca("ai")].units) == (1.5, "mm")
    # structures are refused, each with its reason; a missing PV says so; neither stops others
    for suffix, kind in (("table", "NTTable"), ("custom", "caprobe:test/custom:1.0"),
                         ("image", "NTNDArray")):
        pv = by[s.p(suffix)]
        assert pv.value is None and pv.error.startswith(f"{kind}: only NTScalar")
        assert "not whole structures" in pv.error
    assert by[s.p("nothere")].value is None and "not found" in by[s.p("nothere")].error
    assert all(by[name].value is not None for name in s.names())
    assert [item.pv.name for item in live] == taken.names()  # table order kept

    # the caprobe file keeps the pva:// names and every type; Phoebus' .pvs the names
    back = snapfile.loads(snapfile.dumps(taken))
    assert back.names() == taken.names()
    for a, b in zip(taken.pvs, back.pvs, strict=True):
        assert a == b, a.name
    assert "pva://" in snapfile.dumps(taken).splitlines()[4]
    assert phoebus.parse(phoebus.dumps(taken).encode()).names() == taken.names()


def test_mixed_snapshot_diff_and_restore(servers):
    s = servers
    taken, _ = capture.take(s.names(), timeout=TIMEOUT)
    other = s.other
    other.put(s.p4p.pv("double"), 7.25, timeout=5)
    other.put(s.p4p.pv("enum"), {"value.index": 2}, timeout=5)
    other.put(s.p4p.pv("int_array"), [5, 6], timeout=5)
    other.put(s.p4p.pv("string"), "changed", timeout=5)
    other.put(s.qsrv.pv("ao"), 12.5, timeout=5)
    other.put(s.qsrv.pv("mbbo"), {"value.index": 3}, timeout=5)
    ca_write(s.ca("long"), 7, repeater=False, timeout=5, notify=True)
    changed = {s.p("double"), s.p("enum"), s.p("int_array"), s.p("string"), s.q("ao"),
               s.q("mbbo"), s.ca("long")}

    with capture.context_for(TIMEOUT) as context:
        live = [item.pv for item in capture.read_live(taken.names(), context)]
    results = compare(taken, live)
    assert {r.name for r in results if r.state == DIFFERS} == changed
    assert all(r.state == SAME for r in results if r.name not in changed)
    by = {r.name: r for r in results}
    assert by[s.p("double")].signed_delta == pytest.approx(5.75)
    # tolerance works on PVA rows as on CA rows
    loose = compare(taken, live, Tolerance(absolute=6.0))
    assert {r.name for r in loose if r.name == s.p("double") and r.state == SAME}

    items = restoring.restore(taken, timeout=TIMEOUT)
    outcome = {item.name: item.outcome for item in items}
    assert outcome.pop(s.p("ro")) == restoring.NO_ACCESS
    assert outcome.pop(s.q("ro")) == restoring.NO_ACCESS
    assert set(outcome.values()) == {restoring.DONE}
    ro = next(item for item in items if item.name == s.p("ro"))
    assert "read-only PV" in ro.reason  # the server's own words

    # checked by another client
    assert other.get(s.p4p.pv("double"), timeout=5)["value"] == 1.5
    assert other.get(s.p4p.pv("enum"), timeout=5)["value.index"] == 0
    assert list(other.get(s.p4p.pv("int_array"), timeout=5)["value"]) == [1, -2, 3]
    assert other.get(s.p4p.pv("string"), timeout=5)["value"] == "hello"
    assert other.get(s.qsrv.pv("ao"), timeout=5)["value"] == 0.0
    assert other.get(s.qsrv.pv("mbbo"), timeout=5)["value.index"] == 0
    assert ca_read(s.ca("long"), repeater=False, timeout=5).data[0] == 42


def test_restore_reports_each_pva_problem_and_writes_the_rest(servers, tmp_path):
    s = servers
    other = s.other
    other.put(s.p4p.pv("long"), 5, timeout=5)
    other.put(s.qsrv.pv("ao"), 3.0, timeout=5)
    path = tmp_path / "hand.snap"
    path.write_text("\n".join([
        "caprobe-snapshot 1",
        f'{s.p("long")} LONG 42 NO_ALARM NO_ALARM - ""',
        f'{s.q("ao")} DOUBLE 1.25 NO_ALARM NO_ALARM - "V"',
        f'{s.p("nothere")} DOUBLE 1.0 NO_ALARM NO_ALARM - ""',      # missing
        f'{s.p("table")} DOUBLE 1.0 NO_ALARM NO_ALARM - ""',        # a structure now
        f'{s.p("double")} DOUBLE 500.0 NO_ALARM NO_ALARM - ""',     # beyond control limits
        f'{s.p("enum")} ENUM "Bogus" NO_ALARM NO_ALARM - ""',       # no such state
        f'{s.p("string")} LONG 1 NO_ALARM NO_ALARM - ""',           # type changed
        f'{s.p("ro")} DOUBLE 9.5 NO_ALARM NO_ALARM - ""',           # the server refuses
        f'{s.p("array")} INT64[2] [1, 2] NO_ALARM NO_ALARM - ""',   # numbers: fit double[]
        "end", ""]))
    saved = files.load(path)
    with capture.context_for(TIMEOUT) as context:
        plan = restoring.plan(saved, context)
    by = {item.name: item for item in plan}
    assert by[s.p("nothere")].outcome == restoring.NOT_CONNECTED
    assert "not found" in by[s.p("nothere")].reason
    assert by[s.p("table")].outcome == restoring.REFUSED
    assert "NTTable now" in by[s.p("table")].reason
    assert by[s.p("double")].outcome == restoring.REFUSED
    assert "outside the control limits -100 .. 100" in by[s.p("double")].reason
    assert by[s.p("enum")].outcome == restoring.REFUSED and "'Bogus'" in by[s.p("enum")].reason
    assert by[s.p("string")].outcome == restoring.REFUSED
    assert "saved as LONG, but the PV is STRING now" in by[s.p("string")].reason
    assert {name for name, item in by.items() if item.ready} == {
        s.p("long"), s.q("ao"), s.p("ro"), s.p("array")}
    assert by[s.p("long")].line() == f"{s.p('long')} 5 -> 42"  # the dry-run preview
    # nothing was written by planning
    assert other.get(s.p4p.pv("long"), timeout=5)["value"] == 5

    with capture.context_for(TIMEOUT) as context:
        done = restoring.execute(plan, context, timeout=TIMEOUT)
    by = {item.name: item for item in done}
    assert by[s.p("long")].ok and by[s.q("ao")].ok and by[s.p("array")].ok
    assert by[s.p("ro")].outcome == restoring.NO_ACCESS
    assert other.get(s.p4p.pv("long"), timeout=5)["value"] == 42
    assert other.get(s.qsrv.pv("ao"), timeout=5)["value"] == 1.25
    assert list(other.get(s.p4p.pv("array"), timeout=5)["value"]) == [1.0, 2.0]
    assert other.get(s.p4p.pv("ro"), timeout=5)["value"] == 3.25
    assert other.get(s.p4p.pv("double"), timeout=5)["value"] == 1.5


def test_phoebus_file_with_pva_names_compares_and_restores(servers, tmp_path):
    s = servers
    path = tmp_path / "table.pvs"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<pvtable version="3.0">
  <timeout>5.0</timeout>
  <pvlist>
    <pv><selected>true</selected><name>{s.p("double")}</name><tolerance>0.1</tolerance>
      <saved_value>1.55</saved_value></pv>
    <pv><selected>true</selected><name>{s.p("enum")}</name><tolerance>0.0</tolerance>
      <saved_value>On</saved_value></pv>
    <pv><selected>true</selected><name>{s.p("string_array")}</name><tolerance>0.0</tolerance>
      <saved_array_value><item>x</item><item>y</item><item>z</item></saved_array_value></pv>
    <pv><selected>true</selected><name>ca://{s.ca("long")}</name><tolerance>0.0</tolerance>
      <saved_value>42</saved_value></pv>
  </pvlist>
</pvtable>
""")
    saved = files.load(path)
    with capture.context_for(TIMEOUT) as context:
        live = [item.pv for item in capture.read_live(saved.names(), context)]
    states = {r.name: r.state for r in compare(saved, live)}
    assert states == {s.p("double"): SAME, s.p("enum"): DIFFERS, s.p("string_array"): DIFFERS,
                      f"ca://{s.ca('long')}": SAME}
    items = restoring.restore(saved, [s.p("enum"), s.p("string_array")], timeout=TIMEOUT)
    assert [item.outcome for item in items] == [restoring.DONE, restoring.DONE]
    assert s.other.get(s.p4p.pv("enum"), timeout=5)["value.index"] == 1
    assert list(s.other.get(s.p4p.pv("string_array"), timeout=5)["value"]) == ["x", "y", "z"]


def test_autosave_keeps_pva_rows_as_comments(tmp_path):
    snapshot = Snapshot(pvs=[SavedPV("pva://X:a", 1.5, "DOUBLE"), SavedPV("Y:b", 2.5, "DOUBLE"),
                             SavedPV("pva://X:gone", error="not found")])
    path = tmp_path / "out.sav"
    files.save(path, snapshot)
    text = path.read_text()
    assert "# pva://X:a 1.5 (PV Access: autosave files are Channel Access only" in text
    assert autosave.pva_rows(snapshot) == ["pva://X:a", "pva://X:gone"]
    assert "! " not in text  # no CA PV missing: the "not connected" line is not written
    assert files.load(path).names() == ["Y:b"]  # what autosave itself would restore
