"""caprobe-monitor against real IOCs: camonitor's lines, stop conditions, Ctrl+C, and a
disconnect/reconnect of a killed and restarted IOC."""

from __future__ import annotations

import re
import signal

import pytest
from cli_helpers import LineReader, popen, run

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"


@pytest.fixture(scope="module")
def ioc(softioc_server):
    return softioc_server


def monitor(ioc, *args, **kwargs):
    full = [ioc.pv(a[1:]) if a.startswith(":") else a for a in args]
    return run("monitor", *full, server=ioc, **kwargs)


def name(ioc, pv):
    return re.escape(f"{ioc.pv(pv):<30}")


def test_count_stops_after_n_updates(ioc):
    result = monitor(ioc, "--count", "3", ":counter")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout.splitlines()
    assert len(out) == 3
    values = []
    for line in out:
        match = re.fullmatch(rf"{name(ioc, 'counter')} {STAMP} (\d+)  ", line)
        assert match, line
        values.append(int(match.group(1)))
    assert values == sorted(values) and len(set(values)) == 3


def test_several_pvs_and_formats(ioc):
    result = monitor(ioc, "--count", "3", "-t", "n", ":ai", ":mbbo", ":wf_double")
    assert result.returncode == 0, result.stderr
    # each PV's first update arrives once; their order between PVs is not defined
    assert sorted(result.stdout.splitlines()) == sorted([
        f"{ioc.pv('ai'):<30}  1.5  ",
        f"{ioc.pv('mbbo'):<30}  Zero  ",
        f"{ioc.pv('wf_double')}  5 0.5 1.5 2.5 3.5 4.5  ",
    ])


def test_enum_number_string_float_and_char_options(ioc):
    result = monitor(ioc, "--count", "4", "-t", "n", "-n", "-s", "-S", ":mbbo", ":ai",
                     ":wf_char", ":wf_empty")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted([
        f"{ioc.pv('mbbo'):<30}  0  ",
        f"{ioc.pv('ai'):<30}  1.500  ",
        f"{ioc.pv('wf_char')}  hello world  ",
        f"{ioc.pv('wf_empty'):<30}   UDF INVALID",
    ])


def test_requested_count_and_separator(ioc):
    result = monitor(ioc, "--count", "1", "-#", "2", "-F", ";", "-t", "n", ":wf_double")
    assert result.stdout == f"{ioc.pv('wf_double')};;2;0.5;1.5;;\n"


def test_time_keys(ioc):
    # c: client time in parentheses; I: after the first line, increments per channel
    result = monitor(ioc, "--count", "3", "-t", "cI", ":counter")
    out = result.stdout.splitlines()
    assert re.fullmatch(rf"{name(ioc, 'counter')} \({STAMP}\) \d+  ", out[0]), out[0]
    for line in out[1:]:
        assert re.fullmatch(rf"{name(ioc, 'counter')}  {{14}}\( *\+0\.\d{{6}}\) \d+  ",
                            line), line
    result = monitor(ioc, "--count", "2", "-t", "sr", ":counter")
    out = result.stdout.splitlines()
    assert re.fullmatch(rf"{name(ioc, 'counter')} {STAMP} \d+  ", out[0]), out[0]
    assert re.fullmatch(rf"{name(ioc, 'counter')}  {{14}} *\+0\.\d{{6}} \d+  ", out[1]), out[1]


def test_nanoseconds(ioc):
    result = monitor(ioc, "--count", "1", "--ns", ":ai")
    assert re.fullmatch(rf"{name(ioc, 'ai')} \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{9}} 1\.5  \n",
                        result.stdout), result.stdout


def test_duration_and_pv_not_found(ioc):
    result = monitor(ioc, "--duration", "1.5", "-w", "0.3", ":ai", "no:such:pv")
    assert result.returncode == 1  # a PV was never found
    out = result.stdout.splitlines()
    assert f"{'no:such:pv':<30} *** Not connected (PV not found)" in out
    assert any(re.fullmatch(rf"{name(ioc, 'ai')} {STAMP} 1\.5  ", line) for line in out), out
    assert "Traceback" not in result.stderr


