"""The PV table's model: thousands of rows, updated in batches, painted only where visible.

Updates arrive as ``ingest({pv: [item, ...]})`` (one call per batch of the PV service, ~30 ms;
``items[-1]`` is the PV's newest state: a value response or a connection event). Ingesting
only stores the newest data per row and marks the row dirty; no text is formatted and no Qt
signal is emitted per update. The view asks :meth:`take_dirty` on its repaint timer and
repaints its viewport when a visible row changed, so formatting cost follows the ~40 rows on
screen, not the 5,000 in the table.

Each row also keeps a saved value (from a snapshot or a file) and its tolerance; the "differs"
flag of a row is recomputed when its live or saved value changes (a float comparison for
numeric scalars, :func:`caprobe.snapshot.compare.compare_pv` otherwise), so the count of rows
beyond tolerance is always current.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PyQt5.QtCore import QAbstractTableModel, QModelIndex, Qt, pyqtSignal
from PyQt5.QtGui import QBrush, QColor

from caprobe import format as fmt
from caprobe.snapshot.capture import type_name, value_of
from caprobe.snapshot.compare import DIFFERS, NOT_SAVED, compare_pv, value_text
from caprobe.snapshot.model import EXACT, NUMERIC_TYPES, SavedPV, Tolerance, display_type

COLUMNS = ("PV", "Value", "Severity", "Time", "Saved", "Difference", "Tolerance", "Result")
(COL_NAME, COL_VALUE, COL_SEVERITY, COL_TIME, COL_SAVED, COL_DIFF, COL_TOL,
 COL_RESULT) = range(len(COLUMNS))
#: Sort key role: numbers sort as numbers.
SORT_ROLE = Qt.UserRole + 1
#: A row differs from its saved value beyond tolerance.
DIFFERS_ROLE = Qt.UserRole + 2
#: Connection state text ("connected", "disconnected", "connecting").
STATE_ROLE = Qt.UserRole + 3

DIFF_BACKGROUND = QColor("#FFE0A0")   # amber: beyond tolerance
DIFF_FOREGROUND = QColor("#000000")
MAX_ELEMENTS_SHOWN = 6
#: Rows compared with their saved value per repaint tick, beyond the visible ones.
COMPARE_BUDGET = 1500
_NUMERIC = NUMERIC_TYPES  # CA's numeric types and PV Access's other integers


@dataclass
class Row:
    name: str
    checked: bool = True
    connected: bool | None = None          # None: never connected yet
    reason: str = ""                       # why not connected
    #: The newest value response, kept as received: caprobe.ca decodes a response when its
    #: ``.data``/``.metadata`` are first read, so rows nobody looks at are never decoded.
    response: Any = None
    dbf: str | None = None                 # native type name
    units: str = ""
    precision: int | None = None
    states: tuple[str, ...] = ()
    saved: SavedPV | None = None
    tolerance: Tolerance | None = None     # None: the table's default
    differs: bool = False
    delta: float | None = None
    diff_text: str | None = ""   # None: the numeric delta, formatted when shown
    result: str = ""
    result_detail: str = ""
    arrived: float = 0.0                   # monotonic time of the newest value
    _cache: dict[int, Any] = field(default_factory=dict)

    @property
    def data(self) -> Any:
        """Newest live data (numpy array, or a list of bytes for strings and enum labels)."""
        return None if self.response is None else self.response.data

    @property
    def severity(self) -> int | None:
        metadata = None if self.response is None else self.response.metadata
        return getattr(metadata, "severity", None)

    @property
    def status(self) -> int | None:
        metadata = None if self.response is None else self.response.metadata
        return getattr(metadata, "status", None)

    @property
    def stamp(self) -> float | None:
        """IOC time of the newest value, Unix seconds."""
        metadata = None if self.response is None else self.response.metadata
        return getattr(metadata, "timestamp", None)

    def live(self) -> SavedPV:
        """The live value in the snapshot package's form (for compare and snapshots)."""
        if not self.connected or self.data is None or self.dbf is None:
            return SavedPV(self.name, error=self.reason or "not connected")
        return SavedPV(self.name, value_of(self.data, self.dbf, self.states), self.dbf,
                       self.units, self.severity, self.status,
                       None if self.stamp is None else int(self.stamp * 1e9),
                       states=self.states, precision=self.precision)


