"""The scheduling queue: every pending pod the scheduler owns, and what it is waiting for.

A pod is QUEUED in the inbox of one domain of its chain, GATED (placed, waiting for its cron slot),
BINDING (with a bind worker) or UNSCHEDULABLE (no domain had room; retried with backoff when capacity
changes, and at least every flush period, as kube-scheduler's unschedulable queue). Only the queue
moves pods between those states, so the rest of the scheduler never edits a pod's state by hand.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

import anyio

from jobsched.core.domains import route
from jobsched.core.model import Pod
from jobsched.core.placement import NO_NODES, Diagnosis
from jobsched.settings import SchedulingSettings


class PodState(enum.Enum):
    QUEUED = "active"  # values are the scheduler_pending_pods queue labels
    GATED = "gated"
    BINDING = "binding"
    UNSCHEDULABLE = "unschedulable"


@dataclass
class Tracked:
    """A pending pod the scheduler owns, and where it is in its life."""

    pod: Pod
    chain: tuple[str, ...]
    fire_at: float | None  # its cron slot (epoch seconds); bound at that instant, never before
    seen_at: float = 0.0  # when the queue first took it (epoch seconds), for the scheduling SLI
    attempts: int = 0  # placement passes that took it (each domain of its chain tried counts one)
    state: PodState = PodState.QUEUED
    step: int = 0  # index into chain of the domain it is queued in / placed in
    node: str = ""
    diagnosis: Diagnosis = NO_NODES
    backoff_s: float = 0.0
    retry_at: float = 0.0  # monotonic time before which an unschedulable pod is not retried
    reported: str = ""  # the last unschedulable message written

    @property
    def domain(self) -> str:
        return self.chain[self.step] if self.step < len(self.chain) else "?"


@dataclass
class _Inbox:
    pods: dict[str, Tracked] = field(default_factory=dict)
    wake: anyio.Event = field(default_factory=anyio.Event)


class SchedulingQueue:
    def __init__(self, domains: tuple[str, ...], tuning: SchedulingSettings) -> None:
        self.tracked: dict[str, Tracked] = {}
        self._tuning = tuning
        self._inboxes = {name: _Inbox() for name in domains}
        self._capacity_changed = False
        # Kept as pods move, so that the gauges and the retry pass never walk 10,000 gated pods.
        self._counts = dict.fromkeys(PodState, 0)
        self._unschedulable: dict[str, Tracked] = {}

    def _move(self, t: Tracked, state: PodState) -> None:
        """Sets a pod's state; the counts and the unschedulable index follow (for tracked pods only)."""
        uid = t.pod.uid
        if self.tracked.get(uid) is t:
            self._counts[t.state] -= 1
            self._counts[state] += 1
            if state is PodState.UNSCHEDULABLE:
                self._unschedulable[uid] = t
            elif t.state is PodState.UNSCHEDULABLE:
                del self._unschedulable[uid]
        t.state = state

    # --- entering and leaving ----------------------------------------------------------------------

    def add(self, pod: Pod, chain: tuple[str, ...], fire_at: float | None, seen_at: float = 0.0) -> Tracked:
        self.drop(pod.uid)  # a pod is tracked once
        t = Tracked(pod, chain, fire_at, seen_at, backoff_s=self._tuning.initial_backoff_s)
        self.tracked[pod.uid] = t
        self._counts[t.state] += 1
        return t

    def owns(self, uid: str) -> bool:
        return uid in self.tracked

    def current(self, t: Tracked) -> bool:
        """Whether `t` is still the queue's record of its pod (not deleted, bound or replaced since)."""
        return self.tracked.get(t.pod.uid) is t

    def drop(self, uid: str) -> Tracked | None:
        """Stops tracking a pod (deleted, bound, or bound by someone else); returns what was tracked."""
        t = self.tracked.pop(uid, None)
        if t is None:
            return None
        self._counts[t.state] -= 1
        self._unschedulable.pop(uid, None)
        if t.state is PodState.QUEUED and t.step < len(t.chain):
            self._inboxes[t.chain[t.step]].pods.pop(uid, None)
        return t

    # --- domains -----------------------------------------------------------------------------------

    def route(self, t: Tracked, step: int) -> bool:
        """Queues `t` in the first existing domain of its chain from `step` on. False when none is left
        (the caller parks it as unschedulable)."""
        t.step = route(t.chain, step, self._inboxes)
        if t.step >= len(t.chain):
            return False
        self._move(t, PodState.QUEUED)
        inbox = self._inboxes[t.chain[t.step]]
        inbox.pods[t.pod.uid] = t
        inbox.wake.set()
        return True

    async def wait_for_work(self, domain: str) -> None:
        inbox = self._inboxes[domain]
        if not inbox.pods:
            inbox.wake = anyio.Event()
            await inbox.wake.wait()

    def only_later(self, domain: str, after: float, limit: int) -> bool:
        """Whether a domain's inbox holds fewer than `limit` pods and the oldest is for a slot after
        `after` (epoch seconds): nothing in it is due soon, so placing can wait for more to gather."""
        pods = self._inboxes[domain].pods
        if not pods or len(pods) >= limit:
            return False
        fire_at = next(iter(pods.values())).fire_at
        return fire_at is not None and fire_at > after

    def take(self, domain: str, limit: int) -> list[Tracked]:
        """Up to `limit` queued pods of a domain, in arrival order, removed from its inbox (an attempt)."""
        pods = self._inboxes[domain].pods
        batch = list(pods.values())[:limit] if len(pods) > limit else list(pods.values())
        for t in batch:
            del pods[t.pod.uid]
            t.attempts += 1
        return batch

    def placed(self, t: Tracked, node: str, gated: bool) -> None:
        t.node = node
        self._move(t, PodState.GATED if gated else PodState.BINDING)

    def binding(self, t: Tracked) -> None:
        """`t` was handed to a bind worker."""
        self._move(t, PodState.BINDING)

    # --- unschedulable pods ------------------------------------------------------------------------

    def park(self, t: Tracked) -> bool:
        """Marks `t` unschedulable with backoff; True when its message changed (worth writing)."""
        self._move(t, PodState.UNSCHEDULABLE)
        t.retry_at = time.monotonic() + t.backoff_s
        t.backoff_s = min(t.backoff_s * 2, self._tuning.max_backoff_s)
        message = t.diagnosis.message()
        if message == t.reported:
            return False
        t.reported = message
        return True

    def capacity_changed(self) -> None:
        self._capacity_changed = True

    def due_unschedulable(self, now: float, flush: bool) -> list[Tracked]:
        """The unschedulable pods to try again: those whose backoff passed, if capacity changed since
        they were parked, or every one on a flush. Their diagnosis starts afresh."""
        if not self._capacity_changed and not flush:
            return []
        due: list[Tracked] = []
        waiting = 0
        for t in self._unschedulable.values():
            if t.retry_at <= now or flush:
                t.diagnosis = NO_NODES
                due.append(t)
            else:
                waiting += 1
        self._capacity_changed = waiting > 0
        return due

    # --- gauges ------------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Pending pods per scheduler_pending_pods queue label."""
        return {state.value: count for state, count in self._counts.items()}
