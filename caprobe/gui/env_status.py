"""The main window's status-bar line: where caprobe searches for PVs over Channel Access and
PV Access (from the environment), and which protocol a bare name uses. One short line that
elides at 800 px (the whole text, one setting a line, in the tooltip), never a wider window.

PV Access availability is a look for the p4p package (``importlib.util.find_spec``), not an
import: the status bar must not pay for loading p4p (a broken install still says so, in one
line, when a ``pva://`` name is opened).
"""

from __future__ import annotations

import importlib.util
import os

from PyQt5.QtCore import QSize, Qt
from PyQt5.QtGui import QPainter, QPaintEvent
from PyQt5.QtWidgets import QLabel, QWidget

from caprobe import pvname
from caprobe.pva.backend import INSTALL_HINT

CA_DEFAULTS = {"EPICS_CA_ADDR_LIST": "", "EPICS_CA_AUTO_ADDR_LIST": "YES",
               "EPICS_CA_SERVER_PORT": "5064"}
PVA_DEFAULTS = {"EPICS_PVA_ADDR_LIST": "", "EPICS_PVA_AUTO_ADDR_LIST": "YES",
                "EPICS_PVA_NAME_SERVERS": "", "EPICS_PVA_SERVER_PORT": "5075",
                "EPICS_PVA_BROADCAST_PORT": "5076"}


def _env(defaults: dict[str, str]) -> dict[str, str]:
    return {key: os.environ.get(key, default) or default for key, default in defaults.items()}


def pva_installed() -> bool:
    """p4p is there to import (looked for, not imported)."""
    try:
        return importlib.util.find_spec("p4p") is not None
    except (ImportError, ValueError):
        return False


def default_protocol_text() -> str:
    """'CA', 'PVA ($CAPROBE_DEFAULT_PROTOCOL)', or what is wrong with the variable."""
    try:
        protocol = pvname.default_protocol()
    except pvname.PVNameError:
        return f"CA (${pvname.ENV_VAR} not understood)"
    if protocol == pvname.PVA and not pva_installed():
        return f"CA (${pvname.ENV_VAR} asks for PVA, not installed)"
    if os.environ.get(pvname.ENV_VAR, "").strip():
        return f"{protocol.upper()} (${pvname.ENV_VAR})"
    return protocol.upper()


def status_text() -> tuple[str, str]:
    """(the line, its tooltip)."""
    ca = _env(CA_DEFAULTS)
    line = (f"CA: ADDR_LIST={ca['EPICS_CA_ADDR_LIST'] or '(none)'} "
            f"AUTO={ca['EPICS_CA_AUTO_ADDR_LIST']} PORT={ca['EPICS_CA_SERVER_PORT']}")
    tip = ["Where caprobe searches for PVs (from the environment):", "",
           *(f"{key}={value or '(empty)'}" for key, value in ca.items()), ""]
    if pva_installed():
        pva = _env(PVA_DEFAULTS)
        names = pva["EPICS_PVA_NAME_SERVERS"]
        line += (f"  ·  PVA: ADDR_LIST={pva['EPICS_PVA_ADDR_LIST'] or '(none)'} "
                 f"AUTO={pva['EPICS_PVA_AUTO_ADDR_LIST']} "
                 f"PORTS={pva['EPICS_PVA_SERVER_PORT']}/{pva['EPICS_PVA_BROADCAST_PORT']}"
                 + (f" NAME_SERVERS={names}" if names else ""))
        tip += [f"{key}={value or '(empty)'}" for key, value in pva.items()]
    else:
        line += f"  ·  PVA: not installed ({INSTALL_HINT})"
        tip.append(f"PV Access: p4p is not installed; install it with: {INSTALL_HINT}")
    default = default_protocol_text()
    line += f"  ·  bare names: {default}"
    tip += ["", f"A name without ca:// or pva:// uses {default}; set "
            f"{pvname.ENV_VAR}=pva to make it PV Access."]
    return line, "\n".join(tip)


class ElidedLabel(QLabel):
    """A one-line label that shows as much of its text as fits, ending in '…', and never asks
    for more width than a few characters (a status bar must not widen the window)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setTextFormat(Qt.PlainText)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        hint = super().minimumSizeHint()
        return QSize(self.fontMetrics().averageCharWidth() * 12, hint.height())

    def give_way_to(self, message: str) -> None:
        """Hidden while the status bar shows a message (a bound slot, not a lambda: Qt drops
        the connection when this label goes, even in the middle of the window's teardown)."""
        self.setVisible(not message)

    def elided_text(self) -> str:
        return self.fontMetrics().elidedText(self.text(), Qt.ElideRight,
                                             self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(Qt.AlignLeft | Qt.AlignVCenter),
                         self.elided_text())


def make_status_label() -> ElidedLabel:
    line, tip = status_text()
    label = ElidedLabel(line)
    label.setToolTip(tip)
    return label
