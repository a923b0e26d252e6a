"""The probe's 'since I started watching' summary (the classic probe's Hist dialog).

:class:`HistoryCollector` keeps it in the CA thread, so it counts every update the IOC sent,
not only the ones the probe painted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import caprobe.ca as ca
from caprobe import format as cafmt
from caprobe.gui.service import LatestCollector


@dataclass
class History:
    """'Since I started watching' summary, like the classic probe's Hist dialog."""

    start: float = field(default_factory=time.time)
    updates: int = 0
    minimum: float | None = None
    minimum_time: float | None = None
    maximum: float | None = None
    maximum_time: float | None = None
    last_change_time: float | None = None
    previous_value: str | None = None
    _last_value: Any = None

    def add(self, response: Any) -> None:
        self.updates += 1
        stamp = getattr(response.metadata, "timestamp", None) or time.time()
        data = response.data
        if isinstance(data, np.ndarray) and data.size == 1 and data.dtype.kind in "iuf":
            value = float(data[0])
            if self.minimum is None or value < self.minimum:
                self.minimum, self.minimum_time = value, stamp
            if self.maximum is None or value > self.maximum:
                self.maximum, self.maximum_time = value, stamp
            key: Any = value
        elif isinstance(data, list) and len(data) == 1:
            key = cafmt.to_text(data[0])
        else:
            return
        if self._last_value is not None and key != self._last_value:
            self.previous_value = str(self._last_value)
            self.last_change_time = stamp
        self._last_value = key

    def copy(self) -> History:
        return History(**{k: getattr(self, k) for k in self.__dataclass_fields__})


class HistoryCollector(LatestCollector):
    """The probe's collector: newest values for painting, plus a History of every update."""

    def __init__(self) -> None:
        super().__init__()
        self._history: dict[str, History] = {}

    def add(self, pv: str, item: Any) -> None:
        if not isinstance(item, ca.ConnectionEvent):
            with self.lock:
                hist = self._history.get(pv)
                if hist is None:
                    hist = self._history[pv] = History()
                hist.add(item)
        super().add(pv, item)

    def discard(self, pv: str) -> None:
        super().discard(pv)
        with self.lock:
            self._history.pop(pv, None)

    def history(self, pv: str) -> History | None:
        with self.lock:
            hist = self._history.get(pv)
            return hist.copy() if hist is not None else None

    def reset_history(self, pv: str) -> None:
        with self.lock:
            self._history[pv] = History()


