"""DBR types: the 39 Channel Access payload layouts (EPICS ``db_access.h``), decode and encode.

Decoding never loops over elements in Python: values are one ``np.frombuffer`` view on the
received memory (:func:`decode`) or one ``struct.unpack_from`` into plain Python values
(:func:`decode_list`); metadata is one ``struct.unpack_from``.

numpy is imported on first use only (a numpy view, a numpy array to encode), not with this
module: a command-line read of a scalar never loads it (~50 ms of start-up).
"""

from __future__ import annotations

import math
import struct
import sys
from collections.abc import Iterable
from enum import IntEnum, IntFlag
from typing import Any

from caprobe.ca.errors import ProtocolError, ValueRefused
from caprobe.ca.value_ranges import FLOAT32_MAX, INT_RANGE

EPICS_EPOCH_OFFSET = 631152000  # 1990-01-01T00:00:00Z in Unix seconds
MAX_STRING_SIZE = 40
MAX_UNITS_SIZE = 8
MAX_ENUM_STRING_SIZE = 26
MAX_ENUM_STATES = 16


class ChannelType(IntEnum):
    """The 39 DBR types by number (caproto's names): the native types 0-6 (``STRING`` ...
    ``DOUBLE``), then their ``STS_``, ``TIME_``, ``GR_`` and ``CTRL_`` forms and the special types."""

    STRING = 0
    INT = 1
    SHORT = 1
    FLOAT = 2
    ENUM = 3
    CHAR = 4
    LONG = 5
    DOUBLE = 6
    STS_STRING = 7
    STS_INT = 8
    STS_SHORT = 8
    STS_FLOAT = 9
    STS_ENUM = 10
    STS_CHAR = 11
    STS_LONG = 12
    STS_DOUBLE = 13
    TIME_STRING = 14
    TIME_INT = 15
    TIME_SHORT = 15
    TIME_FLOAT = 16
    TIME_ENUM = 17
    TIME_CHAR = 18
    TIME_LONG = 19
    TIME_DOUBLE = 20
    GR_STRING = 21
    GR_INT = 22
    GR_SHORT = 22
    GR_FLOAT = 23
    GR_ENUM = 24
    GR_CHAR = 25
    GR_LONG = 26
    GR_DOUBLE = 27
    CTRL_STRING = 28
    CTRL_INT = 29
    CTRL_SHORT = 29
    CTRL_FLOAT = 30
    CTRL_ENUM = 31
    CTRL_CHAR = 32
    CTRL_LONG = 33
    CTRL_DOUBLE = 34
    PUT_ACKT = 35
    PUT_ACKS = 36
    STSACK_STRING = 37
    CLASS_NAME = 38


class SubscriptionType(IntFlag):
    """The event mask of a subscription (``DBE_VALUE``, ``DBE_LOG``, ``DBE_ALARM``,
    ``DBE_PROPERTY``), combined with ``|``."""

    DBE_VALUE = 1
    DBE_LOG = 2
    DBE_ARCHIVE = 2
    DBE_ALARM = 4
    DBE_PROPERTY = 8


class AccessRights(IntFlag):
    """A client's access to a channel, as the server grants it: ``READ``, ``WRITE``, both
    or ``NO_ACCESS``."""

    NO_ACCESS = 0
    READ = 1
    WRITE = 2
    READ_WRITE = 3


class AlarmSeverity(IntEnum):
    """Alarm severity of a value: ``NO_ALARM``, ``MINOR_ALARM``, ``MAJOR_ALARM``,
    ``INVALID_ALARM``."""

    NO_ALARM = 0
    MINOR_ALARM = 1
    MAJOR_ALARM = 2
    INVALID_ALARM = 3


class AlarmStatus(IntEnum):
    """Alarm status (the reason of an alarm) by EPICS base's numbers: ``HIHI``, ``LOLO``,
    ``COMM``, ``UDF`` ..."""

    NO_ALARM = 0
    READ = 1
    WRITE = 2
    HIHI = 3
    HIGH = 4
    LOLO = 5
    LOW = 6
    STATE = 7
    COS = 8
    COMM = 9
    TIMEOUT = 10
    HWLIMIT = 11
    CALC = 12
    SCAN = 13
    LINK = 14
    SOFT = 15
    BAD_SUB = 16
    UDF = 17
    DISABLE = 18
    SIMM = 19
    READ_ACCESS = 20
    WRITE_ACCESS = 21


