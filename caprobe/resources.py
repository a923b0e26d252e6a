"""Locate caprobe's icon files, from a source checkout, an installed wheel or a PyInstaller bundle.

The icon files live in the package data directory ``caprobe/resources/`` (rendered from
``resources/caprobe.svg`` by ``packaging/render-icons.sh``). That directory has no
``__init__.py``, so ``import caprobe.resources`` always finds this module, never the directory.

Use from the GUI::

    from caprobe.resources import DESKTOP_FILE_NAME, app_icon
    app.setWindowIcon(app_icon())
    app.setDesktopFileName(DESKTOP_FILE_NAME)  # taskbars match the window to caprobe.desktop

No Qt is imported until :func:`app_icon` is called, so the CLI can import this module cheaply.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PyQt5.QtGui import QIcon

#: Freedesktop icon name (``Icon=`` in caprobe.desktop, hicolor ``apps/caprobe.png``).
ICON_NAME = "caprobe"
#: Base name of the installed desktop entry, for ``QGuiApplication.setDesktopFileName``.
DESKTOP_FILE_NAME = "caprobe"
#: Sizes of the rendered PNGs, smallest first.
ICON_SIZES: tuple[int, ...] = (16, 22, 24, 32, 48, 64, 128, 256)


def resource_dir() -> Path:
    """Return the directory holding the icon files (``caprobe/resources``)."""
    here = Path(__file__).resolve().parent / "resources"
    if here.is_dir():
        return here
    # A frozen build whose modules are not laid out next to their data: PyInstaller unpacks the
    # data files under sys._MEIPASS with the same relative path.
    bundle_root = getattr(sys, "_MEIPASS", None)
    if bundle_root is not None:
        return Path(bundle_root) / "caprobe" / "resources"
    return here


def icon_path(size: int = 256) -> Path:
    """Return the PNG icon nearest in size to ``size`` pixels (rounding up where possible)."""
    larger_or_equal = [s for s in ICON_SIZES if s >= size]
    chosen = larger_or_equal[0] if larger_or_equal else ICON_SIZES[-1]
    return resource_dir() / f"{ICON_NAME}-{chosen}.png"


def icon_paths() -> list[Path]:
    """Return every PNG icon file that exists, smallest first."""
    return [p for s in ICON_SIZES if (p := resource_dir() / f"{ICON_NAME}-{s}.png").is_file()]


def svg_icon_path() -> Path:
    """Return the scalable icon (the source drawing)."""
    return resource_dir() / f"{ICON_NAME}.svg"


def app_icon() -> QIcon:
    """Return a QIcon with every PNG size, for ``setWindowIcon``.

    PNGs rather than the SVG: they need no SVG icon-engine plugin and the small sizes are drawn
    by hand for 16-24 px. Falls back to the theme icon named ``caprobe`` (installed by the .deb or
    install-desktop.sh) when the files are missing.
    """
    from PyQt5.QtCore import QSize
    from PyQt5.QtGui import QIcon

    icon = QIcon()
    for size in ICON_SIZES:
        path = resource_dir() / f"{ICON_NAME}-{size}.png"
        if path.is_file():
            icon.addFile(str(path), QSize(size, size))
    if icon.isNull():
        return QIcon.fromTheme(ICON_NAME)
    return icon
