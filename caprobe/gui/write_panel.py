"""The probe's write panel: an editor that fits the PV's type.

Safety rules (operators' habits, see research gui-anchors §0.9 / §5.2):
Enter writes; Esc reverts; focus-out never writes; the mouse wheel never changes a setpoint;
a value that does not parse or is outside the control limits is refused with a message and
nothing is sent; without write access the editor is read-only and says why; after a write the
panel shows what the IOC holds, not what was typed.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from PyQt5.QtCore import QEvent, QObject, Qt, pyqtSignal
from PyQt5.QtGui import QKeyEvent, QWheelEvent
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from caprobe import format as cafmt
from caprobe.ca import ChannelType
from caprobe.gui import display, theme
from caprobe.gui.service import PVService
from caprobe.gui.workers import WriteOutcome, write_and_read_back

#: DBR_STRING holds 40 bytes including the terminating NUL.
MAX_STRING_BYTES = 39


def edited_style() -> str:
    """Phoebus marks a value being edited in yellow (a darker one in the dark theme)."""
    t = theme.current()
    return f"background-color: {t.edited_background}; color: {t.edited_text};"

NO_WRITE_ACCESS = ("Read-only: the IOC's access security gives this client no write access.")
#: PV Access structures are written with caprobe-put (JSON), not typed into one field.
PVA_STRUCTURE_NOT_WRITABLE = ("This panel writes scalars, enums, strings and arrays; write a "
                              "structure with caprobe-put pva://NAME '{\"field\": value}'.")


class NoWheelComboBox(QComboBox):
    """Enum setpoint combo: the wheel scrolls the page, never the setpoint."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.StrongFocus)  # no focus by wheel either

    def wheelEvent(self, event: QWheelEvent) -> None:
        event.ignore()


class _StatusLabel(QLabel):
    """The panel's message line: takes no space while empty; refusals and failures in red."""

    ERROR_WORDS = ("nothing was sent", "failed", "read-only", "not connected", "still in")

    def __init__(self) -> None:
        super().__init__()
        self.setTextFormat(Qt.PlainText)  # messages quote IOC values and typed text

    def setText(self, text: str) -> None:  # noqa: N802 (Qt override)
        super().setText(text)
        self.setVisible(bool(text))
        lowered = text.lower()
        if any(word in lowered for word in self.ERROR_WORDS):
            self.setStyleSheet(f"color: {theme.current().error_text};")
        elif lowered.startswith("ioc now holds"):
            self.setStyleSheet(f"color: {theme.current().ok_text};")
        else:
            self.setStyleSheet("")


class _KeyFilter(QObject):
    """Enter/Esc on any editor, including the combo whose Enter Qt otherwise swallows."""

    def __init__(self, panel: WritePanel) -> None:
        super().__init__(panel)
        self._panel = panel

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.KeyPress and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key_Return, Qt.Key_Enter):
                self._panel.write_current()
                return True
            if event.key() == Qt.Key_Escape:
                self._panel.revert()
                return True
        return False


def _text_bytes(text: str) -> bytes:
    """Typed text as the bytes a string or char-array PV will hold (UTF-8, the convention of
    every caprobe tool: caprobe-put and the display read it back unchanged)."""
    try:
        return cafmt.encode_text(text)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def refusal(message: str) -> str:
    """Every refused write says so the same way: 'reason. Nothing was sent.'"""
    message = message.strip()
    for tail in ("; nothing was sent.", ". nothing was sent.", " nothing was sent."):
        if message.lower().endswith(tail):
            message = message[: -len(tail)]
    return f"{message.rstrip('.;: ')}. Nothing was sent."


def shortest_float_text(value: float) -> str:
    """The shortest text that reads back as ``value``: '693' for 693.0 (as the display shows
    it with PREC 0), '0.5', '1e-09'."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _size(text: str, raw: bytes) -> str:
    """'12 characters', or '12 characters (15 bytes in UTF-8)' when they differ."""
    if len(raw) == len(text):
        return f"{len(text)} characters"
    return f"{len(text)} characters ({len(raw)} bytes in UTF-8)"


def _numeric_kind(native: int) -> str:
    if native in (ChannelType.DOUBLE, ChannelType.FLOAT):
        return "float"
    if native in (ChannelType.INT, ChannelType.LONG, ChannelType.CHAR):
        return "int"
    return "other"


def strip_units(text: str, units: str | None) -> str:
    """'12.5 mm' -> '12.5' when the PV's units are mm (operators paste what they see)."""
    text = text.strip()
    if units and text.endswith(units):
        text = text[: -len(units)].strip()
    return text


