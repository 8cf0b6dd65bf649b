"""Per-entry metrics: what each number means (core.entrymetrics), and the series a scrape sees
(runtime.entry_metrics): labels, absent values, missed slots by reason, gone entries, the off switch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronplan import EntryStatus
from jobsched.core.entrymetrics import EntrySample, entry_sample, slots_between_count
from jobsched.kube.events import ObjectRef
from jobsched.runtime.entry_metrics import MISSED_BY_EVENT, MISSED_REASONS, EntryMetrics, labels_of
from jobsched.runtime.metrics import Metrics
from tests.support.exposition import sample_value

T = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
HOURLY = CronEntry("ns", "crons", "hourly", "0 * * * *")
REF = ObjectRef("ConfigMap", "ns", "crons")


def ts(moment: datetime) -> float:
    return moment.timestamp()


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(None, EntrySample(None, None, ts(T + hours(1)), 0, 0), id="unknown: next after now"),
        pytest.param(
            EntryStatus(tracked_since=T - hours(3) - timedelta(minutes=30)),
            EntrySample(None, None, ts(T - hours(3)), 0, 0),
            id="tracked, never fired: first slot after tracking, overdue",
        ),
        pytest.param(
            EntryStatus(T, T + timedelta(seconds=30), (), T - hours(5)),
            EntrySample(ts(T), ts(T + timedelta(seconds=30)), ts(T + hours(1)), 0, 0),
            id="healthy: last slot succeeded",
        ),
        pytest.param(
            EntryStatus(T, T - hours(1) + timedelta(seconds=30), ("hourly-a",), T - hours(5)),
            EntrySample(ts(T), ts(T - hours(1) + timedelta(seconds=30)), ts(T + hours(1)), 1, 1),
            id="running: one slot since the last success",
        ),
        pytest.param(
            EntryStatus(T, T - hours(3) + timedelta(seconds=30), (), T - hours(5)),
            EntrySample(ts(T), ts(T - hours(3) + timedelta(seconds=30)), ts(T + hours(1)), 0, 3),
            id="failing: three slots since the last success",
        ),
        pytest.param(
            EntryStatus(T, None, (), T - hours(2) - timedelta(minutes=1)),
            EntrySample(ts(T), None, ts(T + hours(1)), 0, 3),
            id="never succeeded: slots since tracking began",
        ),
        pytest.param(
            EntryStatus(T - hours(2), T - hours(2) + timedelta(seconds=5), (), T - hours(5)),
            EntrySample(ts(T - hours(2)), ts(T - hours(2) + timedelta(seconds=5)), ts(T - hours(1)), 0, 0),
            id="a slot missed since: next lies in the past",
        ),
    ],
)
def test_entry_sample(status: EntryStatus | None, expected: EntrySample) -> None:
    assert entry_sample(HOURLY, status, T + timedelta(minutes=10)) == expected


def test_a_suspended_entry_has_no_next_slot() -> None:
    suspended = CronEntry("ns", "crons", "paused", "0 * * * *", suspend=True)
    assert entry_sample(suspended, EntryStatus(T), T).next_schedule is None


def test_slots_since_success_is_capped() -> None:
    minutely = CronEntry("ns", "crons", "minutely", "* * * * *")
    assert slots_between_count(minutely, T - hours(24), T, cap=100) == 100
    assert slots_between_count(minutely, T - timedelta(minutes=5), T, cap=100) == 5
    status = EntryStatus(T, None, (), T - hours(24))
    assert entry_sample(minutely, status, T).slots_since_success == 100


def _labels(entry: str) -> dict[str, str]:
    return {"namespace": "ns", "source": "ConfigMap/crons", "entry": entry}


def test_series_carry_namespace_source_and_entry_and_skip_unknown_times() -> None:
    entries = EntryMetrics()
    never = CronEntry("ns", "crons", "never-fired", "30 * * * *")
    entries.publish(
        [
            (REF, HOURLY, EntryStatus(T, T + timedelta(seconds=30), ("a", "b"), T - hours(1))),
            (REF, never, None),
        ],
        T + timedelta(minutes=1),
    )
    text = entries.exposition()

    def value(name: str, entry: str) -> float | None:
        return sample_value(text, f"jobsched_cron_entry_{name}", _labels(entry))

    assert value("last_schedule_time_seconds", "hourly") == ts(T)
    assert value("last_successful_time_seconds", "hourly") == ts(T) + 30
    assert value("next_schedule_time_seconds", "hourly") == ts(T + hours(1))
    assert value("active_runs", "hourly") == 2
    assert value("last_schedule_time_seconds", "never-fired") is None
    assert value("last_successful_time_seconds", "never-fired") is None
    assert value("next_schedule_time_seconds", "never-fired") == ts(T + timedelta(minutes=30))
    assert value("slots_since_last_success", "never-fired") == 0


def test_missed_slots_by_reason_and_gone_entries_lose_their_series() -> None:
    entries = EntryMetrics()
    other = CronEntry("ns", "crons", "other", "0 * * * *")
    entries.publish([(REF, HOURLY, None), (REF, other, None)], T)
    entries.missed(REF, "hourly", "downtime", 3)
    entries.missed(REF, "hourly", "concurrency")
    entries.missed(REF, "other", "create_failed")
    missed = "jobsched_cron_entry_missed_slots_total"
    text = entries.exposition()
    assert sample_value(text, missed, {**_labels("hourly"), "reason": "downtime"}) == 3
    assert sample_value(text, missed, {**_labels("hourly"), "reason": "concurrency"}) == 1
    assert sample_value(text, missed, {**_labels("other"), "reason": "create_failed"}) == 1
    entries.publish([(REF, HOURLY, None)], T)  # "other" was removed
    text = entries.exposition()
    assert b'entry="other"' not in text
    assert sample_value(text, missed, {**_labels("hourly"), "reason": "downtime"}) == 3


def test_an_unknown_reason_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown missed-slot reason"):
        EntryMetrics().missed(REF, "hourly", "bad-luck")


def test_every_event_reason_maps_to_a_documented_missed_reason() -> None:
    assert set(MISSED_BY_EVENT.values()) <= set(MISSED_REASONS)


def test_per_entry_off_exports_nothing() -> None:
    metrics = Metrics(per_entry=False)
    metrics.entries.publish([(REF, HOURLY, EntryStatus(T))], T)
    metrics.entries.missed(REF, "hourly", "downtime")
    assert b"jobsched_cron_entry_" not in metrics.exposition()
    assert b"# TYPE jobsched_cron_entry_active_runs gauge" in Metrics().exposition()


def test_an_unchanged_status_is_not_recomputed() -> None:
    entries = EntryMetrics()
    status = EntryStatus(T, None, (), T - hours(50))
    entries.publish([(REF, HOURLY, status)], T)
    first = entries.samples
    entries.publish([(REF, HOURLY, status)], T + hours(1))
    assert entries.samples[labels_of(REF, "hourly")] is first[labels_of(REF, "hourly")]


def test_the_text_is_valid_exposition_and_grouped_by_family() -> None:
    entries = EntryMetrics()
    others = [CronEntry("ns", "crons", f"e{i}", "0 * * * *") for i in range(3)]
    entries.publish([(REF, e, EntryStatus(T, T, (), T - hours(1))) for e in [HOURLY, *others]], T)
    entries.missed(REF, "e1", "invalid")
    families = list(text_string_to_metric_families(entries.exposition().decode()))
    names = [family.name for family in families]
    assert len(names) == len(set(names)) == 6  # each family once: its lines are together
    assert {len(family.samples) for family in families if family.type == "gauge"} == {4}
