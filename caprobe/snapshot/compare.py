"""Compare saved values with live ones (or two snapshots), with absolute/relative tolerance.

A numeric PV differs when any element has ``|live - saved| > max(abs, rel * |saved|)``
(NaN equals NaN; NaN against a number differs). Strings compare exactly, enums by state
(a saved index and a live state name are matched through the PV's states). Untyped saved
values (autosave ``.sav``, Phoebus ``.pvs``) are read against the live PV's type first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from caprobe.snapshot.model import EXACT, NUMERIC_TYPES, SavedPV, Snapshot, Tolerance

NUMERIC = NUMERIC_TYPES

SAME = "same"
DIFFERS = "differs"
UNREADABLE = "unreadable"   # no live value: not connected, no read access ...
NOT_SAVED = "not saved"     # the snapshot has no value for this PV, the PV has one now
NEITHER = "neither"         # no value on either side


@dataclass(frozen=True)
class Comparison:
    name: str
    state: str
    saved_text: str = ""
    live_text: str = ""
    #: Largest |live - saved| of a numeric PV (None otherwise or when not comparable).
    delta: float | None = None
    #: Signed difference of a numeric scalar (live - saved), for display.
    signed_delta: float | None = None
    detail: str = ""

    @property
    def differs(self) -> bool:
        return self.state in (DIFFERS, NOT_SAVED)

    def line(self, units: str = "") -> str:
        """One line for caprobe-snapshot diff."""
        if self.state == UNREADABLE:
            return f"{self.name} saved {self.saved_text}, now unreadable: {self.detail}"
        if self.state == NOT_SAVED:
            return f"{self.name} not in the snapshot ({self.detail}), now {self.live_text}"
        text = f"{self.name} {self.saved_text} -> {self.live_text}"
        extra = []
        if self.signed_delta is not None:
            extra.append(f"{self.signed_delta:+.6g}{' ' + units if units else ''}")
        if self.detail:
            extra.append(self.detail)
        return text + (f" ({'; '.join(extra)})" if extra else "")


def _float_text(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") and "e" not in text else text


def element_text(value: Any, dbf: str | None, precision: int | None = None,
                 quote: bool = True) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if dbf == "STRING" and quote else value
    if isinstance(value, (float, np.floating)):
        if precision is not None and math.isfinite(value) and 0 <= precision <= 17:
            return f"{float(value):.{precision}f}"
        if dbf == "FLOAT":
            return str(np.float32(value))
        return _float_text(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def value_text(pv: SavedPV, max_elements: int = 8, precision: int | None = None,
               quote: bool = True) -> str:
    """A short, exact-enough text of a saved or live value (no units); strings in quotes
    unless ``quote`` is False (a table column shows them bare, as the live value)."""
    if pv.value is None:
        return "-"
    if pv.dbf == "ENUM" and isinstance(pv.value, (int, np.integer)) and pv.states \
            and 0 <= int(pv.value) < len(pv.states):
        return pv.states[int(pv.value)]
    if pv.is_array:
        items = [element_text(v, pv.dbf, precision, quote) for v in pv.value[:max_elements]]
        more = len(pv.value) - len(items)
        if more > 0:
            items.append(f"... ({more} more)")
        return f"[{len(pv.value)}] " + " ".join(items)
    return element_text(pv.value, pv.dbf, precision, quote)


class _NotComparable(ValueError):
    pass


def _as_numbers(values: Any, what: str) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False)
    items = values if isinstance(values, list) else [values]
    out = []
    for item in items:
        try:
            out.append(float(item.strip()) if isinstance(item, str) else float(item))
        except ValueError:
            raise _NotComparable(f"{what} {item!r} is not a number") from None
    return np.array(out, dtype=np.float64)


def _enum_index(value: Any, states: tuple[str, ...]) -> int | str:
    """The index of an enum value given as index or state; the text itself if unresolvable."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    text = str(value)
    if text in states:
        return states.index(text)
    if text.strip() in states:
        return states.index(text.strip())
    if text.strip().isdigit():
        return int(text.strip())
    return text


def _reads_as_numbers(value: Any) -> bool:
    try:
        _as_numbers(value, "value")
    except _NotComparable:
        return False
    return True


