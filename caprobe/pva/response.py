"""PV Access values as caprobe responses: ``.data`` (numpy), ``.metadata`` with caprobe.ca's
attribute names, ``.value`` (the whole p4p structure), ``.channel`` (a PVAChannelInfo).

Decoding is lazy (on first ``.data``/``.metadata``) and the layout of a structure is worked out
once per type (:func:`layout_of`), so a monitor update that nobody looks at costs no decoding.

What maps to what (normative types, NT):

=======================  =======================================================================
``.data``                NTScalar: 1-element numpy array; NTScalarArray: numpy array (strings as
                         an object array of str); NTEnum: its state string as a 1-element object
                         array (``force_int_enums``: the index, int32), ``.index`` always;
                         NTTable: {column: numpy array}; NTNDArray: the image as an array shaped
                         by its dimensions; anything else: the structure as nested dicts.
``.metadata``            ``severity``, ``status`` (the CA alarm status code when the alarm message
                         names one, as QSRV sends it; else 0), ``alarm_status`` (PVA's own code),
                         ``message``; ``secondsSinceEpoch`` (EPICS epoch, as CA),
                         ``nanoSeconds``, ``timestamp`` (Unix float), ``userTag``; ``units``,
                         ``precision``, ``description``, ``upper/lower_disp_limit``,
                         ``upper/lower_ctrl_limit``, ``upper/lower_alarm_limit``,
                         ``upper/lower_warning_limit``, ``enum_strings``: each only where the
                         structure has it (``metadata.fields`` lists them). Text is ``str``.
``.data_type``           the CA type a CA client would see (TIME_DOUBLE, TIME_STRING for enums
                         as strings, ...), so caprobe.format prints both alike; None for
                         structures.
=======================  =======================================================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from caprobe.ca.dbr import EPICS_EPOCH_OFFSET, AlarmStatus, ChannelType

NT_SCALAR = "epics:nt/NTScalar:1"
NT_SCALAR_ARRAY = "epics:nt/NTScalarArray:1"
NT_ENUM = "epics:nt/NTEnum:1"
NT_TABLE = "epics:nt/NTTable:1"
NT_NDARRAY = "epics:nt/NTNDArray:1"

# p4p type codes -> (numpy dtype, PVA type name, nearest CA TIME_ type)
_SCALAR_CODES: dict[str, tuple[Any, str, ChannelType]] = {
    "?": (np.dtype(np.uint8), "boolean", ChannelType.TIME_CHAR),
    "b": (np.dtype(np.int8), "byte", ChannelType.TIME_CHAR),
    "B": (np.dtype(np.uint8), "ubyte", ChannelType.TIME_CHAR),
    "h": (np.dtype(np.int16), "short", ChannelType.TIME_SHORT),
    "H": (np.dtype(np.uint16), "ushort", ChannelType.TIME_LONG),
    "i": (np.dtype(np.int32), "int", ChannelType.TIME_LONG),
    "I": (np.dtype(np.uint32), "uint", ChannelType.TIME_LONG),
    "l": (np.dtype(np.int64), "long", ChannelType.TIME_LONG),
    "L": (np.dtype(np.uint64), "ulong", ChannelType.TIME_LONG),
    "f": (np.dtype(np.float32), "float", ChannelType.TIME_FLOAT),
    "d": (np.dtype(np.float64), "double", ChannelType.TIME_DOUBLE),
    "s": (np.dtype(object), "string", ChannelType.TIME_STRING),
}

# (metadata attribute, field path) in the order caprobe.ca's DbrMetadata lists them
_DISPLAY_FIELDS = (
    ("units", "display.units"),
    ("precision", "display.precision"),
    ("description", "display.description"),
    ("upper_disp_limit", "display.limitHigh"),
    ("lower_disp_limit", "display.limitLow"),
    ("upper_alarm_limit", "valueAlarm.highAlarmLimit"),
    ("upper_warning_limit", "valueAlarm.highWarningLimit"),
    ("lower_warning_limit", "valueAlarm.lowWarningLimit"),
    ("lower_alarm_limit", "valueAlarm.lowAlarmLimit"),
    ("upper_ctrl_limit", "control.limitHigh"),
    ("lower_ctrl_limit", "control.limitLow"),
)
_CA_STATUS_BY_NAME = {member.name: int(member) for member in AlarmStatus}


def _field_paths(spec: Any, prefix: str = "") -> dict[str, Any]:
    """{'value': 'd', 'alarm': ('S', ...), 'alarm.severity': 'i', ...} from Type.aspy()."""
    out: dict[str, Any] = {}
    if not (isinstance(spec, tuple) and spec and spec[0] == "S"):
        return out
    for name, sub in spec[2]:
        path = prefix + name
        out[path] = sub
        if isinstance(sub, tuple) and sub and sub[0] == "S":
            out.update(_field_paths(sub, path + "."))
    return out


def _value_type_name(code: str | None) -> str:
    """'d' -> 'double', 'as' -> 'string[]', None -> 'structure'."""
    if code is None:
        return "structure"
    base = _SCALAR_CODES.get(code.lstrip("a"))
    name = base[1] if base else code
    return name + "[]" if code.startswith("a") else name


@dataclass(frozen=True)
class Layout:
    """How to decode values of one structure type (worked out once per type)."""

    type_id: str
    kind: str  # scalar | array | enum | table | ndarray | structure
    value_code: str | None  # p4p code of .value ('d', 'ad', 'as', ...) for scalar/array
    metadata_fields: tuple[tuple[str, str], ...]
    has_alarm: bool
    has_time: bool
    top_fields: tuple[str, ...]
    type_text: str  # 'NTScalar double', 'NTScalarArray double[]', 'NTEnum', 'NTTable', ...

    @property
    def value_type(self) -> str:
        """PVA name of the value field's type: 'double', 'string[]', 'enum_t', 'structure'."""
        return "enum_t" if self.kind == "enum" else _value_type_name(self.value_code)

    @property
    def ca_type(self) -> ChannelType | None:
        if self.kind == "enum":
            return ChannelType.TIME_STRING
        if self.kind in ("scalar", "array") and self.value_code:
            return _SCALAR_CODES[self.value_code.lstrip("a")][2]
        return None


