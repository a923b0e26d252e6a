"""What a PyInstaller bundle needs from the system it runs on (used by build.sh and the tests).

    python packaging/check_bundle.py dist/caprobe-dir                 # report
        # (exit 1 when a bundled file needs a library found neither in the bundle nor on the
        # system: trimmed too much)
    python packaging/check_bundle.py dist/caprobe-dir --depends "libgl1, libegl1, ..."
        # exit 1 when a system library the bundle links against comes from a Debian package
        # the Depends line does not name
    python packaging/check_bundle.py dist/caprobe-dir --glibc         # prints e.g. 2.36

Needs readelf and objdump (binutils) and, for package names, dpkg. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

# The dynamic loader and libc's own pieces: the libc6 dependency (with its version floor)
# covers them.
LIBC_SONAMES = {
    "ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0",
    "librt.so.1", "libutil.so.1",
}


def elf_files(bundle: Path) -> list[Path]:
    """Every ELF file in the bundle (symlinks skipped: their targets are listed)."""
    found = []
    for path in sorted(bundle.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as stream:
            if stream.read(4) == b"\x7fELF":
                found.append(path)
    return found


def needed_sonames(path: Path) -> list[str]:
    """DT_NEEDED entries of one ELF file."""
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def system_sonames(bundle: Path) -> dict[str, list[Path]]:
    """Sonames the bundle links against but does not carry, with the files that need them."""
    carried = {path.name for path in bundle.rglob("*")}
    needed: dict[str, list[Path]] = defaultdict(list)
    for path in elf_files(bundle):
        for soname in needed_sonames(path):
            if soname not in carried:
                needed[soname].append(path)
    return dict(needed)


def unresolved_sonames(bundle: Path) -> dict[str, list[Path]]:
    """Sonames needed by bundled files that neither the bundle nor this system's loader cache
    provides: something was trimmed from the bundle that is still in use."""
    known = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    system = set(re.findall(r"^\s*(\S+) \(", known, re.M))
    return {soname: users for soname, users in system_sonames(bundle).items()
            if soname not in system}


def debian_package(soname: str) -> str | None:
    """The installed Debian package that ships ``soname`` (None if not found or no dpkg)."""
    try:
        out = subprocess.run(["dpkg", "-S", f"*/{soname}"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return None
    for line in out.splitlines():
        package, _, path = line.partition(": ")
        if path.endswith(f"/{soname}") and ("x86_64-linux-gnu" in path or "/lib/" in path):
            return package.split(":")[0]
    return None


def glibc_floor(bundle: Path) -> str:
    """Highest GLIBC_x.y symbol version any bundled file requires: the libc6 version floor."""
    highest = (2, 0)
    for path in elf_files(bundle):
        out = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True).stdout
        for major, minor in re.findall(r"GLIBC_(\d+)\.(\d+)", out):
            highest = max(highest, (int(major), int(minor)))
    return f"{highest[0]}.{highest[1]}"


def parse_depends(depends: str) -> set[str]:
    """Package names in a Depends value ('a (>= 1), b | c' -> {a, b, c})."""
    names = set()
    for clause in depends.split(","):
        for alternative in clause.split("|"):
            name = alternative.strip().split(" ")[0].split("(")[0]
            if name:
                names.add(name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="one-folder bundle directory")
    parser.add_argument("--depends", help="Debian Depends value to check against")
    parser.add_argument("--glibc", action="store_true", help="print the glibc version floor")
    args = parser.parse_args(argv)

    if not args.bundle.is_dir():
        print(f"check_bundle: {args.bundle} is not a directory", file=sys.stderr)
        return 2
    if args.glibc:
        print(glibc_floor(args.bundle))
        return 0

    missing = unresolved_sonames(args.bundle)
    for soname, users in sorted(missing.items()):
        example = os.path.relpath(users[0], args.bundle)
        print(f"check_bundle: {soname} is needed (e.g. by {example}) but found nowhere",
              file=sys.stderr)
    if missing:
        return 1

    declared = parse_depends(args.depends) if args.depends else None
    uncovered = []
    for soname, users in sorted(system_sonames(args.bundle).items()):
        if soname in LIBC_SONAMES:
            package = "libc6"
        else:
            package = debian_package(soname) or "?"
        example = os.path.relpath(users[0], args.bundle)
        print(f"{soname:28} {package:22} needed by {len(users):3} file(s), e.g. {example}")
        if declared is not None and package not in declared:
            uncovered.append(f"{soname} ({package})")
    if uncovered:
        print("check_bundle: not covered by Depends: " + ", ".join(uncovered), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
