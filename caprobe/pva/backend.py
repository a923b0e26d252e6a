"""The one place caprobe imports p4p: lazily, on the first PV Access call, so ``import
caprobe.pva`` (and the whole CA-only install) works without it.

A process shares one p4p client context per PV Access configuration: the ``EPICS_PVA_*``
variables are read on every call and a changed set builds a new context, so the environment is
honoured as it is when a call is made (as caprobe.ca reads EPICS_CA_* per call). Inside a
context pvxs keeps channels open for reuse and closes idle ones by itself; the context's own
threads do the I/O, callers only wait on their results.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType
from typing import Any

from caprobe.ca.errors import ConfigurationError

#: The command that installs PV Access support, as every "p4p missing" message gives it.
INSTALL_HINT = "pip install 'caprobe[pva]'"

#: Variables that shape a client context (pvxs reads the same names, see its Config).
PVA_ENV_KEYS = (
    "EPICS_PVA_ADDR_LIST",
    "EPICS_PVA_AUTO_ADDR_LIST",
    "EPICS_PVA_NAME_SERVERS",
    "EPICS_PVA_SERVER_PORT",
    "EPICS_PVA_BROADCAST_PORT",
    "EPICS_PVA_INTF_ADDR_LIST",
    "EPICS_PVA_CONN_TMO",
)


class PVAUnavailable(ConfigurationError):
    """p4p (the PV Access library behind caprobe.pva) is not installed or fails to load."""


_p4p: dict[str, ModuleType] = {}
_import_lock = threading.Lock()


def p4p_modules() -> dict[str, ModuleType]:
    """{'raw': p4p.client.raw, 'p4p': p4p}; raises PVAUnavailable with the install line."""
    if _p4p:
        return _p4p
    with _import_lock:
        if not _p4p:
            try:
                import p4p
                from p4p.client import raw
            except ImportError as exc:
                raise PVAUnavailable(
                    f"PV Access needs the p4p package, which is not installed ({exc}); "
                    f"install it with: {INSTALL_HINT}") from None
            except Exception as exc:  # a broken binary wheel: say so in one line
                raise PVAUnavailable(f"PV Access is unavailable: p4p failed to load ({exc}); "
                                     f"reinstall it with: {INSTALL_HINT}") from None
            _p4p.update(p4p=p4p, raw=raw)
    return _p4p


def available() -> bool:
    """True when p4p can be imported (does not raise)."""
    try:
        p4p_modules()
    except PVAUnavailable:
        return False
    return True


def _environment_key() -> tuple[tuple[str, str | None], ...]:
    return tuple((key, os.environ.get(key)) for key in PVA_ENV_KEYS)


class _Shared:
    lock = threading.Lock()
    key: Any = None
    context: Any = None


def context() -> Any:
    """The shared p4p ``raw.Context`` for the current EPICS_PVA_* environment (NT unwrapping
    off: caprobe decodes the structures itself)."""
    key = _environment_key()
    shared = _Shared
    ctx = shared.context
    if ctx is not None and shared.key == key:
        return ctx
    raw = p4p_modules()["raw"]
    with shared.lock:
        if shared.context is None or shared.key != key:
            try:
                # The old context is left to the garbage collector: another thread may
                # still be waiting on an operation of it.
                shared.context = raw.Context("pva", nt=False, useenv=True)
            except Exception as exc:  # pvxs rejects a malformed EPICS_PVA_* value
                raise ConfigurationError(f"PV Access client configuration rejected: {exc}"
                                         ) from None
            shared.key = key
        return shared.context


def reset() -> None:
    """Close the shared context (channels are dropped; the next call builds a fresh one).
    For tests and benchmarks that want a cold start."""
    with _Shared.lock:
        ctx, _Shared.context, _Shared.key = _Shared.context, None, None
    if ctx is not None:
        ctx.close()


def describe_destinations() -> str:
    """Where searches go, for 'not found' messages: 'EPICS_PVA_ADDR_LIST=... (auto NO)'."""
    try:
        conf = context().conf()
    except Exception:
        conf = {key: os.environ.get(key, "") for key in PVA_ENV_KEYS}
    addresses = conf.get("EPICS_PVA_ADDR_LIST", "") or "(empty)"
    auto = conf.get("EPICS_PVA_AUTO_ADDR_LIST", "YES")
    text = f"{addresses}, auto address list {auto}"
    servers = conf.get("EPICS_PVA_NAME_SERVERS", "")
    if servers:
        text += f", name servers {servers}"
    return text


def make_request(text: str) -> Any:
    """A pvRequest Value from its text form ('field()record[queueSize=8]')."""
    return p4p_modules()["raw"].Context.makeRequest(text)
