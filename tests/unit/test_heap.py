"""Heap trimming: only between storms, and the glibc call is real on this platform."""

from __future__ import annotations

import anyio

from jobsched.runtime import heap


async def test_trims_only_while_nothing_is_busy() -> None:
    answers = [True, False, True, False]
    asked: list[bool] = []
    trims: list[int] = []

    with anyio.CancelScope() as scope:

        def busy() -> bool:
            asked.append(answers[len(asked)])
            if len(asked) == len(answers):
                scope.cancel()  # ends the loop at its next sleep
            return asked[-1]

        def trim() -> bool:
            trims.append(len(asked))
            return True

        await heap.trim_while_idle(busy, trim, period_s=0.0)
    assert trims == [2, 4]  # after the second and the fourth check, the idle ones


def test_glibc_trim_is_callable_here() -> None:
    trim = heap.glibc_trim()
    assert trim is not None
    assert isinstance(trim(), bool)
