"""The scheduling runtime: informers feed the cache, per-domain loops place pods, bind workers bind.

One pod's path: the pod informer sees it pending with our schedulerName and routes it to the first
domain of its chain. That domain's loop places its whole inbox in one pass (`place_domain`),
assuming each decision into the cache; pods with no room move on to the next domain's inbox, and
pods with no domain left are parked as unschedulable and retried with backoff when capacity
changes. A placed pod whose cron slot (annotation jobsched.io/scheduled-time) is still in the
future waits at the gate, placed and counted, and is released to the bind workers at that instant:
at fire time the only write per pod is its Binding. Events and status conditions wait until the
burst is over.

Domains share nothing: each has its own inbox, loop and cache view, and no lock is taken anywhere
(everything runs on one event loop; the cache is only touched between awaits).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from jobsched.core.cache import ClusterCache
from jobsched.core.convert import node_from_json, pod_from_json
from jobsched.core.domains import resolve_chain
from jobsched.core.filters import static_reason
from jobsched.core.model import Pod
from jobsched.core.placement import NO_NODES, Diagnosis, place_domain
from jobsched.core.vocabulary import PRIORITY_ANNOTATION, SCHEDULED_TIME_ANNOTATION
from jobsched.kube import binder, pods
from jobsched.kube.binder import BindOutcome, BindRequest, BindResult
from jobsched.kube.client import KubeClient
from jobsched.kube.events import EventRecord, EventWriter, ObjectRef
from jobsched.kube.informer import Informer
from jobsched.runtime.metrics import Metrics
from jobsched.settings import Settings

log = structlog.get_logger(__name__)

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 10.0
UNSCHEDULABLE_FLUSH_S = 60.0
BURST_GUARD_S = 3.0  # the event writer stays quiet this long around a fire time
PLACE_CHUNK = 2000  # pods placed between yields to the event loop
WARM_BEFORE_S = 2.0  # connections are opened this long before a gated burst


def fire_time(raw: dict[str, Any]) -> float | None:
    """The pod's cron slot as epoch seconds, if it has one."""
    value = ((raw.get("metadata") or {}).get("annotations") or {}).get(SCHEDULED_TIME_ANNOTATION)
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


@dataclass
class Tracked:
    """A pending pod the scheduler owns, and where it is in its life."""

    pod: Pod
    chain: tuple[str, ...]
    fire_at: float | None
    state: str = "queued"  # queued | gated | binding | unschedulable
    step: int = 0  # index into chain of the domain it is queued in / placed in
    node: str = ""
    diagnosis: Diagnosis = NO_NODES
    backoff_s: float = INITIAL_BACKOFF_S
    retry_at: float = 0.0
    first_seen: float = field(default_factory=time.monotonic)
    reported: str = ""  # the last unschedulable message written


@dataclass
class _DomainQueue:
    inbox: dict[str, Tracked] = field(default_factory=dict)
    wake: anyio.Event = field(default_factory=anyio.Event)


class _NodeHandler:
    def __init__(self, scheduler: Scheduler) -> None:
        self.s = scheduler

    def replace(self, items: list[dict[str, Any]]) -> None:
        seen = set()
        for raw in items:
            self.apply("ADDED", raw)
            seen.add(raw["metadata"]["name"])
        for state in list(self.s.cache.nodes()):
            if state.name not in seen:
                self.apply("DELETED", {"metadata": {"name": state.name}})

    def apply(self, event_type: str, raw: dict[str, Any]) -> None:
        s = self.s
        if event_type == "DELETED":
            s.node_gone(raw["metadata"]["name"])
        else:
            s.cache.upsert_node(node_from_json(raw))
            s.capacity_changed()


