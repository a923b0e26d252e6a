"""Text forms of PV Access values that have no Channel Access counterpart, shared by the CLI
and the GUI: structures as ``pvget`` prints them, NTTable as a table, the ``pvinfo`` block and
PVA alarms. Scalars, arrays and enums go through :mod:`caprobe.format` like CA values (a
:class:`caprobe.pva.PVAResponse` has the same ``data``/``data_type``/``metadata``).

Works on caprobe.pva responses and p4p Values passed in; imports neither p4p nor Qt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from caprobe.ca.errors import printable
from caprobe.format import (
    _field,
    format_response_time,
    format_timestamp,
    severity_text,
    status_text,
)

#: PVA's alarm_t status codes (normative types spec).
PVA_STATUS_NAMES = ("NO_STATUS", "DEVICE", "DRIVER", "RECORD", "DB", "CONF", "UNDEFINED",
                    "CLIENT")
INDENT = "    "


def alarm_words(metadata: Any) -> tuple[str, str] | None:
    """(status, severity) words for a wide line, or None when there is no alarm: CA's status
    name when the message is one (QSRV), else the message, else PVA's status name."""
    severity = int(getattr(metadata, "severity", 0) or 0)
    status = int(getattr(metadata, "status", 0) or 0)
    message = printable(str(getattr(metadata, "message", "") or ""))
    alarm_status = int(getattr(metadata, "alarm_status", 0) or 0)
    if not (severity or status or alarm_status or message):
        return None
    if status:
        word = status_text(status)
    elif message:
        word = message.replace(" ", "_") if " " not in message.strip() else f'"{message}"'
    else:
        word = (PVA_STATUS_NAMES[alarm_status] if 0 <= alarm_status < len(PVA_STATUS_NAMES)
                else str(alarm_status))
    return word, severity_text(severity)


def _cell(item: Any) -> str:
    if isinstance(item, str):
        return printable(item)
    if isinstance(item, float):
        return f"{item:g}"
    return printable(str(item))


def format_table(columns: Mapping[str, Sequence[Any]], labels: Sequence[str] | None = None,
                 indent: str = INDENT) -> list[str]:
    """An NTTable as lines: a header of column labels, then one line per row, each column
    right-aligned to its widest cell (pvget's table view)."""
    names = list(columns)
    heads = list(labels) if labels is not None and len(labels) == len(names) else names
    cells = [[_cell(v) for v in (columns[name].tolist() if hasattr(columns[name], "tolist")
                                 else list(columns[name]))] for name in names]
    rows = max((len(c) for c in cells), default=0)
    widths = [max([len(printable(h))] + [len(v) for v in col]) for h, col in zip(heads, cells,
                                                                                 strict=True)]
    lines = [indent + " ".join(printable(h).rjust(w) for h, w in zip(heads, widths,
                                                                     strict=True))]
    for row in range(rows):
        lines.append(indent + " ".join((col[row] if row < len(col) else "").rjust(w)
                                       for col, w in zip(cells, widths, strict=True)))
    return lines


def format_structure(value: Any, indent: str = INDENT) -> list[str]:
    """A whole p4p Value as pvxs prints it (``struct "id" { type name = value ... }``),
    indented; control characters from the server are escaped."""
    text = value.tostr() if hasattr(value, "tostr") else str(value)
    return [indent + printable(line) for line in text.rstrip("\n").splitlines()]


def format_structure_block(pv_name: str, response: Any, *, terse: bool = False,
                           nanos: bool = False) -> str:
    """pvget's output for a structure: the name (and timestamp when it has one) on the first
    line, then the table (NTTable) or the structure; ``terse`` drops the first line."""
    lines: list[str] = []
    if not terse:
        head = pv_name
        md = response.metadata
        # No stamp at all (a table that was never given one) prints none, as pvget does.
        stamp = format_response_time(md, nanos=nanos) \
            if "secondsSinceEpoch" in md.fields and (md.secondsSinceEpoch or md.nanoSeconds) \
            else None
        if stamp:
            head += f" {stamp}"
        words = alarm_words(response.metadata)
        if words:
            head += f" {words[0]} {words[1]}"
        lines.append(head)
    if response.layout.kind == "table":
        labels = None
        try:
            labels = list(response.value["labels"])
        except (KeyError, AttributeError):
            labels = None
        lines += format_table(response.data, labels)
    else:
        lines += format_structure(response.value)
    return "\n".join(lines)


def format_pva_info(info: Any, *, pv_name: str | None = None, state: str = "connected"
                    ) -> str:
    """The ``caprobe-info`` block for a PVA channel (cainfo's labels where they apply, then
    the type tree as pvinfo prints it)."""
    lines = [
        pv_name or info.pv_name,
        _field("State", state),
        _field("Protocol", "PV Access"),
        _field("Type", f"{info.type_text} ({info.type_id})" if info.type_text != info.type_id
               else info.type_id),
        _field("Value type", info.value_type),
        _field("Element count", str(info.native_data_count)),
        _field("Access", "read; write unknown until tried (PVA has no rights query)"),
        _field("Structure", ""),
    ]
    lines += [INDENT * 2 + printable(line) for line in info.type_tree.rstrip("\n").splitlines()]
    return "\n".join(lines)


def format_pva_details(pv_name: str, response: Any, *, nanos: bool = False,
                       value_text: str = "") -> str:
    """caget -d's view for a PVA value: the fields caprobe.ca's metadata names, then the
    whole structure."""
    md = response.metadata
    lines = [pv_name, _field("Type", response.layout.type_text)]
    if value_text:
        lines.append(_field("Value", value_text))
    if "secondsSinceEpoch" in md.fields:
        lines.append(_field("Timestamp", format_timestamp(md.secondsSinceEpoch, md.nanoSeconds,
                                                          nanos=nanos)))
    if "severity" in md.fields:
        lines.append(_field("Status", status_text(md.status)
                            if md.status or not md.alarm_status else
                            PVA_STATUS_NAMES[md.alarm_status]
                            if 0 <= md.alarm_status < len(PVA_STATUS_NAMES)
                            else str(md.alarm_status)))
        lines.append(_field("Severity", severity_text(md.severity)))
        if md.message:
            lines.append(_field("Message", printable(md.message)))
    labels = {"units": "Units", "precision": "Precision", "description": "Description",
              "lower_disp_limit": "Lo disp limit", "upper_disp_limit": "Hi disp limit",
              "lower_alarm_limit": "Lo alarm limit", "lower_warning_limit": "Lo warn limit",
              "upper_warning_limit": "Hi warn limit", "upper_alarm_limit": "Hi alarm limit",
              "lower_ctrl_limit": "Lo ctrl limit", "upper_ctrl_limit": "Hi ctrl limit"}
    for attr, label in labels.items():
        if attr in md.fields:
            item = getattr(md, attr)
            lines.append(_field(label, printable(item) if isinstance(item, str) else
                                f"{item:g}" if isinstance(item, float) else str(item)))
    if "enum_strings" in md.fields:
        lines.append(_field("Enums", f"({len(md.enum_strings):2d})"))
        lines.extend(f"{'':22}[{i:2d}] {printable(s)}" for i, s in enumerate(md.enum_strings))
    lines.append(_field("Structure", ""))
    lines += format_structure(response.value, INDENT * 2)
    return "\n".join(lines)
