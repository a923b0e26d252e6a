"""What a snapshot holds: PVs with their saved value, type, units, alarm and time.

Values are kept in one canonical form per type, whatever file they came from:

* DOUBLE/FLOAT: ``float``; arrays a numpy array (float64 / float32)
* SHORT/LONG/CHAR and PV Access's other integers (INT8, UINT16, UINT32, INT64, UINT64,
  BOOLEAN as 0/1): ``int``; arrays a numpy integer array
* ENUM: the state ``str`` when the states were known, else the ``int`` index
* STRING: ``str``; arrays a ``list[str]``
* untyped (``dbf`` None, from an autosave ``.sav`` or a Phoebus ``.pvs`` file, which keep
  only text): ``str`` or ``list[str]``, interpreted against the PV's type when compared or
  restored.

``value`` None means there is no value (the PV was not connected when the snapshot was
taken; ``error`` says why).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Native (DBF) type names, in DBR number order.
TYPE_NAMES = ("STRING", "SHORT", "FLOAT", "ENUM", "CHAR", "LONG", "DOUBLE")
#: PV Access scalar types Channel Access has no name for (a PVA NTScalar 'double' is DOUBLE,
#: 'float' FLOAT, 'int' LONG, 'short' SHORT, 'ubyte' CHAR, 'string' STRING, an NTEnum ENUM).
#: Spelled by size, because PVA's own 'long' (64 bits) is not CA's LONG (32 bits).
PVA_TYPE_NAMES = ("INT8", "UINT16", "UINT32", "INT64", "UINT64", "BOOLEAN")
ALL_TYPE_NAMES = TYPE_NAMES + PVA_TYPE_NAMES
SEVERITY_NAMES = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")
_NUMPY_TYPES = {"SHORT": np.int16, "FLOAT": np.float32, "CHAR": np.uint8,
                "LONG": np.int32, "DOUBLE": np.float64, "INT8": np.int8, "UINT16": np.uint16,
                "UINT32": np.uint32, "INT64": np.int64, "UINT64": np.uint64,
                "BOOLEAN": np.uint8}
#: Types whose values are numbers (compared with a tolerance).
NUMERIC_TYPES = ("SHORT", "FLOAT", "CHAR", "LONG", "DOUBLE") + PVA_TYPE_NAMES


def numpy_type(dbf: str) -> type:
    """The numpy dtype of a numeric type name."""
    return _NUMPY_TYPES[dbf]


def display_type(dbf: str) -> int:
    """The CA type (DBR number) that caprobe.format shows values of ``dbf`` as: itself for
    CA's names, LONG for PV Access's other integers (what a PVA response's ``data_type``
    says too)."""
    if dbf in TYPE_NAMES:
        return TYPE_NAMES.index(dbf)
    return TYPE_NAMES.index("LONG")


@dataclass(frozen=True)
class Tolerance:
    """A value is within tolerance of the saved one when
    ``|live - saved| <= max(absolute, relative * |saved|)`` (element by element)."""

    absolute: float = 0.0
    relative: float = 0.0

    def __post_init__(self) -> None:
        for name in ("absolute", "relative"):
            value = getattr(self, name)
            if not value >= 0:  # also refuses NaN
                raise ValueError(f"{name} tolerance must be a number >= 0, not {value!r}")

    def __str__(self) -> str:
        parts = []
        if self.absolute:
            parts.append(f"±{self.absolute:g}")
        if self.relative:
            parts.append(f"±{self.relative * 100:g} %")
        return " or ".join(parts) if parts else "exact"


EXACT = Tolerance()


@dataclass
class SavedPV:
    """One PV in a snapshot."""

    name: str
    value: Any = None
    dbf: str | None = None
    units: str = ""
    severity: int | None = None
    status: int | None = None
    time_ns: int | None = None
    error: str = ""
    tolerance: Tolerance | None = None
    selected: bool = True
    #: Enum state strings when known (from the PV, not stored in files): an ENUM value may be
    #: an index or a state, and these turn one into the other.
    states: tuple[str, ...] = ()
    #: PREC when known (display only; not stored in files).
    precision: int | None = None

    @property
    def has_value(self) -> bool:
        return self.value is not None

    @property
    def count(self) -> int:
        """Number of elements saved (1 for a scalar, 0 for none)."""
        if self.value is None:
            return 0
        if isinstance(self.value, (list, tuple, np.ndarray)):
            return len(self.value)
        return 1

    @property
    def is_array(self) -> bool:
        return isinstance(self.value, (list, tuple, np.ndarray))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SavedPV):
            return NotImplemented
        mine, theirs = vars(self).copy(), vars(other).copy()
        a, b = mine.pop("value"), theirs.pop("value")
        for display_only in ("states", "precision"):
            mine.pop(display_only)
            theirs.pop(display_only)
        return mine == theirs and values_identical(a, b)


def values_identical(a: Any, b: Any) -> bool:
    """Same value in the canonical form (NaN equals NaN, array dtypes must match)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    return type(a) is type(b) and a == b


def numeric_array(values: Any, dbf: str) -> np.ndarray:
    """A numpy array of the type's dtype (raises ValueError/OverflowError on bad values)."""
    dtype = _NUMPY_TYPES[dbf]
    if np.dtype(dtype).kind in "iu":
        ints = [int(v) for v in values]
        info = np.iinfo(np.int8 if dbf == "CHAR" else dtype)
        high = 255 if dbf == "CHAR" else 1 if dbf == "BOOLEAN" else info.max
        for v in ints:
            if not info.min <= v <= high:
                raise ValueError(f"{v} is out of range for {dbf}")
        if dbf == "CHAR":
            return np.array([v & 0xFF for v in ints], dtype=np.uint8)
        return np.array(ints, dtype=dtype)
    return np.array([float(v) for v in values], dtype=dtype)


@dataclass
class Snapshot:
    """PVs saved at one time, in table order."""

    pvs: list[SavedPV] = field(default_factory=list)
    time_ns: int | None = None
    comment: str = ""
    tolerance: Tolerance = EXACT
    timeout: float | None = None

    def names(self) -> list[str]:
        return [pv.name for pv in self.pvs]

    def by_name(self) -> dict[str, SavedPV]:
        return {pv.name: pv for pv in self.pvs}

    def tolerance_of(self, pv: SavedPV) -> Tolerance:
        return pv.tolerance if pv.tolerance is not None else self.tolerance


def now_ns() -> int:
    return time.time_ns()
