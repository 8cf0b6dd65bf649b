"""Writes that can wait: PodScheduled=False conditions and FailedScheduling events for unschedulable pods.

They are queued when a pod is parked and written only while no burst is binding, so they never take an
API write away from a Binding at a fire time (kubernetes/kubernetes#135900: status patches starving
Bind on a shared client rate limiter). A pod placed or gone meanwhile is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from jobsched.kube import pods
from jobsched.kube.client import KubeClient
from jobsched.kube.events import EventRecord, EventWriter, ObjectRef
from jobsched.runtime.scheduling.queue import PodState, Tracked

BUSY_POLL_S = 0.25


class DeferredWrites:
    def __init__(
        self,
        client: KubeClient,
        events: EventWriter | None,
        busy: Callable[[], bool],
        still_unschedulable: Callable[[Tracked], bool],
    ) -> None:
        self._client = client
        self._events = events
        self._busy = busy
        self._still_unschedulable = still_unschedulable
        self._send: MemoryObjectSendStream[Tracked]
        self._receive: MemoryObjectReceiveStream[Tracked]
        self._send, self._receive = anyio.create_memory_object_stream[Tracked](max_buffer_size=math.inf)

    def unschedulable(self, t: Tracked) -> None:
        """Queues t's condition and event (its message is t.reported)."""
        self._send.send_nowait(t)

    async def run(self) -> None:
        async for t in self._receive:
            while self._busy():  # noqa: ASYNC110 - the burst state is polled, not signalled
                await anyio.sleep(BUSY_POLL_S)
            if t.state is not PodState.UNSCHEDULABLE or not self._still_unschedulable(t):
                continue
            pod = t.pod
            await pods.mark_unschedulable(self._client, pod.namespace, pod.name, t.reported)
            if self._events is not None:
                ref = ObjectRef("Pod", pod.namespace, pod.name, pod.uid)
                self._events.emit(EventRecord(ref, "Warning", "FailedScheduling", "Scheduling", t.reported))
