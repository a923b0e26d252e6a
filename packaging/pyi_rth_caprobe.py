"""PyInstaller runtime hook: runs inside the frozen app before the entry script.

Pins pyqtgraph to PyQt5 (the only binding the bundle carries; pyqtgraph would otherwise probe
PyQt6 first). The entry script sets it too, so a source run through packaging/entry.py matches.
"""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt5")