DBR_CLASSES = ("native", "status", "time", "graphic", "control")
_CLASS_OFFSET = {"native": 0, "status": 7, "time": 14, "graphic": 21, "control": 28}

# struct code of each native (DBF) value type's element, big-endian on the wire (numpy dtype
# ">" + code: SHORT ">h" is ">i2", FLOAT ">f" is ">f4"...); STRING is handled as 40-byte records.
VALUE_CODE = {1: "h", 2: "f", 3: "H", 4: "B", 5: "i", 6: "d"}
VALUE_SIZE = {0: 40, 1: 2, 2: 4, 3: 2, 4: 1, 5: 4, 6: 8}
# INT_RANGE (integer range of each native type, used to refuse values that would wrap on the
# wire) and FLOAT32_MAX come from value_ranges, the rule caprobe.format.parse_value uses too.

_DBF_NAMES = ("STRING", "SHORT", "FLOAT", "ENUM", "CHAR", "LONG", "DOUBLE")

_LIMITS6 = ("upper_disp_limit", "lower_disp_limit", "upper_alarm_limit", "upper_warning_limit",
            "lower_warning_limit", "lower_alarm_limit")
_LIMITS8 = _LIMITS6 + ("upper_ctrl_limit", "lower_ctrl_limit")
_TIME = ("status", "severity", "secondsSinceEpoch", "nanoSeconds")


class _Layout:
    """Metadata layout of one DBR type: struct format (big-endian, explicit pads) and names."""

    __slots__ = ("dbr_id", "native", "struct", "names", "md_size")

    def __init__(self, dbr_id: int, native: int, fmt: str, names: tuple[str, ...]):
        self.dbr_id = dbr_id
        self.native = native
        self.struct = struct.Struct(">" + fmt) if fmt else None
        self.names = names
        self.md_size = self.struct.size if self.struct else 0


def _build_layouts() -> dict[int, _Layout]:
    L: dict[int, _Layout] = {}
    for native in range(7):
        L[native] = _Layout(native, native, "", ())
    sts_pad = {0: "", 1: "", 2: "", 3: "", 4: "x", 5: "", 6: "4x"}
    time_pad = {0: "", 1: "2x", 2: "", 3: "2x", 4: "3x", 5: "", 6: "4x"}
    for native in range(7):
        L[7 + native] = _Layout(7 + native, native, "hh" + sts_pad[native], ("status", "severity"))
        L[14 + native] = _Layout(14 + native, native, "hhII" + time_pad[native], _TIME)
    ss = ("status", "severity")
    units = ("units",)
    prec = ("precision",)
    enum_fmt = "hhh" + "26s" * MAX_ENUM_STATES
    enum_names = ss + ("no_str",) + tuple(f"_str{i}" for i in range(MAX_ENUM_STATES))
    for base, nlim, limits in ((21, 6, _LIMITS6), (28, 8, _LIMITS8)):
        # GR/CTRL_STRING are laid out as STS_STRING in EPICS (dbr_size[] in db_access.h).
        L[base + 0] = _Layout(base + 0, 0, "hh", ss)
        L[base + 1] = _Layout(base + 1, 1, f"hh8s{nlim}h", ss + units + limits)
        L[base + 2] = _Layout(base + 2, 2, f"hhh2x8s{nlim}f", ss + prec + units + limits)
        L[base + 3] = _Layout(base + 3, 3, enum_fmt, enum_names)
        L[base + 4] = _Layout(base + 4, 4, f"hh8s{nlim}Bx", ss + units + limits)
        L[base + 5] = _Layout(base + 5, 5, f"hh8s{nlim}i", ss + units + limits)
        L[base + 6] = _Layout(base + 6, 6, f"hhh2x8s{nlim}d", ss + prec + units + limits)
    L[35] = _Layout(35, 3, "", ())
    L[36] = _Layout(36, 3, "", ())
    L[37] = _Layout(37, 0, "hhHH", ss + ("ackt", "acks"))
    L[38] = _Layout(38, 0, "", ())
    return L


LAYOUTS = _build_layouts()
# caproto servers serialize GR/CTRL_STRING with the 12-byte TIME_STRING layout.
_TIME_STRING_LAYOUT = LAYOUTS[14]


