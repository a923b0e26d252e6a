"""PV names with a protocol, one parser for the GUI, the CLI tools and the files they save.

    ca://NAME    Channel Access
    pva://NAME   PV Access
    NAME         the default protocol: CA, unless the user chose PVA

The scheme is case-insensitive (``PVA://x`` is ``pva://x``); the name after it is kept
exactly. The default for bare names comes, first match wins, from a setting passed in by the
caller (the GUI's preference), the environment variable ``CAPROBE_DEFAULT_PROTOCOL``
(``ca`` or ``pva``), else CA, as in Phoebus. A scheme that is neither (``loc://``, ``sim://``)
or an empty name is refused with a message saying what is accepted. No I/O here, no Qt.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

CA = "ca"
PVA = "pva"
PROTOCOLS = (CA, PVA)
ENV_VAR = "CAPROBE_DEFAULT_PROTOCOL"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


class PVNameError(ValueError):
    """A PV name that names no protocol caprobe speaks, or no PV at all."""


@dataclass(frozen=True)
class PVName:
    """A parsed name: ``protocol`` ('ca'/'pva'), ``name`` (what goes on the wire) and
    ``explicit`` (the text carried a scheme)."""

    protocol: str
    name: str
    explicit: bool = False

    @property
    def url(self) -> str:
        """The name with its scheme: 'pva://X', 'ca://X'."""
        return f"{self.protocol}://{self.name}"

    @property
    def is_pva(self) -> bool:
        return self.protocol == PVA

    def __str__(self) -> str:
        """As the user wrote it: with a scheme if one was given, bare otherwise."""
        return self.url if self.explicit else self.name


def _check_protocol(text: str, source: str) -> str:
    protocol = text.strip().lower()
    if protocol.endswith("://"):
        protocol = protocol[:-3]
    if protocol not in PROTOCOLS:
        raise PVNameError(f"{source} is {text!r}; use 'ca' or 'pva'")
    return protocol


def default_protocol(setting: str | None = None) -> str:
    """The protocol of a bare name: ``setting`` if given, else $CAPROBE_DEFAULT_PROTOCOL,
    else 'ca'. A value that is not ca/pva raises PVNameError."""
    if setting:
        return _check_protocol(setting, "the default protocol setting")
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _check_protocol(env, ENV_VAR)
    return CA


def parse(text: str, default: str | None = None) -> PVName:
    """Split 'pva://NAME' / 'ca://NAME' / 'NAME' into a PVName; ``default`` is the setting
    for bare names (see :func:`default_protocol`). Raises PVNameError."""
    if not isinstance(text, str):
        raise PVNameError(f"a PV name must be text, not {type(text).__name__}")
    match = _SCHEME.match(text)
    if match is None:
        if not text:
            raise PVNameError("PV name is empty")
        return PVName(default_protocol(default), text, explicit=False)
    scheme = match.group(1).lower()
    if scheme not in PROTOCOLS:
        raise PVNameError(f"{text!r}: unknown protocol '{match.group(1)}://'; caprobe speaks "
                          "ca:// (Channel Access) and pva:// (PV Access)")
    name = text[match.end():]
    if not name:
        raise PVNameError(f"{text!r}: no PV name after '{match.group(0)}'")
    return PVName(scheme, name, explicit=True)


def split(text: str, default: str | None = None) -> tuple[str, str]:
    """(protocol, name) of a PV name; see :func:`parse`."""
    parsed = parse(text, default)
    return parsed.protocol, parsed.name
