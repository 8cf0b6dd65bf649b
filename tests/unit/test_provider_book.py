"""The provider simulator's pure parts: token bucket, launch queue and quota, Go durations, limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsched.devcluster.provider.book import Launch, PodState, ProviderBook, Refuse
from jobsched.devcluster.provider.limits import LimitsError, ProviderLimits, selects
from jobsched.devcluster.provider.pod_status import (
    PROVIDER_FAILED,
    DurationError,
    PodFacts,
    parse_go_duration,
    pod_facts,
    refused_patch,
)
from jobsched.devcluster.provider.token_bucket import TokenBucket


def facts(i: int, node: str = "v-0", never: bool = True) -> PodFacts:
    return PodFacts(
        uid=f"uid-{i}",
        namespace="ns",
        name=f"p-{i}",
        node=node,
        restart_never=never,
        containers=(("job", "busybox"),),
        init_containers=(),
        readiness_gates=(),
        run_s=None,
    )


def drain(book: ProviderBook, now: float) -> list[Launch | Refuse]:
    """Every decision the book makes at now, without waiting."""
    decisions = []
    while isinstance(turn := book.next_turn(now), Launch | Refuse):
        decisions.append(turn)
    return decisions


def test_bucket_starts_full_and_refills_at_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    for _ in range(3):
        assert bucket.wait_s(0.0) == 0
        bucket.take(0.0)
    assert bucket.wait_s(0.0) == pytest.approx(0.1)
    assert bucket.tokens(0.25) == pytest.approx(2.5)
    assert bucket.tokens(100.0) == 3  # never more than the burst


@given(
    rate=st.floats(0.5, 200),
    burst=st.integers(1, 50),
    pods=st.integers(1, 300),
    arrivals=st.lists(st.floats(0, 5), min_size=1, max_size=300),
)
def test_launches_never_outrun_the_bucket_and_keep_arrival_order(
    rate: float, burst: int, pods: int, arrivals: list[float]
) -> None:
    book = ProviderBook(ProviderLimits(launch_rate=rate, launch_burst=burst), now=0.0)
    book.nodes.add("v-0")
    arrive_at = sorted(arrivals)[:pods]
    launched: list[tuple[float, str]] = []
    now, i = 0.0, 0
    while len(launched) < len(arrive_at):
        while i < len(arrive_at) and arrive_at[i] <= now:
            book.arrive(facts(i), arrive_at[i])
            i += 1
        turn = book.next_turn(now)
        if isinstance(turn, Launch):
            launched.append((now, turn.pod.facts.name))
        elif isinstance(turn, float):
            now += turn
        else:
            now = arrive_at[i]
    assert [name for _, name in launched] == [f"p-{k}" for k in range(len(arrive_at))]
    for k, (t, _) in enumerate(launched, start=1):
        assert k <= burst + rate * t + 1e-6  # at most burst + rate*t launches by time t


def test_quota_refuses_at_the_launch_turn_and_frees_when_pods_end() -> None:
    book = ProviderBook(ProviderLimits(launch_rate=100, launch_burst=100, quota_pods=5), now=0.0)
    book.nodes.add("v-0")
    for i in range(8):
        book.arrive(facts(i), 0.0)
    decisions = drain(book, 0.0)
    assert [type(d) for d in decisions] == [Launch] * 5 + [Refuse] * 3
    refusal = decisions[-1]
    assert isinstance(refusal, Refuse)
    assert refusal.retry_in_s is None  # restartPolicy Never: final
    assert "5 of 5 pods" in refusal.message
    assert book.holding == 5
    assert book.finish("uid-0") is not None
    book.release("uid-1")  # deleted while running
    book.arrive(facts(8), 1.0)
    book.arrive(facts(9), 1.0)
    assert [type(d) for d in drain(book, 1.0)] == [Launch, Launch]
    assert book.stats.launched == 7
    assert book.stats.refused == 3


def test_per_node_quota_and_refused_pods_that_may_restart_come_back() -> None:
    limits = ProviderLimits(launch_rate=100, launch_burst=100, quota_pods_per_node=1)
    book = ProviderBook(limits, now=0.0)
    book.nodes |= {"v-0", "v-1"}
    book.arrive(facts(0, "v-0"), 0.0)
    book.arrive(facts(1, "v-0", never=False), 0.0)
    book.arrive(facts(2, "v-1"), 0.0)
    first, second, third = drain(book, 0.0)
    assert isinstance(first, Launch)
    assert isinstance(third, Launch)
    assert isinstance(second, Refuse)
    assert "virtual node v-0" in second.message
    assert second.retry_in_s == 1.0
    assert book.pods["uid-1"].state is PodState.REFUSED
    book.finish("uid-0")
    book.retry("uid-1")
    assert isinstance(book.next_turn(2.0), Launch)


def test_deleted_and_stranded_pods_take_no_token() -> None:
    book = ProviderBook(ProviderLimits(launch_rate=1, launch_burst=1), now=0.0)
    book.nodes.add("v-0")
    book.arrive(facts(0), 0.0)
    book.arrive(facts(1, "gone-node"), 0.0)
    book.arrive(facts(2), 0.0)
    book.forget("uid-0")
    turn = book.next_turn(0.0)
    assert isinstance(turn, Launch)
    assert turn.pod.facts.name == "p-2"
    assert book.pods["uid-1"].state is PodState.STRANDED
    assert book.next_turn(0.0) is None
    assert book.queued == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("2.5s", 2.5), ("1h", 3600), ("0", 0), ("+3s", 3)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "-1s", "1x", "s", "1s 2s", "2024-01-01T00:00:00Z"])
def test_bad_go_durations_are_refused(text: str) -> None:
    with pytest.raises(DurationError):
        parse_go_duration(text)


def test_pod_facts_name_a_bad_run_annotation_and_run_until_deleted() -> None:
    pod = {
        "metadata": {
            "uid": "u",
            "namespace": "ns",
            "name": "p",
            "annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "soon"},
        },
        "spec": {
            "nodeName": "v-0",
            "restartPolicy": "OnFailure",
            "containers": [{"name": "c", "image": "i"}],
        },
    }
    got, problem = pod_facts(pod)
    assert got.run_s is None
    assert problem is not None
    assert "pod-complete.stage.kwok.x-k8s.io/delay" in problem
    assert not got.restart_never
    refused = refused_patch(got, "quota")
    assert refused["status"] == {"phase": "Pending", "reason": PROVIDER_FAILED, "message": "quota"}
    assert refused["metadata"] == {"uid": "u"}


def test_limits_name_the_bad_field_and_selectors_match_any() -> None:
    with pytest.raises(LimitsError, match="launch_burst"):
        ProviderLimits(launch_burst=0)
    with pytest.raises(LimitsError, match="not key=value"):
        ProviderLimits(node_selectors=("type",))
    limits = ProviderLimits(quota_pods=300)
    assert ProviderLimits.from_record(limits.to_record()) == limits
    assert selects(limits.selectors(), {"node.kubernetes.io/instance-type": "eklet"})
    assert not selects(limits.selectors(), {"type": "regular"})
