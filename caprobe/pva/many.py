"""Reading and writing many PV Access channels at once, with caprobe.ca.many's contract:
every request in flight at the same time (p4p's client context runs them in parallel), one
timeout for the whole call, results in the order asked, and a PV that fails gets its
exception object in its place instead of raising (so 2,000 missing PVs cost one timeout)::

    from caprobe import pva

    for name, result in zip(names, pva.read_many(names, timeout=2.0)):
        if isinstance(result, pva.CAError):
            print(name, "failed:", result)
        else:
            print(name, result.data, result.metadata.severity)

The errors are the one-shot calls' (read/write), with the same words.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from caprobe.ca.errors import CAError, ErrorResponseReceived, ValueRefused
from caprobe.pva import backend
from caprobe.pva.client import (
    _assignments,
    _not_answered,
    _outcome,
    _put_failure,
    _request,
    check_pv_name,
    check_timeout,
)
from caprobe.pva.response import PVAResponse, PVAWriteResponse, channel_info, layout_of

__all__ = ["read_many", "write_many", "check_value"]

ReadResult = PVAResponse | CAError
WriteResult = PVAWriteResponse | None | CAError
_PUT_REQUEST = "field()record[block=true,process=passive]"
UNFINISHED = object()


def _run(names: Sequence[str], start: Callable[[int, Callable[[Any], None]], Any],
         deadline: float) -> list[Any]:
    """Start every operation (``start(i, handler)`` returns it, or raises a CAError), wait
    until all completed or ``deadline``; a slot is UNFINISHED when its operation did not
    finish (a completed put's result is None)."""
    done: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
    results: list[Any] = [None] * len(names)
    finished = [False] * len(names)
    ops: list[Any] = []
    outstanding = 0
    try:
        for i in range(len(names)):
            try:
                ops.append(start(i, lambda result, i=i: done.put((i, result))))
                outstanding += 1
            except CAError as exc:
                results[i], finished[i] = exc, True
        while outstanding:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                i, result = done.get(timeout=remaining)
            except queue.Empty:
                break
            if not finished[i]:
                results[i], finished[i] = result, True
                outstanding -= 1
    finally:
        for op in ops:
            op.close()  # a get or put still in flight is cancelled; a finished one is a no-op
    return [result if finished[i] else UNFINISHED for i, result in enumerate(results)]


def _judge(name: str, result: Any, what: str) -> Any:
    try:
        return _outcome(name, result, what)
    except CAError as exc:
        return exc


def read_many(pv_names: Iterable[str], *, timeout: float = 1.0, request: str | None = None,
              force_int_enums: bool = False) -> list[ReadResult]:
    """GET every PV at once; ``timeout`` bounds the whole call. Each result is a
    :class:`PVAResponse` or the exception a one-shot :func:`caprobe.pva.read` would have
    raised (CATimeoutError: not found or no reply; ErrorResponseReceived; ValueRefused for a
    malformed name)."""
    names = list(pv_names)
    timeout = check_timeout(timeout)
    deadline = time.monotonic() + timeout
    if not names:
        return []
    ctx = backend.context()
    req = _request(request)

    def start(i: int, handler: Callable[[Any], None]) -> Any:
        check_pv_name(names[i])
        return ctx.get(names[i], handler, request=req)

    raw = _run(names, start, deadline)
    out: list[ReadResult] = []
    for name, result in zip(names, raw, strict=True):
        if result is UNFINISHED:
            out.append(_not_answered(name, timeout, "reply"))
            continue
        if isinstance(result, CAError):
            out.append(result)
            continue
        value = _judge(name, result, "reply")
        if isinstance(value, CAError):
            out.append(value)
            continue
        layout = layout_of(value)
        out.append(PVAResponse(value, layout, channel_info(name, value, layout),
                               force_int_enums=force_int_enums))
    return out


def check_value(current: PVAResponse, data: Any) -> dict[str, Any]:
    """The fields a write of ``data`` would put to the PV ``current`` was read from, checked
    against its type (range, whole numbers, enum states, a structure's field names). Raises
    ValueRefused with the reason; nothing is sent."""
    return _assignments(current.value, current.layout, data)


def write_many(pv_names: Iterable[str], values: Iterable[Any], *, notify: bool = False,
               timeout: float = 1.0, check: bool = True,
               current: Sequence[PVAResponse] | None = None) -> list[WriteResult]:
    """Write ``values[i]`` to ``pv_names[i]``, all at once. ``timeout`` bounds each of the two
    steps, as in :func:`caprobe.pva.write`: reading every PV's type, then the puts.

    As :func:`caprobe.pva.write`: every PV is read first (in parallel) and its value checked
    against the type (ValueRefused, nothing sent); with ``notify`` the server answers when
    processing completed (put-callback) and the result is a PVAWriteResponse. A refused put
    is WriteFailed ("no write access" when the server says so); ``check=False`` returns it as
    a PVAWriteResponse with ``completed`` False instead.

    ``current``: a response per PV read just before (a restore's plan has them), which saves
    the first step; the values are checked against those."""
    names = list(pv_names)
    values = list(values)
    if len(values) != len(names):
        raise ValueError(f"{len(names)} PV names but {len(values)} values")
    timeout = check_timeout(timeout)
    if not names:
        return []
    if current is None:
        current = read_many(names, timeout=timeout)
    elif len(current) != len(names):
        raise ValueError(f"{len(names)} PV names but {len(current)} current values")
    results: list[Any] = [None] * len(names)
    fields: dict[int, dict[str, Any]] = {}
    for i, (name, now) in enumerate(zip(names, list(current), strict=True)):
        if isinstance(now, CAError):
            results[i] = now
            continue
        try:
            fields[i] = check_value(now, values[i])
        except ValueRefused as exc:
            results[i] = ValueRefused(f"PV {name!r}: {exc}; nothing was written")
    if not fields:
        return results
    ctx = backend.context()
    req = _request(_PUT_REQUEST if notify else None)
    wanted = sorted(fields)

    def start(j: int, handler: Callable[[Any], None]) -> Any:
        assignments = fields[wanted[j]]

        def builder(value: Any) -> None:
            for path, item in assignments.items():
                value[path] = item

        return ctx.put(names[wanted[j]], handler, builder=builder, request=req, get=False)

    what = "put completion" if notify else "put acknowledgement"
    raw = _run([names[i] for i in wanted], start, time.monotonic() + timeout)
    for i, result in zip(wanted, raw, strict=True):
        name = names[i]
        if result is UNFINISHED:
            results[i] = _not_answered(name, timeout, what)
            continue
        try:
            _outcome(name, result, what)
        except ErrorResponseReceived as exc:
            results[i] = _put_failure(name, exc, check)
            continue
        except CAError as exc:
            results[i] = exc
            continue
        results[i] = PVAWriteResponse(name) if notify else None
    return results
