"""Firing adopted CronJobs: one slot staged (P1 to P3, for the stager), and the keeper that finishes
whatever a hand-over left half-done.

`stage` runs in a stager worker before the slot: it creates the Job under the native name, claims the
slot in the CronJob's status and makes the CronJob the Job's controller, all before T (at T only the
pods' Bindings are written). A slot too near to be claimed safely (`cron.claimMarginSeconds`), or held
back by Forbid until then, is left to the native controller, which fires it at T as it always would.

The keeper re-checks a CronJob's Jobs whenever its watch or theirs changes, and every SWEEP_S: after a
restart (a Job created but not claimed or owned), after a hand-back (jobsched finishes the slots it
staged), when a pre-staged slot is called off (suspend, a schedule edit), for Replace after the slot
has fired, and to make a Job's activeDeadlineSeconds count from its slot. Claims and call-offs cannot
wait; the other writes wait while a storm is near (`busy`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import anyio
import structlog

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronjobclaims import (
    URGENT,
    AdoptedJob,
    CronJobState,
    Pending,
    Step,
    adopted_job,
    forbid_blocks,
    pending_steps,
    replace_candidates,
    still_a_slot,
)
from jobsched.core.cronruns import run_from_job
from jobsched.core.naming import rfc3339, slot_object_name
from jobsched.core.outcomes import CreateOutcome, WriteOutcome
from jobsched.core.podbuild import build_adopted_job
from jobsched.kube import pods
from jobsched.kube.client import KubeClient
from jobsched.runtime.cron.claims import Claims, ClaimTiming, cronjob_ref
from jobsched.runtime.cron.cronjobs import CronJobSource
from jobsched.runtime.cron.reporter import Reporter
from jobsched.runtime.cron.stores import JobRuns, Key
from jobsched.settings import Settings

log = structlog.get_logger(__name__)

SWEEP_S = 30.0  # every CronJob with Jobs of jobsched's is re-checked this often
CHECK_PERIOD_S = 1.0
UNMANAGED_STATE_S = 10.0  # a handed-back CronJob's status is read at most this often


class StagingTouches:
    """CronJobs with a Job being staged, and whether one was touched meanwhile. The keeper skips a Job in
    flight, so a touch then (the CronJob suspended or its schedule edited) is repeated after the stage."""

    def __init__(self) -> None:
        self._staging: dict[Key, int] = {}  # (namespace, CronJob) -> stages in flight
        self._touched: set[Key] = set()

    def begin(self, cronjob: Key) -> None:
        self._staging[cronjob] = self._staging.get(cronjob, 0) + 1

    def touched(self, cronjob: Key) -> None:
        if cronjob in self._staging:
            self._touched.add(cronjob)

    def end(self, cronjob: Key) -> bool:
        """Whether the CronJob was touched since a stage of it began (then it is to be touched again)."""
        left = self._staging.pop(cronjob) - 1
        if left:
            self._staging[cronjob] = left
        if cronjob not in self._touched:
            return False
        if not left:
            self._touched.discard(cronjob)
        return True


class Handover:
    def __init__(
        self,
        client: KubeClient,
        settings: Settings,
        cronjobs: CronJobSource,
        jobs: JobRuns,
        claims: Claims,
        reporter: Reporter,
        *,
        entries: Callable[[], Mapping[str, CronEntry]],
        busy: Callable[[], bool],
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._scheduler_name = settings.scheduler_name
        self._margin = timedelta(seconds=settings.cron.claim_margin_s)
        self._cronjobs = cronjobs
        self._jobs = jobs
        self.claims = claims
        self._reporter = reporter
        self._entries = entries
        self._busy = busy
        self._clock = clock
        self._limiter = anyio.CapacityLimiter(settings.cron.housekeeping_in_flight)
        self.in_flight: set[Key] = set()  # (namespace, Job name) being staged: the keeper leaves them be
        self._staging = StagingTouches()
        self._dirty: set[Key] = set()  # (namespace, CronJob) to re-check
        self._wake = anyio.Event()
        self._unmanaged: dict[Key, tuple[float, CronJobState | None]] = {}

    def deadline(self, slot: datetime) -> datetime:
        """Until when jobsched may still take `slot`: later, the native controller fires it."""
        return slot - self._margin

    def touch(self, key: Key) -> None:
        self._staging.touched(key)
        self._dirty.add(key)
        self._wake.set()

    # --- one slot, for the stager ------------------------------------------------------------------

    async def stage(self, entry: CronEntry, slot: datetime, timing: ClaimTiming) -> tuple[bool, str | None]:
        """P1 to P3 for `slot`. Returns (worth another try later, the fires-metric outcome if final)."""
        origin = entry.origin
        assert origin is not None
        now = self._clock()
        if now >= self.deadline(slot):
            return False, "left_to_native"
        state = self._cronjobs.state(entry.namespace, entry.name)
        current = self._entries().get(entry.key)
        if state is None or current is None or state.uid != origin.uid:
            return False, None  # handed back or deleted since the storm was planned
        if state.suspended or current.suspend or not still_a_slot(current, slot):
            return False, None  # suspended, or its schedule edited, since the storm was planned
        entry = current  # the CronJob as it is now (its jobTemplate may have changed)
        name = slot_object_name(entry, slot)
        mine = self._jobs.adopted_of(entry.namespace, entry.name)
        if name in mine:
            return False, "exists"  # staged by an earlier leader; the keeper finishes it
        if entry.concurrency_policy == "Forbid" and forbid_blocks(state, mine.values(), slot):
            return True, None  # until the earlier run ends, or the native controller's turn comes
        key, cronjob = (entry.namespace, name), (entry.namespace, entry.name)
        self.in_flight.add(key)
        self._staging.begin(cronjob)
        try:
            return await self._stage(entry, slot, state, now, timing)
        finally:
            self.in_flight.discard(key)
            if self._staging.end(cronjob):
                self.touch(cronjob)

    async def _stage(
        self, entry: CronEntry, slot: datetime, state: CronJobState, now: datetime, timing: ClaimTiming
    ) -> tuple[bool, str | None]:
        body = build_adopted_job(
            entry, slot, self._scheduler_name, now=now, previous=state.last_schedule_time
        )
        name = body["metadata"]["name"]
        ref = cronjob_ref(entry.namespace, entry.name, state.uid)
        result = await pods.create(self._client, body, attempts=3)
        obj = result.obj
        if result.outcome is CreateOutcome.EXISTS:
            obj = await self.claims.read_job(entry.namespace, name)
            job = adopted_job(obj) if obj is not None else None
            if job is None or job.slot != slot or job.cronjob_uid != state.uid:
                return False, "exists"  # the native controller fired this slot: step aside
        elif result.outcome in (CreateOutcome.FORBIDDEN, CreateOutcome.REJECTED):
            self._reporter.event(ref, "Warning", "FailedCreate", f"Error creating job: {result.message}")
            log.warning(
                "adopted CronJob's Job refused", job=f"{entry.namespace}/{name}", message=result.message
            )
            return False, result.outcome.value
        elif result.outcome is not CreateOutcome.CREATED:
            return (
                result.outcome is CreateOutcome.RETRY,
                None if result.outcome is CreateOutcome.RETRY else "gone",
            )
        job = adopted_job(obj) if obj is not None else None
        if obj is None or job is None:
            return False, None
        self._jobs.remember_adopted(job)
        run = run_from_job(obj)
        if run is not None:
            self._jobs.remember(run)
        if await self.claims.claim(job, state, timing) is not WriteOutcome.DONE:
            log.warning("claim not written yet; the keeper retries it", job=f"{entry.namespace}/{name}")
            self.touch((entry.namespace, entry.name))
            return False, "created"
        self._reporter.event(ref, "Normal", "SuccessfulCreate", f"Created job {name}")
        await self.claims.own(job, timing)
        return False, "created"

    # --- the keeper --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Runs while leading: re-checks touched CronJobs, and all of them every SWEEP_S."""
        next_sweep = 0.0
        while True:
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_S
                self._dirty |= set(self._jobs.adopted)
                live = {j.uid for group in self._jobs.adopted.values() for j in group.values()}
                self.claims.claimed = {u: s for u, s in self.claims.claimed.items() if u in live}
                self.claims.owned &= live
                self._unmanaged = {
                    k: v for k, v in self._unmanaged.items() if time.monotonic() - v[0] < SWEEP_S
                }
            keys, self._dirty = self._dirty, set()
            later: set[Key] = set()
            async with anyio.create_task_group() as tg:
                for key in keys:
                    tg.start_soon(self._check, key, later)
            self._dirty |= later
            self._wake = anyio.Event()
            with anyio.move_on_after(CHECK_PERIOD_S):
                await self._wake.wait()

    async def _check(self, key: Key, later: set[Key]) -> None:
        namespace, cronjob = key
        jobs = [
            job
            for job in self._jobs.adopted_of(namespace, cronjob).values()
            if (namespace, job.name) not in self.in_flight
        ]
        entry = self._entries().get(f"{namespace}/CronJob/{cronjob}")
        now = self._clock()
        replacing = entry is not None and entry.concurrency_policy == "Replace"
        if not any(self._may_owe(job, now, replacing) for job in jobs):
            return  # the common case, cheaply: every Job claimed, owned, and past its slot (or done)
        async with self._limiter:
            state = await self._state(namespace, cronjob)
            if state is None:
                return
            steps = [s for s in pending_steps(state, jobs, entry, now) if not self._done_here(s)]
            replace = (
                replace_candidates(state, jobs, now)
                if entry is not None and entry.concurrency_policy == "Replace"
                else []
            )
            if self._busy() and (replace or any(s.step not in URGENT for s in steps)):
                later.add(key)
                steps = [s for s in steps if s.step in URGENT]
                replace = []
            for pending in steps:
                await self._carry_out(pending, state)
            if replace:
                current = next(j for j in jobs if j.slot == state.last_schedule_time)
                await self.claims.replace(current, state, replace, {j.uid: j for j in jobs})

    @staticmethod
    def _may_owe(job: AdoptedJob, now: datetime, replacing: bool) -> bool:
        """Whether a write may still be owed for `job` (pending_steps says which): its claim or owner,
        a call-off before its slot, its deadline, or (Replace) the Jobs running beside it."""
        if job.deleting:
            return False
        if not job.controller:
            return True  # P3 comes after P2: a Job owned is a Job claimed
        return job.running and (replacing or job.slot > now or job.deadline_s is not None)

    def _done_here(self, pending: Pending) -> bool:
        """This process already wrote it; its watches have not shown it yet."""
        if pending.step is Step.CLAIM:
            return pending.job.uid in self.claims.claimed
        if pending.step is Step.OWN:
            return pending.job.uid in self.claims.owned
        return False

    async def _carry_out(self, pending: Pending, state: CronJobState) -> None:
        job = pending.job
        if pending.step is Step.CLAIM:
            late = "" if job.slot > self._clock() else " (after its slot)"
            log.info(
                "claiming a slot jobsched staged" + late,
                job=f"{job.namespace}/{job.name}",
                slot=rfc3339(job.slot),
            )
            await self.claims.claim(job, None)  # read afresh: the watch may lag
        elif pending.step is Step.CANCEL:
            await self.claims.cancel(job, state)
        elif pending.step is Step.OWN:
            await self.claims.own(job)
        elif pending.step is Step.DEADLINE and pending.value is not None:
            await self.claims.deadline(job, pending.value)

    async def _state(self, namespace: str, cronjob: str) -> CronJobState | None:
        """The CronJob's status: from the watch while managed, else read (a handed-back one)."""
        state = self._cronjobs.state(namespace, cronjob)
        if state is not None:
            return state
        key = (namespace, cronjob)
        cached = self._unmanaged.get(key)
        if cached is not None and time.monotonic() - cached[0] < UNMANAGED_STATE_S:
            return cached[1]
        state = await self.claims.read_state(namespace, cronjob)
        self._unmanaged[key] = (time.monotonic(), state)
        return state
