"""The hand-over keeper skips a Job while it is being staged; a touch of its CronJob in that window (a
suspend, a schedule edit) must be repeated once the stage ends, or the call-off waits for the sweep."""

from __future__ import annotations

from jobsched.runtime.cron.handover import StagingTouches

A = ("ns", "report")
B = ("ns", "other")


def test_a_touch_during_a_stage_is_repeated_after_it_and_only_once() -> None:
    touches = StagingTouches()
    touches.begin(A)
    touches.touched(A)
    touches.touched(B)  # not being staged: the keeper sees this touch as it is
    assert touches.end(A)
    touches.begin(A)
    assert not touches.end(A)


def test_a_touch_before_a_stage_is_not_repeated() -> None:
    touches = StagingTouches()
    touches.touched(A)
    touches.begin(A)
    assert not touches.end(A)


def test_two_stages_of_one_cronjob_repeat_a_touch_until_the_last_ends() -> None:
    touches = StagingTouches()
    touches.begin(A)
    touches.begin(A)
    touches.touched(A)
    assert touches.end(A)  # the first stage ends: touched again, while the second is still in flight
    assert touches.end(A)  # the second ends: again, since the keeper skipped its Job until now
    touches.begin(A)
    assert not touches.end(A)
