"""caprobe-snapshot save|diff|restore as an operator runs it, against the 2,000-record IOC.

Exit codes as diff's: 0 nothing to report, 1 some, 2 trouble.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import many_ioc
import pytest
import servers
from caproto.sync.client import read as other_read
from caproto.sync.client import write as other_write

COUNT = 2000
BIN = Path(sys.executable).parent / "caprobe-snapshot"


@pytest.fixture(scope="module")
def ioc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    server = many_ioc.start(tmp_path_factory.mktemp("cli_snapshot"), count=COUNT)
    try:
        yield server
    finally:
        server.close()


def run(server: servers.Server, *args: str) -> subprocess.CompletedProcess:
    # The console script once the package is reinstalled; the same main() via -m until then.
    command = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "caprobe", "snapshot"]
    env = {**os.environ, **server.client_environ(), "TZ": "UTC"}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.fixture
def saved(ioc, tmp_path, ca_env) -> Iterator[Path]:
    ca_env(ioc)  # for the other client (caproto) that changes PVs and checks them
    names = tmp_path / "names.txt"
    names.write_text("# every setpoint\n" + "\n".join(
        many_ioc.set_name(ioc.prefix, i) for i in range(COUNT)) + "\n")
    path = tmp_path / "before.snap"
    result = run(ioc, "save", str(path), "-f", str(names), ioc.pv("mode"), ioc.pv("locked"),
                 "-w", "10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Saved {COUNT + 2} of {COUNT + 2} PVs to {path}"
    yield path
    # put back what a test changed, with the other client
    for index in (3, 1500):
        other_write(many_ioc.set_name(ioc.prefix, index), index / 10, repeater=False,
                    timeout=5, notify=True)
    other_write(ioc.pv("mode"), 1, repeater=False, timeout=5, notify=True)


def test_save_diff_restore_cycle(ioc, saved):
    assert run(ioc, "diff", str(saved)).returncode == 0
    first, second = many_ioc.set_name(ioc.prefix, 3), many_ioc.set_name(ioc.prefix, 1500)
    other_write(first, 7.5, repeater=False, timeout=5, notify=True)
    other_write(second, -150.0, repeater=False, timeout=5, notify=True)
    other_write(ioc.pv("mode"), 2, repeater=False, timeout=5, notify=True)

    result = run(ioc, "diff", str(saved))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"{first} 0.3 -> 7.5 (+7.2 A)",
        f"{second} 150 -> -150 (-300 A)",
        f'{ioc.pv("mode")} "Standby" -> "Run"'.replace('"', ""),
    ]
    # a tolerance wide enough for the first change hides it
    result = run(ioc, "diff", str(saved), "--abs", "8")
    assert [line.split()[0] for line in result.stdout.splitlines()] == \
        [second, ioc.pv("mode")]
    result = run(ioc, "diff", str(saved), "--rel", "2.5")  # 300 <= 2.5 * 150
    assert first in result.stdout and second not in result.stdout

    dry = run(ioc, "restore", str(saved), "--dry-run", first, ioc.pv("locked"))
    assert dry.returncode == 1
    assert f"{first} 7.5 -> 0.3" in dry.stdout
    assert f"{ioc.pv('locked')} no write access: read-only" in dry.stderr
    assert other_read(first, repeater=False, timeout=5).data[0] == 7.5  # nothing written

    result = run(ioc, "restore", str(saved))
    assert result.returncode == 1  # the read-only PV
    assert result.stderr.splitlines() == [
        f"{ioc.pv('locked')} no write access: read-only: the IOC's access security "
        "gives this client no write access"]
    assert result.stdout.strip() == \
        f"Restored {COUNT + 1} of {COUNT + 2} PVs from {saved}"
    assert other_read(first, repeater=False, timeout=5).data[0] == 0.3
    assert other_read(second, repeater=False, timeout=5).data[0] == 150.0
    assert run(ioc, "diff", str(saved)).returncode == 0

    result = run(ioc, "restore", str(saved), first, second)
    assert (result.returncode, result.stderr) == (0, "")


def test_sav_file_for_diff_and_restore(ioc, tmp_path):
    path = tmp_path / "ioc.sav"
    result = run(ioc, "save", str(path), many_ioc.set_name(ioc.prefix, 3), ioc.pv("wave"))
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert text.splitlines()[-1] == "<END>" and "@array@ {" in text
    assert run(ioc, "diff", str(path)).returncode == 0
    assert run(ioc, "restore", str(path)).returncode == 0


def test_unreachable_pv_is_saved_without_value_and_diff_is_trouble(ioc, tmp_path):
    path = tmp_path / "gone.snap"
    missing = ioc.prefix + "no:such"
    result = run(ioc, "save", str(path), many_ioc.set_name(ioc.prefix, 1), missing, "-w", "1")
    assert result.returncode == 1
    assert missing in result.stderr.splitlines()[0] and "saved without a value" in result.stderr
    assert "Saved 1 of 2 PVs" in result.stdout
    result = run(ioc, "diff", str(path), "-w", "1")
    assert result.returncode == 0  # nothing saved and still nothing: no difference
    other = tmp_path / "other.snap"
    path.write_text(path.read_text().replace(f"{missing} - null - - - \"\"",
                                             f"{missing} DOUBLE 1.0 - - - \"\""))
    result = run(ioc, "diff", str(path), "-w", "1")
    assert result.returncode == 2 and missing in result.stdout
    assert not other.exists()


def test_two_files(ioc, tmp_path):
    a, b = tmp_path / "a.snap", tmp_path / "b.sav"
    name = many_ioc.set_name(ioc.prefix, 9)
    assert run(ioc, "save", str(a), name).returncode == 0
    b.write_text(f"{name} 2.5\n<END>\n")
    result = run(ioc, "diff", str(a), str(b))
    assert result.returncode == 1 and result.stdout.strip() == f"{name} 0.9 -> 2.5 (+1.6 A)"


@pytest.mark.parametrize(("args", "words"), [
    (["diff", "nope.snap"], "nope.snap: cannot read"),
    (["save", "x.snap"], "no PV names given"),
    (["diff", "bad.snap"], "bad.snap:2: unknown TYPE"),
    (["frobnicate"], "invalid choice"),
    (["diff", "bad.snap", "--abs", "-1"], "must be a finite number >= 0"),
    (["restore", "good.snap", "OTHER:PV"], "not in"),
])
def test_trouble_is_one_line_and_exit_2(ioc, tmp_path, args, words):
    (tmp_path / "bad.snap").write_text("caprobe-snapshot 1\nA BOGUS 1 - - - \"\"\nend\n")
    (tmp_path / "good.snap").write_text("caprobe-snapshot 1\nend\n")
    result = subprocess.run(
        [*([str(BIN)] if BIN.exists() else [sys.executable, "-m", "caprobe", "snapshot"]),
         *args], capture_output=True, text=True, cwd=tmp_path, timeout=30,
        env={**os.environ, **ioc.client_environ()})
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr
