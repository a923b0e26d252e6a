"""The probe's details below the header: channel, metadata, enum states, history, laid out in
as many columns as the width allows (three on a wide window, one at 800 px), so the details
scroll vertically only and never push the window wider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PyQt5.QtCore import QSize, Qt
from PyQt5.QtGui import QResizeEvent
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from caprobe.gui.probe.labels import Field

#: Column count by available width (px at 100 % zoom, scaled with the font).
TWO_COLUMNS_FROM = 640
THREE_COLUMNS_FROM = 1000


class ChannelBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Channel")
        self.rtyp_label = Field()
        self.host_label = Field()
        self.access_label = Field()
        self.type_label = Field()
        self.count_label = Field()
        self.form = QFormLayout(self)
        self.form.addRow("RTYP", self.rtyp_label)
        self.form.addRow("Host", self.host_label)
        self.form.addRow("Access", self.access_label)
        self.form.addRow("Native type", self.type_label)
        self.form.addRow("Elements", self.count_label)

    def use_pva_labels(self) -> None:
        """PV Access has no record type, host:port or native DBR type to show: its rows say
        what they hold instead (type ID, server, normative type)."""
        for label, text in ((self.rtyp_label, "Type ID"), (self.host_label, "Server"),
                            (self.type_label, "Type")):
            row_label = self.form.labelForField(label)
            if isinstance(row_label, QLabel):
                row_label.setText(text)


class MetadataBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Metadata")
        self.units_label = Field()
        self.prec_label = Field()
        self.disp_label = Field()
        self.ctrl_label = Field()
        self.warn_label = Field()
        self.alarm_limits_label = Field()
        self.form = QFormLayout(self)
        self.form.addRow("Units (EGU)", self.units_label)
        self.form.addRow("Precision", self.prec_label)
        self.form.addRow("Display", self.disp_label)
        self.form.addRow("Control", self.ctrl_label)
        self.form.addRow("Warning", self.warn_label)
        self.form.addRow("Alarm", self.alarm_limits_label)

    def use_pva_labels(self) -> None:
        """PV Access has display.units, not a record's EGU field."""
        row_label = self.form.labelForField(self.units_label)
        if isinstance(row_label, QLabel):
            row_label.setText("Units")

    def show_numeric_rows(self, numeric: bool) -> None:
        """A string PV has no units, precision or limits: say so once instead of six rows of
        'none'."""
        for label in (self.units_label, self.prec_label, self.disp_label, self.ctrl_label,
                      self.warn_label, self.alarm_limits_label):
            self.form.labelForField(label).setVisible(numeric)
            label.setVisible(numeric)
        self.setTitle("Metadata" if numeric else "Metadata (text PV: no units, precision "
                      "or limits)")


class EnumBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Enum states")
        self.enum_list = QListWidget()
        self.enum_list.setSelectionMode(QListWidget.NoSelection)
        self.enum_list.setFocusPolicy(Qt.NoFocus)
        QVBoxLayout(self).addWidget(self.enum_list)


#: Rows of an NTTable and nodes of a structure shown at most (a person reads no more; the
#: header says how many there are).
MAX_TABLE_ROWS = 2000
MAX_TREE_NODES = 2000


def _cell_text(item: Any) -> str:
    if isinstance(item, bytes):
        return item.decode("utf-8", "replace")
    if isinstance(item, (float, np.floating)):
        return repr(float(item))
    return str(item)


