"""tools/test-matrix: the Python versions it runs the suite on are the ones pyproject.toml claims.

The classifiers are the single list of supported versions (the matrix reads them); these checks
keep that list, requires-python and the script's reading of them in agreement. Running the
matrix itself takes minutes per version: that is ``tools/test-matrix`` (and ``.ci/run``), not
this file.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pytest brings tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "tools" / "test-matrix"


def _project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def _claimed_versions() -> list[str]:
    prefix = "Programming Language :: Python :: "
    return [c[len(prefix):] for c in _project()["classifiers"]
            if re.fullmatch(r"3\.\d+", c[len(prefix):] if c.startswith(prefix) else "")]


def test_classifiers_claim_consecutive_versions_from_requires_python():
    versions = _claimed_versions()
    assert versions == ["3.10", "3.11", "3.12", "3.13"]
    assert _project()["requires-python"] == f">={versions[0]}"
    minors = [int(v.split(".")[1]) for v in versions]
    assert minors == list(range(minors[0], minors[-1] + 1))


def test_matrix_lists_exactly_the_claimed_versions():
    result = subprocess.run(["bash", str(MATRIX), "--list"], capture_output=True, text=True,
                            timeout=60, check=True)
    rows = [line.split(" ", 1) for line in result.stdout.splitlines()]
    assert [version for version, _ in rows] == _claimed_versions()
    for version, interpreter in rows:
        # an interpreter found must really be that version; "missing" is allowed here
        if interpreter != "missing":
            found = subprocess.run([interpreter, "-c", "import sys; print(sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=60, check=True)
            assert found.stdout.strip() == str(tuple(int(p) for p in version.split(".")))


def test_matrix_refuses_an_unknown_option():
    result = subprocess.run(["bash", str(MATRIX), "--no-such-option"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown option --no-such-option" in result.stderr


def test_strict_matrix_fails_when_no_claimed_version_can_run(tmp_path):
    # 3.99 is claimed by nobody: nothing runs, which only --strict counts as a failure
    env = {**os.environ, "TEST_MATRIX_LOG_DIR": str(tmp_path)}
    lenient = subprocess.run(["bash", str(MATRIX), "--python", "3.99"], capture_output=True,
                             text=True, timeout=60, env=env)
    strict = subprocess.run(["bash", str(MATRIX), "--python", "3.99", "--strict"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert (lenient.returncode, strict.returncode) == (0, 1)
    assert list(tmp_path.iterdir()) == []  # no pytest ran