def parse_array(text: str, native: int, max_count: int) -> np.ndarray:
    """'1, 2 3' -> array of the native type; ValueError with an operator-readable message."""
    tokens = [t for t in re.split(r"[\s,;]+", text.strip().strip("[]")) if t]
    if not tokens:
        raise ValueError("Enter at least one element (separate elements with spaces or commas).")
    if len(tokens) > max_count:
        raise ValueError(f"{len(tokens)} elements given but the PV holds at most {max_count}.")
    values = [cafmt.parse_value(token, native) for token in tokens]
    return np.asarray(values)


class WritePanel(QGroupBox):
    """Editor + Write button + optional put-completion, for one PV."""

    #: (accepted text) after a successful write, for the status bar
    written = pyqtSignal(str)

    def __init__(self, pv_name: str, service: PVService, parent: QWidget | None = None) -> None:
        super().__init__("Write", parent)
        self.pv_name = pv_name
        self._service = service
        self._native: int | None = None
        self._count = 1
        self._can_write = False
        self._connected = False
        self._ctrl: Any = None
        self._enum_strings: list[str] = []
        self._current_text = ""
        self._current_data: Any = None
        self._busy = False
        # The last write's failure stays on show until the next write, even when the channel
        # then disconnects (the likely cause): the operator must see that the write failed.
        self._failure = ""
        self._dirty = False
        self._closed = False
        #: decimals the editor shows for floats (the probe's PREC or the operator's choice)
        self.editor_precision: int | None = None
        self._table_dialog: QWidget | None = None
        self._sent: Any = None  # the last value sent, to compare with the read-back
        #: PV Access: the value's kind ('scalar', 'array', 'enum', 'table', ...), else None
        self._pva_kind: str | None = None

        self.line_edit = QLineEdit()
        self.line_edit.setPlaceholderText("new value")
        self.line_edit.textEdited.connect(self._mark_dirty)
        self.enum_combo = NoWheelComboBox()
        # pick a state, or type its name or index (Enter writes it)
        self.enum_combo.setEditable(True)
        self.enum_combo.setInsertPolicy(QComboBox.NoInsert)
        self.enum_combo.lineEdit().setPlaceholderText("state name or index")
        self.enum_combo.activated.connect(self._mark_dirty)
        self.enum_combo.lineEdit().textEdited.connect(self._mark_dirty)
        self.editor_stack = QStackedWidget()
        self.editor_stack.addWidget(self.line_edit)
        self.editor_stack.addWidget(self.enum_combo)
        self._keys = _KeyFilter(self)
        self.line_edit.installEventFilter(self._keys)
        self.enum_combo.installEventFilter(self._keys)
        self.enum_combo.lineEdit().installEventFilter(self._keys)

        self.write_button = QPushButton("Write")
        self.write_button.setToolTip("Send the value (Enter in the field does the same; "
                                     "Esc reverts)")
        self.write_button.clicked.connect(self.write_current)
        self.table_button = QPushButton("Table…")
        self.table_button.setToolTip("Edit the array element by element")
        self.table_button.clicked.connect(self.edit_as_table)
        self.table_button.hide()

        self.callback_box = QCheckBox("Wait for completion, timeout")
        self.callback_box.setToolTip("Use put-callback (WRITE_NOTIFY): the IOC reports when the "
                                     "processing started by the write has finished")
        self.timeout_spin = QDoubleSpinBox()
        # Capped: closing the window waits for a write in flight (the client call cannot be
        # cancelled), so an hour-long put-callback must not be possible by accident.
        self.timeout_spin.setRange(0.5, 600.0)
        self.timeout_spin.setDecimals(1)
        self.timeout_spin.setValue(10.0)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setToolTip("How long to wait for the put-callback to complete")
        self.timeout_spin.setEnabled(False)
        self.callback_box.toggled.connect(lambda _on: self._update_enabled())
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # indeterminate: we cannot know how long the IOC takes
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(self.fontMetrics().height())
        self.busy_bar.hide()

        self.limits_label = QLabel()
        self.limits_label.setTextFormat(Qt.PlainText)  # holds IOC units
        self.limits_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status_label = _StatusLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)

        grid = QGridLayout(self)
        grid.addWidget(self.editor_stack, 0, 0, 1, 2)
        grid.addWidget(self.write_button, 0, 2)
        grid.addWidget(self.table_button, 0, 3)
        options = QHBoxLayout()
        options.addWidget(self.limits_label, 1)
        options.addWidget(self.callback_box)
        options.addWidget(self.timeout_spin)
        grid.addLayout(options, 1, 0, 1, 4)
        grid.addWidget(self.busy_bar, 2, 0, 1, 4)
        grid.addWidget(self.status_label, 3, 0, 1, 4)
        grid.setColumnStretch(0, 1)
        self._update_enabled()

    # ---- state from the probe --------------------------------------------------------------
    def set_channel(self, native: int | None, count: int, can_write: bool,
                    connected: bool) -> None:
        changed_type = (native, count) != (self._native, self._count)
        self._native, self._count = native, max(int(count), 1)
        self._can_write, self._connected = can_write, connected
        if changed_type:
            self._configure_editor()
        self._update_enabled()

    def set_pva(self, kind: str | None, layout: Any = None) -> None:
        """This PV is a PV Access one of this kind ('scalar', 'array', 'enum', 'table',
        'ndarray', 'structure'; None until its first value): strings have no 40-byte limit,
        string arrays are comma-separated, structures are not written here."""
        kind = kind or "unknown"
        if kind != self._pva_kind:
            self._pva_kind = kind
            # a structure gets no editor: the one status line says how to write it
            editable = not self._pva_structure()
            for widget in (self.editor_stack, self.write_button, self.callback_box,
                           self.timeout_spin):
                widget.setVisible(editable)
            self._configure_editor()
            self._update_enabled()

    def _pva_structure(self) -> bool:
        return self._pva_kind in ("table", "ndarray", "structure")

    def _pva_strings(self) -> bool:
        return self._pva_kind is not None and self._native == ChannelType.STRING

    def set_control(self, ctrl: Any) -> None:
        """DBR_CTRL metadata arrived: enum states and control limits."""
        self._ctrl = ctrl
        strings = getattr(ctrl, "enum_strings", None)
        if strings is not None:
            self._enum_strings = [cafmt.to_text(s) for s in strings]
            self.enum_combo.clear()
            self.enum_combo.addItems(self._enum_strings)
        self._configure_editor()
        self._show_current()

    def set_current_text(self, text: str) -> None:
        """The live value (as editable text) changed; follow it unless the operator is editing."""
        self._current_data = None
        self._current_text = text
        if not self._dirty and not self._busy:
            self._show_current()

    def set_current_data(self, data: Any) -> None:
        """The live value changed.  It is turned into text only when the field shows it (not
        while the operator edits), so a large array costs nothing at 10 updates a second."""
        self._current_data = data
        if not self._dirty and not self._busy:
            self._show_current()

    def _current_editable_text(self) -> str:
        if self._pva_structure():
            return ""
        if self._current_data is not None and self._pva_strings() and \
                self._pva_kind == "array":
            self._current_text = ", ".join(str(item) for item in self._current_data)
            self._current_data = None
        if self._current_data is not None:
            self._current_text = editable_text(self._current_data, self.editor_precision,
                                               self._is_char_string())
            self._current_data = None
        return self._current_text

    def shutdown(self) -> None:
        self._closed = True

    def focus_chain(self) -> list[QWidget]:
        """The panel's widgets in Tab order: the editor, Write, then the options."""
        return [self.line_edit, self.enum_combo, self.write_button, self.table_button,
                self.callback_box, self.timeout_spin]

    def focus_editor(self) -> None:
        """F2: put the cursor in whichever editor fits the PV's type."""
        editor = self.editor_stack.currentWidget()
        editor.setFocus(Qt.ShortcutFocusReason)
        if isinstance(editor, QLineEdit):
            editor.selectAll()

    # ---- editor ----------------------------------------------------------------------------
    def _is_enum(self) -> bool:
        return self._native == ChannelType.ENUM and self._count == 1

    def _is_char_string(self) -> bool:
        return self._native == ChannelType.CHAR and self._count > 1

    def _units(self) -> str | None:
        units = getattr(self._ctrl, "units", None)
        return cafmt.to_text(units) if units else None

    def _ctrl_limits(self) -> tuple[float, float] | None:
        low = getattr(self._ctrl, "lower_ctrl_limit", None)
        high = getattr(self._ctrl, "upper_ctrl_limit", None)
        if low is None or high is None or (float(low) == 0 and float(high) == 0):
            return None  # EPICS: 0..0 means 'no control limits'
        return float(low), float(high)

    def _configure_editor(self) -> None:
        if self._is_enum():
            self.editor_stack.setCurrentWidget(self.enum_combo)
            hint = f"{len(self._enum_strings)} states"
        else:
            self.editor_stack.setCurrentWidget(self.line_edit)
            if self._native is None:
                hint = ""  # a structure: the status line says why there is no editor
            elif self._pva_strings() and self._pva_kind == "array":
                hint = "Text elements separated by commas"
            elif self._pva_strings():
                hint = "Text (PV Access strings have no length limit)"
            elif self._native == ChannelType.STRING:
                hint = f"Text, at most {MAX_STRING_BYTES} bytes in UTF-8"
            elif self._is_char_string():
                hint = f"Text (char array), at most {self._count - 1} bytes in UTF-8"
            else:
                limits = self._ctrl_limits()
                precision = getattr(self._ctrl, "precision", None)
                if limits is not None:
                    hint = "Control limits: " + display.limits_text(
                        limits[0], limits[1], precision, self._units())
                else:
                    hint = "No control limits set"
                if self._pva_kind == "array":
                    hint = "Any number of elements separated by spaces or commas. " + hint
                elif self._count > 1:
                    hint = (f"Up to {self._count} elements separated by spaces or commas. "
                            + hint)
            if self._count > EDITOR_MAX_ELEMENTS and not self._is_char_string():
                self.line_edit.setPlaceholderText(
                    f"{self._count} elements: too many to show here; type the elements to "
                    "write")
            else:
                self.line_edit.setPlaceholderText("new value")
            self.line_edit.setToolTip(hint)
        self.limits_label.setText(hint)

    def _is_numeric_array(self) -> bool:
        if self._pva_kind is not None:
            return self._pva_kind == "array" and self._native not in (None, ChannelType.STRING)
        return self._count > 1 and self._native not in (None, ChannelType.STRING) and \
            not self._is_char_string()

    def edit_as_table(self) -> None:
        """Open the element-by-element editor on what the field holds now."""
        from caprobe.gui.array_view import ArrayEditorDialog

        elements = [t for t in re.split(r"[\s,;]+", self.line_edit.text().strip("[] ")) if t]
        self._table_dialog = ArrayEditorDialog(self.pv_name, elements, self._count,
                                               self.write_elements, self)
        self._table_dialog.setAttribute(Qt.WA_DeleteOnClose)
        self._table_dialog.show()

    def write_elements(self, elements: list[str]) -> None:
        """Write these elements, with the same checks as typing them and pressing Enter."""
        self.line_edit.setText(" ".join(elements))
        self._mark_dirty()
        self.write_current()

    def _mark_dirty(self, *_: Any) -> None:
        self._dirty = True
        self.editor_stack.currentWidget().setStyleSheet(edited_style())

    def _clear_dirty(self) -> None:
        self._dirty = False
        self.line_edit.setStyleSheet("")
        self.enum_combo.setStyleSheet("")

    def _show_current(self) -> None:
        text = self._current_editable_text()
        if self._is_enum():
            index = self.enum_combo.findText(text, Qt.MatchExactly | Qt.MatchCaseSensitive)
            if index >= 0:
                self.enum_combo.setCurrentIndex(index)
            self.enum_combo.setEditText(text)  # also when a typed state was the same index
        else:
            self.line_edit.setText(text)
            self.line_edit.setCursorPosition(0)

    def revert(self) -> None:
        """Esc: throw away the edit and show the live value again."""
        self._clear_dirty()
        self._show_current()
        self.status_label.setText("Edit discarded.")

    def _update_enabled(self) -> None:
        usable = self._connected and self._native is not None and not self._busy
        if not self._connected:
            reason = "Not connected: nothing can be written."
        elif self._pva_structure():
            reason = PVA_STRUCTURE_NOT_WRITABLE
        elif not self._can_write:
            reason = NO_WRITE_ACCESS
        else:
            reason = ""
        writable = usable and self._can_write
        self.table_button.setVisible(self._is_numeric_array() and not self._pva_structure())
        self.table_button.setEnabled(writable)
        self.line_edit.setReadOnly(not writable)
        self.enum_combo.setEnabled(writable)
        self.write_button.setEnabled(writable)
        self.callback_box.setEnabled(writable)
        self.timeout_spin.setEnabled(writable and self.callback_box.isChecked())
        tip = reason or "Enter writes, Esc reverts; leaving the field does not write"
        self.write_button.setToolTip(tip)
        self.editor_stack.setToolTip(tip)
        if self._busy:
            return
        if self._failure:
            self.status_label.setText(f"{self._failure} ({reason})" if reason else self._failure)
        elif reason:
            self.status_label.setText(reason)
        elif self.status_label.text() in (NO_WRITE_ACCESS, PVA_STRUCTURE_NOT_WRITABLE,
                                          "Not connected: nothing can be written."):
            self.status_label.setText("")

    # ---- writing ---------------------------------------------------------------------------
    def parse_editor(self) -> Any:
        """The value to send, or ValueError with a message for the operator."""
        native = self._native
        if native is None:
            raise ValueError("The PV has not connected yet.")
        if self._is_enum():
            return enum_index(self.enum_combo.currentText(), self._enum_strings)
        text = self.line_edit.text()
        if self._pva_strings():
            if self._pva_kind == "array":
                return [item.strip() for item in text.split(",")] if text.strip() else []
            return text
        if native == ChannelType.STRING:
            raw = _text_bytes(text)
            if len(raw) > MAX_STRING_BYTES:
                raise ValueError(f"Text is {_size(text, raw)}; a DBR_STRING holds at most "
                                 f"{MAX_STRING_BYTES} bytes.")
            return raw
        if self._is_char_string():
            raw = _text_bytes(text)
            if len(raw) >= self._count:
                raise ValueError(f"Text is {_size(text, raw)}; the PV holds at most "
                                 f"{self._count - 1} bytes plus the terminating NUL.")
            return np.frombuffer(raw + b"\0", dtype=np.uint8)
        text = strip_units(text, self._units())
        if not text:
            raise ValueError("Enter a value first.")
        if self._pva_kind == "array":
            # a PV Access array takes any length (no NELM); parse every element
            values = parse_array(text, native, max(self._count, len(text)))
        elif self._count > 1:
            values = parse_array(text, native, self._count)
        else:
            values = np.asarray([cafmt.parse_value(text, native)])
        limits = self._ctrl_limits()
        if limits is not None and _numeric_kind(native) != "other":
            low, high = limits
            outside = [float(v) for v in values.tolist() if not low <= float(v) <= high]
            if outside:
                raise ValueError(
                    f"{outside[0]:g} is outside the control limits "
                    f"{display.limits_text(low, high, getattr(self._ctrl, 'precision', None), self._units())}")
        if self._pva_kind == "array":
            return values
        return values if self._count > 1 else values[0].item()

    def write_current(self) -> None:
        """Enter / Write button."""
        if self._busy:
            self.status_label.setText("A write is still in progress.")
            return
        if not self._connected:
            self.status_label.setText(refusal("Not connected"))
            return
        if self._pva_structure():
            self.status_label.setText(refusal(PVA_STRUCTURE_NOT_WRITABLE))
            return
        if not self._can_write:
            self.status_label.setText(refusal(NO_WRITE_ACCESS))
            return
        try:
            value = self.parse_editor()
        except ValueError as exc:
            self.status_label.setText(refusal(str(exc)))
            return
        notify = self.callback_box.isChecked()
        timeout = self.timeout_spin.value() if notify else 2.0
        self._sent = value
        self._set_busy(True, notify)
        name = self.pv_name
        write = write_and_read_back
        if self._pva_kind is not None:
            from caprobe.gui import pva_backend
            from caprobe.gui.service import split_protocol

            name = split_protocol(name)[1]
            write = pva_backend.write_and_read_back
        self._service.submit(
            lambda: write(name, value, notify=notify, timeout=timeout),
            self._write_done, self._write_failed)

    def _set_busy(self, busy: bool, notify: bool = False) -> None:
        self._busy = busy
        self.busy_bar.setVisible(busy)
        if busy:
            self._failure = ""
            self.status_label.setText("Waiting for the IOC to complete the write…" if notify
                                      else "Writing…")
        self._update_enabled()

    def _write_done(self, outcome: WriteOutcome) -> None:
        if self._closed:
            return
        self._set_busy(False)
        self._clear_dirty()
        readback = outcome.readback
        text = display.format_value_text(
            readback, precision=getattr(self._ctrl, "precision", None),
            units=self._units(), max_elements=display.SUMMARY_ELEMENTS,
            is_char=self._is_char_string())
        how = (f"put-callback completed in {outcome.elapsed:.2f} s"
               if outcome.notify_response is not None else "written")
        self.status_label.setText(f"IOC now holds: {text}  ({how}){self._changed_note(readback)}")
        self.set_current_data(readback.data)
        self.written.emit(text)

    def _changed_note(self, readback: Any) -> str:
        """A PV Access string has no length limit, but the record behind it may have one
        (QSRV's stringout keeps 39 bytes): say so when the server holds other text than
        was sent, never let a cut pass silently."""
        sent = self._sent
        if not (self._pva_strings() and self._pva_kind == "scalar" and isinstance(sent, str)):
            return ""
        held = display.as_text_values(readback.data)
        held_text = held[0] if held else ""
        if held_text == sent:
            return ""
        if sent.startswith(held_text):
            return (f" — the server kept {len(held_text)} of the {len(sent)} characters "
                    "sent")
        return " — not the text sent: the server changed it"

    def _write_failed(self, exc: Exception) -> None:
        if self._closed:
            return
        self._failure = f"Write failed: {exc}"
        self._set_busy(False)
        self.status_label.setText(self._failure)
        self._update_enabled()  # adds why nothing can be written now, if so


