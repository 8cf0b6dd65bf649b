"""Micro-benchmark of the scheduler's placement: µs per pod, at 1,000 and 10,000 nodes.

The storm's scheduling budget is about a second for thousands of pods, so placement must stay in the
tens of microseconds per pod and nearly flat in the node count. This drives the production scheduler
(`jobsched.runtime.scheduling.Scheduler`) in-process with no API server: nodes and 10,000 pods of a few
shapes arrive as watch events (raw JSON), then each domain's placement pass (`place_inbox`, what the
domain loops run) drains its inbox, pods with no room moving on along their chain, until every inbox is
empty. The cluster has a virtual and a regular part (some nodes tainted, cordoned or not ready; virtual
capacity short enough that part of the burst falls back). Pods carry a slot in the future, so placed
pods wait at the gate, as in a storm; no bind is attempted.

Two figures per case: decoding and queueing the pod events, and placement itself.

    python -m bench.placement_micro [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from jobsched.core.convert import PodRecord
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.scheduling.queue import PodState
from jobsched.runtime.scheduling.scheduler import Scheduler
from jobsched.settings import Settings

VIRTUAL_SHARE = 0.3  # of the nodes
VIRTUAL_HOLDS = 0.6  # of the pods: the rest must fall back to regular nodes
FIRE_AT = "2099-01-01T00:00:00Z"  # every pod waits at the gate once placed


@dataclass(frozen=True)
class Case:
    nodes: int
    pods: int
    shapes: int

    @property
    def name(self) -> str:
        return f"{self.pods}_pods_{self.nodes}_nodes_{self.shapes}_shapes"


CASES = tuple(Case(nodes, 10_000, shapes) for shapes in (1, 4, 10) for nodes in (1_000, 10_000))


def _node(name: str, labels: dict[str, str], taints: list[dict[str, str]], allocatable: dict[str, str],
          unschedulable: bool = False, ready: bool = True) -> dict[str, Any]:  # fmt: skip
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": {"kubernetes.io/hostname": name, **labels},
        },
        "spec": {"taints": taints, "unschedulable": unschedulable},
        "status": {
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def build_nodes(count: int, pods: int) -> list[dict[str, Any]]:
    virtual = int(count * VIRTUAL_SHARE)
    virtual_pods = -(-int(pods * VIRTUAL_HOLDS) // virtual)
    nodes = []
    for i in range(count):
        if i < virtual:
            taint = {"key": "virtual-kubelet.io/provider", "value": "tke", "effect": "NoSchedule"}
            allocatable = {"cpu": "64", "memory": "256Gi", "pods": str(virtual_pods)}
            nodes.append(_node(f"vk-{i:05d}", {"type": "virtual-kubelet"}, [taint], allocatable))
            continue
        taints = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}] if i % 20 == 1 else []
        allocatable = {"cpu": "16", "memory": "64Gi", "pods": "110"}
        zone = {"zone": "a" if i % 2 else "b"}
        nodes.append(_node(f"node-{i:05d}", zone, taints, allocatable, i % 20 == 2, i % 50 != 3))
    return nodes


def build_pods(count: int, shapes: int) -> list[dict[str, Any]]:
    pods = []
    for i in range(count):
        shape = i % shapes
        annotations = {"jobsched.io/scheduled-time": FIRE_AT}
        if shape == 7:
            annotations["jobsched.io/domains"] = "regular"
        if shape == 8:
            annotations["jobsched.io/priority"] = "10"
        spec: dict[str, Any] = {
            "schedulerName": "jobsched",
            "containers": [
                {
                    "name": "c",
                    "resources": {
                        "requests": {
                            "cpu": f"{100 * (1 + shape % 4)}m",
                            "memory": f"{64 * (1 + shape % 3)}Mi",
                        }
                    },
                }
            ],
        }
        if shape == 5:
            spec["nodeSelector"] = {"zone": "a"}
        if shape == 6:
            spec["tolerations"] = [
                {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
            ]
        meta = {
            "namespace": "storm",
            "name": f"cron-{i:05d}",
            "uid": f"uid-{i:05d}",
            "annotations": annotations,
        }
        pods.append({"metadata": meta, "spec": spec, "status": {"phase": "Pending"}})
    return pods


async def one_run(
    settings: Settings, nodes: list[dict[str, Any]], pods: list[dict[str, Any]]
) -> dict[str, float]:
    scheduler = Scheduler(None, settings, Metrics())  # type: ignore[arg-type]  # placement does no I/O
    scheduler.replace(nodes)
    scheduler.pods_replaced([])
    started = time.perf_counter()
    for raw in pods:
        scheduler.pod_changed("ADDED", PodRecord(raw, settings.extra_dimensions))
    queued = time.perf_counter()
    domains = [d.name for d in settings.domains]
    while any(scheduler.place_inbox(name) for name in domains):
        pass
    placed = time.perf_counter()
    counts = scheduler.queue.counts()
    fallbacks = sum(sample.value for metric in scheduler.metrics.fallbacks.collect() for sample in metric.samples
                    if sample.name.endswith("_total"))  # fmt: skip
    return {
        "decode_us_per_pod": (queued - started) / len(pods) * 1e6,
        "place_us_per_pod": (placed - queued) / len(pods) * 1e6,
        "placed": counts[PodState.GATED.value],
        "unplaced": counts[PodState.UNSCHEDULABLE.value],
        "fallbacks": fallbacks,
    }


def run_case(case: Case, repeats: int) -> dict[str, object]:
    settings = Settings()
    nodes = build_nodes(case.nodes, case.pods)
    pods = build_pods(case.pods, case.shapes)
    runs = [anyio.run(one_run, settings, nodes, pods) for _ in range(repeats)]
    last = runs[-1]
    return {
        "nodes": case.nodes,
        "pods": case.pods,
        "shapes": case.shapes,
        "median_us_per_pod": round(statistics.median(r["place_us_per_pod"] for r in runs), 2),
        "runs_us_per_pod": [round(r["place_us_per_pod"], 2) for r in runs],
        "median_decode_us_per_pod": round(statistics.median(r["decode_us_per_pod"] for r in runs), 2),
        "placed": int(last["placed"]),
        "unplaced": int(last["unplaced"]),
        "fallbacks": int(last["fallbacks"]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="write the results as JSON to this file")
    args = parser.parse_args(argv)
    results = {}
    for case in CASES:
        outcome = run_case(case, args.repeats)
        results[case.name] = outcome
        print(
            f"{case.name:>34}: median {outcome['median_us_per_pod']:7.2f} µs/pod placing, "
            f"{outcome['median_decode_us_per_pod']:6.2f} µs/pod decoding "
            f"(placed {outcome['placed']}, fell back {outcome['fallbacks']}, unplaced {outcome['unplaced']})"
        )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump({"python": sys.version.split()[0], "cases": results}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
