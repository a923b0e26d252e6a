"""caprobe.cli.common.for_each_pv: PVs looked up at once, output in argument order."""

from __future__ import annotations

import threading

import pytest

from caprobe.cli import common


def test_work_runs_concurrently_and_output_keeps_the_argument_order(capsys):
    names = ["a", "b", "c"]
    together = threading.Barrier(len(names), timeout=5)  # breaks unless all three run at once

    def work(name: str) -> str:
        together.wait()
        common.print_line(f"{name} out")
        common.warn(f"{name} err")
        return name.upper()

    assert list(common.for_each_pv(names, work)) == ["A", "B", "C"]
    captured = capsys.readouterr()
    assert captured.out == "a out\nb out\nc out\n"
    assert captured.err == "a err\nb err\nc err\n"


def test_an_exception_is_raised_at_its_turn_after_the_earlier_output(capsys):
    def work(name: str) -> str:
        common.print_line(name)
        if name == "b":
            raise KeyError("b failed")
        return name

    results = common.for_each_pv(["a", "b", "c"], work)
    assert next(results) == "a"
    with pytest.raises(KeyError, match="b failed"):
        next(results)
    assert capsys.readouterr().out == "a\nb\n"


def test_one_pv_runs_in_the_calling_thread(capsys):
    caller = threading.current_thread()
    assert list(common.for_each_pv(["only"], lambda name: threading.current_thread())) == [caller]


def test_verbose_tracebacks_stay_with_their_pv(capsys):
    def work(name: str) -> bool:
        try:
            raise ValueError(f"{name} broke")
        except ValueError:
            common.report(f"{name}: failed", verbose=True)
        return False

    assert list(common.for_each_pv(["x", "y"], work)) == [False, False]
    err = capsys.readouterr().err
    assert err.index("x: failed") < err.index("ValueError: x broke") < err.index("y: failed")
    assert err.index("y: failed") < err.index("ValueError: y broke")
