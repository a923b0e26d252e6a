"""caprobe's own snapshot file (``.snap``): text, one PV per line, made for ``diff`` and ``git``.

    # caprobe snapshot (see docs/file-formats.rst)
    caprobe-snapshot 1
    time 2026-12-07T16:03:12.512345678Z
    comment "Before the magnet study"
    # NAME TYPE VALUE SEVERITY STATUS TIME UNITS [KEY=VALUE...]
    TEST:ai DOUBLE 1.5 NO_ALARM NO_ALARM 2026-12-07T16:03:12.500000123Z "mm"
    TEST:wf DOUBLE[3] [0.5, 1.5, 2.5] NO_ALARM NO_ALARM 2026-12-07T16:03:10.000000000Z "s"
    TEST:bo ENUM "On" NO_ALARM NO_ALARM 2026-12-07T16:03:11.250000000Z ""
    TEST:gone - null - - - "" error="not connected"
    end

* The first line that is not a comment is ``caprobe-snapshot 1`` (format and version); the
  header keys follow (``time``, ``comment``, ``abs`` and ``rel``: the default tolerance,
  ``timeout``: seconds a restore waits for each put-callback), then one line per PV, then
  ``end``: a file without ``end`` was cut short and is refused.
* VALUE and UNITS are JSON (strings quoted and escaped, ``NaN``/``Infinity`` allowed, arrays
  in brackets); TYPE is the PV's native type, with ``[N]`` for an array of N elements; ENUM
  values are the state text, or the index when the states were not known.
* NAME keeps its protocol: ``pva://NAME`` is read and restored over PV Access, a bare name
  (or ``ca://NAME``) over Channel Access; one file may hold both. A PV Access PV's TYPE is
  the CA name of its scalar type where there is one (double DOUBLE, float FLOAT, int LONG,
  short SHORT, ubyte CHAR, string STRING, NTEnum ENUM), else INT8, UINT16, UINT32, INT64,
  UINT64 or BOOLEAN.
* TIME is the IOC's timestamp in UTC with nanoseconds, ``-`` when there is none.
* Optional ``key=JSON`` fields after UNITS: ``error`` (why there is no value), ``abs`` and
  ``rel`` (this PV's tolerance), ``selected`` (false: left out of a restore).
* Blank lines and lines starting with ``#`` are ignored. Lines are in table order; nothing is
  padded, so changing one PV changes one line.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from caprobe.snapshot.errors import SnapshotFileError
from caprobe.snapshot.model import (
    ALL_TYPE_NAMES,
    NUMERIC_TYPES,
    SEVERITY_NAMES,
    SavedPV,
    Snapshot,
    Tolerance,
    numeric_array,
)
from caprobe.snapshot.timestamps import format_utc, parse_time

MAGIC = "caprobe-snapshot"
VERSION = 1
SUFFIX = ".snap"
_STATUS_NAMES = (
    "NO_ALARM", "READ", "WRITE", "HIHI", "HIGH", "LOLO", "LOW", "STATE", "COS", "COMM",
    "TIMEOUT", "HWLIMIT", "CALC", "SCAN", "LINK", "SOFT", "BAD_SUB", "UDF", "DISABLE", "SIMM",
    "READ_ACCESS", "WRITE_ACCESS",
)  # fmt: skip
_TYPE = re.compile(r"(?P<dbf>[A-Z][A-Z0-9]*)(?:\[(?P<count>\d+)\])?")
_decoder = json.JSONDecoder()


# --------------------------------------------------------------------------------------------
# Writing


def _number(value: Any, dbf: str) -> str:
    if dbf in ("FLOAT", "DOUBLE"):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        # The shortest text that reads back as the same float32/float64.
        return str(np.float32(number)) if dbf == "FLOAT" else repr(number)
    return str(int(value))


def encode_value(value: Any, dbf: str | None) -> str:
    """VALUE as JSON text (numbers exact: shortest round-trip form)."""
    if value is None:
        return "null"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(encode_value(v, dbf) for v in value) + "]"
    if isinstance(value, (str, bytes)):
        text = value if isinstance(value, str) else value.decode("utf-8", "replace")
        return json.dumps(text, ensure_ascii=False)
    if dbf in NUMERIC_TYPES:
        return _number(value, dbf)
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return _number(value, "DOUBLE")


def _type_field(pv: SavedPV) -> str:
    if pv.value is None:
        return "-"
    dbf = pv.dbf or "TEXT"
    return f"{dbf}[{pv.count}]" if pv.is_array else dbf


def _enum_name(names: tuple[str, ...], index: int | None) -> str:
    if index is None:
        return "-"
    return names[index] if 0 <= index < len(names) else str(index)


def format_line(pv: SavedPV) -> str:
    stamp = format_utc(pv.time_ns) if pv.time_ns is not None else "-"
    fields = [pv.name, _type_field(pv), encode_value(pv.value, pv.dbf),
              _enum_name(SEVERITY_NAMES, pv.severity), _enum_name(_STATUS_NAMES, pv.status),
              stamp, json.dumps(pv.units, ensure_ascii=False)]
    if pv.error:
        fields.append("error=" + json.dumps(pv.error, ensure_ascii=False))
    if pv.tolerance is not None:
        if pv.tolerance.absolute:
            fields.append(f"abs={pv.tolerance.absolute!r}")
        if pv.tolerance.relative:
            fields.append(f"rel={pv.tolerance.relative!r}")
        if not (pv.tolerance.absolute or pv.tolerance.relative):
            fields.append("abs=0.0")
    if not pv.selected:
        fields.append("selected=false")
    return " ".join(fields)


def dumps(snapshot: Snapshot) -> str:
    lines = ["# caprobe snapshot (see docs/file-formats.rst)",
             f"{MAGIC} {VERSION}"]
    if snapshot.time_ns is not None:
        lines.append(f"time {format_utc(snapshot.time_ns)}")
    if snapshot.comment:
        lines.append("comment " + json.dumps(snapshot.comment, ensure_ascii=False))
    if snapshot.tolerance.absolute:
        lines.append(f"abs {snapshot.tolerance.absolute!r}")
    if snapshot.tolerance.relative:
        lines.append(f"rel {snapshot.tolerance.relative!r}")
    if snapshot.timeout is not None:
        lines.append(f"timeout {snapshot.timeout!r}")
    lines.append("# NAME TYPE VALUE SEVERITY STATUS TIME UNITS [KEY=VALUE...]")
    lines.extend(format_line(pv) for pv in snapshot.pvs)
    lines.append("end")
    return "\n".join(lines) + "\n"


def write(path: str | os.PathLike[str], snapshot: Snapshot) -> None:
    _write_text(path, dumps(snapshot))


def _write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write next to the target and rename, so a crash never leaves half a file."""
    target = os.fspath(path)
    temporary = f"{target}.part"
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except OSError as exc:
        raise SnapshotFileError(target, None, f"cannot write: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------------------------
# Reading


class _LineError(ValueError):
    pass


def _json_at(line: str, position: int, what: str) -> tuple[Any, int]:
    try:
        return _decoder.raw_decode(line, position)
    except json.JSONDecodeError as exc:
        raise _LineError(f"{what} is not valid JSON ({exc.msg} at column {exc.pos + 1})") from None


def _skip_spaces(line: str, position: int) -> int:
    while position < len(line) and line[position] in " \t":
        position += 1
    return position


def _word(line: str, position: int, what: str) -> tuple[str, int]:
    position = _skip_spaces(line, position)
    end = position
    while end < len(line) and line[end] not in " \t":
        end += 1
    if end == position:
        raise _LineError(f"{what} missing")
    return line[position:end], end


def _name_index(names: tuple[str, ...], text: str, what: str) -> int | None:
    if text == "-":
        return None
    if text in names:
        return names.index(text)
    if text.isdigit():
        return int(text)
    raise _LineError(f"unknown {what} {text!r}")


def _typed_value(raw: Any, dbf: str | None, count: int | None) -> Any:
    """Check a JSON value against its TYPE field and convert it to the canonical form."""
    if raw is None:
        if dbf is not None:
            raise _LineError("a PV with a TYPE needs a value (use '-' and null for none)")
        return None
    if dbf is None:
        raise _LineError("TYPE '-' (no value) but a value is given")
    is_array = isinstance(raw, list)
    if count is not None and not is_array:
        raise _LineError(f"TYPE says {count} elements but the value is not an array")
    if is_array and count is None:
        raise _LineError("the value is an array: TYPE needs its element count, e.g. DOUBLE[3]")
    if is_array and len(raw) != count:
        raise _LineError(f"TYPE says {count} elements but the array has {len(raw)}")
    items = raw if is_array else [raw]
    if dbf == "TEXT":
        if not all(isinstance(v, str) for v in items):
            raise _LineError("TEXT values must be strings")
        return list(items) if is_array else items[0]
    if dbf == "STRING":
        if not all(isinstance(v, str) for v in items):
            raise _LineError("STRING values must be quoted strings")
        return list(items) if is_array else items[0]
    if dbf == "ENUM":
        if not all(isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
                   for v in items):
            raise _LineError("ENUM values must be a state (\"On\") or an index")
        return list(items) if is_array else items[0]
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _LineError(f"{dbf} values must be numbers, not {json.dumps(v)}")
        if dbf not in ("FLOAT", "DOUBLE") and isinstance(v, float):
            raise _LineError(f"{dbf} values must be whole numbers, not {v!r}")
    try:
        array = numeric_array(items, dbf)
    except (ValueError, OverflowError) as exc:
        raise _LineError(str(exc)) from None
    if is_array:
        return array
    return float(array[0]) if dbf in ("FLOAT", "DOUBLE") else int(items[0])


def parse_line(line: str) -> SavedPV:
    name, position = _word(line, 0, "PV name")
    type_text, position = _word(line, position, "TYPE")
    if type_text == "-":
        dbf, count = None, None
    else:
        match = _TYPE.fullmatch(type_text)
        if not match or match["dbf"] not in ALL_TYPE_NAMES + ("TEXT",):
            raise _LineError(f"unknown TYPE {type_text!r} (one of "
                             f"{', '.join(ALL_TYPE_NAMES)}, TEXT, optionally with [COUNT], "
                             "or '-')")
        dbf = match["dbf"]
        count = int(match["count"]) if match["count"] is not None else None
    raw, position = _json_at(line, _skip_spaces(line, position), "VALUE")
    value = _typed_value(raw, dbf, count)
    severity_text, position = _word(line, position, "SEVERITY")
    status_text, position = _word(line, position, "STATUS")
    time_text, position = _word(line, position, "TIME")
    severity = _name_index(SEVERITY_NAMES, severity_text, "severity")
    status = _name_index(_STATUS_NAMES, status_text, "status")
    try:
        time_ns = None if time_text == "-" else parse_time(time_text, utc=True)
    except ValueError as exc:
        raise _LineError(str(exc)) from None
    units, position = _json_at(line, _skip_spaces(line, position), "UNITS")
    if not isinstance(units, str):
        raise _LineError("UNITS must be a quoted string")
    pv = SavedPV(name=name, value=value, dbf=None if dbf == "TEXT" else dbf, units=units,
                 severity=severity, status=status, time_ns=time_ns)
    absolute = relative = None
    while (position := _skip_spaces(line, position)) < len(line):
        equals = line.find("=", position)
        key = line[position:equals] if equals > 0 else ""
        if key not in ("error", "abs", "rel", "selected"):
            raise _LineError(f"unexpected text {line[position:position + 20]!r} "
                             "(after UNITS only error=, abs=, rel=, selected=)")
        item, position = _json_at(line, equals + 1, key)
        if key == "error":
            if not isinstance(item, str):
                raise _LineError("error= must be a quoted string")
            pv.error = item
        elif key == "selected":
            if not isinstance(item, bool):
                raise _LineError("selected= must be true or false")
            pv.selected = item
        else:
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not item >= 0:
                raise _LineError(f"{key}= must be a number >= 0")
            if key == "abs":
                absolute = float(item)
            else:
                relative = float(item)
    if absolute is not None or relative is not None:
        pv.tolerance = Tolerance(absolute or 0.0, relative or 0.0)
    return pv


def _header_number(text: str, key: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise _LineError(f"{key} must be a number, not {text!r}") from None
    if not number >= 0 or math.isinf(number):
        raise _LineError(f"{key} must be a finite number >= 0")
    return number


def loads(text: str, path: str | os.PathLike[str] = "<text>") -> Snapshot:
    return parse_lines(text.splitlines(), path)


def parse_lines(lines: Iterable[str], path: str | os.PathLike[str]) -> Snapshot:
    snapshot = Snapshot()
    seen_magic = False
    ended = False
    in_header = True
    absolute = relative = 0.0
    names: dict[str, int] = {}
    number = 0
    for number, raw_line in enumerate(lines, 1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if ended:
            raise SnapshotFileError(path, number, "text after 'end'")
        try:
            if not seen_magic:
                words = line.split()
                if words[0] != MAGIC:
                    raise _LineError(f"not a caprobe snapshot (the first line must be "
                                     f"'{MAGIC} {VERSION}')")
                if len(words) != 2 or words[1] != str(VERSION):
                    raise _LineError(f"unsupported snapshot version {' '.join(words[1:])!r} "
                                     f"(this caprobe reads version {VERSION})")
                seen_magic = True
                continue
            if line == "end":
                ended = True
                continue
            key, _, rest = line.partition(" ")
            rest = rest.strip()
            if in_header and key in ("time", "comment", "abs", "rel", "timeout"):
                if key == "time":
                    try:
                        snapshot.time_ns = parse_time(rest, utc=True)
                    except ValueError as exc:
                        raise _LineError(str(exc)) from None
                elif key == "comment":
                    comment, end = _json_at(rest, 0, "comment")
                    if not isinstance(comment, str) or rest[end:].strip():
                        raise _LineError("comment must be one quoted string")
                    snapshot.comment = comment
                elif key == "abs":
                    absolute = _header_number(rest, key)
                elif key == "rel":
                    relative = _header_number(rest, key)
                else:
                    snapshot.timeout = _header_number(rest, key)
                continue
            in_header = False
            pv = parse_line(line)
            if pv.name in names:
                raise _LineError(f"{pv.name} is listed twice (first on line {names[pv.name]})")
            names[pv.name] = number
            snapshot.pvs.append(pv)
        except _LineError as exc:
            raise SnapshotFileError(path, number, str(exc)) from None
    if not seen_magic:
        raise SnapshotFileError(path, number or None, "empty file: not a caprobe snapshot")
    if not ended:
        raise SnapshotFileError(path, number, "no 'end' line: the file is incomplete")
    snapshot.tolerance = Tolerance(absolute, relative)
    return snapshot


def read(path: str | os.PathLike[str]) -> Snapshot:
    from caprobe.snapshot.pvlist import read_lines

    return parse_lines(read_lines(path), path)