def layout_of(value: Any) -> Layout:
    """Inspect a p4p Value's type: which normative type, which metadata it carries."""
    type_id = value.getID()
    spec = value.type().aspy()
    paths = _field_paths(spec)
    top = tuple(name for name, _ in spec[2]) if isinstance(spec, tuple) else ()
    value_spec = paths.get("value")
    short = type_id.split("/")[-1].split(":")[0] if type_id.startswith("epics:nt/") else ""
    kind = "structure"
    code = None
    if isinstance(value_spec, str) and value_spec.lstrip("a") in _SCALAR_CODES:
        code = value_spec
        kind = "array" if value_spec.startswith("a") else "scalar"
    elif isinstance(value_spec, tuple) and "value.index" in paths and "value.choices" in paths:
        kind = "enum"
    if type_id.startswith(NT_TABLE) and isinstance(value_spec, tuple):
        kind = "table"
    elif type_id.startswith(NT_NDARRAY):
        kind = "ndarray"
    metadata = tuple((attr, path) for attr, path in _DISPLAY_FIELDS
                     if path in paths and not isinstance(paths[path], tuple))
    type_text = short or type_id
    if kind in ("scalar", "array"):
        type_text += " " + _value_type_name(code)
    return Layout(
        type_id=type_id, kind=kind, value_code=code, metadata_fields=metadata,
        has_alarm=all(p in paths for p in ("alarm.severity", "alarm.status")),
        has_time=all(p in paths for p in ("timeStamp.secondsPastEpoch",
                                          "timeStamp.nanoseconds")),
        top_fields=top, type_text=type_text)


class PVAMetadata:
    """Alarm, time and display metadata of a PVA value under caprobe.ca's attribute names
    (see the module docstring); ``fields`` lists the ones present."""

    def __init__(self) -> None:
        self._fields: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return self._fields

    @property
    def timestamp(self) -> float:
        """Server timestamp as Unix seconds."""
        return self.secondsSinceEpoch + EPICS_EPOCH_OFFSET + self.nanoSeconds * 1e-9

    @property
    def stamp(self) -> tuple[int, int]:
        return (self.secondsSinceEpoch, self.nanoSeconds)

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self._fields}
        if "secondsSinceEpoch" in out:
            out["timestamp"] = self.timestamp
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PVAMetadata) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "PVAMetadata(" + ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items()) + ")"


def decode_metadata(value: Any, layout: Layout) -> PVAMetadata:
    md = PVAMetadata()
    fields: list[str] = []
    if layout.has_alarm:
        severity = int(value["alarm.severity"])
        alarm_status = int(value["alarm.status"])
        try:
            message = str(value["alarm.message"])
        except (KeyError, AttributeError):
            message = ""
        md.severity = severity
        md.status = _CA_STATUS_BY_NAME.get(message, 0)
        md.alarm_status = alarm_status
        md.message = message
        fields += ["status", "severity", "alarm_status", "message"]
    if layout.has_time:
        seconds = int(value["timeStamp.secondsPastEpoch"])
        nanos = int(value["timeStamp.nanoseconds"])
        # PVA counts from 1970, CA from 1990: keep CA's meaning; a never-set stamp (0, 0)
        # stays (0, 0), which caprobe.format shows as <undefined> like CA's.
        md.secondsSinceEpoch = seconds - EPICS_EPOCH_OFFSET if (seconds or nanos) else 0
        md.nanoSeconds = nanos
        try:
            md.userTag = int(value["timeStamp.userTag"])
        except (KeyError, AttributeError):
            md.userTag = 0
        fields += ["secondsSinceEpoch", "nanoSeconds", "userTag"]
    for attr, path in layout.metadata_fields:
        item = value[path]
        setattr(md, attr, item)
        fields.append(attr)
    if layout.kind == "enum":
        md.enum_strings = tuple(value["value.choices"])
        fields.append("enum_strings")
    md._fields = tuple(fields)
    return md