class PVTableModel(QAbstractTableModel):
    """Rows of PVs; see the module docstring."""

    #: the number of rows beyond tolerance changed
    differingChanged = pyqtSignal(int)
    #: rows were added or removed (names in table order)
    namesChanged = pyqtSignal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[Row] = []
        self._index: dict[str, int] = {}
        self._dirty: set[int] = set()
        self._to_compare: set[int] = set()  # rows with a saved value and a new live one
        self._event_types: dict[type, bool] = {}  # item type -> is a connection event
        self._compare_cursor = 0
        self.default_tolerance: Tolerance = EXACT
        self._differing = 0

    # ---- rows ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [row.name for row in self.rows]

    def row_of(self, name: str) -> int | None:
        return self._index.get(name)

    def add_names(self, names: Iterable[str]) -> list[str]:
        """Append rows for names not yet in the table; returns the names added."""
        new = list(dict.fromkeys(name for name in names if name not in self._index))
        if not new:
            return []
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        for name in new:
            self._index[name] = len(self.rows)
            self.rows.append(Row(name))
        self.endInsertRows()
        self.namesChanged.emit()
        return new

    def remove_rows(self, rows: Sequence[int]) -> list[str]:
        doomed = sorted(set(rows), reverse=True)
        names = []
        for row in doomed:
            self.beginRemoveRows(QModelIndex(), row, row)
            names.append(self.rows.pop(row).name)
            self.endRemoveRows()
        self._index = {row.name: i for i, row in enumerate(self.rows)}
        self._dirty.clear()
        self._to_compare.clear()
        self._recount()
        self.namesChanged.emit()
        return names

    def clear(self) -> list[str]:
        names = self.names()
        self.beginResetModel()
        self.rows, self._index = [], {}
        self._dirty.clear()
        self._to_compare.clear()
        self.endResetModel()
        self._recount()
        self.namesChanged.emit()
        return names

    # ---- live data -------------------------------------------------------------------------
    def ingest(self, batch: dict[str, list[Any]]) -> None:
        """Take one batch from the PV service: ``{pv: [item, ...]}``, newest last."""
        self.ingest_newest({name: items[-1] for name, items in batch.items() if items})

    def ingest_newest(self, batch: dict[str, Any]) -> None:
        """Take each PV's newest item: ``{pv: item}`` (a value response or a connection
        event)."""
        now = time.monotonic()
        index = self._index
        events = self._event_types
        for name, item in batch.items():
            position = index.get(name)
            if position is None:
                continue
            row = self.rows[position]
            kind = type(item)
            is_event = events.get(kind)
            if is_event is None:
                is_event = events[kind] = hasattr(item, "connected") and \
                    not hasattr(item, "data")
            if is_event:
                row.connected = bool(item.connected)
                row.reason = "" if item.connected else (getattr(item, "reason", "") or "")
                if item.connected:
                    continue  # the value follows
                row.response = None
            else:
                row.connected = True
                row.reason = ""
                row.response = item  # not decoded here (see Row.response)
                if row.dbf is None:
                    row.dbf = _native_name(item)
                row.arrived = now
            row._cache.clear()
            self._dirty.add(position)
            if row.saved is not None:
                self._to_compare.add(position)

    def update_differences(self, visible: Iterable[int] = (),
                           budget: int = COMPARE_BUDGET) -> None:
        """Compare rows whose live value changed since they were last compared: the
        ``visible`` ones always, then up to ``budget`` others, taken round-robin. The view
        calls this on its repaint timer, so the cost per tick is bounded however fast the PVs
        change (5,000 rows at 10 Hz: every row is compared within ~0.35 s, rows on screen at
        every repaint)."""
        pending = self._to_compare
        if not pending:
            return
        rows = self.rows
        count = len(rows)
        flipped = False

        def compare(position: int) -> None:
            nonlocal flipped
            pending.discard(position)
            row = rows[position]
            if row.saved is not None:
                flipped |= self._update_difference(row)
                row._cache.clear()  # the Difference text may have been shown already
                self._dirty.add(position)

        for position in visible:
            if position in pending and position < count:
                compare(position)
        if len(pending) <= budget:
            for position in list(pending):
                if position < count:
                    compare(position)
            pending.clear()
        else:
            cursor = self._compare_cursor % max(1, count)
            done = scanned = 0
            while done < budget and scanned < count:
                if cursor in pending:
                    compare(cursor)
                    done += 1
                cursor = (cursor + 1) % count
                scanned += 1
            self._compare_cursor = cursor
        if flipped:
            self._recount()

    def set_metadata(self, name: str, control: Any) -> None:
        """Units, precision and enum states (the service's metadata, once per connection)."""
        position = self._index.get(name)
        if position is None:
            return
        row = self.rows[position]
        metadata = getattr(control, "metadata", None)
        units = getattr(metadata, "units", None)
        row.units = fmt.to_text(units) if units else ""
        precision = getattr(metadata, "precision", None)
        row.precision = int(precision) if precision is not None else None
        states = getattr(metadata, "enum_strings", None)
        row.states = tuple(fmt.to_text(s) for s in states) if states else ()
        channel = getattr(control, "channel", None)
        if channel is not None:
            row.dbf = type_name(control) or row.dbf  # CA or PVA (None: a PVA structure)
        row._cache.clear()
        self._dirty.add(position)

    def take_dirty(self) -> set[int]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    # ---- saved values and tolerance --------------------------------------------------------
    def set_saved(self, saved: Iterable[SavedPV], *, add_missing: bool = True) -> None:
        """Saved values (a snapshot or a file) for the rows with the same names."""
        saved = list(saved)
        if add_missing:
            self.add_names(pv.name for pv in saved)
        for pv in saved:
            position = self._index.get(pv.name)
            if position is None:
                continue
            row = self.rows[position]
            row.saved = pv
            row.checked = pv.selected
            if pv.tolerance is not None:
                row.tolerance = pv.tolerance
            self._update_difference(row)
            row._cache.clear()
        self._recount()
        self._all_changed()

    def clear_saved(self) -> None:
        for row in self.rows:
            row.saved, row.differs, row.delta, row.diff_text = None, False, None, ""
            row._cache.clear()
        self._recount()
        self._all_changed()

    def set_default_tolerance(self, tolerance: Tolerance) -> None:
        self.default_tolerance = tolerance
        self.recompare()

    def set_tolerance(self, rows: Iterable[int], tolerance: Tolerance | None) -> None:
        for position in rows:
            row = self.rows[position]
            row.tolerance = tolerance
            self._update_difference(row)
            row._cache.clear()
        self._recount()
        self._all_changed()

    def tolerance_of(self, row: Row) -> Tolerance:
        return row.tolerance if row.tolerance is not None else self.default_tolerance

    def recompare(self) -> None:
        for row in self.rows:
            if row.saved is not None:
                self._update_difference(row)
                row._cache.clear()
        self._recount()
        self._all_changed()

    def _update_difference(self, row: Row) -> bool:
        """Recompute ``row.differs``; True when it flipped."""
        before = row.differs
        saved = row.saved
        if saved is None:
            row.differs, row.delta, row.diff_text = False, None, ""
            return before
        tolerance = self.tolerance_of(row)
        value = saved.value
        data = row.data
        # Fast path for the common case: numeric scalars on both sides.
        if (row.connected and data is not None and row.dbf in _NUMERIC
                and isinstance(value, float | int) and not isinstance(value, bool)
                and getattr(data, "size", 2) == 1):
            live = float(data[0]) if hasattr(data, "__getitem__") else float(data)
            delta = live - float(value)
            limit = max(tolerance.absolute, tolerance.relative * abs(float(value)))
            if math.isnan(delta):
                same = math.isnan(live) and math.isnan(float(value))
            else:
                same = abs(delta) <= limit or (live == float(value))
            row.differs = not same
            row.delta = delta if not math.isnan(delta) else None
            row.diff_text = None  # formatted when shown (difference_text)
        else:
            result = compare_pv(saved, row.live(), tolerance)
            # A PV that cannot be read now is shown as disconnected, not counted as differing.
            row.differs = result.state in (DIFFERS, NOT_SAVED)
            row.delta = result.signed_delta if result.signed_delta is not None else result.delta
            if result.state == "unreadable":
                row.diff_text = "no live value"
            elif result.signed_delta is not None:
                row.diff_text = f"{result.signed_delta:+.6g}" if result.signed_delta else ""
            elif result.state == DIFFERS:
                row.diff_text = result.detail or "differs"
            else:
                row.diff_text = ""
        return before != row.differs

    def _recount(self) -> None:
        count = sum(1 for row in self.rows if row.differs)
        if count != self._differing:
            self._differing = count
            self.differingChanged.emit(count)

    @property
    def differing(self) -> int:
        return self._differing

    def set_results(self, results: dict[str, str], details: dict[str, str] | None = None
                    ) -> None:
        """Outcome of a restore per row (``details``: the whole line, for the tooltip)."""
        for name, text in results.items():
            position = self._index.get(name)
            if position is not None:
                row = self.rows[position]
                row.result = text
                row.result_detail = (details or {}).get(name, text)
                row._cache.clear()
        self._all_changed()

    def _all_changed(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self.rows) - 1, len(COLUMNS) - 1))

    # ---- Qt model --------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.DisplayRole) -> Any:
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlags:
        base = Qt.ItemIsEnabled | Qt.ItemIsSelectable
        if index.column() == COL_NAME:
            base |= Qt.ItemIsUserCheckable
        if index.column() == COL_TOL:
            base |= Qt.ItemIsEditable
        return base

    def setData(self, index: QModelIndex, value: Any, role: int = Qt.EditRole) -> bool:  # noqa: N802
        if not index.isValid():
            return False
        row = self.rows[index.row()]
        if index.column() == COL_NAME and role == Qt.CheckStateRole:
            row.checked = value == Qt.Checked or value is True
            row._cache.clear()
            self.dataChanged.emit(index, index)
            return True
        if index.column() == COL_TOL and role == Qt.EditRole:
            try:
                tolerance = parse_tolerance(str(value))
            except ValueError:
                return False
            self.set_tolerance([index.row()], tolerance)
            return True
        return False

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.DisplayRole:
            key = column
            cached = row._cache.get(key)
            if cached is None:
                cached = row._cache[key] = self._text(row, column)
            return cached
        if role == Qt.CheckStateRole and column == COL_NAME:
            return Qt.Checked if row.checked else Qt.Unchecked
        if role == Qt.BackgroundRole:
            if row.differs and column in (COL_VALUE, COL_SAVED, COL_DIFF):
                return QBrush(DIFF_BACKGROUND)
            if column == COL_SEVERITY and row.connected and row.severity:
                return QBrush(QColor(fmt.alarm_color(row.severity)))
            if column == COL_SEVERITY and row.connected is False:
                return QBrush(QColor(fmt.DISCONNECTED_COLOR))
            return None
        if role == Qt.ForegroundRole:
            if column == COL_TOL and row.tolerance is None:
                return QBrush(QColor("#808080"))  # the table's default, in brackets
            if column == COL_SEVERITY and row.connected and row.severity == 3:
                return QBrush(QColor("#C00000"))  # INVALID: white background, red word
            if column == COL_VALUE and row.connected is False:
                return QBrush(QColor("#808080"))
            if row.differs and column in (COL_VALUE, COL_SAVED, COL_DIFF):
                return QBrush(DIFF_FOREGROUND)
            return None
        if role == Qt.TextAlignmentRole and column in (COL_VALUE, COL_SAVED, COL_DIFF):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ToolTipRole:
            return self._tooltip(row, column)
        if role == SORT_ROLE:
            return self._sort_key(row, column)
        if role == DIFFERS_ROLE:
            return row.differs
        if role == STATE_ROLE:
            return ("connecting" if row.connected is None else
                    "connected" if row.connected else "disconnected")
        if role == Qt.EditRole and column == COL_TOL:
            return tolerance_text(row.tolerance) if row.tolerance is not None else ""
        return None

    def _text(self, row: Row, column: int) -> str:
        if column == COL_NAME:
            return row.name
        if column == COL_VALUE:
            if row.connected is None:
                return "connecting…"
            if not row.connected:
                return fmt.DISCONNECTED_TEXT
            if row.data is None:
                return ""
            return live_text(row)
        if column == COL_SEVERITY:
            if not row.connected or row.severity is None:
                return ""
            return fmt.alarm_text(int(row.severity), int(row.status or 0))
        if column == COL_TIME:
            if not row.connected or row.stamp is None:
                return ""
            return fmt.format_timestamp(float(row.stamp))
        if column == COL_SAVED:
            if row.saved is None:
                return ""
            if row.saved.value is None:
                return "(not saved)"
            return saved_text(row)
        if column == COL_DIFF:
            if row.diff_text is None:
                return difference_text(row.delta, row.precision) if row.delta is not None \
                    else ""
            return row.diff_text
        if column == COL_TOL:
            if row.tolerance is None:
                return f"({tolerance_text(self.default_tolerance)})"
            return tolerance_text(row.tolerance)
        if column == COL_RESULT:
            return row.result
        return ""

    def _tooltip(self, row: Row, column: int) -> str | None:
        if column == COL_VALUE and row.connected is False:
            return f"Not connected: {row.reason}" if row.reason else "Not connected"
        if column == COL_TOL:
            return ("Tolerance: a number is absolute (0.5), with % relative (2%), both: "
                    "'0.5 2%'. Empty: the table's default.")
        if column == COL_SAVED and row.saved is not None and row.saved.time_ns:
            return "Saved at " + fmt.format_timestamp(row.saved.time_ns / 1e9)
        if column == COL_RESULT and row.result:
            return row.result_detail or row.result
        return None

    def _sort_key(self, row: Row, column: int) -> Any:
        if column == COL_NAME:
            return row.name
        if column == COL_VALUE:
            if row.connected and row.data is not None and row.dbf in _NUMERIC \
                    and getattr(row.data, "size", 0) >= 1:
                return float(row.data[0])
            return math.inf
        if column == COL_SEVERITY:
            return -1 if not row.connected else int(row.severity or 0)
        if column == COL_TIME:
            return row.stamp or 0.0
        if column == COL_DIFF:
            return abs(row.delta) if row.delta is not None else (1e300 if row.differs else -1)
        return self._text(row, column)