class _PodHandler:
    def __init__(self, scheduler: Scheduler) -> None:
        self.s = scheduler

    def replace(self, items: list[dict[str, Any]]) -> None:
        seen = set()
        for raw in items:
            self.apply("ADDED", raw)
            seen.add(raw["metadata"]["uid"])
        for uid in [u for u in self.s.known_pods if u not in seen]:
            self.s.pod_gone(uid)

    def apply(self, event_type: str, raw: dict[str, Any]) -> None:
        s = self.s
        meta = raw["metadata"]
        uid = meta["uid"]
        if event_type == "DELETED":
            s.pod_gone(uid)
            return
        node_name = (raw.get("spec") or {}).get("nodeName")
        if node_name:
            placement = s.cache.placement_of(uid)
            if placement is not None and placement[0] == node_name:
                s.cache.confirm(uid)  # the common storm case: our own bind coming back
            else:
                s.cache.upsert_pod(pod_from_json(raw, s.settings.extra_dimensions))
            s.known_pods.add(uid)
            s.bound_elsewhere(uid)
            return
        if (raw.get("spec") or {}).get("schedulerName") != s.settings.scheduler_name:
            return
        if meta.get("deletionTimestamp") or uid in s.tracked:
            return
        pod = pod_from_json(raw, s.settings.extra_dimensions)
        if pod.terminal:
            return
        priority = (meta.get("annotations") or {}).get(PRIORITY_ANNOTATION)
        if priority is not None:
            with contextlib.suppress(ValueError):
                pod = _with_priority(pod, int(priority))
        s.known_pods.add(uid)
        s.enqueue(Tracked(pod, resolve_chain(pod, s.settings.default_chain), fire_time(raw)))


def _with_priority(pod: Pod, priority: int) -> Pod:
    return dataclasses.replace(pod, priority=priority)