def _ndarray_image(value: Any) -> Any:
    """NTNDArray's union value as an array shaped by its dimension sizes (slowest first)."""
    raw = value["value"]
    data = np.asarray(raw if raw is not None else [])
    try:
        dims = [int(d["size"]) for d in value["dimension"]]
    except (KeyError, TypeError, ValueError):
        dims = []
    if dims and int(np.prod(dims)) == data.size:
        return data.reshape(tuple(reversed(dims)))
    return data


def decode_data(value: Any, layout: Layout, force_int_enums: bool) -> Any:
    kind = layout.kind
    if kind == "scalar":
        dtype = _SCALAR_CODES[layout.value_code][0]
        return np.array([value["value"]], dtype=dtype)
    if kind == "array":
        raw = value["value"]
        if layout.value_code == "as":
            return np.array(list(raw), dtype=object)
        return np.asarray(raw, dtype=_SCALAR_CODES[layout.value_code[1:]][0])
    if kind == "enum":
        index = int(value["value.index"])
        if force_int_enums:
            return np.array([index], dtype=np.int32)
        choices = value["value.choices"]
        state = choices[index] if 0 <= index < len(choices) else str(index)
        return np.array([state], dtype=object)
    if kind == "table":
        return {name: np.asarray(column) if not isinstance(column, list)
                else np.array(column, dtype=object)
                for name, column in value["value"].todict().items()}
    if kind == "ndarray":
        return _ndarray_image(value)
    return value.todict()


@dataclass(frozen=True)
class PVAChannelInfo:
    """What is known about a PV Access channel: its name, normative type and value type.

    PVA has no access-rights query (a server refuses a put when it happens) and p4p does not
    report the server's address, so ``access``/``host`` are not offered; ``can_read`` is True
    once a value arrived and ``can_write`` is None (unknown until a write is tried).
    """

    pv_name: str
    type_id: str
    type_text: str
    value_type: str
    native_data_count: int
    fields: tuple[str, ...]
    type_tree: str = ""

    protocol = "pva"
    can_read = True
    can_write: bool | None = None

    @property
    def native_data_type(self) -> ChannelType | None:
        """The CA type a CA client would see for the value (None for structures)."""
        return None

    @property
    def address(self) -> str:
        return "(not reported by p4p)"


def channel_info(pv_name: str, value: Any, layout: Layout) -> PVAChannelInfo:
    count = 1
    if layout.kind == "array":
        count = len(value["value"])
    elif layout.kind == "table":
        columns = value["value"].todict()
        count = max((len(c) for c in columns.values()), default=0)
    return PVAChannelInfo(pv_name, layout.type_id, layout.type_text, layout.value_type, count,
                          layout.top_fields, value.type().tostr())


class PVAResponse:
    """One value of a PV Access channel (a read or a monitor update)."""

    __slots__ = ("value", "layout", "channel", "sub", "force_int_enums", "received",
                 "_data", "_metadata")

    def __init__(self, value: Any, layout: Layout, channel: PVAChannelInfo | None = None,
                 sub: Any = None, force_int_enums: bool = False):
        self.value = value  # the whole p4p Value
        self.layout = layout
        self.channel = channel
        self.sub = sub
        self.force_int_enums = force_int_enums
        self.received = time.time()
        self._data: Any = None
        self._metadata: PVAMetadata | None = None

    @property
    def data(self) -> Any:
        if self._data is None:
            self._data = decode_data(self.value, self.layout, self.force_int_enums)
        return self._data

    @property
    def metadata(self) -> PVAMetadata:
        if self._metadata is None:
            self._metadata = decode_metadata(self.value, self.layout)
        return self._metadata

    @property
    def data_type(self) -> ChannelType | None:
        if self.layout.kind == "enum" and self.force_int_enums:
            return ChannelType.TIME_ENUM
        return self.layout.ca_type

    @property
    def data_count(self) -> int:
        data = self.data
        return len(data) if isinstance(data, (np.ndarray, list, tuple)) else 1

    @property
    def index(self) -> int | None:
        """An NTEnum's index (None for other types)."""
        return int(self.value["value.index"]) if self.layout.kind == "enum" else None

    @property
    def type_id(self) -> str:
        return self.layout.type_id

    @property
    def status(self) -> Any:
        """caprobe.ca's responses carry an ECA status; a PVA value that arrived is a success."""
        from caprobe.ca.status import eca
        return eca("ECA_NORMAL")

    def __repr__(self) -> str:
        return (f"PVAResponse(type={self.layout.type_text!r}, data={self.data!r}, "
                f"metadata={self.metadata!r})")


@dataclass(frozen=True)
class PVAWriteResponse:
    """The server's acknowledgement of a put (returned by ``write(..., notify=True)``)."""

    pv_name: str
    completed: bool = True
    message: str = ""

    @property
    def status(self) -> Any:
        from caprobe.ca.status import eca
        return eca("ECA_NORMAL")
