"""The writes of the CronJob hand-over, each carried out until it is done or cannot be: the claim (P2),
the owner (P3), calling off a pre-staged slot, Replace, and a Job's deadline. What each writes is decided
in `jobsched.core.cronjobclaims`; here a conflict means reading the CronJob again and recomputing, a
refusal is logged and counted, and an Event goes on the CronJob where the native controller would put one.

This process remembers which Jobs it has claimed and owned, because its CronJob and Job watches lag its
own writes: without that, a re-check right after a claim would claim again (a 409 and a GET for nothing).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
import structlog

from jobsched.core.cronjobclaims import (
    AdoptedJob,
    CronJobState,
    claim_patch,
    cronjob_state,
    own_patch,
    release_patch,
)
from jobsched.core.cronjobclaims import adopted_job as read_adopted_job
from jobsched.core.cronruns import RunState, job_state
from jobsched.core.outcomes import WriteOutcome
from jobsched.kube import cronjobs as api
from jobsched.kube import pods
from jobsched.kube.client import KubeClient
from jobsched.kube.events import ObjectRef
from jobsched.runtime.cron.reporter import Reporter
from jobsched.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

ATTEMPTS = 5  # conflicts and retryable failures of one write, before it is left to the next check
BACKOFF_S = 0.2


def cronjob_ref(namespace: str, name: str, uid: str) -> ObjectRef:
    return ObjectRef("CronJob", namespace, name, uid, api_version="batch/v1")


@dataclass
class ClaimTiming:
    """The hand-over writes (P2, P3) of one storm: how many, and when the first began and the last ended."""

    writes: int = 0
    first: float | None = None
    last: float = 0.0
    busy_s: float = 0.0  # summed over writes (they run concurrently)

    def record(self, started: float) -> None:
        ended = time.monotonic()
        self.writes += 1
        self.first = started if self.first is None else min(self.first, started)
        self.last = max(self.last, ended)
        self.busy_s += ended - started

    @property
    def span_s(self) -> float:
        return self.last - self.first if self.first is not None else 0.0


class Claims:
    def __init__(self, client: KubeClient, reporter: Reporter, metrics: Metrics) -> None:
        self._client = client
        self._reporter = reporter
        self._metrics = metrics
        self.claimed: dict[str, datetime] = {}  # Job UID -> slot, claimed by this process
        self.owned: set[str] = set()  # Job UIDs made controller-owned by this process

    def _count(self, step: str, outcome: WriteOutcome) -> None:
        self._metrics.cronjob_writes.labels(step=step, outcome=outcome.value).inc()

    async def read_state(self, namespace: str, name: str) -> CronJobState | None:
        """The CronJob as the apiserver has it now; None when it is gone (or cannot be read)."""
        return (await self._read_state(namespace, name))[0]

    async def _read_state(self, namespace: str, name: str) -> tuple[CronJobState | None, WriteOutcome]:
        read = await api.get_cronjob(self._client, namespace, name)
        if read.outcome is WriteOutcome.DONE and read.obj is not None:
            return cronjob_state(read.obj), WriteOutcome.DONE
        if read.outcome is not WriteOutcome.GONE:
            log.warning(
                "cannot read CronJob", cronjob=f"{namespace}/{name}", status=read.status, error=read.message
            )
        return None, read.outcome

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        read = await api.get_job(self._client, namespace, name)
        return read.obj if read.outcome is WriteOutcome.DONE else None

    async def _status_write(
        self,
        step: str,
        job: AdoptedJob,
        state: CronJobState | None,
        compute: Callable[[CronJobState], dict[str, Any] | None],
    ) -> WriteOutcome:
        """Writes `compute(state)` to the CronJob's status; on a conflict reads it again and recomputes."""
        for attempt in range(ATTEMPTS):
            if state is None:
                state, read = await self._read_state(job.namespace, job.cronjob)
                if read in (WriteOutcome.GONE, WriteOutcome.REFUSED):
                    return read
                if state is None:  # no answer: the same backoff as a failed write
                    await anyio.sleep(BACKOFF_S * 2**attempt * (0.5 + random.random()))
                    continue
            if state.uid != job.cronjob_uid:
                return WriteOutcome.GONE  # a new CronJob of the same name; the old one's Jobs are garbage
            patch = compute(state)
            if patch is None:
                return WriteOutcome.DONE
            written = await api.patch_status(self._client, job.namespace, job.cronjob, patch)
            self._count(step, written.outcome)
            if written.outcome in (WriteOutcome.DONE, WriteOutcome.GONE, WriteOutcome.REFUSED):
                if written.outcome is WriteOutcome.REFUSED:
                    log.warning(
                        "CronJob status write refused", step=step, job=job.name, error=written.message
                    )
                return written.outcome
            state = None  # CONFLICT: another writer (the native controller) moved it on; RETRY: read anew
            if written.outcome is WriteOutcome.RETRY:
                await anyio.sleep(BACKOFF_S * 2**attempt * (0.5 + random.random()))
        return WriteOutcome.RETRY

    async def claim(
        self, job: AdoptedJob, state: CronJobState | None, timing: ClaimTiming | None = None
    ) -> WriteOutcome:
        """P2: the Job in the CronJob's `active` and its slot as `lastScheduleTime`."""
        started = time.monotonic()
        outcome = await self._status_write("claim", job, state, lambda s: claim_patch(s, job))
        if timing is not None:
            timing.record(started)
        if outcome is WriteOutcome.DONE:
            self.claimed[job.uid] = job.slot
        return outcome

    async def own(self, job: AdoptedJob, timing: ClaimTiming | None = None) -> WriteOutcome:
        """P3: the CronJob becomes the Job's controller, so the native controller keeps its books."""
        started = time.monotonic()
        written = await api.patch_job_owner(self._client, job.namespace, job.name, own_patch(job))
        if timing is not None:
            timing.record(started)
        outcome = written.outcome
        if outcome is WriteOutcome.REFUSED:  # a test op failed: owned already, or no longer ours to own
            current = await self.read_job(job.namespace, job.name)
            now = read_adopted_job(current) if current is not None else None
            outcome = WriteOutcome.DONE if now is None or now.controller else WriteOutcome.REFUSED
        self._count("own", outcome)
        if outcome is WriteOutcome.DONE:
            self.owned.add(job.uid)
        return outcome

    async def cancel(self, job: AdoptedJob, state: CronJobState) -> WriteOutcome:
        """A pre-staged slot called off before it fired (the CronJob suspended, its schedule changed): the
        Job deleted, then taken out of `active`, and `lastScheduleTime` put back to what it was."""
        ref = cronjob_ref(job.namespace, job.cronjob, job.cronjob_uid)
        if not await pods.delete(self._client, "Job", job.namespace, job.name, job.uid):
            self._count("cancel", WriteOutcome.RETRY)
            self._reporter.event(
                ref, "Warning", "FailedDelete", f"Deleted job: {job.name}: the delete failed"
            )
            return WriteOutcome.RETRY
        self._count("cancel", WriteOutcome.DONE)
        self._reporter.event(ref, "Normal", "SuccessfulDelete", f"Deleted job {job.name}")
        log.info("called off a pre-staged slot", job=f"{job.namespace}/{job.name}", slot=job.slot.isoformat())
        return await self._status_write("release", job, state, lambda s: release_patch(s, job))

    async def replace(
        self,
        job: AdoptedJob,
        state: CronJobState,
        refs: list[Mapping[str, Any]],
        mine: Mapping[str, AdoptedJob],
    ) -> None:
        """Replace: the Jobs still running beside jobsched's newest one are deleted (after its pods were
        bound; the native controller deletes them just before creating it), then dropped from `active`."""
        ref = cronjob_ref(job.namespace, job.cronjob, job.cronjob_uid)
        deleted: set[str] = set()
        for target in refs:
            name, uid = str(target.get("name", "")), str(target.get("uid", ""))
            if uid not in mine:
                current = await self.read_job(job.namespace, name)
                if current is not None and job_state(current)[0] is not RunState.ACTIVE:
                    continue  # finished: the native controller drops it from `active` itself
            if await pods.delete(self._client, "Job", job.namespace, name, uid):
                deleted.add(uid)
                self._count("replace", WriteOutcome.DONE)
                self._reporter.event(ref, "Normal", "SuccessfulDelete", f"Deleted job {name}")
            else:
                self._count("replace", WriteOutcome.RETRY)
                self._reporter.event(
                    ref, "Warning", "FailedDelete", f"Deleted job: {name}: the delete failed"
                )
        if deleted:

            def without(current: CronJobState) -> dict[str, Any] | None:
                kept = [r for r in current.active if str(r.get("uid", "")) not in deleted]
                if len(kept) == len(current.active):
                    return None
                return {"metadata": {"resourceVersion": current.resource_version}, "status": {"active": kept}}

            await self._status_write("release", job, state, without)

    async def deadline(self, job: AdoptedJob, seconds: int) -> WriteOutcome:
        written = await api.patch_job_deadline(self._client, job.namespace, job.name, job.uid, seconds)
        self._count("deadline", written.outcome)
        return written.outcome
