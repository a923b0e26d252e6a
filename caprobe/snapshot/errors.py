"""The one error a snapshot file can raise: it names the file and the line."""

from __future__ import annotations

import os


class SnapshotFileError(ValueError):
    """A file could not be read or written; ``str()`` is ``FILE:LINE: message``."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, message: str):
        self.path = os.fspath(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")
