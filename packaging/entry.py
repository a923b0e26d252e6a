"""PyInstaller entry point: the frozen ``caprobe`` executable, the same as the ``caprobe`` script.

``caprobe.__main__:main`` does the work (GUI by default, ``get|put|monitor|info|repeater``
subcommands). Two things happen first, because they must happen before any import of Qt:

* the Qt binding is pinned to PyQt5 (pyqtgraph would otherwise take the first binding it finds,
  so a source run and a frozen run could differ);
* ``caprobe -m caprobe.<module> [args]`` runs that module like ``python -m`` would, so code that
  spawns ``[sys.executable, "-m", "caprobe.ca.repeater"]`` keeps working when sys.executable is
  the frozen program rather than a Python interpreter. Only caprobe's own modules are accepted.
"""

import os
import runpy
import sys

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")


def _run() -> None:
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