def native_type(data_type: int) -> ChannelType:
    """The native (DBF) value type of any DBR type."""
    try:
        return ChannelType(LAYOUTS[int(data_type)].native)
    except KeyError:
        raise ValueError(f"unknown DBR type {data_type}") from None


def promote(native: int, dbr_class: str) -> ChannelType:
    """The DBR type of class 'native'/'status'/'time'/'graphic'/'control' for a native type."""
    return ChannelType(int(native) + _CLASS_OFFSET[dbr_class])


def type_name(data_type: int) -> str:
    """'DBR_TIME_DOUBLE' etc. (SHORT spelled as EPICS' tools do)."""
    try:
        name = ChannelType(int(data_type)).name
    except ValueError:
        return f"DBR_{int(data_type)}?"
    return "DBR_" + name.replace("INT", "SHORT") if "INT" in name else "DBR_" + name


def dbf_name(native: int) -> str:
    """'DBF_DOUBLE' etc. for a native type."""
    return "DBF_" + _DBF_NAMES[int(native)]


def resolve_data_type(data_type: Any, native: int) -> ChannelType:
    """Turn None / a class name / a ChannelType / an int / a type name into a ChannelType."""
    if data_type is None:
        return ChannelType(native)
    if isinstance(data_type, str):
        key = data_type.strip().lower()
        if key in _CLASS_OFFSET:
            return promote(native, key)
        name = data_type.strip().upper()
        if name.startswith("DBR_"):
            name = name[4:]
        try:
            return ChannelType[name]
        except KeyError:
            raise ValueError(
                f"unknown data type {data_type!r}: use native/status/time/graphic/control, "
                "a DBR type name or a number 0-38") from None
    try:
        return ChannelType(int(data_type))
    except (ValueError, TypeError):
        raise ValueError(f"unknown DBR type {data_type!r} (valid: 0-38)") from None


def epics_to_unix(seconds: int, nanoseconds: int) -> float:
    return seconds + EPICS_EPOCH_OFFSET + nanoseconds * 1e-9


def _cstr(raw: bytes) -> bytes:
    """Bytes up to the first NUL (a field may legally fill its width with no NUL)."""
    end = raw.find(b"\0")
    return raw if end < 0 else raw[:end]


class DbrMetadata:
    """The metadata part of a DBR payload: attributes exist only where the type has them.

    Names follow caproto (``status``, ``severity``, ``timestamp``, ``secondsSinceEpoch``,
    ``nanoSeconds``, ``units``, ``precision``, ``upper_disp_limit``..., ``enum_strings``,
    ``ackt``, ``acks``) so code written against caproto keeps working.
    """

    __slots__ = ("_fields", "status", "severity", "secondsSinceEpoch", "nanoSeconds", "units",
                 "precision", "upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
                 "upper_warning_limit", "lower_warning_limit", "lower_alarm_limit",
                 "upper_ctrl_limit", "lower_ctrl_limit", "enum_strings", "ackt", "acks",
                 "class_name")

    @property
    def timestamp(self) -> float:
        """IOC timestamp as Unix seconds (float; the raw ints keep full nanoseconds)."""
        return self.secondsSinceEpoch + EPICS_EPOCH_OFFSET + self.nanoSeconds * 1e-9

    @property
    def stamp(self) -> tuple[int, int]:
        return (self.secondsSinceEpoch, self.nanoSeconds)

    @property
    def fields(self) -> tuple[str, ...]:
        return self._fields

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self._fields}
        if "secondsSinceEpoch" in out:
            out["timestamp"] = self.timestamp
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DbrMetadata) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "DbrMetadata(" + ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items()) + ")"


def _time_metadata(status: int, severity: int, secs: int, nsec: int) -> DbrMetadata:
    md = DbrMetadata()
    md._fields = _TIME
    md.status = status
    md.severity = severity
    md.secondsSinceEpoch = secs
    md.nanoSeconds = nsec
    return md


def _metadata_from_values(names: tuple[str, ...], values: tuple) -> DbrMetadata:
    md = DbrMetadata()
    fields: list[str] = []
    strs: list[bytes] = []
    no_str = 0
    for name, value in zip(names, values, strict=False):
        if name == "units":
            md.units = _cstr(value)
        elif name == "no_str":
            no_str = value
            continue
        elif name.startswith("_str"):
            strs.append(_cstr(value))
            continue
        else:
            setattr(md, name, value)
        fields.append(name)
    if names and names[2:3] == ("no_str",):
        # A server may claim more states than exist; never index past the 16 slots.
        md.enum_strings = tuple(strs[: max(0, min(no_str, MAX_ENUM_STATES))])
        fields.append("enum_strings")
    md._fields = tuple(fields)
    return md


