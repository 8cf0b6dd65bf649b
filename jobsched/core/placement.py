"""Batch placement: thousands of pending pods onto nodes in one pass, fast enough for a cron storm.

A burst is mostly copies of a few pod shapes. Pods with the same requirement key form a class: the
usage-independent filters (readiness, cordons, taints, affinity) run once per class and node (and are
shared between classes that differ only in requests), and each class keeps a max-heap of its fitting
nodes by score. After a placement only the node that received the pod changes; every class re-scores
that one node the next time it places a pod (a change log with a per-class cursor), and stale heap
entries are recognised by the node's version. A pod then costs O(log nodes), nearly flat in the
number of nodes.

Each placement is assumed into the cache at once. `place_domain` works on one domain only, so the
runtime places domains independently: each domain's loop places its inbox, and the pods it had no room
for move on to the next domain of their chain (`jobsched.core.domains.route`). A domain with provider
limits (a pod quota, a launch rate) also turns away a pod that would exceed its quota or that its
provider would start too late (`jobsched.core.launchbudget`); that pod moves on the same way, before
its fire time, so it still costs one write at T.
"""

from __future__ import annotations

import functools
import heapq
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from jobsched.core.cache import DomainView, NodeState, pod_usage
from jobsched.core.filters import (
    affinity_label_keys,
    check_node_affinity,
    fit_request,
    node_condition_reason,
    node_reasons,
    uses_node_name,
)
from jobsched.core.launchbudget import Refusal, refusal, refusal_reason
from jobsched.core.model import Pod
from jobsched.core.resources import PODS
from jobsched.core.scoring import make_scorer

# Placement orders nodes by the kube formula at a finer scale: exact fullness breaks kube's ties.
FINE_SCALE = 1_000_000

HeapEntry = tuple[int, int, int, NodeState]  # (-score, node order, node version, node)


class Diagnosis:
    """Why a pod fits nowhere in a set of nodes: node count and how many nodes gave each reason.

    It may be computed lazily (`later`), on first use: in a storm most pods that miss one domain are
    placed in the next, and their reasons are never read. A lazy one reflects the nodes as they are
    when it is first read.
    """

    __slots__ = ("_compute", "_nodes", "_reasons")

    def __init__(self, nodes: int, reasons: Mapping[str, int]) -> None:
        self._nodes = nodes
        self._reasons = reasons
        self._compute: Callable[[], Diagnosis] | None = None

    @classmethod
    def later(cls, compute: Callable[[], Diagnosis]) -> Diagnosis:
        lazy = cls(0, {})
        lazy._compute = compute
        return lazy

    def _force(self) -> None:
        if self._compute is not None:
            done = self._compute()
            self._nodes, self._reasons, self._compute = done.nodes, done.reasons, None

    @property
    def nodes(self) -> int:
        self._force()
        return self._nodes

    @property
    def reasons(self) -> Mapping[str, int]:
        self._force()
        return self._reasons

    def merged(self, other: Diagnosis) -> Diagnosis:
        """Both sets of nodes together (the domains a pod tried), still computed only when read."""
        return Diagnosis.later(
            lambda: Diagnosis(self.nodes + other.nodes, Counter(self.reasons) + Counter(other.reasons))
        )

    def message(self) -> str:
        """kube-scheduler's FitError text: "0/40 nodes are available: 30 Insufficient cpu, ..."."""
        parts = sorted(f"{count} {reason}" for reason, count in self.reasons.items())
        if not parts:
            return f"0/{self.nodes} nodes are available."
        return f"0/{self.nodes} nodes are available: {', '.join(parts)}."

    def __repr__(self) -> str:
        return f"Diagnosis({self.nodes}, {dict(self.reasons)})"


NO_NODES = Diagnosis(0, {})


def _fits(request_items: tuple[tuple[str, int], ...], state: NodeState) -> bool:
    capacity = state.capacity
    used = state.used
    # A plain loop: all() over a generator costs a third more on this hottest path.
    for name, amount in request_items:  # noqa: SIM110
        if used.get(name, 0) + amount > capacity.get(name, 0):
            return False
    return True


ConditionGroups = dict[tuple[object, ...], list[NodeState]]


def _group_by_conditions(view: DomainView) -> ConditionGroups:
    """A domain's nodes grouped by taints, cordon and readiness: what tolerations are judged on."""
    groups: ConditionGroups = {}
    for state in view.nodes.values():
        node = state.node
        groups.setdefault((node.taints, node.unschedulable, node.ready), []).append(state)
    return groups


class _StaticFilter:
    """Which nodes of a domain pass the usage-independent filters for one (selector, affinity,
    tolerations) combination. Taints are judged once per group of alike nodes, and affinity once per
    distinct value of the labels it reads (the node name only if it uses matchFields)."""

    def __init__(self, view: DomainView, pod: Pod, groups: ConditionGroups) -> None:
        tolerations = pod.tolerations + view.domain.tolerations
        has_affinity = bool(pod.node_selector) or pod.required_affinity is not None
        label_keys = affinity_label_keys(pod)
        by_name = uses_node_name(pod)
        verdicts: dict[tuple[object, ...], bool] = {}
        self.nodes: list[NodeState] = []
        for states in groups.values():
            if node_condition_reason(states[0].node, tolerations) is not None:
                continue
            if not has_affinity:
                self.nodes.extend(states)
                continue
            for state in states:
                node = state.node
                labels = node.labels
                signature = (tuple([labels.get(key) for key in label_keys]), node.name if by_name else None)
                passes = verdicts.get(signature)
                if passes is None:
                    passes = verdicts[signature] = check_node_affinity(pod, node) is None
                if passes:
                    self.nodes.append(state)
        self.members = frozenset(self.nodes)


