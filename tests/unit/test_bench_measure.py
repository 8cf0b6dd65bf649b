"""The benchmark's pure parts: fire times, slot identity, percentiles and the folding of repeats."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bench.lib.measure import aggregate, binds_per_second, percentiles, summarise
from bench.lib.provider import limited_config
from bench.lib.scenario import Scenario, cron_schedule, fire_time
from bench.lib.systems import JobschedUnaware, make_system, placement_targets
from bench.lib.watcher import PodWatcher, slot_of
from jobsched.core.launchbudget import DomainLimits
from jobsched.devcluster.provider.limits import ProviderLimits
from jobsched.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "lead", "aligned", "expected"),
    [
        ("2025-01-01T23:59:30", 20, True, "2025-01-02T00:00:00"),
        ("2025-01-01T23:59:45", 20, True, "2025-01-02T00:01:00"),
        ("2025-01-01T23:59:40", 20, True, "2025-01-02T00:00:00"),
        ("2025-01-01T12:00:00.250", 3, False, "2025-01-01T12:00:04"),
    ],
)
def test_fire_time(now: str, lead: float, aligned: bool, expected: str) -> None:
    assert fire_time(at(now), lead, aligned) == at(expected)


def test_cron_schedule_is_the_utc_minute() -> None:
    assert cron_schedule(at("2025-01-02T00:05:00")) == "5 0 * * *"
    with pytest.raises(ValueError, match="minute boundaries"):
        cron_schedule(at("2025-01-02T00:05:01"))


def test_virtual_capacity_is_spread_over_the_virtual_nodes() -> None:
    limits = Scenario(crons=1, virtual_nodes=3, regular_nodes=0, virtual_capacity_pods=7).virtual_pod_limits()
    assert limits == [3, 2, 2]


def pod(uid: str, labels: dict[str, str], annotations: dict[str, str] | None = None) -> dict[str, object]:
    return {"metadata": {"uid": uid, "name": uid, "labels": labels, "annotations": annotations or {}}}


def test_slot_of_jobsched_and_native_pods() -> None:
    jobsched = pod(
        "a", {"jobsched.io/entry": "storm-1"}, {"jobsched.io/scheduled-time": "2025-01-02T00:00:00Z"}
    )
    assert slot_of(jobsched) == ("storm-1", "storm-1@2025-01-02T00:00:00Z")
    native = pod("b", {"batch.kubernetes.io/job-name": "storm-00001-29000000"})
    assert slot_of(native) == ("storm-00001", "storm-00001-29000000")


def test_summary_counts_duplicates_missed_and_fallback() -> None:
    clock = iter([10.0, 10.5, 11.0, 12.0]).__next__
    watcher = PodWatcher(clock=clock)
    slot = {"jobsched.io/scheduled-time": "t"}
    watcher.apply("ADDED", pod("1", {"jobsched.io/entry": "a"}, slot))
    first = pod("1", {"jobsched.io/entry": "a"}, slot) | {"spec": {"nodeName": "v1"}}
    watcher.apply("MODIFIED", first)
    twin = pod("2", {"jobsched.io/entry": "a"}, slot) | {"spec": {"nodeName": "r1"}}
    watcher.apply("ADDED", twin)
    figures = summarise(
        watcher.records(), fire_mono=10.0, crons=2, domains={"v1": "virtual", "r1": "regular"}
    )
    assert figures["pods_created"] == 2
    assert figures["pods_bound"] == 2
    assert figures["duplicates"] == 1
    assert figures["missed"] == 1  # entry b never got a pod
    assert figures["fallback_bound"] == 1
    assert figures["fire_to_bound_s"]["max"] == 1.0
    assert figures["binds_per_second"] == [1, 1]


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
    assert percentiles([]) == {"p50": None, "p90": None, "p99": None, "max": None}
    assert binds_per_second([-0.5, 0.2, 2.5]) == [2, 0, 1]


def test_aggregate_takes_medians_and_keeps_repeats() -> None:
    runs = [
        {"makespan_s": m, "fire_to_bound_s": {"p50": m, "p90": m, "p99": m, "max": m}, "missed": 0}
        for m in (1.0, 3.0, 2.0)
    ]
    folded = aggregate([*runs, {"error": "boom"}])
    assert folded["makespan_s"] == 2.0
    assert folded["fire_to_bound_s"]["p99"] == 2.0
    assert folded["failed_repeats"] == 1
    assert len(folded["repeats"]) == 4
    assert aggregate([{"error": "boom"}])["error"] == "boom"


def test_raw_placement_fills_virtual_nodes_before_falling_back() -> None:
    def node(name: str, virtual: bool, pods: str) -> dict[str, object]:
        labels = {"type": "virtual-kubelet"} if virtual else {}
        return {"metadata": {"name": name, "labels": labels}, "status": {"allocatable": {"pods": pods}}}

    targets = placement_targets([node("r", False, "110"), node("v", True, "2")], 4)
    assert targets == ["v", "v", "r", "r"]


def test_a_pod_refused_before_it_started_is_neither_a_run_nor_a_duplicate_and_its_rerun_counts() -> None:
    watcher = PodWatcher(clock=iter([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).__next__)
    slot = {"jobsched.io/scheduled-time": "t"}
    first = pod("1", {"jobsched.io/entry": "a"}, slot) | {"spec": {"nodeName": "v1"}}
    watcher.apply("ADDED", first)
    watcher.apply("MODIFIED", first | {"status": {"phase": "Failed", "reason": "ProviderFailed"}})
    assert watcher.bound_entries() == 0
    assert watcher.waiting_to_run() == 0
    rerun = pod("2", {"jobsched.io/entry": "a"}, slot | {"jobsched.io/rerun-of": "1"})
    watcher.apply("ADDED", rerun | {"spec": {"nodeName": "r1"}})
    assert watcher.waiting_to_run() == 1
    watcher.apply("MODIFIED", rerun | {"spec": {"nodeName": "r1"}, "status": {"phase": "Running"}})
    # A pod of another entry that failed after its container started did run.
    crashed = pod("3", {"jobsched.io/entry": "b"}, slot) | {"spec": {"nodeName": "r1"}}
    watcher.apply("ADDED", crashed)
    ended = {"state": {"terminated": {"exitCode": 1, "startedAt": "t"}}}
    watcher.apply("MODIFIED", crashed | {"status": {"phase": "Failed", "containerStatuses": [ended]}})
    figures = summarise(watcher.records(), fire_mono=0.0, crons=2, domains={"v1": "virtual"})
    assert figures["duplicates"] == 0
    assert figures["missed"] == 0
    assert figures["pods_refused"] == 1
    assert figures["reruns"] == 1
    assert figures["pods_running"] == 2
    assert figures["slots_running"] == 2
    assert figures["fire_to_running_s"]["max"] == 5.0  # the crashed pod, seen at 5 s
    assert figures["fire_to_running_by_domain_s"] == {
        "regular": {"p50": 3.0, "p90": 5.0, "p99": 5.0, "max": 5.0}
    }
    assert watcher.refused() == 1


def test_a_second_rerun_of_one_slot_is_a_duplicate() -> None:
    watcher = PodWatcher(clock=iter([0.0, 1.0, 2.0]).__next__)
    slot = {"jobsched.io/scheduled-time": "t"}
    for uid in ("r1", "r2"):
        watcher.apply("ADDED", pod(uid, {"jobsched.io/entry": "a"}, slot | {"jobsched.io/rerun-of": "x"}))
    assert summarise(watcher.records(), fire_mono=0.0, crons=1, domains={})["duplicates"] == 1


def test_provider_limits_of_the_scenario() -> None:
    assert Scenario().provider_limits() is None
    assert Scenario(virtual_quota_pods=300).provider_limits() == ProviderLimits(20.0, 100, 300)
    limits = Scenario(virtual_launch_rate=5, virtual_launch_burst=10).provider_limits()
    assert limits == ProviderLimits(5.0, 10, 0)
    with pytest.raises(ValueError, match="launch_burst"):
        Scenario(virtual_launch_burst=0)
    bodies = Scenario(crons=1, virtual_nodes=1, regular_nodes=1, virtual_launch_rate=5).node_bodies()
    assert [bool(b["metadata"]["annotations"]) for b in bodies] == [False, True], "kwok plays only regular"


def test_jobsched_is_configured_with_the_providers_limits_and_unaware_is_not(tmp_path: Path) -> None:
    base = REPO / "config" / "jobsched.yaml"
    config = limited_config(base, ProviderLimits(20.0, 100, 300))
    virtual = next(d for d in config["domains"] if d["name"] == "virtual")
    assert (virtual["launchRate"], virtual["launchBurst"], virtual["maxPods"]) == (20.0, 100, 300)
    written = tmp_path / "c.yaml"
    written.write_text(yaml.safe_dump(config))
    settings = load_settings(written)
    assert settings.domains[0].limits.max_pods == 300
    assert load_settings(base).domains[0].limits == DomainLimits()  # what jobsched-unaware runs
    assert "maxPods" not in next(
        d for d in limited_config(base, ProviderLimits(20.0, 100))["domains"] if d["name"] == "virtual"
    )
    assert isinstance(make_system("jobsched-unaware", 1, base, 1, ProviderLimits()), JobschedUnaware)
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump({"domains": [{"name": "x", "catchAll": True}]}))
    with pytest.raises(ValueError, match="no domain named 'virtual'"):
        limited_config(bare, ProviderLimits())


def test_burst_cpu_is_read_from_the_samples_around_the_window() -> None:
    from bench.lib.measure import cpu_figures
    from bench.lib.usage import UsageSampler

    sampler = UsageSampler()
    sampler.cpu_by_pid = {1: 9.0}
    sampler.series = [
        (99.95, 1.0),
        (100.0, 1.0),
        (100.05, 1.1),
        (101.0, 1.5),
        (102.0, 1.9),
        (102.05, 2.0),
        (140.0, 9.0),
    ]
    assert (
        sampler.cpu_between(100.0, 102.0) == 0.9
    )  # from the sample at the fire instant to the one at the last bind
    assert sampler.cpu_between(100.02, 102.01) == 1.0  # widened to the samples around it (50 ms apart)
    assert sampler.cpu_between(99.0, 102.0) is None  # no sample before the window: no figure, not a guess
    figures = cpu_figures(sampler, 100.0, {"pods_bound": 1000, "makespan_s": 2.0})
    assert figures == {
        "scheduler_setup_cpu_s": 1.0,  # start to the fire instant: the last sample at or before it
        "scheduler_burst_cpu_s": 0.9,
        "burst_cpu_ms_per_pod": 0.9,
        "cpu_ms_per_pod": 9.0,
    }
    assert cpu_figures(UsageSampler(), 100.0, {"pods_bound": 0, "makespan_s": None}) == {
        "scheduler_setup_cpu_s": None,
        "scheduler_burst_cpu_s": None,
        "burst_cpu_ms_per_pod": None,
        "cpu_ms_per_pod": None,
    }


def test_cpu_to_running_splits_the_window_between_scheduler_control_plane_and_harness() -> None:
    from bench.lib.measure import cpu_to_running
    from bench.lib.usage import UsageSampler

    def sampler(series: list[tuple[float, float]]) -> UsageSampler:
        s = UsageSampler()
        s.series = series
        return s

    scheduler = sampler([(100.0, 10.0), (130.0, 12.0), (131.0, 12.5)])
    control_plane = sampler([(100.0, 50.0), (130.0, 100.0), (131.0, 102.0)])
    harness = sampler([(100.0, 1.0), (130.0, 4.0), (131.0, 4.1)])
    figures = {"fire_to_running_s": {"p50": 20.0, "p90": 28.0, "p99": 30.0, "max": 31.0}}
    assert cpu_to_running(scheduler, control_plane, harness, 100.0, figures) == {
        "scheduler_to_running_cpu_s": 2.0,  # fire instant to running p99
        "control_plane_to_running_cpu_s": 50.0,
        "harness_to_running_cpu_s": 3.0,
        "scheduler_to_running_share": 0.036,  # 2 / 55
    }
    # raw has no scheduler process: its figure and share are absent, the others still measured
    assert cpu_to_running(UsageSampler(), control_plane, harness, 100.0, figures) == {
        "scheduler_to_running_cpu_s": None,
        "control_plane_to_running_cpu_s": 50.0,
        "harness_to_running_cpu_s": 3.0,
        "scheduler_to_running_share": None,
    }
    # a foreign cluster: the control plane is not sampled, so there is no share of a whole to give
    assert (
        cpu_to_running(scheduler, UsageSampler(), harness, 100.0, figures)["scheduler_to_running_share"]
        is None
    )
    # nothing ran: no window at all
    assert cpu_to_running(scheduler, control_plane, harness, 100.0, {"fire_to_running_s": None}) == {
        "scheduler_to_running_cpu_s": None,
        "control_plane_to_running_cpu_s": None,
        "harness_to_running_cpu_s": None,
        "scheduler_to_running_share": None,
    }


def test_a_sampler_without_children_counts_only_its_own_process() -> None:
    import os
    import subprocess
    import sys

    from bench.lib.usage import UsageSampler

    # A child that waits until stopped: counted by the family sampler, not by the one without children.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        family, alone = UsageSampler(), UsageSampler(children=False)
        family.track([os.getpid()])
        alone.track([os.getpid()])
        for s in (family, alone):
            s.sample()
        assert child.pid in family.cpu_by_pid
        assert set(alone.cpu_by_pid) == {os.getpid()}
    finally:
        child.kill()
        child.wait(timeout=10)
