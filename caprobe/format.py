"""Text for EPICS values, metadata, alarms and timestamps, shared by the CLI tools and the GUI.

No Qt and no sockets here: every function takes plain data (or a response object from
``caprobe.ca``) and returns text, so the command-line tools and the GUI print exactly the same
thing for the same PV.

The default rendering copies EPICS base's command-line tools (``caget``/``caput``/``camonitor``
in ``modules/ca/src/tools``), because operators compare our output with theirs:

* floats use C ``%g`` unless a format is asked for (``-e/-f/-g N``, a PREC, engineering, or
  rounding to a long printed in hex/octal/binary like ``-lx/-lo/-lb``, 0x80000000 for a value
  with no 32-bit integer, as caget on x86); a NaN with its sign bit set is ``-nan`` as in C;
* integers are decimal, or ``0x%X`` / ``0o%o`` / binary like ``-0x/-0o/-0b``;
* an array is ``count v1 v2 ...``; when a caller limits the number of elements shown, the text
  says how many were left out (never a silent cut);
* strings are escaped like ``epicsStrnEscapedFromRaw``: ``\\n \\t \\" \\' \\\\ \\0 \\a \\b \\f \\r \\v``
  and ``\\xhh`` for every other byte outside printable ASCII;
* timestamps are local time ``%Y-%m-%d %H:%M:%S.%06f`` (the fraction rounded without carry,
  as epicsTimeToStrftime does), optionally with all nine nanosecond digits.

Types are plain ints (``caprobe.ca.ChannelType`` is an IntEnum, so its members work too); this
module keeps its own name tables so it does not depend on the client's internals. The ranges
``parse_value`` checks are ``caprobe.ca.value_ranges``, the rule the DBR encoder applies too.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from caprobe.ca.errors import printable
from caprobe.ca.value_ranges import FLOAT32_MAX as _FLOAT32_MAX
from caprobe.ca.value_ranges import INT_RANGE as _INT_RANGES

__all__ = [
    "ALARM_COLORS",
    "DISCONNECTED_COLOR",
    "DISCONNECTED_TEXT",
    "EPICS_EPOCH_OFFSET",
    "UNDEFINED_TIME_TEXT",
    "MAX_ENUM_STATES",
    "MAX_STRING_CHARS",
    "SEVERITY_NAMES",
    "STATUS_NAMES",
    "FloatFormat",
    "alarm_color",
    "alarm_text",
    "base_type",
    "dbf_type_text",
    "dbr_type_text",
    "escape_bytes",
    "format_details",
    "format_engineering",
    "format_info",
    "format_response_time",
    "format_timestamp",
    "format_value",
    "format_value_line",
    "format_wide_line",
    "parse_dbr_type",
    "parse_float_format",
    "parse_long_string",
    "parse_value",
    "parse_values",
    "response_stamp",
    "severity_text",
    "status_text",
    "to_text",
    "type_class",
    "unescape_string",
]

# --------------------------------------------------------------------------------------------
# Constants and name tables (db_access.h, alarm.h)
# --------------------------------------------------------------------------------------------

#: Seconds from the Unix epoch to the EPICS epoch (1990-01-01T00:00:00Z).
EPICS_EPOCH_OFFSET = 631152000
#: What EPICS base prints for the zero timestamp (a record that was never processed).
UNDEFINED_TIME_TEXT = "<undefined>"
#: A DBR_STRING is 40 bytes including its NUL, so at most 39 characters travel.
MAX_STRING_CHARS = 39
#: An enum has at most 16 states (the GR/CTRL_ENUM struct has room for 16 strings).
MAX_ENUM_STATES = 16

STRING, SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE = range(7)
_PUT_ACKT, _PUT_ACKS, _STSACK_STRING, _CLASS_NAME = 35, 36, 37, 38

SEVERITY_NAMES = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")
STATUS_NAMES = (
    "NO_ALARM", "READ", "WRITE", "HIHI", "HIGH", "LOLO", "LOW", "STATE", "COS", "COMM",
    "TIMEOUT", "HWLIMIT", "CALC", "SCAN", "LINK", "SOFT", "BAD_SUB", "UDF", "DISABLE", "SIMM",
    "READ_ACCESS", "WRITE_ACCESS",
)  # fmt: skip

_BASE_NAMES = ("STRING", "SHORT", "FLOAT", "ENUM", "CHAR", "LONG", "DOUBLE")
_DBF_NAMES = tuple(f"DBF_{n}" for n in _BASE_NAMES)
# The order of dbr_text[] in EPICS base: plain, STS, TIME, GR, CTRL, then the specials.
_DBR_NAMES = (
    tuple(f"DBR_{n}" for n in _BASE_NAMES)
    + tuple(f"DBR_{cls}_{n}" for cls in ("STS", "TIME", "GR", "CTRL") for n in _BASE_NAMES)
    + ("DBR_PUT_ACKT", "DBR_PUT_ACKS", "DBR_STSACK_STRING", "DBR_CLASS_NAME")
)
_TYPE_CLASSES = ("native", "status", "time", "graphic", "control")
# parse_value range-checks with the very rule the DBR encoder applies (_INT_RANGES and
# _FLOAT32_MAX come from caprobe.ca.value_ranges), so text that parses is text that can be sent.


# --------------------------------------------------------------------------------------------
# Alarm colours
# --------------------------------------------------------------------------------------------

#: Alarm colour convention (MEDM/EDM/CSS lineage, what control-room operators already read):
#: NO_ALARM green, MINOR yellow, MAJOR red, INVALID white.  INVALID is drawn as white text or
#: border on the dark/outlined widget, never as a filled colour that could pass for "no alarm".
#: A disconnected channel is *not* an alarm severity: it gets its own grey (dashed look) plus
#: the word DISCONNECTED, so it can never be confused with INVALID (white) or with a value.
#: Severities outside 0..3 are shown as INVALID (the safest reading of garbage).
ALARM_COLORS: dict[int, str] = {
    0: "#00C000",  # NO_ALARM
    1: "#F0C000",  # MINOR
    2: "#E00000",  # MAJOR
    3: "#FFFFFF",  # INVALID
}
#: Grey for a channel that is not connected (see ALARM_COLORS for why it is separate).
DISCONNECTED_COLOR = "#A0A0A0"
#: The word shown instead of a value while a channel is not connected.
DISCONNECTED_TEXT = "DISCONNECTED"


def alarm_color(severity: int | None, connected: bool = True) -> str:
    """Colour (``#rrggbb``) for a severity; DISCONNECTED_COLOR when not connected."""
    if not connected or severity is None:
        return DISCONNECTED_COLOR
    return ALARM_COLORS.get(int(severity), ALARM_COLORS[3])


def severity_text(severity: int) -> str:
    """``NO_ALARM``/``MINOR``/``MAJOR``/``INVALID``; ``??`` for values outside 0..3 (as caget)."""
    try:
        index = int(severity)
    except (TypeError, ValueError):
        return "??"
    return SEVERITY_NAMES[index] if 0 <= index < len(SEVERITY_NAMES) else "??"


def status_text(status: int) -> str:
    """Alarm status name (``HIHI``, ``UDF``, ...); ``??`` for unknown values (as caget)."""
    try:
        index = int(status)
    except (TypeError, ValueError):
        return "??"
    return STATUS_NAMES[index] if 0 <= index < len(STATUS_NAMES) else "??"


def alarm_text(severity: int, status: int) -> str:
    """``'MAJOR - HIHI'``; just ``'NO_ALARM'`` when both are zero."""
    if not severity and not status:
        return "NO_ALARM"
    return f"{severity_text(severity)} - {status_text(status)}"


# --------------------------------------------------------------------------------------------
# DBR type names
# --------------------------------------------------------------------------------------------


def base_type(data_type: int) -> int:
    """Value type (0..6) carried by any DBR type (e.g. DBR_CTRL_DOUBLE -> DOUBLE)."""
    data_type = int(data_type)
    if 0 <= data_type <= 34:
        return data_type % 7
    if data_type in (_PUT_ACKT, _PUT_ACKS):
        return ENUM  # unsigned short
    if data_type in (_STSACK_STRING, _CLASS_NAME):
        return STRING
    raise ValueError(f"unknown DBR type {data_type}")


def type_class(data_type: int) -> str:
    """``plain``/``sts``/``time``/``gr``/``ctrl``/``stsack``/``class_name``/``put``."""
    data_type = int(data_type)
    if 0 <= data_type <= 34:
        return ("plain", "sts", "time", "gr", "ctrl")[data_type // 7]
    return {_STSACK_STRING: "stsack", _CLASS_NAME: "class_name"}.get(data_type, "put")


def dbf_type_text(native_type: int) -> str:
    """``DBF_DOUBLE`` etc. (EPICS spells type 1 ``DBF_SHORT``); ``DBF_NO_ACCESS`` if unknown."""
    try:
        return _DBF_NAMES[int(native_type)]
    except (IndexError, TypeError, ValueError):
        return "DBF_NO_ACCESS"


def dbr_type_text(data_type: int) -> str:
    """``DBR_CTRL_DOUBLE`` etc., the names caget prints."""
    try:
        index = int(data_type)
        if index < 0:
            raise IndexError
        return _DBR_NAMES[index]
    except (IndexError, TypeError, ValueError):
        return f"DBR_invalid({data_type})"


def parse_dbr_type(text: str) -> int | str:
    """Parse a ``-d`` argument: a number, a name with or without ``DBR_`` (``INT`` is an alias of
    ``SHORT``, any case), or a class (native/status/time/graphic/control, returned as that
    lowercase string).  Write-only types (PUT_ACKT/PUT_ACKS) are refused.  Raises ValueError.
    """
    spec = text.strip()
    if spec.lower() in _TYPE_CLASSES:
        return spec.lower()
    if re.fullmatch(r"[0-9]+", spec):
        number = int(spec)
    else:
        name = spec.upper()
        if not name.startswith("DBR_"):
            name = "DBR_" + name
        name = re.sub(r"(?<=_)INT$", "SHORT", name)
        if name not in _DBR_NAMES:
            raise ValueError(f"unknown DBR type {text!r} (use a number 0-38, a name like "
                             f"DBR_CTRL_DOUBLE, or native/status/time/graphic/control)")
        number = _DBR_NAMES.index(name)
    if number > _CLASS_NAME or number in (_PUT_ACKT, _PUT_ACKS):
        raise ValueError(f"DBR type {text!r} cannot be read (valid: 0-34, 37, 38)")
    return number


# --------------------------------------------------------------------------------------------
# Strings: escaping and decoding
# --------------------------------------------------------------------------------------------

_ESCAPES = {
    0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v",
    0x5C: "\\\\", 0x27: "\\'", 0x22: '\\"', 0x00: "\\0",
}  # fmt: skip
_ESCAPE_TABLE = [
    _ESCAPES.get(b, chr(b) if 0x20 <= b <= 0x7E else f"\\x{b:02x}") for b in range(256)
]
_UNESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, "'": 39,
              '"': 34, "0": 0}  # fmt: skip


def escape_bytes(raw: bytes | bytearray | str) -> str:
    """Escape like caget (``epicsStrnEscapedFromRaw``): C escapes for control characters,
    quotes and backslash, ``\\xhh`` (lower case) for everything outside printable ASCII, so a
    value always prints on one line and binary garbage is visible.  A str is encoded as UTF-8
    first (it then shows its non-ASCII bytes escaped, exactly as caget would).
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    return "".join([_ESCAPE_TABLE[b] for b in bytes(raw)])


def unescape_string(text: str) -> bytes:
    """The inverse, as caput does for its arguments (``epicsStrnRawFromEscaped``): ``\\n``-style
    escapes, ``\\0`` and ``\\xh``/``\\xhh`` become bytes; an unknown ``\\c`` gives ``c``.  Text
    is encoded as UTF-8 (what a terminal hands us)."""
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        i += 1
        if c != 0x5C:
            out.append(c)
            continue
        if i >= n:  # a lone trailing backslash is dropped, as in EPICS
            break
        c = raw[i]
        i += 1
        ch = chr(c)
        if ch in _UNESCAPES:
            out.append(_UNESCAPES[ch])
        elif ch == "x":
            digits = b""
            while i < n and len(digits) < 2 and chr(raw[i]) in "0123456789abcdefABCDEF":
                digits += raw[i : i + 1]
                i += 1
            if digits:
                out.append(int(digits, 16))
            # "\x" without hex digits produces nothing, like EPICS
        else:
            out.append(c)
    return bytes(out)


def to_text(value: Any) -> str:
    """Bytes from the wire (units, enum states, class name) as str.

    EPICS strings have no defined encoding: try UTF-8, fall back to Latin-1 (never fails).
    Anything after a NUL is dropped. Control characters (a newline, a terminal escape an IOC
    may hold in its EGU) become visible escapes, so IOC text never drives a terminal.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return printable(value.split("\0", 1)[0])
    raw = bytes(value).split(b"\0", 1)[0]
    try:
        return printable(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return printable(raw.decode("latin-1"))


def encode_text(text: str) -> bytes:
    """Text typed by an operator as the bytes to write: UTF-8, what caput sends from a UTF-8
    terminal and what :func:`to_text` reads back unchanged.  (``caprobe.ca.write`` given a
    ``str`` uses latin-1, as caproto does; the tools encode first and pass bytes.)  Raises
    ValueError for text that has no UTF-8 form (lone surrogates)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{text[exc.start]!r} cannot be written as text") from None


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value).split(b"\0", 1)[0]
    if isinstance(value, str):
        return value.split("\0", 1)[0].encode("utf-8", "surrogateescape")
    return str(value).encode()


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


class FloatFormat:
    """How to print floats.

    kind: ``g``/``e``/``f`` (printf with ``digits``; ``g`` without digits is caget's ``%g``),
    ``prec`` (``%.Nf`` with the PV's PREC, ``%g`` if it has none), ``eng`` (engineering
    notation, ``digits`` decimals), ``hex``/``oct``/``bin`` (round to a 32-bit long and print
    like caget ``-lx/-lo/-lb``), or ``printf`` with a ready ``pattern`` such as ``%.3e``.

    An immutable value, equal and hashed by its fields like the frozen dataclass it was;
    written out because building a dataclass costs every command-line tool ~0.5 ms at start.
    """

    __slots__ = ("kind", "digits", "pattern")
    __match_args__ = ("kind", "digits", "pattern")
    kind: str
    digits: int | None
    pattern: str | None

    def __init__(self, kind: str = "g", digits: int | None = None,
                 pattern: str | None = None) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "digits", digits)
        object.__setattr__(self, "pattern", pattern)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__reduce__()[1] == other.__reduce__()[1]  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(self.__reduce__()[1])

    def __repr__(self) -> str:
        return f"FloatFormat(kind={self.kind!r}, digits={self.digits!r}, pattern={self.pattern!r})"

    def __reduce__(self) -> tuple[type, tuple[str, int | None, str | None]]:
        return (FloatFormat, (self.kind, self.digits, self.pattern))  # pickle and copy


_FLOAT_KINDS = ("g", "e", "f", "prec", "eng", "hex", "oct", "bin", "printf")


def parse_float_format(spec: str | FloatFormat | None) -> FloatFormat:
    """Accept None/``'default'`` (``%g``), ``'e3'``/``'f3'``/``'g3'``, ``'prec'``/``'precision'``,
    ``'eng'``/``'eng3'``, ``'hex'``/``'oct'``/``'bin'``, a printf pattern (``'%.4f'``) or a
    FloatFormat.  Raises ValueError for anything else."""
    if spec is None:
        return FloatFormat()
    if isinstance(spec, FloatFormat):
        if spec.kind not in _FLOAT_KINDS:
            raise ValueError(f"unknown float format kind {spec.kind!r}")
        return spec
    text = spec.strip()
    lowered = text.lower()
    if lowered in ("", "default", "%g"):
        return FloatFormat()
    if lowered in ("prec", "precision", "decimal"):
        return FloatFormat("prec")
    if lowered in ("hex", "oct", "bin"):
        return FloatFormat(lowered)
    match = re.fullmatch(r"(eng|e|f|g)(\d{1,2})?", lowered)
    if match:
        digits = int(match.group(2)) if match.group(2) else None
        return FloatFormat(match.group(1), digits)
    if re.fullmatch(r"%[-+ #0]*\d*(\.\d+)?[eEfFgG]", text):
        try:
            text % 1.0
        except (TypeError, ValueError) as exc:  # pragma: no cover - regex keeps this out
            raise ValueError(f"bad float format {spec!r}") from exc
        return FloatFormat("printf", pattern=text)
    raise ValueError(f"unknown float format {spec!r} (use e.g. g, e3, f2, prec, eng, hex, %.4f)")


def format_engineering(value: float, digits: int = 3, *, units: str | None = None,
                       si_prefix: bool = False) -> str:
    """Engineering notation: exponent a multiple of 3, ``digits`` decimals in the mantissa.

    ``format_engineering(12345.678) == '12.346e+03'``; ``si_prefix=True`` writes the exponent
    as an SI prefix (``'12.346 k'``, with units ``'12.346 kV'``), keeping ``e+NN`` outside
    y..Y.  ``units`` is appended after a space.
    """
    value = float(value)
    digits = max(0, min(int(digits), 17))
    if not math.isfinite(value):
        return f"{_c_float(value)} {units}" if units else _c_float(value)
    exponent = 0
    if value != 0.0:
        exponent = int(math.floor(math.log10(abs(value)) / 3.0) * 3)
        # Rounding can carry into the next group (999.9996 -> 1000.000): renormalise.
        if abs(float(f"{value / 10.0**exponent:.{digits}f}")) >= 1000.0:
            exponent += 3
    mantissa = f"{value / 10.0**exponent:.{digits}f}"
    if si_prefix and exponent in _SI_PREFIXES:
        prefix = _SI_PREFIXES[exponent] + (units or "")
        return f"{mantissa} {prefix}" if prefix else mantissa
    text = f"{mantissa}e{exponent:+03d}"
    return f"{text} {units}" if units else text


_SI_PREFIXES = {-24: "y", -21: "z", -18: "a", -15: "f", -12: "p", -9: "n", -6: "u", -3: "m",
                0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E", 21: "Z", 24: "Y"}


def _c_float(value: float) -> str:
    """What glibc's printf prints for a non-finite double: ``inf``, ``-inf``, ``nan`` and, for
    a NaN with its sign bit set, ``-nan`` as caget does (Python's own formatting drops that
    sign). x86's default NaN, which 0/0 or inf-inf in a record gives, is such a ``-nan``."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return "inf" if value > 0 else "-inf"


#: caget -l's result for a double with no 32-bit integer (NaN, +-inf, beyond +-2**31): its C
#: conversion gives x86's "integer indefinite" 0x80000000, printed as that, not clamped.
_NO_LONG = -(2**31)


def _round_to_long(value: float) -> int:
    """caget -l: add/subtract 0.5 and truncate toward zero to a 32-bit long; ``_NO_LONG``
    (0x80000000) when there is none, as caget on x86 prints."""
    if math.isnan(value):
        return _NO_LONG
    rounded = value + 0.5 if value > 0.0 else value - 0.5
    if math.isinf(rounded):
        return _NO_LONG
    truncated = int(rounded)
    return truncated if -(2**31) <= truncated < 2**31 else _NO_LONG


def _format_long(value: int, int_format: str) -> str:
    """caget's sprint_long: decimal, ``0x%X``, ``0o%o`` or binary, 32-bit two's complement."""
    if int_format == "dec":
        return str(value)
    unsigned = value & 0xFFFFFFFF
    if int_format == "hex":
        return f"0x{unsigned:X}"
    if int_format == "oct":
        return f"0o{unsigned:o}"
    if int_format == "bin":
        return f"{unsigned:b}"  # caget prints no prefix for binary
    raise ValueError(f"unknown integer format {int_format!r} (use dec, hex, oct or bin)")


def _format_float(value: float, fmt: FloatFormat, precision: int | None) -> str:
    value = float(value)
    kind = fmt.kind
    if kind in ("hex", "oct", "bin"):
        return _format_long(_round_to_long(value), kind)
    if kind == "prec" and precision is None:
        kind = "g"
    if not math.isfinite(value) and kind != "printf":
        return _c_float(value)
    if kind == "g":
        return f"{value:g}" if fmt.digits is None else f"{value:.{fmt.digits}g}"
    if kind == "e":
        return f"{value:.{6 if fmt.digits is None else fmt.digits}e}"
    if kind == "f":
        return f"{value:.{6 if fmt.digits is None else fmt.digits}f}"
    if kind == "prec":
        # PREC is a DBF_SHORT on the record: clamp nonsense (negative, 255) to what %f can show.
        return f"{value:.{max(0, min(int(precision or 0), 17))}f}"
    if kind == "eng":
        return format_engineering(value, 3 if fmt.digits is None else fmt.digits)
    if kind == "printf":
        return fmt.pattern % value if math.isfinite(value) else _c_float(value)
    raise ValueError(f"unknown float format kind {kind!r}")


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def _infer_type(data: Any) -> int:
    dtype = getattr(data, "dtype", None)
    if dtype is not None:
        kind, size = dtype.kind, dtype.itemsize
        if kind == "f":
            return FLOAT if size == 4 else DOUBLE
        if kind in "iu":
            if size == 1:
                return CHAR
            if size == 2:
                return ENUM if kind == "u" else SHORT
            return LONG
        if kind in "SUO":
            return STRING
        raise ValueError(f"cannot format numpy dtype {dtype}")
    items = data if isinstance(data, list | tuple) else [data]
    if not items:
        return DOUBLE
    first = items[0]
    if isinstance(first, bytes | bytearray | str):
        return STRING
    if isinstance(first, bool | int):
        return LONG
    return DOUBLE


def _elements(data: Any) -> list:
    if data is None:
        return []
    if isinstance(data, bytes | bytearray | str):
        return [data]
    tolist = getattr(data, "tolist", None)
    if tolist is not None:
        values = tolist()
        return values if isinstance(values, list) else [values]
    if isinstance(data, Iterable):
        return list(data)
    return [data]


def _length(data: Any) -> int:
    if data is None:
        return 0
    if isinstance(data, bytes | bytearray | str):
        return 1
    size = getattr(data, "size", None)
    if isinstance(size, int) and hasattr(data, "dtype"):
        return size
    if isinstance(data, Sequence):
        return len(data)
    return len(_elements(data))


def _head(data: Any, n: int) -> Any:
    if hasattr(data, "dtype") and getattr(data, "ndim", 0) >= 1:
        return data.ravel()[:n]
    if isinstance(data, list | tuple):
        return data[:n]
    return data


def _unpack(response_or_data: Any, data_type: int | None, limit: int | None = None
            ) -> tuple[Any, int, Any, int]:
    """(data, data_type, metadata, element count) from a response object or from bare data;
    ``limit``: data holds only the first that many elements (the count is still all)."""
    # A numpy array also has a .data (its buffer) and a .tolist: only objects without a
    # dtype are responses. caprobe.ca responses decode to plain Python values without numpy
    # (.tolist; .data would import it), so a command-line read of a scalar never loads numpy
    # and a cut array decodes only its head.
    bare = hasattr(response_or_data, "dtype")
    tolist = None
    if not bare and hasattr(response_or_data, "data_count"):
        tolist = getattr(response_or_data, "tolist", None)
    if callable(tolist) or (not bare and hasattr(response_or_data, "data")):
        response = response_or_data
        metadata = getattr(response, "metadata", None)
        if data_type is None:
            data_type = getattr(response, "data_type", None)
        if callable(tolist):
            data = tolist(limit)
            count = int(response.data_count)
            limit = None
        else:
            data = response.data
            count = _length(data)
        # CLASS_NAME / STSACK_STRING: caproto-style responses keep the string in metadata.
        if data_type is not None and int(data_type) in (_CLASS_NAME, _STSACK_STRING):
            if count == 0:
                value = getattr(metadata, "value", None)
                if value is None:
                    value = getattr(metadata, "class_name", None)
                data = [] if value is None else [value]
                count = len(data)
    else:
        data, metadata = response_or_data, None
        count = _length(data)
    if data_type is None:
        data_type = _infer_type(data)
    if limit is not None:
        data = _head(data, limit)
    return data, int(data_type), metadata, count


class _Unpacked(tuple):
    """(data, data_type, metadata, element count) a line function already took from a
    response with :func:`_unpack`, handed to :func:`format_value` so it is done once."""

    __slots__ = ()


def _unpack_limit(max_elements: int | None, char_as_string: bool) -> int | None:
    # Convert only what will be shown: the GUI cuts million-element waveforms (a CHAR array
    # shown as a string is cut by its NUL instead, so it is converted whole).
    return None if max_elements is None or char_as_string else max(0, int(max_elements))


def _unpack_for(response: Any, value_options: dict[str, Any]) -> _Unpacked:
    """:func:`_unpack` as :func:`format_value` does it with these options."""
    return _Unpacked(_unpack(response, value_options.get("data_type"),
                             _unpack_limit(value_options.get("max_elements"),
                                           value_options.get("char_as_string", False))))


def format_value(
    response_or_data: Any,
    *,
    data_type: int | None = None,
    precision: int | None = None,
    units: str | bytes | None = None,
    enum_strings: Sequence[str | bytes] | None = None,
    float_format: str | FloatFormat | None = None,
    max_elements: int | None = None,
    int_format: str = "dec",
    enum_as_number: bool = False,
    char_as_string: bool = False,
    show_count: bool | None = None,
    separator: str = " ",
    signed_char: bool = True,
    decode_text: bool = False,
) -> str:
    """The value part of a caget line: ``3.14159``, ``On``, ``3 1 2 3``, ``hello\\tworld``.

    response_or_data: a ``caprobe.ca`` response (uses .tolist(), so no numpy, .data_type,
        .data_count, .metadata), another response-like object (.data, .data_type, .metadata)
        or bare data (numpy array, list of bytes, scalar; pass ``data_type`` when it cannot be
        inferred).
    precision: print floats with ``%.{precision}f`` (the PV's PREC) when no float_format is
        given; by default floats use ``%g`` like caget.
    units: appended after a space when given (caget never prints units; the GUI does).
    enum_strings: state strings for enum indices; GR/CTRL_ENUM responses supply their own.
        Index >= 16 prints ``Illegal Value (n)``, beyond the defined states
        ``Enum Index Overflow (n)`` (caget's texts).  ``enum_as_number`` prints the index.
    float_format: see :func:`parse_float_format` (``'e3'``, ``'f2'``, ``'prec'``, ``'eng'``,
        ``'hex'`` = caget -lx, ``'%.4f'`` ...).  int_format: ``dec``/``hex``/``oct``/``bin``
        for SHORT/LONG (caget -0x/-0o/-0b).
    max_elements: show at most that many array elements, then ``... (N more)``.
    char_as_string: a CHAR array prints as an escaped string up to its first NUL (caget -S).
    show_count: prefix ``count`` (default: only for more than one element, like caget; pass
        True when a count was requested, like caget -#).
    separator: between count and elements (caget -F).
    signed_char: CHAR elements print as signed bytes, which is what caget prints on Linux/x86
        (it goes through a C ``char``); False prints 0..255.
    decode_text: strings, char-array strings and enum states as text (:func:`to_text`: UTF-8,
        else Latin-1; only control characters escaped), what a display shows; by default they
        are escaped byte by byte as caget does (``caf\\xc3\\xa9``).
    """
    text_of = to_text if decode_text else escape_bytes
    if isinstance(response_or_data, _Unpacked):
        data, dtype, metadata, count = response_or_data
    else:
        data, dtype, metadata, count = _unpack(response_or_data, data_type,
                                               _unpack_limit(max_elements, char_as_string))
    btype = base_type(dtype)
    fmt = parse_float_format(float_format)
    if fmt.kind == "prec" and precision is None:
        precision = getattr(metadata, "precision", None)
    elif float_format is None and precision is not None:
        fmt = FloatFormat("prec")
    if int_format not in ("dec", "hex", "oct", "bin"):
        raise ValueError(f"unknown integer format {int_format!r} (use dec, hex, oct or bin)")
    if max_elements is not None and char_as_string and btype != CHAR:
        data = _head(data, max(0, int(max_elements)))
    values = _elements(data)

    if char_as_string and btype == CHAR and (count > 1 or show_count):
        raw = bytes((int(v) & 0xFF) for v in values).split(b"\0", 1)[0]
        text = text_of(raw)
    else:
        if enum_strings is None and btype == ENUM and type_class(dtype) in ("gr", "ctrl"):
            enum_strings = getattr(metadata, "enum_strings", None)
        states = None if enum_strings is None else [to_text(s) for s in enum_strings]

        def one(value: Any) -> str:
            if btype == STRING:
                return text_of(_as_bytes(value))
            if btype in (FLOAT, DOUBLE):
                return _format_float(value, fmt, precision)
            if btype == ENUM:
                index = int(value)
                if states is None or enum_as_number:
                    return str(index)
                if index >= MAX_ENUM_STATES:
                    return f"Illegal Value ({index})"
                if index >= len(states):
                    return f"Enum Index Overflow ({index})"
                return states[index] if decode_text else escape_bytes(states[index])
            if btype == CHAR:
                byte = int(value) & 0xFF
                return str(byte - 256 if signed_char and byte > 127 else byte)
            return _format_long(int(value), int_format)

        shown = values if max_elements is None else values[: max(0, int(max_elements))]
        # Fast paths for the common big arrays (a 1M-element waveform): no per-element branching.
        if btype in (FLOAT, DOUBLE) and fmt.kind == "g" and fmt.digits is None:
            parts = [f"{v:g}" for v in shown]  # same text as C %g, inf/nan included...
            if "nan" in parts:  # ... except a NaN's sign, which C prints ("-nan")
                parts = [_c_float(v) if p == "nan" else p
                         for p, v in zip(parts, shown, strict=True)]
        elif btype in (SHORT, LONG) and int_format == "dec":
            parts = [str(int(v)) for v in shown]
        else:
            parts = [one(v) for v in shown]
        if show_count or (show_count is None and count > 1):
            parts.insert(0, str(count))
        if len(shown) < count:
            parts.append(f"... ({count - len(shown)} more)")
        text = separator.join(parts)
    if units:
        units_text = to_text(units)
        if units_text:
            text = f"{text} {units_text}"
    return text


# --------------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------------


def format_timestamp(seconds: int | float, nanoseconds: int = 0, *, nanos: bool = False,
                     epics_epoch: bool | None = None) -> str:
    """Local time ``%Y-%m-%d %H:%M:%S.%06f`` (``.%09f`` with ``nanos``).

    seconds: an int is whole seconds since the EPICS epoch (the raw ``secondsSinceEpoch``);
        a float is Unix seconds (``metadata.timestamp``, ``time.time()``,
        ``ConnectionEvent.time``) and is split into seconds and nanoseconds.  ``epics_epoch``
        overrides that guess (True: EPICS epoch, False: Unix epoch).
    nanoseconds: the raw ``nanoSeconds`` (0..999999999).  The six-digit form rounds to the
        microsecond but stops at .999999 (never carries into the next second), exactly as
        epicsTimeToStrftime does; an invalid value (>= 1e9) prints ``OVF`` as EPICS does.

    The EPICS zero stamp (0, 0), which a never-processed record reports, gives
    ``'<undefined>'``, exactly as epicsTimeToStrftime (caget -a, camonitor) prints it.
    """
    if epics_epoch is None:
        epics_epoch = not isinstance(seconds, float)
    if isinstance(seconds, float):
        whole = math.floor(seconds)
        nanoseconds = int(nanoseconds) + min(int(round((seconds - whole) * 1e9)), 999_999_999)
        seconds = int(whole)
    seconds, nanoseconds = int(seconds), int(nanoseconds)
    unix = seconds + (EPICS_EPOCH_OFFSET if epics_epoch else 0)
    if unix == EPICS_EPOCH_OFFSET and nanoseconds == 0:
        # The zero stamp of a never-processed record: epicsTimeToStrftime (and so caget)
        # prints this instead of a date in 1990.
        return UNDEFINED_TIME_TEXT
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix))
    if not 0 <= nanoseconds < 1_000_000_000:
        fraction = "OVF"  # an invalid stamp; epicsTimeToStrftime's text for it
    elif nanos:
        fraction = f"{nanoseconds:09d}"
    else:
        # epicsTimeToStrftime rounds to the digits shown but never carries into the seconds
        # (999999500 ns prints .999999), so the date and time fields stay the server's.
        fraction = f"{min((nanoseconds + 500) // 1000, 999_999):06d}"
    return f"{stamp}.{fraction}"


def response_stamp(response_or_metadata: Any) -> tuple[int, int] | None:
    """(EPICS seconds, nanoseconds) of a TIME response or its metadata, or None.

    Uses the raw ``secondsSinceEpoch``/``nanoSeconds`` so nanoseconds are exact (the float
    ``.timestamp`` keeps only microseconds); falls back to ``.timestamp`` (Unix float).
    """
    metadata = getattr(response_or_metadata, "metadata", response_or_metadata)
    if metadata is None:
        return None
    seconds = getattr(metadata, "secondsSinceEpoch", None)
    if seconds is not None:
        return int(seconds), int(getattr(metadata, "nanoSeconds", 0) or 0)
    unix = getattr(metadata, "timestamp", None)
    if unix is None:
        return None
    whole = math.floor(unix)
    return int(whole) - EPICS_EPOCH_OFFSET, int(round((unix - whole) * 1e9))


def format_response_time(response_or_metadata: Any, *, nanos: bool = False) -> str | None:
    """Server timestamp of a TIME response as local time text, or None if it has none."""
    stamp = response_stamp(response_or_metadata)
    if stamp is None:
        return None
    return format_timestamp(stamp[0], stamp[1], nanos=nanos)


# --------------------------------------------------------------------------------------------
# Whole lines in the command-line tools' layouts
# --------------------------------------------------------------------------------------------


def format_value_line(pv_name: str, response: Any, *, separator: str = " ",
                      **value_options: Any) -> str:
    """caget's default line: name padded to 30 when at most one element arrived and the
    separator is the default space,
    the separator, then :func:`format_value` (``value_options`` are passed on)."""
    unpacked = _unpack_for(response, value_options)
    # caget pads by the element count only (a scalar read with -# 1 is still padded).
    if unpacked[3] <= 1 and separator == " ":
        name = f"{pv_name:<30}"
    else:
        name = pv_name
    return f"{name}{separator}{format_value(unpacked, separator=separator, **value_options)}"


def format_wide_line(pv_name: str, response: Any, *, separator: str = " ", nanos: bool = False,
                     time_text: str | None = None, **value_options: Any) -> str:
    """caget -a / camonitor line: ``name date time value`` then ``stat sevr`` only when either
    is nonzero; otherwise the line ends in two separators, exactly as EPICS prints it.

    time_text replaces the server timestamp (camonitor's client, relative or no-time modes;
    pass ``''`` for none).  Arrays print their count before the elements.
    """
    unpacked = _unpack_for(response, value_options)
    metadata, count = unpacked[2], unpacked[3]
    if count <= 1 and separator == " ":
        name = f"{pv_name:<30}"
    else:
        name = pv_name
    if time_text is None:
        time_text = format_response_time(metadata, nanos=nanos) or ""
    value_text = format_value(unpacked, separator=separator, **value_options)
    status = int(getattr(metadata, "status", 0) or 0)
    severity = int(getattr(metadata, "severity", 0) or 0)
    if status or severity:
        alarm = f"{separator}{status_text(status)}{separator}{severity_text(severity)}"
    else:
        alarm = f"{separator}{separator}"
    return f"{name}{separator}{time_text}{separator}{value_text}{alarm}"


def _limit_text(value: Any, btype: int) -> str:
    # caget prints integer limits with %8d and float limits with %g.
    if btype in (FLOAT, DOUBLE):
        return _format_float(value, FloatFormat(), None)
    if btype == CHAR:
        byte = int(value) & 0xFF
        return f"{byte - 256 if byte > 127 else byte:8d}"
    return f"{int(value):8d}"


_LIMITS = (
    ("Lo disp limit", "lower_disp_limit"),
    ("Hi disp limit", "upper_disp_limit"),
    ("Lo alarm limit", "lower_alarm_limit"),
    ("Lo warn limit", "lower_warning_limit"),
    ("Hi warn limit", "upper_warning_limit"),
    ("Hi alarm limit", "upper_alarm_limit"),
)
_CTRL_LIMITS = (("Lo ctrl limit", "lower_ctrl_limit"), ("Hi ctrl limit", "upper_ctrl_limit"))


def _field(label: str, text: str) -> str:
    # caget aligns every value at column 22: 4 spaces, the label and colon padded to 18.
    return f"    {label + ':':<18}{text}"


def format_details(response: Any, *, pv_name: str, native_type: int | None = None,
                   nanos: bool = False, separator: str = " ", **value_options: Any) -> str:
    """caget ``-d`` view (no trailing newline)::

        PV:NAME
            Native data type: DBF_DOUBLE
            Request type:     DBR_CTRL_DOUBLE
            Element count:    1
            Value:            3.14159
            Status:           NO_ALARM
            Severity:         NO_ALARM
            Units:            mA
            Precision:        4
            Lo disp limit:    -10
            ... (the six display/alarm/warning limits, then the two control limits)

    TIME types add ``Timestamp:`` before Status; GR/CTRL_ENUM list ``Enums: ( n)`` and
    ``[ i] state`` lines; STSACK_STRING adds ``Ack transient?:``/``Ack severity:``;
    DBR_CLASS_NAME prints only ``Class Name:``.  Array values are listed without a count.
    native_type defaults to ``response.channel.native_data_type``.
    """
    data, dtype, metadata, count = _unpack(response, value_options.pop("data_type", None), 1)
    if native_type is None:
        channel = getattr(response, "channel", None)
        native_type = getattr(channel, "native_data_type", None)
    lines = [pv_name, _field("Native data type", dbf_type_text(native_type)
                             if native_type is not None else "unknown"),
             _field("Request type", dbr_type_text(dtype))]
    if dtype == _CLASS_NAME:
        values = _elements(data)
        lines.append(_field("Class Name", to_text(values[0]) if values else ""))
        return "\n".join(lines)
    lines.append(_field("Element count", str(count)))
    # caget lists array values without the leading count in this view.
    value_options.setdefault("show_count", False)
    value_text = format_value(response, data_type=dtype, separator=separator, **value_options)
    lines.append(_field("Value", value_text))
    cls = type_class(dtype)
    btype = base_type(dtype)
    if cls == "plain" or metadata is None:
        return "\n".join(lines)
    if cls == "time":
        lines.append(_field("Timestamp", format_response_time(metadata, nanos=nanos) or ""))
    status = getattr(metadata, "status", 0)
    severity = getattr(metadata, "severity", 0)
    lines.append(_field("Status", status_text(status)))
    lines.append(_field("Severity", severity_text(severity)))
    if cls == "stsack":
        lines.append(_field("Ack transient?", "YES" if getattr(metadata, "ackt", 0) else "NO"))
        lines.append(_field("Ack severity", severity_text(getattr(metadata, "acks", 0))))
        return "\n".join(lines)
    if cls in ("gr", "ctrl") and btype == ENUM:
        states = [to_text(s) for s in (getattr(metadata, "enum_strings", None) or ())]
        lines.append(_field("Enums", f"({len(states):2d})"))
        lines.extend(f"{'':22}[{i:2d}] {s}" for i, s in enumerate(states))
        return "\n".join(lines)
    if cls in ("gr", "ctrl") and btype != STRING:
        lines.append(_field("Units", to_text(getattr(metadata, "units", b""))))
        if btype in (FLOAT, DOUBLE):
            lines.append(_field("Precision", str(int(getattr(metadata, "precision", 0)))))
        limits = _LIMITS + (_CTRL_LIMITS if cls == "ctrl" else ())
        for label, attr in limits:
            lines.append(_field(label, _limit_text(getattr(metadata, attr, 0), btype)))
    return "\n".join(lines)


def format_info(channel: Any, *, pv_name: str | None = None, state: str = "connected",
                host: str | None = None) -> str:
    """cainfo's block for a ``caprobe.ca.ChannelInfo`` (no trailing newline); ``host``: the
    server's host name to show instead of its address (cainfo shows the name)."""
    name = pv_name or channel.pv_name
    access = int(getattr(channel, "access", 0))
    read_ok = getattr(channel, "can_read", bool(access & 1))
    write_ok = getattr(channel, "can_write", bool(access & 2))
    address = (f"{host}:{channel.port}" if host else
               getattr(channel, "address", None) or f"{channel.host}:{channel.port}")
    native = channel.native_data_type
    return "\n".join([
        name,
        _field("State", state),
        _field("Host", address),
        _field("Access", f"{'' if read_ok else 'no '}read, {'' if write_ok else 'no '}write"),
        _field("Native data type", dbf_type_text(native)),
        _field("Request type", dbr_type_text(base_type(native))),
        _field("Element count", str(channel.native_data_count)),
    ])


# --------------------------------------------------------------------------------------------
# Parsing values for writes
# --------------------------------------------------------------------------------------------

# Compiled on first use (re caches it): only writes parse numbers.
_INT_PATTERN = r"[+-]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)"


def _parse_number(text: str) -> int | float:
    stripped = text.strip()
    if re.fullmatch(_INT_PATTERN, stripped):
        sign = -1 if stripped.startswith("-") else 1
        body = stripped.lstrip("+-")
        if len(body) > 1 and body[0] == "0" and body[1].isdigit():
            return sign * int(body, 10)  # "010" is ten, as operators mean it (not octal)
        return sign * int(body, 0)
    if "_" in stripped:
        raise ValueError
    return float(stripped)  # handles 1e3, .5, inf, nan; raises ValueError otherwise


def parse_value(text: str, native_type: int, enum_strings: Sequence[str | bytes] | None = None,
                *, enum_mode: str = "auto", unescape: bool = False) -> int | float | bytes:
    """Turn an operator's text into a value for ``caprobe.ca.write``, checked against the PV's
    native type so a bad value is refused before anything is sent.

    * SHORT/LONG/CHAR: integers (decimal, ``0x1F``, ``0o17``, ``0b101``; ``1e3`` if whole),
      range-checked (SHORT -32768..32767, LONG 32-bit, CHAR -128..255: a byte in either
      spelling, -1 is sent as 0xFF, what caget prints as -1); NaN/inf refused.
    * FLOAT/DOUBLE: any float (``nan``, ``inf``, ``0x1F``); FLOAT must fit a float32.
    * ENUM: a state name (exact match, checked first, as caput does) or an index within the
      defined states (0..15 when the states are unknown) -> int index.  ``enum_mode``
      ``'number'`` only takes an index, ``'string'`` only a state name (caput -n / -s).
    * STRING: returns the bytes to send, the text encoded as UTF-8 (what a terminal or Qt
      hands us; bytes are unambiguous whatever encoding the client would pick for a str),
      at most 39 of them (a DBR_STRING); ``unescape`` interprets caput's ``\\n``-style
      escapes (``\\xhh`` gives any byte) first.

    Raises ValueError with a one-line message naming the problem.
    """
    if not isinstance(text, str):
        text = str(text)
    native = base_type(native_type)
    type_name = dbf_type_text(native)
    if native == STRING:
        raw = unescape_string(text) if unescape else text.encode("utf-8", "surrogateescape")
        if len(raw) > MAX_STRING_CHARS:
            raise ValueError(f"string of {len(raw)} bytes is too long for {type_name} "
                             f"(at most {MAX_STRING_CHARS}); use a char-array (long string) PV")
        return raw
    if native == ENUM:
        return _parse_enum(text, enum_strings, enum_mode)
    if text.strip() == "":
        raise ValueError(f"empty value for {type_name}")
    try:
        number = _parse_number(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number ({type_name} expected)") from None
    if native in (FLOAT, DOUBLE):
        value = float(number)
        if native == FLOAT and math.isfinite(value) and abs(value) > _FLOAT32_MAX:
            raise ValueError(f"{text.strip()} is out of range for {type_name} "
                             f"(magnitude at most {_FLOAT32_MAX:g})")
        return value
    if isinstance(number, float):
        if not math.isfinite(number):
            raise ValueError(f"{text.strip()} cannot be written to a {type_name} PV "
                             f"(integers only)")
        if number != math.floor(number):
            raise ValueError(f"{text.strip()} is not an integer ({type_name} expected)")
        number = int(number)
    low, high = _INT_RANGES[native]
    if not low <= number <= high:
        raise ValueError(f"{text.strip()} is out of range for {type_name} ({low}..{high})")
    return number


def _parse_enum(text: str, enum_strings: Sequence[str | bytes] | None, enum_mode: str) -> int:
    if enum_mode not in ("auto", "number", "string"):
        raise ValueError(f"unknown enum mode {enum_mode!r}")
    states = None if enum_strings is None else [to_text(s) for s in enum_strings]
    listing = ", ".join(repr(s) for s in states) if states else ""
    if enum_mode != "number" and states is not None:
        if text in states:
            return states.index(text)
        stripped = text.strip()
        if stripped in states:
            return states.index(stripped)
    if enum_mode == "string":
        raise ValueError(f"{text!r} is not a state of this PV (states: {listing})"
                         if states else f"{text!r}: the PV's enum states are unknown")
    try:
        number = _parse_number(text)
        if isinstance(number, float):
            if not math.isfinite(number) or number != math.floor(number):
                raise ValueError
            number = int(number)
    except ValueError:
        if states:
            raise ValueError(f"{text!r} is not a state of this PV (states: {listing})") from None
        raise ValueError(f"{text!r} is not an enum index") from None
    limit = len(states) if states else MAX_ENUM_STATES
    if not 0 <= number < limit:
        if states:
            raise ValueError(f"enum index {number} is out of range 0..{limit - 1} "
                             f"(states: {listing})")
        raise ValueError(f"enum index {number} is out of range 0..{limit - 1}")
    return number


def parse_values(texts: Iterable[str], native_type: int,
                 enum_strings: Sequence[str | bytes] | None = None, **options: Any) -> list:
    """:func:`parse_value` for each element of an array write; the message names the element."""
    values = []
    for index, text in enumerate(texts):
        try:
            values.append(parse_value(text, native_type, enum_strings, **options))
        except ValueError as exc:
            raise ValueError(f"element {index}: {exc}") from None
    return values


def parse_long_string(text: str, max_count: int | None = None) -> bytes:
    """caput -S: unescape ``text`` and append the terminating NUL (the record needs it).

    max_count: the char array's element count; a longer string is refused (ValueError)
    instead of being silently cut by the server.
    """
    raw = unescape_string(text) + b"\0"
    if max_count is not None and len(raw) > max_count:
        raise ValueError(f"string of {len(raw) - 1} bytes does not fit the PV's "
                         f"{max_count} characters (including the trailing NUL)")
    return raw
