"""Command-line reads: caprobe-get vs caproto-get vs pyepics (and EPICS base's caget if present).

    .venv/bin/python bench/bench_cli.py [--runs 7] [--caget PATH]

What an operator waits for at the prompt: the wall time of one whole command, process start
included, median of ``--runs`` runs, against one EPICS base soft IOC on loopback (the test
harness's tests/ioc/test.db, a free port, never 5064/5065). Cases: one PV; 20 PVs; 20 PVs of
which 5 do not exist (timeout 1 s); 200 and 2,000 PVs of a second soft IOC serving 2,000 ao
records (the operator's pasted list). A tool whose first run of a case takes over 5 s is
timed 3 times there instead of ``--runs``. caprobe's byte code is compiled first, as pip
does at install (the other tools are installed packages, compiled already). pyepics has no command-line tool: its column is
``python -c "epics.caget_many(...)"``, which is what a script does. EPICS base's caget is
timed when found (``--caget``, ``CAPROBE_EPICS_TOOLS`` or PATH); no pip package ships it.

Prints a markdown table and writes bench/results/bench_cli-<stamp>.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _support
from _support import servers

BIN = Path(sys.executable).parent
GOOD = ["ai", "ao", "long", "bo", "mbbo", "str", "lso", "wf_double", "wf_float", "wf_char",
        "wf_long", "wf_short", "ro", "short", "float", "gate", "gated", "slow", "ai.DESC",
        "ao.EGU"]
TIMEOUT_S = 1.0


def find_caget(given: str | None) -> Path | None:
    if given:
        return Path(given)
    tools = os.environ.get("CAPROBE_EPICS_TOOLS")
    if tools and (Path(tools) / "caget").exists():
        return Path(tools) / "caget"
    found = shutil.which("caget")
    return Path(found) if found else None


def commands(names: list[str], caget: Path | None) -> dict[str, list[str] | None]:
    pyepics = ("import epics, sys; values = epics.caget_many(sys.argv[1:], "
               f"connection_timeout={TIMEOUT_S}); print(values); "
               "sys.exit(0 if None not in values else 1)")
    return {
        "caprobe-get": [str(BIN / "caprobe-get"), "-w", str(TIMEOUT_S), *names],
        "caproto-get": [str(BIN / "caproto-get"), "--timeout", str(TIMEOUT_S), *names],
        "pyepics": [sys.executable, "-c", pyepics, *names],
        "caget (EPICS base)": None if caget is None else [str(caget), "-w", str(TIMEOUT_S),
                                                          *names],
    }


def time_command(command: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    walls: list[float] = []
    codes = set()
    for _ in range(runs):
        if walls and walls[0] > 5.0 and len(walls) >= 3:
            break
        started = time.perf_counter()
        result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=120, check=False)
        walls.append(time.perf_counter() - started)
        codes.add(result.returncode)
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls),
            "exit_codes": sorted(codes)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--caget", help="path of EPICS base's caget")
    args = parser.parse_args()
    caget = find_caget(args.caget)
    # An installed caprobe has its byte code compiled (pip does it at install); this session
    # may run with PYTHONDONTWRITEBYTECODE, which would make every run compile every module.
    import compileall

    import caprobe

    compileall.compile_dir(str(Path(caprobe.__file__).parent), quiet=1)
    began = time.monotonic()
    server = servers.start_softioc()
    _support.RESULTS_DIR.mkdir(exist_ok=True)
    db = servers.many_records_db(_support.RESULTS_DIR / "bench_cli_many.db", 2000)
    many = servers.start_softioc(db=db, acf=None)
    try:
        env = {**os.environ, **server.env, "PYTHONUNBUFFERED": "1"}
        env.pop("EPICS_CLI_TIMEOUT", None)
        good = [server.pv(name) for name in GOOD]
        missing = [f"{server.prefix}no_such_pv{i}" for i in range(5)]
        cases = {
            "1 PV": good[:1],
            "20 PVs": good,
            "20 PVs, 5 of them missing (1 s timeout)": good[:15] + missing,
            "200 PVs": [many.pv(f"m{i}") for i in range(200)],
            "2,000 PVs": [many.pv(f"m{i}") for i in range(2000)],
        }
        many_env = {**env, "EPICS_CA_ADDR_LIST": f"127.0.0.1:{server.port} "
                                                 f"127.0.0.1:{many.port}"}
        results: dict[str, dict[str, dict[str, float] | None]] = {}
        for case, names in cases.items():
            results[case] = {}
            for tool, command in commands(names, caget).items():
                results[case][tool] = (None if command is None
                                       else time_command(command, many_env, args.runs))
    finally:
        server.close()
        many.close()

    tools = list(commands([], caget))
    rows = []
    for case, by_tool in results.items():
        cells = [case]
        for tool in tools:
            figures = by_tool[tool]
            if figures is None:
                cells.append("n/a")
            elif figures["median_s"] >= 2:
                cells.append(f"{figures['median_s']:.1f} s")
            else:
                cells.append(f"{figures['median_s'] * 1e3:.0f} ms")
        rows.append(cells)
    table = _support.markdown_table(["wall time per command (median)", *tools], rows)
    print(table)
    _support.write_results("bench_cli", {
        "machine": _support.machine_info(),
        "settings": f"{args.runs} runs per cell, timeout {TIMEOUT_S:g} s, caget "
                    f"{caget or 'not found'}",
        "elapsed_s": time.monotonic() - began,
        "results": results,
        "table": table,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
