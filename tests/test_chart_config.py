"""Chart configuration files: caprobe JSON and StripTool .stp (no Qt, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from caprobe.gui.chart_config import (
    STRIPTOOL_DEFAULT_COLORS,
    ChartConfig,
    ChartConfigError,
    TraceConfig,
    config_from_json,
    config_from_stp,
    load_config,
)

STP_1_2 = """\
StripConfig                   1.2
Strip.Time.Timespan           1800
Strip.Time.NumSamples         7200
Strip.Time.SampleInterval     0.1
Strip.Time.RefreshInterval    0.1
Strip.Color.Background        65535     65535     65535
Strip.Color.Color1            0         0         65535
Strip.Color.Color2            65535     32768     0
Strip.Option.GridXon          1
Strip.Option.GraphLineWidth   2
Strip.Curve.0.Name            CHL_2KCB:FT41170:Flw
Strip.Curve.0.Units           g/s
Strip.Curve.0.Comment         2KCB Disch Flow
Strip.Curve.0.Precision       2
Strip.Curve.0.Min             0.00
Strip.Curve.0.Max             200.00
Strip.Curve.0.Scale           0
Strip.Curve.0.PlotStatus      1
Strip.Curve.1.Name            mtr1.RBV
Strip.Curve.1.PlotStatus      0
Strip.Curve.3.Name            third:pv
"""


def test_stp_curves_colours_span() -> None:
    cfg = config_from_stp(STP_1_2)
    assert cfg.pv_names == ["CHL_2KCB:FT41170:Flw", "mtr1.RBV", "third:pv"]
    assert cfg.time_window_s == 1800
    assert [t.color for t in cfg.traces] == ["#0000ff", "#ff8000", STRIPTOOL_DEFAULT_COLORS[3]]
    first = cfg.traces[0]
    assert (first.y_min, first.y_max, first.visible) == (0.0, 200.0, True)
    assert cfg.traces[1].visible is False
    assert cfg.autoscale is False and cfg.y_mode == "per-trace"  # StripTool scales per curve


def test_stp_old_format() -> None:
    cfg = config_from_stp("TIMESPAN 120\nCHANNEL a:b\nMINIMUM -1\nMAXIMUM 1\nCHANNEL c:d\n")
    assert cfg.pv_names == ["a:b", "c:d"] and cfg.time_window_s == 120
    assert (cfg.traces[0].y_min, cfg.traces[0].y_max) == (-1.0, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("StripConfig 1.2\nStrip.Time.Timespan 60\n", "no Strip.Curve"),
        ("StripConfig 1.2\nStrip.Curve.10.Name x\n", "outside 0..9"),
        ("StripConfig 1.2\nStrip.Curve.0.Name x\nStrip.Curve.0.Min abc\n", "not a number"),
        ("StripConfig 1.2\nStrip.Color.Color1 1 2\nStrip.Curve.0.Name x\n", "not 3 values"),
        ("StripConfig 1.2\nStrip.Time.Timespan -5\nStrip.Curve.0.Name x\n", "outside 1 s"),
        ("hello world\n", "neither a StripConfig header"),
    ],
)
def test_stp_errors_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ChartConfigError, match=message) as info:
        config_from_stp(text)
    assert "\n" not in str(info.value)


def test_json_round_trip(tmp_path: Path) -> None:
    cfg = ChartConfig(
        [TraceConfig("A", "#112233"), TraceConfig("B", None, False, -1.0, 1.0)], 600.0, "normalised", False
    )
    path = tmp_path / "c.json"
    cfg.save(path)
    assert load_config(path) == cfg


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "no 'traces'"),
        ('{"traces": [{"name": ""}]}', "not a PV name"),
        ('{"traces": ["A"], "y_mode": "log"}', "y_mode"),
        ('{"traces": [{"name": "A", "color": "red"}]}', "#rrggbb"),
        ('{"traces": ["A"], "time_window_s": "soon"}', "not a number"),
    ],
)
def test_json_errors(text: str, message: str) -> None:
    with pytest.raises(ChartConfigError, match=message):
        config_from_json(text)


def test_load_config_dispatch_and_missing_file(tmp_path: Path) -> None:
    stp = tmp_path / "x.stp"
    stp.write_text(STP_1_2)
    assert load_config(stp).time_window_s == 1800
    with pytest.raises(ChartConfigError, match="cannot read"):
        load_config(tmp_path / "nope.json")


def test_log_scales_round_trip_and_striptool_scale() -> None:
    config = ChartConfig([TraceConfig("A", log=True), TraceConfig("B")], y_mode="per-trace",
                         log_y=True)
    back = config_from_json(config.to_json())
    assert [t.log for t in back.traces] == [True, False] and back.log_y
    stp = config_from_stp(
        "StripConfig 1.2\nStrip.Curve.0.Name P:A\nStrip.Curve.0.Scale 1\n"
        "Strip.Curve.1.Name P:B\nStrip.Curve.1.Scale 0\n"
    )
    assert [t.log for t in stp.traces] == [True, False]
