"""Open and save any snapshot file by its kind: caprobe ``.snap``, autosave ``.sav``, Phoebus
``.pvs``, or a plain PV list (names only)."""

from __future__ import annotations

import os
from pathlib import Path

from caprobe.snapshot import autosave, phoebus, pvlist, snapfile
from caprobe.snapshot.errors import SnapshotFileError
from caprobe.snapshot.model import SavedPV, Snapshot

KINDS = ("snap", "sav", "pvs", "list")
#: File dialog filters, most specific first.
FILTERS = {
    "snap": "caprobe snapshot (*.snap)",
    "sav": "autosave file (*.sav)",
    "pvs": "Phoebus PV table (*.pvs)",
    "list": "PV list (*.txt *.lst *.pvlist)",
}


def kind_of(path: str | os.PathLike[str]) -> str:
    """The format of an existing file: by its content first, then by its suffix."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
    except OSError as exc:
        raise SnapshotFileError(path, None, f"cannot read: {exc.strerror or exc}") from None
    text = head.decode("utf-8", "replace")
    body = [line.strip() for line in text.splitlines() if line.strip()]
    significant = [line for line in body if not line.startswith("#")]
    if significant and significant[0].split()[0] == snapfile.MAGIC:
        return "snap"
    if text.lstrip().startswith("<?xml") or text.lstrip().startswith("<pvtable"):
        return "pvs"
    suffix = Path(path).suffix.lower()
    if suffix in (".sav", ".savb") or (body and body[0].startswith("# autosave")) \
            or any(line.startswith("<END>") for line in body) \
            or any("@array@" in line for line in significant):
        return "sav"
    if suffix == ".pvs":
        return "pvs"
    if suffix == snapfile.SUFFIX:
        return "snap"
    return "list"


def kind_for_saving(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    return {".sav": "sav", ".pvs": "pvs", ".txt": "list", ".lst": "list",
            ".pvlist": "list"}.get(suffix, "snap")


def load(path: str | os.PathLike[str]) -> Snapshot:
    """Any supported file as a Snapshot (a PV list gives PVs without values)."""
    kind = kind_of(path)
    if kind == "snap":
        return snapfile.read(path)
    if kind == "sav":
        return autosave.read(path)
    if kind == "pvs":
        return phoebus.read(path)
    return Snapshot(pvs=[SavedPV(name=name) for name in pvlist.read(path)])


def save(path: str | os.PathLike[str], snapshot: Snapshot, kind: str | None = None) -> None:
    kind = kind or kind_for_saving(path)
    if kind == "sav":
        autosave.write(path, snapshot)
    elif kind == "pvs":
        phoebus.write(path, snapshot)
    elif kind == "list":
        pvlist.write(path, snapshot.names())
    elif kind == "snap":
        snapfile.write(path, snapshot)
    else:
        raise ValueError(f"unknown file kind {kind!r} (one of {', '.join(KINDS)})")
