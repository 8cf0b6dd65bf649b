"""A parsed batch/v1 schedule and its next fire time: robfig/cron v3.0.1's `SpecSchedule.Next` and
`ConstantDelaySchedule.Next`, line for line over Go's time rules (`gotime`).

What falls out of robfig's walk over wall-clock fields, and therefore what an adopted CronJob does:

* Fall back: the hour loop adds real hours, so a repeated wall time fires on both passes
  (``30 1 * * *`` in New York fires at 01:30 EDT and again at 01:30 EST).
* Spring forward: a wall time in the gap never matches, so that day is skipped (``30 2 * * *``).
* A day whose midnight does not exist (São Paulo 2018-11-04) is nudged back to hour 0, which may land
  on the day before: robfig then skips the day.
* Nothing within five years of the start: no next time (Go's zero time); see `UnfireableSchedule`.

The minute, hour and second loops step one unit at a time in Go; here they jump straight to the
stopping point when the zone's offset is the same at both ends of the jump, which gives the same
instant with fewer zone look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from jobsched.core.batchcron.gotime import (
    add_date,
    date_unix,
    from_unix,
    local,
    offset,
    unix_seconds,
    weekday,
)
from jobsched.core.cronschedule import CronSpecError

STAR_BIT: Final = 1 << 63
_YEARS_SEARCHED: Final = 5


class UnfireableSchedule(CronSpecError):
    """robfig finds no fire time within five years; the CronJob controller says InvalidSchedule."""


@dataclass(frozen=True, slots=True)
class BatchSchedule:
    """robfig's bit sets (bit n = value n, bit 63 = the field started with * or ?), or an @every delay."""

    second: int = 0
    minute: int = 0
    hour: int = 0
    dom: int = 0
    month: int = 0
    dow: int = 0
    delay: int | None = None  # @every: whole seconds (cron.Every rounds up to 1 s, truncates below)

    def next_after(self, after: datetime, zone: ZoneInfo) -> datetime:
        """The first fire time strictly after `after` (aware), as an aware UTC datetime.

        `zone` is the CronJob's timeZone, or the CronJob controller's local zone when it has none.
        Raises UnfireableSchedule when robfig finds none within five years.
        """
        if after.tzinfo is None:
            raise ValueError("cron slot math needs timezone-aware datetimes")
        whole, _ = unix_seconds(after)
        if self.delay is not None:
            return from_unix(whole + self.delay)  # t.Add(delay - nanoseconds)
        try:
            found = self._next(whole, zone)
        except (OverflowError, ValueError):
            found = None  # beyond the years datetime can represent: nothing to fire either
        if found is None:
            raise UnfireableSchedule("no time matches this schedule within five years")
        return from_unix(found)

    def _day_matches(self, wall: datetime) -> bool:
        dom = bool(1 << wall.day & self.dom)
        dow = bool(1 << weekday(wall) & self.dow)
        if (self.dom | self.dow) & STAR_BIT:
            return dom and dow
        return dom or dow

    def _next(self, after: int, zone: ZoneInfo) -> int | None:
        t = after + 1  # the upcoming second
        added = False  # whether a field has been incremented (the finer fields then start at zero)
        year_limit = local(t, zone).year + _YEARS_SEARCHED
        while True:  # WRAP
            wall = local(t, zone)
            if wall.year > year_limit:
                return None
            wrapped = False
            while not 1 << wall.month & self.month:
                if not added:
                    added = True
                    t = date_unix(wall.year, wall.month, 1, 0, 0, 0, zone)
                t = add_date(t, zone, 1, 0)
                wall = local(t, zone)
                if wall.month == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not self._day_matches(wall):
                if not added:
                    added = True
                    t = date_unix(wall.year, wall.month, wall.day, 0, 0, 0, zone)
                t = add_date(t, zone, 0, 1)
                wall = local(t, zone)
                # A midnight lost to DST: back to hour 0, or on to the next day from hour 23.
                if wall.hour != 0:
                    t += (24 - wall.hour) * 3600 if wall.hour > 12 else -wall.hour * 3600
                    wall = local(t, zone)
                if wall.day == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not 1 << wall.hour & self.hour:
                if not added:
                    added = True
                    t = date_unix(wall.year, wall.month, wall.day, wall.hour, 0, 0, zone)
                    wall = local(t, zone)
                t = _step(t, zone, 3600, wall.hour, 24, self.hour)
                wall = local(t, zone)
                if wall.hour == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not 1 << wall.minute & self.minute:
                if not added:
                    added = True
                    t -= t % 60  # Truncate(time.Minute), on the instant
                    wall = local(t, zone)
                t = _step(t, zone, 60, wall.minute, 60, self.minute)
                wall = local(t, zone)
                if wall.minute == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not 1 << wall.second & self.second:
                added = True  # Truncate(time.Second) is a no-op on whole seconds
                t = _step(t, zone, 1, wall.second, 60, self.second)
                wall = local(t, zone)
                if wall.second == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            return t


def _step(t: int, zone: ZoneInfo, unit: int, value: int, modulus: int, wanted: int) -> int:
    """One `t = t.Add(unit)` of robfig's loops, or several at once when that changes nothing.

    Go adds `unit` until the field is in `wanted` or wraps to 0. With the same UTC offset at both
    ends, the field simply counts up, so the stopping point is known in advance.
    """
    steps = 1
    while (value + steps) % modulus != 0 and not 1 << (value + steps) % modulus & wanted:
        steps += 1
    if steps > 1 and offset(t + steps * unit, zone) != offset(t, zone):
        steps = 1  # a transition inside the jump: walk it as Go does
    return t + steps * unit
