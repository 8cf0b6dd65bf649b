"""Whether a batch/v1 schedule fires on the same instants when written in a jobsched ConfigMap.

`jobsched convert` turns CronJobs into ConfigMap entries, which are read in jobsched's dialect
(croniter, jobsched's DST rules), not batch/v1's (robfig/cron). Some schedules mean the same in both,
some can be rewritten so that they do (``+5`` is ``5``; ``0 0 */1 * mon`` is ``0 0 * * 1``), and some
cannot (``30 1 * * *`` in New York fires twice on a fall-back day in batch/v1, once in jobsched).

The verdict comes from both engines themselves (`cronslots.next_slot` in each dialect) over a horizon
in the schedule's zone, without listing every slot of an every-minute schedule for two years:

* for every local day: the first slot from that day's midnight on, in both dialects (this compares
  which days fire and when they start);
* one whole ordinary day on which both fire: all its slots (this compares the times within a day;
  away from DST changes every firing day repeats them);
* every UTC-offset change in the horizon: all slots from 26 hours before to 26 hours after it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from jobsched.core.batchcron import BatchSchedule, UnfireableSchedule, parse_batch_schedule
from jobsched.core.cronentry import BATCH_V1_DIALECT, CronEntry
from jobsched.core.cronschedule import CronSpecError, load_zone, normalize_schedule
from jobsched.core.cronslots import next_slot, slots_between, wall_to_instant

HORIZON: Final = timedelta(days=731)
_AROUND_CHANGE: Final = timedelta(hours=26)
_SECOND: Final = timedelta(seconds=1)
_DAY: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Equivalence:
    """The jobsched schedule that fires like a batch/v1 one, or why there is none."""

    schedule: str | None  # to write in the ConfigMap entry; None when no exact equivalent was found
    difference: str | None  # what differs, when `schedule` is None or is a translation

    @property
    def translated(self) -> bool:
        return self.schedule is not None and self.difference is not None


def equivalent_schedule(
    schedule: str, time_zone: str, start: datetime, horizon: timedelta = HORIZON
) -> Equivalence:
    """A jobsched-dialect schedule firing exactly as batch/v1's `schedule` in `time_zone` from `start`.

    Tries the schedule as written, then one rebuilt from robfig's parsed fields. Raises CronSpecError
    when `schedule` is not valid batch/v1 or `time_zone` is not a zone.
    """
    parsed = parse_batch_schedule(schedule)
    zone = load_zone(time_zone)
    if parsed.delay is not None:
        return Equivalence(None, "@every counts from the last run; jobsched has no such schedule")
    try:
        parsed.next_after(start, zone)
    except UnfireableSchedule:
        return Equivalence(None, "never fires in batch/v1 (the CronJob controller reports InvalidSchedule)")
    reasons: list[str] = []
    for candidate in dict.fromkeys([schedule, five_fields(parsed)]):
        try:
            normalize_schedule(candidate)
        except CronSpecError as exc:
            reasons.append(f"jobsched refuses {candidate!r}: {exc}")
            continue
        found = _first_difference(schedule, candidate, time_zone, zone, start, horizon)
        if found is None:
            # For the rebuilt candidate `reasons` says why the schedule as written would not do.
            return Equivalence(candidate, None if candidate == schedule else "; ".join(reasons))
        message, at_dst_change = found
        reasons.append(message if candidate == schedule else f"as {candidate!r}: {message}")
        if at_dst_change:
            break  # the dialects' DST rules differ; no rewriting of the fields changes that
    return Equivalence(None, "; ".join(reasons))


def five_fields(parsed: BatchSchedule) -> str:
    """robfig's parsed fields as a plain 5-field schedule with the same meaning in jobsched's dialect.

    robfig combines day of month and day of week with AND when either has the star bit (and the
    starred one then matches every day), otherwise with OR; jobsched ORs two restricted fields and
    ignores a ``*`` one, so a field that matches every day is written ``*``.
    """
    minute, hour = _field(parsed.minute, 0, 59), _field(parsed.hour, 0, 23)
    dom, month, dow = _field(parsed.dom, 1, 31), _field(parsed.month, 1, 12), _field(parsed.dow, 0, 6)
    if dom == "*" or dow == "*":
        # With AND one of them is starred, hence "*"; with OR a full one makes every day match.
        star = (parsed.dom | parsed.dow) & (1 << 63)
        dom, dow = (dom, dow) if star else ("*", "*")
    return f"{minute} {hour} {dom} {month} {dow}"


def _field(bits: int, low: int, high: int) -> str:
    """The values set in `bits` as ``*``, ``a-b/step`` or a list of numbers and ranges."""
    values = [value for value in range(low, high + 1) if bits >> value & 1]
    if len(values) == high - low + 1:
        return "*"
    step = values[1] - values[0] if len(values) > 2 else 0
    if step > 1 and values == list(range(values[0], values[-1] + 1, step)):
        return f"{values[0]}-{values[-1]}/{step}"
    runs: list[str] = []
    begin = previous = values[0]
    for value in [*values[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        separator = "," if previous == begin + 1 else "-"
        runs.append(str(begin) if begin == previous else f"{begin}{separator}{previous}")
        if value is not None:
            begin = previous = value
    return ",".join(runs)


def _first_difference(
    schedule: str, candidate: str, time_zone: str, zone: ZoneInfo, start: datetime, horizon: timedelta
) -> tuple[str, bool] | None:
    """(the earliest difference in words, whether it lies at a UTC-offset change), or None."""
    native = CronEntry("convert", "convert", "check", schedule, time_zone=time_zone, dialect=BATCH_V1_DIALECT)
    ours = CronEntry("convert", "convert", "check", candidate, time_zone=time_zone)
    end = start + horizon
    day = start.astimezone(zone).date()
    ordinary: date | None = None
    changes = offset_changes(time_zone, start, end)
    while (midnight := _midnight(day, zone)) <= end:
        theirs, mine = next_slot(native, midnight - _SECOND), next_slot(ours, midnight - _SECOND)
        if theirs != mine:
            return _describe(zone, [theirs], [mine], changes)
        fired = max(theirs.astimezone(zone).date(), day)
        if ordinary is None and all(abs(theirs - change) > _AROUND_CHANGE for change in changes):
            ordinary = fired
        day = fired + _DAY  # every day up to `fired` has this same first slot
    windows = [(change - _AROUND_CHANGE, change + _AROUND_CHANGE) for change in changes]
    if ordinary is not None:
        windows.insert(0, (_midnight(ordinary, zone) - _SECOND, _midnight(ordinary + _DAY, zone) - _SECOND))
    for low, high in windows:
        theirs_all, mine_all = list(slots_between(native, low, high)), list(slots_between(ours, low, high))
        if theirs_all != mine_all:
            return _describe(zone, theirs_all, mine_all, changes)
    return None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return wall_to_instant(datetime(day.year, day.month, day.day), zone)


def _describe(
    zone: ZoneInfo, theirs: list[datetime], mine: list[datetime], changes: tuple[datetime, ...]
) -> tuple[str, bool]:
    """The earliest instant only one dialect fires at, in words, and whether it is near a DST change."""
    only_theirs, only_mine = set(theirs) - set(mine), set(mine) - set(theirs)
    first = min(only_theirs | only_mine)
    when = f"{first.astimezone(zone):%Y-%m-%d %H:%M %Z} ({first:%Y-%m-%dT%H:%M:%SZ})"
    near_change = any(abs(first - change) <= _AROUND_CHANGE for change in changes)
    if first in only_theirs:
        return f"batch/v1 fires at {when}, jobsched would not", near_change
    return f"jobsched would fire at {when}, batch/v1 does not", near_change


@functools.lru_cache(maxsize=256)
def offset_changes(time_zone: str, start: datetime, end: datetime) -> tuple[datetime, ...]:
    """The instants in (start, end] at which `time_zone`'s UTC offset changes, to the second."""
    zone = load_zone(time_zone)

    def offset(unix: int) -> timedelta | None:
        return datetime.fromtimestamp(unix, zone).utcoffset()

    changes: list[datetime] = []
    moment, last = int(start.timestamp()), int(end.timestamp())
    while moment < last:
        following = min(moment + 3600, last)
        if offset(following) != offset(moment):
            low, high = moment, following
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == offset(low) else (low, middle)
            changes.append(datetime.fromtimestamp(high, UTC))
        moment = following
    return tuple(changes)
