"""The leader's sweep for cron pods bound to nodes that are gone (decisions in core/nodeloss.py).

Once a second it looks at every active slot pod the engine knows, when a node has gone since its last
look, a pod's node is already missing, or FULL_SCAN_S have passed (for a pod bound to a node that was
gone before the pod appeared): a storm of 10,000 pods is not walked every second for nothing. A pod
whose node the scheduler's synced node cache has lacked for the grace period
(cron.nodeLossGraceSeconds) is dealt with once: never started, it is deleted (UID precondition, no
grace), its tracking finalizer dropped (there is no outcome to record) and its slot handed back to the
engine to create again under the same name; started, it is marked Failed with reason NodeLost and the
usual tracking records that outcome. Each gets a Warning Event on its ConfigMap and a log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Final, Protocol

import anyio
import structlog

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronruns import RunRecord
from jobsched.core.nodeloss import LossAction, loss_action
from jobsched.core.vocabulary import TRACKING_FINALIZER
from jobsched.kube import pods
from jobsched.kube.client import KubeClient

log = structlog.get_logger(__name__)

IN_FLIGHT: Final = 16  # concurrent deletes / status patches of one sweep
FULL_SCAN_S: Final = 10.0  # every pod is looked at this often even when no node has gone


class NodeDirectory(Protocol):
    """What the sweep needs to know of nodes (the scheduler's cache provides it)."""

    def nodes_synced(self) -> bool: ...

    def has_node(self, name: str) -> bool: ...

    def node_removals(self) -> int:
        """How many times a node has left the cache so far (a counter that only grows)."""
        ...


class NodeLossSweep:
    def __init__(
        self,
        client: KubeClient,
        nodes: NodeDirectory,
        runs: Callable[[], Iterable[RunRecord]],
        entry_of: Callable[[RunRecord], CronEntry | None],
        recreate: Callable[[CronEntry, RunRecord], None],
        report: Callable[[CronEntry, str, str], None],
        grace_s: float,
        period_s: float,
    ) -> None:
        self._client = client
        self._grace_s = grace_s
        self._period_s = period_s
        self._nodes = nodes
        self._runs = runs
        self._entry_of = entry_of
        self._recreate = recreate
        self._report = report  # (entry, reason, note): a Warning Event on the entry's ConfigMap
        self._missing_since: dict[str, float] = {}  # uid -> when its node was first seen missing
        self._handled: set[str] = set()  # uids already dealt with
        self._removals_seen = -1  # node_removals() at the last scan
        self._scanned_at = float("-inf")

    def due(self, now: float) -> list[tuple[RunRecord, LossAction]]:
        """The runs whose node has been gone for the grace period, each once."""
        if not self._nodes.nodes_synced():
            return []
        removals = self._nodes.node_removals()
        if (
            removals == self._removals_seen
            and not self._missing_since
            and now - self._scanned_at < FULL_SCAN_S
        ):
            return []
        self._removals_seen, self._scanned_at = removals, now
        due: list[tuple[RunRecord, LossAction]] = []
        present: set[str] = set()
        missing: set[str] = set()
        for run in self._runs():
            present.add(run.uid)
            action = loss_action(run)
            if action is None or run.uid in self._handled or self._nodes.has_node(run.node):
                continue
            missing.add(run.uid)
            first = self._missing_since.setdefault(run.uid, now)
            if now - first >= self._grace_s:
                due.append((run, action))
        self._missing_since = {uid: t for uid, t in self._missing_since.items() if uid in missing}
        self._handled &= present
        return due

    async def run(self) -> None:
        limiter = anyio.CapacityLimiter(IN_FLIGHT)
        while True:
            await anyio.sleep(self._period_s)
            due = self.due(time.monotonic())
            if not due:
                continue
            async with anyio.create_task_group() as tg:
                for run, action in due:
                    self._handled.add(run.uid)
                    tg.start_soon(self._deal, run, action, limiter)

    async def _deal(self, run: RunRecord, action: LossAction, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            entry = self._entry_of(run)
            where = f"pod {run.name} was bound to node {run.node}, which is gone"
            if action is LossAction.FAIL:
                ok = await pods.mark_failed(
                    self._client, run.namespace, run.name, "NodeLost", f"{where} (it had started)"
                )
                log.warning(
                    "cron pod's node is gone; marked Failed",
                    pod=f"{run.namespace}/{run.name}",
                    node=run.node,
                    ok=ok,
                )
                if entry is not None:
                    self._report(
                        entry, "NodeLost", f"entry {entry.name}: {where} while it ran: recorded as Failed"
                    )
                if not ok:
                    self._handled.discard(run.uid)
                return
            if not await pods.delete(self._client, "Pod", run.namespace, run.name, run.uid, grace_s=0):
                self._handled.discard(run.uid)  # the next sweep tries again
                return
            # Best effort: if this fails, housekeeping releases the deleted pod's finalizer later, and
            # the replacement waits for the old pod to be gone either way.
            released = await pods.drop_finalizer(
                self._client, run.namespace, run.name, run.uid, TRACKING_FINALIZER
            )
            log.warning(
                "cron pod's node is gone before it started; replacing it",
                pod=f"{run.namespace}/{run.name}",
                node=run.node,
                finalizer_released=released,
            )
            if entry is not None:
                self._report(
                    entry, "NodeLost", f"entry {entry.name}: {where} before it started: creating it again"
                )
                self._recreate(entry, run)
