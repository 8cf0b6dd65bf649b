"""Re-running a slot after a provider failure: which failed pods never started, the decision, the name
and the body of the re-run, all as tables."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsched.core.convert import PodRecord, container_ran
from jobsched.core.cronentry import CronEntry
from jobsched.core.cronruns import RunRecord, RunState, run_from_pod
from jobsched.core.naming import MAX_NAME, rerun_object_name, slot_object_name
from jobsched.core.reruns import (
    RerunPlan,
    Verdict,
    build_rerun_object,
    never_started_failure,
    remaining_chain,
    rerun_plan,
)
from jobsched.core.vocabulary import (
    DOMAINS_ANNOTATION,
    ENTRY_LABEL,
    RERUN_OF_ANNOTATION,
    SCHEDULED_TIME_ANNOTATION,
    TRACKING_FINALIZER,
)

MIDNIGHT = datetime(2026, 1, 1, tzinfo=UTC)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
REASONS = ("ProviderFailed",)


def entry(configmap: str = "crons", name: str = "report", kind: str = "Pod") -> CronEntry:
    return CronEntry("batch", configmap, name, "@daily", kind=kind, template={"spec": {"containers": []}})


def pod_json(
    phase: str, reason: str = "", statuses: list[dict[str, Any]] | None = None, **annotations: str
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
    if statuses is not None:
        status["containerStatuses"] = statuses
    return {
        "metadata": {
            "name": "crons-report-29453760-abc",
            "namespace": "batch",
            "uid": "u1",
            "labels": {ENTRY_LABEL: "crons.report"},
            "annotations": {SCHEDULED_TIME_ANNOTATION: "2026-01-01T00:00:00Z", **annotations},
        },
        "spec": {"nodeName": "v1"},
        "status": status,
    }


def run_of(pod: dict[str, Any]) -> RunRecord:
    run = run_from_pod(PodRecord(pod, {}))
    assert run is not None
    return run


RUNNING = {"state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}
EXITED = {"state": {"terminated": {"exitCode": 1, "startedAt": "2026-01-01T00:00:01Z"}}}
WAITING = {"state": {"waiting": {"reason": "ContainerCreating"}}, "restartCount": 0, "started": False}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (pod_json("Failed", "ProviderFailed"), True),  # what virtual-kubelet writes: no container status
        (pod_json("Failed", "ProviderFailed", [WAITING]), True),
        (pod_json("Failed", "ProviderFailed", [EXITED]), False),  # its container started: the slot ran
        (pod_json("Failed", "ProviderFailed", [RUNNING]), False),
        (pod_json("Failed", "ProviderFailed", [{**WAITING, "restartCount": 1}]), False),
        (pod_json("Failed", "ProviderFailed", [{"lastState": EXITED["state"]}]), False),
        (pod_json("Failed", "Evicted"), False),  # a reason not listed
        (pod_json("Failed", ""), False),
        (pod_json("Pending", "ProviderFailed"), False),  # restartPolicy not Never: the provider retries
        (pod_json("Succeeded", "ProviderFailed"), False),
        (pod_json("Failed", "ProviderFailed", **{RERUN_OF_ANNOTATION: "first"}), False),  # once only
    ],
)
def test_never_started_failure(pod: dict[str, Any], expected: bool) -> None:
    assert never_started_failure(run_of(pod), REASONS) is expected


def test_the_configured_reasons_decide() -> None:
    run = run_of(pod_json("Failed", "OutOfpods"))
    assert not never_started_failure(run, REASONS)
    assert never_started_failure(run, ("ProviderFailed", "OutOfpods"))


def test_a_job_run_is_never_rerun_by_jobsched() -> None:
    run = RunRecord(
        "Job", "batch", "j", "u", "crons.report", MIDNIGHT, RunState.FAILED, reason="ProviderFailed"
    )
    assert not never_started_failure(run, REASONS)


def test_a_run_record_reads_reason_chain_and_containers_only_for_failed_pods() -> None:
    failed = run_of(
        pod_json("Failed", "ProviderFailed", [EXITED], **{DOMAINS_ANNOTATION: "virtual, regular"})
    )
    assert (failed.reason, failed.containers_ran, failed.chain) == (
        "ProviderFailed",
        True,
        ("virtual", "regular"),
    )
    active = run_of(pod_json("Pending", "ProviderFailed", **{DOMAINS_ANNOTATION: "virtual"}))
    assert (active.reason, active.containers_ran, active.chain) == ("", False, None)


@pytest.mark.parametrize(
    ("status", "ran"),
    [
        ({}, False),
        (WAITING, False),
        (RUNNING, True),
        (EXITED, True),
        ({"started": True}, True),
        ({"restartCount": 2}, True),
        ({"lastState": {"running": {}}}, False),  # an empty state says nothing
        ({"lastState": {"terminated": {"exitCode": 0}}}, True),
    ],
)
def test_container_ran(status: dict[str, Any], ran: bool) -> None:
    assert container_ran(status) is ran


def test_init_container_statuses_count_too() -> None:
    pod = pod_json("Failed", "ProviderFailed")
    pod["status"]["initContainerStatuses"] = [EXITED]
    assert PodRecord(pod, {}).containers_ran


@pytest.mark.parametrize(
    ("chain", "failed", "rest"),
    [
        (("virtual", "regular"), "virtual", ("regular",)),
        (("virtual", "gpu", "regular"), "virtual", ("gpu", "regular")),
        (("virtual", "regular"), "regular", ()),
        (("virtual",), "virtual", ()),
        (("virtual", "regular"), "other", ("virtual", "regular")),  # placed outside its chain
        (("a", "virtual", "regular"), "virtual", ("regular",)),
    ],
)
def test_remaining_chain(chain: tuple[str, ...], failed: str, rest: tuple[str, ...]) -> None:
    assert remaining_chain(chain, failed) == rest


FAILED = run_of(pod_json("Failed", "ProviderFailed"))
NAME = rerun_object_name(entry(), MIDNIGHT)


@pytest.mark.parametrize(
    ("chain", "existing", "now", "expected"),
    [
        (
            ("virtual", "regular"),
            set(),
            MIDNIGHT + timedelta(seconds=5),
            RerunPlan(Verdict.RERUN, NAME, ("regular",)),
        ),
        (("virtual", "regular"), {NAME}, MIDNIGHT + timedelta(seconds=5), RerunPlan(Verdict.DONE, NAME)),
        (("virtual", "regular"), {NAME}, MIDNIGHT + timedelta(hours=5), RerunPlan(Verdict.DONE, NAME)),
        (("virtual",), set(), MIDNIGHT + timedelta(seconds=5), RerunPlan(Verdict.NO_DOMAIN, NAME)),
        (
            ("virtual", "regular"),
            set(),
            MIDNIGHT + timedelta(seconds=60),
            RerunPlan(Verdict.TOO_LATE, NAME, ("regular",)),
        ),
    ],
)
def test_rerun_plan(chain: tuple[str, ...], existing: set[str], now: datetime, expected: RerunPlan) -> None:
    plan = rerun_plan(
        entry(),
        FAILED,
        chain=chain,
        failed_domain="virtual",
        existing=existing | {FAILED.name},
        now=now,
        deadline=MIDNIGHT + timedelta(seconds=60),
    )
    assert plan == expected


def test_the_rerun_body_is_the_slot_pod_under_its_rerun_name_on_the_remaining_chain() -> None:
    body = build_rerun_object(entry(), MIDNIGHT, "jobsched", ("regular",), "crons-report-first")
    meta = body["metadata"]
    assert meta["name"] == NAME
    assert meta["annotations"][DOMAINS_ANNOTATION] == "regular"
    assert meta["annotations"][RERUN_OF_ANNOTATION] == "crons-report-first"
    assert meta["annotations"][SCHEDULED_TIME_ANNOTATION] == "2026-01-01T00:00:00Z"
    assert meta["labels"][ENTRY_LABEL] == "crons.report"  # the same slot of the same entry
    assert meta["finalizers"] == [TRACKING_FINALIZER]
    assert body["spec"]["restartPolicy"] == "Never"


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=253).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum()
)


@given(configmap=names, name=names, minutes=st.integers(0, 10**8))
def test_rerun_names_are_valid_deterministic_and_never_a_slot_name(
    configmap: str, name: str, minutes: int
) -> None:
    item = entry(configmap, name)
    slot = datetime.fromtimestamp(minutes * 60, UTC)
    rerun = rerun_object_name(item, slot)
    assert len(rerun) <= MAX_NAME
    assert DNS_LABEL.match(rerun), rerun
    assert rerun == rerun_object_name(item, slot)
    assert rerun != slot_object_name(item, slot)
    assert rerun != rerun_object_name(item, slot + timedelta(minutes=1))
