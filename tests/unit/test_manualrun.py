"""A manual run's object: the slot's body without the slot, under a manual name that fits and is unique
per invocation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsched.core.convert import PodRecord
from jobsched.core.cronentry import CronEntry
from jobsched.core.cronruns import run_from_pod
from jobsched.core.manualrun import build_manual_object, manual_object_name
from jobsched.core.naming import entry_label_value
from jobsched.core.podbuild import build_slot_object
from jobsched.trigger import Target, TriggerError

NOW = datetime(2030, 1, 1, 12, 7, 31, 250000, tzinfo=UTC)
POD_TEMPLATE = {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}
JOB_TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def _entry(kind: str = "Pod", **extra: object) -> CronEntry:
    template = JOB_TEMPLATE if kind == "Job" else POD_TEMPLATE
    return CronEntry("team-a", "crons", "nightly", "0 0 * * *", kind=kind, template=template, **extra)  # type: ignore[arg-type]


def test_a_manual_pod_is_the_slots_pod_without_the_slot() -> None:
    entry = _entry(domains=("regular", "virtual"), priority=7)
    body = build_manual_object(entry, NOW, "jobsched", "nonce-1")
    slot = build_slot_object(entry, datetime(2030, 1, 1, 12, 7, tzinfo=UTC), "jobsched")
    meta = body["metadata"]
    assert meta["name"].startswith("crons-nightly-manual-1893499651-")
    assert meta["labels"] == slot["metadata"]["labels"]
    assert meta["finalizers"] == ["jobsched.io/tracking"]
    assert meta["annotations"] == {
        "jobsched.io/domains": "regular,virtual",
        "jobsched.io/priority": "7",
        "jobsched.io/manual": "2030-01-01T12:07:31Z",
    }
    assert body["spec"] == slot["spec"]


def test_a_manual_pod_is_a_run_of_its_entry_but_no_slot() -> None:
    entry = _entry()
    body = build_manual_object(entry, NOW, "jobsched", "n")
    body["metadata"]["uid"] = "uid-1"
    run = run_from_pod(PodRecord(body, {}))
    assert run is not None
    assert run.entry_label == entry_label_value(entry)
    assert run.scheduled is None  # lastScheduleTime never moves for it
    assert PodRecord(body, {}).fire_at is None  # bound as soon as it is placed


def test_a_manual_job_marks_its_pod_template_too() -> None:
    body = build_manual_object(_entry("Job"), NOW, "jobsched", "n")
    assert body["kind"] == "Job"
    assert len(body["metadata"]["name"]) <= 52
    for meta in (body["metadata"], body["spec"]["template"]["metadata"]):
        assert "jobsched.io/scheduled-time" not in meta["annotations"]
        assert meta["annotations"]["jobsched.io/manual"] == "2030-01-01T12:07:31Z"


@given(
    configmap=st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", fullmatch=True),
    name=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True),
    kind=st.sampled_from(["Pod", "Job"]),
)
def test_manual_names_are_dns_labels_that_fit(configmap: str, name: str, kind: str) -> None:
    entry = CronEntry("ns", configmap, name, "* * * * *", kind=kind)
    manual = manual_object_name(entry, NOW, "nonce")
    assert len(manual) <= (52 if kind == "Job" else 63)
    assert manual[0].isalnum()
    assert "." not in manual
    assert "-manual-1893499651-" in manual


def test_each_invocation_gets_its_own_name_and_a_retry_the_same() -> None:
    entry = _entry()
    assert manual_object_name(entry, NOW, "a") == manual_object_name(entry, NOW, "a")
    assert manual_object_name(entry, NOW, "a") != manual_object_name(entry, NOW, "b")


@pytest.mark.parametrize("text", ["team-a/crons", "team-a//nightly", "a/b/c/d", ""])
def test_a_target_needs_three_parts(text: str) -> None:
    with pytest.raises(TriggerError, match="NAMESPACE/CONFIGMAP/ENTRY"):
        Target.parse(text)


def test_a_manual_run_of_an_adopted_cronjob_is_its_job_owned_but_not_controlled() -> None:
    from jobsched.core.cronjobspec import parse_cronjob

    cronjob = {
        "metadata": {"name": "report", "namespace": "team-a", "uid": "uid-report"},
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        },
    }
    entry, problems = parse_cronjob(cronjob)
    assert problems == []
    assert entry is not None
    now = datetime(2030, 1, 1, 12, 7, 30, tzinfo=UTC)
    job = build_manual_object(entry, now, "jobsched", "n1")
    meta = job["metadata"]
    assert job["kind"] == "Job"
    assert meta["name"].startswith("report-manual-")
    assert len(meta["name"]) <= 52
    assert meta["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "report",
            "uid": "uid-report",
            "controller": False,
            "blockOwnerDeletion": True,
        }
    ]
    assert "jobsched.io/scheduled-time" not in job["spec"]["template"]["metadata"]["annotations"]
    assert job["spec"]["template"]["spec"]["schedulerName"] == "jobsched"
