"""The scheduler's picture of the cluster: nodes, what is used on each, and placements not yet bound.

Informers feed it nodes and pods; placement reads it and *assumes* its decisions into it at once, so
the next decision (and concurrent binds) already see them. A bind that fails is *forgotten*; a bind
that the watch reports is *confirmed*, and counted once however the two reports interleave. Usage
is kept per node incrementally, and nodes are grouped into per-domain views that placement in one
domain can work on without touching another's. A domain with a launch rate keeps its launch budget
in its view, fed from the same places: an assumed pod requests a launch at its fire time, a bound pod
not yet started is a queued launch, and a pod forgotten or gone before its turn gives its token back.
Pure data: no locks, no I/O (the clock is passed in).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from jobsched.core.domains import Domain, domain_of
from jobsched.core.filters import fit_request
from jobsched.core.launchbudget import LaunchBudget
from jobsched.core.model import Node, Pod
from jobsched.core.resources import Resources, add_into


class NodeState:
    """One node with its usage. `version` changes whenever `used` does, so stale work is detectable."""

    __slots__ = ("_signature", "_signature_version", "capacity", "domain", "node", "order", "used", "version")

    def __init__(self, node: Node, domain: Domain | None, order: int) -> None:
        self.node = node
        self.domain = domain
        self.order = order  # a stable, unique tie-breaker between equally scored nodes
        self.capacity: dict[str, int] = capacity_of(node, domain)
        self.used: dict[str, int] = {}
        self.version = 0
        self._signature: tuple[object, ...] = ()
        self._signature_version = -1

    def usage_signature(self) -> tuple[object, ...]:
        """Equal for nodes with equal capacity and usage: they fit and score alike for any pod."""
        if self._signature_version != self.version:
            self._signature = (tuple(self.capacity.items()), tuple(self.used.items()))
            self._signature_version = self.version
        return self._signature

    @property
    def name(self) -> str:
        return self.node.name

    def __repr__(self) -> str:
        return f"NodeState({self.node.name!r}, used={self.used})"


def capacity_of(node: Node, domain: Domain | None) -> dict[str, int]:
    """A node's allocatable resources plus the caps its domain puts on extra dimensions."""
    capacity = dict(node.allocatable)
    if domain is not None:
        capacity.update(domain.extra_caps)
    return capacity


class _PodEntry:
    __slots__ = ("assumed", "launches", "node_name", "pod", "usage")

    def __init__(self, pod: Pod, node_name: str, usage: Resources, assumed: bool) -> None:
        self.pod = pod
        self.node_name = node_name
        self.usage = usage
        self.assumed = assumed
        self.launches: LaunchBudget | None = None  # the budget counting its launch, until it starts


def pod_usage(pod: Pod) -> dict[str, int]:
    """What a pod holds on its node: one pod slot, its requests and all its extra dimensions."""
    return fit_request(pod, pod.extras)


@dataclass(frozen=True, slots=True)
class DomainCapacity:
    """A domain's totals for metrics: allocatable and used summed over its nodes."""

    nodes: int
    allocatable: Mapping[str, int]
    used: Mapping[str, int]


class DomainView:
    """The nodes of one domain, for placement. Views of different domains share no node."""

    __slots__ = ("_cache", "allocatable", "domain", "launches", "nodes", "used")

    def __init__(self, cache: ClusterCache, domain: Domain) -> None:
        self._cache = cache
        self.domain = domain
        self.nodes: dict[str, NodeState] = {}
        self.allocatable: dict[str, int] = {}
        self.used: dict[str, int] = {}
        limits = domain.limits
        self.launches = (
            LaunchBudget(limits.launch_rate, limits.launch_burst, cache.clock())
            if limits.launch_rate is not None and limits.launch_burst is not None
            else None
        )

    def now(self) -> float:
        return self._cache.clock()

    def assume(
        self, pod: Pod, state: NodeState, usage: Resources | None = None, launch_at: float | None = None
    ) -> None:
        """Counts `pod` on `state` now; `usage` may be passed in when many alike pods share it.
        `launch_at` is when the pod will be bound (its fire time; None: now), for the launch budget."""
        entry = _PodEntry(pod, state.node.name, usage or pod_usage(pod), assumed=True)
        self._cache._attach(entry)
        if self.launches is not None:
            self.launches.add(pod.uid, launch_at, self._cache.clock())
            entry.launches = self.launches

    def capacity(self) -> DomainCapacity:
        return DomainCapacity(len(self.nodes), dict(self.allocatable), dict(self.used))