def test_duration_shorter_than_timeout_still_reports_missing_pv(ioc):
    result = monitor(ioc, "--duration", "0.3", "-w", "5", "no:such:pv")
    assert result.returncode == 1
    assert result.stdout == f"{'no:such:pv':<30} *** Not connected (PV not found)\n"


def test_value_mask_only(ioc):
    # -m v on a PV that never changes: exactly the initial update
    result = monitor(ioc, "--duration", "0.8", "-m", "v", "-t", "n", ":ai")
    assert result.stdout == f"{ioc.pv('ai'):<30}  1.5  \n"


def test_bad_mask_is_usage_error(ioc):
    result = monitor(ioc, "-m", "vx", ":ai")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert "invalid event mask" in result.stderr


def test_ctrl_c_exits_zero_quietly(ioc):
    process = popen("monitor", ioc.pv("counter"), server=ioc)
    try:
        reader = LineReader(process)
        reader.wait_for(lambda line: line.startswith(ioc.pv("counter")))
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_disconnect_and_reconnect(ioc_factory):
    server = ioc_factory.softioc(ramps=())
    pv = server.pv("counter")
    process = popen("monitor", "-w", "0.5", pv, server=server)
    try:
        reader = LineReader(process)
        first = reader.wait_for(lambda line: line.startswith(pv))
        assert re.fullmatch(rf"{re.escape(f'{pv:<30}')} {STAMP} \d+  ", first), first
        server.kill()
        lost = reader.wait_for(lambda line: "***" in line)
        assert re.fullmatch(rf"{re.escape(f'{pv:<30}')} {STAMP} \*\*\* disconnected", lost), lost
        server.restart(same_port=True)
        back = reader.wait_for(lambda line: line.startswith(pv) and "***" not in line,
                               timeout=30)
        assert re.fullmatch(rf"{re.escape(f'{pv:<30}')} {STAMP} \d+  ", back), back
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_pv_name_is_skipped_and_reported(ioc):
    result = monitor(ioc, "--count", "1", "-t", "n", "bad name", ":ai")
    assert result.returncode == 1
    assert result.stdout == f"{ioc.pv('ai'):<30}  1.5  \n"
    assert len(result.stderr.splitlines()) == 1
    assert "white space" in result.stderr


def test_reader_going_away_stops_the_monitor_quietly(ioc):
    # `caprobe-monitor PV | head -1`: no traceback per update, just a clean exit
    process = popen("monitor", ioc.pv("counter"), server=ioc)
    try:
        assert process.stdout.readline().startswith(ioc.pv("counter"))
        process.stdout.close()
        assert process.wait(timeout=15) == 0
        assert process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_updates_delivered_after_the_count_are_not_printed(softioc_env, monkeypatch, capsys):
    """interrupt() makes block() return promptly, yet updates the client already holds may still
    reach the callback (seen on a loaded machine: --count 20 printed 21 lines). Three real
    updates of the counter, handed to a --count 2 monitor, print two lines and interrupt once."""
    from caprobe import ca
    from caprobe.cli import monitor as monitor_cli

    pv = softioc_env.pv("counter")
    updates = []
    sub = ca.subscribe(pv)

    def collect(_sub, response):
        if not isinstance(response, ca.ConnectionEvent):
            updates.append(response)
            if len(updates) == 3:
                sub.interrupt()

    sub.add_callback(collect)
    sub.block(duration=10.0, timeout=5.0, repeater=False)
    assert len(updates) == 3

    interrupts = []
    monkeypatch.setattr(ca, "interrupt", lambda: interrupts.append(True))
    monitor = monitor_cli.Monitor(monitor_cli.build_parser().parse_args(["--count", "2", pv]))
    monitor.channels[pv] = monitor_cli._Channel(pv)
    for response in updates:
        monitor.on_update(sub, response)
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in out] == [str(int(u.data[0])) for u in updates[:2]]
    assert interrupts == [True]
