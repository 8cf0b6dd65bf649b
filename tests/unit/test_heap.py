"""Memory between storms: full collections and heap trims only while idle (or when overdue), the glibc
call real on this platform, and the collector's thresholds as documented."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import anyio
import pytest

from jobsched.runtime import heap


async def _tidy(answers: list[bool], full_every_s: float = 1e9) -> tuple[list[int], list[int], list[int]]:
    """Runs tidy_while_idle over a scripted busy() (one answer per period, one clock second each):
    after which answers it collected, collected thoroughly, and trimmed."""
    asked: list[bool] = []
    trims: list[int] = []
    collections: list[int] = []
    thorough: list[int] = []
    clock = [0.0]

    with anyio.CancelScope() as scope:

        def busy() -> bool:
            clock[0] += 1.0
            asked.append(answers[len(asked)])
            if len(asked) == len(answers):
                scope.cancel()  # ends the loop at its next sleep
            return asked[-1]

        def trim() -> bool:
            trims.append(len(asked))
            return True

        def collect() -> int:
            collections.append(len(asked))
            return 0

        def collect_thoroughly() -> int:
            thorough.append(len(asked))
            return 0

        await heap.tidy_while_idle(
            busy,
            trim,
            period_s=0.0,
            collect=collect,
            full_every_s=full_every_s,
            clock=lambda: clock[0],
            thorough=collect_thoroughly,
        )
    return collections, thorough, trims


async def test_collects_and_trims_only_while_nothing_is_busy() -> None:
    collections, thorough, trims = await _tidy([True, False, True, False])
    assert collections == [2, 4]  # after the second and the fourth check, the idle ones
    assert thorough == []
    assert trims == [2, 4]


async def test_a_process_never_idle_still_collects_thoroughly_when_twice_overdue_but_never_trims() -> None:
    collections, thorough, trims = await _tidy([True] * 13, full_every_s=3.0)
    assert collections == []
    assert thorough == [6, 12]
    assert trims == []


async def test_a_thorough_collection_due_in_a_storm_waits_for_the_first_idle_pass() -> None:
    collections, thorough, trims = await _tidy([True, True, True, False, False], full_every_s=2.0)
    assert thorough == [4]  # due at the second check, busy until the fourth
    assert collections == [5]
    assert trims == [4, 5]


async def test_an_idle_process_collects_thoroughly_instead_when_overdue() -> None:
    collections, thorough, trims = await _tidy([False] * 5, full_every_s=2.0)
    assert collections == [1, 3, 5]
    assert thorough == [2, 4]
    assert trims == [1, 2, 3, 4, 5]


def test_glibc_trim_is_callable_here() -> None:
    trim = heap.glibc_trim()
    assert trim is not None
    assert isinstance(trim(), bool)


def test_tune_collector_sets_the_documented_thresholds_and_setting_aside() -> None:
    before = gc.get_threshold()
    try:
        heap.tune_collector()
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, heap.MIDDLE_THRESHOLD, heap.FULL_THRESHOLD)
        assert heap._Collector.set_aside
    finally:
        gc.set_threshold(*before)
        heap._Collector.set_aside = False


@pytest.fixture
def set_aside(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(heap._Collector, "set_aside", True)
    try:
        yield
    finally:
        gc.unfreeze()


def test_an_untuned_process_never_sets_anything_aside() -> None:
    _reach_old_generation()
    heap.full_collection()
    heap.thorough_collection()
    assert gc.get_freeze_count() == 0


def test_the_idle_collection_skips_an_old_generation_that_has_not_grown() -> None:
    gc.collect()
    assert not heap.old_generation_grew()
    assert heap.full_collection() == 0


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    """A two-object reference cycle, unreachable once this returns: only the collector frees it."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def _reach_old_generation() -> None:
    gc.collect(1)  # a middle collection: what survived it counts as having reached the oldest


@pytest.mark.usefixtures("set_aside")
def test_a_full_collection_sets_survivors_aside_and_still_frees_new_cycles() -> None:
    _reach_old_generation()
    heap.full_collection()
    assert gc.get_freeze_count() > 0
    cycle = _cycle()
    _reach_old_generation()
    heap.full_collection()
    assert cycle() is None


@pytest.mark.usefixtures("set_aside")
def test_a_cycle_through_an_object_set_aside_waits_for_the_thorough_collection() -> None:
    old = _Node()
    _reach_old_generation()
    heap.full_collection()  # `old` is set aside
    new = _Node()
    old.other, new.other = new, old
    cycle = weakref.ref(old)
    del old, new
    _reach_old_generation()
    heap.full_collection()
    assert cycle() is not None  # set aside: the cheap collection does not look at it
    assert heap.thorough_collection() >= 2
    assert cycle() is None
    assert gc.get_freeze_count() > 0  # the survivors are set aside again
