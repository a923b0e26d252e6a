"""Phoebus PV Table .pvs files: what Phoebus writes reads back; round trips; bad XML."""

from __future__ import annotations

import pytest
from sample import sample_snapshot

from caprobe.snapshot import phoebus
from caprobe.snapshot.compare import SAME, compare
from caprobe.snapshot.errors import SnapshotFileError
from caprobe.snapshot.model import Tolerance

# The layout Phoebus' PVTableXMLPersistence writes (version 3.0), plus a legacy readback.
PHOEBUS_FILE = b"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<pvtable save="true" version="3.0">
  <timeout>60.0</timeout>
  <pvlist>
    <pv>
      <selected>true</selected>
      <name>sim://sine</name>
      <tolerance>0.1</tolerance>
      <saved_value_timestamp>2023-05-24 13:10:33.123000000</saved_value_timestamp>
      <saved_value>0.75</saved_value>
      <completion>false</completion>
    </pv>
    <pv>
      <selected>false</selected>
      <name>T:wf</name>
      <tolerance>0.01</tolerance>
      <saved_value_timestamp/>
      <saved_array_value>
        <item>1.0</item>
        <item>2.0</item>
      </saved_array_value>
      <completion>true</completion>
    </pv>
    <pv>
      <name># a comment row</name>
    </pv>
    <pv>
      <name>T:set</name>
      <readback>T:rbv</readback>
      <readback_value>3.5</readback_value>
    </pv>
  </pvlist>
</pvtable>
"""


def test_reads_what_phoebus_writes(tmp_path):
    path = tmp_path / "table.pvs"
    path.write_bytes(PHOEBUS_FILE)
    snapshot = phoebus.read(path)
    assert snapshot.names() == ["sim://sine", "T:wf", "T:set", "T:rbv"]
    sine, wf, setpoint, readback = snapshot.pvs
    assert sine.value == "0.75" and sine.tolerance == Tolerance(0.1, 0.0) and sine.selected
    assert sine.time_ns is not None
    assert wf.value == ["1.0", "2.0"] and not wf.selected
    assert setpoint.value is None
    assert readback.value == "3.5" and not readback.selected
    assert snapshot.timeout == 60.0


def test_round_trip(tmp_path):
    snapshot = sample_snapshot()
    path = tmp_path / "a.pvs"
    phoebus.write(path, snapshot)
    back = phoebus.read(path)
    assert back.names() == snapshot.names()
    assert back.timeout == 30.0
    assert back.tolerance == Tolerance(0.5, 0.0)
    by_name = back.by_name()
    assert by_name["T:tol"].tolerance == Tolerance(0.1, 0.0)  # .pvs has no relative tolerance
    assert by_name["T:ai"].tolerance is None  # the default, not repeated per row
    assert not by_name["T:unsel"].selected
    assert by_name["T:ai"].time_ns == snapshot.by_name()["T:ai"].time_ns
    results = {c.name: c.state for c in compare(back, snapshot)}
    assert all(state == SAME for name, state in results.items() if name != "T:gone"), results


@pytest.mark.parametrize(("body", "line", "words"), [
    (b"<pvtable><pvlist><pv><name>a</name></pv>\n</pvlist>", 2, "not valid XML"),
    (b"<?xml version='1.0'?>\n<displays/>\n", 2, "<pvtable> expected"),
    (b"<pvtable>\n<pvlist>\n<pv><name>a</name>\n<tolerance>big</tolerance></pv>"
     b"</pvlist></pvtable>", 4, "<tolerance> must be a number"),
    (b"<pvtable>\n<pvlist>\n<pv><name>a</name>\n<selected>maybe</selected></pv>"
     b"</pvlist></pvtable>", 4, "<selected> must be true or false"),
    (b"<pvtable>\n<pvlist>\n<pv><name>a</name></pv>\n<pv><name>a</name></pv>"
     b"</pvlist></pvtable>", 4, "listed twice"),
    (b"<pvtable>\n<pvlist><pv><name>a</name>\n<saved_value_timestamp>soon"
     b"</saved_value_timestamp></pv></pvlist></pvtable>", 3, "is not a time"),
    (b'<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<pvtable/>', 1, "entity"),
])
def test_bad_files_name_the_line(tmp_path, body, line, words):
    path = tmp_path / "bad.pvs"
    path.write_bytes(body)
    with pytest.raises(SnapshotFileError) as caught:
        phoebus.read(path)
    assert str(caught.value).startswith(f"{path}:{line}: "), str(caught.value)
    assert words in str(caught.value)
