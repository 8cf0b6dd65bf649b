"""Micro-benchmark of batch placement alone: µs per pod, at 1,000 and 10,000 nodes.

The storm's scheduling budget is about a second for thousands of pods, so placement must stay in the
tens of microseconds per pod and nearly flat in the node count. This places 10,000 pods of a few
shapes on a virtual + regular cluster (some nodes tainted, cordoned or not ready; virtual capacity
short enough that part of the burst falls back), with no I/O.

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

from jobsched.core.cache import ClusterCache
from jobsched.core.domains import DEFAULT_CHAIN, DEFAULT_DOMAINS, domains_from_config
from jobsched.core.model import Node, Pod, Taint, Toleration
from jobsched.core.placement import place_batch

VIRTUAL_SHARE = 0.3  # of the nodes
VIRTUAL_HOLDS = 0.6  # of the pods: the rest must fall back to regular nodes
GIB = 2**30
MIB = 2**20


@dataclass(frozen=True)
class Case:
    nodes: int
    pods: int
    shapes: int

    @property
    def name(self) -> str:
        return f"{self.pods}_pods_{self.nodes}_nodes_{self.shapes}_shapes"


CASES = tuple(Case(nodes, 10_000, shapes) for shapes in (1, 4, 10) for nodes in (1_000, 10_000))


def build_nodes(count: int, pods: int) -> list[Node]:
    virtual = int(count * VIRTUAL_SHARE)
    virtual_pods = -(-int(pods * VIRTUAL_HOLDS) // virtual)
    nodes = []
    for i in range(count):
        if i < virtual:
            nodes.append(
                Node(
                    name=f"vk-{i:05d}",
                    labels={"type": "virtual-kubelet", "kubernetes.io/hostname": f"vk-{i:05d}"},
                    taints=(Taint("virtual-kubelet.io/provider", "tke", "NoSchedule"),),
                    allocatable={"cpu": 64_000, "memory": 256 * GIB, "pods": virtual_pods},
                )
            )
            continue
        name = f"node-{i:05d}"
        labels = {"kubernetes.io/hostname": name, "zone": "a" if i % 2 else "b"}
        nodes.append(
            Node(
                name=name,
                labels=labels,
                taints=(Taint("dedicated", "db", "NoSchedule"),) if i % 20 == 1 else (),
                allocatable={"cpu": 16_000, "memory": 64 * GIB, "pods": 110},
                unschedulable=i % 20 == 2,
                ready=i % 50 != 3,
            )
        )
    return nodes


def build_pods(count: int, shapes: int) -> list[Pod]:
    pods = []
    for i in range(count):
        shape = i % shapes
        cpu = 100 * (1 + shape % 4)
        memory = 64 * MIB * (1 + shape % 3)
        pods.append(
            Pod(
                namespace="storm",
                name=f"cron-{i:05d}",
                uid=f"uid-{i:05d}",
                requests={"cpu": cpu, "memory": memory},
                node_selector={"zone": "a"} if shape == 5 else {},
                tolerations=(Toleration("dedicated", "Equal", "db", "NoSchedule"),) if shape == 6 else (),
                domain_chain=("regular",) if shape == 7 else None,
                priority=10 if shape == 8 else 0,
            )
        )
    return pods


def run_case(case: Case, repeats: int) -> dict[str, object]:
    domains = domains_from_config(DEFAULT_DOMAINS)
    nodes = build_nodes(case.nodes, case.pods)
    pods = build_pods(case.pods, case.shapes)
    per_pod_us = []
    placed = unplaced = fallbacks = 0
    for _ in range(repeats):
        cache = ClusterCache(domains)
        for node in nodes:
            cache.upsert_node(node)
        started = time.perf_counter()
        result = place_batch(cache, pods, DEFAULT_CHAIN)
        elapsed = time.perf_counter() - started
        per_pod_us.append(elapsed / len(pods) * 1e6)
        placed, unplaced, fallbacks = len(result.placements), len(result.unplaced), result.fallbacks
    return {
        "nodes": case.nodes,
        "pods": case.pods,
        "shapes": case.shapes,
        "median_us_per_pod": round(statistics.median(per_pod_us), 2),
        "runs_us_per_pod": [round(us, 2) for us in per_pod_us],
        "placed": placed,
        "unplaced": unplaced,
        "fallbacks": fallbacks,
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
            f"{case.name:>34}: median {outcome['median_us_per_pod']:7.2f} µs/pod "
            f"(placed {outcome['placed']}, fell back {outcome['fallbacks']}, unplaced {outcome['unplaced']})"
        )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump({"python": sys.version.split()[0], "cases": results}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
