"""caprobe.gui.heap: when full collections may run, and the PV table's use of it on a real IOC."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import many_ioc
import pytest
import servers

from caprobe.gui import heap
from caprobe.gui.service import PVService
from caprobe.gui.table.view import SETTLE_AFTER_ROWS, PVTableView


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_settle_freezes_the_heap_and_keeps_full_collections_rare() -> None:
    gc.set_threshold(700, 10, 10)
    heap.settle_heap()
    assert gc.get_freeze_count() > 1000  # the start-up heap is out of the collector's way
    assert gc.get_threshold() == (700, 10, heap.FULL_COLLECTION_EVERY)


def test_settle_never_makes_collections_more_frequent() -> None:
    gc.set_threshold(50_000, 30, 500)
    heap.settle_heap(heap.BUSY_THRESHOLDS)
    assert gc.get_threshold() == (50_000, 30, 500)
    gc.set_threshold(700, 10, 10)
    heap.settle_heap(heap.BUSY_THRESHOLDS)
    assert gc.get_threshold() == heap.BUSY_THRESHOLDS


def test_deferred_full_collections_come_back_with_a_settle_or_a_resume() -> None:
    gc.set_threshold(700, 10, 10)
    heap.defer_full_collections()
    assert heap.full_collections_deferred()
    assert gc.get_threshold()[:2] == (700, 10)  # young collections go on
    heap.settle_heap()
    assert not heap.full_collections_deferred()
    assert gc.get_threshold() == (700, 10, heap.FULL_COLLECTION_EVERY)
    heap.defer_full_collections()
    heap.resume_full_collections()
    assert gc.get_threshold() == (700, 10, heap.FULL_COLLECTION_EVERY)
    heap.resume_full_collections()  # nothing deferred: nothing changes
    assert gc.get_threshold() == (700, 10, heap.FULL_COLLECTION_EVERY)


@pytest.fixture(scope="module")
def ioc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    server = many_ioc.start(tmp_path_factory.mktemp("heap_ioc"), count=SETTLE_AFTER_ROWS + 50)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def table(qtbot, ioc, ca_env) -> Iterator[PVTableView]:
    ca_env(ioc)
    service = PVService(search_timeout=1.0)
    view = PVTableView(service)
    qtbot.addWidget(view)
    view.show()
    yield view
    view.shutdown()
    assert service.shutdown(3000)


def test_a_big_load_defers_full_collections_until_its_rows_have_values(qtbot, ioc, table):
    gc.set_threshold(700, 10, 10)
    frozen = gc.get_freeze_count()
    names = [many_ioc.set_name(ioc.prefix, i) for i in range(SETTLE_AFTER_ROWS + 50)]
    table.add_names(names)
    assert heap.full_collections_deferred()
    qtbot.waitUntil(lambda: not heap.full_collections_deferred(), timeout=10_000)
    # settled because the load was in, not because the deadline passed
    assert all(row.connected and row.response is not None for row in table.model.rows)
    assert gc.get_freeze_count() > frozen + 1000  # rows, subscriptions, channels frozen
    assert gc.get_threshold() == heap.BUSY_THRESHOLDS


def test_a_few_rows_change_nothing(qtbot, ioc, table):
    gc.set_threshold(700, 10, 10)
    table.add_names([many_ioc.set_name(ioc.prefix, i) for i in range(5)])
    assert gc.get_threshold() == (700, 10, 10)


def test_closing_during_a_load_gives_full_collections_back(qtbot, ioc, table):
    gc.set_threshold(700, 10, 10)
    table.add_names([many_ioc.set_name(ioc.prefix, i) for i in range(SETTLE_AFTER_ROWS + 50)])
    assert heap.full_collections_deferred()
    table.shutdown()
    assert gc.get_threshold() == (700, 10, heap.FULL_COLLECTION_EVERY)


def test_a_big_paste_of_names_already_there_defers_nothing(qtbot, ioc, table):
    names = [many_ioc.set_name(ioc.prefix, i) for i in range(SETTLE_AFTER_ROWS + 50)]
    table.add_names(names)
    qtbot.waitUntil(lambda: not heap.full_collections_deferred(), timeout=10_000)
    gc.set_threshold(700, 10, 10)
    frozen = gc.get_freeze_count()
    assert table.add_names(names) == []
    assert not heap.full_collections_deferred()
    assert gc.get_threshold() == (700, 10, heap.FULL_COLLECTION_EVERY)
    assert gc.get_freeze_count() == frozen  # no settle, no collection
