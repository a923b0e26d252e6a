"""Unit tests of the strip chart's numpy buffers, collector and CSV export (no Qt, no network)."""

from __future__ import annotations

import csv
import io
import math
import threading

import numpy as np
import pytest

from caprobe.chart_data import (
    SEVERITY_DISCONNECTED,
    SampleCollector,
    TraceBuffer,
    read_csv_rows,
    severity_name,
    trace_statistics,
    write_csv,
    write_csv_aligned,
)


def _fill(buf: TraceBuffer, t: np.ndarray, v: np.ndarray | None = None) -> None:
    v = t * 10 if v is None else v
    buf.extend(t, v, np.zeros(len(t), np.int8))


def test_append_keeps_order_and_values() -> None:
    buf = TraceBuffer(max_samples=100, initial_size=16)
    for i in range(50):
        buf.append(float(i), float(i) * 2, i % 4)
    assert len(buf) == 50
    np.testing.assert_array_equal(buf.times, np.arange(50.0))
    np.testing.assert_array_equal(buf.values, np.arange(50.0) * 2)
    np.testing.assert_array_equal(buf.severities, np.arange(50) % 4)
    assert buf.last_value == 98.0 and buf.last_severity == 1


def test_capacity_cap_keeps_newest_across_many_wraps() -> None:
    buf = TraceBuffer(max_samples=1000, initial_size=16)
    for start in range(0, 20_000, 137):  # odd batch size: wraps land everywhere
        _fill(buf, np.arange(start, start + 137, dtype=float))
    assert len(buf) == 1000
    last = 20_000 - 20_000 % 137 + (137 if 20_000 % 137 else 0) - 1
    np.testing.assert_array_equal(buf.times, np.arange(last - 999, last + 1, dtype=float))
    np.testing.assert_array_equal(buf.values, buf.times * 10)
    # memory stays bounded by cap x (1 + slack), whatever the number of appends
    assert len(buf._t) <= int(1000 * 1.5) + 2


def test_batch_larger_than_capacity() -> None:
    buf = TraceBuffer(max_samples=10, initial_size=4)
    _fill(buf, np.arange(100.0))
    np.testing.assert_array_equal(buf.times, np.arange(90.0, 100.0))


def test_views_handed_out_stay_valid_after_reallocation() -> None:
    buf = TraceBuffer(max_samples=64, initial_size=16)
    _fill(buf, np.arange(10.0))
    old_view = buf.times
    snapshot = old_view.copy()
    _fill(buf, np.arange(10.0, 500.0))  # forces several reallocations
    np.testing.assert_array_equal(old_view, snapshot)


def test_retention_trims_old_samples_at_reallocation() -> None:
    buf = TraceBuffer(max_samples=1_000_000, retention_s=10.0, initial_size=16)
    for s in range(100):
        _fill(buf, np.arange(s * 10, s * 10 + 10) / 10.0)  # 10 Hz for 100 s
    # lazily trimmed: everything within the window is kept, old data bounded
    assert buf.times[-1] == pytest.approx(99.9)
    assert buf.times[0] <= 99.9 - 10.0
    assert len(buf) < 2 * 10 * 10 * 1.5 + 20


def test_out_of_order_sample_inserted_sorted() -> None:
    buf = TraceBuffer(max_samples=100)
    _fill(buf, np.array([1.0, 2.0, 4.0, 5.0]))
    buf.append(3.0, 30.0, 2)
    np.testing.assert_array_equal(buf.times, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(buf.values, [10, 20, 30, 40, 50])
    assert buf.severities[2] == 2
    assert buf.reordered == 1


def test_unsorted_batch_is_sorted_stably() -> None:
    buf = TraceBuffer(max_samples=100)
    _fill(buf, np.array([1.0, 5.0]))
    buf.extend(np.array([4.0, 2.0, 6.0, 4.0]), np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4))
    np.testing.assert_array_equal(buf.times, [1, 2, 4, 4, 5, 6])
    np.testing.assert_array_equal(buf.values, [10, 2, 1, 4, 50, 3])  # equal times: arrival order


def test_far_out_of_order_sample_is_clamped_not_lost() -> None:
    buf = TraceBuffer(max_samples=1000, reorder_lookback=8)
    _fill(buf, np.arange(100.0))
    buf.append(3.0, -1.0, 0)
    assert buf.clamped == 1
    assert buf.times[-1] == 99.0 and buf.values[-1] == -1.0
    assert np.all(np.diff(buf.times) >= 0)


def test_gap_is_nan_with_disconnected_severity() -> None:
    buf = TraceBuffer()
    _fill(buf, np.array([1.0, 2.0]))
    buf.add_gap(2.5)
    _fill(buf, np.array([3.0]))
    assert math.isnan(buf.values[2]) and buf.severities[2] == SEVERITY_DISCONNECTED
    assert buf.last_value == 30.0
    assert severity_name(SEVERITY_DISCONNECTED) == "DISCONNECTED"


def test_view_to_holds_last_value_until_now_without_touching_data() -> None:
    buf = TraceBuffer()
    _fill(buf, np.array([1.0, 2.0]))
    t, v = buf.view_to(10.0)
    np.testing.assert_array_equal(t, [1, 2, 10])
    np.testing.assert_array_equal(v, [10, 20, 20])
    assert len(buf) == 2
    _fill(buf, np.array([3.0]))  # overwrites the hold slot
    np.testing.assert_array_equal(buf.times, [1, 2, 3])
    # a disconnected trace is not extended (NaN held)
    buf.add_gap(4.0)
    t, v = buf.view_to(10.0)
    assert math.isnan(v[-1])


