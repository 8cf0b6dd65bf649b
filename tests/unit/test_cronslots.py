"""Slot math: instants, DST transitions, batch/v1 missed-slot logic, storm grouping."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronslots import (
    MISSED_COUNT_LIMIT,
    due_slot,
    latest_slot,
    next_slot,
    slots_between,
    storm_groups,
)


def cron(schedule: str, tz: str = "UTC", **fields: object) -> CronEntry:
    return CronEntry("ns", "cm", "e", schedule, time_zone=tz, **fields)  # type: ignore[arg-type]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def hm(instants: list[datetime]) -> list[str]:
    return [i.strftime("%H:%M") for i in instants]


def test_next_slot_is_strictly_after_and_utc() -> None:
    entry = cron("0 0 * * *")
    assert next_slot(entry, utc(2025, 12, 31, 23, 59, 59)) == utc(2026, 1, 1)
    assert next_slot(entry, utc(2026, 1, 1)) == utc(2026, 1, 2)
    assert next_slot(entry, utc(2026, 1, 1)).tzinfo is UTC


def test_next_slot_in_zone() -> None:
    entry = cron("@midnight", "Asia/Shanghai")
    assert next_slot(entry, utc(2026, 1, 1)) == utc(2026, 1, 1, 16)
    # Any aware input works; the answer is UTC.
    after = datetime(2026, 1, 2, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert next_slot(entry, after) == utc(2026, 1, 2, 16)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slot(cron("@daily"), datetime(2026, 1, 1))


def test_slots_between_is_open_left_closed_right() -> None:
    entry = cron("*/15 * * * *")
    got = list(slots_between(entry, utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 1, 0)))
    assert hm(got) == ["00:15", "00:30", "00:45", "01:00"]


# --- DST: real 2025/2026 transitions ------------------------------------------------------------
# New York: spring forward 2025-03-09 / 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z);
#           fall back 2025-11-02 / 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
# Berlin:   spring forward 2025-03-30 / 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z);
#           fall back 2025-10-26 / 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z).
DST_CASES = [
    # zone, schedule, UTC window start, expected UTC firing times within the following 12 h
    # Spring gap: 02:30 does not exist, fires once at 03:00 local.
    ("America/New_York", "30 2 * * *", utc(2025, 3, 9, 0), ["07:00"]),
    ("America/New_York", "30 2 * * *", utc(2026, 3, 8, 0), ["07:00"]),
    ("Europe/Berlin", "30 2 * * *", utc(2025, 3, 29, 20), ["01:00"]),
    ("Europe/Berlin", "30 2 * * *", utc(2026, 3, 28, 20), ["01:00"]),
    # Fall back: 02:30 is not repeated in New York (01:00-02:00 is) but is in Berlin: first occurrence only.
    ("America/New_York", "30 2 * * *", utc(2025, 11, 2, 0), ["07:30"]),
    ("America/New_York", "30 1 * * *", utc(2025, 11, 2, 0), ["05:30"]),
    ("America/New_York", "30 1 * * *", utc(2026, 11, 1, 0), ["05:30"]),
    ("Europe/Berlin", "30 2 * * *", utc(2025, 10, 25, 20), ["00:30"]),
    ("Europe/Berlin", "30 2 * * *", utc(2026, 10, 24, 20), ["00:30"]),
]


@pytest.mark.parametrize(("zone", "schedule", "start", "expected"), DST_CASES)
def test_daily_schedules_across_dst(zone: str, schedule: str, start: datetime, expected: list[str]) -> None:
    got = list(slots_between(cron(schedule, zone), start, start + timedelta(hours=12)))
    assert hm(got) == expected


def test_hourly_new_york_spring_forward() -> None:
    got = list(slots_between(cron("0 * * * *", "America/New_York"), utc(2025, 3, 9, 4), utc(2025, 3, 9, 9)))
    # 00:00 01:00 EST, then 03:00 04:00 05:00 EDT: local 02:00 does not exist, no hour is lost in UTC.
    assert hm(got) == ["05:00", "06:00", "07:00", "08:00", "09:00"]
    assert [i.astimezone(ZoneInfo("America/New_York")).hour for i in got] == [0, 1, 3, 4, 5]


def test_hourly_new_york_fall_back_fires_repeated_hour_once() -> None:
    got = list(slots_between(cron("0 * * * *", "America/New_York"), utc(2025, 11, 2, 3), utc(2025, 11, 2, 8)))
    # 00:00 EDT 01:00 EDT, [01:00 EST skipped], 02:00 EST 03:00 EST
    assert hm(got) == ["04:00", "05:00", "07:00", "08:00"]


def test_hourly_berlin_both_transitions() -> None:
    spring = list(
        slots_between(cron("0 * * * *", "Europe/Berlin"), utc(2026, 3, 28, 22), utc(2026, 3, 29, 3))
    )
    assert hm(spring) == ["23:00", "00:00", "01:00", "02:00", "03:00"]  # local 00 01 03 04 05
    fall = list(
        slots_between(cron("0 * * * *", "Europe/Berlin"), utc(2026, 10, 24, 22), utc(2026, 10, 25, 3))
    )
    assert hm(fall) == ["23:00", "00:00", "02:00", "03:00"]  # local 01 02(CEST) [02 CET skipped] 03 04


def test_gap_wall_times_collapse_into_one_firing() -> None:
    got = list(
        slots_between(cron("*/30 * * * *", "America/New_York"), utc(2025, 3, 9, 6), utc(2025, 3, 9, 8))
    )
    # 01:30 EST, then 02:00, 02:30 (missing) and 03:00 EDT all fire once at 03:00 EDT, then 03:30 ...
    assert hm(got) == ["06:30", "07:00", "07:30", "08:00"]


def test_croniter_7_behaviour_we_rely_on_and_correct() -> None:
    """Pins croniter 7: gaps fire at the first instant after them (as jobsched does), but repeated wall
    times fire twice, which jobsched deliberately does not (cronslots maps wall times itself)."""
    tz = ZoneInfo("America/New_York")
    spring = croniter("30 2 * * *", datetime(2025, 3, 8, 22, tzinfo=tz)).get_next(datetime)
    assert spring.astimezone(UTC) == utc(2025, 3, 9, 7)
    it = croniter("30 1 * * *", datetime(2025, 11, 1, 22, tzinfo=tz))
    first, second = it.get_next(datetime), it.get_next(datetime)
    assert (first.astimezone(UTC), second.astimezone(UTC)) == (
        utc(2025, 11, 2, 5, 30),
        utc(2025, 11, 2, 6, 30),
    )


def test_next_slot_from_inside_the_repeated_hour() -> None:
    entry = cron("30 1 * * *", "America/New_York")
    # 01:15 EST (second pass): today's 01:30 already fired at 05:30Z, so the next is tomorrow's.
    assert next_slot(entry, utc(2025, 11, 2, 6, 15)) == utc(2025, 11, 3, 6, 30)
    assert next_slot(entry, utc(2025, 11, 2, 5, 15)) == utc(2025, 11, 2, 5, 30)


def test_latest_slot_across_gap() -> None:
    entry = cron("30 2 * * *", "America/New_York")
    assert latest_slot(entry, utc(2025, 3, 9, 7)) == utc(2025, 3, 9, 7)
    assert latest_slot(entry, utc(2025, 3, 9, 6, 59)) == utc(2025, 3, 8, 7, 30)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["*/7 * * * *", "30 2 * * *", "0 * * * *", "15 1,2,3 * * *", "0 0 1 * *"]),
    st.sampled_from(["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"]),
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)),
)
def test_slot_functions_agree(schedule: str, zone: str, start: datetime) -> None:
    entry = cron(schedule, zone)
    end = start + timedelta(days=2)
    slots = list(slots_between(entry, start, end))
    assert slots == sorted(set(slots)), "strictly increasing, each slot once"
    assert all(s.second == 0 and s.microsecond == 0 for s in slots)
    if slots:
        assert next_slot(entry, start) == slots[0]
        assert latest_slot(entry, end) == slots[-1]
        for earlier, later in itertools.pairwise(slots):
            assert next_slot(entry, earlier) == later
            assert latest_slot(entry, later - timedelta(seconds=1)) == earlier


# --- missed slots ---------------------------------------------------------------------------------


def test_due_on_time() -> None:
    entry = cron("0 * * * *")
    got = due_slot(entry, utc(2026, 1, 1, 0), utc(2026, 1, 1, 1, 0, 0, 300_000))
    assert got.fire == utc(2026, 1, 1, 1)
    assert (got.missed, got.too_late, got.missed_capped) == (0, False, False)
    assert got.next_slot == utc(2026, 1, 1, 2)


def test_nothing_due_between_slots() -> None:
    got = due_slot(cron("0 * * * *"), utc(2026, 1, 1, 1), utc(2026, 1, 1, 1, 30))
    assert (got.fire, got.latest, got.missed) == (None, None, 0)
    assert got.next_slot == utc(2026, 1, 1, 2)


def test_after_downtime_only_latest_fires_and_older_are_counted() -> None:
    got = due_slot(cron("*/10 * * * *"), utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 1, 5))
    assert got.fire == utc(2026, 1, 1, 1, 0)
    assert got.missed == 5  # 00:10 .. 00:50


def test_starting_deadline_skips_a_late_slot() -> None:
    entry = cron("0 * * * *", starting_deadline_seconds=60)
    late = due_slot(entry, utc(2026, 1, 1, 0), utc(2026, 1, 1, 1, 2))
    assert late.fire is None
    assert late.too_late
    assert late.latest == utc(2026, 1, 1, 1)
    in_time = due_slot(entry, utc(2026, 1, 1, 0), utc(2026, 1, 1, 1, 1))
    assert in_time.fire == utc(2026, 1, 1, 1)


def test_zero_deadline_fires_only_at_the_exact_second() -> None:
    entry = cron("0 * * * *", starting_deadline_seconds=0)
    assert due_slot(entry, utc(2026, 1, 1, 0), utc(2026, 1, 1, 1)).fire == utc(2026, 1, 1, 1)
    assert due_slot(entry, utc(2026, 1, 1, 0), utc(2026, 1, 1, 1, 0, 1)).too_late


def test_no_history_uses_created_or_starts_fresh() -> None:
    entry = cron("0 * * * *")
    fresh = due_slot(entry, None, utc(2026, 1, 1, 1, 30))
    assert (fresh.fire, fresh.next_slot) == (None, utc(2026, 1, 1, 2))
    created = due_slot(entry, None, utc(2026, 1, 1, 1, 30), created=utc(2026, 1, 1, 0, 30))
    assert created.fire == utc(2026, 1, 1, 1)


def test_suspended_entry_never_fires() -> None:
    got = due_slot(cron("0 * * * *", suspend=True), utc(2026, 1, 1, 0), utc(2026, 1, 1, 1))
    assert got.fire is None
    assert got.latest == utc(2026, 1, 1, 1)


def test_missed_count_is_capped() -> None:
    got = due_slot(cron("* * * * *"), utc(2026, 1, 1), utc(2026, 1, 3))
    assert got.fire == utc(2026, 1, 3)
    assert got.missed == MISSED_COUNT_LIMIT
    assert got.missed_capped


def test_missed_count_exactly_at_the_cap_is_not_flagged() -> None:
    start = utc(2026, 1, 1)
    got = due_slot(cron("* * * * *"), start, start + timedelta(minutes=MISSED_COUNT_LIMIT + 1))
    assert got.missed == MISSED_COUNT_LIMIT
    assert not got.missed_capped


# --- storms ---------------------------------------------------------------------------------------


def test_storm_groups_by_instant() -> None:
    midnight = [CronEntry("ns", "cm", f"m{i}", "0 0 * * *") for i in range(3000)]
    shanghai = CronEntry("ns", "cm", "sh", "@midnight", time_zone="Asia/Shanghai")
    quarter = CronEntry("ns", "cm", "q", "*/15 * * * *")
    paused = CronEntry("ns", "cm", "p", "0 0 * * *", suspend=True)
    groups = storm_groups(
        [*midnight, shanghai, quarter, paused], utc(2025, 12, 31, 23, 50), utc(2026, 1, 1, 0, 30)
    )
    assert list(groups) == [utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 15), utc(2026, 1, 1, 0, 30)]
    assert len(groups[utc(2026, 1, 1)]) == 3001
    assert paused not in groups[utc(2026, 1, 1)]
    assert groups[utc(2026, 1, 1, 0, 15)] == [quarter]
    assert shanghai not in groups[utc(2026, 1, 1)]


def test_storm_groups_empty_window() -> None:
    assert storm_groups([cron("0 0 * * *")], utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)) == {}
