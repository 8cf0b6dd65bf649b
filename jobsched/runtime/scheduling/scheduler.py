"""The scheduler: the node and pod watches feed the cache and the queue, each domain's loop places its
inbox, the gate holds pods for their fire time and the bind workers bind.

One pod's path: the pod watch shows it pending with our schedulerName; it is queued in the first domain
of its chain. That domain's loop places its whole inbox in one pass (`place_domain`), assuming each
decision into the cache; pods with no room move on to the next domain of their chain, and pods with no
domain left are parked as unschedulable and retried with backoff when capacity changes. A placed pod
whose cron slot is still ahead waits at the gate, placed and counted, and is released to the bind
workers at that instant: at fire time the only write per pod is its Binding. Events and status
conditions wait until the burst is over.

Domains share nothing: each has its own inbox, loop and cache view, and no lock is taken anywhere
(everything runs on one event loop; the cache is only touched between awaits).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import structlog

from jobsched.core.cache import ClusterCache
from jobsched.core.convert import PodRecord, node_from_json
from jobsched.core.domains import resolve_chain
from jobsched.core.filters import static_reason
from jobsched.core.placement import place_domain
from jobsched.kube.client import KubeClient
from jobsched.kube.events import EventWriter
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.scheduling.binding import BindCycle
from jobsched.runtime.scheduling.deferred import DeferredWrites
from jobsched.runtime.scheduling.gate import Gate
from jobsched.runtime.scheduling.queue import PodState, SchedulingQueue, Tracked
from jobsched.settings import Settings

log = structlog.get_logger(__name__)

RETRY_POLL_S = 0.5
GAUGES_PERIOD_S = 2.0
# Pods staged for a slot at least GATHER_AHEAD_S away are placed in batches gathered for up to GATHER_S:
# placing costs a pass over the domain's nodes per batch, and the stager's pods arrive one by one.
GATHER_AHEAD_S = 2.0
GATHER_S = 0.05
UNSYNCED_POLL_S = 0.05


class Scheduler:
    """Owns the cache, the queue, the gate and the bind workers. Fed by the node and pod watches."""

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
        self.clock = clock
        self._tuning = settings.scheduling
        self.cache = ClusterCache(settings.domains, clock)
        self.queue = SchedulingQueue(tuple(d.name for d in settings.domains), self._tuning)
        self.gate = Gate(clock)
        self.binder = BindCycle(
            client,
            self.cache,
            self.queue,
            metrics,
            events,
            settings.scheduler_name,
            route=self._route,
            park=self._park,
            clock=clock,
        )
        self.deferred = DeferredWrites(client, events, self.busy, self.queue.current)
        self._known: set[str] = set()  # uids of pods counted in the cache or tracked by the queue
        self._unsettled: dict[str, float] = {}  # slot pods sent to bind, not yet started: uid -> since
        self._nodes_synced = False
        self._node_removals = 0  # nodes gone so far (the cron engine's node-loss sweep looks when it grows)
        self._pods_synced = False

    # --- state -------------------------------------------------------------------------------------

    def synced(self) -> bool:
        return self._nodes_synced and self._pods_synced

    def nodes_synced(self) -> bool:
        return self._nodes_synced

    def has_node(self, name: str) -> bool:
        return self.cache.node(name) is not None

    def node_removals(self) -> int:
        return self._node_removals

    def domain_of_node(self, name: str) -> str | None:
        state = self.cache.node(name)
        return state.domain.name if state is not None and state.domain is not None else None

    def busy(self) -> bool:
        """True from just before a burst until its pods run: writes that can wait hold back, so they
        compete neither with the Bindings nor with the node agents reporting those pods Running."""
        if self.binder.busy() or self._settling():
            return True
        first = self.gate.next_instant()
        return first is not None and first - self.clock() < self._tuning.burst_guard_s

    def _settling(self) -> bool:
        """Pods of a burst are being bound or bound but not yet started (for at most settleSeconds)."""
        unsettled = self._unsettled
        if not unsettled:
            return False
        horizon = time.monotonic() - self._tuning.settle_s
        while unsettled and next(iter(unsettled.values())) < horizon:
            del unsettled[next(iter(unsettled))]  # oldest first: dicts keep insertion order
        return bool(unsettled)

    def _submit(self, t: Tracked) -> None:
        """Sends a placed pod to the bind workers. A slot pod counts as unsettled from now, not from the
        bind's reply: the watch can show it Running or Failed before the reply is read, and a mark made
        after that event would hold every deferred write for settleSeconds."""
        if t.fire_at is not None:
            uid = t.pod.uid
            self._unsettled.pop(uid, None)  # re-inserted last: the dict stays oldest first
            self._unsettled[uid] = time.monotonic()
        self.binder.submit(t)

    # --- the node watch ----------------------------------------------------------------------------

    def replace(self, items: list[dict[str, Any]]) -> None:
        seen = set()
        for raw in items:
            self.apply("ADDED", raw)
            seen.add(raw["metadata"]["name"])
        for state in list(self.cache.nodes()):
            if state.name not in seen:
                self._node_gone(state.name)
        self._nodes_synced = True

    def apply(self, event_type: str, raw: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self._node_gone(raw["metadata"]["name"])
        else:
            node = node_from_json(raw)
            known = self.cache.node(node.name)
            if known is not None and known.node == node:
                return  # a status heartbeat: nothing placement reads has changed
            self.cache.upsert_node(node)
            self.queue.capacity_changed()

    def _node_gone(self, name: str) -> None:
        self._node_removals += 1
        for pod in self.cache.remove_node(name):
            t = self.queue.tracked.get(pod.uid)
            if t is not None and t.state is PodState.GATED:
                self._route(t, 0)  # its gate entry goes stale and is skipped at release
        self.queue.capacity_changed()

    # --- the pod watch (records decoded once, shared with the cron engine) -------------------------

    def pods_replaced(self, records: list[PodRecord]) -> None:
        seen = set()
        for record in records:
            self.pod_changed("ADDED", record)
            if not record.terminal:
                seen.add(record.uid)
        for uid in [uid for uid in self._known if uid not in seen]:
            self._pod_gone(uid)
        self._pods_synced = True

    def pod_changed(self, event_type: str, record: PodRecord) -> None:
        uid = record.uid
        if event_type == "DELETED" or record.terminal:
            self._unsettled.pop(uid, None)
            if uid in self._known:
                if record.terminal:
                    self.cache.launched(uid)  # it had its launch turn: it ran, or was refused
                self._pod_gone(uid)  # a finished pod frees its node like a deleted one
            return
        if record.node_name:
            if uid in self._unsettled and (record.phase != "Pending" or record.deleting):
                del self._unsettled[uid]
            placement = self.cache.placement_of(uid)
            if placement is not None and placement[0] == record.node_name:
                self.cache.confirm(uid)  # the common storm case: our own bind coming back
            else:
                self.cache.upsert_pod(record.pod, launched=record.started)
            if record.started:
                self.cache.launched(uid)
            self._known.add(uid)
            self._bound_elsewhere(uid)
            return
        if record.scheduler_name != self.settings.scheduler_name or record.deleting or self.queue.owns(uid):
            return
        self._known.add(uid)
        pod = record.pod
        chain = resolve_chain(pod, self.settings.default_chain)
        t = self.queue.add(pod, chain, record.fire_at, seen_at=self.clock())
        self._route(t, 0)

    def _pod_gone(self, uid: str) -> None:
        self._known.discard(uid)
        self._unsettled.pop(uid, None)
        self.cache.remove_pod(uid)
        self.queue.drop(uid)
        self.queue.capacity_changed()

    def _bound_elsewhere(self, uid: str) -> None:
        """The watch shows the pod bound (by us or anyone): the queue no longer owns it."""
        t = self.queue.tracked.get(uid)
        if t is not None and t.state is not PodState.BINDING:  # a bind worker does its own bookkeeping
            self.queue.drop(uid)

    # --- placement ---------------------------------------------------------------------------------

    def _route(self, t: Tracked, step: int) -> None:
        self._unsettled.pop(t.pod.uid, None)  # back in the queue: not being bound (its next bind marks it)
        if not self.queue.route(t, step):
            self._park(t)

    def _park(self, t: Tracked) -> None:
        self._unsettled.pop(t.pod.uid, None)  # a failed bind: the pod waits unbound, holding nothing
        self.metrics.schedule_attempts.labels("unschedulable", self.settings.scheduler_name).inc()
        if self.queue.park(t):
            self.deferred.unschedulable(t)

    async def _domain_loop(self, name: str) -> None:
        while True:
            await self.queue.wait_for_work(name)
            if not self.synced():
                await anyio.sleep(UNSYNCED_POLL_S)
                continue
            if self.queue.only_later(name, self.clock() + GATHER_AHEAD_S, self._tuning.place_chunk):
                await anyio.sleep(GATHER_S)
            self.place_inbox(name)
            await anyio.lowlevel.checkpoint()  # let bind workers and watches run between chunks

    def place_inbox(self, name: str) -> int:
        """One placement pass over a domain's inbox (at most placeChunk pods, highest priority first):
        placed pods go to the gate or the binder, the rest on along their chain. Returns the pods taken."""
        view = self.cache.domain_view(name)
        assert view is not None
        batch = [t for t in self.queue.take(name, self._tuning.place_chunk) if self._placeable(t)]
        batch.sort(key=lambda t: -t.pod.priority)
        started = time.perf_counter()
        result = place_domain(view, [t.pod for t in batch], [t.fire_at for t in batch])
        per_pod = (time.perf_counter() - started) / max(len(batch), 1)
        for refusal, count in result.spilled.items():
            self.metrics.domain_spilled.labels(name, refusal.value).inc(count)
        by_uid = {t.pod.uid: t for t in batch}
        for pod, node in result.placed:
            t = by_uid[pod.uid]
            if t.step > 0:
                self.metrics.fallbacks.labels(t.chain[0], name).inc()
            self.metrics.attempt_duration.labels("scheduled", self.settings.scheduler_name).observe(per_pod)
            self._placed(t, node)
        for pod, diagnosis in result.unfit:
            t = by_uid[pod.uid]
            t.diagnosis = diagnosis if t.step == 0 else t.diagnosis.merged(diagnosis)
            self._route(t, t.step + 1)
        return len(batch)

    def _placeable(self, t: Tracked) -> bool:
        """Whether a queued pod is to be placed. One the watch has shown bound is done. One still
        assumed somewhere breaks an invariant (every path that re-queues forgets first): the stale
        assumption is dropped, loudly, so the pod is counted once and still gets placed."""
        placement = self.cache.placement_of(t.pod.uid)
        if placement is None:
            return True
        if not placement[1]:
            self.queue.drop(t.pod.uid)
            return False
        log.error(
            "queued pod was still assumed on a node; forgetting that", pod=t.pod.full_name, node=placement[0]
        )
        self.cache.forget(t.pod.uid)
        return True

    def _placed(self, t: Tracked, node: str) -> None:
        gated = t.fire_at is not None and t.fire_at > self.clock()
        self.queue.placed(t, node, gated)
        if gated:
            assert t.fire_at is not None
            self.gate.hold(t.pod.uid, t.fire_at)
        else:
            self._submit(t)

    def _release(self, uid: str) -> None:
        """The gate's call at a pod's fire time: bind it, unless its node stopped fitting since."""
        t = self.queue.tracked.get(uid)
        if t is None or t.state is not PodState.GATED:
            return  # gone, bound by someone else, or placed again (a stale gate entry)
        if self._still_fits(t):
            self._submit(t)
        else:  # its node went NotReady, was cordoned or tainted since placement: place again
            self.cache.forget(uid)
            self._route(t, 0)

    def _still_fits(self, t: Tracked) -> bool:
        """Re-checks the usage-independent filters of a placement made ahead of its fire time."""
        state = self.cache.node(t.node)
        if state is None or state.domain is None:
            return False
        tolerations = t.pod.tolerations + state.domain.tolerations
        return static_reason(t.pod, state.node, tolerations) is None

    async def _retry_loop(self) -> None:
        """Unschedulable pods go back to their first domain once capacity changed and backoff passed,
        and every one at least each unschedulableFlushSeconds, like kube-scheduler's flush."""
        last_flush = time.monotonic()
        while True:
            await anyio.sleep(RETRY_POLL_S)
            now = time.monotonic()
            flush = now - last_flush > self._tuning.unschedulable_flush_s
            if flush:
                last_flush = now
            for t in self.queue.due_unschedulable(now, flush):
                self._route(t, 0)

    # --- metrics -----------------------------------------------------------------------------------

    def update_capacity_gauges(self) -> None:
        for name, capacity in self.cache.capacity().items():
            self.metrics.domain_nodes.labels(name).set(capacity.nodes)
            for resource in ("cpu", "memory", "pods"):
                self.metrics.domain_allocatable.labels(name, resource).set(
                    capacity.allocatable.get(resource, 0)
                )
                self.metrics.domain_requested.labels(name, resource).set(capacity.used.get(resource, 0))
        now = self.clock()
        for view in self.cache.views():
            if view.launches is not None:
                self.metrics.domain_launch_tokens.labels(view.domain.name).set(view.launches.tokens(now))
                self.metrics.domain_launch_backlog.labels(view.domain.name).set(view.launches.backlog(now))

    def update_queue_gauges(self) -> None:
        for queue_name, count in self.queue.counts().items():
            self.metrics.pending_pods.labels(queue_name).set(count)

    async def _gauges_loop(self, update: Callable[[], None]) -> None:
        while True:
            update()
            await anyio.sleep(GAUGES_PERIOD_S)

    # --- wiring ------------------------------------------------------------------------------------

    async def run_standby(self) -> None:
        """What runs on every replica beside the watches: capacity gauges."""
        await self._gauges_loop(self.update_capacity_gauges)

    async def run_leader(self) -> None:
        """The writing half: placement, gate, binders, deferred writes. Runs only while leading, and
        only the leader reports the queue (a standby's queue is a copy that places nothing)."""
        async with anyio.create_task_group() as tg:
            for domain in self.settings.domains:
                tg.start_soon(self._domain_loop, domain.name)
            tg.start_soon(self.gate.run, self._release)
            tg.start_soon(self.gate.warm_before, self._tuning.warm_before_s, self._warm)
            tg.start_soon(self._retry_loop)
            tg.start_soon(self.deferred.run)
            tg.start_soon(self._gauges_loop, self.update_queue_gauges)
            for _ in range(self.settings.api.bind_in_flight):
                tg.start_soon(self.binder.worker)

    async def _warm(self) -> int:
        return await self.client.warm(self.settings.api.bind_in_flight)
