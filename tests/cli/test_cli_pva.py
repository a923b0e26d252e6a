"""caprobe-get/put/monitor/info with pva:// names, run as an operator runs them, against real
PVA servers on loopback (the p4p server and EPICS records over QSRV)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("p4p")

import pva_servers  # noqa: E402
from cli_helpers import LineReader, popen, run  # noqa: E402

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"


@pytest.fixture(scope="module")
def p4p() -> Iterator[Any]:
    """A p4p server of this module's own: these tests write."""
    server = pva_servers.start_p4p_server()
    try:
        yield server
    finally:
        server.close()


def pv(server: Any, suffix: str) -> str:
    return f"pva://{server.pv(suffix)}"


def test_get_scalars_enum_array_like_caget(p4p: Any) -> None:
    result = run("get", pv(p4p, "double"), pv(p4p, "enum"), pv(p4p, "array"),
                 pv(p4p, "string"), env=p4p.pva_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{pv(p4p, 'double'):<30} 1.5",
        f"{pv(p4p, 'enum'):<30} Off",
        f"{pv(p4p, 'array')} 3 0.5 1.5 2.5",
        f"{pv(p4p, 'string'):<30} hello",
    ]


def test_get_options_apply(p4p: Any) -> None:
    assert run("get", "-t", pv(p4p, "long"), env=p4p.pva_env).stdout == "42\n"
    assert run("get", "-n", "-t", pv(p4p, "enum"), env=p4p.pva_env).stdout == "0\n"
    assert run("get", "-t", "-#", "2", pv(p4p, "array"), env=p4p.pva_env).stdout == \
        "2 0.5 1.5\n"
    assert run("get", "-t", "-s", pv(p4p, "double"), env=p4p.pva_env).stdout == "1.500\n"
    wide = run("get", "-a", pv(p4p, "double"), env=p4p.pva_env).stdout
    assert re.fullmatch(rf"{re.escape(pv(p4p, 'double'))} +{STAMP} 1\.5  \n", wide)


def test_get_structures_print_as_pvget(p4p: Any) -> None:
    result = run("get", pv(p4p, "table"), pv(p4p, "custom"), env=p4p.pva_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        pv(p4p, "table"),
        "    a   b c",
        "    1 0.5 x",
        "    2 1.5 y",
        pv(p4p, "custom"),
        '    struct "caprobe:test/custom:1.0" {',
        "        double[] a = {2}[1, 2]",
        '        string b = "text"',
        "        struct {",
        "            int32_t x = 7",
        "        } nested",
        "    }",
    ]


def test_get_details_view(p4p: Any) -> None:
    lines = run("get", "-d", "control", pv(p4p, "double"), env=p4p.pva_env).stdout.splitlines()
    assert lines[:3] == [pv(p4p, "double"), "    Type:             NTScalar double",
                         "    Value:            1.5"]
    for expected in ("    Units:            mm", "    Precision:        3",
                     "    Hi alarm limit:   9", "    Lo ctrl limit:    -100",
                     "    Status:           NO_ALARM"):
        assert expected in lines
    assert '        struct "epics:nt/NTScalar:1.0" {' in lines


def test_get_missing_and_bad_names_one_line_each(p4p: Any) -> None:
    result = run("get", "-w", "0.3", "pva://nope:missing", "loc://x", pv(p4p, "long"),
                 env=p4p.pva_env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Channel connect timed out: 'pva://nope:missing' not found.",
        "'loc://x': unknown protocol 'loc://'; caprobe speaks ca:// (Channel Access) and "
        "pva:// (PV Access)",
    ]
    assert result.stdout == f"{pv(p4p, 'long'):<30} 42\n"


def test_bare_names_follow_the_default_protocol(p4p: Any) -> None:
    env = {**p4p.pva_env, "CAPROBE_DEFAULT_PROTOCOL": "pva"}
    result = run("get", p4p.pv("long"), env=env)
    assert result.stdout == f"{p4p.pv('long'):<30} 42\n", result.stderr


def test_info(p4p: Any) -> None:
    lines = run("info", pv(p4p, "array"), env=p4p.pva_env).stdout.splitlines()
    assert lines[:6] == [
        pv(p4p, "array"),
        "    State:            connected",
        "    Protocol:         PV Access",
        "    Type:             NTScalarArray double[] (epics:nt/NTScalarArray:1.0)",
        "    Value type:       double[]",
        "    Element count:    3",
    ]
    assert "            double[] value" in lines


