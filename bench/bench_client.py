"""One-shot operations: caprobe.ca vs caproto.sync.client (stock) vs pyepics, one soft IOC.

    .venv/bin/python bench/bench_client.py [--reads 300] [--writes 300] [--big 20] [--profile]

Starts ONE EPICS base soft IOC (rsrv via pythonSoftIOC, PVA off, tests/ioc/test.db) on a
free loopback port through tests/servers.py, then runs every client in its own subprocess
against it (EPICS_CA_ADDR_LIST=127.0.0.1, EPICS_CA_AUTO_ADDR_LIST=NO, server port P,
repeater port P+1; never 5064/5065; repeater=False where the API has it):

- read() of a scalar (an ai) and write(notify=True) of a scalar (an ao), each call on a fresh
  connection (search, TCP connect, create channel, request, clear, close); median and p90
  of ``--reads`` / ``--writes`` calls after a warm-up. pyepics cannot open a fresh context
  per call, so its figures are the cached-channel ``caget(use_monitor=False)`` /
  ``caput(wait=True)`` round trips; its first-connect cost is measured separately on new
  PV names (``caget`` of a name the process has not used yet);
- read of a 1,000,000-double waveform (8 MB payload): median of ``--big`` reads, and the
  peak RSS growth of one read in a fresh subprocess per client (ru_maxrss before/after).

Prints a markdown table and writes bench/results/bench_client-<stamp>.json. ``--profile``
adds cProfile's top functions for caprobe's three operations.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _support
from _support import servers

SCALAR_READ = "ai"
SCALAR_WRITE = "ao"
BIG_WAVEFORM = "wf_big"
BIG_COUNT = 1_000_000
PAYLOAD_MB = BIG_COUNT * 8 / 2**20
# Distinct PV names for pyepics' first-connect figure (each name connects once per process).
FIRST_CONNECT_NAMES = [f"{record}.{field}" for record in ("ai", "ao", "long", "ro")
                       for field in ("DESC", "EGU", "HOPR", "LOPR", "SCAN")]

HEADER = struct.Struct(">HHHHII")
TARGETS = {"read": 0.5, "write": 0.6, "big": 10.0, "rss_ratio": 1.5}


# ---------------------------------------------------------------------------------------------
# Worker side (one client per process)


def client_ops(client: str, prefix: str) -> dict[str, Callable[[], Any]]:
    """The measured operations of ``client`` as zero-argument callables."""
    read_pv, write_pv, big_pv = (prefix + SCALAR_READ, prefix + SCALAR_WRITE,
                                 prefix + BIG_WAVEFORM)
    values = iter(range(10**9))
    if client == "caprobe":
        from caprobe import ca

        return {
            "read": lambda: ca.read(read_pv, timeout=5.0, repeater=False),
            "write": lambda: ca.write(write_pv, next(values) % 50, notify=True, timeout=5.0,
                                      repeater=False),
            "big": lambda: ca.read(big_pv, timeout=10.0, repeater=False).data,
        }
    if client == "caproto.sync":
        from caproto.sync import client as caproto_client

        return {
            "read": lambda: caproto_client.read(read_pv, timeout=5.0, repeater=False),
            "write": lambda: caproto_client.write(write_pv, next(values) % 50, notify=True,
                                                  timeout=5.0, repeater=False),
            "big": lambda: caproto_client.read(big_pv, timeout=10.0, repeater=False).data,
        }
    if client == "pyepics":
        import epics

        def checked(value: Any) -> Any:
            if value is None:  # pyepics reports failures as None
                raise RuntimeError("pyepics returned None (timeout or not connected)")
            return value

        return {
            "read": lambda: checked(epics.caget(read_pv, use_monitor=False, timeout=5.0)),
            "write": lambda: checked(epics.caput(write_pv, next(values) % 50, wait=True,
                                                 timeout=5.0)),
            "big": lambda: checked(epics.caget(big_pv, use_monitor=False, timeout=10.0)),
        }
    raise ValueError(f"unknown client {client!r}")


def _recv_until(sock: Any, command: int) -> tuple[int, ...]:
    """Headers from ``sock`` until one with ``command``; returns that header."""
    buffer = b""
    while True:
        while len(buffer) < 16:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the circuit")
            buffer += chunk
        header = HEADER.unpack_from(buffer)
        size = header[1]
        while len(buffer) < 16 + size:
            buffer += sock.recv(65536)
        if header[0] == command:
            return header
        buffer = buffer[16 + size:]


def raw_read(pv: str, port: int) -> None:
    """The protocol floor of a fresh-connection read: the same 4 round trips as every
    client here (UDP search, TCP connect, create channel, READ_NOTIFY), with hand-packed
    bytes and no error handling. Shows what this machine and rsrv allow."""
    cid = 1
    name = servers._pad8(pv.encode() + b"\0")
    # Blocking sockets without timeouts: a timeout makes CPython poll before every call,
    # which would raise the floor. A lost datagram would hang; run_worker's timeout kills it.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(servers.pack_search_request(pv, cid), (servers.LOCALHOST, port))
        reply = servers.parse_search_reply(udp.recv(1024), cid)
    assert reply is not None
    with socket.create_connection((servers.LOCALHOST, reply[0])) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        user = b"bench\0\0\0"
        sock.sendall(HEADER.pack(0, 0, 0, 13, 0, 0)
                     + HEADER.pack(21, 8, 0, 0, 0, 0) + user
                     + HEADER.pack(20, 8, 0, 0, 0, 0) + user
                     + HEADER.pack(18, len(name), 0, 0, cid, 13) + name)
        sid = _recv_until(sock, 18)[5]
        sock.sendall(HEADER.pack(15, 0, 6, 1, sid, 1))  # READ_NOTIFY DBR_DOUBLE x1
        _recv_until(sock, 15)
        sock.sendall(HEADER.pack(12, 0, 0, 0, sid, cid))  # CLEAR_CHANNEL, no wait


def check_big(data: Any) -> None:
    if len(data) != BIG_COUNT or float(data[-1]) != BIG_COUNT - 1:
        raise RuntimeError(f"1M waveform read wrong: {len(data)} elements")


def worker_timing(args: argparse.Namespace) -> dict[str, Any]:
    ops = client_ops(args.client, args.prefix)
    check_big(ops["big"]())
    result: dict[str, Any] = {"client": args.client}
    port = int(os.environ["EPICS_CA_SERVER_PORT"])
    read_pv = args.prefix + SCALAR_READ
    for op, count, warmup in (("read", args.reads, 30), ("write", args.writes, 30),
                              ("big", args.big, 2)):
        funcs = [ops[op]]
        if op == "read" and args.client == "caprobe":
            # The protocol floor, interleaved call by call with caprobe's reads.
            funcs.append(lambda: raw_read(read_pv, port))
        timed = _support.time_alternating(funcs, count, warmup)
        for key, (walls, cpu) in zip((op, "raw_read")[:len(timed)], timed, strict=True):
            result[key] = _support.summarize(walls)
            # Client CPU (all threads) per call: how much of the wall time this process
            # works rather than waits for the server.
            result[key]["cpu_ms"] = cpu * 1e3 / count
    if args.client == "pyepics":
        import epics

        first = []
        for suffix in FIRST_CONNECT_NAMES:
            began = time.perf_counter()
            if epics.caget(args.prefix + suffix, timeout=5.0, connection_timeout=5.0) is None:
                raise RuntimeError(f"pyepics could not read {args.prefix + suffix}")
            first.append(time.perf_counter() - began)
        result["first_connect"] = _support.summarize(first)
    if args.profile:
        result["profile"] = {
            "read": _support.profile_top(lambda: [ops["read"]() for _ in range(300)], 25,
                                         cpu=True),
            "write": _support.profile_top(lambda: [ops["write"]() for _ in range(300)], 25,
                                          cpu=True),
            "big": _support.profile_top(lambda: [ops["big"]() for _ in range(10)], 15),
        }
    return result


def worker_rss(args: argparse.Namespace) -> dict[str, Any]:
    ops = client_ops(args.client, args.prefix)
    ops["read"]()  # imports, sockets and code paths warm; the big read is the first one
    import numpy  # noqa: F401  caprobe imports it on the first array; the others at import
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    data = ops["big"]()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    check_big(data)
    del data
    gc.collect()
    data = ops["big"]()  # noqa: F841  (held, as a caller would, while RSS is taken)
    after_second = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"client": args.client, "maxrss_before_mb": before / 1024,
            "growth_mb": (after - before) / 1024,
            "growth_second_read_mb": (after_second - after) / 1024}


# ---------------------------------------------------------------------------------------------
# Orchestrator


def cell_ms(stats: dict[str, float] | None, target: float | None = None) -> str:
    if not stats:
        return "-"
    mark = ""
    if target is not None:
        mark = " ✅" if stats["median_ms"] <= target else " ❌"
    return f"{stats['median_ms']:.3g} ms (p90 {stats['p90_ms']:.3g}){mark}"


def build_table(timing: dict[str, dict[str, Any]], rss: dict[str, dict[str, Any]]) -> str:
    clients = _support.CLIENTS

    def row(label: str, key: str, target: str, caprobe_target: float | None) -> list[str]:
        cells = []
        for client in clients:
            cell = cell_ms(timing[client].get(key),
                           caprobe_target if client == "caprobe" else None)
            if client == "pyepics" and key in ("read", "write", "big"):
                cell += " ¹"
            cells.append(cell)
        return [label, *cells, target]

    rows = [
        row("read() scalar, fresh connection per call", "read", "≤ 0.5 ms median",
            TARGETS["read"]),
        row("write(notify=True) scalar, fresh connection", "write", "≤ 0.6 ms median",
            TARGETS["write"]),
        row("read 1,000,000 doubles (7.63 MiB)", "big", "≤ 10 ms median", TARGETS["big"]),
    ]
    rss_cells = []
    for client in clients:
        growth = rss[client]["growth_mb"]
        ratio = growth / PAYLOAD_MB
        mark = ""
        if client == "caprobe":
            mark = " ✅" if ratio <= TARGETS["rss_ratio"] else " ❌"
        rss_cells.append(f"{growth:.1f} MiB ({ratio:.2f}× payload){mark}")
    rows.append(["client CPU per read() / write() / 1M read", *[
        " / ".join(f"{timing[c][op]['cpu_ms']:.3g}" for op in ("read", "write", "big")) + " ms"
        for c in clients], "(reference)"])
    rss_limit = TARGETS["rss_ratio"] * PAYLOAD_MB
    rows.append(["1M-double read: peak RSS growth (fresh process)", *rss_cells,
                 f"≤ {TARGETS['rss_ratio']}× payload ({rss_limit:.1f} MiB)"])
    first = timing["pyepics"].get("first_connect")
    rows.append(["pyepics: first connect + caget of a new PV name", "-", "-",
                 cell_ms(first) + f" (n={first['n']})" if first else "-", "(reference)"])
    raw = timing["caprobe"].get("raw_read")
    if raw:
        rows.append(["floor: hand-packed bytes, same 4 round trips (search, connect, "
                     "create, read), interleaved with caprobe's reads",
                     cell_ms(raw) + f", CPU {raw['cpu_ms']:.3g} ms", "-", "-", "(reference)"])
    table = _support.markdown_table(
        ["operation", "caprobe", "caproto.sync", "pyepics", "target"], rows)
    return table + (
        "\n\n¹ pyepics keeps one libca context and caches channels, so its read/write rows "
        "are round trips on an already connected channel (`caget(use_monitor=False)`, "
        "`caput(wait=True)`), not fresh connections; its connection cost is the last row.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--big", type=int, default=20)
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile top functions for caprobe")
    parser.add_argument("--worker", choices=("timing", "rss"), help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=_support.CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        work = worker_timing if args.worker == "timing" else worker_rss
        print(json.dumps(work(args)), flush=True)
        return

    script = Path(__file__).resolve()
    began = time.monotonic()
    server = servers.start_softioc()
    try:
        env = server.env
        print(f"soft IOC pid {server.pid} on 127.0.0.1:{server.port} "
              f"(ready in {server.start_time:.2f} s)", file=sys.stderr)
        timing: dict[str, dict[str, Any]] = {}
        rss: dict[str, dict[str, Any]] = {}
        for client in _support.CLIENTS:
            common = ["--client", client, "--prefix", server.prefix]
            print(f"  {client}: timing ...", file=sys.stderr, flush=True)
            timing[client] = _support.run_worker(
                script, ["--worker", "timing", *common, "--reads", str(args.reads),
                         "--writes", str(args.writes), "--big", str(args.big)]
                + (["--profile"] if args.profile and client == "caprobe" else []),
                env, timeout=600)
            print(f"  {client}: RSS ...", file=sys.stderr, flush=True)
            rss[client] = _support.run_worker(script, ["--worker", "rss", *common], env,
                                              timeout=120)
    finally:
        server.close()

    machine = _support.machine_info()
    table = build_table(timing, rss)
    settings = (f"softIoc (EPICS base rsrv via pythonSoftIOC), loopback, PVA off; "
                f"{args.reads} reads / {args.writes} writes after 30 warm-up, "
                f"{args.big} 1M-double reads after 2 warm-up; each client in its own process")
    print(f"\n{_support.machine_line(machine)}\n{settings}\n")
    print(table)
    for client, result in timing.items():
        for op, text in result.get("profile", {}).items():
            kind = "wall" if op == "big" else "CPU"
            print(f"\ncProfile ({kind} time), {client} {op}, top by own time:\n{text}")
    path = _support.write_results("bench_client", {
        "machine": machine, "settings": settings, "timing": timing, "rss": rss,
        "targets_ms": TARGETS, "table": table, "elapsed_s": time.monotonic() - began})
    print(f"\nresults: {path} ({time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
