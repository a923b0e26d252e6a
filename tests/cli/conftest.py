"""Fixtures for the CLI tests (helpers to run the tools are in cli_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import servers


@pytest.fixture(scope="module")
def private_ioc() -> Iterator[servers.Server]:
    """A soft IOC of this test module's own, for tests that write (the session IOC is shared
    and must keep its initial values)."""
    server = servers.start_softioc(ramps=())
    try:
        yield server
    finally:
        server.close()
