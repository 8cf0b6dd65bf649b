"""Turns watch arrival times into the figures of the benchmark contract, and folds repeats together.

Pure functions over plain records: latencies are seconds after the fire time (negative when a
system pre-creates its pods, as jobsched and raw do), percentiles use the nearest-rank method, and
a repeated system reports the median of each figure with the per-repeat figures kept beside it.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.lib.usage import UsageSampler
from bench.lib.watcher import PodRecord

PERCENTILES = ("p50", "p90", "p99", "max")
VIRTUAL, REGULAR = "virtual", "regular"


def node_domain(node: Mapping[str, Any]) -> str:
    """virtual for virtual-kubelet and Tencent eklet nodes (as their providers mark them), else regular."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    if labels.get("type") == "virtual-kubelet" or labels.get("node.kubernetes.io/instance-type") == "eklet":
        return VIRTUAL
    return REGULAR


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """Nearest-rank p50/p90/p99 and max, rounded to the millisecond; None for no values."""
    if not values:
        return dict.fromkeys(PERCENTILES)
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {
        "p50": round(rank(50), 3),
        "p90": round(rank(90), 3),
        "p99": round(rank(99), 3),
        "max": round(ordered[-1], 3),
    }


def binds_per_second(bound_after_fire: Iterable[float]) -> list[int]:
    """Pods bound in each one-second bucket after fire ([0,1), [1,2), ...); earlier binds go to bucket 0."""
    buckets: Counter[int] = Counter(max(0, math.floor(t)) for t in bound_after_fire)
    if not buckets:
        return []
    return [buckets.get(i, 0) for i in range(max(buckets) + 1)]


def cpu_figures(sampler: UsageSampler, fire_mono: float, figures: Mapping[str, Any]) -> dict[str, Any]:
    """The scheduler's CPU by phase: set-up (start to the fire instant: imports, parsing the entries,
    listing), the burst (fire instant to last pod bound, from the 50 ms samples around it) and the whole
    run, the last two also per bound pod in core-milliseconds."""
    bound = int(figures.get("pods_bound") or 0)
    makespan = figures.get("makespan_s")
    burst = sampler.cpu_between(fire_mono, fire_mono + makespan) if makespan is not None else None
    total = sampler.cpu_s
    setup = sampler.cpu_until(fire_mono)

    def per_pod(cpu: float | None) -> float | None:
        return round(cpu * 1000 / bound, 3) if cpu is not None and bound else None

    return {
        "scheduler_setup_cpu_s": setup,
        "scheduler_burst_cpu_s": burst,
        "burst_cpu_ms_per_pod": per_pod(burst),
        "cpu_ms_per_pod": per_pod(total),
    }


def cpu_to_running(
    scheduler: UsageSampler,
    control_plane: UsageSampler,
    harness: UsageSampler,
    fire_mono: float,
    figures: Mapping[str, Any],
) -> dict[str, Any]:
    """Who spent the machine's CPU from the fire instant to the running p99: the scheduler, the control
    plane (apiserver, etcd, kwok: what makes a pod Running) and the harness (its watch; raw's client).

    On a saturated machine running p99 moves with the total, so the scheduler's share bounds how much
    of it the scheduler can cost. The window is widened to the samples around it (1 s apart after the
    burst)."""
    running_p99 = (figures.get("fire_to_running_s") or {}).get("p99")
    end = fire_mono + running_p99 if running_p99 is not None else None

    def spent(sampler: UsageSampler) -> float | None:
        return sampler.cpu_between(fire_mono, end) if end is not None else None

    own, plane, watch = spent(scheduler), spent(control_plane), spent(harness)
    # A share only of the whole: on a foreign cluster the control plane is not sampled.
    share = None
    if own is not None and plane is not None and watch is not None and own + plane + watch > 0:
        share = round(own / (own + plane + watch), 3)
    return {
        "scheduler_to_running_cpu_s": own,
        "control_plane_to_running_cpu_s": plane,
        "harness_to_running_cpu_s": watch,
        "scheduler_to_running_share": share,
    }


def summarise(
    records: Sequence[PodRecord],
    fire_mono: float,
    crons: int,
    domains: Mapping[str, str],
) -> dict[str, Any]:
    """The contract's per-run figures (without process usage, which the system reports)."""
    created = [r.created - fire_mono for r in records]
    bound = [r.bound - fire_mono for r in records if r.bound is not None]
    running = [r.running - fire_mono for r in records if r.running is not None]
    by_slot: dict[str, int] = defaultdict(int)
    for r in records:
        if not r.refused:  # a pod refused before it started never ran its slot: not a duplicate
            by_slot[r.slot] += 1
    bound_entries = {r.entry for r in records if r.bound is not None and not r.refused}
    running_entries = {r.entry for r in records if r.running is not None}
    per_domain: Counter[str] = Counter(domains.get(r.node, REGULAR) for r in records if r.bound is not None)
    running_by_domain: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if r.running is not None:
            running_by_domain[domains.get(r.node, REGULAR)].append(r.running - fire_mono)
    return {
        "crons": crons,
        "pods_created": len(records),
        "pods_bound": len(bound),
        "pods_running": len(running),
        "slots_running": len(running_entries),
        "pods_refused": sum(r.refused for r in records),
        "reruns": sum(r.rerun for r in records),
        "duplicates": sum(n - 1 for n in by_slot.values()),
        "missed": max(0, crons - len(bound_entries)),
        "fallback_bound": sum(n for d, n in per_domain.items() if d != VIRTUAL),
        "pods_per_domain": dict(sorted(per_domain.items())),
        "fire_to_created_s": percentiles(created),
        "fire_to_bound_s": percentiles(bound),
        "fire_to_running_s": percentiles(running),
        # Per domain: which kind of node a tail comes from (a provider's launch rate, or kwok's pace).
        "fire_to_running_by_domain_s": {d: percentiles(v) for d, v in sorted(running_by_domain.items())},
        "makespan_s": round(max(bound), 3) if bound else None,
        "binds_per_second": binds_per_second(bound),
        "peak_binds_per_s": max(binds_per_second(bound), default=0),
    }


def _median(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        return None
    middle = statistics.median(numbers)
    if isinstance(middle, float) and middle.is_integer() and all(isinstance(v, int) for v in numbers):
        return int(middle)  # counts stay counts
    return round(middle, 3) if isinstance(middle, float) else middle


def aggregate(repeats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians of every numeric figure (and of every percentile), plus the repeats themselves.

    Series and per-domain counts are taken from the median-makespan repeat, not averaged.
    """
    ok = [r for r in repeats if "error" not in r]
    if not ok:
        return {"error": repeats[-1].get("error", "no repeat completed"), "repeats": list(repeats)}
    typical = sorted(ok, key=lambda r: r.get("makespan_s") or math.inf)[(len(ok) - 1) // 2]
    result: dict[str, Any] = {}
    for key, value in typical.items():
        if isinstance(value, dict) and set(value) == set(PERCENTILES):
            result[key] = {p: _median([r[key][p] for r in ok]) for p in PERCENTILES}
        elif isinstance(value, int | float) and not isinstance(value, bool):
            result[key] = _median([r.get(key) for r in ok])
        else:
            result[key] = value
    if len(ok) < len(repeats):
        result["failed_repeats"] = len(repeats) - len(ok)
    result["repeats"] = list(repeats)
    return result
