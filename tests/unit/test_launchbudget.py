"""The launch budget: GCRA projection of a provider's token bucket, checked with tables and against the
provider simulator's own token bucket serving a FIFO queue."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsched.core.launchbudget import DomainLimits, LaunchBudget, Refusal, refusal, refusal_reason
from jobsched.devcluster.provider.token_bucket import TokenBucket

T = 1000.0


def full(rate: float = 20.0, burst: int = 100, now: float = 0.0) -> LaunchBudget:
    return LaunchBudget(rate, burst, now, tokens=burst)


def test_a_storm_on_a_full_bucket_starts_burst_at_once_then_at_the_rate() -> None:
    budget = full()
    starts = [budget.add(f"p{i}", T, now=0.0) for i in range(1000)]
    assert starts[0] == T
    assert starts[99] == T  # the burst
    assert starts[100] == pytest.approx(T + 0.05)
    assert starts[999] == pytest.approx(T + 45.0)  # 100 + 20 t = 1000: the 45 s


def test_start_of_next_does_not_count_the_pod() -> None:
    budget = full(rate=1.0, burst=2)
    assert budget.start_of_next(T, 0.0) == T
    assert budget.start_of_next(T, 0.0) == T
    budget.add("a", T, 0.0)
    budget.add("b", T, 0.0)
    assert budget.start_of_next(T, 0.0) == pytest.approx(T + 1.0)


def test_a_new_budget_assumes_an_empty_bucket_that_refills_while_idle() -> None:
    budget = LaunchBudget(20.0, 100, now=0.0)
    assert budget.tokens(0.0) == 0.0
    assert budget.start_of_next(None, 0.0) == pytest.approx(0.05)
    assert budget.tokens(2.5) == pytest.approx(50.0)
    assert budget.tokens(5.0) == pytest.approx(100.0)
    assert budget.tokens(60.0) == 100.0
    assert budget.start_of_next(None, 60.0) == 60.0


@pytest.mark.parametrize(
    ("second_at", "expected"),
    [
        (T + 1.5, T + 3.0),  # behind the first storm's queue: TAT T+4, tolerance 1
        (T + 10.0, T + 10.0),  # the bucket refilled in between
        (T - 5.0, T - 5.0),  # an earlier instant goes first
    ],
)
def test_storms_at_nearby_instants_share_the_bucket_in_order(second_at: float, expected: float) -> None:
    budget = full(rate=1.0, burst=2)
    starts = [budget.add(f"a{i}", T, 0.0) for i in range(4)]
    assert starts == pytest.approx([T, T, T + 1, T + 2])
    assert budget.add("b", second_at, 0.0) == pytest.approx(expected)


def test_pods_without_fire_time_start_now_and_go_before_a_later_storm() -> None:
    budget = full(rate=1.0, burst=2)
    assert budget.add("now-1", None, 10.0) == 10.0
    assert budget.add("now-2", 3.0, 10.0) == 10.0  # a fire time already past counts as now
    assert budget.add("now-3", None, 10.0) == pytest.approx(11.0)
    # T is far away: the bucket is full again by then.
    assert budget.add("storm", T, 10.0) == T


def test_a_forgotten_future_launch_gives_its_token_back() -> None:
    budget = full(rate=1.0, burst=1)
    budget.add("a", T, 0.0)
    budget.add("b", T, 0.0)
    assert budget.start_of_next(T, 0.0) == pytest.approx(T + 2)
    assert budget.remove("a", 0.0)
    assert budget.start_of_next(T, 0.0) == pytest.approx(T + 1)
    assert not budget.remove("a", 0.0)  # once only
    assert budget.counted() == 1


def test_a_queued_launch_gone_before_its_turn_gives_its_token_back_a_due_one_does_not() -> None:
    budget = full(rate=1.0, burst=1)
    budget.add("first", None, 0.0)  # starts at 0
    budget.add("queued", None, 0.0)  # would start at 1
    assert budget.backlog(0.0) == pytest.approx(1.0)
    assert not budget.remove("first", 0.5)  # its start has passed: the token is spent
    assert budget.remove("queued", 0.5)
    assert budget.start_of_next(None, 0.5) == pytest.approx(1.0)


def test_a_started_pod_is_no_longer_removable() -> None:
    budget = full(rate=1.0, burst=1)
    budget.add("a", None, 0.0)
    budget.add("b", None, 0.0)
    budget.launched("b")  # the provider was faster than projected
    assert not budget.remove("b", 0.1)
    assert budget.counted() == 1


def test_adding_a_pod_twice_counts_it_once() -> None:
    budget = full(rate=1.0, burst=1)
    assert budget.add("a", T, 0.0) == budget.add("a", T, 0.0)
    assert budget.start_of_next(T, 0.0) == pytest.approx(T + 1)


LIMITS = DomainLimits(launch_rate=1.0, launch_burst=2, max_pods=3, max_start_delay_s=1.0)


@pytest.mark.parametrize(
    ("queued_at_t", "pods_in_domain", "at", "now", "expected"),
    [
        (0, 0, T, 0.0, None),
        (2, 2, T, 0.0, None),  # the third starts at T+1: exactly the delay allowed
        (3, 2, T, 0.0, Refusal.LAUNCH_RATE),  # the fourth would start at T+2
        (0, 3, T, 0.0, Refusal.QUOTA),  # quota first
        (3, 0, None, 0.0, None),  # now is far before T: a pod placed now starts now
        (3, 0, T + 3.0, 0.0, None),  # a later instant: the bucket has room again
        (3, 0, T - 10.0, T + 0.5, Refusal.LAUNCH_RATE),  # late pod: the delay counts from now
    ],
)
def test_refusal(
    queued_at_t: int, pods_in_domain: int, at: float | None, now: float, expected: Refusal | None
) -> None:
    budget = full(rate=1.0, burst=2)
    for i in range(queued_at_t):
        budget.add(f"q{i}", T, 0.0)
    assert refusal(LIMITS, budget, pods_in_domain, at, now) is expected


def test_quota_alone_needs_no_budget() -> None:
    limits = DomainLimits(max_pods=1)
    assert refusal(limits, None, 0, None, 0.0) is None
    assert refusal(limits, None, 1, None, 0.0) is Refusal.QUOTA
    assert not DomainLimits().limited


def test_reasons_name_the_domain_and_the_limit() -> None:
    assert refusal_reason(Refusal.QUOTA, "virtual", LIMITS) == (
        "node(s) were in domain virtual, at its pod quota (maxPods 3)"
    )
    assert "more than 1s late (launchRate 1/s, burst 2)" in refusal_reason(
        Refusal.LAUNCH_RATE, "virtual", LIMITS
    )


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        LaunchBudget(0.0, 1, 0.0)
    with pytest.raises(ValueError, match="burst >= 1"):
        LaunchBudget(1.0, 0, 0.0)


def simulate(rate: float, burst: int, requests: list[float]) -> list[float]:
    """The provider simulator's way: one FIFO queue, the head waits for a token of a full bucket."""
    bucket = TokenBucket(rate, burst, 0.0)
    starts: list[float] = []
    previous = 0.0
    for at in requests:
        now = max(at, previous)
        now += bucket.wait_s(now)
        bucket.take(now)
        starts.append(now)
        previous = now
    return starts


