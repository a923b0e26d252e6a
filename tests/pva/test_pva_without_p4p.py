"""caprobe.pva imports without p4p and says in one line how to install it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# p4p made unimportable in a fresh interpreter, as on a CA-only install.
_BLOCK_P4P = "import sys; sys.modules['p4p'] = None\n"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BLOCK_P4P + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_import_does_not_load_p4p() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys, caprobe.pva, caprobe.pvname; "
                               "print('p4p' in sys.modules)"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_every_call_says_how_to_install() -> None:
    result = _run("""
        import caprobe.pva as pva
        calls = [lambda: pva.read('x'), lambda: pva.write('x', 1), lambda: pva.info('x'),
                 lambda: pva.subscribe('x').block(duration=0.1)]
        for call in calls:
            try:
                call()
            except pva.ConfigurationError as exc:
                assert isinstance(exc, pva.PVAUnavailable)
                print(exc)
        print(pva.available())
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 5 and lines[-1] == "False"
    for line in lines[:4]:
        assert line.startswith("PV Access needs the p4p package")
        assert line.endswith("install it with: pip install 'caprobe[pva]'")
