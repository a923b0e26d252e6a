"""caprobe's command-line tools in the habits of EPICS base's caget/caput/camonitor/cainfo.

Each module (get, put, monitor, info) has ``main(argv=None) -> int`` (installed as
``caprobe-get`` etc. and dispatched by ``caprobe get|put|monitor|info``).  All text comes
from :mod:`caprobe.format`, shared with the GUI.
"""

TOOLS = ("get", "put", "monitor", "info")
