"""Value text for the probe's format menu.

``caprobe.format.format_value`` gives the default (PREC + units) text shared with the CLI; the
extra display modes operators know from Phoebus Probe / MEDM (decimal with a chosen precision,
exponential, engineering, hex, string) are GUI-only, so they live here.  Candidates to move
down into caprobe.format if the CLI ever wants them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from caprobe import format as cafmt

#: Elements shown in the value field before '...'; the array view shows all of them.
SUMMARY_ELEMENTS = 8
#: Text cap for the value field (Phoebus Probe caps at 2000 characters too).
MAX_VALUE_CHARS = 2000


class DisplayFormat(enum.Enum):
    DEFAULT = "Default"
    DECIMAL = "Decimal"
    EXPONENTIAL = "Exponential"
    ENGINEERING = "Engineering"
    HEX = "Hex"
    STRING = "String"

    @property
    def uses_precision(self) -> bool:
        return self in (DisplayFormat.DECIMAL, DisplayFormat.EXPONENTIAL,
                        DisplayFormat.ENGINEERING)


def as_text_values(data: Any) -> list[str]:
    """DBR_STRING payloads (list of bytes) as Python strings (no escaping: for editors)."""
    return [cafmt.to_text(item) for item in data]


def char_array_text(data: np.ndarray) -> str:
    """A CHAR waveform as text up to the first NUL (no escaping: for editors)."""
    return cafmt.to_text(bytes(np.asarray(data).astype(np.uint8)))


_FLOAT_FORMATS = {
    DisplayFormat.DECIMAL: "f",
    DisplayFormat.EXPONENTIAL: "e",
    DisplayFormat.ENGINEERING: "eng",
}


def format_value_text(
    response_or_data: Any,
    *,
    data_type: int | None = None,
    mode: DisplayFormat = DisplayFormat.DEFAULT,
    precision: int | None = None,
    units: str | None = None,
    enum_strings: Sequence[str] | None = None,
    max_elements: int | None = SUMMARY_ELEMENTS,
    is_char: bool = False,
) -> str:
    """Text for the value field: a response (or its ``.data`` plus ``data_type``) in the
    chosen display mode, with units; arrays cut after ``max_elements`` (the text says how
    many more)."""
    options: dict[str, Any] = {}
    if mode in _FLOAT_FORMATS:
        digits = 3 if precision is None or precision < 0 else min(precision, 17)
        options["float_format"] = f"{_FLOAT_FORMATS[mode]}{digits}"
    elif mode is DisplayFormat.HEX:
        options["float_format"] = "hex"
        options["int_format"] = "hex"
    elif precision is not None and precision >= 0:
        options["precision"] = precision
    text = cafmt.format_value(
        response_or_data,
        data_type=data_type,
        units=units or None,
        enum_strings=list(enum_strings) if enum_strings else None,
        max_elements=max_elements,
        char_as_string=is_char and mode in (DisplayFormat.DEFAULT, DisplayFormat.STRING),
        show_count=False,
        decode_text=True,
        **options,
    )
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + " …"


def limits_text(low: Any, high: Any, precision: int | None, units: str | None) -> str:
    """'-10.000 .. 10.000 mm', or 'not set' when the IOC reports 0..0 (EPICS' 'no limits')."""
    if low is None or high is None:
        return "—"
    if math.isnan(float(low)) and math.isnan(float(high)):
        return "not set"  # records without these limits send NaN (e.g. ao alarm limits)
    if float(low) == 0 and float(high) == 0:
        return "not set (0 .. 0)"
    prec = 3 if precision is None or precision < 0 else min(precision, 12)
    unit = f" {units}" if units else ""
    if math.isnan(float(low)):  # only HIGH (or HIHI) set
        return f"above {float(high):.{prec}f}{unit} (no low limit)"
    if math.isnan(float(high)):
        return f"below {float(low):.{prec}f}{unit} (no high limit)"
    return f"{float(low):.{prec}f} .. {float(high):.{prec}f}{unit}"
