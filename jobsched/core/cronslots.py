"""Slot math: the instants at which a cron entry fires, and which slot is due after downtime.

jobsched must fire each entry exactly once per slot, so a slot has to be one well-defined UTC instant
however the clocks of the entry's time zone jump. The rules, evaluated in the entry's local wall time:

* The schedule is matched against local wall-clock time (croniter over naive wall times).
* Spring forward: a wall time that does not exist (02:30 on a day that skips 02:00-03:00) fires once,
  at the first instant after the gap (03:00 local). Several such wall times (02:00 and 02:30 of
  ``*/30``), or one of them and 03:00 itself, collapse into that one firing. This is what cronie /
  Vixie cron and croniter 7 do.
* Fall back: a wall time that occurs twice (01:30 on a day that repeats 01:00-02:00) fires once, at
  its first occurrence. croniter 7 fires it twice; that is why wall times are mapped to instants here
  rather than by croniter. Hourly schedules therefore skip the repeated hour (a 2-hour gap in real time).

Slots are minute-aligned UTC instants. Windows are half-open on the left: `slots_between` yields
start < slot <= end, so consecutive windows never yield one slot twice.

After downtime, `due_slot` follows batch/v1 CronJob: only the most recent missed slot may fire, and
only within startingDeadlineSeconds; older missed slots are counted for a metric and an Event, never
replayed. Results are cached per (schedule, zone), so thousands of entries sharing a schedule cost one
evaluation in a storm.

All of the above is the ConfigMap ("jobsched") dialect. An entry in the "batch/v1" dialect (an adopted
CronJob) is evaluated as Kubernetes does instead (`jobsched.core.batchcron`): robfig/cron's Next, whose
DST rules differ (a repeated wall time fires twice, one in a gap not at all), and for `due_slot` the
CronJob controller's own choice of slot. Its slots are whole seconds; a schedule that never fires raises
`UnfireableSchedule` (a CronSpecError) from every function here.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from croniter import croniter

from jobsched.core.batchcron import (
    latest_at_or_before,
    most_recent_schedule_time,
    parse_batch_schedule,
)
from jobsched.core.cronentry import BATCH_V1_DIALECT, CronEntry
from jobsched.core.cronschedule import load_zone, normalize_schedule

# Counting missed slots stops here: a year of downtime of an every-minute entry is 525,600 slots.
MISSED_COUNT_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class DueDecision:
    """What to do for one entry at `now`."""

    fire: datetime | None  # the slot to fire now, or None
    latest: datetime | None  # the most recent slot in (last_scheduled, now], fired or not
    missed: int  # slots older than `latest` skipped for good (capped at MISSED_COUNT_LIMIT)
    missed_capped: bool  # True when `missed` stopped counting at the cap
    too_late: bool  # `latest` exists but is older than startingDeadlineSeconds
    next_slot: datetime  # the first slot after now: when to look again


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("cron slot math needs timezone-aware datetimes")
    return moment.astimezone(UTC)


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


@functools.lru_cache(maxsize=8192)
def wall_to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a naive local wall time fires at (see the module docstring for DST)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == wall:
        return first  # exists; fold=0 is the first occurrence of a repeated wall time
    # In a gap fold=0 applies the offset from before the jump, landing after the transition, and fold=1
    # lands before it; the transition is the first instant carrying the later offset.
    low = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = int(first.timestamp())
    after = first.astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _instants_after(schedule: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Slot instants strictly after `after` (UTC), in order, each once."""
    wall_iter = croniter(normalize_schedule(schedule), _wall(after, zone))
    last = after
    while True:
        instant = wall_to_instant(wall_iter.get_next(datetime), zone)
        # Skips repeated wall times (they map to an instant already passed) and collapsed gap times.
        if instant > last:
            last = instant
            yield instant


@functools.lru_cache(maxsize=65536)
def _next_cached(schedule: str, time_zone: str, after: datetime) -> datetime:
    return next(_instants_after(schedule, load_zone(time_zone), after))


@functools.lru_cache(maxsize=65536)
def _batch_next_cached(schedule: str, time_zone: str, after: datetime) -> datetime:
    return parse_batch_schedule(schedule).next_after(after, load_zone(time_zone))


