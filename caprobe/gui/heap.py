"""When the cycle collector may make its full passes: never in the middle of the operator's work.

A full pass walks every object the collector tracks with the GIL held, in whichever thread
happens to allocate; the GUI thread stalls for all of it. A window with 5,000 PVs in its
table tracks ~350,000 objects (rows, subscriptions, channels, the newest response of each
PV): one pass is 70-140 ms on a 2-core machine, and with Python's default thresholds it
ran twice a second while the table filled and updated (bench/bench_table.py).

The policy, in three moves:

* :func:`settle_heap` collects once, then freezes everything alive (gc.freeze: those
  objects are never walked again) and makes full passes rarer. The app calls it when the
  window is up; the PV table calls it once a big load has settled.
* :func:`defer_full_collections` turns full passes off while a big load is under way
  (thousands of rows connecting, each creating objects that all survive), so the load does
  not pay for passes over a heap that the coming :func:`settle_heap` freezes anyway.
  Young collections still run; reference counting still frees everything acyclic.
* after a settle, only objects created since (the newest responses, a few per PV) are
  walked: a pass over them is a few ms.
"""

from __future__ import annotations

import gc

#: Full collections only after this many middle-generation ones (CPython's default is 10).
FULL_COLLECTION_EVERY = 100

#: Thresholds once a big table runs (Python's default is 700, 10, 10). 5,000 PVs at 10 Hz
#: make ~100,000 short-lived objects a second (responses, numpy views); fewer, larger young
#: collections cost less in all (app CPU 48 -> 36 %, bench/bench_table.py).
BUSY_THRESHOLDS = (10_000, 20, FULL_COLLECTION_EVERY)

#: The oldest generation's threshold while full passes are deferred: never reached.
_NEVER = 1 << 30


def settle_heap(thresholds: tuple[int, int, int] | None = None) -> None:
    """Collect once, freeze what is alive, and keep full passes rare from now on.

    ``thresholds``: the collector's thresholds after this; each is at least the current
    one (a settle never makes collections more frequent), and the oldest generation's is
    at least :data:`FULL_COLLECTION_EVERY`. Undoes :func:`defer_full_collections`."""
    young, middle, old = gc.get_threshold()
    if old >= _NEVER:
        old = FULL_COLLECTION_EVERY
    wanted = thresholds or (young, middle, FULL_COLLECTION_EVERY)
    gc.collect()
    gc.freeze()
    gc.set_threshold(max(young, wanted[0]), max(middle, wanted[1]),
                     max(old, wanted[2], FULL_COLLECTION_EVERY))


def defer_full_collections() -> None:
    """No full pass until the next :func:`settle_heap` (young and middle ones go on)."""
    young, middle, _old = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)


def resume_full_collections() -> None:
    """Undo :func:`defer_full_collections` without a settle (a load abandoned)."""
    young, middle, old = gc.get_threshold()
    if old >= _NEVER:
        gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def full_collections_deferred() -> bool:
    return gc.get_threshold()[2] >= _NEVER


__all__ = ["BUSY_THRESHOLDS", "FULL_COLLECTION_EVERY", "defer_full_collections",
           "full_collections_deferred", "resume_full_collections", "settle_heap"]
