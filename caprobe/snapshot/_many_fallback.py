"""Stand-in for ``caprobe.ca.Context`` until the many-PV engine lands on main (the same
signatures, built on the one-shot calls in a thread pool). Removed when ``ca.Context`` exists."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from caprobe import ca

_PARALLEL = 64


class Context:
    def __init__(self, timeout: float = 1.0, priority: int = 0, repeater: bool = True):
        self.timeout, self.priority, self.repeater = timeout, priority, repeater
        self._pool = ThreadPoolExecutor(_PARALLEL, thread_name_prefix="caprobe-many")

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._pool.shutdown(wait=True)

    def _each(self, work: Any, items: Sequence[Any]) -> list[Any]:
        def guarded(item: Any) -> Any:
            try:
                return work(item)
            except ca.CAError as exc:
                return exc
        return list(self._pool.map(guarded, items))

    def read_many(self, names: Sequence[str], *, timeout: float | None = None,
                  **options: Any) -> list[Any]:
        timeout = timeout or self.timeout
        return self._each(lambda n: ca.read(n, timeout=timeout, priority=self.priority,
                                            **options), list(names))

    def write_many(self, names: Sequence[str], values: Sequence[Any], *,
                   timeout: float | None = None, **options: Any) -> list[Any]:
        timeout = timeout or self.timeout
        return self._each(lambda nv: ca.write(nv[0], nv[1], timeout=timeout,
                                              priority=self.priority, **options),
                          list(zip(names, values, strict=True)))