def enum_index(text: str, states: list[str]) -> int:
    """The state index a typed (or chosen) text means: a state's name (exactly, else the
    one state matching without regard to case), else an index 0..N-1. ValueError with the
    operator's message otherwise."""
    text = text.strip()
    if not states:
        raise ValueError("The PV's states are not known yet.")
    if not text:
        raise ValueError("Choose one of the states, or type its name or index.")
    if text in states:
        return states.index(text)
    folded = [i for i, state in enumerate(states) if state.casefold() == text.casefold()]
    if len(folded) == 1:
        return folded[0]
    try:
        index = int(text)
    except ValueError:
        shown = ", ".join(repr(s) for s in states[:8]) + (", …" if len(states) > 8 else "")
        raise ValueError(f"{text!r} is not one of the {len(states)} states ({shown}) "
                         f"nor an index 0..{len(states) - 1}") from None
    if not 0 <= index < len(states):
        raise ValueError(f"state index {index} is outside 0..{len(states) - 1}")
    return index


#: Larger arrays are not copied into the text field (a 1M-element waveform would take a
#: second to format, on every update); the operator types the elements to write instead.
EDITOR_MAX_ELEMENTS = 1000


def editable_text(data: Any, precision: int | None, is_char: bool = False) -> str:
    """The live value as the editor shows it: no units, arrays as space-separated elements
    (all of them, up to EDITOR_MAX_ELEMENTS; '' beyond).  Floats use ``precision`` decimals
    when it is positive; with PREC 0 or no PREC the shortest exact text, so Enter on an
    untouched field writes back the same value."""
    if isinstance(data, list):
        values = display.as_text_values(data)
        return values[0] if len(values) == 1 else " ".join(values)
    array = np.asarray(data).reshape(-1)
    if is_char:
        return display.char_array_text(array)
    if array.size > EDITOR_MAX_ELEMENTS:
        return ""
    if array.dtype.kind == "f":
        if precision is not None and 0 < precision <= 17:
            parts = [f"{v:.{precision}f}" for v in array.tolist()]
        else:
            parts = [shortest_float_text(v) for v in array.tolist()]
    else:
        parts = [str(v) for v in array.tolist()]
    return " ".join(parts)
