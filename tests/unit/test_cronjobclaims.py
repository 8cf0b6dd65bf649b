"""The CronJob hand-over's decisions as tables: what a claim writes, when it is done, what Forbid and
Replace see, and what a restarted jobsched finds still owed for its Jobs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronjobclaims import (
    AdoptedJob,
    CronJobState,
    Pending,
    Step,
    adopted_job,
    claim_patch,
    cronjob_state,
    forbid_blocks,
    own_patch,
    pending_steps,
    release_patch,
    replace_candidates,
)
from jobsched.core.cronjobspec import parse_cronjob
from jobsched.core.cronruns import RunState
from jobsched.core.podbuild import build_adopted_job

T = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def entry(**spec: Any) -> CronEntry:
    body = {
        "metadata": {"name": "cj", "namespace": "ns", "uid": "cj-uid"},
        "spec": {
            "schedule": "* * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
            **spec,
        },
    }
    parsed, problems = parse_cronjob(body)
    assert parsed is not None, problems
    return parsed


def state(
    active: tuple[AdoptedJob | dict[str, str], ...] | list[Any] = (),
    last: datetime | None = None,
    **extra: Any,
) -> CronJobState:
    refs = tuple(a.ref if isinstance(a, AdoptedJob) else a for a in active)
    base = CronJobState("ns", "cj", "cj-uid", "41", None, False, refs, last, None)
    return replace(base, **extra)


def job(slot: datetime, **extra: Any) -> AdoptedJob:
    name = f"cj-{int(slot.timestamp()) // 60}"
    base = AdoptedJob(
        "ns",
        name,
        f"uid-{name}",
        "7",
        "cj",
        "cj-uid",
        slot,
        False,
        RunState.ACTIVE,
        False,
        None,
        None,
        slot - MINUTE,
    )
    return replace(base, **extra)


NATIVE_REF = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "name": "cj-native",
    "namespace": "ns",
    "uid": "native-uid",
}


# --- reading the objects ------------------------------------------------------------------------------


def test_a_cronjob_is_read_with_its_status_as_stored() -> None:
    obj = {
        "metadata": {
            "namespace": "ns",
            "name": "cj",
            "uid": "u",
            "resourceVersion": "9",
            "creationTimestamp": "2026-12-01T00:00:00Z",
        },
        "spec": {"suspend": True},
        "status": {"active": [NATIVE_REF], "lastScheduleTime": "2026-12-03T06:59:00Z"},
    }
    read = cronjob_state(obj)
    assert (read.resource_version, read.suspended, read.active, read.last_schedule_time) == (
        "9",
        True,
        (NATIVE_REF,),
        T - MINUTE,
    )
    status = read.entry_status()
    assert (status.active, status.tracked_since) == (("cj-native",), datetime(2026, 12, 1, tzinfo=UTC))


def test_only_jobs_jobsched_made_for_a_cronjob_are_adopted_jobs() -> None:
    body = build_adopted_job(entry(), T, now=T - 10 * MINUTE, previous=T - MINUTE)
    body["metadata"]["uid"] = "j-uid"
    body["status"] = {
        "startTime": "2026-12-03T06:50:01Z",
        "conditions": [{"type": "Complete", "status": "True"}],
    }
    read = adopted_job(body)
    assert read is not None
    assert (read.name, read.cronjob, read.cronjob_uid, read.slot, read.previous) == (
        "cj-29938020",
        "cj",
        "cj-uid",
        T,
        T - MINUTE,
    )
    assert (read.controller, read.state, read.running) == (False, RunState.SUCCEEDED, False)
    assert read.started == datetime(2026, 12, 3, 6, 50, 1, tzinfo=UTC)
    native = {
        "metadata": {
            "name": "cj-1",
            "ownerReferences": [{"kind": "CronJob", "name": "cj", "controller": True}],
        }
    }
    assert adopted_job(native) is None
    del body["metadata"]["ownerReferences"]
    assert adopted_job(body) is None  # a ConfigMap entry's Job


# --- the claim ---------------------------------------------------------------------------------------


def test_claim_adds_the_job_and_its_slot_in_one_conditional_write() -> None:
    mine = job(T)
    patch = claim_patch(state([NATIVE_REF], last=T - MINUTE), mine)
    assert patch == {
        "metadata": {"resourceVersion": "41"},
        "status": {"active": [NATIVE_REF, mine.ref], "lastScheduleTime": "2026-12-03T07:00:00Z"},
    }
    assert mine.ref == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": "cj-29938020",
        "namespace": "ns",
        "uid": "uid-cj-29938020",
        "resourceVersion": "7",
    }


@pytest.mark.parametrize(
    ("current", "done"),
    [
        (state([job(T)], last=T), True),
        (state([job(T)], last=T + MINUTE), True),  # a later slot was claimed on top of it
        (state([], last=T - MINUTE), False),
        (state([job(T)], last=T - MINUTE), False),  # listed, but lastScheduleTime not there yet
        (state([], last=T), False),  # the time, but not the Job
        (state([], last=None), False),
    ],
)
def test_when_a_claim_is_done(current: CronJobState, done: bool) -> None:
    assert (claim_patch(current, job(T)) is None) is done


def test_a_finished_job_is_claimed_by_its_time_only() -> None:
    finished = job(T, state=RunState.SUCCEEDED)
    patch = claim_patch(state([], last=T - MINUTE), finished)
    assert patch is not None
    assert patch["status"]["active"] == []
    assert claim_patch(state([], last=T), finished) is None


def test_release_puts_back_the_previous_time() -> None:
    mine = job(T)
    assert release_patch(state([NATIVE_REF, mine], last=T), mine) == {
        "metadata": {"resourceVersion": "41"},
        "status": {"active": [NATIVE_REF], "lastScheduleTime": "2026-12-03T06:59:00Z"},
    }
    first = replace(mine, previous=None)
    patch = release_patch(state([mine], last=T), first)
    assert patch is not None
    assert patch["status"] == {"active": [], "lastScheduleTime": None}
    assert release_patch(state([], last=T - MINUTE), mine) is None  # nothing of it left


def test_own_patch_tests_before_it_replaces() -> None:
    ops = own_patch(job(T))
    assert ops[:-1] == [
        {"op": "test", "path": "/metadata/uid", "value": "uid-cj-29938020"},
        {"op": "test", "path": "/metadata/ownerReferences/0/uid", "value": "cj-uid"},
        {"op": "test", "path": "/metadata/ownerReferences/0/controller", "value": False},
    ]
    assert ops[-1] == {"op": "replace", "path": "/metadata/ownerReferences/0/controller", "value": True}


# --- concurrencyPolicy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "jobs", "blocked"),
    [
        ([], [], False),
        ([NATIVE_REF], [], True),  # a Job jobsched does not know: taken to be running
        ([job(T - MINUTE)], [job(T - MINUTE)], True),
        ([job(T - MINUTE)], [job(T - MINUTE, state=RunState.SUCCEEDED)], False),  # done, not yet dropped
        ([job(T - MINUTE)], [job(T - MINUTE, state=RunState.FAILED)], False),
        ([], [job(T - MINUTE)], True),  # running, its claim not seen yet
        ([], [job(T - MINUTE, deleting=True)], False),
    ],
)
def test_forbid(active: list[Any], jobs: list[AdoptedJob], blocked: bool) -> None:
    assert forbid_blocks(state(active), jobs, T) is blocked


def test_replace_deletes_what_runs_beside_the_newest_once_it_fired() -> None:
    old, new = job(T - MINUTE), job(T)
    current = state([NATIVE_REF, old, new], last=T)
    assert replace_candidates(current, [old, new], T - timedelta(seconds=1)) == []  # not fired yet
    assert replace_candidates(current, [old, new], T) == [NATIVE_REF, old.ref]
    finished_old = replace(old, state=RunState.SUCCEEDED)
    assert replace_candidates(current, [finished_old, new], T) == [NATIVE_REF]
    # The newest slot was the native controller's: it replaced for itself.
    assert replace_candidates(state([NATIVE_REF, old], last=T), [old], T) == []


# --- what is left to do ------------------------------------------------------------------------------


def test_a_restart_claims_then_owns() -> None:
    mine = job(T)
    now = T - timedelta(seconds=5)
    assert pending_steps(state([], last=T - MINUTE), [mine], entry(), now) == [Pending(Step.CLAIM, mine)]
    assert pending_steps(state([mine], last=T), [mine], entry(), now) == [Pending(Step.OWN, mine)]
    owned = replace(mine, controller=True)
    assert pending_steps(state([owned], last=T), [owned], entry(), now) == []


def test_a_handed_back_cronjob_gets_its_staged_slot_finished() -> None:
    mine = job(T)
    steps = pending_steps(state([], last=T - MINUTE), [mine], None, T - timedelta(seconds=5))
    assert steps == [Pending(Step.CLAIM, mine)]


@pytest.mark.parametrize(
    ("current", "spec", "cancelled"),
    [
        (state([], last=T, suspended=True), {}, True),
        (state([], last=T), {"suspend": True}, True),  # the entry saw the edit first
        (state([], last=T), {"schedule": "30 * * * *"}, True),  # T is no longer a slot
        (state([], last=T), {}, False),
    ],
)
def test_a_slot_called_off_before_it_fires_is_cancelled(
    current: CronJobState, spec: dict[str, Any], cancelled: bool
) -> None:
    mine = job(T)
    steps = pending_steps(current, [mine], entry(**spec), T - timedelta(seconds=5))
    assert (Pending(Step.CANCEL, mine) in steps) is cancelled
    # Once fired, it runs to its end: batch/v1 never stops a running Job for suspend.
    assert Pending(Step.CANCEL, mine) not in pending_steps(current, [mine], entry(**spec), T)


def test_suspending_a_handed_back_cronjob_still_calls_off_its_staged_slot() -> None:
    mine = job(T)
    assert pending_steps(state([], last=T, suspended=True), [mine], None, T - MINUTE) == [
        Pending(Step.CANCEL, mine)
    ]


def test_the_deadline_is_set_once_the_slot_fired() -> None:
    with_deadline = entry(
        jobTemplate={
            "spec": {
                "activeDeadlineSeconds": 600,
                "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
            }
        }
    )
    mine = job(T, controller=True, started=T - timedelta(seconds=30), deadline_s=650)
    current = state([mine], last=T)
    assert pending_steps(current, [mine], with_deadline, T - timedelta(seconds=1)) == []
    assert pending_steps(current, [mine], with_deadline, T) == [Pending(Step.DEADLINE, mine, 630)]
    assert pending_steps(current, [replace(mine, deadline_s=630)], with_deadline, T) == []


def test_jobs_of_an_earlier_cronjob_of_the_same_name_are_left_to_garbage_collection() -> None:
    stale = job(T, cronjob_uid="old-uid")
    assert pending_steps(state([], last=None), [stale], entry(), T - MINUTE) == []
