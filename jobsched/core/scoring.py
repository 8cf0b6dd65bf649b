"""Node scores per domain policy: binpack fills nodes up, spread keeps them even.

These are kube-scheduler's NodeResourcesFit strategies, MostAllocated and LeastAllocated: a weighted
mean over resources of how full (or how empty) the node would be with the pod on it, as an integer
0..100. Placement asks for a finer scale (same formula) so that it can break kube's many ties by
exact fullness instead of by chance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, Literal

from jobsched.core.resources import CPU, MEMORY, Resources

Policy = Literal["binpack", "spread"]
POLICIES: Final = ("binpack", "spread")
MAX_NODE_SCORE: Final = 100
DEFAULT_WEIGHTS: Final[Mapping[str, int]] = {CPU: 1, MEMORY: 1}

Scorer = Callable[[Resources, Resources], int]


def make_scorer(
    policy: str,
    request: Resources,
    weights: Mapping[str, int] = DEFAULT_WEIGHTS,
    scale: int = MAX_NODE_SCORE,
) -> Scorer:
    """A function (node capacity, node used) -> score of putting a pod with `request` there.

    Resources the node has no capacity for are left out of the mean, as in kube-scheduler.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown scoring policy {policy!r} (expected binpack or spread)")
    terms = tuple((name, weight, request.get(name, 0)) for name, weight in weights.items() if weight > 0)
    most_allocated = policy == "binpack"

    def score(capacity: Resources, used: Resources) -> int:
        weighted = 0
        weight_sum = 0
        for name, weight, wanted in terms:
            cap = capacity.get(name, 0)
            if cap <= 0:
                continue
            requested = used.get(name, 0) + wanted
            if most_allocated:
                part = min(requested, cap) * scale // cap
            else:
                part = (cap - requested) * scale // cap if requested <= cap else 0
            weighted += part * weight
            weight_sum += weight
        return weighted // weight_sum if weight_sum else 0

    return score


def node_score(
    policy: str,
    capacity: Resources,
    used: Resources,
    request: Resources,
    weights: Mapping[str, int] = DEFAULT_WEIGHTS,
) -> int:
    """kube-scheduler's 0..100 score for one pod on one node."""
    return make_scorer(policy, request, weights)(capacity, used)
