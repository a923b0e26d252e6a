"""Plain PV lists: one name per line; ``#`` starts a comment (whole line or after the name).

Also the shared reader of text files for the other formats: bad encodings and unreadable files
become a :class:`SnapshotFileError` naming the file (and the line).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from caprobe.snapshot.errors import SnapshotFileError

#: Longest PV name Channel Access carries (EPICS base's limit is a few hundred bytes; caprobe's
#: client refuses anything longer than this, so a list cannot smuggle in garbage).
MAX_NAME_BYTES = 1024


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """The file's lines (UTF-8; a byte that is not UTF-8 is an error naming its line)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise SnapshotFileError(path, None, f"cannot read: {exc.strerror or exc}") from None
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise SnapshotFileError(path, line, "binary data (a NUL byte): not a text file")
    lines = data.split(b"\n")
    out = []
    for number, raw in enumerate(lines, 1):
        try:
            out.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as exc:
            raise SnapshotFileError(path, number, f"not UTF-8 text (byte 0x{raw[exc.start]:02x}"
                                                  f" at column {exc.start + 1})") from None
    if out and out[-1] == "":
        out.pop()
    return out


def check_name(name: str) -> str | None:
    """Why ``name`` cannot be a PV name, or None."""
    if not name:
        return "empty PV name"
    if any(ch.isspace() for ch in name):
        return f"{name!r}: a PV name has no spaces"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return f"{name!r}: control character in a PV name"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"PV name of {len(name.encode('utf-8'))} bytes is too long"
    return None


def parse_names(lines: Iterable[str], path: str | os.PathLike[str] = "<list>") -> list[str]:
    """Names in order, duplicates dropped; a line with more than one word is an error."""
    names: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        words = text.split()
        if len(words) > 1:
            raise SnapshotFileError(path, number, f"one PV name per line, found {len(words)} "
                                                  f"words ({text[:60]!r})")
        problem = check_name(words[0])
        if problem:
            raise SnapshotFileError(path, number, problem)
        if words[0] not in seen:
            seen.add(words[0])
            names.append(words[0])
    return names


def split_names(text: str) -> list[str]:
    """Names pasted or dropped as free text: any whitespace or commas separate them; comments
    (``#`` to the end of a line) are dropped. Raises ValueError naming a bad name."""
    names: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        for word in line.split("#", 1)[0].replace(",", " ").split():
            problem = check_name(word)
            if problem:
                raise ValueError(problem)
            if word not in seen:
                seen.add(word)
                names.append(word)
    return names


def read(path: str | os.PathLike[str]) -> list[str]:
    return parse_names(read_lines(path), path)


def write(path: str | os.PathLike[str], names: Iterable[str], header: str = "") -> None:
    from caprobe.snapshot.snapfile import _write_text

    lines = [f"# {line}" for line in header.splitlines()] + list(names)
    _write_text(path, "\n".join(lines) + "\n")
