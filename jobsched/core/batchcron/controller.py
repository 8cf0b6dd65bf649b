"""Which slot the CronJob controller fires: kube-controller-manager v1.36's `mostRecentScheduleTime`.

An adopted CronJob must get the slot the native controller would have picked, to the second, or the
hand-over does not match (docs/cron-format.md). The controller does not list missed slots: it takes
the first two fire times after the earliest time (lastScheduleTime, else creationTimestamp, raised to
``now - startingDeadlineSeconds`` when deciding what to fire), estimates how many slots passed from
their distance, and walks robfig's Next from two estimated intervals before now. For schedules whose
intervals vary that estimate can overshoot, and then no slot is due although one was missed
(``0 0 * * 1,2`` after a downtime from Sunday to Sunday fires nothing until Monday); this port keeps
that. Above 100 estimated slots the controller still fires the latest one and warns
(TooManyMissedTimes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from jobsched.core.batchcron.spec import BatchSchedule, UnfireableSchedule

TOO_MANY_MISSED: Final = 100
_SECOND: Final = timedelta(seconds=1)
# latest_at_or_before widens its look-back window by this factor until it finds a slot.
_WIDEN: Final = 8
_LOOK_BACK_LIMIT: Final = timedelta(days=366 * 6)


@dataclass(frozen=True, slots=True)
class MostRecent:
    """The controller's answer at `now`."""

    slot: datetime | None  # the most recent slot at or before now after the earliest time, or None
    count: int  # the controller's estimate of slots in (earliest, now]: 0, 1, or its numberOfMissedSchedules
    missed: Literal["none", "few", "many"]  # its missedSchedulesType

    @property
    def too_many_missed(self) -> bool:
        """The controller emits TooManyMissedTimes (it still fires `slot`)."""
        return self.missed == "many"


def most_recent_schedule_time(
    schedule: BatchSchedule,
    zone: ZoneInfo,
    earliest: datetime,
    now: datetime,
    *,
    starting_deadline_seconds: int | None = None,
) -> MostRecent:
    """mostRecentScheduleTime; with a deadline, as nextScheduleTime calls it (the slot to fire now).

    `earliest` is the CronJob's lastScheduleTime, or its creationTimestamp when it never fired.
    Raises UnfireableSchedule where the controller emits InvalidSchedule ("time difference between two
    schedules is less than 1 second", which is what a schedule that never fires gives).
    """
    if starting_deadline_seconds is not None:
        scheduling_deadline = now - timedelta(seconds=starting_deadline_seconds)
        earliest = max(earliest, scheduling_deadline)
    first = schedule.next_after(earliest, zone)
    if now < first:
        return MostRecent(None, 0, "none")
    second = schedule.next_after(first, zone)
    if now < second:
        return MostRecent(first, 1, "none")
    interval = (second - first) // _SECOND  # whole seconds: Round(time.Second) changes nothing
    if interval < 1:
        raise UnfireableSchedule("time difference between two schedules is less than 1 second")
    estimate = (now - first) // _SECOND // interval + 1
    potential_earliest = first + timedelta(seconds=(estimate - 2) * interval)
    recent: datetime | None = None
    moment = schedule.next_after(potential_earliest, zone)
    while moment <= now:
        recent = moment
        moment = schedule.next_after(moment, zone)
    return MostRecent(recent, estimate, "many" if estimate > TOO_MANY_MISSED else "few")


def latest_at_or_before(schedule: BatchSchedule, zone: ZoneInfo, at: datetime) -> datetime:
    """The last fire time at or before `at` on robfig's chain of Next from shortly before it.

    robfig has no Prev: this widens a look-back window until Next from its start lands at or before
    `at`, then follows the chain up to `at`. Raises UnfireableSchedule when six years hold no slot.
    """
    window = timedelta(minutes=2)
    while True:
        found: datetime | None = None
        moment = schedule.next_after(at - window, zone)
        while moment <= at:
            found = moment
            moment = schedule.next_after(moment, zone)
        if found is not None:
            return found
        if window >= _LOOK_BACK_LIMIT:
            raise UnfireableSchedule("no time matches this schedule in the six years before")
        window = min(window * _WIDEN, _LOOK_BACK_LIMIT)