def decode_metadata(data_type: int, payload: memoryview | bytes) -> tuple[DbrMetadata | None, int]:
    """Decode the metadata of a payload; returns (metadata or None, offset of the value)."""
    layout = LAYOUTS[data_type]
    if layout.struct is None:
        if data_type == 38:
            md = DbrMetadata()
            md.class_name = _cstr(bytes(payload[:MAX_STRING_SIZE]))
            md._fields = ("class_name",)
            return md, 0
        return None, 0
    if len(payload) < layout.md_size:
        raise ProtocolError(
            f"{type_name(data_type)} payload of {len(payload)} bytes is shorter than its "
            f"{layout.md_size}-byte metadata")
    values = layout.struct.unpack_from(payload, 0)
    if layout.names is _TIME:
        return _time_metadata(*values[:4]), layout.md_size
    return _metadata_from_values(layout.names, values), layout.md_size


def _string_layout_for(data_type: int, data_count: int, payload_len: int) -> _Layout:
    layout = LAYOUTS[data_type]
    if data_type in (21, 28) and data_count > 0 and payload_len >= 12 + 40 * data_count:
        # rsrv: 4 + 40N bytes (padded to 40N + 8); caproto servers: 12 + 40N (40N + 16).
        return _TIME_STRING_LAYOUT
    return layout


def decode_strings(payload: memoryview | bytes, offset: int, count: int) -> list[bytes]:
    """DBR_STRING elements as NUL-stripped bytes; a short last element (READ replies) is kept."""
    raw = bytes(payload[offset: offset + MAX_STRING_SIZE * count])
    out = []
    for i in range(count):
        chunk = raw[i * MAX_STRING_SIZE: (i + 1) * MAX_STRING_SIZE]
        if not chunk and i > 0:
            raise ProtocolError(f"string payload holds fewer than the {count} elements claimed")
        out.append(_cstr(chunk))
    return out


def locate(data_type: int, data_count: int, payload: memoryview | bytes
           ) -> tuple[DbrMetadata | None, int, int]:
    """Decode a payload's metadata and check that it carries ``data_count`` values:
    (metadata, offset of the values, their native type). Strings are checked when decoded."""
    layout = LAYOUTS.get(data_type)
    if layout is None:
        raise ProtocolError(f"unknown DBR type {data_type} in a server reply")
    native = layout.native  # PUT_ACKT/PUT_ACKS (35, 36) carry an unsigned short: native 3
    if native == 0:
        layout = _string_layout_for(data_type, data_count, len(payload))
        if layout is _TIME_STRING_LAYOUT and data_type in (21, 28):
            metadata, offset = decode_metadata(14, payload)
        else:
            metadata, offset = decode_metadata(data_type, payload)
        if data_count > 1 and len(payload) - offset <= MAX_STRING_SIZE * (data_count - 1):
            # As decode_strings: the last element may be short (READ replies), not missing.
            raise ProtocolError(
                f"string payload holds fewer than the {data_count} elements claimed")
        return metadata, offset, 0
    metadata, offset = decode_metadata(data_type, payload)
    if len(payload) < offset + VALUE_SIZE[native] * data_count:
        raise _too_short(data_type, data_count, offset, payload)
    return metadata, offset, native


def _too_short(data_type: int, data_count: int, offset: int, payload: memoryview | bytes
               ) -> ProtocolError:
    needed = offset + VALUE_SIZE[LAYOUTS[data_type].native] * data_count
    return ProtocolError(f"{type_name(data_type)} reply claims {data_count} elements "
                         f"({needed} bytes) but carries {len(payload)} bytes")


_np: Any = None  # numpy, once something needed it
_DTYPES: dict[int, Any] = {}  # native type -> numpy dtype of its wire elements


def _numpy() -> Any:
    """numpy, imported on first use (a CLI read of a scalar never needs it)."""
    global _np
    if _np is None:
        import numpy

        _DTYPES.update({native: numpy.dtype(">" + code) for native, code in VALUE_CODE.items()})
        _np = numpy
    return _np