def compare_pv(saved: SavedPV, live: SavedPV, tolerance: Tolerance = EXACT) -> Comparison:
    name = saved.name
    saved_text = value_text(saved)
    live_text = value_text(live)
    if saved.value is None:
        if live.value is None:
            return Comparison(name, NEITHER, saved_text, live_text,
                              detail=live.error or saved.error)
        return Comparison(name, NOT_SAVED, saved_text, live_text,
                          detail=saved.error or "no value saved")
    if live.value is None:
        return Comparison(name, UNREADABLE, saved_text, live_text,
                          detail=live.error or "no value")
    live_type = live.dbf
    saved_type = saved.dbf
    if saved_type is not None and live_type is not None and saved_type != live_type \
            and not (saved_type in NUMERIC and live_type in NUMERIC):
        return Comparison(name, DIFFERS, saved_text, live_text,
                          detail=f"type changed: saved {saved_type}, now {live_type}")
    kind = live_type or saved_type
    if kind is None and _reads_as_numbers(saved.value) and _reads_as_numbers(live.value):
        kind = "DOUBLE"  # two untyped files (.sav, .pvs): "5" and "5.0" are the same number
    try:
        if kind in NUMERIC:
            return _compare_numbers(saved, live, tolerance, saved_text, live_text)
        if kind == "ENUM":
            states = live.states or saved.states
            saved_items = saved.value if saved.is_array else [saved.value]
            live_items = live.value if live.is_array else [live.value]
            a = [_enum_index(v, states) for v in saved_items]
            b = [_enum_index(v, states) for v in live_items]
            same = a == b
        else:
            a_text = saved.value if saved.is_array else [saved.value]
            b_text = live.value if live.is_array else [live.value]
            same = [str(v) for v in a_text] == [str(v) for v in b_text]
    except _NotComparable as exc:
        return Comparison(name, DIFFERS, saved_text, live_text, detail=str(exc))
    return Comparison(name, SAME if same else DIFFERS, saved_text, live_text)


def _compare_numbers(saved: SavedPV, live: SavedPV, tolerance: Tolerance, saved_text: str,
                     live_text: str) -> Comparison:
    a = _as_numbers(saved.value, "saved value")
    b = _as_numbers(live.value, "live value")
    if live.dbf == "FLOAT" and saved.dbf != "FLOAT":
        a = a.astype(np.float32).astype(np.float64)  # "0.1" from a file means float32 0.1
    name = saved.name
    if a.shape != b.shape:
        return Comparison(name, DIFFERS, saved_text, live_text,
                          detail=f"{len(a)} elements saved, {len(b)} now")
    if a.size == 0:
        return Comparison(name, SAME, saved_text, live_text, delta=0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        delta = np.abs(b - a)
        both_nan = np.isnan(a) & np.isnan(b)
        same_inf = np.isinf(a) & (a == b)
        delta = np.where(both_nan | same_inf, 0.0, delta)
        limit = np.fmax(tolerance.absolute, tolerance.relative * np.abs(a))
        over = ~(delta <= limit)  # NaN delta (NaN against a number) counts as over
        first = float(b[0] - a[0]) if a.size == 1 else math.nan
    worst = float(np.nanmax(delta)) if not np.all(np.isnan(delta)) else math.nan
    signed = first if a.size == 1 and math.isfinite(worst) and math.isfinite(first) else None
    if not over.any():
        return Comparison(name, SAME, saved_text, live_text, delta=worst, signed_delta=signed)
    detail = ""
    if a.size > 1:
        detail = f"{int(over.sum())} of {a.size} elements differ, largest by {worst:.6g}"
    return Comparison(name, DIFFERS, saved_text, live_text, delta=worst,
                      signed_delta=signed, detail=detail)


def compare(saved: Snapshot, live: Iterable[SavedPV] | Snapshot,
            tolerance: Tolerance | None = None) -> list[Comparison]:
    """Every PV of ``saved`` against ``live`` (matched by name; a PV missing from ``live``
    is unreadable). ``tolerance`` overrides the snapshot's own default; a PV's own tolerance
    always wins."""
    live_pvs = live.pvs if isinstance(live, Snapshot) else list(live)
    by_name = {pv.name: pv for pv in live_pvs}
    out = []
    for pv in saved.pvs:
        tol = pv.tolerance if pv.tolerance is not None else (tolerance or saved.tolerance)
        current = by_name.get(pv.name) or SavedPV(pv.name, error="not in the other snapshot")
        out.append(compare_pv(pv, current, tol))
    return out
