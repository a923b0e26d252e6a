"""PyInstaller runtime hook: runs inside the frozen app before the entry script.

Pins pyqtgraph to PyQt5 (the only binding the bundle carries; pyqtgraph would otherwise probe
PyQt6 first). The entry script sets it too, so a source run through packaging/entry.py matches.

p4p (when the bundle carries it) tries ``import epicscorelibs`` and, if that works, imports
epicscorelibs.path and pvxslibs.path, which only extend the DLL search path on Windows and need
setuptools.  The bundle leaves those packages out, but the directories holding their libraries
(epicscorelibs/lib, pvxslibs/lib, where _p4p's RPATH finds them) would import as namespace
packages: mark the name as absent so p4p takes its ``except ImportError`` path.

``caprobe repeater`` (the CA repeater a client spawns; packaging/entry.py) needs no Qt, but
PyInstaller's PyQt5 hook, which runs after this one, imports QtCore to register a qt.conf: that
maps QtCore, ICU (25 MB of data) and glib into a process that may run for the host's uptime and,
from the single file, keeps those files on disk after its temporary directory is deleted.  Mark
QtCore absent there; the hook handles ImportError by skipping the qt.conf.
"""

import os
import sys

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")
sys.modules.setdefault("epicscorelibs", None)
if sys.argv[1:2] == ["repeater"]:
    sys.modules["PyQt5.QtCore"] = None
