"""The stager: creates each slot's Pod or Job ahead of its instant, through one queue and a fixed pool of
workers (api.createInFlight), never one sleeping task per entry. An adopted CronJob's slot is staged by
the hand-over (`Handover.stage`: the Job, its claim and its owner) in the same workers.

Names are deterministic, so a retry, a restart or a second replica that creates a slot's object again
gets AlreadyExists: exactly once. Before creating, the stager checks the entry's service accounts (trust
model) and its concurrencyPolicy against the entry's runs. What each reply means is a table in
`jobsched.core.outcomes`; a failure worth retrying waits in a retry list with backoff, within the slot's
deadline. It also measures the create rate of each class of object (`cronplan.object_class`) that
sizes the next storm's lead, and tells the Job-pod meter how many pods a storm's Jobs will have.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from jobsched.core import cronplan
from jobsched.core.convert import PodRecord
from jobsched.core.cronentry import CronEntry
from jobsched.core.cronplan import initial_pods, object_class
from jobsched.core.cronruns import RunRecord, run_from_job, run_from_pod
from jobsched.core.naming import rfc3339, slot_object_name
from jobsched.core.outcomes import STAGE_ACTIONS, CreateOutcome
from jobsched.core.podbuild import build_slot_object, service_account_refs
from jobsched.core.reruns import build_rerun_object
from jobsched.kube import pods
from jobsched.kube.client import KubeClient
from jobsched.kube.events import ObjectRef
from jobsched.kube.serviceaccounts import Found, ServiceAccountCache
from jobsched.runtime.cron.claims import ClaimTiming
from jobsched.runtime.cron.handover import Handover
from jobsched.runtime.cron.jobpods import JobPodMeter
from jobsched.runtime.cron.reporter import Reporter
from jobsched.runtime.cron.stores import RunStore
from jobsched.settings import Settings

log = structlog.get_logger(__name__)

RETRY_BASE_S = 0.2
RETRY_CAP_S = 10.0


@dataclass
class _Batch:
    """The objects of one class staged together for one instant; measures their create rate when it
    completes (and, for adopted CronJobs, how long their claims took)."""

    size: int
    kind: str = "Pod"  # cronplan.object_class
    started: float = field(default_factory=time.monotonic)
    remaining: int = 0
    timing: ClaimTiming = field(default_factory=ClaimTiming)

    def __post_init__(self) -> None:
        self.remaining = self.size


@dataclass
class _Item:
    entry: CronEntry
    slot: datetime
    deadline: datetime  # give up creating after this
    batch: _Batch
    attempt: int = 0
    not_before: float = 0.0  # monotonic time of the next attempt (retries)
    replaces: str = ""  # the UID of a lost pod of this slot that must be gone before the new one
    rerun: RerunOrder | None = None  # the slot's pod failed before it started: run it again so


@dataclass(frozen=True)
class RerunOrder:
    """A slot to run again after a provider failure (core/reruns.py): under `name`, on `chain`."""

    name: str
    chain: tuple[str, ...]
    original: str  # the pod that failed
    created: Callable[[], None]  # called once the re-run exists


class Stager:
    def __init__(
        self,
        client: KubeClient,
        settings: Settings,
        pod_runs: RunStore,
        job_runs: RunStore,
        accounts: ServiceAccountCache,
        reporter: Reporter,
        *,
        entries: Callable[[], Mapping[str, CronEntry]],
        runs: Callable[[CronEntry], Mapping[str, RunRecord]],
        ref: Callable[[CronEntry], ObjectRef],
        clock: Callable[[], datetime],
        handover: Handover | None = None,
        job_pods: JobPodMeter | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._pod_runs = pod_runs
        self._job_runs = job_runs
        self._accounts = accounts
        self._reporter = reporter
        self._entries = entries
        self._runs = runs
        self._ref = ref
        self._clock = clock
        self._handover = handover
        self._job_pods = job_pods or JobPodMeter()
        self._retries: list[_Item] = []
        self.queued = 0  # items in the queue or with a worker (not those waiting to retry)
        self.create_rates: dict[str, float] = {}  # object class -> objects/s, EWMA over storms
        self._send: MemoryObjectSendStream[_Item]
        self._receive: MemoryObjectReceiveStream[_Item]
        self._send, self._receive = anyio.create_memory_object_stream[_Item](max_buffer_size=math.inf)

    # --- queueing ----------------------------------------------------------------------------------

    @property
    def create_rate(self) -> float | None:
        """The measured create rate of single-write objects (Pods, Jobs of ConfigMap entries)."""
        return self.create_rates.get("Pod") or self.create_rates.get("Job")

    def _deadline(self, entry: CronEntry, slot: datetime) -> datetime:
        if entry.origin is not None and self._handover is not None:
            return self._handover.deadline(slot)  # after it, the slot is the native controller's
        cap = entry.starting_deadline_seconds
        return slot + timedelta(seconds=self._settings.cron.create_retry_s if cap is None else cap)

    def stage(self, entries: list[CronEntry], slot: datetime) -> None:
        by_class: dict[str, list[CronEntry]] = {}
        for entry in entries:
            by_class.setdefault(object_class(entry), []).append(entry)
        self._job_pods.expect(slot, sum(initial_pods(entry) for entry in entries))
        for kind, members in by_class.items():
            batch = _Batch(len(members), kind)
            for entry in members:
                self._put(_Item(entry, slot, self._deadline(entry, slot), batch))

    def recreate(self, entry: CronEntry, run: RunRecord) -> bool:
        """Creates a lost pod's slot again (same name) once the old pod is gone; False when too late."""
        if run.scheduled is None:
            return False
        deadline = self._deadline(entry, run.scheduled)
        if self._clock() >= deadline:
            return False
        self._put(_Item(entry, run.scheduled, deadline, _Batch(1), replaces=run.uid))
        return True

    def rerun(self, entry: CronEntry, slot: datetime, order: RerunOrder) -> bool:
        """Creates the slot's re-run pod (see RerunOrder); False when the slot's deadline has passed."""
        deadline = self._deadline(entry, slot)
        if self._clock() >= deadline:
            return False
        self._put(_Item(entry, slot, deadline, _Batch(1), rerun=order))
        return True

    def deadline(self, entry: CronEntry, slot: datetime) -> datetime:
        """Until when the slot's object may still be created (startingDeadlineSeconds)."""
        return self._deadline(entry, slot)

    def _put(self, item: _Item) -> None:
        self.queued += 1
        self._send.send_nowait(item)

    def requeue_due(self) -> None:
        """Moves retries whose backoff has passed back into the queue."""
        now = time.monotonic()
        ready = [item for item in self._retries if item.not_before <= now]
        if ready:
            self._retries = [item for item in self._retries if item.not_before > now]
            for item in ready:
                self._put(item)

    # --- workers -----------------------------------------------------------------------------------

    async def run_workers(self) -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(self._settings.api.create_in_flight):
                tg.start_soon(self._worker, self._receive.clone())
            self._receive.close()

    async def _worker(self, receive: MemoryObjectReceiveStream[_Item]) -> None:
        async with receive:
            async for item in receive:
                try:
                    retry = await self._create(item)
                except Exception:
                    log.exception("creating a cron slot failed", entry=item.entry.key, slot=item.slot)
                    retry = True
                self.queued -= 1
                if retry and self._clock() < item.deadline:
                    # Waits in the retry list, not in a worker, and does not count as busy meanwhile.
                    item.attempt += 1
                    backoff = min(RETRY_BASE_S * 2**item.attempt, RETRY_CAP_S) * (0.5 + random.random())
                    item.not_before = time.monotonic() + backoff
                    self._retries.append(item)
                    continue
                if retry and item.entry.origin is not None:
                    # Not missed: from here on the native controller fires it, as batch/v1 always did.
                    self._reporter.count("left_to_native")
                    log.info(
                        "slot left to the native CronJob controller", entry=item.entry.key, slot=item.slot
                    )
                elif retry:
                    self._reporter.count("failed")
                    note = f"entry {item.entry.name}: gave up creating the object for {rfc3339(item.slot)}"
                    self._reporter.entry(self._ref(item.entry), item.entry, "Warning", "FailedCreate", note)
                self._done(item)

    def _done(self, item: _Item) -> None:
        batch = item.batch
        batch.remaining -= 1
        if batch.remaining == 0 and batch.size >= cronplan.MIN_RATE_SAMPLE:
            elapsed = max(time.monotonic() - batch.started, 1e-3)
            rate = cronplan.ewma(self.create_rates.get(batch.kind), batch.size / elapsed)
            self.create_rates[batch.kind] = rate
            claims = batch.timing
            log.info(
                "storm staged",
                kind=batch.kind,
                objects=batch.size,
                seconds=round(elapsed, 3),
                rate=round(rate),
                before_slot_s=round((item.slot - self._clock()).total_seconds(), 2),
                **(
                    {"claim_writes": claims.writes, "claim_span_s": round(claims.span_s, 3)}
                    if claims.writes
                    else {}
                ),
            )

    # --- one slot ----------------------------------------------------------------------------------

    async def _create(self, item: _Item) -> bool:
        """Creates one slot's object. Returns True when it is worth another try later."""
        entry, slot = item.entry, item.slot
        if entry.key not in self._entries():
            return False  # removed (or its namespace opted out, or handed back) since it was staged
        if entry.origin is not None and self._handover is not None:
            refused = await self._check_service_accounts(entry)
            if refused is not None:
                return refused
            retry, outcome = await self._handover.stage(entry, slot, item.batch.timing)
            if outcome is not None:
                self._reporter.count(outcome)
            return retry
        runs = self._runs(entry)
        name = item.rerun.name if item.rerun is not None else slot_object_name(entry, slot)
        if name in runs:
            if runs[name].uid == item.replaces:
                return True  # the lost pod is still on its way out
            self._reporter.count("exists")
            return False
        refused = await self._check_service_accounts(entry)
        if refused is not None:
            return refused
        decision = cronplan.concurrency_decision(entry.concurrency_policy, runs.values(), slot)
        if decision.action is cronplan.SlotAction.SKIP:
            self._reporter.count("skipped")
            names = ", ".join(run.name for run in decision.previous)
            note = f"entry {entry.name}: skipped {rfc3339(slot)} (concurrencyPolicy Forbid): {names} still active"
            self._reporter.entry(self._ref(entry), entry, "Normal", "JobAlreadyActive", note)
            return False
        if decision.action is cronplan.SlotAction.REPLACE:
            for run in decision.previous:
                if not await pods.delete(self._client, run.kind, run.namespace, run.name, run.uid):
                    return True
            self._reporter.count("replaced")
        if item.rerun is not None:
            order = item.rerun
            body = build_rerun_object(entry, slot, self._settings.scheduler_name, order.chain, order.original)
        else:
            body = build_slot_object(entry, slot, self._settings.scheduler_name)
        result = await pods.create(self._client, body, attempts=3)
        if item.rerun is not None and result.outcome is CreateOutcome.CREATED:
            item.rerun.created()
        action = STAGE_ACTIONS[result.outcome]
        if action.count is not None:
            self._reporter.count(action.count)
        if result.outcome is CreateOutcome.CREATED and result.obj is not None:
            self._remember(entry, result.obj)
        elif result.outcome is CreateOutcome.FORBIDDEN:
            # Not the entry's fault: RBAC (or a quota, or a policy webhook) refuses jobsched here.
            note = (
                f"entry {entry.name}: the apiserver refused to let jobsched create the {entry.kind}"
                f" for {rfc3339(slot)} in namespace {entry.namespace} (HTTP 403): {result.message}"
            )
            self._reporter.entry(self._ref(entry), entry, "Warning", "CreateForbidden", note)
            log.warning(
                "cron object create forbidden", entry=entry.key, status=result.status, message=result.message
            )
        elif result.outcome is CreateOutcome.REJECTED:
            message = f"the apiserver rejected the {entry.kind} (HTTP {result.status}): {result.message}"
            self._reporter.invalid(self._ref(entry), entry, "template", message)
        elif action.retry:
            log.warning(
                "cron object create failed", entry=entry.key, status=result.status, message=result.message
            )
        return action.retry

    def _remember(self, entry: CronEntry, obj: dict[str, object]) -> None:
        if entry.kind == "Job":
            run = run_from_job(obj)
            if run is not None:
                self._job_runs.remember(run)
            return
        run = run_from_pod(PodRecord(obj, {}))
        if run is not None:
            self._pod_runs.remember(run)

    async def _check_service_accounts(self, entry: CronEntry) -> bool | None:
        """None when every service account the template names exists in the entry's namespace.

        Otherwise the slot is not created: a missing account (or one jobsched may not look up) is
        reported as an invalid entry, and the result says whether to try again (only when the
        apiserver could not answer). Lookups are cached, so a storm costs one GET per account.
        """
        for path, account in service_account_refs(entry):
            answer = await self._accounts.lookup(entry.namespace, account)
            if answer.found is Found.EXISTS:
                continue
            if answer.found is Found.UNKNOWN:
                log.warning(
                    "service account lookup failed; will retry",
                    entry=entry.key,
                    account=account,
                    error=answer.message,
                )
                return True
            if answer.found is Found.MISSING:
                message = (
                    f"service account {account!r} does not exist in namespace {entry.namespace};"
                    " a cron pod may only run as an existing service account of its own namespace"
                )
            else:
                message = (
                    f"cannot verify that service account {account!r} exists in namespace"
                    f" {entry.namespace} ({answer.message}), so the entry does not fire"
                )
            self._reporter.count("rejected")
            self._reporter.invalid(self._ref(entry), entry, path, message)
            return False
        return None
