"""The robfig/cron port: documented batch/v1 behaviour, Go's parsing rules, and properties.

The vectors in test_batchcron_vectors.py pin the port to the Go code; these tests say in plain terms
what that behaviour is, and check properties over schedules hypothesis makes up.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jobsched.core.batchcron import (
    BatchSchedule,
    UnfireableSchedule,
    latest_at_or_before,
    most_recent_schedule_time,
    parse_batch_schedule,
)
from jobsched.core.batchcron.gotext import GoError, atoi, fields, parse_duration
from jobsched.core.batchcron.spec import STAR_BIT
from jobsched.core.cronschedule import CronSpecError

NEW_YORK = ZoneInfo("America/New_York")
FIXED_ZONES = ("UTC", "Asia/Shanghai", "Asia/Kolkata")  # no DST in the years tested
DST_ZONES = ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def chain(spec: str, zone: ZoneInfo, start: datetime, count: int) -> list[datetime]:
    schedule, out = parse_batch_schedule(spec), []
    for _ in range(count):
        start = schedule.next_after(start, zone)
        out.append(start)
    return out


# --- what batch/v1 accepts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("0 0 * * 1-7", "end of range (7) above maximum (6): 1-7"),
        ("0 0 * * 6-0", "beginning of range (6) beyond end of range (0): 6-0"),
        ("@YEARLY", "unrecognized descriptor: @YEARLY"),
        ("0 0 L * *", 'failed to parse int from L: strconv.Atoi: parsing "L": invalid syntax'),
        ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
        ("@every 1x", 'failed to parse duration @every 1x: time: unknown unit "x" in duration "1x"'),
        ("TZ=UTC 0 0 * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
        ("", "must not be empty"),
    ],
)
def test_refused_like_kube_apiserver(spec: str, message: str) -> None:
    with pytest.raises(CronSpecError) as refused:
        parse_batch_schedule(spec)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "spec",
    ["+5 * * * *", "05 * * * *", "1,,2 * * * *", ",1 * * * *", "*-5 * * * *", "? ? ? ? ?", "0 0 30 2 *"],
)
def test_accepted_by_batch_v1(spec: str) -> None:
    parse_batch_schedule(spec)


def test_star_bit_makes_day_fields_and() -> None:
    # A day-of-month field starting with * keeps the star bit (step 1), so only Mondays match.
    assert parse_batch_schedule("0 0 */1 * mon").dom & STAR_BIT
    mondays = chain("0 0 */1 * mon", ZoneInfo("UTC"), utc(2026, 1, 1), 3)
    assert mondays == [utc(2026, 1, 5), utc(2026, 1, 12), utc(2026, 1, 19)]
    # A step above 1 drops it: day 1, 3, 5 ... OR Mondays.
    assert chain("0 0 */2 * mon", ZoneInfo("UTC"), utc(2026, 1, 1), 4) == [
        utc(2026, 1, 3),
        utc(2026, 1, 5),
        utc(2026, 1, 7),
        utc(2026, 1, 9),
    ]


def test_descriptors_and_every() -> None:
    assert parse_batch_schedule("@weekly") == parse_batch_schedule("0 0 * * 0")
    assert parse_batch_schedule("@yearly") == parse_batch_schedule("0 0 1 1 *")
    every = parse_batch_schedule("@every 1h30m")
    assert every.delay == 5400
    start = utc(2026, 1, 1, 0, 0, 0) + timedelta(microseconds=700_000)
    assert every.next_after(start, ZoneInfo("UTC")) == utc(2026, 1, 1, 1, 30)  # the fraction is dropped
    assert parse_batch_schedule("@every 0.5s").delay == 1  # at least a second
    assert parse_batch_schedule("@every -5s").delay == 1
    assert parse_batch_schedule("@every 7m13.9s").delay == 433  # whole seconds


# --- DST, as robfig walks it -------------------------------------------------------------------------


def test_new_york_fall_back_fires_the_repeated_time_twice() -> None:
    got = chain("30 1 * * *", NEW_YORK, utc(2026, 10, 31, 12), 3)
    assert got == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30), utc(2026, 11, 2, 6, 30)]
    hourly = chain("0 * * * *", NEW_YORK, utc(2026, 11, 1, 4, 30), 3)
    assert hourly == [utc(2026, 11, 1, 5), utc(2026, 11, 1, 6), utc(2026, 11, 1, 7)]


def test_new_york_spring_forward_skips_the_missing_time() -> None:
    got = chain("30 2 * * *", NEW_YORK, utc(2026, 3, 7, 12), 2)
    assert got == [utc(2026, 3, 9, 6, 30), utc(2026, 3, 10, 6, 30)]  # nothing on 03-08


def test_sao_paulo_missing_midnight_skips_the_day() -> None:
    got = chain("0 0 * * *", ZoneInfo("America/Sao_Paulo"), utc(2018, 11, 2, 12), 3)
    assert got == [utc(2018, 11, 3, 3), utc(2018, 11, 5, 2), utc(2018, 11, 6, 2)]


def test_never_firing_schedule_raises() -> None:
    with pytest.raises(UnfireableSchedule):
        parse_batch_schedule("0 0 30 2 *").next_after(utc(2026, 1, 1), ZoneInfo("UTC"))
    with pytest.raises(UnfireableSchedule):
        most_recent_schedule_time(
            parse_batch_schedule("0 0 31 4 *"), ZoneInfo("UTC"), utc(2026, 1, 1), utc(2027, 1, 1)
        )


def test_latest_reaches_back_to_the_last_leap_day() -> None:
    leap = parse_batch_schedule("0 0 29 2 *")
    assert latest_at_or_before(leap, ZoneInfo("UTC"), utc(2027, 6, 1)) == utc(2024, 2, 29)
    assert latest_at_or_before(parse_batch_schedule("* * * * *"), NEW_YORK, utc(2026, 1, 1, 0, 0, 30)) == utc(
        2026, 1, 1
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_batch_schedule("@daily").next_after(datetime(2026, 1, 1), ZoneInfo("UTC"))


# --- the controller's slot choice -------------------------------------------------------------------


def test_most_recent_after_downtime_fires_latest_and_counts() -> None:
    hourly = parse_batch_schedule("0 * * * *")
    got = most_recent_schedule_time(hourly, ZoneInfo("UTC"), utc(2026, 1, 1), utc(2026, 1, 1, 5, 30))
    assert (got.slot, got.count, got.missed) == (utc(2026, 1, 1, 5), 5, "few")
    many = most_recent_schedule_time(hourly, ZoneInfo("UTC"), utc(2026, 1, 1), utc(2026, 1, 9, 0, 30))
    assert (many.slot, many.too_many_missed) == (utc(2026, 1, 9), True)  # still fires the latest
    late = most_recent_schedule_time(
        hourly, ZoneInfo("UTC"), utc(2026, 1, 1), utc(2026, 1, 1, 5, 30), starting_deadline_seconds=600
    )
    assert late.slot is None


def test_most_recent_keeps_the_controllers_estimate_for_irregular_schedules() -> None:
    # Mondays and Tuesdays, last fired on Sunday: t1, t2 are a day apart, so by the next Sunday the
    # controller looks back only from Saturday and finds nothing, though Tuesday was missed.
    got = most_recent_schedule_time(
        parse_batch_schedule("0 0 * * 1,2"), ZoneInfo("UTC"), utc(2026, 1, 4), utc(2026, 1, 11, 12)
    )
    assert (got.slot, got.missed) == (None, "few")


# --- Go's parsing helpers -----------------------------------------------------------------------------


def test_atoi_is_gos() -> None:
    assert (atoi("+5"), atoi("05"), atoi("-0"), atoi("9223372036854775807")) == (5, 5, 0, 2**63 - 1)
    for text in ("٣", "1_0", " 1", "", "+", "0x1", "３"):
        with pytest.raises(GoError, match="invalid syntax"):
            atoi(text)
    with pytest.raises(GoError, match="value out of range"):
        atoi("9223372036854775808")


def test_parse_duration_is_gos() -> None:
    assert parse_duration("1h30m") == 5400 * 10**9
    assert parse_duration("1.5h") == 5400 * 10**9
    assert parse_duration(".5m") == 30 * 10**9
    assert parse_duration("1µs") == parse_duration("1μs") == parse_duration("1us") == 1000
    assert parse_duration("-0") == 0
    assert parse_duration("2562047h") == 2562047 * 3600 * 10**9
    for text in ("2562048h", "1", "1e3s", "1h 30m", "", ".s"):
        with pytest.raises(GoError):
            parse_duration(text)


def test_fields_split_on_go_white_space_only() -> None:
    assert fields("0\t0\u00a0*\u3000* *") == ["0", "0", "*", "*", "*"]
    assert fields("0\x1c0 * * *") == ["0\x1c0", "*", "*", "*"]  # Python's split() would split here


# --- properties -----------------------------------------------------------------------------------------


def _field(draw: st.DrawFn, low: int, high: int) -> str:
    def number() -> int:
        return draw(st.integers(low, high))

    def item() -> str:
        kind = draw(st.sampled_from(["*", "?", "n", "range", "step", "star-step", "range-step"]))
        a, b = sorted((number(), number()))
        step = draw(st.integers(1, max(1, (high - low) // 2)))
        return {
            "*": "*",
            "?": "?",
            "n": str(a),
            "range": f"{a}-{b}",
            "step": f"{a}/{step}",
            "star-step": f"*/{step}",
            "range-step": f"{a}-{b}/{step}",
        }[kind]

    if draw(st.booleans()):
        return "*"
    return ",".join(item() for _ in range(draw(st.integers(1, 3))))


@st.composite
def schedules(draw: st.DrawFn) -> str:
    bounds = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
    return " ".join(_field(draw, low, high) for low, high in bounds)


instants = st.datetimes(datetime(2024, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC))


def _brute_force_next(schedule: BatchSchedule, after: datetime, zone: ZoneInfo) -> datetime | None:
    """Minute by minute over the matching days of a zone with one fixed offset: no DST tricks."""
    fixed = after.astimezone(zone).utcoffset()
    assert fixed is not None
    wall = (after + fixed).replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
    limit = wall.year + 5  # robfig looks no further than the end of the fifth year
    day = wall.date()
    while day.year <= limit:
        weekday = (day.weekday() + 1) % 7
        dom, dow = bool(1 << day.day & schedule.dom), bool(1 << weekday & schedule.dow)
        star = (schedule.dom | schedule.dow) & STAR_BIT
        if 1 << day.month & schedule.month and ((dom and dow) if star else (dom or dow)):
            minute = datetime(day.year, day.month, day.day)
            while minute.date() == day:
                if (
                    minute >= wall
                    and 1 << minute.hour & schedule.hour
                    and 1 << minute.minute & schedule.minute
                ):
                    return (minute - fixed).replace(tzinfo=UTC)
                minute += timedelta(minutes=1)
        day += timedelta(days=1)
    return None


@settings(max_examples=150, deadline=None)
@given(schedules(), instants, st.sampled_from(FIXED_ZONES))
def test_next_equals_brute_force_without_dst(spec: str, after: datetime, zone_name: str) -> None:
    try:
        schedule = parse_batch_schedule(spec)
    except CronSpecError:
        assume(False)
        return
    zone = ZoneInfo(zone_name)
    expected = _brute_force_next(schedule, after, zone)
    if expected is None:
        with pytest.raises(UnfireableSchedule):
            schedule.next_after(after, zone)
    else:
        assert schedule.next_after(after, zone) == expected


@settings(max_examples=150, deadline=None)
@given(schedules(), instants, st.sampled_from(DST_ZONES + FIXED_ZONES))
def test_next_is_strictly_after_monotonic_and_matches_the_fields(
    spec: str, after: datetime, zone_name: str
) -> None:
    try:
        schedule = parse_batch_schedule(spec)
        zone = ZoneInfo(zone_name)
        times = chain(spec, zone, after, 4)
    except CronSpecError:
        assume(False)
        return
    assert times[0] > after
    assert all(a < b for a, b in itertools.pairwise(times))
    for moment in times:
        assert moment.tzinfo is UTC
        assert (moment.second, moment.microsecond) == (0, 0)
        wall = moment.astimezone(zone)
        assert 1 << wall.minute & schedule.minute
        assert 1 << wall.hour & schedule.hour
        assert 1 << wall.month & schedule.month


@settings(max_examples=80, deadline=None)
@given(schedules(), instants, st.sampled_from(DST_ZONES + FIXED_ZONES))
def test_latest_at_or_before_brackets_the_instant(spec: str, at: datetime, zone_name: str) -> None:
    try:
        schedule = parse_batch_schedule(spec)
        zone = ZoneInfo(zone_name)
        latest = latest_at_or_before(schedule, zone, at)
    except CronSpecError:
        assume(False)
        return
    assert latest <= at < schedule.next_after(latest, zone)


@settings(max_examples=80, deadline=None)
@given(
    schedules() | st.sampled_from(["@every 90s", "@hourly", "@every 25h"]),
    instants,
    st.integers(0, 86400 * 40),
    st.sampled_from(DST_ZONES + FIXED_ZONES),
)
def test_most_recent_is_a_slot_between_earliest_and_now(
    spec: str, earliest: datetime, lag: int, zone_name: str
) -> None:
    now = earliest + timedelta(seconds=lag)
    try:
        schedule = parse_batch_schedule(spec)
        zone = ZoneInfo(zone_name)
        got = most_recent_schedule_time(schedule, zone, earliest, now)
    except CronSpecError:
        assume(False)
        return
    if got.slot is not None:
        assert earliest < got.slot <= now
        assert got.count >= 1
        assert schedule.next_after(got.slot, zone) > now
