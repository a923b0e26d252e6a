"""caprobe-snapshot with pva:// names (and CA names in the same file) as an operator runs it,
against the session p4p server and the QSRV soft IOC. Exit codes as diff's: 0 nothing to
report, 1 some, 2 trouble; restore exits 0 only when every PV was restored."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("p4p")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "snapshot"))
from caproto.sync.client import read as ca_read  # noqa: E402
from caproto.sync.client import write as ca_write  # noqa: E402
from pva_setup import mixed_servers  # noqa: E402


@pytest.fixture
def setup(p4p_server, qsrv_server, pva_env, ca_env, monkeypatch) -> Iterator[Any]:
    with mixed_servers(p4p_server, qsrv_server, pva_env, ca_env, monkeypatch) as (env, other):
        yield p4p_server, qsrv_server, env, other


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "caprobe", "snapshot", *args],
                          capture_output=True, text=True, env={**os.environ, **env, "TZ": "UTC"},
                          timeout=60)


def test_save_diff_restore_mixed_file(setup, tmp_path):
    p4p, qsrv, env, other = setup
    path = tmp_path / "mixed.snap"
    double, enum, ao = f"pva://{p4p.pv('double')}", f"pva://{p4p.pv('enum')}", \
        f"pva://{qsrv.pv('ao')}"
    ro, ca_long = f"pva://{p4p.pv('ro')}", qsrv.pv("long")
    result = run(env, "save", str(path), double, enum, ao, ca_long)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == f"Saved 4 of 4 PVs to {path}"
    assert run(env, "diff", str(path)).returncode == 0

    other.put(p4p.pv("double"), 2.0, timeout=5)
    other.put(p4p.pv("enum"), {"value.index": 1}, timeout=5)
    ca_write(ca_long, 40, repeater=False, timeout=5, notify=True)
    result = run(env, "diff", str(path))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{double} 1.5 -> 2 (+0.5 mm)", f"{enum} Off -> On",
                                          f"{ca_long} 42 -> 40 (-2 cts)"]
    assert run(env, "diff", str(path), "--abs", "3").stdout.splitlines() == \
        [f"{enum} Off -> On"]

    dry = run(env, "restore", str(path), "--dry-run")
    assert dry.returncode == 0 and f"{double} 2 -> 1.5" in dry.stdout
    assert other.get(p4p.pv("double"), timeout=5)["value"] == 2.0  # nothing written
    result = run(env, "restore", str(path))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == f"Restored 4 of 4 PVs from {path}"
    assert other.get(p4p.pv("double"), timeout=5)["value"] == 1.5
    assert other.get(p4p.pv("enum"), timeout=5)["value.index"] == 0
    assert ca_read(ca_long, repeater=False, timeout=5).data[0] == 42

    # a read-only PVA PV: reported, the others restored, exit 1
    other.put(p4p.pv("double"), 2.0, timeout=5)
    path.write_text(path.read_text().replace(
        "end\n", f'{ro} DOUBLE 1.0 NO_ALARM NO_ALARM - ""\nend\n'))
    result = run(env, "restore", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{ro} no write access: PV '{p4p.pv('ro')}': no write access (the server says: Put "
        "not permitted: read-only PV); nothing was written"]
    assert other.get(p4p.pv("double"), timeout=5)["value"] == 1.5


def test_missing_and_structure_pvs(setup, tmp_path):
    p4p, _qsrv, env, _other = setup
    path = tmp_path / "some.snap"
    missing, table = f"pva://{p4p.pv('nothere')}", f"pva://{p4p.pv('table')}"
    result = run(env, "save", str(path), f"pva://{p4p.pv('long')}", missing, table, "-w", "1")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{missing}: PV '{p4p.pv('nothere')}': no reply within 1 s: "
                               "not found")
    assert lines[1] == (f"{table}: NTTable: only NTScalar, NTScalarArray and NTEnum values "
                        "are saved and restored, not whole structures (saved without a value)")
    assert result.stdout.strip() == f"Saved 1 of 3 PVs to {path}"
    # saved with a value, unreadable now: diff is trouble (2)
    path.write_text(path.read_text().replace(f'{missing} - null - - - ""',
                                             f'{missing} DOUBLE 1.0 - - - ""'))
    result = run(env, "diff", str(path), "-w", "1")
    assert result.returncode == 2 and missing in result.stdout
    result = run(env, "restore", str(path), "-w", "1")
    assert result.returncode == 1
    assert f"{missing} not connected" in result.stderr


def test_sav_save_keeps_pva_as_comments_and_says_so(setup, tmp_path):
    p4p, qsrv, env, _other = setup
    path = tmp_path / "ioc.sav"
    result = run(env, "save", str(path), qsrv.pv("ao"), f"pva://{p4p.pv('double')}")
    assert result.returncode == 1
    assert "1 PV Access PV(s) written" in result.stderr and "as comments only" in result.stderr
    assert result.stdout.strip() == f"Saved 1 of 2 PVs to {path}"
    assert f"# pva://{p4p.pv('double')} 1.5 (PV Access" in path.read_text()
