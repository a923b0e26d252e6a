"""Exceptions raised by caprobe.ca. Each str() is one line an operator can act on."""

from __future__ import annotations

from typing import Any


def printable(text: str) -> str:
    """Text a server sent, made safe to show as one line: control characters (newlines,
    terminal escapes) become visible escapes such as ``\\n`` and ``\\x1b``."""
    out = []
    for ch in text:
        code = ord(ch)
        if code < 32 or 0x7F <= code < 0xA0:
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\x{code:02x}"))
        else:
            out.append(ch)
    return "".join(out)


class CAError(Exception):
    """Base class of every caprobe.ca error."""


class CATimeoutError(CAError, TimeoutError):
    """No answer within the timeout (search, connection, read, write completion)."""


class ConfigurationError(CAError, ValueError):
    """A malformed EPICS_CA_* environment variable or argument."""


class ProtocolError(CAError):
    """The server sent something that is not valid Channel Access."""


class DisconnectedError(CAError, ConnectionError):
    """The circuit to the server closed while an operation was in progress."""


class ChannelCreationFailed(CAError):
    """The server found the PV but refused to create the channel (CREATE_CH_FAIL)."""


class ValueRefused(CAError, ValueError):
    """A value does not fit the PV's type or range; nothing was sent."""


class ErrorResponseReceived(CAError):
    """The server answered a request with an ERROR message."""

    def __init__(self, message: str, status: Any = None, server_text: str = "",
                 response: Any = None):
        super().__init__(message)
        self.status = status
        self.server_text = server_text
        self.response = response


class WriteFailed(CAError):
    """A write was refused (no write access) or the server reported it failed."""

    def __init__(self, message: str, status: Any = None, response: Any = None):
        super().__init__(message)
        self.status = status
        self.response = response
