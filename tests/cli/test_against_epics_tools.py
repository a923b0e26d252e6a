"""caprobe-get/put/monitor/info next to EPICS base's own caget/caput/camonitor/cainfo, line by line.

Runs only where EPICS base's tools exist: on PATH, or in the directory named by
``CAPROBE_EPICS_TOOLS``. No pip package ships them, so CI skips this module. To run it, build
them from EPICS base's modules/ca/src/tools against the libca in the test venv, e.g.
``gcc -O2 -I$E/include -o bin/caget caget.c tool_lib.c -L$E/lib -lca -lCom -Wl,-rpath,$E/lib``
with ``E=.venv/lib/python3.11/site-packages/epicscorelibs`` (likewise caput, camonitor,
cainfo), then ``CAPROBE_EPICS_TOOLS=bin .venv/bin/python -m pytest tests/cli/test_against_epics_tools.py``. Both tools talk to
the same soft IOC with the same environment (TZ=UTC), so every line must be identical except
where the README names a deliberate difference (per-PV errors on stderr, cainfo/caget giving
up on all PVs when one is missing, values caput lets through or wraps, CHAR bytes above 127 to
a signed DBF_CHAR, ``caprobe-put -c`` that times out); each of those is pinned by a test here.
On edge values (tests/ioc/edge_values.db) caprobe prints what caget prints on Linux x86-64.
Timestamps of PVs that are not processed between the two runs match too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import servers
from cli_helpers import run, tool_env


def _epics_tools_dir() -> Path | None:
    configured = os.environ.get("CAPROBE_EPICS_TOOLS")
    if configured:
        return Path(configured)
    found = shutil.which("caget")
    return Path(found).parent if found else None


EPICS_TOOLS = _epics_tools_dir()
pytestmark = pytest.mark.skipif(
    EPICS_TOOLS is None or not (EPICS_TOOLS / "caget").exists(),
    reason="EPICS base's caget is not available (PATH or CAPROBE_EPICS_TOOLS)")

#: Every PV of the test IOC whose value and timestamp stay put while the tests run
#: (``counter`` counts; ``wf_big`` is read with -# only).
STATIC_PVS = ["ai", "ai.PREC", "ao", "long", "bo", "mbbo", "str", "lso", "lso_long", "lso.VAL$",
              "wf_double", "wf_float", "wf_char", "wf_long", "wf_short", "wf_empty", "ro",
              "short", "float", "gate", "gated", "disabled", "slow", "ai.DESC", "mbbo.ZRST",
              "ai.SCAN", "ai.HOPR", "wf_char.NORD"]


@pytest.fixture(scope="module")
def ioc(private_ioc: servers.Server) -> servers.Server:
    return private_ioc


def epics(tool: str, *args: str, server: servers.Server, timeout: float = 60
          ) -> subprocess.CompletedProcess[str]:
    assert EPICS_TOOLS is not None
    return subprocess.run([str(EPICS_TOOLS / tool), *args], env=tool_env(server),
                          capture_output=True, text=True, timeout=timeout, check=False)


def both(tool: str, *args: str, server: servers.Server
         ) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """(EPICS base's tool, caprobe's) run with the same arguments."""
    ours = {"caget": "get", "caput": "put", "camonitor": "monitor", "cainfo": "info"}[tool]
    return epics(tool, *args, server=server), run(ours, *args, server=server)


def pvs(server: servers.Server, names: list[str] | None = None) -> list[str]:
    return [server.pv(name) for name in (STATIC_PVS if names is None else names)]


# ---------------------------------------------------------------------------------------------
# caget

GET_OPTIONS = [
    [], ["-t"], ["-a"], ["-n"], ["-S"], ["-#", "3"], ["-#", "1"], ["-c"], ["-c", "-#", "2"],
    ["-e", "3"], ["-e", "0"], ["-f", "2"], ["-f", "0"], ["-g", "4"], ["-s"], ["-s", "-a"],
    ["-lx"], ["-lo"], ["-lb"], ["-0x"], ["-0o"], ["-0b"], ["-F", ","], ["-a", "-F", "|"],
    ["-t", "-S"], ["-n", "-a"], ["-t", "-n", "-0x"], ["-S", "-a"], ["-w", "3"], ["-p", "20"],
    ["-#", "0"], ["-#", "20"], ["-c", "-#", "20"], ["-e", "18"], ["-g", "0"], ["-f", "17"],
    ["-lx", "-t"], ["-0b", "-a"], ["-S", "-#", "4"], ["-s", "-f", "3"], ["-s", "-lx"],
    ["-e", "2", "-s"], ["-0o", "-n"], ["-F", "\t"], ["-t", "-F", ";"],
    ["-a", "-#", "2"], ["-e", "2", "-f", "4"], ["-f", "4", "-e", "2"],
]


@pytest.mark.parametrize("options", GET_OPTIONS, ids=lambda o: " ".join(o) or "default")
def test_caget_lines_match(ioc, options):
    theirs, ours = both("caget", *options, *pvs(ioc), server=ioc)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()
    assert ours.returncode == theirs.returncode


#: PVs whose text has no number form: the IOC fails a numeric read of them (caget then prints
#: a CA exception and zeros, caprobe one error line: compared separately).
TEXT_PVS = ["str", "lso", "lso_long", "ai.DESC", "mbbo.ZRST"]
DBR_NUMBERS = [str(n) for n in range(35)] + ["37", "38"]
STRING_TYPES = {"0", "7", "14", "21", "28", "37", "38"}


@pytest.mark.parametrize("dbr_type", DBR_NUMBERS + ["DBR_CTRL_DOUBLE", "STS_ENUM", "TIME_STRING"])
def test_caget_details_match(ioc, dbr_type):
    # (The classes native/status/time/graphic/control are caprobe's addition; caget has none.)
    names = [n for n in STATIC_PVS if dbr_type in STRING_TYPES or n not in TEXT_PVS]
    theirs, ours = both("caget", "-d", dbr_type, *pvs(ioc, names), server=ioc)
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()
    assert ours.returncode == theirs.returncode


def test_caget_details_of_a_failed_conversion(ioc):
    theirs, ours = both("caget", "-d", "DBR_DOUBLE", ioc.pv("str"), server=ioc)
    assert "Channel read request failed" in theirs.stderr
    assert ours.stdout == ""
    assert ours.stderr.strip().endswith("read failed: Channel read request failed (ECA_GETFAIL)")
    assert ours.returncode == 1


def test_caget_big_array_head_matches(ioc):
    for options in (["-#", "5"], ["-#", "5", "-t"], ["-#", "5", "-e", "2"]):
        theirs, ours = both("caget", *options, ioc.pv("wf_big"), ioc.pv("wf_300k"), server=ioc)
        assert ours.stdout.splitlines() == theirs.stdout.splitlines(), options


def test_caget_missing_pv(ioc):
    # Deliberate difference: caget gives up on all PVs when one is not found ("some PV(s) not
    # found", no values); caprobe-get prints every PV it could read and names the missing one.
    names = [ioc.pv("ai"), "no:such:pv", ioc.pv("long")]
    theirs, ours = both("caget", "-w", "0.3", *names, server=ioc)
    assert theirs.stderr == "Channel connect timed out: some PV(s) not found.\n"
    assert theirs.stdout == ""
    assert ours.returncode == theirs.returncode == 1
    assert ours.stdout.splitlines() == epics("caget", names[0], names[2],
                                             server=ioc).stdout.splitlines()
    assert ours.stderr == "Channel connect timed out: 'no:such:pv' not found.\n"
    single = epics("caget", "-w", "0.3", "no:such:pv", server=ioc)
    assert single.stderr == ours.stderr  # one PV: the same line as caget


# ---------------------------------------------------------------------------------------------
# caput: each write done by caput, undone, then done by caprobe-put

PUT_CASES = [
    ("ao", [], ["12.5"]),
    ("ao", ["-t"], ["-3"]),
    ("long", [], ["-77"]),
    ("long", [], ["0x10"]),
    ("mbbo", [], ["Four"]),
    ("mbbo", [], ["3"]),
    ("mbbo", ["-n"], ["5"]),
    ("mbbo", ["-s"], ["Two"]),
    ("bo", [], ["On"]),
    ("str", [], ["hello", "world"]),
    ("str", [], ["tab\\there"]),
    ("wf_double", ["-a"], ["3", "1", "2.5", "3"]),
    ("wf_long", ["-a"], ["2", "-1", "7"]),
    ("wf_char", ["-S"], ["some text"]),
    ("lso.VAL$", ["-S"], ["a long string that is longer than forty characters, really"]),
    ("slow", ["-c", "-w", "5"], ["2"]),
    ("short", [], ["-5"]),
    ("ao", ["-l"], ["7.25"]),
    ("ao", ["-F", ","], ["7.5"]),
    ("mbbo", ["-t"], ["Six"]),
    ("wf_short", ["-a", "-t"], ["3", "1", "-2", "32767"]),
    ("str", [], ["with \\\"quotes\\\" and a \\x41 escape"]),
    ("ao", [], ["1e2"]),
    ("long", [], ["-0x10"]),
    ("bo", ["-n"], ["1"]),
]


def _undo_arguments(server: servers.Server, suffix: str) -> tuple[list[str], list[str]]:
    """caput (options, values) that put the PV back as it is now."""
    name = server.pv(suffix)
    if suffix in ("wf_char", "lso.VAL$"):
        text = epics("caget", "-t", "-S", name, server=server).stdout.rstrip("\n")
        return ["-S"], [text]
    words = epics("caget", "-t", "-n", name, server=server).stdout.split()
    if suffix.startswith("wf_"):
        return ["-a"], words
    return (["-n"] if suffix in ("mbbo", "bo") else []), words


@pytest.mark.parametrize(("suffix", "options", "values"), PUT_CASES,
                         ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_caput_lines_match(ioc, suffix, options, values):
    undo_options, undo_values = _undo_arguments(ioc, suffix)
    name = ioc.pv(suffix)
    theirs = epics("caput", *options, name, *values, server=ioc)
    epics("caput", "-t", *undo_options, name, *undo_values, server=ioc)
    ours = run("put", *options, name, *values, server=ioc)
    epics("caput", "-t", *undo_options, name, *undo_values, server=ioc)
    # Each write processes the record: its timestamp (-l) differs between the two runs.
    def unstamped(text: str) -> list[str]:
        return [re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", "<stamp>", line)
                for line in text.splitlines()]

    assert unstamped(ours.stdout) == unstamped(theirs.stdout), (theirs.stderr, ours.stderr)
    assert ours.returncode == theirs.returncode


# ---------------------------------------------------------------------------------------------
# cainfo


def test_cainfo_lines_match(ioc):
    names = pvs(ioc, ["ai", "mbbo", "str", "wf_double", "ro", "lso.VAL$"])
    theirs, ours = both("cainfo", *names, server=ioc)
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()
    assert ours.returncode == theirs.returncode


# ---------------------------------------------------------------------------------------------
# camonitor: the first update of static PVs (it never exits by itself: stopped after them)

MONITOR_OPTIONS = [[], ["-t", "s"], ["-t", "n"], ["-n"], ["-S"], ["-#", "2"], ["-e", "2"],
                   ["-0x"], ["-F", ","], ["-m", "a"]]


def _first_lines(command: list[str], server: servers.Server, count: int) -> list[str]:
    process = subprocess.Popen(command, env=tool_env(server), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if len(lines) == count:
                break
    finally:
        process.kill()
        process.wait(timeout=10)
    return sorted(lines)  # channels connect in any order


@pytest.mark.parametrize("options", MONITOR_OPTIONS, ids=lambda o: " ".join(o) or "default")
def test_camonitor_first_lines_match(ioc, options):
    from cli_helpers import tool_command

    names = pvs(ioc, ["ai", "mbbo", "str", "wf_double", "wf_char", "long"])
    assert EPICS_TOOLS is not None
    theirs = _first_lines([str(EPICS_TOOLS / "camonitor"), *options, *names], ioc, len(names))
    ours = _first_lines([*tool_command("monitor"), *options, *names], ioc, len(names))
    # 'relative'/'incremental' time keys depend on when each tool started: mask the clock.
    if any(o in ("-t",) for o in options):
        theirs = [re.sub(r"\d+:\d\d:\d\d\.\d+", "T", line) for line in theirs]
        ours = [re.sub(r"\d+:\d\d:\d\d\.\d+", "T", line) for line in ours]
    assert ours == theirs


def test_camonitor_disconnect_and_reconnect_lines_match(ioc_factory):
    from cli_helpers import LineReader, tool_command

    assert EPICS_TOOLS is not None
    server = ioc_factory.softioc(ramps=())
    names = [server.pv("ai"), server.pv("wf_short")]
    commands = {"camonitor": [str(EPICS_TOOLS / "camonitor"), *names],
                "caprobe-monitor": [*tool_command("monitor"), *names]}
    processes = {tool: subprocess.Popen(command, env=tool_env(server), stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
                 for tool, command in commands.items()}
    readers = {tool: LineReader(process) for tool, process in processes.items()}
    try:
        def next_lines(count: int, marker: str = "") -> dict[str, list[str]]:
            got: dict[str, list[str]] = {}
            for tool, reader in readers.items():
                lines = [reader.wait_for(lambda line: marker in line) for _ in range(count)]
                got[tool] = sorted(re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", "<stamp>",
                                          line) for line in lines)
            return got

        first = next_lines(2)
        assert first["caprobe-monitor"] == first["camonitor"]
        server.kill()
        lost = next_lines(2, "***")
        assert lost["caprobe-monitor"] == lost["camonitor"]
        assert all(line.endswith("<stamp> *** disconnected") for line in lost["camonitor"])
        server.restart(same_port=True)
        back = next_lines(2)
        assert back["caprobe-monitor"] == back["camonitor"] == first["camonitor"]
    finally:
        for process in processes.values():
            process.kill()
            process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# The same comparisons against pcaspy (PCAS), the other C++ server

PCASPY_STATIC = [name for name in servers.PCASPY_PVS if name not in ("counter", "slow")]


@pytest.mark.parametrize("options", GET_OPTIONS[:24], ids=lambda o: " ".join(o) or "default")
def test_caget_lines_match_on_pcaspy(pcaspy_server, options):
    theirs, ours = both("caget", *options, *pvs(pcaspy_server, PCASPY_STATIC),
                        server=pcaspy_server)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()


@pytest.mark.parametrize("dbr_type", [t for t in DBR_NUMBERS if t != "37"])  # no STSACK in PCAS
def test_caget_details_match_on_pcaspy(pcaspy_server, dbr_type):
    names = [n for n in PCASPY_STATIC if n != "string" or dbr_type in STRING_TYPES]
    if dbr_type == "38":  # PCAS has no CLASS_NAME of an array
        names = [n for n in names if servers.PCASPY_PVS[n][1] == 1]
    theirs, ours = both("caget", "-d", dbr_type, *pvs(pcaspy_server, names),
                        server=pcaspy_server)
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()
    assert ours.returncode == theirs.returncode


@pytest.mark.parametrize(("suffix", "value"), [
    ("short", "70000"), ("ai", "abc"), ("str", "0123456789012345678901234567890123456789x")])
def test_values_caput_lets_through_are_refused_by_caprobe_put(ioc, suffix, value):
    # Deliberate difference: caput exits 0 although the IOC refused the value (a CA exception
    # dump between Old and New) or cut the string to 39 characters; caprobe-put checks first.
    before = epics("caget", "-t", ioc.pv(suffix), server=ioc).stdout
    try:
        theirs, ours = both("caput", ioc.pv(suffix), value, server=ioc)
        assert theirs.returncode == 0
        assert ours.returncode == 1 and ours.stdout == ""
        assert ours.stderr.strip().endswith("nothing was written")
    finally:
        epics("caput", "-t", ioc.pv(suffix), before.strip(), server=ioc)


# ---------------------------------------------------------------------------------------------
# Edge values where C leaves the text to the platform (tests/ioc/edge_values.db): caprobe prints
# what caget and camonitor print on Linux x86-64. -lx/-lo/-lb of a double with no 32-bit
# integer (NaN, inf, beyond +-2**31) is 0x80000000, C's conversion on x86 (caprobe clamped to
# 0x7FFFFFFF and printed NaN as 0x0 until issue 12); a NaN with its sign bit set is "-nan" (was
# "nan"); a CHAR prints as a signed byte.

EDGE_PVS = ["char", "uchar", "chars", "uchars", "nan", "neg_nan", "inf", "neg_inf", "big",
            "neg_big", "just_over", "just_under", "wf_edges", "wf_float_edges", "zero_by_zero"]
EDGE_OPTIONS = [[], ["-lx"], ["-lo"], ["-lb"], ["-e", "3"], ["-f", "2"], ["-g", "4"], ["-s"],
                ["-a"], ["-0x"], ["-d", "DBR_CTRL_DOUBLE"], ["-d", "DBR_TIME_CHAR"]]


@pytest.fixture(scope="module")
def edge_ioc() -> Iterator[servers.Server]:
    server = servers.start_softioc(db=servers.IOC_DIR / "edge_values.db", acf=None, ramps=())
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("options", EDGE_OPTIONS, ids=lambda o: " ".join(o) or "default")
def test_caget_edge_values_match(edge_ioc, options):
    theirs, ours = both("caget", *options, *pvs(edge_ioc, EDGE_PVS), server=edge_ioc)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()
    assert ours.returncode == theirs.returncode


def test_camonitor_edge_values_match(edge_ioc):
    from cli_helpers import tool_command

    assert EPICS_TOOLS is not None
    names = pvs(edge_ioc, ["neg_nan", "nan", "zero_by_zero", "char", "uchars", "wf_edges"])
    theirs = _first_lines([str(EPICS_TOOLS / "camonitor"), *names], edge_ioc, len(names))
    ours = _first_lines([*tool_command("monitor"), *names], edge_ioc, len(names))
    assert ours == theirs


#: Values caput writes to a CHAR-native PV (it sends the text; the IOC parses it with
#: epicsParseInt8 for DBF_CHAR, -128..127, and epicsParseUInt8 for DBF_UCHAR, -128..255).
CAPUT_CHAR_CASES = [("char", v) for v in ("-128", "-1", "0", "127")] + [
    ("uchar", v) for v in ("-128", "-1", "0", "127", "128", "255")]


@pytest.mark.parametrize(("suffix", "value"), CAPUT_CHAR_CASES, ids=lambda v: v)
def test_caput_char_boundaries_match(edge_ioc, suffix, value):
    name = edge_ioc.pv(suffix)
    before = epics("caget", "-t", name, server=edge_ioc).stdout.strip()
    try:
        theirs = epics("caput", "-t", name, value, server=edge_ioc)
        their_caget = epics("caget", name, server=edge_ioc).stdout
        epics("caput", "-t", name, before, server=edge_ioc)
        ours = run("put", "-t", name, value, server=edge_ioc)
        our_caget = epics("caget", name, server=edge_ioc).stdout
    finally:
        epics("caput", "-t", name, before, server=edge_ioc)
    assert theirs.stderr == "" and theirs.returncode == 0
    assert (ours.stdout, ours.returncode) == (theirs.stdout, theirs.returncode)
    assert our_caget == their_caget  # what caget shows after either write


@pytest.mark.parametrize("value", ["128", "255"])
def test_caput_refuses_bytes_above_127_for_a_signed_char_where_caprobe_put_writes_them(
        edge_ioc, value):
    # Deliberate difference: CA does not say whether a CHAR PV is a signed DBF_CHAR or an
    # unsigned DBF_UCHAR. caput sends text, which the IOC refuses for DBF_CHAR beyond 127 (a CA
    # exception dump, exit 0); caprobe-put sends the byte (DBR_CHAR is unsigned on the wire), so
    # 255 is stored as -1 in DBF_CHAR as in DBF_UCHAR, and caget shows -1 for both.
    name = edge_ioc.pv("char")
    before = epics("caget", "-t", name, server=edge_ioc).stdout.strip()
    try:
        theirs = epics("caput", "-t", name, value, server=edge_ioc)
        assert theirs.returncode == 0 and "Channel write request failed" in theirs.stderr
        assert epics("caget", "-t", name, server=edge_ioc).stdout.strip() == before
        ours = run("put", "-t", name, value, server=edge_ioc)
        assert ours.returncode == 0 and ours.stderr == ""
        signed = str(int(value) - 256)
        assert ours.stdout == f"{signed}\n"
        assert epics("caget", "-t", name, server=edge_ioc).stdout == f"{signed}\n"
    finally:
        epics("caput", "-t", name, before, server=edge_ioc)


@pytest.mark.parametrize(("suffix", "value", "caput_stores"), [
    ("char", "-129", None), ("uchar", "256", None), ("uchar", "-129", "127")])
def test_char_values_beyond_a_byte(edge_ioc, suffix, value, caput_stores):
    # caput exits 0 after the IOC's refusal (a CA exception dump), or, for a DBF_UCHAR, lets
    # epicsParseUInt8 wrap -129..-255 silently (-129 is stored as 127); caprobe-put refuses
    # first, one line, exit 1 (as in test_values_caput_lets_through_are_refused_by_caprobe_put).
    name = edge_ioc.pv(suffix)
    before = epics("caget", "-t", name, server=edge_ioc).stdout
    try:
        theirs = epics("caput", "-t", name, value, server=edge_ioc)
        assert theirs.returncode == 0
        if caput_stores is None:
            assert "Channel write request failed" in theirs.stderr
            assert epics("caget", "-t", name, server=edge_ioc).stdout == before
        else:
            assert theirs.stderr == "" and theirs.stdout == f"{caput_stores}\n"
        epics("caput", "-t", name, before.strip(), server=edge_ioc)
        ours = run("put", name, value, server=edge_ioc)
        assert ours.returncode == 1 and ours.stdout == ""
        assert ours.stderr.strip().endswith("nothing was written")
        assert epics("caget", "-t", name, server=edge_ioc).stdout == before
    finally:
        epics("caput", "-t", name, before.strip(), server=edge_ioc)


def test_cainfo_missing_pv(edge_ioc):
    # Deliberate difference: cainfo gives up on all PVs when one is not found ("some PV(s) not
    # found", no blocks); caprobe-info prints the block of every PV it found and names each
    # missing one, as caprobe-get does (exit code 1 either way).
    names = [edge_ioc.pv("char"), "no:such:pv", edge_ioc.pv("nan")]
    theirs, ours = both("cainfo", "-w", "0.3", *names, server=edge_ioc)
    assert theirs.stderr == "Channel connect timed out: some PV(s) not found.\n"
    assert theirs.stdout == ""
    assert ours.returncode == theirs.returncode == 1
    assert ours.stdout.splitlines() == epics("cainfo", names[0], names[2],
                                             server=edge_ioc).stdout.splitlines()
    assert ours.stderr == "Channel connect timed out: 'no:such:pv' not found.\n"
    single = epics("cainfo", "-w", "0.3", "no:such:pv", server=edge_ioc)
    assert single.stderr == ours.stderr  # one PV: the same line as cainfo
