"""PyInstaller entry point: the frozen ``caprobe`` executable, the same as the ``caprobe`` script.

``caprobe.__main__:main`` does the work (GUI by default, ``get|put|monitor|info|repeater``
subcommands). Two things happen first, because they must happen before any import of Qt:

* the Qt binding is pinned to PyQt5 (pyqtgraph would otherwise take the first binding it finds,
  so a source run and a frozen run could differ);
* ``caprobe -m caprobe.<module> [args]`` runs that module like ``python -m`` would, so code that
  spawns ``[sys.executable, "-m", "caprobe.ca.repeater"]`` keeps working when sys.executable is
  the frozen program rather than a Python interpreter. Only caprobe's own modules are accepted.

``caprobe repeater`` (what the CA client spawns when no repeater runs) takes a short path of its
own: see _run_repeater().
"""

import importlib.util
import os
import runpy
import sys

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")


def _run_repeater(args: list[str]) -> int:
    """The CA repeater without caprobe.ca's package __init__, which loads the whole client and
    numpy: the repeater (stdlib only) needs neither, and it may run for the host's uptime.

    With the runtime hook keeping QtCore out too (packaging/measure_repeater.py): RSS 39 ->
    17.5 MiB; from the single file, the files it keeps mapped after the single file's temporary
    directory is deleted, 87 -> 7 MiB.  The package module is registered unexecuted; this
    process never uses caprobe.ca's API.
    """
    spec = importlib.util.find_spec("caprobe.ca")
    if spec is not None and "caprobe.ca" not in sys.modules:
        sys.modules["caprobe.ca"] = importlib.util.module_from_spec(spec)
    from caprobe.ca import repeater
    from caprobe.cli.suggest import SuggestingParser  # standard library only

    return int(repeater.main(args, SuggestingParser) or 0)


def _run() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "repeater":
        sys.exit(_run_repeater(sys.argv[2:]))
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        if module != "caprobe" and not module.startswith("caprobe."):
            sys.exit(f"caprobe: -m only runs caprobe's own modules, not {module!r}")
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return

    from caprobe.__main__ import main

    sys.exit(main())


if __name__ == "__main__":
    _run()
