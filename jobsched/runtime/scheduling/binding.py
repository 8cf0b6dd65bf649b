"""The binding cycle: bind workers that write each placed pod's Binding and settle the cache after it.

As in kube-scheduler, binding runs apart from placement: a placement is assumed into the cache at once,
and the worker confirms it (the Binding was written), forgets it (the pod is gone, bound elsewhere, or the
bind failed) and, on failure, parks the pod to be placed again. What each outcome means is a table in
`jobsched.core.outcomes`; this module only carries it out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from jobsched.core.cache import ClusterCache
from jobsched.core.outcomes import BindAction, bind_action
from jobsched.core.placement import Diagnosis
from jobsched.kube import binder
from jobsched.kube.binder import BindRequest
from jobsched.kube.client import KubeClient
from jobsched.kube.events import EventRecord, EventWriter, ObjectRef
from jobsched.runtime.metrics import Metrics, attempts_label
from jobsched.runtime.scheduling.queue import SchedulingQueue, Tracked

log = structlog.get_logger(__name__)


class BindCycle:
    def __init__(
        self,
        client: KubeClient,
        cache: ClusterCache,
        queue: SchedulingQueue,
        metrics: Metrics,
        events: EventWriter | None,
        profile: str,
        *,
        route: Callable[[Tracked, int], None],
        park: Callable[[Tracked], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._cache = cache
        self._queue = queue
        self._metrics = metrics
        self._events = events
        self._profile = profile
        self._route = route
        self._park = park
        self._clock = clock
        self._in_flight = 0
        self._send: MemoryObjectSendStream[Tracked]
        self._receive: MemoryObjectReceiveStream[Tracked]
        self._send, self._receive = anyio.create_memory_object_stream[Tracked](max_buffer_size=math.inf)

    def submit(self, t: Tracked) -> None:
        self._queue.binding(t)
        self._send.send_nowait(t)

    def busy(self) -> bool:
        """A bind is in flight or waiting for a worker."""
        return bool(self._in_flight or self._receive.statistics().current_buffer_used)

    async def worker(self) -> None:
        async for t in self._receive:
            self._in_flight += 1
            try:
                await self._bind_one(t)
            finally:
                self._in_flight -= 1

    async def _bind_one(self, t: Tracked) -> None:
        pod, cache = t.pod, self._cache
        if not self._queue.current(t):
            cache.forget(pod.uid)  # deleted or bound by someone else meanwhile
            return
        if cache.node(t.node) is None:  # its node went away after placement: place it again
            cache.forget(pod.uid)
            self._route(t, 0)
            return
        started = time.perf_counter()
        result = await binder.bind(self._client, BindRequest(pod.namespace, pod.name, pod.uid, t.node))
        self._metrics.binding_duration.observe(time.perf_counter() - started)
        self._metrics.binds.labels(t.domain, result.outcome.value).inc()
        placement = cache.placement_of(pod.uid)
        seen_bound = placement is not None and not placement[1]
        action = bind_action(result.outcome, seen_bound)
        if action is BindAction.CONFIRM:
            cache.confirm(pod.uid)
            self._queue.drop(pod.uid)
            self._bound(t)
            return
        cache.forget(pod.uid)
        if action is BindAction.DROP:
            self._queue.drop(pod.uid)
            return
        self._metrics.schedule_attempts.labels("error", self._profile).inc()
        log.warning("bind failed; retrying", pod=pod.full_name, node=t.node, error=result.message)
        t.diagnosis = Diagnosis(0, {f"binding rejected: {result.message}": 1})
        t.step = len(t.chain)
        self._park(t)

    def _bound(self, t: Tracked) -> None:
        pod = t.pod
        self._metrics.schedule_attempts.labels("scheduled", self._profile).inc()
        now = self._clock()
        # The SLI starts when the pod could first be bound: when seen, or at its fire time if later.
        since = t.seen_at if t.fire_at is None else max(t.seen_at, t.fire_at)
        self._metrics.pod_scheduling_sli.labels(attempts_label(t.attempts)).observe(max(0.0, now - since))
        if t.fire_at is not None:
            self._metrics.observe_fire_to_bound(t.fire_at, max(0.0, now - t.fire_at))
        if self._events is not None:
            self._events.emit(
                EventRecord(
                    ObjectRef("Pod", pod.namespace, pod.name, pod.uid),
                    "Normal",
                    "Scheduled",
                    "Binding",
                    f"Successfully assigned {pod.namespace}/{pod.name} to {t.node}",
                )
            )
        if self._cache.node(t.node) is None:
            log.warning("bound to a node that has just gone", pod=pod.full_name, node=t.node)
