"""Housekeeping: the writes that can wait until no storm is near.

Every few seconds, unless a storm is being staged or bound: the status of each entry whose runs changed
is merged from them and written where its source keeps it (only when it changed), finished pods'
tracking finalizers are released (after their outcome is recorded), and runs beyond the history limits
are deleted. Only entries whose runs changed since the last pass are looked at (all of them when the
entry set changes), so a pass costs what happened, not the size of the fleet. The one
write that cannot wait is `record_tracking`: before a storm is staged, the status of entries never
recorded is written, so that a leader dying mid-staging leaves its successor the record it needs.
Adopted CronJobs are left out: their status and history are the hand-over's and the native controller's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
import structlog

from jobsched.core import cronplan
from jobsched.core.cronentry import CronEntry
from jobsched.core.cronruns import RunRecord
from jobsched.core.vocabulary import TRACKING_FINALIZER
from jobsched.kube import pods
from jobsched.kube.client import KubeClient
from jobsched.kube.events import ObjectRef
from jobsched.kube.serviceaccounts import ServiceAccountCache
from jobsched.runtime.cron.planner import Planner
from jobsched.runtime.cron.sources import SourceDocument
from jobsched.runtime.cron.stores import RunStore
from jobsched.settings import CronSettings

log = structlog.get_logger(__name__)


class Housekeeper:
    def __init__(
        self,
        client: KubeClient,
        settings: CronSettings,
        planner: Planner,
        pod_runs: RunStore,
        job_runs: RunStore,
        runs: Callable[[CronEntry], Mapping[str, RunRecord]],
        accounts: ServiceAccountCache,
        busy: Callable[[], bool],
        hold: Callable[[RunRecord], bool] = lambda run: False,
    ) -> None:
        self._client = client
        self._settings = settings
        self._planner = planner
        self._pod_runs = pod_runs
        self._job_runs = job_runs
        self._runs = runs
        self._everything = True  # look at every entry on the next pass (the first, or a new entry set)
        self._again: set[str] = set()  # entries whose status write or pruning failed: look again
        self._accounts = accounts
        self._busy = busy
        self._hold = hold  # runs still needed as they are (a failure whose re-run is to come)
        self._written: dict[ObjectRef, dict[str, Any]] = {}  # the status last written per source document
        self._limiter = anyio.CapacityLimiter(settings.housekeeping_in_flight)

    async def run(self) -> None:
        while True:
            await anyio.sleep(self._settings.housekeeping_period_s)
            if self._busy():
                continue
            try:
                await self._housekeep()
            except Exception:
                log.exception("cron housekeeping failed; trying again later")

    def entries_changed(self) -> None:
        """The entry set changed (an entry added, edited, removed): the next pass looks at every one."""
        self._everything = True

    def _to_look_at(self) -> list[CronEntry]:
        """The entries whose runs changed since the last pass (every entry when told to), not adopted
        CronJobs: their status and history are the hand-over's and the native controller's."""
        changed = self._pod_runs.drain_changed() | self._job_runs.drain_changed()
        entries = self._planner.entries
        if self._everything:
            self._everything = False
            picked = list(entries.values())
        else:
            found = (self._planner.entry_of_label(namespace, label) for namespace, label in changed)
            picked = [entry for entry in found if entry is not None]
            picked += [entries[key] for key in self._again if key in entries]
        self._again = set()
        return [entry for entry in dict.fromkeys(picked) if entry.origin is None]

    async def _housekeep(self) -> None:
        self._accounts.forget_expired()
        entries = self._to_look_at()
        # Outcomes are recorded (status written) before any finalizer is released.
        unwritten = await self._write_statuses(entries)
        async with anyio.create_task_group() as tg:
            for run in list(self._pod_runs.to_release.values()):
                if self._hold(run):
                    continue
                entry = self._planner.entry_of_run(run)
                document = self._planner.document_of(entry) if entry is not None else None
                if document is not None and document.ref in unwritten:
                    continue
                tg.start_soon(self._release, run)
        if self._busy():
            self._again.update(entry.key for entry in entries)  # pruning is still to do
            return
        async with anyio.create_task_group() as tg:
            for entry in entries:
                limits = {"successful": entry.successful_history, "failed": entry.failed_history}
                for run in cronplan.history_to_prune(self._runs(entry).values(), **limits):
                    if not self._hold(run):
                        tg.start_soon(self._prune, entry, run)

    async def _release(self, run: RunRecord) -> None:
        async with self._limiter:
            if await pods.drop_finalizer(self._client, run.namespace, run.name, run.uid, TRACKING_FINALIZER):
                self._pod_runs.to_release.pop(run.uid, None)

    async def _prune(self, entry: CronEntry, run: RunRecord) -> None:
        async with self._limiter:
            if await pods.delete(self._client, run.kind, run.namespace, run.name, run.uid):
                log.debug("pruned cron history", kind=run.kind, name=run.name)
            else:
                self._again.add(entry.key)

    # --- status ------------------------------------------------------------------------------------

    def _statuses(
        self, entries: list[CronEntry]
    ) -> dict[ObjectRef, tuple[SourceDocument, dict[str, cronplan.EntryStatus]]]:
        """The given entries' statuses merged from their runs, and for each source document they belong
        to, the status of all its entries (a status document is written whole)."""
        documents: dict[ObjectRef, SourceDocument] = {}
        for entry in entries:
            status = self._planner.status.get(entry.key)
            self._planner.set_status(entry.key, cronplan.merge_status(status, self._runs(entry).values()))
            document = self._planner.document_of(entry)
            if document is not None:
                documents[document.ref] = document
        grouped: dict[ObjectRef, tuple[SourceDocument, dict[str, cronplan.EntryStatus]]] = {}
        for ref, document in documents.items():
            statuses = {
                e.name: self._planner.status[e.key] for e in document.entries if e.key in self._planner.status
            }
            grouped[ref] = (document, statuses)
        return grouped

    async def _write_statuses(self, entries: list[CronEntry]) -> set[ObjectRef]:
        """Writes the changed status documents; returns the sources whose status could not be written
        (their entries are looked at again on the next pass)."""
        failed: set[ObjectRef] = set()

        async def write(document: SourceDocument, rendered: dict[str, Any]) -> None:
            async with self._limiter:
                if not await self._write(document, rendered):
                    failed.add(document.ref)
                    self._again.update(e.key for e in document.entries)

        async with anyio.create_task_group() as tg:
            for document, statuses in self._statuses(entries).values():
                rendered = cronplan.status_document(statuses)
                if self._written.get(document.ref) != rendered:
                    tg.start_soon(write, document, rendered)
        return failed

    async def _write(self, document: SourceDocument, rendered: dict[str, Any]) -> bool:
        """Writes a source's status document (rendered once by the caller: it is compared, sent and
        kept); False if it could not be written."""
        source = self._planner.source_of(document.entries[0]) if document.entries else None
        if source is None or not await source.write_status(document, rendered):
            return False
        self._written[document.ref] = rendered
        return True

    def _tracking_recorded(self, entry: CronEntry) -> bool:
        document = self._planner.document_of(entry)
        written = self._written.get(document.ref) if document is not None else None
        if written is not None and (written["entries"].get(entry.name) or {}).get("trackedSince"):
            return True
        recorded = self._planner.recorded(entry)
        return recorded is not None and recorded.tracked_since is not None

    async def record_tracking(self, entries: list[CronEntry]) -> None:
        """Writes the status of the sources whose entries' trackedSince is not stored yet, before their
        slot is staged. One write per source, bounded in time: a storm never waits on it for long."""
        pending: dict[ObjectRef, SourceDocument] = {}
        for entry in entries:
            document = self._planner.document_of(entry)
            if document is not None and not self._tracking_recorded(entry):
                pending[document.ref] = document
        if not pending:
            return
        with anyio.move_on_after(self._settings.tracking_write_s):
            async with anyio.create_task_group() as tg:
                for document in pending.values():
                    statuses = {
                        e.name: self._planner.status[e.key]
                        for e in document.entries
                        if e.key in self._planner.status
                    }
                    tg.start_soon(self._write, document, cronplan.status_document(statuses))
        unwritten = [f"{ref.namespace}/{ref.name}" for ref in pending if ref not in self._written]
        if unwritten:
            log.warning("staging before trackedSince was recorded", sources=unwritten)
