"""Who we are (host and user names sent to servers) and who they are (a server's host name by
reverse DNS, as cainfo shows it)."""

from __future__ import annotations

import functools
import getpass
import os
import socket
import threading

_host_names: dict[str, str] = {}
_lookups: dict[str, threading.Event] = {}  # lookups still running, so a second caller waits
_host_names_lock = threading.Lock()


def host_name(address: str, timeout: float = 0.5) -> str:
    """The name of a server's host for display, as libca's ``ca_host_name`` gives it to
    cainfo (reverse DNS: ``127.0.0.1`` -> ``localhost``); the address itself when it has no
    name or the lookup takes longer than ``timeout`` (it then goes on in the background and
    later calls get its answer). Answers are kept for the life of the process; one lookup
    per address runs at a time, however many callers ask."""
    with _host_names_lock:
        known = _host_names.get(address)
        if known is not None:
            return known
        done = _lookups.get(address)
        if done is None:
            done = _lookups[address] = threading.Event()
            threading.Thread(target=_look_up, args=(address, done), name="caprobe-host-name",
                             daemon=True).start()
    done.wait(timeout)
    with _host_names_lock:
        return _host_names.get(address, address)


def _look_up(address: str, done: threading.Event) -> None:
    try:
        name = socket.gethostbyaddr(address)[0] or address
    except (OSError, UnicodeError):
        name = address
    with _host_names_lock:
        _host_names[address] = name
        _lookups.pop(address, None)
    done.set()


@functools.lru_cache(maxsize=1)
def client_identity() -> tuple[str, str]:
    """(host name, user name) as sent in HOST_NAME and CLIENT_NAME (access security)."""
    try:
        user = getpass.getuser()
    except Exception:  # getuser raises various errors in containers without a passwd entry
        user = os.environ.get("USER", "unknown")
    return socket.gethostname(), user
