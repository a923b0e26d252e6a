"""Channel Access status codes (EPICS ``caerr.h``): value = (code << 3) | severity."""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class CASeverity(IntEnum):
    WARNING = 0
    SUCCESS = 1
    ERROR = 2
    INFO = 3
    SEVERE = 4
    FATAL = 6

    def __str__(self) -> str:
        return self.name


class CAStatusCode(NamedTuple):
    """One ECA status of the CA protocol (``ECA_NORMAL``, ``ECA_PUTFAIL`` ...): its name, the
    code with and without the severity bits, whether it means success, and libca's text."""

    name: str
    code: int
    code_with_severity: int
    severity: CASeverity | int
    success: int
    defunct: bool
    description: str


# (name, value as sent on the wire, description, defunct). Texts are libca's ca_message().
_TABLE = [
    ("ECA_NORMAL", 1, "Normal successful completion", False),
    ("ECA_MAXIOC", 10, "Maximum simultaneous IOC connections exceeded", True),
    ("ECA_UKNHOST", 18, "Unknown internet host", True),
    ("ECA_UKNSERV", 26, "Unknown internet service", True),
    ("ECA_SOCK", 34, "Unable to allocate a new socket", True),
    ("ECA_CONN", 40, "Unable to connect to internet host or service", True),
    ("ECA_ALLOCMEM", 48, "Unable to allocate additional dynamic memory", False),
    ("ECA_UKNCHAN", 56, "Unknown IO channel", True),
    ("ECA_UKNFIELD", 64, "Record field specified inappropriate for channel specified", True),
    ("ECA_TOLARGE", 72, "The requested transfer is greater than available memory or "
     "EPICS_CA_MAX_ARRAY_BYTES", False),
    ("ECA_TIMEOUT", 80, "User specified timeout on IO operation expired", False),
    ("ECA_NOSUPPORT", 88, "Sorry, that feature is planned but not supported at this time", True),
    ("ECA_STRTOBIG", 96, "The supplied string is unusually large", True),
    ("ECA_DISCONNCHID", 106, "The request was ignored because the specified channel is "
     "disconnected", True),
    ("ECA_BADTYPE", 114, "The data type specifed is invalid", False),
    ("ECA_CHIDNOTFND", 123, "Remote Channel not found", True),
    ("ECA_CHIDRETRY", 131, "Unable to locate all user specified channels", True),
    ("ECA_INTERNAL", 142, "Channel Access Internal Failure", False),
    ("ECA_DBLCLFAIL", 144, "The requested local DB operation failed", True),
    ("ECA_GETFAIL", 152, "Channel read request failed", False),
    ("ECA_PUTFAIL", 160, "Channel write request failed", False),
    ("ECA_ADDFAIL", 168, "Channel subscription request failed", True),
    ("ECA_BADCOUNT", 176, "Invalid element count requested", False),
    ("ECA_BADSTR", 186, "Invalid string", False),
    ("ECA_DISCONN", 192, "Virtual circuit disconnect", False),
    ("ECA_DBLCHNL", 200, "Identical process variable names on multiple servers", False),
    ("ECA_EVDISALLOW", 210, "Request inappropriate within subscription (monitor) update "
     "callback", False),
    ("ECA_BUILDGET", 216, "Database value get for that channel failed during channel search",
     True),
    ("ECA_NEEDSFP", 224, "Unable to initialize without the vxWorks VX_FP_TASK task option set",
     True),
    ("ECA_OVEVFAIL", 232, "Event queue overflow has prevented first pass event after event add",
     True),
    ("ECA_BADMONID", 242, "Bad event subscription (monitor) identifier", False),
    ("ECA_NEWADDR", 248, "Remote channel has new network address", True),
    ("ECA_NEWCONN", 259, "New or resumed network connection", True),
    ("ECA_NOCACTX", 264, "Specified task isnt a member of a CA context", True),
    ("ECA_DEFUNCT", 278, "Attempt to use defunct CA feature failed", True),
    ("ECA_EMPTYSTR", 280, "The supplied string is empty", True),
    ("ECA_NOREPEATER", 288, "Unable to spawn the CA repeater thread- auto reconnect will fail",
     True),
    ("ECA_NOCHANMSG", 296, "No channel id match for search reply- search reply ignored", True),
    ("ECA_DLCKREST", 304, "Reseting dead connection- will try to reconnect", True),
    ("ECA_SERVBEHIND", 312, "Server (IOC) has fallen behind or is not responding- still "
     "waiting", True),
    ("ECA_NOCAST", 320, "No internet interface with broadcast available", True),
    ("ECA_BADMASK", 330, "Invalid event selection mask", False),
    ("ECA_IODONE", 339, "IO operations have completed", False),
    ("ECA_IOINPROGRESS", 347, "IO operations are in progress", False),
    ("ECA_BADSYNCGRP", 354, "Invalid synchronous group identifier", False),
    ("ECA_PUTCBINPROG", 362, "Put callback timed out", False),
    ("ECA_NORDACCESS", 368, "Read access denied", False),
    ("ECA_NOWTACCESS", 376, "Write access denied", False),
    ("ECA_ANACHRONISM", 386, "Requested feature is no longer supported", False),
    ("ECA_NOSEARCHADDR", 392, "Empty PV search address list", False),
    ("ECA_NOCONVERT", 400, "No reasonable data conversion between client and server types",
     False),
    ("ECA_BADCHID", 410, "Invalid channel identifier", False),
    ("ECA_BADFUNCPTR", 418, "Invalid function pointer", False),
    ("ECA_ISATTACHED", 424, "Thread is already attached to a client context", False),
    ("ECA_UNAVAILINSERV", 432, "Not supported by attached service", False),
    ("ECA_CHANDESTROY", 440, "User destroyed channel", False),
    ("ECA_BADPRIORITY", 450, "Invalid channel priority", False),
    ("ECA_NOTTHREADED", 458, "Preemptive callback not enabled - additional threads may not "
     "join context", False),
    ("ECA_16KARRAYCLIENT", 464, "Client's protocol revision does not support transfers "
     "exceeding 16k bytes", False),
    ("ECA_CONNSEQTMO", 472, "Virtual circuit connection sequence aborted", False),
    ("ECA_UNRESPTMO", 480, "Virtual circuit unresponsive", False),
]


def _severity(value: int) -> CASeverity | int:
    try:
        return CASeverity(value & 7)
    except ValueError:
        return value & 7


def _make(name: str, value: int, description: str, defunct: bool) -> CAStatusCode:
    return CAStatusCode(name, value >> 3, value, _severity(value), value & 1, defunct,
                        description)


STATUS_BY_VALUE: dict[int, CAStatusCode] = {v: _make(n, v, d, f) for n, v, d, f in _TABLE}
STATUS_BY_NAME: dict[str, CAStatusCode] = {s.name: s for s in STATUS_BY_VALUE.values()}

ECA_NORMAL = STATUS_BY_NAME["ECA_NORMAL"]


def status_from_value(value: int) -> CAStatusCode:
    """The status for a wire value; unknown values decode to a placeholder, never raise."""
    status = STATUS_BY_VALUE.get(value)
    if status is None:
        status = CAStatusCode(f"ECA_UNKNOWN_{value}", value >> 3, value, _severity(value),
                              value & 1, False, f"Unknown CA status code {value}")
    return status


def eca(name: str) -> CAStatusCode:
    """Look a status up by name, e.g. ``eca('ECA_PUTFAIL')``."""
    return STATUS_BY_NAME[name]
