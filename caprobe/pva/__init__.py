"""caprobe.pva: EPICS PV Access with caprobe.ca's synchronous API, on p4p (no Qt).

Same names, parameters and semantics as :mod:`caprobe.ca`, so code moves between the two by
changing the import::

    from caprobe.pva import read, write, read_write_read, subscribe, block, interrupt, info

Many PVs at once, as ``caprobe.ca.read_many``/``write_many`` (all in flight together, one
timeout, a failed PV gets its exception object in its place): ``read_many``, ``write_many``.

p4p is optional (``pip install 'caprobe[pva]'``) and imported on the first call, never at import
time: without it every call raises :class:`PVAUnavailable` (a ConfigurationError) whose message
is the one line saying how to install it.

Errors are caprobe.ca's own classes (``caprobe.ca.errors``), so one ``except`` handles both
protocols: CATimeoutError (not found, no reply), ErrorResponseReceived (the server refused a
read or monitor), WriteFailed (a put refused: no write access, or it failed), ValueRefused (a
bad argument or a value that does not fit the PV's type; nothing was sent), DisconnectedError,
ConfigurationError (p4p missing, a malformed EPICS_PVA_* variable).

Responses (:class:`PVAResponse`): ``.data`` is numpy for NTScalar/NTScalarArray, the state string
for NTEnum (the index as ``.index``, or as ``.data`` with ``force_int_enums``), and the whole
structure otherwise (NTTable columns as a dict of arrays, NTNDArray as a shaped image, custom
structures as nested dicts); ``.metadata`` carries caprobe.ca's attribute names (``severity``,
``status``, ``timestamp``, ``units``, ``precision``, ``upper_disp_limit``...; see
caprobe.pva.response); ``.value`` is p4p's Value with every field. Subscription callbacks also
receive caprobe.ca's :class:`ConnectionEvent`.

Differences that PV Access imposes, all documented at their functions: a read or monitor always
gets the whole structure (``request='field(...)'`` selects fields); there is no access-rights
query, so ``info()`` cannot say whether a write will be allowed; ``priority``, ``repeater`` and
monitor masks have no PVA meaning and are ignored. The environment (``EPICS_PVA_ADDR_LIST``,
``EPICS_PVA_AUTO_ADDR_LIST``, ``EPICS_PVA_NAME_SERVERS``, ``EPICS_PVA_SERVER_PORT``,
``EPICS_PVA_BROADCAST_PORT``) is read at each call.
"""

from caprobe.ca.errors import (
    CAError,
    CATimeoutError,
    ConfigurationError,
    DisconnectedError,
    ErrorResponseReceived,
    ValueRefused,
    WriteFailed,
)
from caprobe.ca.state import ConnectionEvent
from caprobe.pva.backend import INSTALL_HINT, PVAUnavailable, available, reset
from caprobe.pva.client import info, read, read_write_read, write
from caprobe.pva.many import check_value, read_many, write_many
from caprobe.pva.response import PVAChannelInfo, PVAMetadata, PVAResponse, PVAWriteResponse
from caprobe.pva.subscription import (
    DEFAULT_QUEUE_SIZE,
    Subscription,
    SubscriptionGroup,
    block,
    interrupt,
    subscribe,
)

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
    "check_value",
    "available",
    "reset",
    "Subscription",
    "SubscriptionGroup",
    "ConnectionEvent",
    "PVAResponse",
    "PVAMetadata",
    "PVAChannelInfo",
    "PVAWriteResponse",
    "DEFAULT_QUEUE_SIZE",
    "INSTALL_HINT",
    "PVAUnavailable",
    "CAError",
    "CATimeoutError",
    "ConfigurationError",
    "DisconnectedError",
    "ErrorResponseReceived",
    "ValueRefused",
    "WriteFailed",
]