class _PodClass:
    """Interchangeable pods in one domain: their candidate nodes in a heap by score."""

    __slots__ = ("cursor", "diagnosis", "heap", "members", "request", "request_items", "score", "usage")

    def __init__(self, view: DomainView, pod: Pod, static: _StaticFilter, cursor: int) -> None:
        domain = view.domain
        self.request = fit_request(pod, domain.extra_caps)
        self.request_items = tuple(self.request.items())
        self.usage = pod_usage(pod)
        self.score = make_scorer(domain.policy, self.request, domain.weights, FINE_SCALE)
        self.members = static.members
        self.cursor = cursor
        self.diagnosis: Diagnosis | None = None
        # Nodes alike in capacity and usage (most of a fresh cluster) are fitted and scored once.
        verdicts: dict[tuple[object, ...], int | None] = {}
        score = self.score
        request_items = self.request_items
        heap: list[HeapEntry] = []
        for state in static.nodes:
            signature = state.usage_signature()
            if signature in verdicts:
                negative_score = verdicts[signature]
            else:
                fitting = _fits(request_items, state)
                negative_score = verdicts[signature] = -score(state.capacity, state.used) if fitting else None
            if negative_score is not None:
                heap.append((negative_score, state.order, state.version, state))
        heapq.heapify(heap)
        self.heap = heap

    def take_best(self, changed: list[NodeState]) -> NodeState | None:
        """Pops the best fitting node, after re-scoring the nodes changed since this class last looked."""
        heap = self.heap
        if self.cursor < len(changed):
            fresh = changed[self.cursor :]
            self.cursor = len(changed)
            for state in dict.fromkeys(fresh) if len(fresh) > 1 else fresh:
                if state in self.members and _fits(self.request_items, state):
                    entry = (-self.score(state.capacity, state.used), state.order, state.version, state)
                    heapq.heappush(heap, entry)
        while heap:
            _, _, version, state = heapq.heappop(heap)
            if version == state.version:
                return state
        return None

    def put_back(self, state: NodeState) -> None:
        """Returns a node `take_best` gave out but that received no pod."""
        heapq.heappush(
            self.heap, (-self.score(state.capacity, state.used), state.order, state.version, state)
        )

    def diagnose(self, view: DomainView, pod: Pod) -> Diagnosis:
        """One lazy diagnosis shared by the class; it holds the view and one pod, not the heap."""
        if self.diagnosis is None:
            self.diagnosis = Diagnosis.later(functools.partial(_diagnose, view, pod, self.request))
        return self.diagnosis


def _diagnose(view: DomainView, pod: Pod, request: Mapping[str, int]) -> Diagnosis:
    tolerations = pod.tolerations + view.domain.tolerations
    reasons: Counter[str] = Counter()
    for state in view.nodes.values():
        reasons.update(node_reasons(pod, state.node, request, state.capacity, state.used, tolerations))
    return Diagnosis(len(view.nodes), reasons)


@dataclass(slots=True)
class DomainPlacement:
    """What `place_domain` did: pods placed, with their node, and pods with no room in the domain;
    `spilled` counts the unfit ones the domain's provider limits turned away, by reason."""

    placed: list[tuple[Pod, str]] = field(default_factory=list)
    unfit: list[tuple[Pod, Diagnosis]] = field(default_factory=list)
    spilled: Counter[Refusal] = field(default_factory=Counter)


def place_domain(
    view: DomainView, pods: Sequence[Pod], launch_at: Sequence[float | None] | None = None
) -> DomainPlacement:
    """Places pods, in the order given, into this one domain; assumes each placement into the cache.

    `launch_at[i]` is when pods[i] will be bound (its fire time; None: at once); a domain with a launch
    rate projects its provider's bucket from it."""
    result = DomainPlacement()
    changed: list[NodeState] = []  # nodes in the order they received pods in this call
    classes: dict[tuple[object, ...], _PodClass] = {}
    static_filters: dict[tuple[object, ...], _StaticFilter] = {}
    groups: ConditionGroups | None = None
    limits = view.domain.limits
    limited = limits.limited and bool(view.nodes)
    now = view.now() if limited else 0.0
    refused: dict[Refusal, Diagnosis] = {}
    for index, pod in enumerate(pods):
        at = launch_at[index] if launch_at is not None else None
        key = pod.requirement_key
        pod_class = classes.get(key)
        if pod_class is None:
            static_key = key[1:4]  # of (requests, selector, affinity, tolerations, chain, extras)
            static = static_filters.get(static_key)
            if static is None:
                groups = _group_by_conditions(view) if groups is None else groups
                static = static_filters[static_key] = _StaticFilter(view, pod, groups)
            pod_class = classes[key] = _PodClass(view, pod, static, len(changed))
        state = pod_class.take_best(changed)
        if state is None:
            result.unfit.append((pod, pod_class.diagnose(view, pod)))
            continue
        if limited:  # a node has room: the domain's provider limits have the last word
            why = refusal(limits, view.launches, view.used.get(PODS, 0), at, now)
            if why is not None:
                pod_class.put_back(state)
                diagnosis = refused.get(why)
                if diagnosis is None:
                    reason = refusal_reason(why, view.domain.name, limits)
                    diagnosis = refused[why] = Diagnosis(len(view.nodes), {reason: len(view.nodes)})
                result.unfit.append((pod, diagnosis))
                result.spilled[why] += 1
                continue
        view.assume(pod, state, pod_class.usage, at)
        changed.append(state)
        result.placed.append((pod, state.node.name))
    return result
