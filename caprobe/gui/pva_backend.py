"""PV Access for the GUI's PV service: the ``pva`` protocol backend (caprobe.pva behind the
service's Backend interface), so ``pva://NAME`` works in every view the service feeds.

:func:`install` registers it with ``caprobe.gui.service`` (call it once at start-up; where the
service is not there it does nothing and says so). Without p4p every ``pva://`` name is refused
when a view asks for it, with the one line saying how to install PV Access. The service
runs one ``SubscriptionGroup.block()`` per protocol and priority in its own QThread; this
module only adapts names and types and never touches Qt.
"""

from __future__ import annotations

from typing import Any

from caprobe import pva

NAME = "pva"


class PVABackend:
    """caprobe.pva as the service uses a protocol (the methods of service.Backend)."""

    name = NAME

    def new_group(self) -> Any:
        return pva.SubscriptionGroup()

    def subscribe(self, pv: str, priority: int, data_type: Any) -> Any:
        """``data_type`` as the service passes it: None (enums as their states) or "time"
        (enums as their indices, what a chart plots); PVA always sends the whole structure,
        so the DBR class only decides that. Anything else is refused (ValueError), and so is
        every name when p4p is missing (PVAUnavailable, with the install line)."""
        if not pva.available():
            raise pva.PVAUnavailable(f"PV Access needs the p4p package; install it with: "
                                     f"{pva.INSTALL_HINT}")
        if data_type is None:
            return pva.subscribe(pv, priority=priority)
        if isinstance(data_type, str) and data_type.lower() == "time":
            return pva.subscribe(pv, priority=priority, force_int_enums=True)
        raise pva.ValueRefused(f"data type {data_type!r} does not apply to PV Access")

    def read_metadata(self, pv: str, timeout: float) -> Any:
        """One GET: the structure carries display, control, alarm limits and enum states."""
        return pva.read(pv, timeout=timeout)

    def is_connection_event(self, item: Any) -> bool:
        return isinstance(item, pva.ConnectionEvent)


def install() -> str:
    """Register the backend with the GUI's PV service; returns what happened, one line."""
    try:
        from caprobe.gui import service
    except ImportError:
        return "PV Access in the GUI needs caprobe.gui.service (not in this build)"
    register = getattr(service, "register_backend", None)
    if register is None:
        return "PV Access in the GUI needs caprobe.gui.service.register_backend"
    register(PVABackend())
    if not pva.available():
        return f"PV Access registered, but p4p is missing ({pva.INSTALL_HINT})"
    return "PV Access registered"
