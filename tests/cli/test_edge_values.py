"""The CLI tools on values where EPICS base's tools leave the result to C and the platform
(CHAR's sign, -lx of a double with no 32-bit integer, a NaN's sign) and on a missing PV among
several in caprobe-info, against a real soft IOC serving tests/ioc/edge_values.db.

caprobe's choice for each is on the tools' pages (docs/cli/caprobe-get.rst, caprobe-put.rst,
caprobe-info.rst: differences from EPICS base's tools); where EPICS
base's tools are built, tests/cli/test_against_epics_tools.py checks the same PVs line by line
against them. Here the expected text is what caget 7.0.10 prints on Linux x86-64.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import servers
from cli_helpers import run

from caprobe import ca

EDGE_DB = servers.IOC_DIR / "edge_values.db"
NO_LONG = {"-lx": "0x80000000", "-lo": "0o20000000000", "-lb": "1" + "0" * 31}


@pytest.fixture(scope="module")
def ioc() -> Iterator[servers.Server]:
    server = servers.start_softioc(db=EDGE_DB, acf=None, ramps=())
    try:
        yield server
    finally:
        server.close()


def get(ioc: servers.Server, *args: str) -> str:
    result = run("get", *args, server=ioc)
    assert result.returncode == 0, result.stderr
    return result.stdout


def field_value(suffix: str, ioc: servers.Server) -> list[int]:
    """What the record holds, read in-process through the IOC's own conversion to DBR_SHORT
    (which, unlike DBR_CHAR, keeps a DBF_UCHAR's 255 as 255)."""
    response = ca.read(ioc.pv(suffix), data_type=ca.ChannelType.INT, timeout=5.0)
    return [int(v) for v in response.data]


# ---------------------------------------------------------------------------------------------
# CHAR: a byte in either spelling, -128..255

#: (typed, what the record then holds, what caget and caprobe-get print: the byte, signed)
CHAR_CASES = {
    # signed DBF_CHAR: 128..255 are the bytes of -128..-1 (caput refuses them: docs/cli/caprobe-put.rst)
    "char": [("-128", -128, "-128"), ("-1", -1, "-1"), ("0", 0, "0"), ("127", 127, "127"),
             ("128", -128, "-128"), ("255", -1, "-1"), ("0x80", -128, "-128")],
    # unsigned DBF_UCHAR: -128..-1 are the bytes of 128..255 (caput does the same)
    "uchar": [("-128", 128, "-128"), ("-1", 255, "-1"), ("0", 0, "0"), ("127", 127, "127"),
              ("128", 128, "-128"), ("255", 255, "-1"), ("0xFF", 255, "-1")],
}


@pytest.mark.parametrize("suffix", list(CHAR_CASES))
def test_char_boundaries_written_by_caprobe_put(ioc, ca_env, suffix):
    ca_env(ioc)
    before = field_value(suffix, ioc)
    try:
        for typed, held, shown in CHAR_CASES[suffix]:
            result = run("put", "-t", ioc.pv(suffix), typed, server=ioc)
            assert result.returncode == 0, (typed, result.stderr)
            assert result.stdout == f"{shown}\n", typed  # the New value caget would print
            assert field_value(suffix, ioc) == [held], typed
        assert get(ioc, "-t", ioc.pv(suffix)) == f"{shown}\n"
        # The library takes both spellings too (the rule is dbr.encode's as well).
        ca.write(ioc.pv(suffix), -2, timeout=5.0)
        assert field_value(suffix, ioc) == [-2 if suffix == "char" else 254]
    finally:
        ca.write(ioc.pv(suffix), before, timeout=5.0)


def test_char_outside_a_byte_is_refused_and_nothing_written(ioc, ca_env):
    ca_env(ioc)
    for suffix in CHAR_CASES:
        before = field_value(suffix, ioc)
        for typed in ("-129", "256", "1.5", "nan"):
            result = run("put", ioc.pv(suffix), typed, server=ioc)
            assert result.returncode == 1 and result.stdout == "", typed
            assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
            assert "DBF_CHAR" in result.stderr, result.stderr
            assert result.stderr.endswith("nothing was written\n"), result.stderr
        assert field_value(suffix, ioc) == before
        with pytest.raises(ca.ValueRefused, match="-128 to 255"):
            ca.write(ioc.pv(suffix), 256, timeout=5.0)


def test_char_arrays_in_either_spelling(ioc, ca_env):
    ca_env(ioc)
    for suffix, held in (("chars", [-128, -1, 0, 127]), ("uchars", [128, 255, 0, 127])):
        before = field_value(suffix, ioc)
        try:
            result = run("put", "-t", "-a", ioc.pv(suffix), "4", "-128", "255", "0", "127",
                         server=ioc)
            assert result.returncode == 0, result.stderr
            assert result.stdout == "4 -128 -1 0 127\n"
            assert field_value(suffix, ioc) == held
        finally:
            ca.write(ioc.pv(suffix), before, timeout=5.0)
        refused = run("put", "-a", ioc.pv(suffix), "2", "0", "-129", server=ioc)
        assert refused.returncode == 1
        assert "element 1: -129 is out of range for DBF_CHAR (-128..255)" in refused.stderr
        assert field_value(suffix, ioc) == before


# ---------------------------------------------------------------------------------------------
# -lx/-lo/-lb of a double with no 32-bit integer: 0x80000000, as caget on x86


@pytest.mark.parametrize("option", ["-lx", "-lo", "-lb"])
def test_dash_l_without_a_32_bit_integer(ioc, option):
    names = ["nan", "neg_nan", "inf", "neg_inf", "big", "neg_big", "just_over", "zero_by_zero"]
    lines = get(ioc, "-t", option, *[ioc.pv(n) for n in names]).splitlines()
    assert lines == [NO_LONG[option]] * len(names)
    edges = get(ioc, "-t", option, ioc.pv("wf_edges"), ioc.pv("wf_float_edges")).splitlines()
    top = {"-lx": "0x7FFFFFFF", "-lo": "0o17777777777", "-lb": "1" * 31}[option]
    no = NO_LONG[option]
    # 2147483647.4 rounds to 2**31-1; -2147483648.4 to -2**31, whose bits are the same 0x80000000
    assert edges[0] == f"6 {no} {no} {top} {no} {no} {no}"
    assert edges[1].split()[:3] == ["4", no, no]


# ---------------------------------------------------------------------------------------------
# A NaN's sign: -nan, as caget and camonitor print it


def test_negative_nan_prints_minus_nan(ioc):
    assert get(ioc, "-t", ioc.pv("nan"), ioc.pv("neg_nan")) == "nan\n-nan\n"
    assert get(ioc, "-t", "-e", "3", ioc.pv("neg_nan")) == "-nan\n"
    assert get(ioc, "-t", "-f", "2", ioc.pv("neg_nan")) == "-nan\n"
    # The IOC's own text (-s asks it for DBR_STRING) says the same.
    assert get(ioc, "-t", "-s", ioc.pv("neg_nan")) == "-nan\n"


def test_negative_nan_written_and_read_back(ioc):
    try:
        result = run("put", ioc.pv("scratch"), "-nan", server=ioc)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[1].split()[-1] == "-nan"
        assert get(ioc, "-t", ioc.pv("scratch")) == "-nan\n"
        result = run("put", "-t", "-a", ioc.pv("wf_scratch"), "4", "nan", "-nan", "1", "-nan",
                     server=ioc)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "4 nan -nan 1 -nan\n"
        assert get(ioc, "-t", "-c", ioc.pv("wf_scratch")) == "4 nan -nan 1 -nan\n"
    finally:
        run("put", "-t", ioc.pv("scratch"), "0", server=ioc)
        run("put", "-t", "-a", ioc.pv("wf_scratch"), "4", "0", "0", "0", "0", server=ioc)


# ---------------------------------------------------------------------------------------------
# caprobe-info with missing PVs among several: every PV found is printed, each missing one named


def test_info_prints_the_found_pvs_and_names_each_missing_one(ioc):
    found = [ioc.pv("char"), ioc.pv("nan"), ioc.pv("wf_edges")]
    asked = [found[0], "no:such:pv:1", found[1], "no:such:pv:2", found[2]]
    result = run("info", "-w", "0.5", *asked, server=ioc)
    alone = run("info", *found, server=ioc)
    assert alone.returncode == 0
    assert result.stdout == alone.stdout  # the same blocks, in the order asked
    assert result.stderr.splitlines() == [
        "Channel connect timed out: 'no:such:pv:1' not found.",
        "Channel connect timed out: 'no:such:pv:2' not found."]
    assert result.returncode == 1  # as cainfo's, which prints no block at all (docs/cli/caprobe-info.rst)