class StructureBox(QGroupBox):
    """A PV Access structure: an NTTable as a table, anything else (custom structures,
    NTNDArray's attributes) as an expandable tree of fields."""

    def __init__(self) -> None:
        super().__init__("Structure")
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Field", "Type", "Value"])
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.note = QLabel()
        self.note.setTextFormat(Qt.PlainText)
        self.note.setWordWrap(True)
        self.note.hide()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.tree)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack)
        layout.addWidget(self.note)
        self.setMinimumHeight(self.fontMetrics().height() * 12)
        self._shape: Any = None

    def show_table(self, columns: Mapping[str, Any], labels: list[str] | None = None) -> None:
        """NTTable columns ({name: array}) as a table; ``labels`` head the columns."""
        self.setTitle("Table (NTTable)")
        self.stack.setCurrentWidget(self.table)
        names = list(columns)
        rows = max((len(c) for c in columns.values()), default=0)
        shown = min(rows, MAX_TABLE_ROWS)
        heads = labels if labels and len(labels) == len(names) else names
        self.table.setUpdatesEnabled(False)
        try:
            if (tuple(heads), shown) != self._shape:
                self._shape = (tuple(heads), shown)
                self.table.clear()
                self.table.setColumnCount(len(names))
                self.table.setRowCount(shown)
                self.table.setHorizontalHeaderLabels(heads)
            for col, name in enumerate(names):
                column = columns[name]
                for row in range(min(shown, len(column))):
                    text = _cell_text(column[row])
                    item = self.table.item(row, col)
                    if item is None:
                        self.table.setItem(row, col, QTableWidgetItem(text))
                    elif item.text() != text:
                        item.setText(text)
        finally:
            self.table.setUpdatesEnabled(True)
        self._set_note(f"{rows} rows; the first {shown} are shown" if shown < rows else "")

    def show_tree(self, value: Any, title: str) -> None:
        """A p4p Value (or nested dicts) as a tree; expanded state is kept across updates."""
        self.setTitle(f"Structure ({title})")
        self.stack.setCurrentWidget(self.tree)
        nodes: list[tuple[tuple[str, ...], str, str]] = []
        _walk(value, (), nodes)
        shape = tuple((path, kind) for path, kind, _ in nodes[:MAX_TREE_NODES])
        if shape != self._shape:
            self._shape = shape
            self.tree.clear()
            items: dict[tuple[str, ...], QTreeWidgetItem] = {}
            for path, kind, text in nodes[:MAX_TREE_NODES]:
                parent = items.get(path[:-1])
                item = QTreeWidgetItem([path[-1], kind, text])
                if parent is None:
                    self.tree.addTopLevelItem(item)
                else:
                    parent.addChild(item)
                items[path] = item
            # the value and the first level open; alarm, timeStamp, display folded
            for path, item in items.items():
                if len(path) == 1 and path[0] not in ("alarm", "timeStamp", "display",
                                                      "control", "valueAlarm"):
                    item.setExpanded(True)
            self._items = items
        else:
            for path, _kind, text in nodes[:MAX_TREE_NODES]:
                item = self._items[path]
                if item.text(2) != text:
                    item.setText(2, text)
        self._set_note(f"{len(nodes)} fields; the first {MAX_TREE_NODES} are shown"
                       if len(nodes) > MAX_TREE_NODES else "")

    def _set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))


def _walk(value: Any, path: tuple[str, ...], out: list[tuple[tuple[str, ...], str, str]]
          ) -> None:
    """(path, type, text) of every field below ``value`` (a p4p Value or nested dicts)."""
    if len(out) > MAX_TREE_NODES:
        return
    if hasattr(value, "keys") and hasattr(value, "type") and callable(value.keys):
        for name in value.keys():
            child = value[name]
            sub_path = (*path, name)
            if hasattr(child, "keys") and callable(child.keys):
                out.append((sub_path, "structure", ""))
                _walk(child, sub_path, out)
            else:
                out.append((sub_path, _kind(child), _leaf_text(child)))
        return
    if isinstance(value, Mapping):
        for name, child in value.items():
            sub_path = (*path, str(name))
            if isinstance(child, Mapping):
                out.append((sub_path, "structure", ""))
                _walk(child, sub_path, out)
            else:
                out.append((sub_path, _kind(child), _leaf_text(child)))


def _kind(item: Any) -> str:
    if isinstance(item, np.ndarray):
        return f"{item.dtype.name}[{item.size}]"
    if isinstance(item, (list, tuple)):
        return f"array[{len(item)}]"
    if isinstance(item, str):
        return "string"
    if isinstance(item, bool):
        return "boolean"
    if isinstance(item, int):
        return "integer"
    if isinstance(item, float):
        return "double"
    return type(item).__name__


def _leaf_text(item: Any, max_elements: int = 20) -> str:
    if isinstance(item, (np.ndarray, list, tuple)):
        values = list(item[:max_elements]) if not isinstance(item, np.ndarray) \
            else item.reshape(-1)[:max_elements].tolist()
        size = item.size if isinstance(item, np.ndarray) else len(item)
        more = f" … ({size} elements)" if size > max_elements else ""
        return "[" + ", ".join(_cell_text(v) for v in values) + "]" + more
    if hasattr(item, "todict"):
        return str(item.todict())
    return _cell_text(item)