class Scheduler:
    """Owns the cache, the queues and the bind workers. `run()` runs until cancelled."""

    def __init__(
        self,
        client: KubeClient,
        settings: Settings,
        metrics: Metrics,
        events: EventWriter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self.events = events
        self.clock = clock
        self.cache = ClusterCache(settings.domains)
        self.tracked: dict[str, Tracked] = {}
        self.known_pods: set[str] = set()
        self.queues = {d.name: _DomainQueue() for d in settings.domains}
        self._gate: list[tuple[float, int, str]] = []  # (fire_at, seq, uid) min-heap
        self._gate_seq = 0
        self._gate_wake = anyio.Event()
        self._capacity_dirty = False
        self._bind_send: MemoryObjectSendStream[Tracked]
        self._bind_recv: MemoryObjectReceiveStream[Tracked]
        self._bind_send, self._bind_recv = anyio.create_memory_object_stream[Tracked](
            max_buffer_size=1_000_000
        )
        self._binding = 0
        self._writes_send: MemoryObjectSendStream[tuple[str, Tracked]]
        self._writes_recv: MemoryObjectReceiveStream[tuple[str, Tracked]]
        self._writes_send, self._writes_recv = anyio.create_memory_object_stream[tuple[str, Tracked]](
            max_buffer_size=1_000_000
        )
        self.node_informer = Informer(client, "/api/v1/nodes", _NodeHandler(self), name="nodes")
        self.pod_informer = Informer(
            client,
            "/api/v1/pods",
            _PodHandler(self),
            params={"fieldSelector": "status.phase!=Succeeded,status.phase!=Failed"},
            name="pods",
        )
        self.bound = 0
        self.leading = anyio.Event()

    # --- readiness and burst state ------------------------------------------------------------

    def synced(self) -> bool:
        return self.node_informer.synced.is_set() and self.pod_informer.synced.is_set()

    def nodes_synced(self) -> bool:
        return self.node_informer.synced.is_set()

    def has_node(self, name: str) -> bool:
        return self.cache.node(name) is not None

    def busy(self) -> bool:
        """True during a bind burst or just before one: deferred writes hold back."""
        if self._binding or self._bind_recv.statistics().current_buffer_used:
            return True
        return bool(self._gate) and self._gate[0][0] - self.clock() < BURST_GUARD_S

    # --- pod lifecycle, called by the informer handlers ------------------------------------------

    def enqueue(self, t: Tracked) -> None:
        self.tracked[t.pod.uid] = t
        self._route(t)

    def _route(self, t: Tracked) -> None:
        while t.step < len(t.chain) and t.chain[t.step] not in self.queues:
            t.step += 1
        if t.step >= len(t.chain):
            self._park(t)
            return
        t.state = "queued"
        queue = self.queues[t.chain[t.step]]
        queue.inbox[t.pod.uid] = t
        queue.wake.set()

    def pod_gone(self, uid: str) -> None:
        self.known_pods.discard(uid)
        self.cache.remove_pod(uid)
        t = self.tracked.pop(uid, None)
        if t is not None and t.state == "queued" and t.step < len(t.chain):
            self.queues[t.chain[t.step]].inbox.pop(uid, None)
        self.capacity_changed()

    def bound_elsewhere(self, uid: str) -> None:
        """The watch shows the pod bound (by us or anyone): we no longer own it."""
        t = self.tracked.get(uid)
        if t is None or t.state == "binding":
            return  # a bind worker finishes the bookkeeping
        del self.tracked[uid]
        if t.state == "queued" and t.step < len(t.chain):
            self.queues[t.chain[t.step]].inbox.pop(uid, None)

    def node_gone(self, name: str) -> None:
        for pod in self.cache.remove_node(name):
            t = self.tracked.get(pod.uid)
            if t is not None and t.state == "gated":
                t.step = 0
                self._route(t)  # the gate entry goes stale and is skipped at release
        self.capacity_changed()

    def capacity_changed(self) -> None:
        self._capacity_dirty = True

    # --- placement -----------------------------------------------------------------------------

    async def domain_loop(self, name: str) -> None:
        queue = self.queues[name]
        view = self.cache.domain_view(name)
        assert view is not None
        while True:
            if not queue.inbox:
                queue.wake = anyio.Event()
                await queue.wake.wait()
            if not self.synced():
                await anyio.sleep(0.05)
                continue
            batch = list(queue.inbox.values())[:PLACE_CHUNK]
            for t in batch:
                del queue.inbox[t.pod.uid]
            batch = [t for t in batch if self._placeable(t)]
            batch.sort(key=lambda t: -t.pod.priority)
            started = time.perf_counter()
            result = place_domain(view, [t.pod for t in batch])
            per_pod = (time.perf_counter() - started) / max(len(batch), 1)
            by_uid = {t.pod.uid: t for t in batch}
            for pod, node in result.placed:
                t = by_uid[pod.uid]
                t.node = node
                if t.step > 0:
                    self.metrics.fallbacks.labels(t.chain[0], name).inc()
                self.metrics.attempt_duration.labels("scheduled", self.settings.scheduler_name).observe(
                    per_pod
                )
                self._placed(t)
            for pod, diagnosis in result.unfit:
                t = by_uid[pod.uid]
                t.diagnosis = diagnosis if t.step == 0 else t.diagnosis.merged(diagnosis)
                t.step += 1
                self._route(t)
            await anyio.lowlevel.checkpoint()  # let bind workers and informers run between chunks

    def _placeable(self, t: Tracked) -> bool:
        """Whether a queued pod is to be placed. One the watch has shown bound is done. One still
        assumed somewhere breaks an invariant (every path that re-queues forgets first): the stale
        assumption is dropped, loudly, so the pod is counted once and still gets placed."""
        placement = self.cache.placement_of(t.pod.uid)
        if placement is None:
            return True
        if not placement[1]:
            self.tracked.pop(t.pod.uid, None)
            return False
        log.error(
            "queued pod was still assumed on a node; forgetting that", pod=t.pod.full_name, node=placement[0]
        )
        self.cache.forget(t.pod.uid)
        return True

    def _seen_bound(self, uid: str) -> bool:
        """True when the cache counts the pod as bound (confirmed by the watch), not merely assumed."""
        placement = self.cache.placement_of(uid)
        return placement is not None and not placement[1]

    def _placed(self, t: Tracked) -> None:
        now = self.clock()
        if t.fire_at is not None and t.fire_at > now:
            t.state = "gated"
            self._gate_seq += 1
            heapq.heappush(self._gate, (t.fire_at, self._gate_seq, t.pod.uid))
            self._gate_wake.set()
        else:
            self._to_binder(t)

    def _to_binder(self, t: Tracked) -> None:
        t.state = "binding"
        self._bind_send.send_nowait(t)

    def _park(self, t: Tracked) -> None:
        t.state = "unschedulable"
        t.retry_at = time.monotonic() + t.backoff_s
        t.backoff_s = min(t.backoff_s * 2, MAX_BACKOFF_S)
        message = t.diagnosis.message()
        self.metrics.schedule_attempts.labels("unschedulable", self.settings.scheduler_name).inc()
        if message != t.reported:
            t.reported = message
            self._writes_send.send_nowait(("unschedulable", t))

    async def gate_loop(self) -> None:
        """Releases placed pods to the bind workers at their fire time, not a moment before."""
        while True:
            if not self._gate:
                self._gate_wake = anyio.Event()
                await self._gate_wake.wait()
                continue
            wait = self._gate[0][0] - self.clock()
            if wait > 0:
                self._gate_wake = anyio.Event()
                with anyio.move_on_after(min(wait, 1.0)):
                    await self._gate_wake.wait()
                continue
            now = self.clock()
            while self._gate and self._gate[0][0] <= now:
                _, _, uid = heapq.heappop(self._gate)
                t = self.tracked.get(uid)
                if t is None or t.state != "gated":
                    continue
                if self._still_fits(t):
                    self._to_binder(t)
                else:  # its node went NotReady, was cordoned or tainted since placement: place again
                    self.cache.forget(uid)
                    t.step = 0
                    self._route(t)

    async def warm_loop(self) -> None:
        """A few seconds before a gated burst, opens the bind workers' connections: at the fire time
        the Bindings go out at once instead of each new connection's first waiting on a TLS handshake."""
        warmed_for: float | None = None
        while True:
            await anyio.sleep(0.25)
            if not self._gate:
                continue
            first = self._gate[0][0]
            if warmed_for != first and 0 < first - self.clock() <= WARM_BEFORE_S:
                warmed_for = first
                opened = await self.client.warm(self.settings.api.bind_in_flight)
                log.debug("connections warmed before a burst", requests=opened)

    def _still_fits(self, t: Tracked) -> bool:
        """Re-checks the usage-independent filters of a placement made ahead of its fire time."""
        state = self.cache.node(t.node)
        if state is None or state.domain is None:
            return False
        tolerations = t.pod.tolerations + state.domain.tolerations
        return static_reason(t.pod, state.node, tolerations) is None

    async def retry_loop(self) -> None:
        """Moves unschedulable pods back to their first domain once capacity changed and backoff passed.

        Every pod is also retried at least every UNSCHEDULABLE_FLUSH_S, like kube-scheduler's flush.
        """
        last_flush = time.monotonic()
        while True:
            await anyio.sleep(0.5)
            now = time.monotonic()
            flush = now - last_flush > UNSCHEDULABLE_FLUSH_S
            if flush:
                last_flush = now
            if not self._capacity_dirty and not flush:
                continue
            waiting = 0
            for t in list(self.tracked.values()):
                if t.state != "unschedulable":
                    continue
                if t.retry_at <= now or flush:
                    t.step = 0
                    t.diagnosis = NO_NODES
                    self._route(t)
                else:
                    waiting += 1
            self._capacity_dirty = waiting > 0

    # --- binding -------------------------------------------------------------------------------

    async def bind_worker(self) -> None:
        async for t in self._bind_recv:
            self._binding += 1
            try:
                await self._bind_one(t)
            finally:
                self._binding -= 1

    async def _bind_one(self, t: Tracked) -> None:
        pod = t.pod
        domain = t.chain[t.step] if t.step < len(t.chain) else "?"
        if self.tracked.get(pod.uid) is not t:
            self.cache.forget(pod.uid)  # deleted or bound by someone else meanwhile
            return
        if self.cache.node(t.node) is None:
            self.cache.forget(pod.uid)
            t.step = 0
            self._route(t)
            return
        started = time.perf_counter()
        result: BindResult = await binder.bind(
            self.client, BindRequest(pod.namespace, pod.name, pod.uid, t.node)
        )
        self.metrics.binding_duration.observe(time.perf_counter() - started)
        self.metrics.binds.labels(domain, result.outcome.value).inc()
        if result.outcome in (BindOutcome.BOUND, BindOutcome.ALREADY_THERE):
            self.cache.confirm(pod.uid)
            self.tracked.pop(pod.uid, None)
            self.bound += 1
            self.metrics.schedule_attempts.labels("scheduled", self.settings.scheduler_name).inc()
            if t.fire_at is not None:
                self.metrics.fire_to_bound.observe(max(0.0, self.clock() - t.fire_at))
            if self.events is not None:
                self.events.emit(
                    EventRecord(
                        ObjectRef("Pod", pod.namespace, pod.name, pod.uid),
                        "Normal",
                        "Scheduled",
                        "Binding",
                        f"Successfully assigned {pod.namespace}/{pod.name} to {t.node}",
                    )
                )
            if self.cache.node(t.node) is None:
                log.warning("bound to a node that has just gone", pod=pod.full_name, node=t.node)
            return
        self.cache.forget(pod.uid)
        if result.outcome is BindOutcome.GONE or result.outcome is BindOutcome.ELSEWHERE:
            self.tracked.pop(pod.uid, None)
            return
        if self._seen_bound(pod.uid):
            # The apiserver carried out a bind whose reply was lost (it died mid-request): the watch
            # has shown the pod bound meanwhile, so it is done, whatever the retries said.
            self.tracked.pop(pod.uid, None)
            return
        self.metrics.schedule_attempts.labels("error", self.settings.scheduler_name).inc()
        log.warning("bind failed; retrying", pod=pod.full_name, node=t.node, error=result.message)
        t.diagnosis = Diagnosis(0, {f"binding rejected: {result.message}": 1})
        t.step = len(t.chain)
        self._park(t)

    # --- deferred writes -----------------------------------------------------------------------

    async def deferred_writer(self) -> None:
        """PodScheduled=False conditions and FailedScheduling events, held back during bursts."""
        async for kind, t in self._writes_recv:
            while self.busy():  # noqa: ASYNC110 - the burst state is polled, not signalled
                await anyio.sleep(0.25)
            if kind != "unschedulable" or self.tracked.get(t.pod.uid) is not t or t.state != "unschedulable":
                continue
            pod = t.pod
            await pods.mark_unschedulable(self.client, pod.namespace, pod.name, t.reported)
            if self.events is not None:
                self.events.emit(
                    EventRecord(
                        ObjectRef("Pod", pod.namespace, pod.name, pod.uid),
                        "Warning",
                        "FailedScheduling",
                        "Scheduling",
                        t.reported,
                    )
                )

    # --- metrics -------------------------------------------------------------------------------

    def update_gauges(self) -> None:
        counts = {"active": 0, "gated": 0, "unschedulable": 0, "binding": 0}
        for t in self.tracked.values():
            key = {"queued": "active"}.get(t.state, t.state)
            counts[key] = counts.get(key, 0) + 1
        for queue_name, count in counts.items():
            self.metrics.pending_pods.labels(queue_name).set(count)
        for name, capacity in self.cache.capacity().items():
            self.metrics.domain_nodes.labels(name).set(capacity.nodes)
            for resource in ("cpu", "memory", "pods"):
                self.metrics.domain_allocatable.labels(name, resource).set(
                    capacity.allocatable.get(resource, 0)
                )
                self.metrics.domain_requested.labels(name, resource).set(capacity.used.get(resource, 0))

    async def gauges_loop(self) -> None:
        while True:
            self.update_gauges()
            await anyio.sleep(2.0)

    # --- wiring --------------------------------------------------------------------------------

    async def run_informers(self) -> None:
        """Keeps the cache warm; runs on every replica, leader or not."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.node_informer.run)
            tg.start_soon(self.pod_informer.run)
            tg.start_soon(self.gauges_loop)

    async def run_leader(self) -> None:
        """The writing half: placement, gate, binders, deferred writes. Runs only while leading."""
        async with anyio.create_task_group() as tg:
            for name in self.queues:
                tg.start_soon(self.domain_loop, name)
            tg.start_soon(self.gate_loop)
            tg.start_soon(self.warm_loop)
            tg.start_soon(self.retry_loop)
            tg.start_soon(self.deferred_writer)
            for _ in range(self.settings.api.bind_in_flight):
                tg.start_soon(self.bind_worker)
