"""The cron engine: turns cron entries into Pods (or Jobs) created before their slot.

At a slot's instant T nothing is left to do but bind: the engine creates every object of a storm ahead
of T. Its parts, each handed what it needs:
- the sources (`ConfigMapSource`, `CronJobSource` for adopted CronJobs) parse cron definitions off the
  event loop into entries;
- the `Planner` keeps the entry set and says when each storm's staging must start;
- the `Stager` creates each slot's object, exactly once, through a fixed pool of workers;
- the `Housekeeper` writes status, releases finalizers and prunes history when no storm is near;
- the `Reporter` turns problems and refusals into Events, log lines and metrics;
- the `NodeLossSweep` replaces or fails slot pods whose node is gone;
- the `ProviderFailureReruns` sweep runs a slot again once when its pod failed before it started;
- the `Handover` stages adopted CronJobs' slots (Job, claim, owner) and finishes half-done hand-overs;
- the `JobPodMeter` measures how fast the Job controller makes the pods of staged Jobs.
The engine wires them and runs the plan loop. Its watches (namespaces, ConfigMaps, CronJobs, Jobs, and
its share of the process's one pod watch) run on every replica, so a standby takes over warm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import anyio
import structlog

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronplan import EntryStatus
from jobsched.core.cronruns import RunRecord
from jobsched.core.naming import entry_label_value, rfc3339
from jobsched.kube.client import KubeClient
from jobsched.kube.events import EventWriter
from jobsched.kube.serviceaccounts import ServiceAccountCache
from jobsched.runtime.cron.claims import Claims
from jobsched.runtime.cron.configmaps import ConfigMapSource
from jobsched.runtime.cron.cronjobs import CronJobSource
from jobsched.runtime.cron.handover import Handover
from jobsched.runtime.cron.housekeeper import Housekeeper
from jobsched.runtime.cron.jobpods import JobPodMeter
from jobsched.runtime.cron.node_loss import NodeLossSweep
from jobsched.runtime.cron.planner import Planner
from jobsched.runtime.cron.reporter import Reporter
from jobsched.runtime.cron.reruns import ClusterNodes, ProviderFailureReruns
from jobsched.runtime.cron.sources import EntrySource
from jobsched.runtime.cron.stager import Stager
from jobsched.runtime.cron.stores import JobRuns, Key, NamespaceStore, PodRuns
from jobsched.runtime.metrics import Metrics
from jobsched.settings import Settings

log = structlog.get_logger(__name__)

SYNC_LOG_S = 30.0  # a leader still waiting for its watches says so this often


def _now() -> datetime:
    return datetime.now(UTC)


class CronEngine:
    """Runs the cron entries of every opted-in namespace."""

    def __init__(
        self,
        client: KubeClient,
        settings: Settings,
        metrics: Metrics,
        events: EventWriter,
        clock: Callable[[], datetime] = _now,
        nodes: ClusterNodes | None = None,
        burst: Callable[[], bool] = lambda: False,
    ) -> None:
        self._settings = settings
        self._burst = burst  # the scheduler's: binding, or a burst's pods not yet running
        self._metrics = metrics
        self._metrics_generation: int | None = None  # the planner generation the entry metrics show
        self._clock = clock
        self._wake = anyio.Event()
        self._dirty = True
        self.handover: Handover | None = None
        self.namespaces = NamespaceStore(self._changed)
        self.configmaps = ConfigMapSource(client, settings, self._changed)
        self.cronjobs = (
            CronJobSource(settings, self._changed, self._touched) if settings.cron.adopt_cronjobs else None
        )
        self.sources: list[EntrySource] = [self.configmaps]
        if self.cronjobs is not None:
            self.sources.append(self.cronjobs)
        self.job_pods = JobPodMeter()
        self.pods = PodRuns(job_pod=self.job_pods.seen)
        self.jobs = JobRuns(touched=self._touched)
        self.accounts = ServiceAccountCache(client)
        self.reporter = Reporter(events, metrics, settings.cron.namespace_label)
        self.planner = Planner(
            settings.cron, self.sources, self.namespaces, self.runs, self.reporter, metrics
        )
        if self.cronjobs is not None:
            self.handover = Handover(
                client,
                settings,
                self.cronjobs,
                self.jobs,
                Claims(client, self.reporter, metrics),
                self.reporter,
                entries=lambda: self.planner.entries,
                busy=self.holding,
                clock=clock,
            )
        self.stager = Stager(
            client,
            settings,
            self.pods,
            self.jobs,
            self.accounts,
            self.reporter,
            entries=lambda: self.planner.entries,
            runs=self.runs,
            ref=self.planner.ref,
            clock=clock,
            handover=self.handover,
            job_pods=self.job_pods,
        )
        self.reruns = ProviderFailureReruns(
            settings,
            nodes,
            lambda: list(self.pods.failed.values()),
            self.planner.entry_of_run,
            self.runs,
            self.stager,
            lambda entry, type_, reason, note: self.reporter.entry(
                self.planner.ref(entry), entry, type_, reason, note
            ),
            metrics,
            clock,
        )
        self.housekeeper = Housekeeper(
            client,
            settings.cron,
            self.planner,
            self.pods,
            self.jobs,
            self.runs,
            self.accounts,
            self.holding,
            hold=self.reruns.holds,
        )
        self._node_loss = (
            None
            if nodes is None
            else NodeLossSweep(
                client,
                nodes,
                self.pods.all,
                self.planner.entry_of_run,
                self._recreate_lost,
                self._report_loss,
                settings.cron.node_loss_grace_s,
                settings.cron.node_loss_sweep_s,
            )
        )

    @property
    def entries(self) -> dict[str, CronEntry]:
        return self.planner.entries

    def runs(self, entry: CronEntry) -> Mapping[str, RunRecord]:
        label = entry_label_value(entry)
        pod_runs = self.pods.of(entry.namespace, label)
        job_runs = self.jobs.of(entry.namespace, label)
        return {**pod_runs, **job_runs} if job_runs else pod_runs

    def _changed(self) -> None:
        self._dirty = True
        self._wake.set()

    def _touched(self, key: Key) -> None:
        """An adopted CronJob (namespace, name), or one of its Jobs, changed."""
        if self.handover is not None:
            self.handover.touch(key)

    def busy(self) -> bool:
        """True while a storm is being staged, or one of its instants is a few seconds away or just past."""
        return bool(self.stager.queued) or self.planner.storm_near(self._clock())

    def holding(self) -> bool:
        """Whether writes that can wait (status, finalizer release, pruning, hand-over clean-up, per-entry
        metrics) wait now: while this engine is busy, and while the scheduler's burst has pods bound but
        not yet running, so they never compete with the node agents reporting those pods."""
        return self.busy() or self._burst()

    # --- running -----------------------------------------------------------------------------------

    async def run_standby(self) -> None:
        """Runs on every replica: the sources keep their entries parsed, so a standby takes over warm."""
        async with anyio.create_task_group() as tg:
            for source in self.sources:
                tg.start_soon(source.run)

    async def run_leader(self) -> None:
        """The writing half, only while leading: once synced, the planner, stager and housekeeping."""
        async with anyio.create_task_group() as tg:
            await self._wait_synced()
            log.info(
                "cron engine synced", entries=sum(len(d.entries) for s in self.sources for d in s.documents())
            )
            tg.start_soon(self.stager.run_workers)
            tg.start_soon(self.housekeeper.run)
            tg.start_soon(self.reruns.run)
            if self.handover is not None:
                tg.start_soon(self.handover.run)
            tg.start_soon(self._publish_entry_metrics)
            if self._node_loss is not None:
                tg.start_soon(self._node_loss.run)
            self._changed()  # plan at once from what the standby already knows
            await self._plan_loop()

    def synced(self) -> bool:
        """Every watch the engine is fed by has listed, and every source has parsed what it listed."""
        stores_listed = self.namespaces.listed and self.pods.listed and self.jobs.listed
        return stores_listed and all(s.synced.is_set() for s in self.sources)

    async def _wait_synced(self) -> None:
        while not self.synced():
            with anyio.move_on_after(SYNC_LOG_S) as scope:
                while not self.synced():  # noqa: ASYNC110 - several sources and watches, polled
                    await anyio.sleep(0.05)
            if scope.cancelled_caught:
                log.warning("cron engine still waiting for its watches and sources to sync")

    async def _plan_loop(self) -> None:
        while True:
            self._wake = anyio.Event()
            now = self._clock()
            if self._dirty:
                self._dirty = False
                for entry, slot in self.planner.reconcile(now):
                    self.stager.stage([entry], slot)
                self.housekeeper.entries_changed()
            self.stager.requeue_due()
            self.job_pods.expire(now)
            delay, storms = self.planner.storms(now, self.stager.create_rates, self.job_pods.rate)
            for instant, members in storms:
                await self.housekeeper.record_tracking(members)
                self.planner.staged(instant, len(members))
                self.stager.stage(members, instant)
            with anyio.move_on_after(delay):
                await self._wake.wait()

    # --- per-entry metrics ----------------------------------------------------------------------------

    def publish_entry_metrics(self) -> None:
        """Every entry's per-entry series, from the status the housekeeper last merged (or recorded); an
        adopted CronJob's from its own status, which the hand-over and the native controller keep.

        Skipped while the planner's generation is the one last published: an entry's values then depend
        on nothing that changed (on the clock only for an entry without a status, which forces the next
        pass), so a 10,000-entry set is not walked every housekeeping period for nothing.
        """
        planner = self.planner
        if planner.generation == self._metrics_generation:
            return
        timeless = True

        def status(key: str, entry: CronEntry) -> EntryStatus | None:
            nonlocal timeless
            if entry.origin is not None:
                found = planner.recorded(entry)
            else:
                found = planner.status.get(key) or planner.recorded(entry)
            timeless = timeless and found is not None
            return found

        self._metrics.entries.publish(
            ((planner.ref(entry), entry, status(key, entry)) for key, entry in planner.entries.items()),
            self._clock(),
        )
        self._metrics_generation = planner.generation if timeless else None

    async def _publish_entry_metrics(self) -> None:
        if not self._metrics.entries.enabled:
            return
        while True:
            if not self.holding():  # off the storm, like the housekeeping it follows
                self.publish_entry_metrics()
            await anyio.sleep(self._settings.cron.housekeeping_period_s)

    # --- pods whose node is gone (NodeLossSweep) ---------------------------------------------------

    def _recreate_lost(self, entry: CronEntry, run: RunRecord) -> None:
        if self.stager.recreate(entry, run):
            self.reporter.count("node_lost")
            return
        slot = rfc3339(run.scheduled) if run.scheduled else "its slot"
        self._metrics.entries.missed(self.planner.ref(entry), entry.name, "node_lost")
        self._report_loss(entry, "NodeLost", f"entry {entry.name}: too late to run {slot} again")

    def _report_loss(self, entry: CronEntry, reason: str, note: str) -> None:
        self.reporter.entry(self.planner.ref(entry), entry, "Warning", reason, note)
