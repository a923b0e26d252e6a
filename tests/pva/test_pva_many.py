"""caprobe.pva.read_many / write_many against the p4p server: caprobe.ca.many's contract
(results in the order asked, a failing PV gets its exception object, one timeout for all)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("p4p")

from caprobe import pva  # noqa: E402


@pytest.fixture
def p4p(p4p_server: Any, pva_env: Callable[[Any], Any]) -> Iterator[Any]:
    server = pva_env(p4p_server)
    yield server
    pva.write_many([server.pv("double"), server.pv("enum"), server.pv("int_array")],
                   [1.5, "Off", [1, -2, 3]], notify=True, timeout=5)


def test_read_many_keeps_order_and_gives_each_failure_its_exception(p4p: Any) -> None:
    names = [p4p.pv("double"), p4p.pv("nothere"), "bad name", p4p.pv("enum"),
             p4p.pv("table"), p4p.pv("string_array")]
    results = pva.read_many(names, timeout=1.0)
    assert len(results) == len(names)
    assert results[0].data.tolist() == [1.5] and results[0].metadata.units == "mm"
    assert isinstance(results[1], pva.CATimeoutError) and "not found" in str(results[1])
    assert isinstance(results[2], pva.ValueRefused) and "white space" in str(results[2])
    assert results[3].data.tolist() == ["Off"] and results[3].index == 0
    assert results[4].layout.kind == "table"
    assert results[5].data.tolist() == ["a", "b"]
    assert pva.read_many([], timeout=1.0) == []


def test_many_missing_pvs_share_one_timeout(p4p: Any) -> None:
    results = pva.read_many([p4p.pv(f"gone{i}") for i in range(200)] + [p4p.pv("long")],
                            timeout=1.0)
    assert all(isinstance(r, pva.CATimeoutError) for r in results[:-1])
    assert results[-1].data.tolist() == [42]


def test_write_many_checks_each_value_and_writes_the_rest(p4p: Any) -> None:
    names = [p4p.pv("double"), p4p.pv("enum"), p4p.pv("int_array"), p4p.pv("ro"),
             p4p.pv("long"), p4p.pv("nothere")]
    results = pva.write_many(names, [2.5, "Fault", np.array([7, 8], dtype=np.int32), 1.0,
                                     2**40, 1.0], notify=True, timeout=1.0)
    assert [type(r).__name__ for r in results] == [
        "PVAWriteResponse", "PVAWriteResponse", "PVAWriteResponse", "WriteFailed",
        "ValueRefused", "CATimeoutError"]
    assert "no write access" in str(results[3])
    assert "out of range" in str(results[4]) and "nothing was written" in str(results[4])
    now = pva.read_many(names[:5], timeout=1.0)
    assert now[0].data.tolist() == [2.5] and now[1].data.tolist() == ["Fault"]
    assert now[2].data.tolist() == [7, 8]
    assert now[3].data.tolist() == [3.25] and now[4].data.tolist() == [42]
    # check=False: a refused put is returned, not raised
    refused = pva.write_many([p4p.pv("ro")], [1.0], notify=True, timeout=1.0, check=False)
    assert refused[0].completed is False and "read-only" in refused[0].message
    with pytest.raises(ValueError, match="2 PV names but 1 values"):
        pva.write_many(names[:2], [1.0])


def test_check_value_refuses_what_a_write_would(p4p: Any) -> None:
    double, enum = pva.read_many([p4p.pv("double"), p4p.pv("enum")], timeout=1.0)
    assert pva.check_value(double, "2.5") == {"value": 2.5}
    assert pva.check_value(enum, "On") == {"value.index": 1}
    with pytest.raises(pva.ValueRefused, match="not one of the states"):
        pva.check_value(enum, "Bogus")
    with pytest.raises(pva.ValueRefused, match="not a number"):
        pva.check_value(double, "abc")
