"""Snapshots of many PVs: file formats, comparison with tolerance, restore. No Qt.

* :mod:`model`: :class:`Snapshot`, :class:`SavedPV`, :class:`Tolerance`
* files: :mod:`snapfile` (caprobe's own ``.snap``), :mod:`autosave` (``.sav``),
  :mod:`phoebus` (``.pvs``), :mod:`pvlist` (names); :mod:`files` picks by content/suffix
* :mod:`compare`: saved against live (or two snapshots)
* :mod:`capture` and :mod:`restore`: reading and writing PVs through ``caprobe.ca.Context``
  (Channel Access) and ``caprobe.pva.read_many``/``write_many`` (``pva://`` names)

Used by ``caprobe-snapshot`` and the GUI's PV table. Every file error is a
:class:`SnapshotFileError` whose text names the file and the line.
"""

from caprobe.snapshot.errors import SnapshotFileError
from caprobe.snapshot.files import load, save
from caprobe.snapshot.model import EXACT, SavedPV, Snapshot, Tolerance

__all__ = ["EXACT", "SavedPV", "Snapshot", "SnapshotFileError", "Tolerance", "load", "save"]
