"""Plain PV lists and pasted text."""

from __future__ import annotations

import pytest

from caprobe.snapshot import files, pvlist
from caprobe.snapshot.errors import SnapshotFileError


def test_list_with_comments(tmp_path):
    path = tmp_path / "pvs.txt"
    path.write_text("# magnets\nQ1:I   # quad one\n\n  Q2:I\nQ1:I\n")
    assert pvlist.read(path) == ["Q1:I", "Q2:I"]
    assert files.kind_of(path) == "list"
    assert files.load(path).names() == ["Q1:I", "Q2:I"]


@pytest.mark.parametrize(("body", "line", "words"), [
    ("a\nb c\n", 2, "one PV name per line"),
    ("a\n" + "x" * 2000 + "\n", 2, "too long"),
    ("a\nb\x01c\n", 2, "control character"),
])
def test_bad_lists(tmp_path, body, line, words):
    path = tmp_path / "bad.txt"
    path.write_text(body)
    with pytest.raises(SnapshotFileError) as caught:
        pvlist.read(path)
    assert str(caught.value).startswith(f"{path}:{line}: ") and words in str(caught.value)


def test_binary_file_refused(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"a\nb\x00\n")
    with pytest.raises(SnapshotFileError, match=r"x\.txt:2: binary data"):
        pvlist.read(path)


def test_split_pasted_text():
    assert pvlist.split_names("A:1, A:2\nA:3 # note\n\tA:1") == ["A:1", "A:2", "A:3"]
    with pytest.raises(ValueError, match="control character"):
        pvlist.split_names("A\x07B")


def test_kind_by_content(tmp_path):
    snap = tmp_path / "noext"
    snap.write_text("# x\ncaprobe-snapshot 1\nend\n")
    assert files.kind_of(snap) == "snap"
    sav = tmp_path / "other.txt"
    sav.write_text("a 1\n<END>\n")
    assert files.kind_of(sav) == "sav"
    xml = tmp_path / "t.xml"
    xml.write_text("<?xml version='1.0'?><pvtable/>")
    assert files.kind_of(xml) == "pvs"
    assert files.kind_for_saving("x.sav") == "sav"
    assert files.kind_for_saving("x.pvs") == "pvs"
    assert files.kind_for_saving("x.snap") == "snap"
    assert files.kind_for_saving("x") == "snap"
