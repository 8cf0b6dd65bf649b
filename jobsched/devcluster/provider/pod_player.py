"""Plays the provider for pods bound to its virtual nodes: launch at the token-bucket rate, refuse
beyond the quota, complete after the run annotation, and delete at the end as a kubelet does.

It is the pod informer's handler (one watch on every bound pod, `spec.nodeName!=`; pods on other
nodes are ignored) and owns the launch loop. A pod seen on a node the node informer has not shown yet
is parked until it does (the apiserver accepts a Binding to any node name). Decisions come from the
pure ProviderBook; this module turns them into status writes and timers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio
import structlog

from jobsched.devcluster.provider import pod_status
from jobsched.devcluster.provider.book import Launch, ProviderBook, ProviderPod, Refuse
from jobsched.devcluster.provider.node_keeper import HOST_IP, NodeKeeper
from jobsched.devcluster.provider.timers import Timers
from jobsched.devcluster.provider.write_queue import STRATEGIC_MERGE, Write, WriteQueue
from jobsched.kube.client import Response

log = structlog.get_logger(__name__)

IDLE_WAKE_S = 1.0
REWRITE_AFTER_S = 2.0  # a status write that failed in transport every time is put again after this


class PodPlayer:
    def __init__(
        self,
        book: ProviderBook,
        keeper: NodeKeeper,
        writes: WriteQueue,
        timers: Timers,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.book = book
        self._keeper = keeper
        self._writes = writes
        self._timers = timers
        self._clock = clock
        self._wall = wall
        self._parked: dict[str, dict[str, dict[str, Any]]] = {}  # node -> uid -> pod
        self._deleting: set[str] = set()  # uids whose final delete was sent
        self._wake = anyio.Event()
        self._ips = 0
        self.deleted = 0

    # --- node changes (from the NodeKeeper) ---------------------------------------------------------
    def nodes_changed(self, added: set[str], removed: set[str]) -> None:
        self.book.nodes |= added
        self.book.nodes -= removed
        for node in list(self._parked):
            if node in added:
                for pod in self._parked.pop(node).values():
                    self._see(pod)
            elif self._keeper.knows(node):
                del self._parked[node]  # not the provider's node: kwok or nobody plays it

    # --- informer handler ---------------------------------------------------------------------------
    def replace(self, items: list[dict[str, Any]]) -> None:
        present = {str(p["metadata"]["uid"]) for p in items}
        for uid in [u for u in self.book.pods if u not in present]:
            self.book.forget(uid)
        self._deleting &= present
        for node, pods in list(self._parked.items()):
            for uid in [u for u in pods if u not in present]:
                del pods[uid]
            if not pods:
                del self._parked[node]
        for pod in items:
            self._see(pod)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            uid = str(obj["metadata"]["uid"])
            self.book.forget(uid)
            self._deleting.discard(uid)
            parked = self._parked.get(str((obj.get("spec") or {}).get("nodeName", "")))
            if parked is not None:
                parked.pop(uid, None)
            return
        self._see(obj)

    def _see(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        node = str((pod.get("spec") or {}).get("nodeName", ""))
        uid = str(meta["uid"])
        if node not in self.book.nodes:
            if not self._keeper.knows(node):
                self._parked.setdefault(node, {})[uid] = pod
            return
        if meta.get("deletionTimestamp"):
            self.book.release(uid)
            if not meta.get("finalizers") and uid not in self._deleting:
                self._delete(pod)
            return
        if uid in self.book.pods:
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase not in ("Pending", "Running"):
            return
        facts, problem = pod_status.pod_facts(pod)
        if problem is not None:
            log.error("pod runs until deleted", pod=facts.key, problem=problem)
        if phase == "Pending":
            self.book.arrive(facts, self._clock())
            self._wake.set()
            return
        adopted = self.book.adopt(facts, self._started_mono(pod))
        if adopted is not None:
            self._schedule_completion(adopted)

    def _started_mono(self, pod: dict[str, Any]) -> float:
        """The monotonic time of a running pod's startTime (now if it has none)."""
        start = (pod.get("status") or {}).get("startTime")
        if not start:
            return self._clock()
        started_wall = datetime.fromisoformat(str(start).replace("Z", "+00:00")).timestamp()
        return self._clock() - max(0.0, self._wall() - started_wall)

    def _wall_of(self, mono: float) -> float:
        return self._wall() - (self._clock() - mono)

    # --- the launch loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            turn = self.book.next_turn(self._clock())
            if isinstance(turn, Launch):
                self._start(turn.pod)
            elif isinstance(turn, Refuse):
                self._refuse(turn)
            elif turn is None:
                with anyio.move_on_after(IDLE_WAKE_S):
                    await self._wake.wait()
                self._wake = anyio.Event()
            else:
                await anyio.sleep(turn)

    def _start(self, pod: ProviderPod) -> None:
        self._ips += 1
        body = pod_status.running_patch(pod.facts, self._wall(), pod_status.pod_ip(self._ips), HOST_IP)

        def started(response: Response | None) -> None:
            if response is not None and response.ok:
                self._schedule_completion(pod)
            elif response is not None:  # 404 or 422: the pod is gone or is another pod now
                self.book.release(pod.facts.uid)

        self._put(
            pod,
            Write("PATCH", pod.facts.status_path, body, STRATEGIC_MERGE, started, f"start {pod.facts.key}"),
        )

    def _refuse(self, turn: Refuse) -> None:
        pod = turn.pod
        log.info("provider refused pod", pod=pod.facts.key, message=turn.message, retry_in_s=turn.retry_in_s)
        body = pod_status.refused_patch(pod.facts, turn.message)
        self._put(
            pod, Write("PATCH", pod.facts.status_path, body, STRATEGIC_MERGE, None, f"refuse {pod.facts.key}")
        )
        if turn.retry_in_s is not None:
            uid = pod.facts.uid

            def retry() -> None:
                self.book.retry(uid)
                self._wake.set()

            self._timers.at(self._clock() + turn.retry_in_s, retry)

    def _schedule_completion(self, pod: ProviderPod) -> None:
        run_s = pod.facts.run_s
        if run_s is None:
            return
        uid = pod.facts.uid

        def complete() -> None:
            if self.book.finish(uid) is None:
                return  # deleted (or gone) in the meantime
            body = pod_status.succeeded_patch(pod.facts, self._wall_of(pod.started), self._wall())
            self._put(
                pod,
                Write(
                    "PATCH", pod.facts.status_path, body, STRATEGIC_MERGE, None, f"complete {pod.facts.key}"
                ),
            )

        self._timers.at(pod.started + run_s, complete)

    def _delete(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = str(meta["uid"])
        self._deleting.add(uid)
        self.deleted += 1
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": uid},
        }
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        self._writes.put(Write("DELETE", path, options, what=f"delete {meta['namespace']}/{meta['name']}"))

    def _put(self, pod: ProviderPod, write: Write) -> None:
        """Puts the write; one that failed in transport on every attempt is put again later, while the
        pod is still the provider's (nothing is lost to an apiserver restart)."""
        then = write.done

        def done(response: Response | None) -> None:
            if response is None and pod.facts.uid in self.book.pods:
                self._timers.at(self._clock() + REWRITE_AFTER_S, lambda: self._writes.put(wrapped))
                return
            if then is not None:
                then(response)

        wrapped = Write(write.method, write.path, write.body, write.content_type, done, write.what)
        self._writes.put(wrapped)
