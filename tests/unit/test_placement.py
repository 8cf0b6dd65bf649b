"""Batch placement: scoring order, fallback along domain chains, kube-style messages, and properties
checked against a brute-force greedy reference."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsched.core.cache import ClusterCache
from jobsched.core.domains import Domain, domains_from_config
from jobsched.core.filters import fit_request, node_reasons
from jobsched.core.launchbudget import Refusal
from jobsched.core.model import Node, Pod, Taint, Toleration
from jobsched.core.placement import FINE_SCALE, Diagnosis, place_domain
from jobsched.core.scoring import make_scorer, node_score
from jobsched.settings import DEFAULT_CHAIN, DEFAULT_DOMAINS
from tests.support.factories import DOMAINS, GIB, MIB, VK_TAINT, cache_with, node, pod, virtual_node
from tests.support.placement import place_batch


def test_binpack_fills_a_node_before_the_next() -> None:
    cache = cache_with(virtual_node("v1", cpu=1000), virtual_node("v2", cpu=1000))
    result = place_batch(cache, [pod(f"p{i}", cpu=300) for i in range(4)])
    assert [node_name for _, node_name, _ in result.placements] == ["v1", "v1", "v1", "v2"]
    assert {domain for _, _, domain in result.placements} == {"virtual"}


def test_spread_alternates() -> None:
    cache = cache_with(node("r1"), node("r2"))
    result = place_batch(cache, [pod(f"p{i}") for i in range(4)], ("regular",))
    assert [node_name for _, node_name, _ in result.placements] == ["r1", "r2", "r1", "r2"]


def test_falls_back_when_the_first_domain_is_full() -> None:
    cache = cache_with(virtual_node("v1", pods=2), node("r1"))
    result = place_batch(cache, [pod(f"p{i}") for i in range(3)])
    assert [(n, d) for _, n, d in result.placements] == [
        ("v1", "virtual"),
        ("v1", "virtual"),
        ("r1", "regular"),
    ]
    assert result.fallbacks == 1
    assert result.unplaced == []


def test_unplaced_message_sums_over_every_domain_tried() -> None:
    cache = cache_with(
        virtual_node("v1", cpu=100),
        node("r1", cpu=100),
        node("r2", unschedulable=True),
        node("r3", taints=(Taint("dedicated", "db"),)),
        node("r4", ready=False),
        node("g1", labels={"nvidia.com/gpu.present": "true"}),  # not in the chain
    )
    result = place_batch(cache, [pod("big", cpu=500)])
    assert result.placements == []
    ((_, message),) = result.unplaced
    assert message == (
        "0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
        "1 node(s) were not ready, 1 node(s) were unschedulable, 2 Insufficient cpu."
    )


def test_provider_taint_is_tolerated_only_through_the_virtual_domain() -> None:
    # A tainted virtual-kubelet node that no domain claims as virtual stays untolerated.
    plain = (dataclasses.replace(DOMAINS[2], tolerations=()),)
    cache = ClusterCache(plain)
    cache.upsert_node(node("v1", taints=(VK_TAINT,)))
    result = place_batch(cache, [pod("p")], ("regular",))
    assert (
        result.unplaced[0][1]
        == "0/1 nodes are available: 1 node(s) had untolerated taint {virtual-kubelet.io/provider: x}."
    )


def test_unknown_domain_in_chain_is_skipped() -> None:
    cache = cache_with(node("r1"))
    result = place_batch(cache, [pod("p", domain_chain=("nowhere", "regular"))])
    assert [n for _, n, _ in result.placements] == ["r1"]
    result = place_batch(cache, [pod("q", domain_chain=("nowhere",))])
    assert result.unplaced[0][1] == "0/0 nodes are available."


def test_priority_goes_first() -> None:
    cache = cache_with(node("r1", pods=1))
    low, high = pod("low"), pod("high", priority=10)
    result = place_batch(cache, [low, high], ("regular",))
    assert [p.name for p, _, _ in result.placements] == ["high"]
    assert [p.name for p, _ in result.unplaced] == ["low"]
    assert result.unplaced[0][1] == "0/1 nodes are available: 1 Too many pods."


def test_place_domain_reports_unfit_with_lazy_diagnosis() -> None:
    cache = cache_with(node("r1", cpu=150))
    view = cache.domain_view("regular")
    assert view is not None
    result = place_domain(view, [pod("a"), pod("b")])
    assert [(p.name, n) for p, n in result.placed] == [("a", "r1")]
    ((unfit, diagnosis),) = result.unfit
    assert unfit.name == "b"
    assert diagnosis.message() == "0/1 nodes are available: 1 Insufficient cpu."
    assert diagnosis.merged(Diagnosis(2, {"Insufficient cpu": 2})).message() == (
        "0/3 nodes are available: 3 Insufficient cpu."
    )


def test_extra_dimension_caps() -> None:
    domains = (Domain("logged", catch_all=True, extra_caps={"logs": 10 * MIB}),)
    cache = ClusterCache(domains)
    cache.upsert_node(node("n1"))
    pods = [pod(f"p{i}", extras={"logs": 4 * MIB}) for i in range(3)]
    result = place_batch(cache, pods, ("logged",))
    assert len(result.placements) == 2
    assert result.unplaced[0][1] == "0/1 nodes are available: 1 Insufficient logs."


def test_node_score_matches_kube() -> None:
    capacity = {"cpu": 4000, "memory": 8 * GIB}
    used = {"cpu": 1000, "memory": 2 * GIB}
    request = {"cpu": 1000, "memory": 2 * GIB}
    assert node_score("binpack", capacity, used, request) == 50
    assert node_score("spread", capacity, used, request) == 50
    assert node_score("spread", capacity, {"cpu": 0, "memory": 0}, {"cpu": 1000, "memory": 0}) == 87
    assert node_score("binpack", {"cpu": 0}, {}, request) == 0


# --- properties ------------------------------------------------------------------------------

LOGS_DOMAINS = tuple(dataclasses.replace(d, extra_caps={"logs": 10}) for d in DOMAINS)
TOLERATIONS = (Toleration("dedicated", "Equal", "db"), Toleration("", "Exists"))


@st.composite
def nodes(draw: st.DrawFn) -> list[Node]:
    count = draw(st.integers(min_value=0, max_value=12))
    made = []
    for i in range(count):
        kind = draw(st.sampled_from(["virtual", "regular", "gpu"]))
        labels = {"zone": draw(st.sampled_from(["a", "b"]))}
        taints: tuple[Taint, ...] = ()
        if kind == "virtual":
            labels["type"] = "virtual-kubelet"
            taints = (VK_TAINT,)
        elif kind == "gpu":
            labels["nvidia.com/gpu.present"] = "true"
        if draw(st.booleans()) and draw(st.booleans()):
            taints += (Taint("dedicated", "db"),)
        made.append(
            node(
                f"n{i:02d}",
                cpu=draw(st.integers(0, 2000)),
                memory=draw(st.integers(0, 1000)),
                pods=draw(st.integers(0, 5)),
                labels=labels,
                taints=taints,
                unschedulable=draw(st.booleans()) and draw(st.booleans()),
                ready=draw(st.booleans()) or draw(st.booleans()),
            )
        )
    return made


@st.composite
def pods(draw: st.DrawFn) -> list[Pod]:
    shapes: list[dict[str, Any]] = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "cpu": st.integers(0, 800),
                    "memory": st.integers(0, 400),
                    "node_selector": st.sampled_from([{}, {"zone": "a"}]),
                    "tolerations": st.sampled_from([(), TOLERATIONS[:1], TOLERATIONS[1:]]),
                    "domain_chain": st.sampled_from([None, ("regular",), ("gpu", "virtual", "regular")]),
                    "extras": st.sampled_from([{}, {"logs": 3}]),
                    "priority": st.integers(0, 2),
                }
            ),
            min_size=1,
            max_size=4,
        )
    )
    picks = draw(st.lists(st.integers(0, len(shapes) - 1), max_size=30))
    return [pod(f"p{i:02d}", **shapes[shape]) for i, shape in enumerate(picks)]


def _cache(made: list[Node]) -> ClusterCache:
    cache = ClusterCache(LOGS_DOMAINS)
    for item in made:
        cache.upsert_node(item)
    return cache


def _fits_now(cache: ClusterCache, p: Pod, domain_name: str) -> bool:
    view = cache.domain_view(domain_name)
    assert view is not None
    tolerations = p.tolerations + view.domain.tolerations
    request = fit_request(p, view.domain.extra_caps)
    return any(
        not node_reasons(p, s.node, request, s.capacity, s.used, tolerations) for s in view.nodes.values()
    )


@settings(max_examples=150, deadline=None)
@given(nodes(), pods())
def test_batch_never_overcommits_and_accounts_for_every_pod(made: list[Node], batch: list[Pod]) -> None:
    cache = _cache(made)
    result = place_batch(cache, batch, DEFAULT_CHAIN)
    outcome = Counter(p.uid for p, _, _ in result.placements) + Counter(p.uid for p, _ in result.unplaced)
    assert outcome == Counter(p.uid for p in batch)
    for state in cache.nodes():
        for name, amount in state.used.items():
            assert amount <= state.capacity.get(name, 0), (state, name)
    for p, node_name, domain_name in result.placements:
        assert cache.placement_of(p.uid) == (node_name, True)
        chain = p.domain_chain or DEFAULT_CHAIN
        # fallback only when every earlier domain had no room (usage only grows within a batch)
        for earlier in chain[: chain.index(domain_name)]:
            assert cache.domain_view(earlier) is None or not _fits_now(cache, p, earlier)
    for p, message in result.unplaced:
        assert message.startswith("0/")
        for domain_name in p.domain_chain or DEFAULT_CHAIN:
            assert not _fits_now(cache, p, domain_name)


def _greedy_reference(
    cache: ClusterCache, domain_name: str, batch: list[Pod]
) -> list[tuple[str, str | None]]:
    """One pod at a time: filter every node, score every survivor, take the best (ties: oldest node)."""
    view = cache.domain_view(domain_name)
    assert view is not None
    chosen: list[tuple[str, str | None]] = []
    for p in batch:
        tolerations = p.tolerations + view.domain.tolerations
        request = fit_request(p, view.domain.extra_caps)
        score = make_scorer(view.domain.policy, request, view.domain.weights, FINE_SCALE)
        feasible = [
            s
            for s in view.nodes.values()
            if not node_reasons(p, s.node, request, s.capacity, s.used, tolerations)
        ]
        if not feasible:
            chosen.append((p.uid, None))
            continue
        best = max(feasible, key=lambda s: (score(s.capacity, s.used), -s.order))
        cache.assume(p, best.node.name)
        chosen.append((p.uid, best.node.name))
    return chosen


@settings(max_examples=150, deadline=None)
@given(nodes(), pods(), st.sampled_from(["virtual", "regular", "gpu"]))
def test_shared_work_places_exactly_like_brute_force(made: list[Node], batch: list[Pod], domain: str) -> None:
    expected = _greedy_reference(_cache(made), domain, batch)
    cache = _cache(made)
    view = cache.domain_view(domain)
    assert view is not None
    result = place_domain(view, batch)
    got = dict(result.placed)
    assert [(p.uid, got.get(p)) for p in batch] == expected
    assert len(result.placed) + len(result.unfit) == len(batch)


# --- provider limits -----------------------------------------------------------------------------


def limited_cache(now: list[float], **limits: object) -> ClusterCache:
    """The default domains, the virtual one with provider limits; the clock reads now[0]."""
    config = [dict(d) for d in DEFAULT_DOMAINS]
    config[0].update(limits)
    cache = ClusterCache(domains_from_config(config), clock=lambda: now[0])
    for item in (virtual_node("v1", pods=1000), virtual_node("v2", pods=1000), node("r1", pods=1000)):
        cache.upsert_node(item)
    return cache


def test_a_storm_beyond_the_launch_budget_spills_to_the_next_domain_before_its_fire_time() -> None:
    now = [0.0]
    cache = limited_cache(now, launchRate=2, launchBurst=3, maxStartDelaySeconds=1)
    now[0] = 100.0  # long after start: the provider's bucket is full again
    pods = [pod(f"p{i}") for i in range(9)]
    result = place_batch(cache, pods, fire_at={p.uid: 110.0 for p in pods})
    domains = Counter(domain for _, _, domain in result.placements)
    # 3 at once, then one every 0.5 s: T+0.5 and T+1.0 are within the 1 s allowed, T+1.5 is not.
    assert domains == {"virtual": 5, "regular": 4}
    assert result.fallbacks == 4
    view = cache.domain_view("virtual")
    assert view is not None
    assert view.launches is not None
    assert view.launches.start_of_next(110.0, now[0]) == pytest.approx(111.5)


def test_the_spill_reason_is_in_the_failed_scheduling_message_and_counted() -> None:
    now = [100.0]
    cache = limited_cache(now, launchRate=1, launchBurst=1, maxStartDelaySeconds=0, maxPods=2)
    view = cache.domain_view("virtual")
    assert view is not None
    result = place_domain(view, [pod("a"), pod("b"), pod("c")], [200.0, 200.0, 300.0])
    assert [p.name for p, _ in result.placed] == ["a", "c"]
    ((refused, diagnosis),) = result.unfit
    assert refused.name == "b"
    assert diagnosis.message() == (
        "0/2 nodes are available: 2 node(s) were in domain virtual, whose provider would start the pod "
        "more than 0s late (launchRate 1/s, burst 1)."
    )
    more = place_domain(view, [pod("d")], [400.0])
    assert more.placed == []
    assert more.unfit[0][1].message() == (
        "0/2 nodes are available: 2 node(s) were in domain virtual, at its pod quota (maxPods 2)."
    )
    assert dict(result.spilled) == {Refusal.LAUNCH_RATE: 1}
    assert dict(more.spilled) == {Refusal.QUOTA: 1}


def test_the_quota_counts_pods_bound_by_anyone_until_they_finish() -> None:
    now = [100.0]
    cache = limited_cache(now, maxPods=3)
    running = [dataclasses.replace(pod(f"old{i}"), node_name="v1") for i in range(2)]
    for item in running:
        cache.upsert_pod(item)
    result = place_batch(cache, [pod(f"p{i}") for i in range(3)])
    assert Counter(d for _, _, d in result.placements) == {"virtual": 1, "regular": 2}
    cache.upsert_pod(dataclasses.replace(running[0], terminal=True))
    again = place_batch(cache, [pod("q")])
    assert [d for _, _, d in again.placements] == ["virtual"]


def test_a_pod_no_node_fits_is_not_counted_as_spilled() -> None:
    now = [100.0]
    cache = limited_cache(now, maxPods=0)
    view = cache.domain_view("virtual")
    assert view is not None
    result = place_domain(view, [pod("huge", cpu=10**9), pod("small")])
    assert dict(result.spilled) == {Refusal.QUOTA: 1}
    assert "Insufficient cpu" in result.unfit[0][1].message()


def test_a_forgotten_placement_gives_its_launch_back() -> None:
    now = [100.0]
    cache = limited_cache(now, launchRate=1, launchBurst=1, maxStartDelaySeconds=0)
    view = cache.domain_view("virtual")
    assert view is not None
    first = place_domain(view, [pod("a"), pod("b")], [200.0, 200.0])
    assert [p.name for p, _ in first.placed] == ["a"]
    assert cache.forget(pod("a").uid)  # its bind failed: the provider never saw it
    second = place_domain(view, [pod("b")], [200.0])
    assert [p.name for p, _ in second.placed] == ["b"]


def test_an_unlimited_domain_ignores_fire_times() -> None:
    cache = cache_with(virtual_node("v1", pods=10))
    result = place_batch(cache, [pod(f"p{i}") for i in range(10)], fire_at={"uid-p0": 1.0})
    assert Counter(d for _, _, d in result.placements) == {"virtual": 10}
