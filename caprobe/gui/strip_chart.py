"""Compatibility name: the strip chart now lives in the :mod:`caprobe.gui.chart` package."""

from caprobe.gui.chart import (
    BACKGROUND,
    MAX_REDRAW_HZ,
    PALETTE,
    TIME_WINDOWS,
    StripChartPanel,
    format_duration,
    parse_duration,
    save_plot_dialog,
)

__all__ = [
    "BACKGROUND",
    "MAX_REDRAW_HZ",
    "PALETTE",
    "TIME_WINDOWS",
    "StripChartPanel",
    "format_duration",
    "parse_duration",
    "save_plot_dialog",
]