def values_array(native: int, count: int, payload: memoryview | bytes, offset: int) -> Any:
    """The values at ``offset`` (from :func:`locate`) as a read-only numpy view on
    ``payload``; strings as a list of bytes."""
    if native == 0:
        return decode_strings(payload, offset, count)
    np = _np if _np is not None else _numpy()
    return np.frombuffer(payload, _DTYPES[native], count, offset)


def values_list(native: int, count: int, payload: memoryview | bytes, offset: int,
                limit: int | None = None) -> list:
    """The values at ``offset`` (from :func:`locate`) as plain Python values (float, int;
    bytes for strings), equal to ``values_array(...).tolist()``, without numpy; ``limit``:
    only the first that many."""
    if native == 0:
        strings = decode_strings(payload, offset, count)
        return strings if limit is None else strings[:max(0, limit)]
    if limit is not None:
        count = max(0, min(limit, count))
    return list(struct.unpack_from(f">{count}{VALUE_CODE[native]}", payload, offset))


def decode(data_type: int, data_count: int, payload: memoryview | bytes
           ) -> tuple[Any, DbrMetadata | None]:
    """Decode a payload into (data, metadata). Numeric data is a read-only numpy view on
    ``payload``; strings are a list of bytes."""
    layout = LAYOUTS.get(data_type)
    if layout is None or layout.native == 0:  # refused, or strings: see locate
        metadata, offset, _ = locate(data_type, data_count, payload)
        return decode_strings(payload, offset, data_count), metadata
    # Numbers, what every monitor update is: locate's steps written out (no extra call).
    native = layout.native
    metadata, offset = decode_metadata(data_type, payload)
    if len(payload) < offset + VALUE_SIZE[native] * data_count:
        raise _too_short(data_type, data_count, offset, payload)
    np = _np if _np is not None else _numpy()
    return np.frombuffer(payload, _DTYPES[native], data_count, offset), metadata


def decode_list(data_type: int, data_count: int, payload: memoryview | bytes,
                limit: int | None = None) -> tuple[list, DbrMetadata | None]:
    """Like :func:`decode`, but the values are a list of plain Python values (float, int;
    bytes for strings), equal to ``decode(...)[0].tolist()``, without numpy; ``limit``: only
    the first that many values (the payload is checked as a whole either way)."""
    metadata, offset, native = locate(data_type, data_count, payload)
    return values_list(native, data_count, payload, offset, limit), metadata


def payload_size(data_type: int, data_count: int) -> int:
    """Unpadded payload size of ``data_count`` elements of ``data_type`` (dbr_size_n)."""
    layout = LAYOUTS[data_type]
    size = VALUE_SIZE[layout.native]
    return layout.md_size + size * data_count


def pad8(n: int) -> int:
    return (n + 7) & ~7


# ---------------------------------------------------------------------------------------------
# Encoding (client -> server)


def _numpy_types(*names: str) -> tuple[type, ...]:
    """numpy's types of those names when numpy is loaded; when it is not, no value is one."""
    np = sys.modules.get("numpy")
    return () if np is None else tuple(getattr(np, name) for name in names)


def _as_list(data: Any) -> list:
    if isinstance(data, (str, bytes, bytearray)):
        return [data]
    if isinstance(data, _numpy_types("ndarray")):
        return list(data.ravel()) if data.ndim else [data.item()]
    if isinstance(data, Iterable):
        return list(data)
    return [data]


