"""Light and dark themes and the font zoom, for the whole window.

Alarm colours are not themed: they are the MEDM/Phoebus ones (``caprobe.format.ALARM_COLORS``)
in both themes, always drawn with their severity word (a colour alone is never the message).
What the theme changes is everything around them: window, text, frames, the dimmed text of
secondary fields, the outline that lets a white INVALID badge stand out.

The zoom scales the application font (every widget follows, the probe's large value too) in
steps of 10 %, and both choices are kept in the window's settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from PyQt5.QtCore import QSettings
from PyQt5.QtGui import QColor, QFont, QPalette
from PyQt5.QtWidgets import QApplication, QStyleFactory

THEME_KEY = "view/theme"
ZOOM_KEY = "view/zoom"
ZOOM_MIN, ZOOM_MAX, ZOOM_STEP = 0.7, 2.5, 0.1


@dataclass(frozen=True)
class Theme:
    name: str
    dark: bool
    #: secondary text: DESC, hints, the empty-window help
    dim_text: str
    #: outline of badges (so a white INVALID badge shows on a light window, a black one on dark)
    outline: str
    #: value frame while no severity is known yet
    neutral_frame: str
    #: the write field while it holds an edit not yet sent (Phoebus marks it yellow)
    edited_background: str
    edited_text: str
    error_text: str
    ok_text: str


LIGHT = Theme("light", False, dim_text="#505050", outline="#404040", neutral_frame="#C0C0C0",
              edited_background="#FFF8B0", edited_text="#000000", error_text="#B00000",
              ok_text="#006000")
DARK = Theme("dark", True, dim_text="#B0B0B0", outline="#D0D0D0", neutral_frame="#606060",
             edited_background="#5A5000", edited_text="#FFFFFF", error_text="#FF7070",
             ok_text="#70E070")
THEMES = {LIGHT.name: LIGHT, DARK.name: DARK}
DARK_EXTRA_STYLE = ("QPushButton:checked, QToolButton:checked "
                    "{ background-color: #24508F; color: #FFFFFF; }")

_current = LIGHT
_base_point_size: float | None = None
_zoom = 1.0


def current() -> Theme:
    return _current


def zoom() -> float:
    return _zoom


def _dark_palette() -> QPalette:
    palette = QPalette()
    window, base, text = QColor("#2B2B2B"), QColor("#1E1E1E"), QColor("#E6E6E6")
    disabled = QColor("#808080")
    palette.setColor(QPalette.Window, window)
    palette.setColor(QPalette.WindowText, text)
    palette.setColor(QPalette.Base, base)
    palette.setColor(QPalette.AlternateBase, QColor("#262626"))
    palette.setColor(QPalette.ToolTipBase, QColor("#3A3A3A"))
    palette.setColor(QPalette.ToolTipText, text)
    palette.setColor(QPalette.Text, text)
    palette.setColor(QPalette.Button, QColor("#353535"))
    palette.setColor(QPalette.ButtonText, text)
    palette.setColor(QPalette.BrightText, QColor("#FF5050"))
    palette.setColor(QPalette.Link, QColor("#6FA8FF"))
    palette.setColor(QPalette.Highlight, QColor("#2F65CA"))
    palette.setColor(QPalette.HighlightedText, QColor("#FFFFFF"))
    palette.setColor(QPalette.PlaceholderText, QColor("#909090"))
    palette.setColor(QPalette.Light, QColor("#505050"))
    palette.setColor(QPalette.Midlight, QColor("#404040"))
    palette.setColor(QPalette.Mid, QColor("#303030"))
    palette.setColor(QPalette.Dark, QColor("#202020"))
    palette.setColor(QPalette.Shadow, QColor("#101010"))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        palette.setColor(QPalette.Disabled, role, disabled)
    return palette


def apply(theme_name: str | None = None, zoom_factor: float | None = None) -> Theme:
    """Apply a theme and/or zoom to the running application (None keeps the current one)."""
    global _current, _zoom, _base_point_size
    app = QApplication.instance()
    if theme_name is not None:
        _current = THEMES.get(str(theme_name), LIGHT)
        if isinstance(app, QApplication):
            fusion = QStyleFactory.create("Fusion")
            if fusion is not None:
                app.setStyle(fusion)
            app.setPalette(_dark_palette() if _current.dark else app.style().standardPalette())
            # Fusion shades a checked button by a few per cent of the button colour: invisible
            # on a dark one
            app.setStyleSheet(DARK_EXTRA_STYLE if _current.dark else "")
    if zoom_factor is not None and isinstance(app, QApplication):
        size = app.font().pointSizeF() if app.font().pointSizeF() > 0 else 10.0
        if _base_point_size is None or abs(size - _base_point_size * _zoom) > 0.01:
            _base_point_size = size / _zoom  # the font was set by someone else: new base
        _zoom = min(max(float(zoom_factor), ZOOM_MIN), ZOOM_MAX)
        if abs(_base_point_size * _zoom - size) > 0.01:  # every widget relays out: only if needed
            font = QFont(app.font())
            font.setPointSizeF(_base_point_size * _zoom)
            app.setFont(font)
    return _current


def step_zoom(steps: int) -> float:
    """Zoom in (+1), out (-1), or back to 100 % (0); returns the new factor."""
    target = 1.0 if steps == 0 else round(_zoom + steps * ZOOM_STEP, 2)
    apply(zoom_factor=target)
    return _zoom


def restore(settings: QSettings) -> Theme:
    """Apply the theme and zoom stored in ``settings`` (light, 100 % when none)."""
    name = str(settings.value(THEME_KEY, LIGHT.name) or LIGHT.name)
    try:
        factor = float(settings.value(ZOOM_KEY, 1.0) or 1.0)
    except (TypeError, ValueError):
        factor = 1.0
    return apply(name, factor)


def save(settings: QSettings) -> None:
    settings.setValue(THEME_KEY, _current.name)
    settings.setValue(ZOOM_KEY, round(_zoom, 2))
