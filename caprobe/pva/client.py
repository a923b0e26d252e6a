"""One-shot PV Access calls: read, write, read_write_read, info (caprobe.ca's signatures).

Each call waits on its own p4p operation with its own timeout; the channel underneath comes
from the shared client context (see backend), so a read right after a write to the same PV
does not search again, and any number of threads may call at once.
"""

from __future__ import annotations

import math
import queue
from collections.abc import Mapping
from typing import Any

import numpy as np

from caprobe.ca.arguments import check_timeout  # noqa: F401  (the same rule; re-exported)
from caprobe.ca.errors import (
    CATimeoutError,
    DisconnectedError,
    ErrorResponseReceived,
    ValueRefused,
    WriteFailed,
    printable,
)
from caprobe.pva import backend
from caprobe.pva.response import (
    _SCALAR_CODES,
    Layout,
    PVAChannelInfo,
    PVAResponse,
    PVAWriteResponse,
    _field_paths,
    channel_info,
    layout_of,
)

__all__ = ["read", "write", "read_write_read", "info", "check_pv_name", "check_timeout"]

_DBR_CLASSES = ("native", "status", "time", "graphic", "control")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_pv_name(pv_name: Any) -> str:
    """A PVA channel name: non-empty text without white space or control characters."""
    if not isinstance(pv_name, str):
        raise ValueRefused(f"PV name must be a string, not {type(pv_name).__name__}")
    if not pv_name:
        raise ValueRefused("PV name is empty")
    if pv_name != pv_name.strip() or any(c.isspace() for c in pv_name):
        raise ValueRefused(f"PV name {pv_name!r} contains white space")
    if any(ord(c) < 32 or ord(c) == 127 for c in pv_name):
        raise ValueRefused(f"PV name {pv_name!r} contains control characters")
    return pv_name


def _check_data_type(data_type: Any) -> None:
    # PVA always sends the whole structure: CA's DBR classes all mean "everything".
    if data_type is None or (isinstance(data_type, str) and data_type.lower() in _DBR_CLASSES):
        return
    raise ValueRefused(f"data_type {data_type!r} does not apply to PV Access (a PVA read "
                       "returns the whole structure; use request='field(...)' to select)")