class ClusterCache:
    def __init__(self, domains: Sequence[Domain], clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.domains = tuple(domains)
        self._views = {domain.name: DomainView(self, domain) for domain in self.domains}
        self._nodes: dict[str, NodeState] = {}
        self._pods: dict[str, _PodEntry] = {}
        # Pods by node name, also for nodes not (or no longer) known: a watch may show pods first.
        self._pods_by_node: dict[str, dict[str, _PodEntry]] = {}
        self._order = itertools.count()

    # --- nodes -----------------------------------------------------------------------------------

    def upsert_node(self, node: Node) -> None:
        domain_name = domain_of(node, self.domains)
        domain = self._views[domain_name].domain if domain_name is not None else None
        state = self._nodes.get(node.name)
        if state is None:
            state = NodeState(node, domain, next(self._order))
            for entry in self._pods_by_node.get(node.name, {}).values():
                add_into(state.used, entry.usage)
            self._nodes[node.name] = state
        else:
            self._leave_view(state)
            state.node = node
            state.domain = domain
            state.capacity = capacity_of(node, domain)
            state.version += 1
        self._join_view(state)

    def remove_node(self, name: str) -> list[Pod]:
        """Drops a node; returns the pods assumed on it (no longer placed) so they can be re-queued.

        Bound pods stay recorded against the name: they hold their resources until deleted.
        """
        state = self._nodes.pop(name, None)
        if state is not None:
            self._leave_view(state)
        entries = self._pods_by_node.get(name, {})
        assumed = [entry for entry in entries.values() if entry.assumed]
        for entry in assumed:
            self._detach(entry)
        return [entry.pod for entry in assumed]

    def _join_view(self, state: NodeState) -> None:
        if state.domain is not None:
            view = self._views[state.domain.name]
            view.nodes[state.node.name] = state
            add_into(view.allocatable, state.capacity)
            add_into(view.used, state.used)

    def _leave_view(self, state: NodeState) -> None:
        if state.domain is not None:
            view = self._views[state.domain.name]
            del view.nodes[state.node.name]
            add_into(view.allocatable, state.capacity, -1)
            add_into(view.used, state.used, -1)

    # --- pods ------------------------------------------------------------------------------------

    def upsert_pod(self, pod: Pod, launched: bool = True) -> None:
        """A pod as the watch shows it. Bound pods (by any scheduler) count; terminal ones release.

        A still-pending copy of a pod we assumed leaves the assumption in place (the bind is in flight).
        A bound pod first seen not yet `launched` (not started) is a queued launch of its domain.
        """
        entry = self._pods.get(pod.uid)
        if pod.terminal or pod.node_name is None:
            if entry is not None and (pod.terminal or not entry.assumed):
                self._detach(entry)
            return
        if entry is not None:
            if entry.node_name == pod.node_name:
                entry.assumed = False
                return
            self._detach(entry)
        entry = _PodEntry(pod, pod.node_name, pod_usage(pod), assumed=False)
        self._attach(entry)
        state = self._nodes.get(pod.node_name)
        budget = self._views[state.domain.name].launches if state and state.domain else None
        if budget is not None and not launched:
            budget.add(pod.uid, None, self.clock())
            entry.launches = budget

    def launched(self, uid: str) -> None:
        """The pod started, or its provider answered for it (a refusal spends a token too)."""
        entry = self._pods.get(uid)
        if entry is not None and entry.launches is not None:
            entry.launches.launched(uid)
            entry.launches = None

    def remove_pod(self, uid: str) -> bool:
        entry = self._pods.get(uid)
        if entry is None:
            return False
        self._detach(entry)
        return True

    def assume(self, pod: Pod, node_name: str, launch_at: float | None = None) -> None:
        """Counts a decided placement at once; raises ValueError if the pod is already counted."""
        state = self._nodes.get(node_name)
        if state is None or state.domain is None:
            raise ValueError(f"cannot assume {pod.full_name} on {node_name!r}: node not in any domain")
        self._views[state.domain.name].assume(pod, state, launch_at=launch_at)

    def confirm(self, uid: str) -> bool:
        """The watch shows the assumed pod bound: it stays counted, once. Idempotent."""
        entry = self._pods.get(uid)
        if entry is None:
            return False
        entry.assumed = False
        return True

    def forget(self, uid: str) -> bool:
        """The bind failed: release an assumed placement. A confirmed pod is left alone."""
        entry = self._pods.get(uid)
        if entry is None or not entry.assumed:
            return False
        self._detach(entry)
        return True

    def _attach(self, entry: _PodEntry) -> None:
        uid = entry.pod.uid
        current = self._pods.get(uid)
        if current is not None:
            raise ValueError(f"pod {entry.pod.full_name} is already counted on node {current.node_name!r}")
        self._pods[uid] = entry
        self._pods_by_node.setdefault(entry.node_name, {})[uid] = entry
        self._account(entry, 1)

    def _detach(self, entry: _PodEntry) -> None:
        uid = entry.pod.uid
        del self._pods[uid]
        on_node = self._pods_by_node[entry.node_name]
        del on_node[uid]
        if not on_node:
            del self._pods_by_node[entry.node_name]
        self._account(entry, -1)
        if entry.launches is not None:  # gone before its launch turn: the token was never spent
            entry.launches.remove(uid, self.clock())
            entry.launches = None

    def _account(self, entry: _PodEntry, sign: int) -> None:
        state = self._nodes.get(entry.node_name)
        if state is not None:
            add_into(state.used, entry.usage, sign)
            state.version += 1
            if state.domain is not None:
                add_into(self._views[state.domain.name].used, entry.usage, sign)

    # --- queries ---------------------------------------------------------------------------------

    def domain_view(self, name: str) -> DomainView | None:
        return self._views.get(name)

    def views(self) -> Iterator[DomainView]:
        return iter(self._views.values())

    def node(self, name: str) -> NodeState | None:
        return self._nodes.get(name)

    def nodes(self) -> Iterator[NodeState]:
        return iter(self._nodes.values())

    def placement_of(self, uid: str) -> tuple[str, bool] | None:
        """(node name, still assumed) for a counted pod, else None."""
        entry = self._pods.get(uid)
        return None if entry is None else (entry.node_name, entry.assumed)

    def assumed_pods(self) -> list[Pod]:
        return [entry.pod for entry in self._pods.values() if entry.assumed]

    def pod_count(self) -> int:
        return len(self._pods)

    def capacity(self) -> dict[str, DomainCapacity]:
        """Per domain: node count, allocatable and used totals (kept incrementally)."""
        return {name: view.capacity() for name, view in self._views.items()}
