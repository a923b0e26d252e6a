"""Compare with absolute/relative tolerance, across types and file kinds."""

from __future__ import annotations

import numpy as np

from caprobe.snapshot.compare import DIFFERS, NOT_SAVED, SAME, UNREADABLE, compare_pv
from caprobe.snapshot.model import SavedPV, Tolerance


def pv(value, dbf="DOUBLE", **kw):
    return SavedPV("X", value, dbf, **kw)


def test_numbers_with_tolerance():
    assert compare_pv(pv(1.0), pv(1.0)).state == SAME
    assert compare_pv(pv(1.0), pv(1.0 + 1e-12)).state == DIFFERS  # exact by default
    assert compare_pv(pv(1.0), pv(1.05), Tolerance(0.1)).state == SAME
    assert compare_pv(pv(1.0), pv(1.2), Tolerance(0.1)).state == DIFFERS
    assert compare_pv(pv(100.0), pv(101.0), Tolerance(0, 0.02)).state == SAME
    assert compare_pv(pv(100.0), pv(103.0), Tolerance(0, 0.02)).state == DIFFERS
    # the larger of the two wins
    assert compare_pv(pv(0.0), pv(0.05), Tolerance(0.1, 0.5)).state == SAME
    result = compare_pv(pv(1.0), pv(3.5))
    assert result.signed_delta == 2.5 and result.line("mm") == "X 1 -> 3.5 (+2.5 mm)"


def test_nan_and_inf():
    nan = float("nan")
    assert compare_pv(pv(nan), pv(nan)).state == SAME
    assert compare_pv(pv(nan), pv(1.0), Tolerance(1e9)).state == DIFFERS
    assert compare_pv(pv(float("inf")), pv(float("inf"))).state == SAME
    assert compare_pv(pv(float("inf")), pv(float("-inf")), Tolerance(1e300)).state == DIFFERS


def test_arrays():
    a = np.array([1.0, 2.0, 3.0])
    assert compare_pv(pv(a), pv(a.copy())).state == SAME
    result = compare_pv(pv(a), pv(np.array([1.0, 2.5, 3.0])))
    assert result.state == DIFFERS and "1 of 3 elements differ" in result.detail
    result = compare_pv(pv(a), pv(np.array([1.0, 2.0])))
    assert result.state == DIFFERS and "3 elements saved, 2 now" in result.detail


def test_text_saved_against_typed_live():
    assert compare_pv(pv("1.5", None), pv(1.5)).state == SAME
    assert compare_pv(pv(["1", "2"], None), pv(np.array([1, 2], dtype=np.int32), "LONG")
                      ).state == SAME
    result = compare_pv(pv("abc", None), pv(1.5))
    assert result.state == DIFFERS and "not a number" in result.detail
    assert compare_pv(pv("hello", None), pv("hello", "STRING")).state == SAME


def test_enums_by_index_or_state():
    states = ("Off", "On")
    assert compare_pv(pv("1", None), pv("On", "ENUM", states=states)).state == SAME
    assert compare_pv(pv("On", "ENUM"), pv("On", "ENUM", states=states)).state == SAME
    assert compare_pv(pv(0, "ENUM"), pv("On", "ENUM", states=states)).state == DIFFERS


def test_missing_sides_and_type_change():
    assert compare_pv(pv(1.0), SavedPV("X", error="not connected")).state == UNREADABLE
    assert compare_pv(SavedPV("X", error="gone"), pv(1.0)).state == NOT_SAVED
    result = compare_pv(pv(1.0), pv("1.0", "STRING"))
    assert result.state == DIFFERS and "type changed" in result.detail
    assert compare_pv(pv(2, "LONG"), pv(2.0, "DOUBLE")).state == SAME


def test_two_untyped_files():
    assert compare_pv(pv("5", None), pv("5.0", None)).state == SAME
    result = compare_pv(pv("5", None), pv("6.5", None))
    assert result.state == DIFFERS and result.signed_delta == 1.5
    assert compare_pv(pv("abc", None), pv("abc", None)).state == SAME
    assert compare_pv(pv("abc", None), pv("abd", None)).state == DIFFERS
