"""autosave .sav files: what autosave writes reads back, round trips, <END> required."""

from __future__ import annotations

import pytest
from sample import sample_snapshot

from caprobe.snapshot import autosave
from caprobe.snapshot.compare import SAME, compare
from caprobe.snapshot.errors import SnapshotFileError

# As autosave R5.x writes it (tab after the version, an unconnected PV, a long string, arrays
# of numbers and of strings with escapes).
AUTOSAVE_FILE = """\
# autosave R5.10\tAutomatically generated - DO NOT MODIFY - 231207-101500
! 1 channel(s) not connected - or not all gets were successful
xxx:m1.VAL 1.234
xxx:m1.DESC Motor \\"one\\"
xxx:bo.VAL 1
xxx:empty.VAL<SP>
xxx:lso.VAL$ long text with spaces
#xxx:gone.VAL Search Issued
xxx:wf.VAL @array@ { "1.5" "2" "-3e-07" }
xxx:swf.VAL @array@ { "a b" "say \\"hi\\"" "back\\\\slash" }
<END>
""".replace("<SP>", " ")  # the empty value keeps its separating space


def test_reads_what_autosave_writes(tmp_path):
    path = tmp_path / "auto.sav"
    path.write_text(AUTOSAVE_FILE)
    snapshot = autosave.read(path)
    values = {pv.name: pv.value for pv in snapshot.pvs}
    assert values["xxx:m1.VAL"] == "1.234"
    assert values["xxx:m1.DESC"] == 'Motor "one"'
    assert values["xxx:bo.VAL"] == "1"
    assert values["xxx:empty.VAL"] == ""
    assert values["xxx:lso.VAL$"] == "long text with spaces"
    assert values["xxx:gone.VAL"] is None
    assert values["xxx:wf.VAL"] == ["1.5", "2", "-3e-07"]
    assert values["xxx:swf.VAL"] == ["a b", 'say "hi"', "back\\slash"]
    assert all(pv.dbf is None for pv in snapshot.pvs)
    gone = next(pv for pv in snapshot.pvs if pv.name == "xxx:gone.VAL")
    assert "not saved by autosave" in gone.error


def test_round_trip_keeps_every_value(tmp_path):
    snapshot = sample_snapshot()
    path = tmp_path / "a.sav"
    autosave.write(path, snapshot)
    text = path.read_text()
    assert text.splitlines()[-1] == "<END>"
    assert "T:wf @array@ { \"0.5\" \"1.5\" \"-25000000000.0\" }" in text
    assert "#T:gone Search Issued" in text
    back = autosave.read(path)
    assert back.names() == snapshot.names()
    # Typed values come back as text; compared against the typed originals they are equal.
    results = {c.name: c.state for c in compare(back, snapshot)}
    assert all(state == SAME for name, state in results.items() if name != "T:gone"), results
    strs = next(pv for pv in back.pvs if pv.name == "T:strs")
    assert strs.value == ["a b", 'c"d']
    text_pv = next(pv for pv in back.pvs if pv.name == "T:str")
    assert text_pv.value == 'hé "quoted" \\ tab\there'


@pytest.mark.parametrize(("body", "line", "words"), [
    ("a 1\nb 2\n", 2, "no <END> marker"),
    ("", None, "no <END> marker"),
    ('a @array@ "1" "2"\n<END>\n', 1, "must be followed by '{'"),
    ('a 1\nb @array@ { "1" "2"\n<END>\n', 2, "not closed"),
    ('a @array@ { 1 2 }\n<END>\n', 1, "must be quoted"),
    ('a @array@ { "1" "2 }\n<END>\n', 1, "no closing quote"),
    ('a @array@ { "1" } extra\n<END>\n', 1, "text after"),
    ("a 1\nb 2\na 3\n<END>\n", 3, "listed twice (first on line 1)"),
])
def test_bad_files_name_the_line(tmp_path, body, line, words):
    path = tmp_path / "bad.sav"
    path.write_text(body)
    with pytest.raises(SnapshotFileError) as caught:
        autosave.read(path)
    prefix = f"{path}:{line}: " if line else f"{path}: "
    assert str(caught.value).startswith(prefix)
    assert words in str(caught.value)


def test_lines_after_end_are_ignored(tmp_path):
    path = tmp_path / "x.sav"
    path.write_text("a 1\n<END>\ngarbage that autosave never reads\n")
    assert autosave.read(path).names() == ["a"]
