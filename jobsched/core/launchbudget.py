"""A serverless domain's launch budget: when its provider would start one more pod, and whether the
domain's pod quota is reached.

Serverless backends start pods through a rate-limited API: AWS Fargate and Alibaba ECI document a token
bucket of about 20 launches per second with a burst of 100, and serve queued pods in the order they
were bound. A Binding succeeds at once, so a storm bound to such a node meets the limit only afterwards:
1,000 pods bound at 00:00 start over 45 s. Placement therefore projects the provider's bucket forward
and sends a pod that would start too late to the next domain of its chain, before its fire time.

The projection is GCRA (the generic cell rate algorithm), the virtual-scheduling form of a token bucket
of `rate` and `burst` serving requests in order: with interval I = 1/rate and tolerance τ = (burst−1)·I,
a request at t starts at s = max(t, TAT − τ), and the theoretical arrival time becomes TAT = max(TAT, t)
+ I. A full bucket is TAT ≤ now; a storm of n requests at one instant t moves TAT to max(TAT, t) + n·I
at once, so alike pods cost O(1) each.

Requests are the launches the provider will see: pods placed (assumed) in the domain, requested at their
fire time (or now, without one), and pods bound to it that have not started (counted from now when
first seen: on a restart, the bound pods not yet running are queued launches). Requests at or before now
are folded into TAT; those at future instants wait in groups by instant, so that storms at nearby
instants share the bucket in order. A request that never reaches the provider (its bind failed, or the
pod went away while still queued) gives its token back. A new budget assumes the provider's bucket was
just emptied (the conservative guess after a restart); it is full again burst/rate seconds later, as the
provider's refills while jobsched is idle.

Decisions are not revisited: a request inserted before later ones (a pod without fire time, placed while
a storm waits at the gate) delays each of them by at most one interval. Pure: the caller passes the time.
"""

from __future__ import annotations

import bisect
import enum
import math
from dataclasses import dataclass
from typing import Final

_EPSILON: Final = 1e-9
# The seed's business SLO is "running within 3 s of the fire time"; binding a storm takes about 1 s of it.
DEFAULT_MAX_START_DELAY_S: Final = 2.0


class LaunchBudget:
    """One domain's projected token bucket (see the module docstring)."""

    __slots__ = ("_future", "_instants", "_pending", "_tat", "burst", "interval", "rate", "tolerance")

    def __init__(self, rate: float, burst: int, now: float, tokens: float = 0.0) -> None:
        if not (math.isfinite(rate) and rate > 0) or burst < 1:
            raise ValueError(f"a launch budget needs rate > 0 and burst >= 1, not {rate}/{burst}")
        self.rate = rate
        self.burst = burst
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        tokens = min(max(tokens, 0.0), float(burst))
        self._tat = now + (burst - tokens) * self.interval
        self._future: dict[float, int] = {}  # instant > now -> requests waiting for it
        self._instants: list[float] = []  # the keys of _future, sorted
        self._pending: dict[str, tuple[float, float]] = {}  # uid -> (request instant, projected start)

    def _advance(self, now: float) -> None:
        """Folds the groups whose instant has come into TAT, in order."""
        while self._instants and self._instants[0] <= now:
            instant = self._instants.pop(0)
            self._tat = max(self._tat, instant) + self._future.pop(instant) * self.interval

    def start_of_next(self, at: float | None, now: float) -> float:
        """When the provider would start one more pod requested at `at` (None or past: now), behind every
        request at or before that instant."""
        self._advance(now)
        when = now if at is None or at < now else at
        tat = self._tat
        for instant in self._instants:
            if instant > when:
                break
            tat = max(tat, instant) + self._future[instant] * self.interval
        return max(when, tat - self.tolerance)

    def add(self, uid: str, at: float | None, now: float) -> float:
        """Counts a launch of pod `uid` requested at `at` (None or past: now); returns its projected start.
        A pod already counted is left as it is."""
        known = self._pending.get(uid)
        if known is not None:
            return known[1]
        start = self.start_of_next(at, now)
        when = now if at is None or at < now else at
        if when <= now:
            self._tat = max(self._tat, when) + self.interval
        else:
            if when not in self._future:
                bisect.insort(self._instants, when)
                self._future[when] = 0
            self._future[when] += 1
        self._pending[uid] = (when, start)
        return start

    def launched(self, uid: str) -> None:
        """The pod started (or the provider answered for it): its token is spent for good."""
        self._pending.pop(uid, None)

    def remove(self, uid: str, now: float) -> bool:
        """The pod will never reach the provider's queue (bind failed, pod gone while waiting): its token
        comes back if it was not due yet. True when it did."""
        entry = self._pending.pop(uid, None)
        if entry is None:
            return False
        self._advance(now)
        when, start = entry
        count = self._future.get(when)
        if when > now and count is not None:
            if count == 1:
                del self._future[when]
                self._instants.remove(when)
            else:
                self._future[when] = count - 1
            return True
        if start > now + _EPSILON:
            self._tat -= self.interval
            return True
        return False

    def tokens(self, now: float) -> float:
        """Tokens the provider's bucket holds now, by the projection (0 while launches are queued)."""
        self._advance(now)
        return min(float(self.burst), max(0.0, self.burst - (self._tat - now) / self.interval))

    def backlog(self, now: float) -> float:
        """Launches queued at the provider now, by the projection (requests beyond the empty bucket)."""
        self._advance(now)
        return max(0.0, (self._tat - now) / self.interval - self.burst)

    def counted(self) -> int:
        """Pods whose launch is counted and not known to have started (memory bound: each goes away)."""
        return len(self._pending)


class Refusal(enum.Enum):
    """Why a domain's limits keep a pod out: the jobsched_domain_spilled_total reason label."""

    QUOTA = "quota"
    LAUNCH_RATE = "launch_rate"


@dataclass(frozen=True, slots=True)
class DomainLimits:
    """A domain's provider limits, as configured (None: no such limit)."""

    launch_rate: float | None = None
    launch_burst: int | None = None
    max_pods: int | None = None
    max_start_delay_s: float = DEFAULT_MAX_START_DELAY_S

    @property
    def limited(self) -> bool:
        return self.launch_rate is not None or self.max_pods is not None


def refusal(
    limits: DomainLimits, budget: LaunchBudget | None, pods_in_domain: int, at: float | None, now: float
) -> Refusal | None:
    """Whether one more pod, requested at `at` (its fire time; None: now), may be placed in the domain:
    None, or why not. The quota counts every pod on the domain's nodes that is not finished (running,
    queued or assumed); the launch rate refuses a pod the provider would start more than
    max_start_delay_s after the later of its fire time and now."""
    if limits.max_pods is not None and pods_in_domain >= limits.max_pods:
        return Refusal.QUOTA
    if budget is not None:
        when = now if at is None or at < now else at
        if budget.start_of_next(at, now) - when > limits.max_start_delay_s + _EPSILON:
            return Refusal.LAUNCH_RATE
    return None


def refusal_reason(refusal: Refusal, domain: str, limits: DomainLimits) -> str:
    """The reason a FailedScheduling message counts the domain's nodes under, in kube-scheduler's voice."""
    if refusal is Refusal.QUOTA:
        return f"node(s) were in domain {domain}, at its pod quota (maxPods {limits.max_pods})"
    return (
        f"node(s) were in domain {domain}, whose provider would start the pod more than "
        f"{limits.max_start_delay_s:g}s late (launchRate {limits.launch_rate:g}/s, burst {limits.launch_burst})"
    )