def _batch_instants_after(schedule: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    parsed = parse_batch_schedule(schedule)
    while True:
        after = parsed.next_after(after, zone)
        yield after


def next_slot(entry: CronEntry, after: datetime) -> datetime:
    """The first slot of `entry` strictly after `after`, as an aware UTC datetime."""
    if entry.dialect == BATCH_V1_DIALECT:
        return _batch_next_cached(entry.schedule, entry.time_zone, _utc(after))
    return _next_cached(entry.schedule, entry.time_zone, _utc(after))


@functools.lru_cache(maxsize=65536)
def _latest_cached(schedule: str, time_zone: str, at: datetime) -> datetime:
    zone = load_zone(time_zone)
    wall_iter = croniter(normalize_schedule(schedule), _wall(at, zone) + timedelta(minutes=1))
    while True:
        instant = wall_to_instant(wall_iter.get_prev(datetime), zone)
        if instant <= at:
            return instant


@functools.lru_cache(maxsize=65536)
def _batch_latest_cached(schedule: str, time_zone: str, at: datetime) -> datetime:
    return latest_at_or_before(parse_batch_schedule(schedule), load_zone(time_zone), at)


def latest_slot(entry: CronEntry, at: datetime) -> datetime:
    """The most recent slot of `entry` at or before `at`, as an aware UTC datetime."""
    if entry.dialect == BATCH_V1_DIALECT:
        return _batch_latest_cached(entry.schedule, entry.time_zone, _utc(at))
    return _latest_cached(entry.schedule, entry.time_zone, _utc(at))


def slots_between(entry: CronEntry, start: datetime, end: datetime) -> Iterator[datetime]:
    """The slots of `entry` with start < slot <= end, in order, as aware UTC datetimes."""
    end = _utc(end)
    instants = _batch_instants_after if entry.dialect == BATCH_V1_DIALECT else _instants_after
    for instant in instants(entry.schedule, load_zone(entry.time_zone), _utc(start)):
        if instant > end:
            return
        yield instant


def due_slot(
    entry: CronEntry, last_scheduled: datetime | None, now: datetime, *, created: datetime | None = None
) -> DueDecision:
    """Which slot, if any, `entry` should fire at `now`, batch/v1 CronJob style.

    The slots considered are those after `last_scheduled` (the last slot fired), or after `created` when
    nothing fired yet (batch/v1 uses the CronJob's creationTimestamp); with neither, none are: a new entry
    starts with its next slot. A suspended entry never fires, but its decision still reports the slots.
    """
    now = _utc(now)
    following = next_slot(entry, now)
    since = last_scheduled if last_scheduled is not None else created
    if since is None:
        return DueDecision(None, None, 0, False, False, following)
    since = _utc(since)
    if entry.dialect == BATCH_V1_DIALECT:
        return _batch_due_slot(entry, since, now, following)
    latest = latest_slot(entry, now)
    if latest <= since:
        return DueDecision(None, None, 0, False, False, following)
    missed, capped = _count_missed(entry, since, latest)
    deadline = entry.starting_deadline_seconds
    # `now - latest`, not `latest + deadline`: a difference of two instants never leaves the calendar.
    too_late = deadline is not None and now - latest > timedelta(seconds=deadline)
    fire = None if too_late or entry.suspend else latest
    return DueDecision(fire, latest, missed, capped, too_late, following)


def _batch_due_slot(entry: CronEntry, since: datetime, now: datetime, following: datetime) -> DueDecision:
    """due_slot for an adopted CronJob: the slot the CronJob controller's nextScheduleTime picks.

    Its `latest` is the controller's most recent slot without the deadline, which its estimate can
    miss after a downtime (then nothing is due, as natively); its `fire` is the controller's pick
    with the deadline, which counts a slot exactly `startingDeadlineSeconds` old as too late.
    """
    schedule, zone = parse_batch_schedule(entry.schedule), load_zone(entry.time_zone)
    latest = most_recent_schedule_time(schedule, zone, since, now).slot
    if latest is None:
        return DueDecision(None, None, 0, False, False, following)
    missed, capped = _count_missed(entry, since, latest)
    pick: datetime | None = latest
    if entry.starting_deadline_seconds is not None:
        deadline = entry.starting_deadline_seconds
        pick = most_recent_schedule_time(schedule, zone, since, now, starting_deadline_seconds=deadline).slot
    fire = None if pick is None or entry.suspend else pick
    return DueDecision(fire, latest, missed, capped, pick is None, following)


def _count_missed(entry: CronEntry, since: datetime, latest: datetime) -> tuple[int, bool]:
    """(slots in (since, latest), whether counting stopped at MISSED_COUNT_LIMIT)."""
    missed = 0
    for instant in slots_between(entry, since, latest):
        if instant == latest:
            break
        if missed == MISSED_COUNT_LIMIT:
            return missed, True
        missed += 1
    return missed, False


ScheduleKey = tuple[str, str, str]  # (schedule, timeZone, dialect): entries that always fire together


def schedule_groups(entries: Iterable[CronEntry]) -> dict[ScheduleKey, list[CronEntry]]:
    """Entries that fire at the same instants, by (schedule, timeZone, dialect); suspended ones left out."""
    by_schedule: dict[ScheduleKey, list[CronEntry]] = defaultdict(list)
    for entry in entries:
        if not entry.suspend:
            by_schedule[entry.schedule, entry.time_zone, entry.dialect].append(entry)
    return dict(by_schedule)


def group_instants(
    groups: Mapping[ScheduleKey, list[CronEntry]], window_start: datetime, window_end: datetime
) -> dict[datetime, list[ScheduleKey]]:
    """The schedule groups that fire in window_start < t <= window_end, by instant, earliest first. Each
    group's schedule is evaluated once, so a storm of thousands of entries on "0 0 * * *" costs one
    croniter walk."""
    instants: dict[datetime, list[ScheduleKey]] = defaultdict(list)
    for key, members in groups.items():
        for instant in slots_between(members[0], window_start, window_end):
            instants[instant].append(key)
    return {instant: instants[instant] for instant in sorted(instants)}


def storm_groups(
    entries: Iterable[CronEntry], window_start: datetime, window_end: datetime
) -> dict[datetime, list[CronEntry]]:
    """Entries that fire in window_start < t <= window_end, grouped by instant, earliest first.

    Suspended entries are left out. Each distinct (schedule, timeZone, dialect) is evaluated once."""
    groups = schedule_groups(entries)
    return {
        instant: [entry for key in keys for entry in groups[key]]
        for instant, keys in group_instants(groups, window_start, window_end).items()
    }
