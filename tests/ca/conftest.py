"""Fixtures for the caprobe.ca tests against EPICS base's rsrv (softioc)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import ca_helpers
import pytest


@pytest.fixture
def sent_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every WRITE / WRITE_NOTIFY the client builds during the test."""
    return ca_helpers.spy_on_writes(monkeypatch)


@pytest.fixture
def restore(softioc_env: Any) -> Iterator[Callable[[str, Any], None]]:
    """``restore(suffix, value)``: write ``value`` back to the softIoc when the test ends."""
    yield from ca_helpers.restorer(softioc_env)


@pytest.fixture
def slow_record(softioc_env: Any) -> Iterator[str]:
    """The softIoc's ``slow`` record (put completion after 0.5 s), idle before and after."""
    yield from ca_helpers.slow_record_session(softioc_env)
