"""Can this Python environment build caprobe?  packaging/build.sh asks before freezing.

    .venv/bin/python packaging/check_env.py

Exit 0 and one line of versions when the runtime dependencies (PyQt5 with QtSvg, pyqtgraph,
numpy) and PyInstaller import; p4p (the optional ``pva`` extra) is reported as carried when it
is installed and must then import too.  Otherwise exit 1 and one line naming what is missing.
Standard library only: it must run in a broken environment.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

# (module to import, what to call it, what it is for)
REQUIRED = (
    ("PyQt5.QtWidgets", "PyQt5", "runtime"),
    ("PyQt5.QtSvg", "PyQt5.QtSvg", "runtime"),
    ("pyqtgraph", "pyqtgraph", "runtime"),
    ("numpy", "numpy", "runtime"),
    ("PyInstaller", "PyInstaller", "build"),
)
#: Optional packages the bundle carries when they are installed.
OPTIONAL = (
    ("p4p.client.thread", "p4p", "PV Access"),
)


def _problem(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        return "not installed" if error.name and module.startswith(error.name) else str(error)
    except Exception as error:  # noqa: BLE001 - a broken install is a finding too
        return f"{type(error).__name__}: {error}"
    return None


def _version(name: str) -> str:
    module = sys.modules.get(name)
    value = getattr(module, "__version__", None) or getattr(module, "version", None)
    if name == "PyQt5":
        from PyQt5.QtCore import PYQT_VERSION_STR

        value = PYQT_VERSION_STR
    return str(value) if value is not None else "?"


def main() -> int:
    missing = []
    found = []
    missing_names: list[str] = []
    for module, name, purpose in REQUIRED:
        if name.split(".")[0] in missing_names:
            continue  # PyQt5.QtSvg when PyQt5 itself is missing: said once
        problem = _problem(module)
        if problem is None:
            if "." not in name:
                found.append(f"{name} {_version(name)}")
        elif not any(root in problem for root in missing_names):
            # (pyqtgraph failing for want of PyQt5 is the same problem, already named)
            missing.append(f"{name} ({purpose}: {problem})")
            missing_names.append(name)
    for module, name, purpose in OPTIONAL:
        if importlib.util.find_spec(name) is None:
            found.append(f"no {name} (bundle without {purpose})")
            continue
        problem = _problem(module)
        if problem is None:
            found.append(f"{name} {_version(name)} (bundled: {purpose})")
        else:
            missing.append(f"{name} (installed, so the bundle carries {purpose}, but: {problem})")
    if missing:
        print(f"{sys.executable} cannot import " + "; ".join(missing))
        return 1
    print(f"Python {sys.version.split()[0]}, " + ", ".join(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
