"""Alarm and connection colours for the probe (one convention: MEDM lineage, from
caprobe.format.ALARM_COLORS) with severity text always shown beside the colour."""

from __future__ import annotations

from PyQt5.QtGui import QColor

from caprobe import format as cafmt
from caprobe.gui import theme

SEARCHING_COLOR = "#7090C0"  # a calm blue: not an alarm, not an error yet


def _hex(color: object) -> str:
    return QColor(str(color)).name()


def text_color_for(background: str) -> str:
    """Black or white text, whichever reads better on ``background``."""
    c = QColor(background)
    luminance = 0.299 * c.red() + 0.587 * c.green() + 0.114 * c.blue()
    return "#000000" if luminance > 140 else "#FFFFFF"


def severity_color(severity: int) -> str:
    return _hex(cafmt.ALARM_COLORS.get(int(severity), "#C0C0C0"))


def disconnected_color() -> str:
    return _hex(cafmt.DISCONNECTED_COLOR)


def badge_style(background: str, dashed: bool = False) -> str:
    """Style sheet for an alarm/connection badge: coloured fill, readable text, and an outline
    so a white (INVALID) badge still stands out on a light window."""
    border = "dashed" if dashed else "solid"
    return (f"background-color: {background}; color: {text_color_for(background)};"
            f" border: 2px {border} {theme.current().outline}; border-radius: 3px;"
            " padding: 2px 8px; font-weight: bold;")


def invalid_frame_color() -> str:
    """INVALID's white is a fill colour; as a frame it needs contrast with the window."""
    return "#404040" if not theme.current().dark else "#FFFFFF"


def neutral_frame_color() -> str:
    return theme.current().neutral_frame


def dim_text_style() -> str:
    return f"color: {theme.current().dim_text};"


def value_frame_style(color: str, dashed: bool = False) -> str:
    border = "dashed" if dashed else "solid"
    return f"#valueFrame {{ border: 3px {border} {color}; border-radius: 4px; }}"
