"""autosave ``.sav`` files (synApps autosave, the IOC's own save/restore), read and written.

    # autosave R5.3	Automatically generated - DO NOT MODIFY - 261207-160312
    ! 1 channel(s) not connected - or not all gets were successful
    TEST:ai 1.5
    TEST:str hello world
    TEST:wf @array@ { "0.5" "1.5" "2.5" }
    #TEST:gone Search Issued
    <END>

* ``NAME VALUE``: the value is everything after the one separating space, with
  ``epicsStrPrintEscaped`` escapes (``\\n``, ``\\t``, ``\\\\``, ``\\xhh``); an enum is its index.
* ``NAME @array@ { "e1" "e2" ... }``: an array; inside an element ``\\"`` and ``\\\\`` escape.
* ``#NAME ...``: a PV autosave could not read (kept here as a PV without a value);
  ``#`` followed by a space, and ``!``, start comments.
* ``<END>`` marks a complete file (autosave writes it last): a file without it is refused.

The file has no types: values come back as text and are read against the PV's type when they
are compared or restored.

autosave is Channel Access only (the IOC restores its own records): a ``pva://`` PV is written
as a comment line, ``# pva://NAME VALUE (PV Access: ...)``, so a person sees it but neither
autosave nor caprobe reads it back; :func:`pva_rows` names them, for the caller to say so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import numpy as np

from caprobe import format as fmt
from caprobe import pvname
from caprobe.snapshot.errors import SnapshotFileError
from caprobe.snapshot.model import SavedPV, Snapshot
from caprobe.snapshot.snapfile import _number, _write_text

SUFFIX = ".sav"
ARRAY_MARKER = "@array@"
END_MARKER = "<END>"
NOT_SAVED = "not saved by autosave (not connected or the read failed)"
PVA_COMMENT = "PV Access: autosave files are Channel Access only, kept as a comment"


class _LineError(ValueError):
    pass


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    raw = fmt.unescape_string(text)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_array(text: str) -> list[str]:
    """``@array@ { "a" "b" }`` -> ["a", "b"] (the marker already checked)."""
    rest = text[len(ARRAY_MARKER):].lstrip()
    if not rest.startswith("{"):
        raise _LineError("@array@ must be followed by '{'")
    elements: list[str] = []
    position = 1
    while True:
        while position < len(rest) and rest[position] in " \t":
            position += 1
        if position >= len(rest):
            raise _LineError("array not closed with '}'")
        char = rest[position]
        if char == "}":
            if rest[position + 1:].strip():
                raise _LineError(f"text after the array's '}}': {rest[position + 1:].strip()!r}")
            return elements
        if char != '"':
            raise _LineError(f"array element must be quoted, found {rest[position:position + 10]!r}")
        position += 1
        element = []
        while True:
            if position >= len(rest):
                raise _LineError(f"array element {len(elements)} has no closing quote")
            char = rest[position]
            if char == "\\" and position + 1 < len(rest) and rest[position + 1] in '"\\':
                element.append(rest[position + 1])
                position += 2
                continue
            if char == '"':
                position += 1
                break
            element.append(char)
            position += 1
        elements.append("".join(element))  # autosave undoes only \" and \\ here


def parse_lines(lines: Iterable[str], path: str | os.PathLike[str]) -> Snapshot:
    snapshot = Snapshot()
    names: dict[str, int] = {}
    ended = False
    number = 0
    for number, line in enumerate(lines, 1):
        if ended:
            continue  # autosave stops reading at <END>
        stripped = line.strip()
        if not stripped or stripped.startswith("!"):
            continue
        if stripped.startswith(END_MARKER):
            ended = True
            continue
        try:
            if stripped.startswith("#"):
                body = line.lstrip()[1:]
                if not body or body[0] in " \t#":
                    continue  # a comment (the header line is one)
                name = body.split()[0]
                pv = SavedPV(name=name, error=NOT_SAVED)
            else:
                name, separator, value_text = line.lstrip().partition(" ")
                if "\t" in name:
                    name, _, tail = name.partition("\t")
                    value_text = tail + separator + value_text
                if value_text.startswith(ARRAY_MARKER):
                    pv = SavedPV(name=name, value=_parse_array(value_text))
                else:
                    pv = SavedPV(name=name, value=_unescape(value_text))
            if pv.name in names:
                raise _LineError(f"{pv.name} is listed twice (first on line {names[pv.name]})")
            names[pv.name] = number
            snapshot.pvs.append(pv)
        except _LineError as exc:
            raise SnapshotFileError(path, number, str(exc)) from None
    if not ended:
        raise SnapshotFileError(path, number or None,
                                f"no {END_MARKER} marker: the file is incomplete (autosave "
                                "writes it last) and is not used")
    return snapshot


def loads(text: str, path: str | os.PathLike[str] = "<text>") -> Snapshot:
    return parse_lines(text.splitlines(), path)


def read(path: str | os.PathLike[str]) -> Snapshot:
    from caprobe.snapshot.pvlist import read_lines

    return parse_lines(read_lines(path), path)


def _escape(text: str) -> str:
    return fmt.escape_bytes(text.encode("utf-8"))


def _element_text(value: object, dbf: str | None) -> str:
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, bytes):
        return fmt.escape_bytes(value)
    if dbf in ("FLOAT", "DOUBLE", "SHORT", "LONG", "CHAR"):
        text = _number(value, dbf)
        return {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}.get(text, text)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return _escape(str(value))


def value_text(pv: SavedPV) -> str:
    if pv.is_array:
        items = []
        for item in pv.value:
            # Inside an element autosave reads back only \" and \\ as escapes.
            text = item if isinstance(item, str) else _element_text(item, pv.dbf)
            text = text.replace("\\", "\\\\").replace('"', '\\"')
            items.append(f'"{text}"')
        return f"{ARRAY_MARKER} {{ " + "".join(f"{item} " for item in items) + "}"
    if pv.dbf == "ENUM" and isinstance(pv.value, str) and pv.value in pv.states:
        return str(pv.states.index(pv.value))  # autosave keeps an enum as its index
    return _element_text(pv.value, pv.dbf)


def dumps(snapshot: Snapshot) -> str:
    when = snapshot.time_ns / 1e9 if snapshot.time_ns is not None else time.time()
    stamp = time.strftime("%y%m%d-%H%M%S", time.localtime(when))
    lines = [f"# autosave R5.3 (caprobe)\tAutomatically generated - DO NOT MODIFY - {stamp}"]
    missing = sum(1 for pv in snapshot.pvs if pv.value is None and not _is_pva(pv.name))
    if missing:
        lines.append(f"! {missing} channel(s) not connected - or not all gets were successful")
    for pv in snapshot.pvs:
        if _is_pva(pv.name):
            shown = value_text(pv) if pv.value is not None else "(no value)"
            lines.append(f"# {pv.name} {shown} ({PVA_COMMENT})")
        elif pv.value is None:
            lines.append(f"#{pv.name} Search Issued")
        else:
            lines.append(f"{pv.name} {value_text(pv)}")
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


def _is_pva(name: str) -> bool:
    try:
        return pvname.parse(name).is_pva
    except ValueError:
        return False


def pva_rows(snapshot: Snapshot) -> list[str]:
    """Names a .sav file keeps only as comments (PV Access PVs)."""
    return [pv.name for pv in snapshot.pvs if _is_pva(pv.name)]


def write(path: str | os.PathLike[str], snapshot: Snapshot) -> None:
    _write_text(path, dumps(snapshot))
