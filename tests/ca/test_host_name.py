"""caprobe.ca.host_name: the server host's name for display, never a long wait.

Only loopback is looked up for real; slow and failing resolvers are stand-ins, so no test
sends a DNS query off this machine.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from caprobe.ca import host_name
from caprobe.ca import hostname as ca_client


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ca_client, "_host_names", {})


def test_loopback_has_the_name_the_system_gives_it():
    assert host_name("127.0.0.1") == socket.gethostbyaddr("127.0.0.1")[0]


def test_an_address_without_a_name_is_shown_as_the_address(monkeypatch):
    def no_name(address: str) -> tuple[str, list[str], list[str]]:
        raise socket.herror(1, "Unknown host")

    monkeypatch.setattr(socket, "gethostbyaddr", no_name)
    assert host_name("10.1.2.3") == "10.1.2.3"


def test_a_slow_resolver_costs_at_most_the_timeout_and_answers_later(monkeypatch):
    release = threading.Event()

    def slow(address: str) -> tuple[str, list[str], list[str]]:
        release.wait(5)
        return ("ioc-sr-01.example", [], [address])

    monkeypatch.setattr(socket, "gethostbyaddr", slow)
    started = time.monotonic()
    assert host_name("10.1.2.3", timeout=0.1) == "10.1.2.3"
    assert time.monotonic() - started < 1.0
    release.set()
    deadline = time.monotonic() + 5
    while host_name("10.1.2.3", timeout=0.1) != "ioc-sr-01.example":
        assert time.monotonic() < deadline
    # answered from the cache from now on, without another lookup
    monkeypatch.setattr(socket, "gethostbyaddr", lambda address: pytest.fail("looked up again"))
    assert host_name("10.1.2.3") == "ioc-sr-01.example"
