"""A create's reply can be read after the watch has shown the object created and deleted. Remembering
that reply must not bring the run back: it would stand as active (holding a Forbid entry's later slots)
until the next relist."""

from __future__ import annotations

from typing import Any

from jobsched.core.convert import PodRecord
from jobsched.core.cronjobclaims import adopted_job
from jobsched.core.cronruns import run_from_job, run_from_pod
from jobsched.core.vocabulary import ENTRY_LABEL, PREVIOUS_SCHEDULE_ANNOTATION, SCHEDULED_TIME_ANNOTATION
from jobsched.runtime.cron.stores import GONE_FOR_S, JobRuns, PodRuns, RecentlyGone


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def job(name: str, uid: str) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": name,
            "uid": uid,
            "resourceVersion": "7",
            "labels": {ENTRY_LABEL: "report"},
            "annotations": {
                SCHEDULED_TIME_ANNOTATION: "2026-12-04T00:00:00Z",
                PREVIOUS_SCHEDULE_ANNOTATION: "2026-12-03T00:00:00Z",
            },
            "ownerReferences": [{"kind": "CronJob", "name": "report", "uid": "cj-uid", "controller": True}],
        }
    }


def reply_of(obj: dict[str, Any], store: JobRuns) -> None:
    """What a stage does with the create's reply."""
    adopted = adopted_job(obj)
    run = run_from_job(obj)
    assert adopted is not None
    assert run is not None
    store.remember_adopted(adopted)
    store.remember(run)


def test_a_reply_read_after_the_watch_showed_the_deletion_does_not_bring_the_run_back() -> None:
    store = JobRuns()
    obj = job("report-1", "uid-1")
    store.apply("ADDED", obj)
    store.apply("DELETED", obj)
    reply_of(obj, store)
    assert store.of("ns", "report") == {}
    assert store.adopted_of("ns", "report") == {}


def test_a_reply_read_before_the_watch_is_remembered_and_the_watch_still_removes_it() -> None:
    store = JobRuns()
    obj = job("report-1", "uid-1")
    reply_of(obj, store)
    assert set(store.of("ns", "report")) == {"report-1"}
    assert set(store.adopted_of("ns", "report")) == {"report-1"}
    store.apply("DELETED", obj)
    assert store.of("ns", "report") == {}
    assert store.adopted_of("ns", "report") == {}


def test_a_new_object_of_the_same_name_is_remembered_after_the_old_one_was_deleted() -> None:
    store = JobRuns()
    old = job("report-1", "uid-1")
    store.apply("ADDED", old)
    store.apply("DELETED", old)
    reply_of(job("report-1", "uid-2"), store)
    assert store.of("ns", "report")["report-1"].uid == "uid-2"
    assert store.adopted_of("ns", "report")["report-1"].uid == "uid-2"


def test_a_slot_pod_deleted_before_its_create_reply_is_read_stays_gone() -> None:
    store = PodRuns()
    obj = {
        "metadata": {
            "namespace": "ns",
            "name": "report-29940423",
            "uid": "pod-uid",
            "labels": {ENTRY_LABEL: "report"},
            "annotations": {SCHEDULED_TIME_ANNOTATION: "2026-12-04T00:00:00Z"},
        },
        "spec": {},
    }
    store.pod_changed("ADDED", PodRecord(obj, {}))
    store.pod_changed("DELETED", PodRecord(obj, {}))
    run = run_from_pod(PodRecord(obj, {}))  # what the stager makes of the create's reply
    assert run is not None
    store.remember(run)
    assert store.of("ns", "report") == {}


def test_deletions_are_forgotten_after_the_window_oldest_first() -> None:
    clock = Clock()
    gone = RecentlyGone(clock)
    gone.add("a")
    clock.now += GONE_FOR_S / 2
    gone.add("b")
    gone.add("b")  # seen twice: remembered from the first time
    gone.add("")  # an object without a UID is never matched
    assert ("a" in gone, "b" in gone, "" in gone, len(gone)) == (True, True, False, 2)
    clock.now += GONE_FOR_S / 2
    assert ("a" in gone, "b" in gone, len(gone)) == (False, True, 1)
    clock.now += GONE_FOR_S / 2
    assert ("b" in gone, len(gone)) == (False, 0)