def test_put_old_new_for_each_kind(p4p: Any) -> None:
    result = run("put", pv(p4p, "double"), "2.5", env=p4p.pva_env)
    assert result.stdout.splitlines() == [f"Old : {pv(p4p, 'double'):<30} 1.5",
                                          f"New : {pv(p4p, 'double'):<30} 2.5"], result.stderr
    result = run("put", "-c", pv(p4p, "enum"), "Fault", env=p4p.pva_env)
    assert result.stdout.splitlines()[-1] == f"New : {pv(p4p, 'enum'):<30} Fault"
    result = run("put", "-a", pv(p4p, "int_array"), "2", "7", "8", env=p4p.pva_env)
    assert result.stdout.splitlines()[-1] == f"New : {pv(p4p, 'int_array')} 2 7 8"
    result = run("put", "-t", pv(p4p, "custom"), '{"b": "from cli"}', env=p4p.pva_env)
    assert '        string b = "from cli"' in result.stdout.splitlines(), result.stderr


@pytest.mark.parametrize(("suffix", "value", "message"), [
    ("ro", "1", "no write access (the server says: Put not permitted: read-only PV); "
                "nothing was written"),
    ("long", "abc", "'abc' is not a number; nothing was written"),
    ("enum", "Nope", "'Nope' is not one of the states"),
    ("custom", "5", "takes a JSON object of fields"),
])
def test_put_refused_one_line_and_exit_1(p4p: Any, suffix: str, value: str,
                                         message: str) -> None:
    before = run("get", "-t", pv(p4p, suffix), env=p4p.pva_env).stdout
    result = run("put", pv(p4p, suffix), value, env=p4p.pva_env)
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 1 and message in errors[0] and errors[0].count("pva://") == 1
    assert run("get", "-t", pv(p4p, suffix), env=p4p.pva_env).stdout == before


def test_monitor_prints_every_update_of_a_burst(p4p: Any) -> None:
    process = popen("monitor", "--count", "21", pv(p4p, "seq"), env=p4p.pva_env)
    reader = LineReader(process)
    try:
        reader.wait_for(lambda line: line.startswith(pv(p4p, "seq")))
        run("put", pv(p4p, "burst"), "20", env=p4p.pva_env)
        reader.wait_for(lambda line: line.split()[-1] == "20")
        process.wait(timeout=20)
        values = [int(line.split()[-1]) for line in reader.lines[1:]]
    finally:
        process.kill()
        process.wait()
    assert values == list(range(1, 21))
    assert process.returncode == 0


def test_monitor_ca_and_pva_together(qsrv_server: Any) -> None:
    env = {**qsrv_server.env, **qsrv_server.pva_env}
    result = run("monitor", "--duration", "1.5", qsrv_server.pv("ai"),
                 f"pva://{qsrv_server.pv('ai')}", f"ca://{qsrv_server.pv('bo')}", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    names = {line.split()[0] for line in lines}
    assert names == {qsrv_server.pv("ai"), f"pva://{qsrv_server.pv('ai')}",
                     f"ca://{qsrv_server.pv('bo')}"}
    for line in lines:
        assert re.fullmatch(rf"\S+ +{STAMP} (1\.5|Off)  ", line), line


def test_without_p4p_one_line_says_how_to_install() -> None:
    code = ("import sys; sys.modules['p4p'] = None\n"
            "from caprobe.cli.get import main; sys.exit(main(['pva://x', 'ca://y']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=dict(os.environ))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].endswith(
        "install it with: pip install 'caprobe[pva]'")
    assert "Traceback" not in result.stderr


def test_get_ca_and_pva_in_argument_order(qsrv_server: Any) -> None:
    q = qsrv_server
    env = {**q.env, **q.pva_env}
    result = run("get", q.pv("ai"), f"pva://{q.pv('ai')}", f"ca://{q.pv('bo')}",
                 f"pva://{q.pv('str')}", q.pv("long"), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{q.pv('ai'):<30} 1.5",
        f"{'pva://' + q.pv('ai'):<30} 1.5",
        f"{q.pv('bo'):<30} Off",  # a ca:// name goes through the CA code as its bare name
        f"{'pva://' + q.pv('str'):<30} hello",
        f"{q.pv('long'):<30} 42",
    ]


def test_ca_names_with_pva_as_the_default(qsrv_server: Any) -> None:
    q = qsrv_server
    env = {**q.env, **q.pva_env, "CAPROBE_DEFAULT_PROTOCOL": "pva"}
    result = run("info", f"ca://{q.pv('ai')}", q.pv("ai"), env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == q.pv("ai") and "    Native data type: DBF_DOUBLE" in lines
    assert "    Protocol:         PV Access" in lines  # the bare name went over PVA
