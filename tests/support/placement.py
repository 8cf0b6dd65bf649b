"""Chain-walking placement for core tests: the scheduler's routing (`route`) around `place_domain`, run
synchronously, one domain at a time, so a table test can see where each pod of a batch ends up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from jobsched.core.cache import ClusterCache
from jobsched.core.domains import resolve_chain, route
from jobsched.core.model import Pod
from jobsched.core.placement import NO_NODES, Diagnosis, place_domain
from jobsched.settings import DEFAULT_CHAIN


@dataclass(slots=True)
class PlacementResult:
    placements: list[tuple[Pod, str, str]] = field(default_factory=list)  # (pod, node, domain)
    unplaced: list[tuple[Pod, str]] = field(default_factory=list)  # (pod, FailedScheduling message)
    fallbacks: int = 0  # placements outside the pod's first domain


def place_batch(
    cache: ClusterCache,
    pods: Sequence[Pod],
    default_chain: tuple[str, ...] = DEFAULT_CHAIN,
    fire_at: Mapping[str, float] | None = None,
) -> PlacementResult:
    """Places pods by priority (highest first, otherwise in order) along their domain chains: step k
    places every pod still waiting into the k-th domain of its chain, as the scheduler's domain loops
    do when each has drained its inbox. `fire_at` maps pod uids to their fire time (others: none)."""
    result = PlacementResult()
    known = {view.domain.name for view in cache.views()}
    waiting = [(pod, resolve_chain(pod, default_chain), 0) for pod in sorted(pods, key=lambda p: -p.priority)]
    diagnoses: dict[str, Diagnosis] = {}
    while waiting:
        by_domain: dict[str, list[tuple[Pod, tuple[str, ...], int]]] = {}
        for pod, chain, step in waiting:
            step = route(chain, step, known)
            if step < len(chain):
                by_domain.setdefault(chain[step], []).append((pod, chain, step))
            else:
                result.unplaced.append((pod, diagnoses.get(pod.uid, NO_NODES).message()))
        waiting = []
        for domain_name, group in by_domain.items():
            view = cache.domain_view(domain_name)
            assert view is not None
            times = [(fire_at or {}).get(pod.uid) for pod, _, _ in group]
            placed = place_domain(view, [pod for pod, _, _ in group], times)
            steps = {pod.uid: (chain, step) for pod, chain, step in group}
            for pod, node_name in placed.placed:
                result.placements.append((pod, node_name, domain_name))
                result.fallbacks += steps[pod.uid][1] > 0
            for pod, diagnosis in placed.unfit:
                previous = diagnoses.get(pod.uid)
                diagnoses[pod.uid] = diagnosis if previous is None else previous.merged(diagnosis)
                chain, step = steps[pod.uid]
                waiting.append((pod, chain, step + 1))
    return result
