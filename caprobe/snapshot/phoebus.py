"""Phoebus PV Table files (``.pvs``, XML), read and written.

    <?xml version="1.0" encoding="UTF-8"?>
    <pvtable version="3.0" save="true">
      <timeout>60.0</timeout>
      <pvlist>
        <pv>
          <selected>true</selected>
          <name>TEST:ai</name>
          <tolerance>0.01</tolerance>
          <saved_value_timestamp>2026-12-07 17:03:12.500000123</saved_value_timestamp>
          <saved_value>1.5</saved_value>                        (a scalar, as text)
          <saved_array_value><item>0.5</item>...</saved_array_value>  (or an array)
          <completion>true</completion>
        </pv>
      </pvlist>
    </pvtable>

What Phoebus keeps: the check mark (``selected``), an absolute tolerance per PV and a default
one (``<tolerance>`` under the root), the saved value as text and its time (local time), and
the put-callback timeout. Units, type and alarm are not in the file. Legacy ``<readback>``
entries become an extra, unselected PV, as Phoebus reads them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape

from caprobe.snapshot.autosave import _element_text
from caprobe.snapshot.errors import SnapshotFileError
from caprobe.snapshot.model import EXACT, SavedPV, Snapshot, Tolerance
from caprobe.snapshot.snapfile import _write_text
from caprobe.snapshot.timestamps import format_local, parse_time

SUFFIX = ".pvs"
DEFAULT_TIMEOUT = 60.0


@dataclass
class _Element:
    tag: str
    line: int
    text: str = ""
    children: list[_Element] = field(default_factory=list)

    def child(self, tag: str) -> _Element | None:
        return next((c for c in self.children if c.tag == tag), None)

    def all(self, tag: str) -> Iterator[_Element]:
        return (c for c in self.children if c.tag == tag)


def _parse_xml(data: bytes, path: str | os.PathLike[str]) -> _Element:
    """A small tree that remembers each element's line (ElementTree does not)."""
    parser = expat.ParserCreate()
    stack: list[_Element] = []
    root: list[_Element] = []

    def start(tag: str, _attrs: dict[str, str]) -> None:
        element = _Element(tag, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(element)
        else:
            root.append(element)
            element.attrs = _attrs  # type: ignore[attr-defined]
        stack.append(element)

    def end(_tag: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].text += data

    def no_entities(*_args: Any) -> None:
        raise SnapshotFileError(path, parser.CurrentLineNumber,
                                "XML entity declarations are not allowed")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.EntityDeclHandler = no_entities
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise SnapshotFileError(path, exc.lineno, f"not valid XML: "
                                f"{expat.ErrorString(exc.code)} (column {exc.offset + 1})"
                                ) from None
    return root[0]


def _number(element: _Element, path: str | os.PathLike[str]) -> float:
    try:
        value = float(element.text.strip())
    except ValueError:
        raise SnapshotFileError(path, element.line, f"<{element.tag}> must be a number, "
                                f"not {element.text.strip()!r}") from None
    if not value >= 0 or value == float("inf"):
        raise SnapshotFileError(path, element.line, f"<{element.tag}> must be a finite "
                                "number >= 0")
    return value


def _boolean(element: _Element | None, default: bool, path: str | os.PathLike[str]) -> bool:
    if element is None:
        return default
    text = element.text.strip().lower()
    if text not in ("true", "false"):
        raise SnapshotFileError(path, element.line, f"<{element.tag}> must be true or false, "
                                f"not {element.text.strip()!r}")
    return text == "true"


def parse(data: bytes, path: str | os.PathLike[str] = "<xml>") -> Snapshot:
    root = _parse_xml(data, path)
    if root.tag != "pvtable":
        raise SnapshotFileError(path, root.line, f"not a PV table: the root element is "
                                f"<{root.tag}>, <pvtable> expected")
    snapshot = Snapshot()
    default = root.child("tolerance")
    default_tolerance = _number(default, path) if default is not None else None
    if default_tolerance:
        snapshot.tolerance = Tolerance(default_tolerance, 0.0)
    timeout = root.child("timeout")
    snapshot.timeout = _number(timeout, path) if timeout is not None else None
    pvlist = root.child("pvlist")
    seen: dict[str, int] = {}
    newest: int | None = None
    for element in pvlist.all("pv") if pvlist is not None else ():
        name_element = element.child("name")
        name = name_element.text.strip() if name_element is not None else ""
        if not name or name.startswith("#"):
            continue  # Phoebus skips empty names; "# ..." rows are its comments
        if name in seen:
            raise SnapshotFileError(path, element.line, f"{name} is listed twice (first on "
                                    f"line {seen[name]})")
        seen[name] = element.line
        pv = SavedPV(name=name, selected=_boolean(element.child("selected"), True, path))
        tolerance = element.child("tolerance")
        if tolerance is not None:
            absolute = _number(tolerance, path)
            if absolute != (default_tolerance or 0.0):  # Phoebus writes one on every row
                pv.tolerance = Tolerance(absolute, 0.0)
        scalar, array = element.child("saved_value"), element.child("saved_array_value")
        if scalar is not None:
            pv.value = scalar.text
        elif array is not None:
            pv.value = [item.text for item in array.all("item")]
        stamp = element.child("saved_value_timestamp")
        stamp_text = stamp.text.strip() if stamp is not None else ""
        if stamp_text and stamp_text != "null":
            try:
                pv.time_ns = parse_time(stamp_text)
            except ValueError as exc:
                raise SnapshotFileError(path, stamp.line, str(exc)) from None
            newest = pv.time_ns if newest is None else max(newest, pv.time_ns)
        snapshot.pvs.append(pv)
        readback = element.child("readback")
        if readback is not None and readback.text.strip():
            saved = element.child("readback_value")
            snapshot.pvs.append(SavedPV(name=readback.text.strip(), selected=False,
                                        value=saved.text if saved is not None else None,
                                        tolerance=pv.tolerance))
    snapshot.time_ns = newest
    return snapshot


def read(path: str | os.PathLike[str]) -> Snapshot:
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise SnapshotFileError(path, None, f"cannot read: {exc.strerror or exc}") from None
    return parse(data, path)


def _xml_text(text: str) -> str:
    # XML 1.0 cannot carry most control characters at all: write them as caprobe escapes.
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        text = "".join(f"\\x{ord(c):02x}" if ord(c) < 32 and c not in "\t\n\r" else c
                       for c in text)
    return escape(text)


def dumps(snapshot: Snapshot) -> str:
    timeout = snapshot.timeout if snapshot.timeout is not None else DEFAULT_TIMEOUT
    default = snapshot.tolerance if snapshot.tolerance != EXACT else None
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<pvtable version="3.0" save="true">']
    if default is not None:
        lines.append(f"  <tolerance>{default.absolute!r}</tolerance>")
    lines += [f"  <timeout>{timeout!r}</timeout>", "  <pvlist>"]
    for pv in snapshot.pvs:
        tolerance = snapshot.tolerance_of(pv).absolute
        lines += ["    <pv>",
                  f"      <selected>{'true' if pv.selected else 'false'}</selected>",
                  f"      <name>{_xml_text(pv.name)}</name>",
                  f"      <tolerance>{tolerance!r}</tolerance>"]
        if pv.time_ns is not None:
            lines.append(f"      <saved_value_timestamp>{format_local(pv.time_ns)}"
                         "</saved_value_timestamp>")
        if pv.is_array:
            lines.append("      <saved_array_value>")
            lines += [f"        <item>{_xml_text(_plain(v, pv.dbf))}</item>" for v in pv.value]
            lines.append("      </saved_array_value>")
        elif pv.value is not None:
            lines.append(f"      <saved_value>{_xml_text(_plain(pv.value, pv.dbf))}"
                         "</saved_value>")
        lines += ["      <completion>true</completion>", "    </pv>"]
    lines += ["  </pvlist>", "</pvtable>"]
    return "\n".join(lines) + "\n"


def _plain(value: Any, dbf: str | None) -> str:
    if isinstance(value, str):
        return value  # Phoebus keeps strings as they are (no escapes)
    return _element_text(value, dbf)


def write(path: str | os.PathLike[str], snapshot: Snapshot) -> None:
    _write_text(path, dumps(snapshot))
