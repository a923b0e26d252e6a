"""The table's data source: one client of the window's PV service (a small adapter).

The model only knows ``ingest({pv: [item, ...]})`` and ``set_metadata(pv, ctrl)``; this class
keeps the service client's PVs equal to the model's rows and forwards the service's batched
signals. Another data source (a PV Access service, a replay) is another adapter.
"""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import QObject

from caprobe.gui.service import LatestCollector, PVService
from caprobe.gui.table.model import PVTableModel


class ServiceFeed(QObject):
    def __init__(self, service: PVService, model: PVTableModel, parent: QObject | None = None
                 ) -> None:
        super().__init__(parent)
        self.service = service
        self.model = model
        # Newest value per PV per batch: a table repaints what a person can read.
        self.client = service.client(LatestCollector(), priority=0, data_type=None)
        self.client.updates.connect(model.ingest)
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
