"""Reading, writing and inspecting many PVs at once, the way caget does it: every name
searched in a few datagrams, one circuit per server shared by all its PVs, every request in
flight at the same time. Results come back in the order asked; a PV that fails gets its
exception object in its place instead of raising, so one missing PV costs nothing to the
others (and 2,000 missing PVs cost one timeout, not 2,000)::

    import caprobe.ca as ca

    for name, result in zip(names, ca.read_many(names, data_type="time")):
        if isinstance(result, ca.CAError):
            print(name, "failed:", result)
        else:
            print(name, result.data, result.metadata.severity)

    with ca.Context(timeout=2.0) as ctx:   # keeps its circuits between calls
        before = ctx.read_many(names)
        ctx.write_many(names, values, notify=True)
        after = ctx.read_many(names)

The seed's module-level ``read``/``write`` keep their own circuit per call; this is the
API for many PVs and for scripts that call again and again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from caprobe.ca.arguments import check_priority, check_timeout
from caprobe.ca.config import load_config
from caprobe.ca.engine import Engine, EngineChannel, Operation
from caprobe.ca.errors import CAError, CATimeoutError, ErrorResponseReceived
from caprobe.ca.messages import ReadNotifyResponse, ReadResponse, WriteNotifyResponse
from caprobe.ca.requests import (
    Request,
    check_data_count,
    check_read,
    check_write,
    read_request,
    write_failed,
    write_request,
)
from caprobe.ca.state import ChannelInfo

__all__ = ["Context", "read_many", "write_many", "info_many"]

Judge = Callable[[Any], Any]  # a reply (or CAError) -> the result to return
Starter = Callable[[int, EngineChannel], tuple[Request, str, Judge]]
ReadResult = ReadNotifyResponse | ReadResponse | CAError
WriteResult = WriteNotifyResponse | None | CAError
InfoResult = ChannelInfo | CAError


class Context:
    """Circuits and channels kept open across calls on many PVs.

    ``timeout`` (seconds) is each call's default: it bounds the whole call, search,
    connection and requests together. One thread at a time may use a Context.
    """

    def __init__(self, *, timeout: float = 1.0, priority: int = 0, repeater: bool = True):
        self.timeout = check_timeout(timeout)
        self.priority = check_priority(priority)
        self.repeater = repeater
        self._engine: Engine | None = None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close every circuit (the servers then clear the channels)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    # -- public calls ----------------------------------------------------------------------

    def read_many(self, pv_names: Iterable[str], *, data_type: Any = None,
                  data_count: Any = None, timeout: float | None = None,
                  notify: bool = True, force_int_enums: bool = False) -> list[ReadResult]:
        """Read every PV; arguments as :func:`caprobe.ca.read`. ``data_type`` and
        ``data_count`` are one value for all, or a list with one per PV (caget asks each PV
        for DBR_TIME of its own native type)."""
        names = list(pv_names)
        types = _one_each("data_type", data_type, len(names))
        counts = _one_each("data_count", data_count, len(names))
        for count in counts:
            check_data_count(count)

        def start(i: int, chan: EngineChannel) -> tuple[Request, str, Judge]:
            request = read_request(chan.state, types[i], counts[i], notify, force_int_enums)

            def judge(response: Any) -> Any:
                if isinstance(response, CAError) or not notify:
                    return response
                try:
                    return check_read(chan.pv_name, response)
                except CAError as exc:
                    return exc

            return request, "the read reply", judge

        return self._run(names, start, timeout)

    def write_many(self, pv_names: Iterable[str], values: Iterable[Any], *,
                   notify: bool = False, data_type: Any = None, metadata: Any = None,
                   timeout: float | None = None, check: bool = True) -> list[WriteResult]:
        """Write ``values[i]`` to ``pv_names[i]``; arguments as :func:`caprobe.ca.write`.

        Without ``notify`` a write is confirmed when the server has answered an ECHO sent
        behind it (a refusal comes back as WriteFailed); with ``notify`` each waits for its
        put-callback, all in flight at once.
        """
        names = list(pv_names)
        values = list(values)
        if len(values) != len(names):
            raise ValueError(f"{len(names)} PV names but {len(values)} values")

        def start(i: int, chan: EngineChannel) -> tuple[Request, str, Judge]:
            request = write_request(chan.state, values[i], data_type, metadata, notify)

            def judge(response: Any) -> Any:
                if isinstance(response, ErrorResponseReceived):
                    return write_failed(chan.pv_name, response)
                if isinstance(response, CAError) or response is None:
                    return response
                try:
                    return check_write(chan.pv_name, response, check)
                except CAError as exc:
                    return exc

            return request, "put completion" if notify else "the write", judge

        return self._run(names, start, timeout)

    def info_many(self, pv_names: Iterable[str], *, timeout: float | None = None
                  ) -> list[InfoResult]:
        """Connect to every PV: host, access rights, native type and count of each."""
        return self._run(list(pv_names), None, timeout)

    # -- the one loop behind them ------------------------------------------------------------

    def _ensure_engine(self, deadline: float) -> Engine:
        if self._engine is None:
            engine = Engine(load_config(deadline), timeout=self.timeout)
            engine.start(self.repeater)
            self._engine = engine
        return self._engine

    def _run(self, names: Sequence[str], start: Starter | None, timeout: float | None
             ) -> list[Any]:
        call_timeout = self.timeout if timeout is None else check_timeout(timeout)
        deadline = time.monotonic() + call_timeout
        engine = self._ensure_engine(deadline)
        results: list[Any] = [None] * len(names)
        finished = [False] * len(names)
        chans: list[EngineChannel | None] = [None] * len(names)
        ops: list[Operation | None] = [None] * len(names)
        waiters: dict[int, Any] = {}
        outstanding = 0

        def finish(i: int, result: Any) -> None:
            nonlocal outstanding
            if not finished[i]:
                finished[i] = True
                results[i] = result
                outstanding -= 1

        def make_ready(i: int) -> Callable[[EngineChannel, CAError | None], None]:
            def ready(chan: EngineChannel, error: CAError | None) -> None:
                waiters.pop(i, None)
                if error is not None:
                    finish(i, error)
                elif start is None:
                    finish(i, chan.info)
                else:
                    try:
                        request, what, judge = start(i, chan)
                    except CAError as exc:  # refused before sending: no access, bad value
                        finish(i, exc)
                        return
                    ops[i] = engine.submit(chan, request,
                                           lambda response: finish(i, judge(response)), what)
            return ready

        for i, name in enumerate(names):
            outstanding += 1
            try:
                chan = engine.channel(name, self.priority)
            except CAError as exc:
                finish(i, exc)
                continue
            chans[i] = chan
            chan.users += 1
            ready = make_ready(i)
            waiters[i] = ready
            engine.when_connected(chan, ready)
        try:
            while outstanding > 0:
                if time.monotonic() >= deadline:
                    break
                engine.poll(deadline, lambda: outstanding <= 0)
        finally:
            for i, chan in enumerate(chans):
                if chan is None:
                    continue
                if not finished[i]:
                    ready = waiters.pop(i, None)
                    if ready is not None:
                        engine.cancel_waiter(chan, ready)
                    if ops[i] is not None:
                        engine.forget(ops[i])
                    finish(i, self._timed_out(chan, ops[i], call_timeout))
                chan.users -= 1
        return results

    def _timed_out(self, chan: EngineChannel, op: Operation | None, timeout: float
                   ) -> CATimeoutError:
        """The same words as a one-shot call that timed out at the same step."""
        engine = self._engine
        assert engine is not None
        if op is not None and chan.circuit is not None:
            return CATimeoutError(f"PV {chan.pv_name!r}: timed out after {timeout:g} s waiting "
                                  f"for {op.what} from {chan.circuit.host}:{chan.circuit.port}")
        if chan.circuit is not None:
            return CATimeoutError(f"PV {chan.pv_name!r}: timed out after {timeout:g} s waiting "
                                  f"for channel creation from {chan.circuit.host}:"
                                  f"{chan.circuit.port}")
        extra = f" (found, but {chan.last_error})" if chan.last_error else ""
        return CATimeoutError(f"PV {chan.pv_name!r} not found within {timeout:g} s: no server "
                              f"answered the search sent to "
                              f"{engine.config.describe_destinations()}{extra}")


def _one_each(what: str, value: Any, count: int) -> list[Any]:
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{count} PV names but {len(value)} values of {what}")
        return list(value)
    return [value] * count


def read_many(pv_names: Iterable[str], *, data_type: Any = None, data_count: Any = None,
              timeout: float = 1.0, priority: int = 0, notify: bool = True,
              force_int_enums: bool = False, repeater: bool = True) -> list[ReadResult]:
    """Read many PVs at once on shared circuits (see the module docstring)."""
    with Context(timeout=timeout, priority=priority, repeater=repeater) as ctx:
        return ctx.read_many(pv_names, data_type=data_type, data_count=data_count,
                             notify=notify, force_int_enums=force_int_enums)


def write_many(pv_names: Iterable[str], values: Iterable[Any], *, notify: bool = False,
               data_type: Any = None, metadata: Any = None, timeout: float = 1.0,
               priority: int = 0, repeater: bool = True, check: bool = True
               ) -> list[WriteResult]:
    """Write many PVs at once on shared circuits (see :meth:`Context.write_many`)."""
    with Context(timeout=timeout, priority=priority, repeater=repeater) as ctx:
        return ctx.write_many(pv_names, values, notify=notify, data_type=data_type,
                              metadata=metadata, check=check)


def info_many(pv_names: Iterable[str], *, timeout: float = 1.0, priority: int = 0,
              repeater: bool = True) -> list[InfoResult]:
    """Connect to many PVs at once: host, access rights, native type and count of each."""
    with Context(timeout=timeout, priority=priority, repeater=repeater) as ctx:
        return ctx.info_many(pv_names)
