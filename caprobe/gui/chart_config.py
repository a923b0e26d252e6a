"""Strip chart configurations: caprobe's JSON files and StripTool ``.stp`` files (no Qt).

A configuration is what an operator wants back tomorrow: the PVs, their colours and the time
window (no data). JSON is caprobe's own format; StripTool's ``StripConfig 1.2`` text files are
read for compatibility (curve names, colours, time span, per-curve min/max), and the old
pre-header form (``TIMESPAN`` / ``CHANNEL`` lines) too.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Y-axis modes understood by the chart.
Y_MODES = ("shared", "normalised", "per-trace")

#: StripTool's default curve colours (Color1..Color10), used when a .stp file has none.
STRIPTOOL_DEFAULT_COLORS = (
    "#0000ff", "#6b8e23", "#a52a2a", "#5f9ea0", "#ffa500",
    "#a020f0", "#ff0000", "#ffd700", "#bc8f8f", "#9acd32",
)  # fmt: skip

MAX_TRACES = 32
_PV_NAME = re.compile(r"^[^\s\"']{1,200}$")


class ChartConfigError(ValueError):
    """A configuration file that cannot be used; ``str()`` is one operator-readable line."""


@dataclass
class TraceConfig:
    name: str
    color: str | None = None  # "#rrggbb"; None = next palette colour
    visible: bool = True
    y_min: float | None = None  # fixed Y range (StripTool Min/Max), None = autoscale
    y_max: float | None = None
    log: bool = False  # log10 Y axis for this trace (per-trace axes; StripTool Scale 1)


@dataclass
class ChartConfig:
    traces: list[TraceConfig] = field(default_factory=list)
    time_window_s: float = 60.0
    y_mode: str = "shared"
    autoscale: bool = True
    log_y: bool = False  # log10 on the shared Y axis

    @property
    def pv_names(self) -> list[str]:
        return [t.name for t in self.traces]

    def to_json(self) -> str:
        return json.dumps({"caprobe_chart": 1, **asdict(self)}, indent=2)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")


def _check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _PV_NAME.match(name.strip()):
        raise ChartConfigError(f"{where}: {name!r} is not a PV name")
    return name.strip()


def _check_color(color: Any, where: str) -> str | None:
    if color is None:
        return None
    if not isinstance(color, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
        raise ChartConfigError(f"{where}: colour {color!r} is not #rrggbb")
    return color.lower()


def _check_window(seconds: Any, where: str) -> float:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise ChartConfigError(f"{where}: time window {seconds!r} is not a number") from None
    if not math.isfinite(value) or not 1.0 <= value <= 31 * 86400:
        raise ChartConfigError(f"{where}: time window {seconds!r} s is outside 1 s .. 31 days")
    return value


def _opt_float(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ChartConfigError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(out):
        raise ChartConfigError(f"{where}: {value!r} is not a finite number")
    return out


def config_from_json(text: str, where: str = "chart config") -> ChartConfig:
    """Parse and validate caprobe's JSON chart configuration."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChartConfigError(f"{where}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(raw, dict) or "traces" not in raw:
        raise ChartConfigError(f"{where}: not a caprobe chart configuration (no 'traces')")
    traces_raw = raw["traces"]
    if not isinstance(traces_raw, list) or len(traces_raw) > MAX_TRACES:
        raise ChartConfigError(f"{where}: 'traces' must be a list of at most {MAX_TRACES}")
    traces = []
    for i, t in enumerate(traces_raw):
        if isinstance(t, str):
            t = {"name": t}
        if not isinstance(t, dict):
            raise ChartConfigError(f"{where}: trace {i + 1} is not an object")
        tw = f"{where}: trace {i + 1}"
        traces.append(
            TraceConfig(
                name=_check_name(t.get("name"), tw),
                color=_check_color(t.get("color"), tw),
                visible=bool(t.get("visible", True)),
                y_min=_opt_float(t.get("y_min"), tw),
                y_max=_opt_float(t.get("y_max"), tw),
                log=bool(t.get("log", False)),
            )
        )
    y_mode = raw.get("y_mode", "shared")
    if y_mode not in Y_MODES:
        raise ChartConfigError(f"{where}: y_mode {y_mode!r} is not one of {', '.join(Y_MODES)}")
    return ChartConfig(
        traces=traces,
        time_window_s=_check_window(raw.get("time_window_s", 60.0), where),
        y_mode=y_mode,
        autoscale=bool(raw.get("autoscale", True)),
        log_y=bool(raw.get("log_y", False)),
    )


