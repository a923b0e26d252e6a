"""Build bench/poster/poster.c into bench/poster/build/libposter.so (on demand).

Plain gcc against the headers and libraries that the ``epicscorelibs`` wheel ships (the same
ones pythonSoftIOC's extension links: libdbCore and libCom), with an rpath to them; inside a
softioc process the loader then reuses the copies already loaded.
``python bench/poster/make_poster.py`` builds (if out of date) and prints the path.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "poster.c"
BUILD_DIR = HERE / "build"
LIBRARY = BUILD_DIR / "libposter.so"


def build_command(output: Path) -> list[str]:
    """The compiler command line for ``output`` (flags and defines from epicscorelibs)."""
    # Importing epicscorelibs.config pulls in setuptools_dso, which logs two WARNINGs about
    # a distutils patch on the root logger: noise here.
    logging.disable(logging.WARNING)
    try:
        import epicscorelibs.config
        import epicscorelibs.path
    finally:
        logging.disable(logging.NOTSET)

    defines = [f"-D{name}" if value is None else f"-D{name}={value}"
               for name, value in epicscorelibs.config.get_config_var("CPPFLAGS")]
    lib_path = epicscorelibs.path.lib_path
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or "cc"
    return [compiler, "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", *defines,
            f"-I{epicscorelibs.path.include_path}", str(SOURCE), "-o", str(output),
            f"-L{lib_path}", f"-Wl,-rpath,{lib_path}", "-ldbCore", "-lCom", "-lpthread"]


def build(force: bool = False) -> Path:
    """Compile libposter.so unless it is newer than poster.c; return its path."""
    if (not force and LIBRARY.exists()
            and LIBRARY.stat().st_mtime >= SOURCE.stat().st_mtime):
        return LIBRARY
    BUILD_DIR.mkdir(exist_ok=True)
    partial = LIBRARY.with_name(f".libposter.{os.getpid()}.so")
    result = subprocess.run(build_command(partial), capture_output=True, text=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"building {LIBRARY.name} failed:\n{result.stderr}")
    os.replace(partial, LIBRARY)  # atomic: a concurrent loader never sees half a file
    return LIBRARY


if __name__ == "__main__":
    print(build(force="--force" in sys.argv))
