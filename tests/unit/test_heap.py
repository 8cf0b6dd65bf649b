"""Memory between storms: full collections and heap trims only while idle (or when overdue), the glibc
call real on this platform, and the collector's thresholds as documented."""

from __future__ import annotations

import gc

import anyio

from jobsched.runtime import heap


async def _tidy(answers: list[bool], full_every_s: float = 1e9) -> tuple[list[int], list[int]]:
    """Runs tidy_while_idle over a scripted busy() (one answer per period, one clock second each)."""
    asked: list[bool] = []
    trims: list[int] = []
    collections: list[int] = []
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

        await heap.tidy_while_idle(
            busy, trim, period_s=0.0, collect=collect, full_every_s=full_every_s, clock=lambda: clock[0]
        )
    return collections, trims


async def test_collects_and_trims_only_while_nothing_is_busy() -> None:
    collections, trims = await _tidy([True, False, True, False])
    assert collections == [2, 4]  # after the second and the fourth check, the idle ones
    assert trims == [2, 4]


async def test_a_process_never_idle_still_collects_when_overdue_but_never_trims() -> None:
    collections, trims = await _tidy([True] * 7, full_every_s=3.0)
    assert collections == [3, 6]
    assert trims == []


def test_glibc_trim_is_callable_here() -> None:
    trim = heap.glibc_trim()
    assert trim is not None
    assert isinstance(trim(), bool)


def test_tune_collector_sets_the_documented_thresholds() -> None:
    before = gc.get_threshold()
    try:
        heap.tune_collector()
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, heap.MIDDLE_THRESHOLD, heap.FULL_THRESHOLD)
    finally:
        gc.set_threshold(*before)


def test_the_idle_collection_skips_an_old_generation_that_has_not_grown() -> None:
    gc.collect()
    assert not heap.old_generation_grew()
    assert heap.full_collection() == 0