def _stp_color(parts: list[str], where: str) -> str:
    """StripTool colours are three 16-bit components: ``Strip.Color.Color1 0 0 65535``."""
    try:
        rgb = [int(p) for p in parts[:3]]
    except ValueError:
        raise ChartConfigError(f"{where}: colour {' '.join(parts)!r} is not 3 integers") from None
    if len(rgb) != 3 or not all(0 <= c <= 65535 for c in rgb):
        raise ChartConfigError(f"{where}: colour {' '.join(parts)!r} is not 3 values 0..65535")
    return "#" + "".join(f"{c >> 8:02x}" for c in rgb)


def config_from_stp(text: str, where: str = "StripTool file") -> ChartConfig:
    """Read a StripTool ``.stp`` file: curve names, colours, Min/Max, plot status, time span."""
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise ChartConfigError(f"{where}: empty file")
    header = lines[0].split()
    if header[0] != "StripConfig":
        return _config_from_old_stp(lines, where)
    timespan = 300.0
    colors = list(STRIPTOOL_DEFAULT_COLORS)
    curves: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split()
        key, args = parts[0], parts[1:]
        lw = f"{where} line {number}"
        if key == "Strip.Time.Timespan" and args:
            timespan = _check_window(args[0], lw)
        elif key.startswith("Strip.Color.Color"):
            try:
                index = int(key.removeprefix("Strip.Color.Color")) - 1
            except ValueError:
                continue
            if 0 <= index < len(colors):
                colors[index] = _stp_color(args, lw)
        elif key.startswith("Strip.Curve."):
            fields = key.split(".")
            if len(fields) != 4 or not fields[2].isdigit():
                continue
            index = int(fields[2])
            if not 0 <= index <= 9:  # StripTool has 10 curve slots; index 10 is its own bug
                raise ChartConfigError(f"{lw}: curve index {index} is outside 0..9")
            if args:
                curves.setdefault(index, {})[fields[3]] = args if fields[3] == "Comment" else args[0]
        # everything else (grid, line width, refresh interval...) has no caprobe meaning
    traces = []
    for index in sorted(curves):
        c = curves[index]
        if "Name" not in c:
            continue
        lw = f"{where}: curve {index}"
        try:
            plotted = int(c.get("PlotStatus", 1)) != 0
        except ValueError:
            raise ChartConfigError(f"{lw}: PlotStatus {c['PlotStatus']!r} is not 0/1") from None
        traces.append(
            TraceConfig(
                name=_check_name(c["Name"], lw),
                color=colors[index],
                visible=plotted,
                y_min=_opt_float(c.get("Min"), lw),
                y_max=_opt_float(c.get("Max"), lw),
                log=str(c.get("Scale", "0")).strip() == "1",  # StripTool: 0 linear, 1 log10
            )
        )
    if not traces:
        raise ChartConfigError(f"{where}: no Strip.Curve.<n>.Name entries")
    # StripTool always scales each curve to its Min/Max; keep autoscale only when none is set
    autoscale = not any(t.y_min is not None and t.y_max is not None for t in traces)
    return ChartConfig(
        traces=traces,
        time_window_s=timespan,
        y_mode="per-trace" if len(traces) > 1 and not autoscale else "shared",
        autoscale=autoscale,
    )


def _config_from_old_stp(lines: list[str], where: str) -> ChartConfig:
    """StripTool's pre-1.0 format: ``TIMESPAN s``, ``CHANNEL pv``, ``MINIMUM``/``MAXIMUM``."""
    timespan = 300.0
    traces: list[TraceConfig] = []
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        key, args = parts[0].upper(), parts[1:]
        lw = f"{where} line {number}"
        if key == "TIMESPAN" and args:
            timespan = _check_window(args[0], lw)
        elif key == "CHANNEL" and args:
            if len(traces) >= 10:
                raise ChartConfigError(f"{lw}: more than 10 CHANNEL lines")
            traces.append(
                TraceConfig(_check_name(args[0], lw), STRIPTOOL_DEFAULT_COLORS[len(traces)])
            )
        elif key in ("MINIMUM", "MAXIMUM") and args and traces:
            setattr(traces[-1], "y_min" if key == "MINIMUM" else "y_max", _opt_float(args[0], lw))
    if not traces:
        raise ChartConfigError(f"{where}: neither a StripConfig header nor CHANNEL lines")
    return ChartConfig(traces=traces, time_window_s=timespan)


def load_config(path: str | Path) -> ChartConfig:
    """Load a ``.stp`` (StripTool) or JSON (anything else) chart configuration."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ChartConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".stp" or text.lstrip().startswith("StripConfig"):
        return config_from_stp(text, where=path.name)
    return config_from_json(text, where=path.name)
