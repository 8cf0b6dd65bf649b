"""The scheduling queue keeps its per-state counts and its unschedulable index as pods move, so that the
gauges and the retry pass never walk every pending pod; whatever the moves, they match a full count."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jobsched.core.model import Pod
from jobsched.runtime.scheduling.queue import PodState, SchedulingQueue
from jobsched.settings import SchedulingSettings

OPS = ("add", "route", "place_gated", "place_bound", "binding", "park", "drop", "retry")


def full_counts(queue: SchedulingQueue) -> dict[str, int]:
    counts = {state.value: 0 for state in PodState}
    for t in queue.tracked.values():
        counts[t.state.value] += 1
    return counts


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 5)), max_size=60))
def test_counts_and_unschedulable_pods_follow_every_move(moves: list[tuple[str, int]]) -> None:
    queue = SchedulingQueue(("virtual", "regular"), SchedulingSettings(initial_backoff_s=0.0))
    for op, n in moves:
        uid = f"u{n}"
        t = queue.tracked.get(uid)
        if op == "add":
            queue.add(Pod("ns", f"p{n}", uid), ("virtual", "regular"), None)
        elif t is None:
            continue
        elif op == "route":
            queue.route(t, 0)
        elif op == "place_gated":
            queue.placed(t, "node", gated=True)
        elif op == "place_bound":
            queue.placed(t, "node", gated=False)
        elif op == "binding":
            queue.binding(t)
        elif op == "park":
            queue.park(t)
        elif op == "drop":
            queue.drop(uid)
        elif op == "retry":
            for due in queue.due_unschedulable(now=float("inf"), flush=True):
                queue.route(due, 0)
        assert queue.counts() == full_counts(queue)
    parked = {t.pod.uid for t in queue.tracked.values() if t.state is PodState.UNSCHEDULABLE}
    assert {t.pod.uid for t in queue.due_unschedulable(now=float("inf"), flush=True)} == parked


def test_an_inbox_of_pods_for_a_later_slot_can_wait_to_gather() -> None:
    queue = SchedulingQueue(("virtual",), SchedulingSettings())
    assert not queue.only_later("virtual", 100.0, limit=3)  # empty: nothing to wait for
    later = queue.add(Pod("ns", "later", "u1"), ("virtual",), fire_at=200.0)
    queue.route(later, 0)
    assert queue.only_later("virtual", 100.0, limit=3)
    assert not queue.only_later("virtual", 250.0, limit=3)  # due before the horizon: place now
    for n in (2, 3):
        queue.route(queue.add(Pod("ns", f"p{n}", f"u{n}"), ("virtual",), fire_at=200.0), 0)
    assert not queue.only_later("virtual", 100.0, limit=3)  # a full chunk: place now
    other = SchedulingQueue(("virtual",), SchedulingSettings())
    other.route(other.add(Pod("ns", "now", "u0"), ("virtual",), fire_at=None), 0)
    assert not other.only_later("virtual", 100.0, limit=3)  # no slot: place now
