"""Does a frozen caprobe start and work?  packaging/build.sh runs this on every artefact.

    python packaging/smoke_test.py dist/caprobe-dir/caprobe dist/caprobe

For each program:

1. ``PROGRAM --check``: every caprobe module (and p4p when the bundle carries it) imports, the Qt
   platform plugins load, the main window builds offscreen; needs no IOC and no display;
2. when a soft IOC can be started (pythonSoftIOC from the ``test`` extra, through
   tests/servers.py: loopback only, its own free port): ``PROGRAM --self-test IOC:ai`` must
   print ``IOC:ai 1.500`` and ``PROGRAM get IOC:ai`` must print ``IOC:ai 1.5``.

Prints one line per step; exit status 1 if any step failed (with one line saying why), 0 if all
passed.  Runs from the repository root (it imports tests/servers.py).  The IOC, and the CA
repeater the programs spawn on the IOC's repeater port, are stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEP_TIMEOUT = 120.0


def run_step(label: str, command: list[str], env: dict[str, str], expect: str | None) -> bool:
    """Run one step; print 'ok' or the reason in one line."""
    started = time.perf_counter()
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True,
                                timeout=STEP_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"FAIL  {label}: {error}")
        return False
    seconds = time.perf_counter() - started
    output = result.stdout.strip()
    if result.returncode != 0 or (expect is not None and output.split()[:2] != expect.split()):
        lines = (result.stderr.strip() or output or "no output").splitlines()
        reason = lines[-1] if lines else "no output"
        print(f"FAIL  {label}: exit {result.returncode}: {reason}")
        return False
    shown = output.splitlines()[0] if output else ""
    print(f"ok    {label} ({seconds:.1f} s): {shown}")
    return True


def start_ioc() -> tuple[object | None, str]:
    """A soft IOC on loopback, or None and why not."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests import servers
    except ImportError as error:
        return None, f"tests/servers.py does not import ({error})"
    try:
        import softioc  # noqa: F401  (only to say clearly why there is no IOC)
    except ImportError:
        return None, "pythonSoftIOC is not installed (the 'test' extra)"
    try:
        return servers.start_softioc(ramps=()), ""
    except Exception as error:  # noqa: BLE001 - reported, and the IOC steps are skipped
        return None, f"the soft IOC did not start: {error}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("programs", nargs="+", type=Path)
    parser.add_argument("--no-ioc", action="store_true", help="only --check")
    args = parser.parse_args(argv)

    base_env = {key: value for key, value in os.environ.items()
                if not key.startswith(("EPICS_", "PYTHON"))}
    base_env["QT_QPA_PLATFORM"] = "offscreen"
    ok = True
    for program in args.programs:
        ok &= run_step(f"{program} --check", [str(program), "--check"], base_env, None)

    if args.no_ioc:
        return 0 if ok else 1
    ioc, why_not = start_ioc()
    if ioc is None:
        print(f"skip  --self-test and get: {why_not}")
        return 0 if ok else 1
    try:
        env = {**base_env, **ioc.env}
        pv = ioc.pv("ai")
        for program in args.programs:
            ok &= run_step(f"{program} --self-test {pv}",
                           [str(program), "--self-test", pv], env, f"{pv} 1.500")
            ok &= run_step(f"{program} get {pv}", [str(program), "get", pv], env, f"{pv} 1.5")
    finally:
        ioc.close()  # also stops the repeater the programs spawned on the IOC's port + 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
