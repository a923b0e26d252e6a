"""What the CA repeater a frozen caprobe spawns costs while it runs: disk in $TMPDIR, RSS, start.

    python packaging/measure_repeater.py dist/caprobe            # the single file
    python packaging/measure_repeater.py dist/caprobe-dir/caprobe

Runs ``PROGRAM get -w 0.5 <a PV nobody serves>`` exactly as an operator would, on a free
repeater port and with CA kept on loopback, so the program spawns its repeater through its own
code path.  Then, once ``get`` has exited and the repeater is bound:

* start: launch of ``get`` to the repeater's port being bound (polled every 2 ms);
* disk: what the repeater's process tree keeps in TMPDIR: new ``_MEI*`` directories plus the
  files it holds open or mapped after they were deleted (space df still counts);
* RSS: resident memory of the repeater's process tree (a onefile program is two processes).

Every process it starts is stopped by PID.  Standard library only; Linux (/proc).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def udp_port_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def processes_with_env(key: str, value: str) -> list[int]:
    """PIDs whose environment has key=value (how the spawned, detached repeater is found)."""
    wanted = f"{key}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in environ:
            found.append(int(entry))
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def deleted_files_held(pid: int) -> dict[str, int]:
    """Deleted files a process still maps or holds open: path -> size in bytes."""
    held: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].endswith(" (deleted)"):
            path = fields[5][: -len(" (deleted)")]
            try:
                held[path] = os.stat(f"/proc/{pid}/map_files/{fields[0]}").st_size
            except OSError:
                pass
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
            if target.endswith(" (deleted)"):
                held[target[: -len(" (deleted)")]] = os.stat(fd).st_size
        except OSError:
            pass
    return held


def tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def answers_registration(port: int) -> bool:
    """The repeater confirms a client registration (it works, not only holds the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.settimeout(2.0)
        client.sendto(struct.pack(">HHHHII", 24, 0, 0, 0, 0, 0), ("127.0.0.1", port))
        try:
            reply, _ = client.recvfrom(1024)
        except OSError:
            return False
    return struct.unpack(">H", reply[:2])[0] == 17  # REPEATER_CONFIRM


def measure(program: str, timeout: float = 30.0) -> dict[str, float]:
    """Spawn the repeater through ``program get`` and measure it (see the module docstring).

    Keys: bound_seconds, processes, rss_mib, unpacked_mib, held_mib, held_files, answers.
    """
    tmpdir = Path(tempfile.gettempdir())
    before = {p.name for p in tmpdir.glob("_MEI*")}
    port = free_udp_port()
    env = {**os.environ, "EPICS_CA_REPEATER_PORT": str(port),
           "EPICS_CA_AUTO_ADDR_LIST": "NO", "EPICS_CA_ADDR_LIST": "127.0.0.1"}
    started = time.perf_counter()
    client = subprocess.Popen([program, "get", "-w", "0.5", f"caprobe:measure:nobody:{port}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bound_after = None
    repeaters: list[int] = []
    try:
        while time.perf_counter() - started < timeout:
            if bound_after is None and udp_port_bound(port):
                bound_after = time.perf_counter() - started
            if bound_after is not None and client.poll() is not None:
                break
            time.sleep(0.002)
        client.wait(timeout=timeout)
        if bound_after is None:
            raise RuntimeError(f"{program}: no repeater bound its port")
        time.sleep(1.0)  # let the one-file parent of `get` finish deleting its directory
        repeaters = [pid for pid in processes_with_env("EPICS_CA_REPEATER_PORT", str(port))
                     if pid != client.pid]
        new_dirs = [p for p in tmpdir.glob("_MEI*") if p.name not in before]
        held: dict[str, int] = {}
        for pid in repeaters:
            held.update(deleted_files_held(pid))
        return {
            "bound_seconds": bound_after,
            "processes": len(repeaters),
            "rss_mib": sum(rss_kib(pid) for pid in repeaters) / 1024,
            "unpacked_mib": sum(tree_size(p) for p in new_dirs) / 2**20,
            "unpacked_dirs": len(new_dirs),
            "held_mib": sum(held.values()) / 2**20,
            "held_files": len(held),
            "answers": answers_registration(port),
        }
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        for pid in repeaters:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("program", help="frozen caprobe (or a caprobe script)")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    try:
        m = measure(args.program, args.timeout)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        print(f"measure_repeater: {error}", file=sys.stderr)
        return 1
    print(f"{args.program}: repeater bound {m['bound_seconds']:.3f} s after launching `get`; "
          f"{m['processes']} process(es), RSS {m['rss_mib']:.1f} MiB; in "
          f"{tempfile.gettempdir()}: {m['unpacked_mib']:.1f} MiB unpacked "
          f"({m['unpacked_dirs']} _MEI dir(s)) + {m['held_mib']:.1f} MiB deleted but held "
          f"({m['held_files']} files); answers a registration: {m['answers']}; "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0 if m["answers"] else 1


if __name__ == "__main__":
    sys.exit(main())
