"""A snapshot with one PV of every kind, shared by the file-format tests."""

from __future__ import annotations

import numpy as np

from caprobe.snapshot.model import SavedPV, Snapshot, Tolerance

T0 = 1_796_659_392_500_000_123  # 2026-12-07T...Z with nanoseconds


def sample_snapshot() -> Snapshot:
    return Snapshot(
        time_ns=T0,
        comment='Before the "magnet" study\nsecond line',
        tolerance=Tolerance(0.5, 0.0),
        timeout=30.0,
        pvs=[
            SavedPV("T:ai", 1.5, "DOUBLE", "mm", 0, 0, T0),
            SavedPV("T:tiny", 1e-300, "DOUBLE", "", 1, 4, T0 + 1),
            SavedPV("T:exact", 0.1 + 0.2, "DOUBLE", "", 0, 0, T0),
            SavedPV("T:nan", float("nan"), "DOUBLE", "", 3, 17, 0),
            SavedPV("T:inf", float("-inf"), "DOUBLE", "", 0, 0, T0),
            SavedPV("T:float", float(np.float32(0.1)), "FLOAT", "V", 0, 0, T0),
            SavedPV("T:long", -2147483648, "LONG", "cts", 0, 0, T0),
            SavedPV("T:short", 7, "SHORT", "", 0, 0, T0),
            SavedPV("T:bo", "On", "ENUM", "", 2, 7, T0),
            SavedPV("T:idx", 5, "ENUM", "", 0, 0, T0),
            SavedPV("T:str", 'hé "quoted" \\ tab\there', "STRING", "", 0, 0, T0),
            SavedPV("T:empty", "", "STRING", "", 0, 0, T0),
            SavedPV("T:wf", np.array([0.5, 1.5, -2.5e10]), "DOUBLE", "s", 0, 0, T0),
            SavedPV("T:wfl", np.array([1, -2, 2**31 - 1], dtype=np.int32), "LONG", "", 0, 0,
                    T0),
            SavedPV("T:chars", np.array([104, 105, 0, 255], dtype=np.uint8), "CHAR", "", 0,
                    0, T0),
            SavedPV("T:strs", ["a b", "c\"d"], "STRING", "", 0, 0, T0),
            SavedPV("T:none", np.array([], dtype=np.float64), "DOUBLE", "", 0, 0, T0),
            SavedPV("T:gone", error="not connected (search timed out)"),
            SavedPV("T:tol", 3.0, "DOUBLE", "", 0, 0, T0, tolerance=Tolerance(0.1, 0.02)),
            SavedPV("T:unsel", 4.0, "DOUBLE", "", 0, 0, T0, selected=False),
            SavedPV("T:text", "12.5", None, "", None, None, None),
        ],
    )
