"""caprobe's .snap format: exact round trips, one line per PV, and every bad line named."""

from __future__ import annotations

import pytest
from sample import T0, sample_snapshot

from caprobe.snapshot import snapfile
from caprobe.snapshot.errors import SnapshotFileError
from caprobe.snapshot.model import SavedPV, Snapshot


def test_round_trip_is_exact(tmp_path):
    snapshot = sample_snapshot()
    path = tmp_path / "a.snap"
    snapfile.write(path, snapshot)
    back = snapfile.read(path)
    assert back.time_ns == T0
    assert back.comment == snapshot.comment
    assert back.tolerance == snapshot.tolerance
    assert back.timeout == 30.0
    assert back.names() == snapshot.names()
    for mine, theirs in zip(snapshot.pvs, back.pvs, strict=True):
        assert mine == theirs, (mine, theirs)
    # Writing it again gives the same bytes: stable for diff and git.
    assert snapfile.dumps(back) == path.read_text()


def test_one_line_per_pv_readable():
    text = snapfile.dumps(sample_snapshot())
    lines = text.splitlines()
    assert "caprobe-snapshot 1" in lines
    assert lines[-1] == "end"
    assert 'T:ai DOUBLE 1.5 NO_ALARM NO_ALARM 2026-12-07T06:43:12.500000123Z "mm"' in lines \
        or any(line.startswith("T:ai DOUBLE 1.5 NO_ALARM NO_ALARM ") and line.endswith('"mm"')
               for line in lines)
    assert any(line.startswith("T:wf DOUBLE[3] [0.5, 1.5, -25000000000.0]") for line in lines)
    assert any(line.startswith("T:float FLOAT 0.1 ") for line in lines)
    assert any(line.startswith('T:bo ENUM "On" MAJOR STATE ') for line in lines)
    assert any(line.startswith('T:gone - null - - - "" error="not connected') for line in lines)
    assert any(line.endswith("abs=0.1 rel=0.02") for line in lines)
    assert any(line.endswith("selected=false") for line in lines)
    assert any(line.startswith('T:text TEXT "12.5" - - -') for line in lines)


def test_changing_one_value_changes_one_line():
    snapshot = sample_snapshot()
    before = snapfile.dumps(snapshot).splitlines()
    snapshot.pvs[0].value = 2.5
    after = snapfile.dumps(snapshot).splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1 and changed[0][1].startswith("T:ai DOUBLE 2.5 ")


HEADER = "caprobe-snapshot 1\n"
GOOD = 'T:ai DOUBLE 1.5 NO_ALARM NO_ALARM - "mm"\n'


@pytest.mark.parametrize(("body", "line", "words"), [
    ("", 1, "empty file"),
    ("hello\n", 1, "not a caprobe snapshot"),
    ("caprobe-snapshot 2\nend\n", 1, "unsupported snapshot version"),
    (HEADER + GOOD, 2, "no 'end' line"),
    (HEADER + GOOD + "end\nT:x\n", 4, "text after 'end'"),
    (HEADER + 'T:ai DOUBLE 1.5 NO_ALARM NO_ALARM -\nend\n', 2, "UNITS is not valid JSON"),
    (HEADER + 'T:ai DUBLE 1.5 NO_ALARM NO_ALARM - ""\nend\n', 2, "unknown TYPE 'DUBLE'"),
    (HEADER + 'T:ai DOUBLE abc NO_ALARM NO_ALARM - ""\nend\n', 2, "VALUE is not valid JSON"),
    (HEADER + 'T:ai DOUBLE "x" NO_ALARM NO_ALARM - ""\nend\n', 2, "must be numbers"),
    (HEADER + 'T:ai LONG 1.5 NO_ALARM NO_ALARM - ""\nend\n', 2, "whole numbers"),
    (HEADER + 'T:ai SHORT 40000 NO_ALARM NO_ALARM - ""\nend\n', 2, "out of range"),
    (HEADER + 'T:ai DOUBLE[3] [1, 2] NO_ALARM NO_ALARM - ""\nend\n', 2, "array has 2"),
    (HEADER + 'T:ai DOUBLE [1, 2] NO_ALARM NO_ALARM - ""\nend\n', 2, "element count"),
    (HEADER + 'T:ai DOUBLE 1 LOUD NO_ALARM - ""\nend\n', 2, "unknown severity 'LOUD'"),
    (HEADER + 'T:ai DOUBLE 1 NO_ALARM NO_ALARM yesterday ""\nend\n', 2, "is not a time"),
    (HEADER + 'T:ai DOUBLE 1 NO_ALARM NO_ALARM - "" color="red"\nend\n', 2, "unexpected"),
    (HEADER + 'T:ai DOUBLE 1 NO_ALARM NO_ALARM - "" abs=-1\nend\n', 2, "abs= must be"),
    (HEADER + GOOD + GOOD + "end\n", 3, "listed twice (first on line 2)"),
    (HEADER + "time noon\n" + GOOD + "end\n", 2, "is not a time"),
    (HEADER + "abs lots\nend\n", 2, "abs must be a number"),
    (HEADER + 'T:ai - 1.5 - - - ""\nend\n', 2, "no value"),
])
def test_bad_files_name_the_line(tmp_path, body, line, words):
    path = tmp_path / "bad.snap"
    path.write_text(body)
    with pytest.raises(SnapshotFileError) as caught:
        snapfile.read(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: ") or (not body and str(path) in message)
    assert words in message


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.snap"
    path.write_bytes(b"caprobe-snapshot 1\nT:a STRING \"\xff\" - - - \"\"\nend\n")
    with pytest.raises(SnapshotFileError, match=r"bad\.snap:2: not UTF-8"):
        snapfile.read(path)


def test_missing_file_is_one_message(tmp_path):
    with pytest.raises(SnapshotFileError, match="cannot read: No such file"):
        snapfile.read(tmp_path / "nope.snap")


def test_write_failure_is_a_snapshot_error(tmp_path):
    with pytest.raises(SnapshotFileError, match="cannot write"):
        snapfile.write(tmp_path / "no" / "dir.snap", Snapshot(pvs=[SavedPV("a", 1.0,
                                                                            "DOUBLE")]))
