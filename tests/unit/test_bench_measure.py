"""The benchmark's pure parts: fire times, slot identity, percentiles and the folding of repeats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.lib.measure import aggregate, binds_per_second, percentiles, summarise
from bench.lib.scenario import Scenario, cron_schedule, fire_time
from bench.lib.systems import placement_targets
from bench.lib.watcher import PodWatcher, slot_of


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
