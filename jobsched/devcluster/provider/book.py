"""The simulated provider's books: its launch queue in arrival order, the pods it holds, its quota.

A pod bound to a virtual node joins the queue when the provider first sees it (the watch). At the
queue's head it waits for a launch token; when the token comes the provider either starts it (it then
holds a place in the quota until it ends or is deleted) or refuses it, because the pods running or
starting already fill the provider's quota (or the node's). A refusal is a real API call, so it spends
a token too. A refused pod whose restartPolicy is not Never stays Pending and comes back to the queue
after a backoff, as virtual-kubelet retries it.

Pure bookkeeping: the caller passes the time and carries out the status writes the decisions call for.
"""

from __future__ import annotations

import enum
from collections import Counter, deque
from dataclasses import dataclass, field

from jobsched.devcluster.provider.limits import ProviderLimits
from jobsched.devcluster.provider.pod_status import PodFacts
from jobsched.devcluster.provider.token_bucket import TokenBucket

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0


class PodState(enum.Enum):
    QUEUED = "queued"  # waiting for its launch turn
    HOLDING = "holding"  # started (or starting): counts against the quota
    REFUSED = "refused"  # refused and waiting to be retried
    STRANDED = "stranded"  # its node is no longer the provider's: it never starts
    DONE = "done"  # ended, refused for good, or being deleted


@dataclass
class ProviderPod:
    facts: PodFacts
    arrived: float
    state: PodState = PodState.QUEUED
    started: float = 0.0
    attempts: int = 0


@dataclass(frozen=True)
class Launch:
    pod: ProviderPod


@dataclass(frozen=True)
class Refuse:
    pod: ProviderPod
    message: str
    retry_in_s: float | None  # None: the refusal is final (restartPolicy Never)


@dataclass
class BookStats:
    launched: int = 0
    refused: int = 0
    completed: int = 0
    released: int = 0  # deleted or gone while holding
    by_state: Counter[PodState] = field(default_factory=Counter)


class ProviderBook:
    def __init__(self, limits: ProviderLimits, now: float) -> None:
        self.limits = limits
        self.bucket = TokenBucket(limits.launch_rate, limits.launch_burst, now)
        self.pods: dict[str, ProviderPod] = {}  # by uid, until the pod is gone from the API
        self.nodes: set[str] = set()  # the virtual nodes the provider plays
        self.stats = BookStats()
        self._queue: deque[str] = deque()
        self._holding_by_node: Counter[str] = Counter()

    @property
    def queued(self) -> int:
        return self.stats.by_state[PodState.QUEUED]

    @property
    def holding(self) -> int:
        return self.stats.by_state[PodState.HOLDING]

    def _move(self, pod: ProviderPod, state: PodState) -> None:
        if pod.state is PodState.HOLDING and state is not PodState.HOLDING:
            self._holding_by_node[pod.facts.node] -= 1
        elif state is PodState.HOLDING and pod.state is not PodState.HOLDING:
            self._holding_by_node[pod.facts.node] += 1
        self.stats.by_state[pod.state] -= 1
        self.stats.by_state[state] += 1
        pod.state = state

    def _add(self, facts: PodFacts, now: float, state: PodState) -> ProviderPod:
        pod = ProviderPod(facts, arrived=now, state=state)
        self.pods[facts.uid] = pod
        self.stats.by_state[state] += 1
        if state is PodState.HOLDING:
            self._holding_by_node[facts.node] += 1
        return pod

    def arrive(self, facts: PodFacts, now: float) -> bool:
        """A pending pod bound to one of the provider's nodes; False if it is known already."""
        if facts.uid in self.pods:
            return False
        self._add(facts, now, PodState.QUEUED)
        self._queue.append(facts.uid)
        return True

    def adopt(self, facts: PodFacts, started: float) -> ProviderPod | None:
        """A pod found running (started by an earlier provider process): it holds its place."""
        if facts.uid in self.pods:
            return None
        pod = self._add(facts, started, PodState.HOLDING)
        pod.started = started
        return pod

    def retry(self, uid: str) -> None:
        """A refused pod's backoff has passed: back to the end of the queue."""
        pod = self.pods.get(uid)
        if pod is not None and pod.state is PodState.REFUSED:
            self._move(pod, PodState.QUEUED)
            self._queue.append(uid)

    def next_turn(self, now: float) -> Launch | Refuse | float | None:
        """The head of the queue's launch decision; or seconds to wait for a token; None if empty."""
        while self._queue:
            pod = self.pods.get(self._queue[0])
            if pod is None or pod.state is not PodState.QUEUED:
                self._queue.popleft()  # deleted while queued: no API call, no token
                continue
            if pod.facts.node not in self.nodes:
                self._queue.popleft()
                self._move(pod, PodState.STRANDED)
                continue
            wait = self.bucket.wait_s(now)
            if wait > 0:
                return wait
            self._queue.popleft()
            self.bucket.take(now)
            pod.attempts += 1
            refusal = self._over_quota(pod.facts.node)
            if refusal is None:
                self._move(pod, PodState.HOLDING)
                pod.started = now
                self.stats.launched += 1
                return Launch(pod)
            self.stats.refused += 1
            if pod.facts.restart_never:
                self._move(pod, PodState.DONE)
                return Refuse(pod, refusal, None)
            self._move(pod, PodState.REFUSED)
            return Refuse(pod, refusal, min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (pod.attempts - 1)))
        return None

    def _over_quota(self, node: str) -> str | None:
        quota, per_node = self.limits.quota_pods, self.limits.quota_pods_per_node
        if quota and self.holding >= quota:
            return (
                f"virtual provider quota exceeded: {self.holding} of {quota} pods are running or "
                f"starting (provider simulator --quota-pods {quota})"
            )
        if per_node and self._holding_by_node[node] >= per_node:
            return (
                f"virtual node {node} quota exceeded: {self._holding_by_node[node]} of {per_node} pods "
                f"are running or starting on it (provider simulator --quota-pods-per-node {per_node})"
            )
        return None

    def finish(self, uid: str) -> ProviderPod | None:
        """The pod's run ended; its place in the quota is free. Returns it if it was holding one."""
        pod = self.pods.get(uid)
        if pod is None or pod.state is not PodState.HOLDING:
            return None
        self._move(pod, PodState.DONE)
        self.stats.completed += 1
        return pod

    def release(self, uid: str) -> None:
        """The pod is being deleted (or its status could not be written): it never runs here again."""
        pod = self.pods.get(uid)
        if pod is None or pod.state is PodState.DONE:
            return
        if pod.state is PodState.HOLDING:
            self.stats.released += 1
        self._move(pod, PodState.DONE)

    def forget(self, uid: str) -> None:
        """The pod is gone from the API."""
        self.release(uid)
        pod = self.pods.pop(uid, None)
        if pod is not None:
            self.stats.by_state[pod.state] -= 1