def live_text(row: Row) -> str:
    data = row.data
    dbf = row.dbf
    precision = row.precision if dbf in ("FLOAT", "DOUBLE") else None
    if dbf is None and hasattr(row.response, "layout"):  # a PV Access structure (NTTable...)
        return f"{row.response.layout.type_text} (a structure: open it in the probe)"
    if dbf == "ENUM" and isinstance(data, (list, tuple, np.ndarray)) and len(data) \
            and isinstance(data[0], (bytes, str)):  # the service delivers enum labels
        return " ".join(fmt.to_text(v) if isinstance(v, bytes) else v for v in data)
    if dbf == "ENUM" and row.states and isinstance(data, np.ndarray) and data.size == 1 \
            and data.dtype.kind in "iu":
        index = int(data[0])
        return row.states[index] if 0 <= index < len(row.states) else str(index)
    try:
        return fmt.format_value(data, data_type=display_type(dbf) if dbf else None,
                                precision=precision, units=row.units or None,
                                max_elements=MAX_ELEMENTS_SHOWN, decode_text=True)
    except (ValueError, TypeError):
        return str(data)


def _native_name(response: Any) -> str | None:
    return type_name(response)  # CA or PV Access (None: a PVA structure)


def saved_text(row: Row) -> str:
    """The saved value as the live one is shown (same PREC, units, array layout)."""
    saved = row.saved
    if saved.dbf in _NUMERIC:
        data = np.atleast_1d(np.asarray(saved.value))
        precision = row.precision if saved.dbf in ("FLOAT", "DOUBLE") else None
        try:
            return fmt.format_value(data, data_type=display_type(saved.dbf),
                                    precision=precision, units=row.units or None,
                                    max_elements=MAX_ELEMENTS_SHOWN)
        except (ValueError, TypeError):
            pass
    text = value_text(saved, MAX_ELEMENTS_SHOWN, None, quote=False)
    if row.units and not saved.is_array and row.dbf in _NUMERIC and saved.dbf is None:
        text = f"{text} {row.units}"  # text from a .sav/.pvs file, a number of this PV
    return text


