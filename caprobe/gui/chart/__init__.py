"""The strip chart: live PVs against time (see :mod:`caprobe.gui.chart.panel`)."""

from caprobe.gui.chart.export import save_plot_dialog
from caprobe.gui.chart.panel import MAX_REDRAW_HZ, StripChartPanel
from caprobe.gui.chart.timewindow import TIME_WINDOWS, format_duration, parse_duration
from caprobe.gui.chart.traces import BACKGROUND, PALETTE

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