def _encode_text(text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = text[exc.start:exc.end]
        raise ValueRefused(f"{bad!r} in {text!r} cannot be encoded as {encoding} (CA strings "
                           "are bytes; caprobe sends them as latin-1)") from None


def _encode_string(value: Any, encoding: str) -> bytes:
    if isinstance(value, str):
        raw = _encode_text(value, encoding)
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif isinstance(value, _numpy_types("bytes_")):
        raw = bytes(value)
    else:
        raw = _encode_text(str(value), encoding)
    if len(raw) > MAX_STRING_SIZE - 1:
        raise ValueRefused(
            f"string of {len(raw)} bytes does not fit a CA string (39 bytes at most): "
            f"{raw[:20]!r}...; write it to the field's long-string form (NAME$) as a char "
            "array instead")
    return raw.ljust(MAX_STRING_SIZE, b"\0")


def check_numeric(values: list, native: int, what: str = "") -> None:
    """Refuse values that the wire type (or the PV's native type) cannot hold exactly."""
    label = _DBF_NAMES[native]
    bool_types = (bool, *_numpy_types("bool_"))
    integer_types = (int, *_numpy_types("integer"))
    for v in values:
        if isinstance(v, bool_types):
            v = int(v)
        if isinstance(v, (str, bytes)):
            raise ValueRefused(f"{v!r} is not a number{what}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueRefused(f"{v!r} is not a number{what}") from None
        if native in INT_RANGE:
            lo, hi = INT_RANGE[native]
            if math.isnan(f) or math.isinf(f):
                raise ValueRefused(f"{v} cannot be written to a {label} value{what}")
            if f != int(f):
                raise ValueRefused(f"{v} is not a whole number; a {label} value holds integers"
                                   f"{what}")
            iv = int(v) if isinstance(v, integer_types) else int(f)
            if not lo <= iv <= hi:
                raise ValueRefused(f"{v} is out of range for a {label} value ({lo} to {hi})"
                                   f"{what}")
        elif native == 2 and math.isfinite(f) and abs(f) > FLOAT32_MAX:
            raise ValueRefused(f"{v} is out of range for a FLOAT value (|x| <= {FLOAT32_MAX:g})"
                               f"{what}")


def _pack_numbers(values: list, native: int) -> bytes:
    """Numbers that passed :func:`check_numeric` as the big-endian elements of a native type:
    floats rounded to FLOAT as C does, whole numbers as integers."""
    if native in (2, 6):
        numbers = [float(v) for v in values]
    else:
        integer_types = (int, *_numpy_types("integer"))
        numbers = [int(v) if isinstance(v, integer_types) else int(float(v)) for v in values]
        if native == 4:
            # A CHAR's signed spelling (-1) is the byte 0xFF: see value_ranges.
            numbers = [number & 0xFF for number in numbers]
    return struct.pack(f">{len(numbers)}{VALUE_CODE[native]}", *numbers)


def _encode_metadata(data_type: int, metadata: Any) -> bytes:
    layout = LAYOUTS[data_type]
    if layout.struct is None:
        return b""
    names = [n for n in layout.names]
    if metadata is None:
        values: list = []
        for name in names:
            if name == "units" or name.startswith("_str"):
                values.append(b"")
            else:
                values.append(0)
        return layout.struct.pack(*values)
    if isinstance(metadata, (tuple, list)):
        values = list(metadata)
    else:
        values = []
        strs = list(getattr(metadata, "enum_strings", ()))
        for name in names:
            if name == "no_str":
                values.append(len(strs))
            elif name.startswith("_str"):
                i = int(name[4:])
                values.append(strs[i] if i < len(strs) else b"")
            else:
                values.append(getattr(metadata, name, b"" if name == "units" else 0))
    values = [v.encode("latin-1") if isinstance(v, str) else v for v in values]
    try:
        return layout.struct.pack(*values)
    except struct.error as exc:
        raise ValueRefused(f"metadata does not fit {type_name(data_type)}: {exc}") from None


def encode(data_type: int, data: Any, *, metadata: Any = None, encoding: str = "latin-1",
           native: int | None = None) -> tuple[bytes, int]:
    """Encode values as a DBR payload (padded to 8). Returns (payload, element count).

    Numbers are range-checked against the wire type and, when given, the PV's native type,
    so nothing is ever wrapped by a C cast.
    """
    layout = LAYOUTS[data_type]
    if data_type in (35, 36):
        value_native = 3
    else:
        value_native = layout.native
    md = _encode_metadata(data_type, metadata) if layout.struct is not None else b""
    if value_native == 0:
        values = _as_list(data)
        body = b"".join(_encode_string(v, encoding) for v in values)
        count = len(values)
    elif value_native == 4 and isinstance(data, (str, bytes, bytearray)):
        body = _encode_text(data, encoding) if isinstance(data, str) else bytes(data)
        count = len(body)
    else:
        values = _as_list(data)
        check_numeric(values, value_native)
        if native is not None and native in INT_RANGE and native != value_native:
            check_numeric(values, native, f" (the PV is {_DBF_NAMES[native]})")
        body = _pack_numbers(values, value_native)
        count = len(values)
    raw = md + body
    return raw + b"\0" * (pad8(len(raw)) - len(raw)), count