@given(
    rate=st.floats(0.5, 50.0),
    burst=st.integers(1, 30),
    gaps=st.lists(st.sampled_from([0.0, 0.0, 0.0, 0.01, 0.3, 1.0, 7.0]), min_size=1, max_size=120),
    placed_at=st.floats(0.0, 1.0),
)
def test_projection_matches_the_provider_bucket_serving_requests_in_order(
    rate: float, burst: int, gaps: list[float], placed_at: float
) -> None:
    """Requests added in the order they will be bound get the start the simulator's bucket gives them,
    whether they were placed ahead (future instants) or as they come (now)."""
    requests: list[float] = []
    at = 0.0
    for gap in gaps:
        at += gap
        requests.append(at)
    expected = simulate(rate, burst, requests)
    ahead = LaunchBudget(rate, burst, 0.0, tokens=burst)
    assert [ahead.add(f"p{i}", t, placed_at * min(requests)) for i, t in enumerate(requests)] == (
        pytest.approx(expected, abs=1e-6)
    )
    as_they_come = LaunchBudget(rate, burst, 0.0, tokens=burst)
    assert [as_they_come.add(f"p{i}", None, t) for i, t in enumerate(requests)] == (
        pytest.approx(expected, abs=1e-6)
    )


@given(
    instants=st.lists(st.floats(1.0, 100.0), min_size=1, max_size=40),
    extra_at=st.floats(1.0, 100.0),
    probe=st.floats(0.0, 120.0),
)
def test_a_future_request_added_and_removed_leaves_no_trace(
    instants: list[float], extra_at: float, probe: float
) -> None:
    budget = full(rate=2.0, burst=3)
    for i, at in enumerate(instants):
        budget.add(f"p{i}", at, 0.0)
    before = budget.start_of_next(probe, 0.0)
    budget.add("extra", extra_at, 0.0)
    assert budget.remove("extra", 0.0)
    assert budget.start_of_next(probe, 0.0) == pytest.approx(before)
