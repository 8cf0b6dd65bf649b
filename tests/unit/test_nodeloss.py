"""The node-loss decision and the sweep's grace period, as plain data."""

from __future__ import annotations

from datetime import UTC, datetime

from jobsched.core.convert import PodRecord
from jobsched.core.cronruns import RunRecord, RunState, run_from_pod
from jobsched.core.nodeloss import LossAction, loss_action
from jobsched.runtime.cron.node_loss import FULL_SCAN_S, NodeLossSweep

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GRACE_S = 40.0


def pod_run(name: str = "p", **fields: object) -> RunRecord:
    base: dict[str, object] = {"state": RunState.ACTIVE, "node": "n1", "started": False}
    base.update(fields)
    return RunRecord("Pod", "ns", name, f"uid-{name}", "cm.e", T0, **base)  # type: ignore[arg-type]


def test_a_pod_that_never_started_is_replaced_and_one_that_ran_is_failed() -> None:
    assert loss_action(pod_run()) is LossAction.REPLACE
    assert loss_action(pod_run(started=True)) is LossAction.FAIL


def test_nothing_to_do_for_unbound_finished_deleting_or_job_runs() -> None:
    assert loss_action(pod_run(node="")) is None
    assert loss_action(pod_run(state=RunState.SUCCEEDED)) is None
    assert loss_action(pod_run(deleting=True)) is None
    job = RunRecord("Job", "ns", "j", "uid-j", "cm.e", T0, RunState.ACTIVE)
    assert loss_action(job) is None


def test_run_from_pod_reads_node_and_whether_it_started() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"jobsched.io/entry": "cm.e"}},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Pending"},
    }
    run = run_from_pod(PodRecord(pod, {}))
    assert run is not None
    assert run.node == "n1"
    assert not run.started
    pod["status"] = {"phase": "Running"}
    run = run_from_pod(PodRecord(pod, {}))
    assert run is not None
    assert run.started
    pod["status"] = {"phase": "Pending", "containerStatuses": [{"state": {"terminated": {"exitCode": 1}}}]}
    run = run_from_pod(PodRecord(pod, {}))
    assert run is not None
    assert run.started


class Nodes:
    def __init__(self, names: set[str], synced: bool = True) -> None:
        self.names = names
        self.synced = synced
        self.removals = 0

    def remove(self, name: str) -> None:
        self.names.discard(name)
        self.removals += 1

    def nodes_synced(self) -> bool:
        return self.synced

    def has_node(self, name: str) -> bool:
        return name in self.names

    def node_removals(self) -> int:
        return self.removals


def sweep(runs: list[RunRecord], nodes: Nodes) -> NodeLossSweep:
    return NodeLossSweep(
        None,  # type: ignore[arg-type]  # due() does no I/O
        nodes,
        lambda: runs,
        lambda run: None,
        lambda entry, run: None,
        lambda entry, reason, note: None,
        GRACE_S,
        1.0,
    )


def test_a_missing_node_condemns_its_pods_only_after_the_grace_period() -> None:
    runs = [pod_run("a", node="gone"), pod_run("b", node="here")]
    s = sweep(runs, Nodes({"here"}))
    assert s.due(100.0) == []
    assert s.due(100.0 + GRACE_S / 2) == []
    due = s.due(100.0 + GRACE_S)
    assert [(run.name, action) for run, action in due] == [("a", LossAction.REPLACE)]


def test_a_node_that_reappears_resets_the_clock_and_an_unsynced_cache_condemns_nothing() -> None:
    runs = [pod_run("a", node="flaky")]
    nodes = Nodes(set())
    s = sweep(runs, nodes)
    assert s.due(0.0) == []
    nodes.names.add("flaky")
    assert s.due(1.0) == []
    nodes.remove("flaky")
    assert s.due(2.0) == []
    assert s.due(2.0 + GRACE_S) != []
    assert sweep(runs, Nodes(set(), synced=False)).due(1e6) == []


def test_with_no_node_gone_the_pods_are_looked_at_only_every_full_scan_period() -> None:
    runs = [pod_run("a", node="here")]
    nodes = Nodes({"here"})
    s = sweep(runs, nodes)
    assert s.due(0.0) == []  # the first look scans
    runs.append(pod_run("b", node="never-existed"))  # bound to a node gone before the pod appeared
    assert s.due(1.0) == []  # nothing gone since: no scan, b not yet seen missing
    assert s.due(FULL_SCAN_S) == []  # the periodic scan sees b's node missing and starts its clock
    assert s.due(FULL_SCAN_S + 1.0) == []  # a pod is missing: every sweep looks
    due = s.due(FULL_SCAN_S + GRACE_S)
    assert [run.name for run, _ in due] == ["b"]


def test_a_node_gone_is_looked_at_by_the_next_sweep() -> None:
    runs = [pod_run("a", node="n1")]
    nodes = Nodes({"n1"})
    s = sweep(runs, nodes)
    assert s.due(0.0) == []
    nodes.remove("n1")
    assert s.due(1.0) == []  # seen missing at once, not after FULL_SCAN_S
    assert [run.name for run, _ in s.due(1.0 + GRACE_S)] == ["a"]
