"""``caprobe --check``: can this copy of caprobe run here?  Needs no IOC and no display.

packaging/build.sh runs it on every frozen artefact before it says "done"; an operator can run it
on an installed copy.  It imports every caprobe module (the GUI's and the command-line tools'),
the PV Access stack (p4p) when this copy is meant to carry it (and reads a PV it serves itself
on 127.0.0.1, so its libraries are known to work), loads the Qt platform plugins
(xcb only as a library, so a missing X library shows up without a display) and builds the main
window offscreen.  No CA PV is opened; nothing goes beyond 127.0.0.1.

Output: one line per problem and exit status 1, or one summary line and 0.

A frozen bundle carries ``caprobe-bundle.json`` (written by packaging/caprobe.spec): the caprobe
modules and the optional packages it was built with.  A module listed there that does not
import is a broken bundle; from a source install, optional packages are checked if installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pkgutil
import sys
import tempfile
from pathlib import Path

#: Written into a frozen bundle's top directory by packaging/caprobe.spec.
BUNDLE_MANIFEST = "caprobe-bundle.json"
#: What caprobe.pva imports from p4p (lazily, so walking caprobe's modules does not reach it).
PVA_MODULES = ("p4p", "p4p.client.thread", "p4p.nt")


def bundle_manifest() -> dict | None:
    """The manifest of the frozen bundle this runs in (None when not frozen)."""
    bundle_dir = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or bundle_dir is None:
        return None
    try:
        return json.loads((Path(bundle_dir) / BUNDLE_MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def source_modules() -> list[str]:
    """Every module of the caprobe package as installed (source or wheel)."""
    import caprobe

    names = ["caprobe"]
    for module in pkgutil.walk_packages(caprobe.__path__, "caprobe."):
        names.append(module.name)
    return sorted(names)


def _import_all(names: list[str], problems: dict[str, list[str]]) -> int:
    """Import ``names``; group failures by their message (one missing package breaks many)."""
    imported = 0
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - any failure to import is the finding
            problems.setdefault(f"{type(error).__name__}: {error}", []).append(name)
        else:
            imported += 1
    return imported


def _qt_checks(problems: dict[str, list[str]]) -> list[str]:
    """Platform plugins and an offscreen main window; returns what worked, for the summary."""
    # A check must not need, or open anything on, the operator's display.
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PyQt5.QtCore import (
        QCoreApplication,
        QLibraryInfo,
        QPluginLoader,
        QSettings,
        qInstallMessageHandler,
    )
    from PyQt5.QtGui import QImageReader

    from caprobe.gui.app import _only_critical_qt_messages, make_application
    from caprobe.gui.main_window import MainWindow

    # Qt's chatter (offscreen window hints, XDG_RUNTIME_DIR) is not a finding.
    qInstallMessageHandler(_only_critical_qt_messages)
    done = []
    if sys.platform.startswith("linux"):
        directories = [QLibraryInfo.location(QLibraryInfo.PluginsPath),
                       *QCoreApplication.libraryPaths()]
        xcb = next((Path(d) / "platforms" / "libqxcb.so" for d in directories
                    if (Path(d) / "platforms" / "libqxcb.so").is_file()), None)
        if xcb is None:
            problems.setdefault("Qt platform plugin xcb (X11) not found", []).append("xcb")
        else:
            loader = QPluginLoader(str(xcb))
            if loader.load():
                done.append("xcb loads")
            else:
                problems.setdefault(f"Qt platform plugin xcb does not load: "
                                    f"{loader.errorString()}", []).append("xcb")
    app = make_application()
    done.append(f"{app.platformName()} runs")
    formats = {bytes(f).decode() for f in QImageReader.supportedImageFormats()}
    for wanted in ("png", "svg"):
        if wanted not in formats:
            problems.setdefault(f"Qt cannot read {wanted} images", []).append(wanted)
    with tempfile.TemporaryDirectory(prefix="caprobe-check-") as scratch:
        settings = QSettings(os.path.join(scratch, "caprobe.ini"), QSettings.IniFormat)
        window = MainWindow(settings)
        window.show()
        app.processEvents()
        if window.grab().isNull():
            problems.setdefault("the main window did not render", []).append("window")
        else:
            done.append("main window drawn")
        window.shutdown()
        window.close()
        app.processEvents()
        settings.sync()
    return done


def _version(module_name: str) -> str:
    module = sys.modules.get(module_name)
    for attribute in ("__version__", "version"):
        value = getattr(module, attribute, None)
        if isinstance(value, str) or (value is not None and not callable(value)):
            return str(value)
    return "?"


def run_check() -> int:
    """Print one line per problem (exit 1) or one summary line (exit 0)."""
    import caprobe

    manifest = bundle_manifest()
    problems: dict[str, list[str]] = {}
    modules = manifest.get("modules") if manifest else None
    modules = modules or source_modules()
    count = _import_all(modules, problems)
    parts = [f"caprobe {caprobe.__version__}: {count}/{len(modules)} modules"]

    carried = set(manifest.get("optional", [])) if manifest is not None else None
    pva_wanted = ("p4p" in carried) if carried is not None else (
        importlib.util.find_spec("p4p") is not None)
    if pva_wanted:
        if _import_all([*PVA_MODULES, "p4p.server", "p4p.server.thread"],
                       problems) == len(PVA_MODULES) + 2:
            try:
                from caprobe.pva.self_check import loopback_round_trip

                loopback_round_trip()
            except Exception as error:  # noqa: BLE001 - reported as a finding
                problems.setdefault(f"PV Access loopback read failed: {type(error).__name__}: "
                                    f"{error}", []).append("p4p")
            else:
                parts.append(f"p4p {_version('p4p')} (PV Access: loopback read ok)")
    else:
        parts.append("no p4p (CA only)")

    qt_ok = not any("PyQt5" in message or "pyqtgraph" in message for message in problems)
    if qt_ok:
        try:
            parts.extend(_qt_checks(problems))
        except Exception as error:  # noqa: BLE001 - reported as a finding, never a traceback
            problems.setdefault(f"Qt: {type(error).__name__}: {error}", []).append("Qt")
    if problems:
        for message, names in problems.items():
            where = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3
                                            else "")
            print(f"caprobe --check: {message} ({where})", file=sys.stderr)
        return 1
    from PyQt5.QtCore import PYQT_VERSION_STR, QT_VERSION_STR

    parts[1:1] = [f"Python {sys.version.split()[0]}", f"PyQt5 {PYQT_VERSION_STR} "
                  f"(Qt {QT_VERSION_STR})", f"pyqtgraph {_version('pyqtgraph')}",
                  f"numpy {_version('numpy')}"]
    print("caprobe --check: ok: " + "; ".join(parts))
    return 0