class ImageBox(QGroupBox):
    """An NTNDArray's picture (:class:`caprobe.gui.image_view.ImageView`), made the first time
    an image arrives so a probe of a scalar never loads it."""

    def __init__(self) -> None:
        super().__init__("Image (NTNDArray)")
        self._layout = QVBoxLayout(self)
        self._view: Any = None

    def view(self) -> Any:
        if self._view is None:
            from caprobe.gui.image_view import ImageView

            self._view = ImageView()
            self._layout.addWidget(self._view)
        return self._view

    @property
    def has_view(self) -> bool:
        return self._view is not None


class HistoryBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("History")
        self.hist_since = Field()
        self.hist_updates = Field()
        self.hist_min = Field()
        self.hist_max = Field()
        self.hist_prev = Field()
        self.hist_reset = QPushButton("Reset")
        self.hist_reset.setToolTip("Start the history again from now (Ctrl+R)")
        form = QFormLayout(self)
        form.addRow("Watching since", self.hist_since)
        form.addRow("Updates", self.hist_updates)
        form.addRow("Minimum", self.hist_min)
        form.addRow("Maximum", self.hist_max)
        form.addRow("Last change", self.hist_prev)
        reset_row = QHBoxLayout()
        reset_row.addWidget(self.hist_reset)
        reset_row.addStretch(1)
        form.addRow("", reset_row)


class ColumnsWidget(QWidget):
    """Boxes in 1-3 columns by width; ``columns`` lists each column's boxes for 3 columns and
    is folded into fewer columns in order."""

    def __init__(self, columns: list[list[QWidget]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._columns = columns
        self._count = 0
        self._row = QHBoxLayout(self)
        # the top margin is what shows when the details are folded to a few pixels
        self._row.setContentsMargins(8, 6, 8, 8)
        for column in columns:
            for box in column:
                box.setParent(self)  # laid out at the first fit(), when the width is known

    def column_count(self) -> int:
        return self._count

    def _groups(self, count: int) -> list[list[QWidget]]:
        boxes = [box for column in self._columns for box in column]
        if count == 3:
            return self._columns
        if count == 2:
            first = self._columns[0]
            return [first, [b for b in boxes if b not in first]]
        return [boxes]

    def _min_width(self, count: int) -> int:
        """Width ``count`` columns need (their widest boxes, spacing, margins)."""
        margins = self._row.contentsMargins()
        spacing = max(self._row.spacing(), 0)
        widest = [max((b.minimumSizeHint().width() for b in group if not b.isHidden()),
                      default=0) for group in self._groups(count)]
        return sum(widest) + spacing * (count - 1) + margins.left() + margins.right()

    def _layout_for(self, count: int) -> None:
        if count == self._count:
            return
        self._count = count
        while self._row.count():
            item = self._row.takeAt(0)
            layout = item.layout()
            if layout is not None:
                while layout.count():
                    layout.takeAt(0)
                layout.deleteLater()
        stretches = (4, 3, 3) if count == 3 else (1, 1, 1)
        for group, stretch in zip(self._groups(count), stretches, strict=False):
            column = QVBoxLayout()
            for box in group:
                column.addWidget(box)
            column.addStretch(1)
            self._row.addLayout(column, stretch)

    def fit(self, available_width: int) -> None:
        """Choose the column count for this much width (the scroll area's viewport): as many
        as the width allows (three from about 1000 px at 100 %), never more than fit."""
        scale = self.fontMetrics().averageCharWidth() / 7.0  # 7 px: DejaVu Sans 9 pt
        width = available_width / max(scale, 0.5)
        wanted = 3 if width >= THREE_COLUMNS_FROM else 2 if width >= TWO_COLUMNS_FROM else 1
        while wanted > 1 and self._min_width(wanted) > available_width:
            wanted -= 1
        self._layout_for(wanted)


class DetailsScroll(QScrollArea):
    """Scrolls the details vertically; their column count follows the width."""

    def __init__(self, columns: ColumnsWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = columns
        self.setWidget(columns)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.setMinimumHeight(0)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        # the splitter may give the chart everything below the header
        return QSize(0, 0)

    def refit(self) -> None:
        """A box appeared or changed size: check the column count again."""
        self.columns.fit(self.viewport().width())

    def is_folded(self) -> bool:
        """Too short to show anything (the splitter gave the chart the room): the details are
        hidden rather than shown as a sliver of cut text."""
        return self.height() < 2 * self.fontMetrics().height()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        folded = self.is_folded()
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff if folded
                                        else Qt.ScrollBarAsNeeded)
        if self.columns.isVisibleTo(self) == folded:
            self.columns.setVisible(not folded)
        self.columns.fit(self.viewport().width())
        super().resizeEvent(event)
