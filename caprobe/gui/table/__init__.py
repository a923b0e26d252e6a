"""The PV table: thousands of PVs live in one table, snapshot, compare, restore."""

from caprobe.gui.table.model import PVTableModel
from caprobe.gui.table.view import PVTableView

__all__ = ["PVTableModel", "PVTableView"]
