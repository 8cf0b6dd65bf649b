"""Which batch/v1 schedules fire alike in a jobsched ConfigMap, and how they are rewritten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobsched.core.batchcron import parse_batch_schedule
from jobsched.core.cronschedule import CronSpecError
from jobsched.core.dialects import Equivalence, equivalent_schedule, five_fields, offset_changes

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "zone"),
    [
        ("0 0 * * *", "UTC"),
        ("* * * * *", "UTC"),
        ("*/5 * * * *", "Asia/Kolkata"),
        ("@yearly", "Europe/Berlin"),
        ("0 12 * * *", "Europe/Berlin"),
        ("0 3 * * *", "Europe/Berlin"),
        ("0 0 * * 1-5", "America/New_York"),
        ("? ? ? ? ?", "UTC"),
        ("0 0 1,15 * 5", "Asia/Kolkata"),
        ("0 0 */2 * mon", "UTC"),
        ("0 0 29 2 *", "UTC"),
        ("0 9 * jan-mar,oct mon-fri", "Asia/Shanghai"),
    ],
)
def test_same_in_both_dialects(schedule: str, zone: str) -> None:
    assert equivalent_schedule(schedule, zone, START) == Equivalence(schedule, None)


@pytest.mark.parametrize(
    ("schedule", "zone", "rewritten", "why"),
    [
        ("+5 * * * *", "UTC", "5 * * * *", "jobsched refuses '+5 * * * *'"),
        ("1,,2 * * * *", "UTC", "1,2 * * * *", "jobsched refuses"),
        ("*-5 * * * *", "UTC", "* * * * *", "jobsched refuses"),
        ("0 0 */1 * mon", "UTC", "0 0 * * 1", "jobsched would fire at 2026-01-01 00:00 UTC"),
        ("0 0 */1 * 1-5", "Asia/Shanghai", "0 0 * * 1-5", "batch/v1 does not"),
    ],
)
def test_rewritten_exactly(schedule: str, zone: str, rewritten: str, why: str) -> None:
    got = equivalent_schedule(schedule, zone, START)
    assert got.schedule == rewritten
    assert got.translated
    assert got.difference is not None
    assert why in got.difference


@pytest.mark.parametrize(
    ("schedule", "zone", "why"),
    [
        ("30 1 * * *", "America/New_York", "batch/v1 fires at 2026-11-01 01:30 EST (2026-11-01T06:30:00Z)"),
        ("30 2 * * *", "America/New_York", "jobsched would fire at 2026-03-08 03:00 EDT"),
        ("0 * * * *", "Europe/Berlin", "batch/v1 fires at 2026-10-25 02:00 CET"),
        ("*/5 * * * *", "Australia/Lord_Howe", "batch/v1 fires at 2026-04-05 01:30 +1030"),
        ("@every 90s", "UTC", "@every counts from the last run"),
        ("0 0 30 2 *", "UTC", "never fires in batch/v1"),
    ],
)
def test_no_exact_equivalent(schedule: str, zone: str, why: str) -> None:
    got = equivalent_schedule(schedule, zone, START)
    assert got.schedule is None
    assert got.difference is not None
    assert why in got.difference


def test_invalid_batch_schedule_or_zone_raises() -> None:
    with pytest.raises(CronSpecError):
        equivalent_schedule("* * * * 7", "UTC", START)
    with pytest.raises(CronSpecError):
        equivalent_schedule("* * * * *", "Mars/Olympus", START)


def test_short_horizon_sees_no_dst() -> None:
    # Within January nothing changes in New York: the fall-back difference is out of sight.
    got = equivalent_schedule("30 1 * * *", "America/New_York", START, timedelta(days=30))
    assert got.schedule == "30 1 * * *"


def test_five_fields_spells_robfigs_meaning() -> None:
    assert five_fields(parse_batch_schedule("5/15 * * * *")) == "5-50/15 * * * *"
    assert five_fields(parse_batch_schedule("0 0 1-31 * 1")) == "0 0 * * *"  # no star bit: OR
    assert five_fields(parse_batch_schedule("0 0 ? * 1")) == "0 0 * * 1"  # star bit: AND
    assert five_fields(parse_batch_schedule("@monthly")) == "0 0 1 * *"


def test_offset_changes_to_the_second() -> None:
    changes = offset_changes("Europe/Berlin", START, START + timedelta(days=365))
    assert changes == (datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC))
    assert offset_changes("Asia/Kolkata", START, START + timedelta(days=365)) == ()