def _request(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return backend.make_request(text)
    except Exception as exc:
        raise ValueRefused(f"pvRequest {text!r} is not valid: {exc}") from None


def _not_answered(pv_name: str, timeout: float, what: str) -> CATimeoutError:
    if what.startswith("put"):
        # The PV was just read, so it was found: the server is slow to finish the put.
        return CATimeoutError(f"PV {pv_name!r}: no {what} within {timeout:g} s; the put was "
                              "sent and may still complete")
    return CATimeoutError(
        f"PV {pv_name!r}: no {what} within {timeout:g} s: not found (searched "
        f"{backend.describe_destinations()}) or its server did not reply")


def _outcome(pv_name: str, result: Any, what: str) -> Any:
    """Turn p4p's completion value into a result or one of caprobe.ca's exceptions."""
    raw = backend.p4p_modules()["raw"]
    if isinstance(result, raw.RemoteError):
        text = printable(str(result))
        raise ErrorResponseReceived(f"PV {pv_name!r}: {what} failed: {text}", server_text=text)
    if isinstance(result, raw.Disconnected):
        raise DisconnectedError(f"PV {pv_name!r}: the server went away during the {what}")
    if isinstance(result, raw.Cancelled):
        raise DisconnectedError(f"PV {pv_name!r}: the {what} was cancelled")
    if isinstance(result, BaseException):
        raise ErrorResponseReceived(f"PV {pv_name!r}: {what} failed: {printable(str(result))}")
    return result


def _wait(pv_name: str, start: Any, timeout: float, what: str) -> Any:
    """Start an operation (``start(handler)`` returns it) and wait for its completion."""
    done: queue.SimpleQueue[Any] = queue.SimpleQueue()
    op = start(done.put)
    try:
        try:
            result = done.get(timeout=timeout)
        except queue.Empty:
            raise _not_answered(pv_name, timeout, what) from None
    finally:
        op.close()
    return _outcome(pv_name, result, what)


def _get_value(pv_name: str, timeout: float, request: str | None = None) -> Any:
    ctx = backend.context()
    req = _request(request)
    return _wait(pv_name, lambda handler: ctx.get(pv_name, handler, request=req), timeout,
                 "reply")


def read(pv_name: str, *, data_type: Any = None, data_count: int | None = None,
         timeout: float = 1.0, priority: int = 0, notify: bool = True,
         force_int_enums: bool = False, repeater: bool = True,
         request: str | None = None) -> PVAResponse:
    """Read a PV Access channel (a PVA GET); returns a :class:`PVAResponse`.

    Same parameters as ``caprobe.ca.read``: ``data_type`` accepts None and the DBR class names
    (PVA always sends the full structure); ``data_count`` keeps the first N elements of an
    array; ``priority``, ``notify`` and ``repeater`` have no PVA meaning and are ignored.
    ``request``: a pvRequest such as ``'field(value,alarm)'``. Raises CATimeoutError (not found
    or no reply), ErrorResponseReceived (the server refused), ValueRefused (bad argument),
    ConfigurationError (p4p missing, bad EPICS_PVA_*).
    """
    check_pv_name(pv_name)
    timeout = check_timeout(timeout)
    _check_data_type(data_type)
    if data_count is not None and (isinstance(data_count, bool)
                                   or not isinstance(data_count, (int, np.integer))
                                   or data_count < 0):
        raise ValueRefused(f"data_count {data_count!r} must be None or a whole number >= 0")
    value = _get_value(pv_name, timeout, request)
    layout = layout_of(value)
    response = PVAResponse(value, layout, channel_info(pv_name, value, layout),
                           force_int_enums=force_int_enums)
    if data_count and layout.kind == "array":
        response._data = response.data[: int(data_count)]
    return response


def info(pv_name: str, *, timeout: float = 1.0, priority: int = 0,
         repeater: bool = True) -> PVAChannelInfo:
    """Connect and report the channel's normative type, value type, element count and type
    tree (what ``pvinfo`` prints)."""
    check_pv_name(pv_name)
    value = _get_value(pv_name, check_timeout(timeout))
    return channel_info(pv_name, value, layout_of(value))


# ---------------------------------------------------------------------------------------------
# Writing: the value is checked against the PV's type here, before anything is sent.


def _one(data: Any, what: str) -> Any:
    if isinstance(data, (list, tuple, np.ndarray)):
        items = list(np.asarray(data, dtype=object).ravel()) if not isinstance(
            data, (list, tuple)) else list(data)
        if len(items) != 1:
            raise ValueRefused(f"{len(items)} values given for {what}, which holds one")
        return items[0]
    return data


def _number(item: Any, code: str) -> Any:
    """One element converted to the numpy type of ``code``, range-checked."""
    dtype = _SCALAR_CODES[code][0]
    if isinstance(item, bytes):
        item = item.decode("utf-8", "replace")
    if isinstance(item, str):
        text = item.strip()
        try:
            item = int(text, 0) if dtype.kind in "iu" or code == "?" else float(text)
        except ValueError:
            try:
                item = float(text)  # '1.0' for an integer PV; '1.5' is refused below
            except ValueError:
                raise ValueRefused(f"{item!r} is not a number") from None
    if isinstance(item, (bool, np.bool_)):
        item = int(item)
    if code == "?":
        if item not in (0, 1):
            raise ValueRefused(f"{item!r} is not a boolean (0 or 1)")
        return bool(item)
    if dtype.kind in "iu":
        if isinstance(item, (float, np.floating)):
            if not float(item).is_integer():
                raise ValueRefused(f"{item!r} is not a whole number, the PV holds "
                                   f"{_SCALAR_CODES[code][1]}")
            item = int(item)
        try:
            item = int(item)
        except (TypeError, ValueError):
            raise ValueRefused(f"{item!r} is not a whole number") from None
        limits = np.iinfo(dtype)
        if not limits.min <= item <= limits.max:
            raise ValueRefused(f"{item} is out of range for {_SCALAR_CODES[code][1]} "
                               f"({limits.min}..{limits.max})")
        return item
    try:
        number = float(item)
    except (TypeError, ValueError):
        raise ValueRefused(f"{item!r} is not a number") from None
    if code == "f" and math.isfinite(number) and abs(number) > _FLOAT32_MAX:
        raise ValueRefused(f"{number!r} is out of range for float")
    return number


def _text(item: Any) -> str:
    if isinstance(item, bytes):
        return item.decode("utf-8", "replace")
    if isinstance(item, str):
        return item
    return str(item)


def _enum_index(item: Any, choices: list[str]) -> int:
    if isinstance(item, bytes):
        item = item.decode("utf-8", "replace")
    if isinstance(item, str):
        if item in choices:
            return choices.index(item)
        try:
            item = int(item.strip())
        except ValueError:
            raise ValueRefused(f"{item!r} is not one of the states "
                               f"{', '.join(map(repr, choices))}") from None
    if isinstance(item, float) and item.is_integer():
        item = int(item)
    if not isinstance(item, (int, np.integer)) or isinstance(item, bool):
        raise ValueRefused(f"{item!r} is not a state name or index")
    if not 0 <= int(item) < len(choices):
        raise ValueRefused(f"state index {int(item)} is out of range (0..{len(choices) - 1})")
    return int(item)


def _assignments(current: Any, layout: Layout, data: Any) -> dict[str, Any]:
    """{field path: value} to put, checked against the PV's type. Raises ValueRefused."""
    kind = layout.kind
    if isinstance(data, Mapping):
        paths = _field_paths(current.type().aspy())
        unknown = [key for key in data if key not in paths]
        if unknown:
            raise ValueRefused(f"no field {', '.join(map(repr, unknown))} in "
                               f"{layout.type_text}")
        return dict(data)
    if kind == "scalar":
        item = _one(data, layout.type_text)
        if layout.value_code == "s":
            return {"value": _text(item)}
        return {"value": _number(item, layout.value_code)}
    if kind == "array":
        if isinstance(data, (str, bytes)) or np.ndim(data) == 0:
            items = [data]
        else:
            items = list(np.asarray(data, dtype=object).ravel()) if isinstance(
                data, np.ndarray) else list(data)
        code = layout.value_code[1:]
        if code == "s":
            return {"value": [_text(v) for v in items]}
        dtype = _SCALAR_CODES[code][0]
        if isinstance(data, np.ndarray) and data.dtype == dtype:
            return {"value": data.ravel()}
        return {"value": np.array([_number(v, code) for v in items], dtype=dtype)}
    if kind == "enum":
        return {"value.index": _enum_index(_one(data, "an enum"),
                                           list(current["value.choices"]))}
    raise ValueRefused(f"cannot write a plain value to {layout.type_text}: give a dict of "
                       "fields, {'field.path': value, ...}")


def _put(pv_name: str, fields: dict[str, Any], notify: bool, timeout: float,
         check: bool) -> PVAWriteResponse | None:
    ctx = backend.context()
    # block=true: the server answers once processing completed (CA's put-callback).
    req = _request("field()record[block=true,process=passive]" if notify else None)

    def builder(value: Any) -> None:
        for path, item in fields.items():
            value[path] = item

    def start(handler: Any) -> Any:
        return ctx.put(pv_name, handler, builder=builder, request=req, get=False)

    try:
        _wait(pv_name, start, timeout, "put completion" if notify else "put acknowledgement")
    except ErrorResponseReceived as exc:
        failure = _put_failure(pv_name, exc, check)
        if isinstance(failure, WriteFailed):
            raise failure from None
        return failure
    return PVAWriteResponse(pv_name) if notify else None


def _put_failure(pv_name: str, exc: ErrorResponseReceived, check: bool
                 ) -> WriteFailed | PVAWriteResponse:
    """A put the server refused: WriteFailed to raise, or (``check`` False) the response."""
    if not check:
        return PVAWriteResponse(pv_name, completed=False, message=exc.server_text)
    refused = "not permitted" in exc.server_text.lower() or "denied" in \
        exc.server_text.lower()
    reason = "no write access" if refused else "write failed"
    return WriteFailed(f"PV {pv_name!r}: {reason} (the server says: {exc.server_text}); "
                       "nothing was written" if refused else
                       f"PV {pv_name!r}: {reason}: {exc.server_text}")


def _write_after_read(pv_name: str, current: Any, data: Any, notify: bool, timeout: float,
                      check: bool) -> PVAWriteResponse | None:
    layout = layout_of(current)
    try:
        fields = _assignments(current, layout, data)
    except ValueRefused as exc:
        raise ValueRefused(f"PV {pv_name!r}: {exc}; nothing was written") from None
    return _put(pv_name, fields, notify, timeout, check)


def write(pv_name: str, data: Any, *, notify: bool = False, data_type: Any = None,
          metadata: Any = None, timeout: float = 1.0, priority: int = 0,
          repeater: bool = True, check: bool = True) -> PVAWriteResponse | None:
    """Write to a PV Access channel; with ``notify`` wait until the server has processed the
    put (``record[block=true]``, CA's put-callback) and return a PVAWriteResponse.

    The PV's type is read first and the value checked against it here: a number out of range,
    text that is no number, an unknown enum state, a field the structure does not have is
    refused (ValueRefused) and nothing is sent. Scalars take a number or text, arrays any
    sequence, enums a state name or index, structures (NTTable, custom) a dict
    ``{'field.path': value}``. A put the server refuses raises WriteFailed (``check=False``:
    returned as a PVAWriteResponse with ``completed`` False). Without ``notify`` the call still
    waits for the server's acknowledgement, so a refusal is never silent.
    """
    check_pv_name(pv_name)
    timeout = check_timeout(timeout)
    _check_data_type(data_type)
    if metadata is not None:
        raise ValueRefused("metadata does not apply to PV Access writes: pass a dict of "
                           "fields instead")
    current = _get_value(pv_name, timeout)
    return _write_after_read(pv_name, current, data, notify, timeout, check)


def read_write_read(pv_name: str, data: Any, *, notify: bool = False,
                    read_data_type: Any = None, write_data_type: Any = None,
                    metadata: Any = None, timeout: float = 1.0, priority: int = 0,
                    force_int_enums: bool = False, repeater: bool = True
                    ) -> tuple[PVAResponse, PVAWriteResponse | None, PVAResponse]:
    """Read, write, read again (what caput does); the timeout applies to each step."""
    initial = read(pv_name, data_type=read_data_type, timeout=timeout,
                   force_int_enums=force_int_enums)
    _check_data_type(write_data_type)
    if metadata is not None:
        raise ValueRefused("metadata does not apply to PV Access writes")
    response = _write_after_read(pv_name, initial.value, data, notify,
                                 check_timeout(timeout), True)
    final = read(pv_name, data_type=read_data_type, timeout=timeout,
                 force_int_enums=force_int_enums)
    return initial, response, final
