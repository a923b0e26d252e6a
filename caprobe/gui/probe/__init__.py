"""One open PV: a header that never scrolls (name, value, severity, IOC time, connection) over
details that may (write panel, channel, metadata, enum states, history).

* :mod:`.labels`: the small widgets (selectable fields, the draggable name, wrap points);
* :mod:`.header`: the header;
* :mod:`.details`: the detail boxes and their responsive columns;
* :mod:`.widget`: :class:`ProbeWidget`, which fills them from the PV service's updates.
"""

from caprobe.gui.probe.widget import Connection, ProbeWidget

__all__ = ["Connection", "ProbeWidget"]
