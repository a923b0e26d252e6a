"""caprobe.ca: a synchronous EPICS Channel Access client (protocol v4.13), no Qt, no caproto.

The public API is caproto's ``caproto.sync.client`` (same names, parameters, defaults and
response objects), so a script moves over by changing its import::

    from caprobe.ca import read, write, read_write_read, subscribe, block, interrupt

Every call to ``read``/``write``/``read_write_read`` searches, opens its own TCP circuit, does
its work and closes it again; calls never share sockets, so any number of threads may call them
at once.

Beyond caproto's API (documented in the module docstrings):

* :class:`Channel`: one channel kept open for several calls (``info``, ``read``, ``write``),
  as caget/caput use it: one search and one circuit instead of one per call.
* ``host_name(address)``: the server host's name by reverse DNS, as cainfo shows it.
* ``info(pv_name, timeout=...)`` -> :class:`ChannelInfo` (host, port, access rights, native type
  and count, server protocol version), what ``cainfo`` prints.
* Every response from ``read``/``write``/subscriptions carries ``.channel`` (a
  :class:`ChannelInfo`) so a caller can show host, access and native type without another call.
* Subscription callbacks also receive :class:`ConnectionEvent` objects (``connected`` False on a
  disconnect or while a PV is not found, True on (re)connection), so a chart can draw a gap.
* :class:`SubscriptionGroup` lets another thread add and remove subscriptions while ``block()``
  runs, without disturbing the others (no sample of the remaining PVs is lost).
* ``read_many``/``write_many``/``info_many`` and :class:`Context`: many PVs at once on shared
  circuits (batched search, one circuit per server, every request in flight together), results
  in the order asked with a per-PV exception object for the ones that failed
  (:mod:`caprobe.ca.many`).

Inside: ``arguments`` (checks), ``messages``/``dbr`` (the wire), ``state`` (a channel's life,
no sockets), ``requests`` (read/write requests and their replies), ``search``, ``circuit``,
``engine`` (the shared loop), ``channel`` (one-shot calls), ``subscription``, ``many``,
``hostname``, ``repeater``, ``config``.

``channel`` (read/write/info/Channel) and ``subscription`` (subscribe/block/...) are imported
on first use of one of their names: a command-line read needs neither, and start-up is what an
operator waits for. Every name below is importable as usual (``from caprobe.ca import read``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from caprobe.ca.dbr import (
    AccessRights,
    AlarmSeverity,
    AlarmStatus,
    ChannelType,
    SubscriptionType,
)
from caprobe.ca.errors import (
    CAError,
    CATimeoutError,
    ChannelCreationFailed,
    ConfigurationError,
    DisconnectedError,
    ErrorResponseReceived,
    ProtocolError,
    ValueRefused,
    WriteFailed,
)
from caprobe.ca.hostname import host_name
from caprobe.ca.many import Context, info_many, read_many, write_many
from caprobe.ca.messages import (
    ErrorResponse,
    EventAddResponse,
    ReadNotifyResponse,
    ReadResponse,
    WriteNotifyResponse,
)
from caprobe.ca.state import ChannelInfo, ConnectionEvent
from caprobe.ca.status import CAStatusCode

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports them
    from caprobe.ca.channel import Channel, info, read, read_write_read, write
    from caprobe.ca.subscription import (
        Subscription,
        SubscriptionGroup,
        block,
        interrupt,
        subscribe,
    )

_LAZY = {
    **dict.fromkeys(("Channel", "info", "read", "read_write_read", "write"), "channel"),
    **dict.fromkeys(("Subscription", "SubscriptionGroup", "block", "interrupt", "subscribe"),
                    "subscription"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "read",
    "write",
    "read_write_read",
    "subscribe",
    "block",
    "interrupt",
    "info",
    "read_many",
    "write_many",
    "info_many",
    "Context",
    "host_name",
    "Channel",
    "Subscription",
    "SubscriptionGroup",
    "ChannelInfo",
    "ConnectionEvent",
    "ChannelType",
    "SubscriptionType",
    "AccessRights",
    "AlarmSeverity",
    "AlarmStatus",
    "CAStatusCode",
    "ReadNotifyResponse",
    "ReadResponse",
    "WriteNotifyResponse",
    "EventAddResponse",
    "ErrorResponse",
    "CAError",
    "CATimeoutError",
    "ChannelCreationFailed",
    "ConfigurationError",
    "DisconnectedError",
    "ErrorResponseReceived",
    "ProtocolError",
    "ValueRefused",
    "WriteFailed",
]