def test_value_at_and_ranges() -> None:
    buf = TraceBuffer()
    _fill(buf, np.array([1.0, 2.0, 3.0]), np.array([5.0, -1.0, 7.0]))
    assert buf.value_at(0.5) is None
    assert buf.value_at(2.5) == (-1.0, 0)
    assert buf.finite_range() == (-1.0, 7.0)
    assert buf.finite_range(2.5, 10) == (7.0, 7.0)
    assert buf.index_range(1.5, 2.5) == slice(1, 2)


def test_collector_batches_and_grows_under_load() -> None:
    col = SampleCollector()

    def producer(name: str) -> None:
        for i in range(5000):
            col.add_sample(name, float(i), float(i), 0)

    threads = [threading.Thread(target=producer, args=(f"pv{k}",)) for k in range(4)]
    got: dict[str, list[np.ndarray]] = {}
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads):
        batch = col.drain()
        for pv, (t, _v, _s) in batch.samples.items():
            got.setdefault(pv, []).append(t)
    for th in threads:
        th.join()
    for pv, (t, _v, _s) in col.drain().samples.items():
        got.setdefault(pv, []).append(t)
    for k in range(4):
        np.testing.assert_array_equal(np.concatenate(got[f"pv{k}"]), np.arange(5000.0))
    assert col.total_samples == 20000


def test_collector_disconnect_and_metadata() -> None:
    col = SampleCollector()
    col.add_sample("a", 1.0, 1.0, 0)
    col.add_disconnect("a", 2.0)
    col.set_metadata("a", {"units": "mm"})
    batch = col.drain()
    t, v, s = batch.samples["a"]
    assert list(t) == [1.0, 2.0] and math.isnan(v[1]) and s[1] == SEVERITY_DISCONNECTED
    assert batch.connection == {"a": False} and batch.metadata == {"a": {"units": "mm"}}
    assert not col.drain()


def test_csv_export_round_trip_and_time_range() -> None:
    a = TraceBuffer()
    a.extend(np.array([1e9, 1e9 + 0.5, 1e9 + 1]), np.array([1.5, np.nan, 3.25]), np.array([0, 4, 2]))
    b = TraceBuffer()
    b.append(1e9 + 0.25, -7.0, 1)
    out = io.StringIO()
    assert write_csv(out, {"A": a, "B": b}) == 4
    rows = read_csv_rows(io.StringIO(out.getvalue()))
    assert [r["pv"] for r in rows] == ["A", "A", "A", "B"]
    assert [r["value"] for r in rows] == ["1.5", "", "3.25", "-7"]
    assert [r["severity"] for r in rows] == ["NO_ALARM", "DISCONNECTED", "MAJOR", "MINOR"]
    assert float(rows[1]["epoch_seconds"]) == pytest.approx(1e9 + 0.5)
    assert rows[0]["time"].startswith("2001-09-")  # local ISO time, offset included
    out = io.StringIO()
    # the visible range starts after A's first sample: that sample is held into the range
    assert write_csv(out, {"A": a, "B": b}, 1e9 + 0.2, 1e9 + 0.6, units={"A": "mA"}) == 3
    rows = read_csv_rows(io.StringIO(out.getvalue()))
    assert [(r["pv"], r["value"], r["units"]) for r in rows] == [
        ("A", "1.5", "mA"), ("A", "", "mA"), ("B", "-7", "")]


def test_aligned_csv_holds_values_and_names_units() -> None:
    a = TraceBuffer()
    a.extend(np.array([10.0, 20.0, 30.0]), np.array([1.0, np.nan, 3.0]), np.array([0, 4, 2]))
    b = TraceBuffer()
    b.append(5.0, 7.5, 1)  # older than the range: held in every row
    c = TraceBuffer()  # no data at all
    out = io.StringIO()
    n = write_csv_aligned(out, {"A": a, "B": b, "C": c}, 12.0, 30.0, units={"A": "mm"})
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["time", "epoch_seconds", "A [mm]", "A severity", "B", "B severity",
                       "C", "C severity"]
    assert n == 3 and [float(r[1]) for r in rows[1:]] == [12.0, 20.0, 30.0]
    assert [r[2:6] for r in rows[1:]] == [
        ["1", "NO_ALARM", "7.5", "MINOR"],
        ["", "DISCONNECTED", "7.5", "MINOR"],
        ["3", "MAJOR", "7.5", "MINOR"],
    ]
    assert all(r[6:] == ["", ""] for r in rows[1:])
    out = io.StringIO()
    assert write_csv_aligned(out, {"A": a, "B": b}) == 4  # whole buffer: 5, 10, 20, 30


def test_statistics_of_a_range() -> None:
    buf = TraceBuffer()
    t = np.arange(10, dtype=float)
    v = np.array([1, 2, 3, 4, np.nan, 6, 7, 8, 9, -1], float)
    buf.extend(t, v, np.zeros(10, np.int8))
    st = trace_statistics(buf, 1.0, 8.0)
    finite = np.array([2, 3, 4, 6, 7, 8, 9], float)
    assert st.count == 7 and st.gaps == 1
    assert (st.minimum, st.maximum) == (2.0, 9.0)
    assert st.mean == pytest.approx(finite.mean()) and st.std == pytest.approx(finite.std())
    assert (st.first_time, st.last_time) == (1.0, 8.0)
    assert trace_statistics(buf, None, None).non_positive == 1
    empty = trace_statistics(buf, 100.0, 200.0)
    assert empty.count == 0 and math.isnan(empty.mean) and empty.first_time is None
