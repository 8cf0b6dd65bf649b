"""The cron engine's pure decisions: lead sizing, concurrencyPolicy, history pruning, status, runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsched.core import cronplan
from jobsched.core.convert import PodRecord
from jobsched.core.cronentry import CronEntry, CronJobOrigin
from jobsched.core.cronplan import EntryStatus, SlotAction
from jobsched.core.cronruns import RunRecord, RunState, run_from_job, run_from_pod
from jobsched.core.statusrows import recorded_statuses
from jobsched.kube.statusmaps import status_body

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(
    name: str,
    minute: int,
    state: RunState = RunState.SUCCEEDED,
    *,
    deleting: bool = False,
    finished: datetime | None = None,
) -> RunRecord:
    return RunRecord(
        "Pod",
        "ns",
        name,
        f"uid-{name}",
        "cm.e",
        T0 + timedelta(minutes=minute),
        state,
        finished=finished,
        deleting=deleting,
    )


# --- lead ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "rate", "expected"),
    [
        (0, 300.0, 5.0),  # min lead
        (300, 300.0, 5.0),  # 1 s + 3 s margin, still under the minimum
        (3000, 300.0, 13.0),
        (1_000_000, 300.0, 300.0),  # max lead
        (10, 0.0, 300.0),  # no rate known at all: as early as allowed
    ],
)
def test_lead_seconds(count: int, rate: float, expected: float) -> None:
    assert cronplan.lead_seconds(count, rate, min_lead=5, max_lead=300, margin=3) == pytest.approx(expected)


@given(
    st.integers(0, 100_000),
    st.floats(1, 5000),
    st.floats(0, 10),
    st.floats(0.1, 100),
    st.floats(0, 500),
)
def test_lead_is_clamped_and_monotonic_in_count(
    count: int, rate: float, min_lead: float, span: float, margin: float
) -> None:
    max_lead = min_lead + span
    lead = cronplan.lead_seconds(count, rate, min_lead=min_lead, max_lead=max_lead, margin=margin)
    bigger = cronplan.lead_seconds(count + 100, rate, min_lead=min_lead, max_lead=max_lead, margin=margin)
    assert min_lead <= lead <= max_lead
    assert bigger >= lead


def test_ewma() -> None:
    assert cronplan.ewma(None, 500.0) == 500.0
    assert cronplan.ewma(100.0, 200.0, alpha=0.5) == 150.0


@given(st.lists(st.floats(1, 10_000), min_size=1, max_size=30))
def test_ewma_stays_within_the_samples(samples: list[float]) -> None:
    value: float | None = None
    for sample in samples:
        value = cronplan.ewma(value, sample)
    assert value is not None
    assert min(samples) - 1e-6 <= value <= max(samples) + 1e-6


# --- concurrencyPolicy ---------------------------------------------------------------------------

SLOT = T0 + timedelta(minutes=10)


def test_allow_always_creates() -> None:
    decision = cronplan.concurrency_decision("Allow", [run("a", 9, RunState.ACTIVE)], SLOT)
    assert decision.action is SlotAction.CREATE


@pytest.mark.parametrize(("policy", "action"), [("Forbid", SlotAction.SKIP), ("Replace", SlotAction.REPLACE)])
def test_forbid_and_replace_see_only_earlier_active_runs(policy: str, action: SlotAction) -> None:
    runs = [
        run("done", 8),
        run("going", 9, RunState.ACTIVE),
        run("leaving", 9, RunState.ACTIVE, deleting=True),
        run("later", 11, RunState.ACTIVE),  # pre-staged for a later slot: not "previous"
        run("same", 10, RunState.ACTIVE),  # this slot's own object
    ]
    decision = cronplan.concurrency_decision(policy, runs, SLOT)
    assert decision.action is action
    assert [r.name for r in decision.previous] == ["going"]


@pytest.mark.parametrize("policy", ["Forbid", "Replace"])
def test_nothing_active_creates(policy: str) -> None:
    decision = cronplan.concurrency_decision(policy, [run("done", 9), run("bad", 8, RunState.FAILED)], SLOT)
    assert decision == cronplan.SlotDecision(SlotAction.CREATE)


# --- history -------------------------------------------------------------------------------------


def test_history_keeps_the_newest_of_each_outcome() -> None:
    runs = [run(f"ok{m}", m) for m in range(5)]
    runs += [run(f"bad{m}", m, RunState.FAILED) for m in range(3)]
    runs += [run("active", 6, RunState.ACTIVE), run("gone", 0, deleting=True)]
    prune = cronplan.history_to_prune(runs, successful=2, failed=1)
    assert sorted(r.name for r in prune) == ["bad0", "bad1", "ok0", "ok1", "ok2"]
    everything = cronplan.history_to_prune(runs, successful=0, failed=0)
    assert {r.name for r in everything} == {r.name for r in runs if r.done and not r.deleting}


@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.sampled_from(list(RunState))), max_size=40, unique_by=lambda t: t[0]
    ),
    st.integers(0, 5),
    st.integers(0, 5),
)
def test_history_prune_properties(spec: list[tuple[int, RunState]], keep_ok: int, keep_failed: int) -> None:
    runs = [run(f"r{m}", m, state) for m, state in spec]
    prune = cronplan.history_to_prune(runs, successful=keep_ok, failed=keep_failed)
    kept = [r for r in runs if r not in prune]
    assert all(r.done for r in prune)
    for state, keep in ((RunState.SUCCEEDED, keep_ok), (RunState.FAILED, keep_failed)):
        of_state = [r for r in runs if r.state is state]
        kept_of_state = [r for r in kept if r.state is state]
        assert len(kept_of_state) == min(keep, len(of_state))
        if kept_of_state and len(kept_of_state) < len(of_state):
            oldest_kept = min(r.scheduled for r in kept_of_state)  # type: ignore[type-var]
            assert all(r.scheduled < oldest_kept for r in prune if r.state is state)  # type: ignore[operator]


# --- status --------------------------------------------------------------------------------------


def test_merge_status_moves_forward_only() -> None:
    previous = EntryStatus(T0 + timedelta(minutes=20), T0 + timedelta(minutes=19), ("old",))
    finished = T0 + timedelta(minutes=21, seconds=5)
    runs = [run("a", 21, finished=finished), run("b", 22, RunState.ACTIVE), run("c", 5)]
    status = cronplan.merge_status(previous, runs)
    assert status == EntryStatus(T0 + timedelta(minutes=22), finished, ("b",))
    # The runs pruned away: the times stay, active empties.
    assert cronplan.merge_status(status, []) == EntryStatus(status.last_schedule_time, finished, ())


def test_last_scheduled_is_the_newer_of_record_and_runs() -> None:
    assert cronplan.last_scheduled(None, []) is None
    recorded = EntryStatus(T0 + timedelta(minutes=3))
    assert cronplan.last_scheduled(recorded, [run("a", 2)]) == T0 + timedelta(minutes=3)
    assert cronplan.last_scheduled(recorded, [run("a", 4)]) == T0 + timedelta(minutes=4)


def test_merge_status_keeps_tracked_since() -> None:
    since = T0 - timedelta(days=3)
    previous = EntryStatus(None, None, (), since)
    assert cronplan.merge_status(previous, [run("a", 1)]).tracked_since == since


def test_first_sight_tracks_a_new_entry_from_now_and_a_known_one_from_its_record() -> None:
    now = T0 + timedelta(hours=1)
    assert cronplan.first_sight(None, [], now) == EntryStatus(tracked_since=now)
    recorded = EntryStatus(T0, None, (), T0 - timedelta(days=1))
    status = cronplan.first_sight(recorded, [run("a", 30, RunState.ACTIVE)], now)
    assert status.tracked_since == T0 - timedelta(days=1)
    assert status.last_schedule_time == T0 + timedelta(minutes=30)
    assert status.active == ("a",)


moments = st.none() | st.integers(0, 10**6).map(lambda s: T0 + timedelta(seconds=s))


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
        st.tuples(moments, moments, st.lists(st.text(min_size=1, max_size=10), max_size=3), moments),
    )
)
def test_status_document_round_trips(raw: dict[str, Any]) -> None:
    statuses = {name: EntryStatus(a, b, tuple(active), since) for name, (a, b, active, since) in raw.items()}
    assert cronplan.parse_status_document(cronplan.status_document(statuses)) == statuses


@pytest.mark.parametrize("junk", [None, [], {"entries": []}, {"entries": {"a": 3, 4: {}}}])
def test_status_document_ignores_junk(junk: Any) -> None:
    assert cronplan.parse_status_document(junk) == {}


def test_status_configmap_round_trips() -> None:
    statuses = {"e": EntryStatus(T0, None, ("p1", "p2"))}
    body = status_body("ns", "crons", "uid-1", cronplan.status_document(statuses), "jobsched.io/cron")
    assert body["metadata"]["name"] == "crons-jobsched-status"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert recorded_statuses(body) == statuses


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("data[crons.yaml].entries[3].timeZone", "timeZone"),
        ("data[crons.yaml].entries[0].template.spec.containers[1].image", "image"),
        ("data[x.yml]", "data"),
        ("metadata.name", "name"),
        ("data[a.yaml].entries[0].template.spec.myOwnKey", "spec"),  # a tenant's key is never a label
        ("data[a.yaml].entries[0].aDuplicatedKey", "entries"),
        ("whatever", "other"),
        ("", "other"),
    ],
)
def test_field_label(path: str, label: str) -> None:
    assert cronplan.field_label(path) == label


@given(st.text())
def test_field_labels_come_from_a_fixed_set(path: str) -> None:
    assert cronplan.field_label(path) in cronplan.FIELD_LABELS | {"other"}


# --- runs from raw objects -----------------------------------------------------------------------


def pod(phase: str, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u",
            "labels": {"jobsched.io/entry": "cm.e"},
            "annotations": {"jobsched.io/scheduled-time": "2026-01-01T00:00:00Z"},
            "finalizers": ["jobsched.io/tracking"],
            **meta,
        },
        "status": {
            "phase": phase,
            "containerStatuses": [{"state": {"terminated": {"finishedAt": "2026-01-01T00:00:07Z"}}}],
        },
    }


def run_of(obj: dict[str, Any]) -> RunRecord | None:
    return run_from_pod(PodRecord(obj, {}))


def test_run_from_pod() -> None:
    done = run_of(pod("Succeeded"))
    assert done is not None
    assert (done.state, done.scheduled, done.tracked) == (RunState.SUCCEEDED, T0, True)
    assert done.finished == T0 + timedelta(seconds=7)
    pending = run_of(pod("Pending", deletionTimestamp="2026-01-01T00:00:09Z"))
    assert pending is not None
    assert (pending.state, pending.finished, pending.deleting) == (RunState.ACTIVE, None, True)
    assert run_of(pod("Running", ownerReferences=[{"kind": "Job", "name": "j"}])) is None
    assert run_of({"metadata": {"name": "x", "labels": {}}}) is None


def test_run_from_job() -> None:
    job = pod("")
    job["status"] = {
        "conditions": [{"type": "Failed", "status": "True", "lastTransitionTime": "2026-01-01T00:01:00Z"}]
    }
    record = run_from_job(job)
    assert record is not None
    assert (record.kind, record.state, record.finished) == ("Job", RunState.FAILED, T0 + timedelta(minutes=1))
    job["status"] = {"conditions": [{"type": "Complete", "status": "False"}]}
    active = run_from_job(job)
    assert active is not None
    assert active.state is RunState.ACTIVE


# --- the lead of storms with Jobs and adopted CronJobs ------------------------------------------------


def _job_entry(name: str, **job_spec: object) -> CronEntry:
    template = {"spec": {**job_spec, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    return CronEntry("ns", "cm", name, "* * * * *", kind="Job", template=template)


def _adopted(name: str) -> CronEntry:
    return replace(_job_entry(name), origin=CronJobOrigin("uid", None), dialect="batch/v1")


@pytest.mark.parametrize(
    ("spec", "pods"),
    [
        ({}, 1),
        ({"parallelism": 5}, 5),
        ({"parallelism": 5, "completions": 3}, 3),
        ({"completions": 10}, 1),
        ({"parallelism": 0}, 0),
    ],
)
def test_initial_pods_of_a_job(spec: dict[str, int], pods: int) -> None:
    assert cronplan.initial_pods(_job_entry("j", **spec)) == pods


def test_a_pod_entry_has_no_job_pods() -> None:
    assert cronplan.initial_pods(CronEntry("ns", "cm", "p", "* * * * *")) == 0


def test_object_classes() -> None:
    assert [
        cronplan.object_class(e)
        for e in (CronEntry("ns", "cm", "p", "@daily"), _job_entry("j"), _adopted("a"))
    ] == [
        "Pod",
        "Job",
        "CronJob",
    ]


def test_a_job_storm_waits_for_its_pods_not_for_its_creates() -> None:
    rates = {"Pod": 300.0, "Job": 300.0, "CronJob": 100.0}
    storm = cronplan.storm_shape([_adopted(f"a{i}") for i in range(1000)])
    # Creating and claiming: 1000 / 100 = 10 s; the Job controller's pods at 8 pods/s: 125 s.
    assert cronplan.storm_lead(storm, rates, 8.0, min_lead=5, max_lead=300, margin=3) == pytest.approx(128)
    # With a tuned controller the creates dominate.
    assert cronplan.storm_lead(storm, rates, 500.0, min_lead=5, max_lead=300, margin=3) == pytest.approx(13)
    pods = [CronEntry("ns", "cm", f"p{i}", "* * * * *") for i in range(3000)]
    mixed = cronplan.storm_shape(pods + [_adopted(f"a{i}") for i in range(1000)])
    assert cronplan.storm_lead(mixed, rates, 500.0, min_lead=5, max_lead=300, margin=3) == pytest.approx(23)
    assert cronplan.storm_lead(storm, {}, 500.0, min_lead=5, max_lead=300, margin=3) == 300  # no rate known
