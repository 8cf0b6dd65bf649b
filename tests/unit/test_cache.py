"""The cluster cache: incremental usage, assume/confirm/forget, and per-domain totals."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from jobsched.core.cache import ClusterCache, pod_usage
from jobsched.core.domains import domains_from_config
from jobsched.core.launchbudget import LaunchBudget
from jobsched.core.model import Pod
from jobsched.core.resources import total
from jobsched.settings import DEFAULT_DOMAINS
from tests.support.factories import DOMAINS, MIB, cache_with, node, pod, virtual_node


def bound(p: Pod, node_name: str | None, terminal: bool = False) -> Pod:
    return dataclasses.replace(p, node_name=node_name, terminal=terminal)


def test_assume_counts_at_once_and_confirm_does_not_double_count() -> None:
    cache = cache_with(node("n1"))
    p = pod("a", cpu=300, memory=10 * MIB)
    cache.assume(p, "n1")
    state = cache.node("n1")
    assert state is not None
    assert state.used == {"pods": 1, "cpu": 300, "memory": 10 * MIB}
    assert cache.placement_of(p.uid) == ("n1", True)
    cache.upsert_pod(bound(p, None))  # the pending copy while the bind is in flight
    cache.upsert_pod(bound(p, "n1"))  # the watch shows the bind
    cache.confirm(p.uid)
    cache.confirm(p.uid)
    assert state.used == {"pods": 1, "cpu": 300, "memory": 10 * MIB}
    assert cache.placement_of(p.uid) == ("n1", False)
    assert not cache.forget(p.uid)  # confirmed: a late bind error must not release it
    cache.upsert_pod(bound(p, "n1", terminal=True))
    assert state.used == {"pods": 0, "cpu": 0, "memory": 0}
    assert cache.pod_count() == 0


def test_forget_releases_and_double_assume_is_refused() -> None:
    cache = cache_with(node("n1"), node("n2"))
    p = pod("a")
    cache.assume(p, "n1")
    with pytest.raises(ValueError, match="already counted"):
        cache.assume(p, "n2")
    assert cache.forget(p.uid)
    assert not cache.forget(p.uid)
    assert cache.placement_of(p.uid) is None
    with pytest.raises(ValueError, match="not in any domain"):
        cache.assume(p, "missing")


def test_bound_elsewhere_moves_the_pod() -> None:
    cache = cache_with(node("n1"), node("n2"))
    p = pod("a", cpu=100)
    cache.assume(p, "n1")
    cache.upsert_pod(bound(p, "n2"))  # someone else won the race
    assert cache.node("n1").used["cpu"] == 0  # type: ignore[union-attr]
    assert cache.node("n2").used["cpu"] == 100  # type: ignore[union-attr]


def test_pods_seen_before_their_node_count_when_it_arrives() -> None:
    cache = ClusterCache(DOMAINS)
    cache.upsert_pod(bound(pod("a", cpu=250), "late"))
    cache.upsert_node(node("late"))
    assert cache.node("late").used["cpu"] == 250  # type: ignore[union-attr]


def test_remove_node_returns_assumed_pods_only() -> None:
    cache = cache_with(node("n1"))
    assumed, confirmed = pod("a"), pod("b")
    cache.assume(assumed, "n1")
    cache.upsert_pod(bound(confirmed, "n1"))
    assert cache.remove_node("n1") == [assumed]
    assert cache.node("n1") is None
    assert cache.placement_of(assumed.uid) is None
    assert cache.placement_of(confirmed.uid) == ("n1", False)
    assert cache.capacity()["regular"].nodes == 0


def test_capacity_per_domain_and_relabel_moves_node() -> None:
    cache = cache_with(node("r1", cpu=1000), virtual_node("v1", cpu=2000))
    cache.assume(pod("a", cpu=300), "v1")
    capacity = cache.capacity()
    assert (
        capacity["virtual"].nodes,
        capacity["virtual"].allocatable["cpu"],
        capacity["virtual"].used["cpu"],
    ) == (
        1,
        2000,
        300,
    )
    assert capacity["regular"].allocatable["cpu"] == 1000
    assert capacity["gpu"].nodes == 0
    cache.upsert_node(node("v1", cpu=2000, labels={"nvidia.com/gpu.present": "true"}))
    capacity = cache.capacity()
    assert capacity["virtual"].nodes == 0
    assert capacity["virtual"].used.get("cpu", 0) == 0
    assert capacity["gpu"].used["cpu"] == 300


def test_extra_caps_become_capacity() -> None:
    domains = (dataclasses.replace(DOMAINS[2], extra_caps={"logs": 100}),)
    cache = ClusterCache(domains)
    cache.upsert_node(node("n1"))
    assert cache.node("n1").capacity["logs"] == 100  # type: ignore[union-attr]


NODE_NAMES = ("n1", "n2", "v1")
PODS = tuple(pod(f"p{i}", cpu=100 * (i + 1), memory=MIB * (i + 1)) for i in range(6))


class CacheMachine(RuleBasedStateMachine):
    """Any interleaving of watch events and scheduler calls keeps usage equal to its recomputation."""

    def __init__(self) -> None:
        super().__init__()
        self.cache = cache_with(node("n1"), node("n2"), virtual_node("v1"))

    @rule(p=st.sampled_from(PODS), name=st.sampled_from(NODE_NAMES))
    def assume(self, p: Pod, name: str) -> None:
        if self.cache.placement_of(p.uid) is None and self.cache.node(name) is not None:
            self.cache.assume(p, name)

    @rule(p=st.sampled_from(PODS))
    def confirm(self, p: Pod) -> None:
        self.cache.confirm(p.uid)

    @rule(p=st.sampled_from(PODS))
    def forget(self, p: Pod) -> None:
        self.cache.forget(p.uid)

    @rule(p=st.sampled_from(PODS), name=st.sampled_from((*NODE_NAMES, None)), terminal=st.booleans())
    def watch(self, p: Pod, name: str | None, terminal: bool) -> None:
        self.cache.upsert_pod(bound(p, name, terminal))

    @rule(p=st.sampled_from(PODS))
    def delete(self, p: Pod) -> None:
        self.cache.remove_pod(p.uid)

    @rule(name=st.sampled_from(NODE_NAMES))
    def node_churn(self, name: str) -> None:
        if self.cache.node(name) is None:
            self.cache.upsert_node(virtual_node(name) if name.startswith("v") else node(name))
        else:
            for p in self.cache.remove_node(name):
                assert self.cache.placement_of(p.uid) is None

    @invariant()
    def usage_matches_recomputation(self) -> None:
        for state in self.cache.nodes():
            counted = [p for p in PODS if (self.cache.placement_of(p.uid) or ("",))[0] == state.name]
            expected = total(pod_usage(p) for p in counted)
            assert {k: v for k, v in state.used.items() if v} == {k: v for k, v in expected.items() if v}
        for view in self.cache.views():
            expected_view = total(s.used for s in view.nodes.values())
            assert {k: v for k, v in view.used.items() if v} == {k: v for k, v in expected_view.items() if v}


TestCacheMachine = CacheMachine.TestCase
TestCacheMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# --- the launch budget of a domain with a launch rate ----------------------------------------------


def launch_cache(now: list[float]) -> ClusterCache:
    config = [dict(d) for d in DEFAULT_DOMAINS]
    config[0].update(launchRate=1, launchBurst=1)
    cache = ClusterCache(domains_from_config(config), clock=lambda: now[0])
    cache.upsert_node(virtual_node("v1"))
    cache.upsert_node(node("r1"))
    return cache


def budget_of(cache: ClusterCache) -> LaunchBudget:
    view = cache.domain_view("virtual")
    assert view is not None
    assert view.launches is not None
    return view.launches


def test_bound_pods_not_started_are_queued_launches_and_started_ones_are_not() -> None:
    """After a restart the budget is rebuilt from what the watch lists: the pods' phase tells."""
    now = [100.0]
    cache = launch_cache(now)
    cache.upsert_pod(bound(pod("running"), "v1"), launched=True)
    for name in ("q1", "q2"):
        cache.upsert_pod(bound(pod(name), "v1"), launched=False)
    cache.upsert_pod(bound(pod("elsewhere"), "r1"), launched=False)  # not a limited domain
    budget = budget_of(cache)
    assert budget.counted() == 2
    # A new budget assumes the provider's bucket was just emptied: both wait, behind an empty bucket.
    assert budget.backlog(100.0) == pytest.approx(2.0)
    cache.launched(pod("q1").uid)
    cache.remove_pod(pod("q1").uid)  # finished after it started: nothing comes back
    assert budget.backlog(100.0) == pytest.approx(2.0)
    cache.remove_pod(pod("q2").uid)  # deleted while queued: its token comes back
    assert budget.backlog(100.0) == pytest.approx(1.0)
    assert budget.counted() == 0


def test_assumed_pods_request_at_their_fire_time_and_give_back_when_forgotten_or_their_node_goes() -> None:
    now = [100.0]
    cache = launch_cache(now)
    budget = budget_of(cache)
    cache.assume(pod("a"), "v1", launch_at=200.0)
    cache.assume(pod("b"), "v1", launch_at=200.0)
    assert budget.start_of_next(200.0, 100.0) == pytest.approx(202.0)
    assert cache.forget(pod("a").uid)
    assert budget.start_of_next(200.0, 100.0) == pytest.approx(201.0)
    assert cache.remove_node("v1") == [pod("b")]
    assert budget.start_of_next(200.0, 100.0) == pytest.approx(200.0)
    assert budget.counted() == 0


def test_a_confirmed_bind_keeps_its_launch_counted_until_the_pod_starts() -> None:
    now = [100.0]
    cache = launch_cache(now)
    budget = budget_of(cache)
    cache.assume(pod("a"), "v1", launch_at=100.0)
    cache.upsert_pod(bound(pod("a"), "v1"), launched=False)
    cache.confirm(pod("a").uid)
    assert budget.counted() == 1
    cache.launched(pod("a").uid)
    assert budget.counted() == 0
