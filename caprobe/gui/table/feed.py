"""The table's data source: one client of the window's PV service (a small adapter).

The model only knows ``ingest({pv: [item, ...]})`` and ``set_metadata(pv, ctrl)``; this class
keeps the service client's PVs equal to the model's rows and forwards the service's batched
signals. Another data source (a PV Access service, a replay) is another adapter.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from PyQt5.QtCore import QObject

from caprobe.gui.service import Collector, PVService
from caprobe.gui.table.model import PVTableModel


class NewestCollector(Collector):
    """``{pv: item}``: only each PV's newest item (value or connection event), which is all a
    table row shows. ``add`` runs in the CA thread for every update (50,000 a second for
    5,000 PVs at 10 Hz), so it is one dict store under an uncontended lock."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[str, Any] = {}
        #: monotonic time of the newest add: the table paints between bursts of updates
        self.last_add = 0.0

    def add(self, pv: str, item: Any) -> None:
        with self.lock:
            self._pending[pv] = item
            self.last_add = monotonic()

    def discard(self, pv: str) -> None:
        with self.lock:
            self._pending.pop(pv, None)

    def drain(self) -> dict[str, Any]:
        with self.lock:
            pending, self._pending = self._pending, {}
        return pending


class ServiceFeed(QObject):
    def __init__(self, service: PVService, model: PVTableModel, parent: QObject | None = None
                 ) -> None:
        super().__init__(parent)
        self.service = service
        self.model = model
        # Newest state per PV per batch: a table repaints what a person can read.
        self.client = service.client(NewestCollector(), priority=0, data_type=None)
        self.client.updates.connect(model.ingest_newest)
        self.client.metadata_ready.connect(model.set_metadata)
        model.namesChanged.connect(self.sync)
        self.refused: list[tuple[str, str]] = []

    def sync(self) -> None:
        """Subscribe to new rows, let go of removed ones."""
        if self.client.closed:
            return
        wanted = self.model.names()
        held = set(self.client.pvs())
        for name in held - set(wanted):
            self.client.remove(name)
        self.refused = self.client.add_many(name for name in wanted if name not in held)

    def submit(self, func: Any, on_done: Any = None, on_error: Any = None) -> None:
        self.service.submit(func, on_done, on_error)

    def close(self) -> None:
        self.client.close()
