"""An adopted batch/v1 CronJob: read into an entry (or kept native, with the field that says why), named
as the native controller names its Jobs, and the Job jobsched creates for one of its slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsched.core.cronentry import BATCH_V1_DIALECT, CronEntry, thaw
from jobsched.core.cronjobspec import parse_cronjob
from jobsched.core.cronslots import next_slot, slots_between
from jobsched.core.naming import entry_label_value, slot_labels_and_annotations, slot_object_name
from jobsched.core.podbuild import adjusted_deadline, build_adopted_job, go_rfc3339
from jobsched.core.vocabulary import (
    CONFIGMAP_LABEL,
    CRONJOB_SCHEDULED_TIMESTAMP,
    ENTRY_LABEL,
    PREVIOUS_SCHEDULE_ANNOTATION,
    SCHEDULED_TIME_ANNOTATION,
)

SLOT = datetime(2026, 12, 3, 6, 58, tzinfo=UTC)


def cronjob(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "report",
            "namespace": "analytics",
            "uid": "cj-uid",
            "generation": 1,
            "labels": {"jobsched.io/managed": "true"},
        },
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {
                "metadata": {"labels": {"team": "data"}, "annotations": {"owner": "ann"}},
                "spec": {
                    "backoffLimit": 2,
                    "template": {
                        "metadata": {"labels": {"app": "report"}},
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
                    },
                },
            },
        },
    }
    body["spec"].update(spec)
    return body


def parsed(obj: dict[str, Any], zone: str = "UTC") -> CronEntry:
    entry, problems = parse_cronjob(obj, "jobsched", zone)
    assert problems == []
    assert entry is not None
    return entry


def test_every_field_keeps_its_batch_v1_default() -> None:
    entry = parsed(cronjob())
    assert (entry.namespace, entry.name, entry.configmap) == ("analytics", "report", "report")
    assert entry.key == "analytics/CronJob/report"
    assert (entry.concurrency_policy, entry.suspend, entry.starting_deadline_seconds) == (
        "Allow",
        False,
        None,
    )
    assert (entry.successful_history, entry.failed_history) == (3, 1)
    assert (entry.kind, entry.dialect, entry.time_zone) == ("Job", BATCH_V1_DIALECT, "UTC")
    assert entry.origin is not None
    assert entry.origin.uid == "cj-uid"
    assert entry.origin.time_zone is None
    assert entry.template["spec"]["backoffLimit"] == 2


def test_fields_are_read_as_written() -> None:
    obj = cronjob(
        timeZone="Europe/Berlin",
        suspend=True,
        concurrencyPolicy="Forbid",
        startingDeadlineSeconds=90,
        successfulJobsHistoryLimit=0,
        failedJobsHistoryLimit=5,
    )
    obj["metadata"]["annotations"] = {"jobsched.io/domains": "virtual, regular", "jobsched.io/priority": "7"}
    entry = parsed(obj)
    assert (entry.time_zone, entry.suspend, entry.concurrency_policy) == ("Europe/Berlin", True, "Forbid")
    assert (entry.starting_deadline_seconds, entry.successful_history, entry.failed_history) == (90, 0, 5)
    assert (entry.domains, entry.priority) == (("virtual", "regular"), 7)
    assert entry.origin is not None
    assert entry.origin.time_zone == "Europe/Berlin"


def test_without_time_zone_the_controllers_zone_applies() -> None:
    entry = parsed(cronjob(), zone="Asia/Shanghai")
    assert entry.time_zone == "Asia/Shanghai"
    assert entry.origin is not None
    assert entry.origin.time_zone is None


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"schedule": "@every 90s"}, "spec.schedule", "@every"),
        ({"schedule": "CRON_TZ=Europe/Berlin 0 * * * *"}, "spec.schedule", "spec.timeZone"),
        ({"schedule": "TZ=UTC 0 * * * *"}, "spec.schedule", "spec.timeZone"),
        ({"schedule": "0 0 30 2 *"}, "spec.schedule", "no time matches"),
        ({"schedule": "0 0 * * 7"}, "spec.schedule", "above maximum (6)"),  # batch/v1's day-of-week range
        ({"timeZone": "Mars/Olympus"}, "spec.timeZone", "unknown time zone"),
    ],
)
def test_what_stays_native_is_named_by_its_field(change: dict[str, Any], field: str, words: str) -> None:
    entry, problems = parse_cronjob(cronjob(**change), "jobsched")
    assert entry is None
    assert [p.field for p in problems] == [field]
    assert words in problems[0].message
    assert problems[0].configmap == "analytics/report"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("spec",), {"suspend": True}, "spec.jobTemplate.spec.suspend"),
        (("spec",), {"managedBy": "kueue.x-k8s.io/multikueue"}, "spec.jobTemplate.spec.managedBy"),
        (
            ("spec", "template", "spec"),
            {"schedulerName": "volcano"},
            "spec.jobTemplate.spec.template.spec.schedulerName",
        ),
        (("spec", "template", "spec"), {"nodeName": "n1"}, "spec.jobTemplate.spec.template.spec.nodeName"),
    ],
)
def test_job_templates_owned_elsewhere_stay_native(
    path: tuple[str, ...], value: dict[str, Any], field: str
) -> None:
    obj = cronjob()
    target = obj["spec"]["jobTemplate"]
    for key in path:
        target = target[key]
    target.update(value)
    entry, problems = parse_cronjob(obj, "jobsched")
    assert entry is None
    assert [p.field for p in problems] == [field]


@pytest.mark.parametrize("scheduler", ["default-scheduler", "jobsched"])
def test_default_or_own_scheduler_is_adopted(scheduler: str) -> None:
    obj = cronjob()
    obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["schedulerName"] = scheduler
    obj["spec"]["jobTemplate"]["spec"]["managedBy"] = "kubernetes.io/job-controller"
    assert parse_cronjob(obj, "jobsched")[0] is not None


@pytest.mark.parametrize("schedule", ["+5 * * * *", "1,,2 * * * *", "? ? ? ? ?", "@hourly"])
def test_what_batch_v1_accepts_jobsched_adopts(schedule: str) -> None:
    assert parse_cronjob(cronjob(schedule=schedule), "jobsched")[0] is not None


def test_slots_are_batch_v1_slots() -> None:
    """robfig ANDs day of month and day of week when either starts with a star: Mondays only."""
    entry = parsed(cronjob(schedule="0 0 */1 * mon"))
    assert next_slot(entry, SLOT) == datetime(2026, 12, 7, tzinfo=UTC)  # the next Monday
    fall_back = parsed(cronjob(schedule="30 1 * * *", timeZone="America/New_York"))
    slots = list(
        slots_between(fall_back, datetime(2026, 11, 1, 0, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    )
    assert slots == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)]
    assert len({slot_object_name(fall_back, slot) for slot in slots}) == 2  # as natively, one Job each


def test_bad_annotations_are_named() -> None:
    obj = cronjob()
    obj["metadata"]["annotations"] = {"jobsched.io/domains": "Virtual", "jobsched.io/priority": "high"}
    entry, problems = parse_cronjob(obj, "jobsched")
    assert entry is None
    assert [p.field for p in problems] == [
        "metadata.annotations[jobsched.io/domains]",
        "metadata.annotations[jobsched.io/priority]",
    ]


def test_an_entry_changes_with_its_cronjob() -> None:
    base = parsed(cronjob())
    assert parsed(cronjob()) == base
    other = cronjob()
    other["metadata"]["uid"] = "new-uid"
    assert parsed(other) != base  # recreated under the same name: a new owner for its Jobs


def test_names_and_labels_are_the_native_ones() -> None:
    entry = parsed(cronjob())
    assert slot_object_name(entry, SLOT) == "report-29938018"  # batch/v1: unix minutes
    assert entry_label_value(entry) == "cronjob_report"
    labels, annotations = slot_labels_and_annotations(entry, SLOT)
    assert labels == {ENTRY_LABEL: "cronjob_report"}
    assert CONFIGMAP_LABEL not in labels
    assert annotations == {SCHEDULED_TIME_ANNOTATION: "2026-12-03T06:58:00Z"}


def test_adopted_job_is_the_native_job_plus_what_prestaging_needs() -> None:
    obj = cronjob(timeZone="Asia/Kolkata")
    obj["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] = 600
    entry = parsed(obj)
    before = thaw(entry.template)
    previous = SLOT - timedelta(hours=1)
    job = build_adopted_job(entry, SLOT, "jobsched", now=SLOT - timedelta(seconds=20.5), previous=previous)
    meta = job["metadata"]
    assert (job["kind"], meta["name"], meta["namespace"]) == ("Job", "report-29938018", "analytics")
    assert meta["labels"] == {"team": "data", ENTRY_LABEL: "cronjob_report"}
    assert meta["annotations"] == {
        "owner": "ann",
        CRONJOB_SCHEDULED_TIMESTAMP: "2026-12-03T12:28:00+05:30",
        SCHEDULED_TIME_ANNOTATION: "2026-12-03T06:58:00Z",
        PREVIOUS_SCHEDULE_ANNOTATION: "2026-12-03T05:58:00Z",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "report",
            "uid": "cj-uid",
            "controller": False,
            "blockOwnerDeletion": True,
        }
    ]
    spec = job["spec"]
    assert spec["backoffLimit"] == 2
    assert spec["activeDeadlineSeconds"] == 621  # 600 + ceil(20.5): it cannot end before slot + 600
    pod = spec["template"]
    assert pod["spec"]["schedulerName"] == "jobsched"
    assert pod["metadata"]["labels"] == {"app": "report", ENTRY_LABEL: "cronjob_report"}
    assert pod["metadata"]["annotations"] == {SCHEDULED_TIME_ANNOTATION: "2026-12-03T06:58:00Z"}
    assert thaw(entry.template) == before  # the entry's template is copied, never changed


def test_first_slot_records_no_previous_schedule() -> None:
    job = build_adopted_job(parsed(cronjob()), SLOT, now=SLOT, previous=None)
    assert job["metadata"]["annotations"][PREVIOUS_SCHEDULE_ANNOTATION] == ""
    assert job["metadata"]["annotations"][CRONJOB_SCHEDULED_TIMESTAMP] == "2026-12-03T06:58:00Z"
    assert "activeDeadlineSeconds" not in job["spec"]


@pytest.mark.parametrize(
    ("zone", "text"),
    [
        (None, "2026-12-03T06:58:00Z"),
        ("UTC", "2026-12-03T06:58:00Z"),
        ("Europe/London", "2026-12-03T06:58:00Z"),  # Go prints a zero offset as Z
        ("America/New_York", "2026-12-03T01:58:00-05:00"),
    ],
)
def test_scheduled_timestamp_is_formatted_as_go_does(zone: str | None, text: str) -> None:
    assert go_rfc3339(SLOT, zone) == text


@pytest.mark.parametrize(
    ("started", "expected"),
    [
        (SLOT - timedelta(seconds=20), 620),  # pre-staged 20 s early: the deadline ends 600 s after T
        (SLOT, 600),
        (SLOT + timedelta(seconds=5), 600),  # started late: counted from its start, as natively
    ],
)
def test_deadline_counts_from_the_slot(started: datetime, expected: int) -> None:
    obj = cronjob()
    obj["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] = 600
    assert adjusted_deadline(parsed(obj), SLOT, started) == expected
    assert adjusted_deadline(parsed(cronjob()), SLOT, started) is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
SCHEDULES = st.one_of(
    st.text(max_size=30),
    st.lists(
        st.sampled_from(["*", "?", "0", "7", "1-5", "*/2", "mon", "+5", "1,,2", "@daily", "@every 1m"]),
        min_size=1,
        max_size=6,
    ).map(" ".join),
)


@given(
    schedule=st.one_of(SCHEDULES, JSON),
    zone=st.one_of(st.none(), st.sampled_from(["UTC", "Europe/Berlin", "Mars/Base", "Local", ""]), JSON),
    policy=st.one_of(st.sampled_from(["Allow", "Forbid", "Replace", "Sometimes"]), JSON),
    job_spec=st.dictionaries(
        st.sampled_from(
            ["suspend", "managedBy", "template", "parallelism", "completions", "activeDeadlineSeconds"]
        ),
        JSON,
        max_size=4,
    ),
    pod_spec=st.dictionaries(st.sampled_from(["schedulerName", "nodeName", "containers"]), JSON, max_size=3),
)
def test_any_cronjob_is_an_entry_or_problems_naming_fields(
    schedule: Any, zone: Any, policy: Any, job_spec: dict[str, Any], pod_spec: dict[str, Any]
) -> None:
    obj = cronjob(schedule=schedule, timeZone=zone, concurrencyPolicy=policy)
    obj["spec"]["jobTemplate"]["spec"].update(job_spec)
    if isinstance(obj["spec"]["jobTemplate"]["spec"].get("template"), dict):
        obj["spec"]["jobTemplate"]["spec"]["template"].setdefault("spec", {})
        if isinstance(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"], dict):
            obj["spec"]["jobTemplate"]["spec"]["template"]["spec"].update(pod_spec)
    entry, problems = parse_cronjob(obj, "jobsched")
    assert (entry is None) == bool(problems)
    for problem in problems:
        assert problem.configmap == "analytics/report"
        assert problem.field.startswith(("spec.", "metadata.", "cron."))
        assert problem.message
    if entry is not None:
        assert next_slot(entry, SLOT) > SLOT  # an adopted schedule always has a next slot
