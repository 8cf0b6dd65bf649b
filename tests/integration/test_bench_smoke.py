"""The benchmark harness end to end at toy scale: counts and the JSON schema, never timings.

One harness run (raw and native-tuned, 20 crons) is shared by the count and schema tests. The
native system fires on a cron minute boundary, so the run may wait up to a minute for it. jobsched
gets its own run, with the same counts plus the storm discipline: created before, bound after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from bench.lib import report
from bench.lib.harness import Options, Outcome, run_bench
from bench.lib.scenario import Scenario
from jobsched.devcluster import cluster as devcluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CRONS = 20
RUN_KEYS = {
    "crons",
    "pods_created",
    "pods_bound",
    "duplicates",
    "missed",
    "fallback_bound",
    "fire_to_created_s",
    "fire_to_bound_s",
    "fire_to_running_s",
    "makespan_s",
    "scheduler_cpu_s",
    "scheduler_peak_rss_mb",
    "pods_running",
    "scheduler_burst_cpu_s",
    "burst_cpu_ms_per_pod",
    "cpu_ms_per_pod",
}
PERCENTILE_KEYS = {"p50", "p90", "p99", "max"}


def small_storm(state: devcluster.ClusterState, systems: tuple[str, ...]) -> Outcome:
    scenario = Scenario(
        crons=CRONS, virtual_nodes=3, regular_nodes=1, virtual_capacity_pods=15, run_seconds=3, deadline_s=60
    )
    options = Options(
        scenario=scenario,
        systems=systems,
        kubeconfig=str(state.kubeconfig),
        cluster=state,
        progress=False,
    )
    return anyio.run(run_bench, options)


@pytest.fixture(scope="module")
def storm(control_plane: devcluster.ClusterState) -> Outcome:
    return small_storm(control_plane, ("raw", "native-tuned"))


def assert_all_bound_once(run: dict[str, Any]) -> None:
    assert "error" not in run, run.get("error")
    assert run["pods_bound"] == CRONS
    assert run["duplicates"] == 0
    assert run["missed"] == 0
    # 15 pods fit on the virtual nodes; the other 5 must fall back to the regular node.
    assert run["fallback_bound"] >= CRONS - 15
    assert sum(run["pods_per_domain"].values()) == CRONS


@pytest.mark.parametrize("system", ["raw", "native-tuned"])
def test_every_slot_is_bound_exactly_once(storm: Outcome, system: str) -> None:
    assert_all_bound_once(storm.document["runs"][system])


def test_the_document_follows_the_contract(storm: Outcome, tmp_path: Path) -> None:
    doc = storm.document
    assert set(doc) == {"environment", "scenario", "runs"}
    for key in ("kubernetes", "etcd", "kwok", "cpus", "python", "qps"):
        assert doc["environment"][key], key
    for key in ("crons", "virtual_nodes", "regular_nodes", "virtual_capacity_pods", "fire_at"):
        assert key in doc["scenario"], key
    for run in doc["runs"].values():
        assert set(run) >= RUN_KEYS
        for key in ("fire_to_created_s", "fire_to_bound_s", "fire_to_running_s"):
            assert set(run[key]) == PERCENTILE_KEYS
        assert len(run["repeats"]) == 1
    assert {"binds_per_s", "creates_per_s"} <= set(doc["runs"]["raw"])
    assert doc["runs"]["native-tuned"]["scheduler_cpu_s"] is not None

    table = report.write_all(doc, storm.bound_curves, tmp_path / "r.json")
    assert "| native-tuned |" in table
    assert (tmp_path / "r.png").stat().st_size > 0
    assert (tmp_path / "r.md").read_text() == table


def test_jobsched_storm_binds_every_slot_once_and_none_before_its_fire_time(
    control_plane: devcluster.ClusterState,
) -> None:
    outcome = small_storm(control_plane, ("jobsched",))
    run = outcome.document["runs"]["jobsched"]
    assert_all_bound_once(run)
    # Pods are created ahead of the slot, yet the harness's watch never sees one bound before it.
    assert run["fire_to_created_s"]["p50"] < 0
    (curve,) = outcome.bound_curves["jobsched"]
    assert len(curve) == CRONS
    assert curve[0] >= 0


def test_a_hostile_tenant_gets_events_and_the_storm_still_binds_every_slot_once(
    control_plane: devcluster.ClusterState,
) -> None:
    """The worst cron ConfigMaps under 1 MiB (every kind in bench.lib.hostile_configmaps) in another
    opted-in namespace: each invalid one is reported with a Warning Event, jobsched keeps running, and the
    storm binds every slot exactly once, none before its fire time. (What it costs in latency is the
    bench's to measure: `--systems jobsched,jobsched-hostile` in one run.)"""
    outcome = small_storm(control_plane, ("jobsched-hostile",))
    run = outcome.document["runs"]["jobsched-hostile"]
    assert_all_bound_once(run)
    assert run["fire_to_created_s"]["p50"] < 0
    assert run["hostile_configmaps"] == 15
    assert run["hostile_invalid"] == 13
    assert run["hostile_reported"] == run["hostile_invalid"]


def test_jobsched_cronjob_storm_fires_every_adopted_cronjob_once(
    control_plane: devcluster.ClusterState,
) -> None:
    """The native system's CronJobs, adopted by label, kube-controller-manager running: each slot once, its
    Job's pods pre-staged by the Job controller before the slot, bound at or after it; the same figures."""
    outcome = small_storm(control_plane, ("jobsched-cronjob",))
    run = outcome.document["runs"]["jobsched-cronjob"]
    assert_all_bound_once(run)
    assert set(run) >= RUN_KEYS
    assert run["fire_to_created_s"]["max"] < 0
    (curve,) = outcome.bound_curves["jobsched-cronjob"]
    assert len(curve) == CRONS
    assert curve[0] >= 0
    assert run["scheduler_cpu_s"] is not None
    assert (
        outcome.document["environment"]["qps"]["jobsched-cronjob"]["kube-controller-manager"]["qps"] == 5000
    )
