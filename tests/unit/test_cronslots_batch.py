"""Slot math for entries in the batch/v1 dialect (adopted CronJobs), beside ConfigMap entries.

The same functions serve both dialects; these tests show where the answers part (DST, the star bit,
the controller's choice after downtime) and that the ConfigMap dialect is untouched.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobsched.core.batchcron import UnfireableSchedule
from jobsched.core.cronentry import BATCH_V1_DIALECT, CronEntry
from jobsched.core.cronslots import due_slot, latest_slot, next_slot, slots_between, storm_groups

JOB_TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def cron(schedule: str, tz: str = "UTC", dialect: str = BATCH_V1_DIALECT, **fields: object) -> CronEntry:
    return CronEntry("ns", "cm", "e", schedule, time_zone=tz, dialect=dialect, **fields)  # type: ignore[arg-type]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_dialect_defaults_to_jobsched_and_is_checked() -> None:
    assert CronEntry("ns", "cm", "e", "@daily").dialect == "jobsched"
    with pytest.raises(ValueError, match="dialect"):
        CronEntry("ns", "cm", "e", "@daily", dialect="vixie")


def test_spec_hash_covers_the_dialect_and_keeps_configmap_hashes() -> None:
    fields: dict[str, object] = {"time_zone": "Europe/Berlin", "kind": "Job", "template": JOB_TEMPLATE}
    configmap_entry = CronEntry("ns", "cm", "e", "0 0 * * *", **fields)  # type: ignore[arg-type]
    adopted = CronEntry("ns", "cm", "e", "0 0 * * *", dialect=BATCH_V1_DIALECT, **fields)  # type: ignore[arg-type]
    assert configmap_entry.spec_hash == "dd53c444e4ba99c5"  # its value before dialects existed
    assert adopted.spec_hash != configmap_entry.spec_hash
    assert adopted != configmap_entry


def test_fall_back_repeated_time_fires_twice_only_in_batch_v1() -> None:
    window = (utc(2026, 11, 1), utc(2026, 11, 1, 12))
    assert list(slots_between(cron("30 1 * * *", "America/New_York"), *window)) == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 1, 6, 30),
    ]
    configmap = cron("30 1 * * *", "America/New_York", dialect="jobsched")
    assert list(slots_between(configmap, *window)) == [utc(2026, 11, 1, 5, 30)]


def test_spring_forward_gap_is_skipped_only_in_batch_v1() -> None:
    adopted = cron("30 2 * * *", "America/New_York")
    assert next_slot(adopted, utc(2026, 3, 7, 12)) == utc(2026, 3, 9, 6, 30)
    assert latest_slot(adopted, utc(2026, 3, 9, 6)) == utc(2026, 3, 7, 7, 30)
    configmap = cron("30 2 * * *", "America/New_York", dialect="jobsched")
    assert next_slot(configmap, utc(2026, 3, 7, 12)) == utc(2026, 3, 8, 7)


def test_star_bit_dom_means_mondays_only_in_batch_v1() -> None:
    start, end = utc(2026, 1, 1), utc(2026, 1, 8)
    assert len(list(slots_between(cron("0 0 */1 * mon"), start, end))) == 1
    assert len(list(slots_between(cron("0 0 */1 * mon", dialect="jobsched"), start, end))) == 7


def test_due_slot_after_downtime_follows_the_controller() -> None:
    entry = cron("0 * * * *")
    decision = due_slot(entry, utc(2026, 1, 1), utc(2026, 1, 1, 5, 30))
    assert (decision.fire, decision.latest, decision.missed, decision.too_late) == (
        utc(2026, 1, 1, 5),
        utc(2026, 1, 1, 5),
        4,
        False,
    )
    assert decision.next_slot == utc(2026, 1, 1, 6)
    fresh = due_slot(entry, None, utc(2026, 1, 1, 5, 30))
    assert (fresh.fire, fresh.latest) == (None, None)


def test_due_slot_deadline_and_suspend() -> None:
    late = due_slot(cron("0 * * * *", starting_deadline_seconds=600), utc(2026, 1, 1), utc(2026, 1, 1, 5, 30))
    assert (late.fire, late.latest, late.too_late) == (None, utc(2026, 1, 1, 5), True)
    # The controller looks for slots after now - deadline: one exactly that old is too late.
    edge = due_slot(
        cron("0 * * * *", starting_deadline_seconds=1800), utc(2026, 1, 1), utc(2026, 1, 1, 5, 30)
    )
    assert edge.too_late
    suspended = due_slot(cron("0 * * * *", suspend=True), utc(2026, 1, 1), utc(2026, 1, 1, 5, 30))
    assert (suspended.fire, suspended.latest) == (None, utc(2026, 1, 1, 5))


def test_due_slot_keeps_the_controllers_estimate() -> None:
    # Mondays and Tuesdays, last fired Sunday 01-04, controller back the next Sunday: natively nothing
    # fires (its estimate overshoots), although Monday and Tuesday passed.
    decision = due_slot(cron("0 0 * * 1,2"), utc(2026, 1, 4), utc(2026, 1, 11, 12))
    assert (decision.fire, decision.latest) == (None, None)
    configmap = due_slot(cron("0 0 * * 1,2", dialect="jobsched"), utc(2026, 1, 4), utc(2026, 1, 11, 12))
    assert configmap.fire == utc(2026, 1, 6)


def test_every_and_never_firing_schedules() -> None:
    every = cron("@every 90s")
    assert next_slot(every, utc(2026, 1, 1)) == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    with pytest.raises(UnfireableSchedule):
        next_slot(cron("0 0 30 2 *"), utc(2026, 1, 1))


def test_storm_groups_keep_dialects_apart() -> None:
    adopted = cron("30 1 * * *", "America/New_York")
    configmap = cron("30 1 * * *", "America/New_York", dialect="jobsched")
    groups = storm_groups([adopted, configmap], utc(2026, 11, 1), utc(2026, 11, 1, 12))
    assert groups == {utc(2026, 11, 1, 5, 30): [adopted, configmap], utc(2026, 11, 1, 6, 30): [adopted]}
