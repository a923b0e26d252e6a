"""The many-record soft IOC, shared by the snapshot tests of this directory."""

from __future__ import annotations

from collections.abc import Iterator

import many_ioc
import pytest
import servers


@pytest.fixture(scope="session")
def many_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    server = many_ioc.start(tmp_path_factory.mktemp("many_ioc"), count=2000)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def many_env(many_server: servers.Server, ca_env) -> servers.Server:
    return ca_env(many_server)