def difference_text(delta: float, precision: int | None) -> str:
    """``+0.050`` at the PV's PREC; a difference that PREC would round to zero keeps its
    significant digits (``+0.0004``) so a row never reads "differs by +0.000"."""
    if delta == 0 or math.isnan(delta):
        return ""
    if precision is not None and 0 <= precision <= 12:
        text = f"{delta:+.{precision}f}"
        if float(text) != 0:
            return text
    return f"{delta:+.3g}"


def tolerance_text(tolerance: Tolerance) -> str:
    parts = []
    if tolerance.absolute:
        parts.append(f"{tolerance.absolute:g}")
    if tolerance.relative:
        parts.append(f"{tolerance.relative * 100:g}%")
    return " ".join(parts) if parts else "0"


def parse_tolerance(text: str) -> Tolerance | None:
    """``0.5`` absolute, ``2%`` relative, ``0.5 2%`` both; empty: None (the default)."""
    words = text.replace(",", " ").split()
    if not words:
        return None
    absolute = relative = 0.0
    for word in words:
        try:
            if word.endswith("%"):
                relative = float(word[:-1]) / 100
            else:
                absolute = float(word)
        except ValueError:
            raise ValueError(f"{word!r} is not a tolerance (0.5, 2% or both)") from None
    return Tolerance(absolute, relative)
