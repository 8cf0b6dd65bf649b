"""The cron engine: turns the cron entries in ConfigMaps into Pods (or Jobs) created before their slot.

At a slot's instant T nothing is left to do but bind: the engine creates every object of a storm ahead
of T, starting at T - lead where the lead is sized from the storm and the create rate measured so far
(`jobsched.core.cronplan.lead_seconds`). Creation runs through one queue drained by a fixed pool of
workers (settings.api.create_in_flight), never one sleeping task per entry. Names are deterministic,
so a restart or a second replica that creates a slot's object again gets AlreadyExists: exactly once.

Before a slot's object is created, any service account its template names must exist in the entry's
namespace (trust model; one cached GET per account, `jobsched.kube.serviceaccounts`). A refusal by the
apiserver (403) or a rejected template is reported as a Warning Event on the ConfigMap, never raised.

Everything that can wait does wait until the burst is over (`busy()`): Events, status writes, finalizer
removal and history pruning. Decisions are in `jobsched.core.cronplan`; this module only moves data
between the informers, those decisions and the API.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from jobsched.core import cronplan
from jobsched.core.cronruns import RunRecord, run_from_job, run_from_pod
from jobsched.core.cronslots import due_slot, storm_groups
from jobsched.core.cronspec import CronEntry, Problem
from jobsched.core.naming import entry_label_value, rfc3339, slot_object_name
from jobsched.core.podbuild import build_slot_object, service_account_refs
from jobsched.core.vocabulary import CONFIGMAP_LABEL, ENTRY_LABEL, STATUS_FOR_LABEL, TRACKING_FINALIZER
from jobsched.kube import pods
from jobsched.kube.client import KubeClient
from jobsched.kube.events import EventRecord, EventWriter, ObjectRef
from jobsched.kube.informer import Informer
from jobsched.kube.serviceaccounts import Found, ServiceAccountCache
from jobsched.runtime.cron_state import (
    ConfigMapStore,
    Key,
    NamespaceStore,
    ParsedConfigMap,
    RunStore,
    StatusStore,
)
from jobsched.runtime.cron_status import write_status
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.node_loss import NodeDirectory, NodeLossSweep
from jobsched.settings import Settings

log = structlog.get_logger(__name__)

PLAN_PERIOD_S: Final = 1.0  # the planner looks again at least this often
PLAN_LOOKBACK_S: Final = 5.0  # a slot reached this late (a slow tick) still fires
RETRY_CAP_S: Final = 120.0  # without startingDeadlineSeconds, creation is retried this long after T
BUSY_BEFORE_S: Final = 3.0  # busy() from this long before a staged instant ...
BUSY_AFTER_S: Final = 3.0  # ... until this long after it (plus its size at a bind rate below)
BUSY_BIND_RATE: Final = 800.0
HOUSEKEEPING_PERIOD_S: Final = 3.0  # status writes, finalizer removal, pruning: at most this often
HOUSEKEEPING_IN_FLIGHT: Final = 8
SYNC_LOG_S: Final = 30.0
TRACKING_WRITE_S: Final = 2.0  # at most this long recording trackedSince before a storm is staged


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Batch:
    """The objects staged together for one instant; measures the create rate when it completes."""

    size: int
    started: float = field(default_factory=time.monotonic)
    remaining: int = 0

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


class CronEngine:
    """Runs the cron entries of every opted-in namespace. `run()` until cancelled."""

    def __init__(
        self,
        client: KubeClient,
        settings: Settings,
        metrics: Metrics,
        events: EventWriter,
        clock: Callable[[], datetime] = _now,
        nodes: NodeDirectory | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._cron = settings.cron
        self._metrics = metrics
        self._events = events
        self._clock = clock
        self._wake = anyio.Event()
        self._dirty = True
        self.namespaces = NamespaceStore(self._changed)
        self.configmaps = ConfigMapStore(settings.scheduler_name, self._changed)
        self.pods = RunStore(run_from_pod)
        self.jobs = RunStore(run_from_job)
        self.recorded = StatusStore()
        self.accounts = ServiceAccountCache(client)
        self._informers = self._make_informers()
        self._node_loss = (
            None
            if nodes is None
            else NodeLossSweep(
                client,
                nodes,
                self._all_pod_runs,
                self._entry_of,
                self._recreate_lost,
                self._report_entry,
                settings.cron.node_loss_grace_s,
            )
        )
        # Planning state.
        self.entries: dict[str, CronEntry] = {}  # key -> entry, opted-in namespaces only
        self._owner: dict[str, ParsedConfigMap] = {}  # entry key -> its ConfigMap
        self._by_label: dict[tuple[str, str], CronEntry] = {}  # (namespace, entry label) -> entry
        self._handled: dict[str, datetime] = {}  # entry key -> newest slot staged or decided
        self.status: dict[str, cronplan.EntryStatus] = {}
        self._reported: set[tuple[Key, str]] = set()  # (configmap, resourceVersion) already reported
        self._reported_disabled: set[Key] = set()
        self._written: dict[Key, dict[str, Any]] = {}  # last status document written per ConfigMap
        self._staged: dict[datetime, int] = {}  # instant -> objects staged for it
        self._retries: list[_Item] = []
        self._queued = 0
        self.create_rate: float | None = None
        self._send: MemoryObjectSendStream[_Item] | None = None

    # --- wiring ----------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._dirty = True
        self._wake.set()

    def _make_informers(self) -> list[Informer]:
        selector = {"labelSelector": ENTRY_LABEL}
        return [
            Informer(
                self._client,
                "/api/v1/namespaces",
                self.namespaces,
                {"labelSelector": self._cron.namespace_label},
                name="cron-namespaces",
            ),
            Informer(
                self._client,
                "/api/v1/configmaps",
                self.configmaps,
                {"labelSelector": self._cron.configmap_label},
                name="cron-configmaps",
            ),
            Informer(
                self._client,
                "/api/v1/configmaps",
                self.recorded,
                {"labelSelector": STATUS_FOR_LABEL},
                name="cron-status",
            ),
            Informer(self._client, "/api/v1/pods", self.pods, selector, name="cron-pods"),
            Informer(self._client, "/apis/batch/v1/jobs", self.jobs, selector, name="cron-jobs"),
        ]

    def busy(self) -> bool:
        """True while a storm is being staged or one of its instants is a few seconds away or just past."""
        if self._queued:
            return True
        now = self._clock()
        for instant, count in self._staged.items():
            after = BUSY_AFTER_S + count / BUSY_BIND_RATE
            if instant - timedelta(seconds=BUSY_BEFORE_S) <= now <= instant + timedelta(seconds=after):
                return True
        return False

    async def run(self) -> None:
        """Runs until cancelled: the informers and the writing half together (one replica, no election)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.run_informers)
            await self.run_leader()
            tg.cancel_scope.cancel()

    async def run_informers(self) -> None:
        """Keeps the engine's caches warm; runs on every replica, so a standby takes over warm."""
        async with anyio.create_task_group() as tg:
            for informer in self._informers:
                tg.start_soon(informer.run)

    async def run_leader(self) -> None:
        """The writing half, only while leading: once synced, the planner, create workers and housekeeping."""
        send, receive = anyio.create_memory_object_stream[_Item](max_buffer_size=math.inf)
        self._send = send
        async with anyio.create_task_group() as tg:
            await self._wait_synced()
            log.info("cron engine synced", configmaps=len(self.configmaps.configmaps))
            for _ in range(self._settings.api.create_in_flight):
                tg.start_soon(self._worker, receive.clone())
            receive.close()
            tg.start_soon(self._housekeeping)
            if self._node_loss is not None:
                tg.start_soon(self._node_loss.run)
            self._changed()  # plan at once from what the standby already knows
            await self._plan_loop()

    async def _wait_synced(self) -> None:
        for informer in self._informers:
            while True:
                with anyio.move_on_after(SYNC_LOG_S):
                    await informer.synced.wait()
                if informer.synced.is_set():
                    break
                log.warning("cron engine still waiting for its informer", informer=informer.name)

    # --- planning --------------------------------------------------------------------------------

    async def _plan_loop(self) -> None:
        while True:
            self._wake = anyio.Event()
            now = self._clock()
            if self._dirty:
                self._dirty = False
                self._reconcile(now)
            self._requeue_retries()
            delay, storms = self._plan(now)
            for instant, members in storms:
                await self._record_tracking(members)
                self._enqueue(members, instant)
            with anyio.move_on_after(delay):
                await self._wake.wait()

    def _runs(self, entry: CronEntry) -> dict[str, RunRecord]:
        label = entry_label_value(entry)
        runs = self.pods.of(entry.namespace, label)
        jobs = self.jobs.of(entry.namespace, label)
        return {**runs, **jobs} if jobs else runs

    def _reconcile(self, now: datetime) -> None:
        """Brings the entry set up to date with the ConfigMaps and namespaces; reports bad input once."""
        enabled = self.namespaces.enabled
        entries: dict[str, CronEntry] = {}
        owner: dict[str, ParsedConfigMap] = {}
        for key, parsed in self.configmaps.configmaps.items():
            if parsed.namespace not in enabled:
                self._report_disabled(key, parsed)
                continue
            self._reported_disabled.discard(key)
            if parsed.problems and (key, parsed.resource_version) not in self._reported:
                self._reported.add((key, parsed.resource_version))
                self._report_problems(parsed)
            for entry in parsed.entries:
                entries[entry.key] = entry
                owner[entry.key] = parsed
        self._reported = {seen for seen in self._reported if seen[0] in self.configmaps.configmaps}
        for gone in self._handled.keys() - entries.keys():
            del self._handled[gone]
            self.status.pop(gone, None)
        self.entries, self._owner = entries, owner
        self._by_label = {(e.namespace, entry_label_value(e)): e for e in entries.values()}
        self._metrics.cron_entries.set(len(entries))
        for entry_key, entry in entries.items():
            if entry_key not in self._handled:
                self._start_entry(entry, now)

    def _start_entry(self, entry: CronEntry, now: datetime) -> None:
        """First sight of an entry: recover its last slot, fire the latest missed one if still due."""
        runs = self._runs(entry).values()
        recorded = self._recorded(entry)
        status = cronplan.first_sight(recorded, runs, now)
        self.status[entry.key] = status
        last = status.last_schedule_time
        # Slots since a leader first recorded the entry were due, even if none of them has a run: a
        # predecessor may have died while staging them. An entry nobody recorded starts afresh.
        decision = due_slot(entry, last, now, created=recorded.tracked_since if recorded else None)
        missed = decision.missed + (1 if decision.too_late else 0)
        if missed:
            self._metrics.cron_missed.inc(missed)
            more = "+" if decision.missed_capped else ""
            note = (
                f"entry {entry.name}: {missed}{more} slots missed while jobsched was not running"
                f" (last fired {rfc3339(last) if last else 'never'})"
            )
            if decision.too_late and decision.latest is not None:
                note += f"; the latest, {rfc3339(decision.latest)}, is past startingDeadlineSeconds"
            self._emit(entry, "Warning", "MissedSchedules", note)
            log.warning("missed cron slots", entry=entry.key, missed=missed, last=last)
        self._handled[entry.key] = max(last, now) if last else now
        if decision.fire is not None:
            log.info("firing missed slot", entry=entry.key, slot=decision.fire)
            self._enqueue([entry], decision.fire)

    def _recorded(self, entry: CronEntry) -> cronplan.EntryStatus | None:
        """The entry's status as written to its status ConfigMap (by this or an earlier leader)."""
        return self.recorded.recorded.get((entry.namespace, entry.configmap), {}).get(entry.name)

    def _tracking_recorded(self, entry: CronEntry) -> bool:
        written = self._written.get((entry.namespace, entry.configmap))
        if written is not None and (written["entries"].get(entry.name) or {}).get("trackedSince"):
            return True
        recorded = self._recorded(entry)
        return recorded is not None and recorded.tracked_since is not None

    async def _record_tracking(self, entries: list[CronEntry]) -> None:
        """Writes the status of the ConfigMaps whose entries' trackedSince is not stored yet, before
        their slot is staged: a leader that dies mid-staging leaves its successor the record it needs
        to fire the rest. One write per ConfigMap, bounded: a storm never waits on it for long."""
        pending = {(e.namespace, e.configmap) for e in entries if not self._tracking_recorded(e)}
        if not pending:
            return
        with anyio.move_on_after(TRACKING_WRITE_S):
            async with anyio.create_task_group() as tg:
                for cm in pending:
                    tg.start_soon(self._write_status_of, cm)
        unwritten = [f"{ns}/{name}" for ns, name in pending if (ns, name) not in self._written]
        if unwritten:
            log.warning("staging before trackedSince was recorded", configmaps=unwritten)

    def _plan(self, now: datetime) -> tuple[float, list[tuple[datetime, list[CronEntry]]]]:
        """The storms whose staging time has come, and the seconds until the next one."""
        horizon = now + timedelta(seconds=self._cron.max_lead_s)
        start = now - timedelta(seconds=PLAN_LOOKBACK_S)
        delay = PLAN_PERIOD_S
        rate = self.create_rate or self._cron.assumed_create_rate
        storms: list[tuple[datetime, list[CronEntry]]] = []
        for instant, group in storm_groups(self.entries.values(), start, horizon).items():
            members = [e for e in group if e.key in self._handled and self._handled[e.key] < instant]
            if not members:
                continue
            lead = cronplan.lead_seconds(
                len(members),
                rate,
                min_lead=self._cron.min_lead_s,
                max_lead=self._cron.max_lead_s,
                margin=self._cron.lead_margin_s,
            )
            stage_at = instant - timedelta(seconds=lead)
            if stage_at <= now:
                log.info(
                    "staging storm", instant=rfc3339(instant), entries=len(members), lead_s=round(lead, 2)
                )
                for entry in members:
                    self._handled[entry.key] = instant
                storms.append((instant, members))
            else:
                delay = min(delay, (stage_at - now).total_seconds())
        for instant in [i for i in self._staged if i < now - timedelta(minutes=5)]:
            del self._staged[instant]
        return max(delay, 0.0), storms

    def _enqueue(self, entries: list[CronEntry], slot: datetime) -> None:
        assert self._send is not None
        batch = _Batch(len(entries))
        self._staged[slot] = self._staged.get(slot, 0) + len(entries)
        for entry in entries:
            cap = entry.starting_deadline_seconds
            deadline = slot + timedelta(seconds=RETRY_CAP_S if cap is None else cap)
            self._queued += 1
            self._send.send_nowait(_Item(entry, slot, deadline, batch))

    def _requeue_retries(self) -> None:
        assert self._send is not None
        due_now = time.monotonic()
        ready = [item for item in self._retries if item.not_before <= due_now]
        if ready:
            self._retries = [item for item in self._retries if item.not_before > due_now]
            for item in ready:
                self._queued += 1
                self._send.send_nowait(item)

    # --- creating --------------------------------------------------------------------------------

    async def _worker(self, receive: MemoryObjectReceiveStream[_Item]) -> None:
        async with receive:
            async for item in receive:
                try:
                    retry = await self._create(item)
                except Exception:
                    log.exception("creating a cron slot failed", entry=item.entry.key, slot=item.slot)
                    retry = True
                self._queued -= 1
                if retry and self._clock() < item.deadline:
                    # Waits in the retry list, not in a worker, and does not count as busy meanwhile.
                    item.attempt += 1
                    backoff = min(0.2 * 2**item.attempt, 10.0) * (0.5 + random.random())
                    item.not_before = time.monotonic() + backoff
                    self._retries.append(item)
                    continue
                if retry:
                    self._count("failed")
                    self._emit(
                        item.entry,
                        "Warning",
                        "FailedCreate",
                        f"entry {item.entry.name}: gave up creating the object for {rfc3339(item.slot)}",
                    )
                self._done(item)

    def _done(self, item: _Item) -> None:
        batch = item.batch
        batch.remaining -= 1
        if batch.remaining == 0 and batch.size >= cronplan.MIN_RATE_SAMPLE:
            elapsed = max(time.monotonic() - batch.started, 1e-3)
            self.create_rate = cronplan.ewma(self.create_rate, batch.size / elapsed)
            log.info(
                "storm staged", objects=batch.size, seconds=round(elapsed, 3), rate=round(self.create_rate)
            )

    def _count(self, outcome: str) -> None:
        self._metrics.cron_fires.labels(outcome=outcome).inc()

    async def _create(self, item: _Item) -> bool:
        """Creates one slot's object. Returns True when it is worth another try later."""
        entry, slot = item.entry, item.slot
        if entry.key not in self.entries:
            return False  # removed (or its namespace opted out) since it was staged
        runs = self._runs(entry)
        name = slot_object_name(entry, slot)
        if name in runs:
            if runs[name].uid == item.replaces:
                return True  # the lost pod is still on its way out
            self._count("exists")
            return False
        refused = await self._check_service_accounts(entry)
        if refused is not None:
            return refused
        decision = cronplan.concurrency_decision(entry.concurrency_policy, runs.values(), slot)
        if decision.action is cronplan.SlotAction.SKIP:
            self._count("skipped")
            names = ", ".join(run.name for run in decision.previous)
            self._emit(
                entry,
                "Normal",
                "JobAlreadyActive",
                f"entry {entry.name}: skipped {rfc3339(slot)} (concurrencyPolicy Forbid): {names} still active",
            )
            return False
        if decision.action is cronplan.SlotAction.REPLACE:
            for run in decision.previous:
                if not await pods.delete(self._client, run.kind, run.namespace, run.name, run.uid):
                    return True
            self._count("replaced")
        body = build_slot_object(entry, slot, self._settings.scheduler_name)
        result = await pods.create(self._client, body, attempts=3)
        outcome = result.outcome
        if outcome is pods.CreateOutcome.CREATED:
            self._count("created")
            if result.obj is not None:
                (self.jobs if entry.kind == "Job" else self.pods).remember(result.obj)
            return False
        if outcome is pods.CreateOutcome.EXISTS:
            self._count("exists")
            return False
        if outcome is pods.CreateOutcome.REJECTED and result.status == 403:
            # Not the entry's fault: RBAC (or a quota, or a policy webhook) refuses jobsched here.
            self._count("forbidden")
            self._emit(
                entry,
                "Warning",
                "CreateForbidden",
                f"entry {entry.name}: the apiserver refused to let jobsched create the {entry.kind}"
                f" for {rfc3339(slot)} in namespace {entry.namespace} (HTTP 403): {result.message}",
            )
            log.warning(
                "cron object create forbidden", entry=entry.key, status=result.status, message=result.message
            )
            return False
        if outcome is pods.CreateOutcome.REJECTED:
            self._count("rejected")
            self._metrics.cron_invalid.labels(field="template").inc()
            self._emit(
                entry,
                "Warning",
                "InvalidCronEntry",
                f"entry {entry.name}: field template: the apiserver rejected the {entry.kind}"
                f" (HTTP {result.status}): {result.message}",
            )
            log.warning(
                "cron object rejected",
                entry=entry.key,
                field="template",
                status=result.status,
                message=result.message,
            )
            return False
        log.warning(
            "cron object create failed", entry=entry.key, status=result.status, message=result.message
        )
        return True

    async def _check_service_accounts(self, entry: CronEntry) -> bool | None:
        """None when every service account the template names exists in the entry's namespace.

        Otherwise the slot is not created: a missing account (or one jobsched may not look up) is
        reported as an invalid entry, and the result says whether to try again (only when the
        apiserver could not answer). Lookups are cached, so a storm costs one GET per account.
        """
        for path, account in service_account_refs(entry):
            answer = await self.accounts.lookup(entry.namespace, account)
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
            self._count("rejected")
            self._metrics.cron_invalid.labels(field=cronplan.field_label(path)).inc()
            log.warning(
                "invalid cron entry",
                configmap=f"{entry.namespace}/{entry.configmap}",
                entry=entry.name,
                field=path,
                message=message,
            )
            self._emit(
                entry,
                "Warning",
                "InvalidCronEntry",
                f"entry {entry.name}: field {path}: {message}",
                action="Validating",
            )
            return False
        return None

    # --- pods whose node is gone (NodeLossSweep) ----------------------------------------------------

    def _all_pod_runs(self) -> Iterator[RunRecord]:
        for group in self.pods.runs.values():
            yield from group.values()

    def _entry_of(self, run: RunRecord) -> CronEntry | None:
        return self._by_label.get((run.namespace, run.entry_label))

    def _recreate_lost(self, entry: CronEntry, run: RunRecord) -> None:
        """Creates a lost pod's slot again (same name) once the old pod is gone, within its deadline."""
        if run.scheduled is None:
            return
        cap = entry.starting_deadline_seconds
        deadline = run.scheduled + timedelta(seconds=RETRY_CAP_S if cap is None else cap)
        if self._clock() >= deadline:
            self._report_entry(
                entry, "NodeLost", f"entry {entry.name}: too late to run {rfc3339(run.scheduled)} again"
            )
            return
        self._count("node_lost")
        assert self._send is not None
        self._queued += 1
        self._send.send_nowait(_Item(entry, run.scheduled, deadline, _Batch(1), replaces=run.uid))

    # --- reporting -------------------------------------------------------------------------------

    def _report_entry(self, entry: CronEntry, reason: str, note: str) -> None:
        self._emit(entry, "Warning", reason, note)

    def _emit(self, entry: CronEntry, type_: str, reason: str, note: str, action: str = "Scheduling") -> None:
        parsed = self._owner.get(entry.key)
        uid = parsed.uid if parsed else ""
        ref = ObjectRef("ConfigMap", entry.namespace, entry.configmap, uid)
        self._events.emit(EventRecord(ref, type_, reason, action, note))

    def _report_problems(self, parsed: ParsedConfigMap) -> None:
        ref = ObjectRef("ConfigMap", parsed.namespace, parsed.name, parsed.uid)
        for problem in parsed.problems:
            label = cronplan.field_label(problem.field)
            self._metrics.cron_invalid.labels(field=label).inc()
            log.warning(
                "invalid cron entry",
                configmap=problem.configmap,
                entry=problem.entry,
                field=problem.field,
                message=problem.message,
            )
            self._events.emit(EventRecord(ref, "Warning", "InvalidCronEntry", "Validating", _note(problem)))

    def _report_disabled(self, key: Key, parsed: ParsedConfigMap) -> None:
        if key in self._reported_disabled:
            return
        self._reported_disabled.add(key)
        self._metrics.cron_invalid.labels(field="namespace").inc()
        note = (
            f"namespace {parsed.namespace} has not opted in to jobsched"
            f" (label {self._cron.namespace_label}); none of this ConfigMap's entries run"
        )
        log.warning("cron ConfigMap in a namespace that has not opted in", configmap=f"{key[0]}/{key[1]}")
        ref = ObjectRef("ConfigMap", parsed.namespace, parsed.name, parsed.uid)
        self._events.emit(EventRecord(ref, "Warning", "NamespaceNotEnabled", "Validating", note))

    # --- housekeeping: status, finalizers, history -----------------------------------------------

    async def _housekeeping(self) -> None:
        limiter = anyio.CapacityLimiter(HOUSEKEEPING_IN_FLIGHT)
        while True:
            await anyio.sleep(HOUSEKEEPING_PERIOD_S)
            if self.busy():
                continue
            try:
                await self._housekeep(limiter)
            except Exception:
                log.exception("cron housekeeping failed; trying again later")

    async def _housekeep(self, limiter: anyio.CapacityLimiter) -> None:
        self.accounts.forget_expired()
        # Outcomes are recorded (status written) before any finalizer is released.
        to_release = list(self.pods.to_release.values())
        unwritten = await self._write_statuses(limiter)
        async with anyio.create_task_group() as tg:
            for pod in to_release:
                labels = pod["metadata"].get("labels") or {}
                source = labels.get(CONFIGMAP_LABEL)
                if (pod["metadata"].get("namespace"), source) in unwritten:
                    continue
                tg.start_soon(self._release, pod, limiter)
        if self.busy():
            return
        async with anyio.create_task_group() as tg:
            for entry in list(self.entries.values()):
                prune = cronplan.history_to_prune(
                    self._runs(entry).values(),
                    successful=entry.successful_history,
                    failed=entry.failed_history,
                )
                for run in prune:
                    tg.start_soon(self._prune, run, limiter)

    async def _release(self, pod: dict[str, Any], limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            if await pods.remove_finalizer(self._client, pod, TRACKING_FINALIZER):
                self.pods.to_release.pop(str(pod["metadata"].get("uid")), None)

    async def _prune(self, run: RunRecord, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            if await pods.delete(self._client, run.kind, run.namespace, run.name, run.uid):
                log.debug("pruned cron history", kind=run.kind, name=run.name)

    async def _write_statuses(self, limiter: anyio.CapacityLimiter) -> set[Key]:
        """Merges every entry's status from its runs and writes the changed ones; returns the
        ConfigMaps whose status could not be written."""
        documents: dict[Key, dict[str, cronplan.EntryStatus]] = {}
        for key, entry in self.entries.items():
            status = cronplan.merge_status(self.status.get(key), self._runs(entry).values())
            self.status[key] = status
            documents.setdefault((entry.namespace, entry.configmap), {})[entry.name] = status
        failed: set[Key] = set()

        async def write(cm: Key, document: dict[str, Any]) -> None:
            async with limiter:
                if not await self._write_document(cm, document):
                    failed.add(cm)

        async with anyio.create_task_group() as tg:
            for cm, statuses in documents.items():
                document = cronplan.status_document(statuses)
                if self._written.get(cm) != document:
                    tg.start_soon(write, cm, document)
        return failed

    async def _write_status_of(self, cm: Key) -> bool:
        """Writes one ConfigMap's status document from what the engine knows now."""
        statuses = {
            e.name: self.status[k]
            for k, e in self.entries.items()
            if (e.namespace, e.configmap) == cm and k in self.status
        }
        return await self._write_document(cm, cronplan.status_document(statuses))

    async def _write_document(self, cm: Key, document: dict[str, Any]) -> bool:
        parsed = self.configmaps.configmaps.get(cm)
        uid = parsed.uid if parsed else ""
        if await write_status(self._client, cm[0], cm[1], uid, document):
            self._written[cm] = document
            return True
        return False


def _note(problem: Problem) -> str:
    who = f"entry {problem.entry}: " if problem.entry else ""
    return f"{who}field {problem.field}: {problem.message}"
