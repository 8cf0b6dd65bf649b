"""The planner: which entries exist, which slot each fires next, and when a storm must start staging.

It keeps the entry set current with the sources and the opted-in namespaces, takes each new entry on
(recovering its last slot from what was recorded and what runs exist, and firing the latest missed slot
if still due), and groups entries by the instant they fire: a storm. A storm's staging starts `lead`
seconds ahead of its instant, the lead sized from its size, the create rates measured so far and, for
Jobs, the rate their pods were seen to appear. The decisions are pure functions in
`jobsched.core.cronplan` and `cronslots`; this class holds the state.

An adopted CronJob's missed slots are never fired from here: after downtime they belong to the native
controller, which fires the latest one at once (batch/v1's own rule); jobsched takes the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import structlog

from jobsched.core import cronplan
from jobsched.core.cronentry import CronEntry
from jobsched.core.cronruns import RunRecord
from jobsched.core.cronslots import ScheduleKey, due_slot, group_instants, schedule_groups
from jobsched.core.naming import entry_label_value, rfc3339
from jobsched.kube.events import ObjectRef
from jobsched.runtime.cron.reporter import Reporter
from jobsched.runtime.cron.sources import EntrySource, SourceDocument
from jobsched.runtime.cron.stores import NamespaceStore
from jobsched.runtime.metrics import Metrics
from jobsched.settings import CronSettings

log = structlog.get_logger(__name__)

STAGED_MEMORY = timedelta(minutes=5)  # how long a staged instant is remembered (for busy())
Storm = tuple[datetime, list[CronEntry]]


class Planner:
    def __init__(
        self,
        settings: CronSettings,
        sources: Sequence[EntrySource],
        namespaces: NamespaceStore,
        runs: Callable[[CronEntry], Mapping[str, RunRecord]],
        reporter: Reporter,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._sources = sources
        self._namespaces = namespaces
        self._runs = runs
        self._reporter = reporter
        self._metrics = metrics
        self.entries: dict[str, CronEntry] = {}  # key -> entry, opted-in namespaces only
        self.status: dict[str, cronplan.EntryStatus] = {}  # written through set_status
        # Bumped whenever the entry set, a source document or a status changes: whatever is derived from
        # them alone (the per-entry metrics) is up to date while it stays the same.
        self.generation = 0
        self._document: dict[str, SourceDocument] = {}  # entry key -> its source document
        self._source: dict[str, EntrySource] = {}  # entry key -> the source it came from
        self._by_label: dict[tuple[str, str], CronEntry] = {}  # (namespace, entry label) -> entry
        self._handled: dict[str, datetime] = {}  # entry key -> newest slot staged or decided
        self._staged: dict[datetime, int] = {}  # instant -> objects staged for it
        # The entry set grouped by schedule, rebuilt only when the set changes (reconcile replaces it),
        # and the (group, instant) pairs already staged: a plan tick between a storm's staging and its
        # instant then costs nothing per entry.
        self._groups_of: dict[str, CronEntry] | None = None
        self._groups: dict[ScheduleKey, list[CronEntry]] = {}
        self._done: set[tuple[ScheduleKey, datetime]] = set()
        # A coming storm's members and shape, kept while its lead is waited out (a tick recomputed
        # them for every entry); valid until the entry set changes or the storm is staged.
        self._coming: dict[
            tuple[datetime, tuple[ScheduleKey, ...]], tuple[list[CronEntry], cronplan.StormShape]
        ] = {}

    # --- lookups -----------------------------------------------------------------------------------

    def ref(self, entry: CronEntry) -> ObjectRef:
        """The entry's source object, where its Events go."""
        document = self._document.get(entry.key)
        if document is not None:
            return document.ref
        if entry.origin is not None:
            return ObjectRef("CronJob", entry.namespace, entry.name, entry.origin.uid, api_version="batch/v1")
        return ObjectRef("ConfigMap", entry.namespace, entry.configmap)

    def source_of(self, entry: CronEntry) -> EntrySource | None:
        return self._source.get(entry.key)

    def document_of(self, entry: CronEntry) -> SourceDocument | None:
        return self._document.get(entry.key)

    def entry_of_run(self, run: RunRecord) -> CronEntry | None:
        return self._by_label.get((run.namespace, run.entry_label))

    def entry_of_label(self, namespace: str, entry_label: str) -> CronEntry | None:
        return self._by_label.get((namespace, entry_label))

    def recorded(self, entry: CronEntry) -> cronplan.EntryStatus | None:
        source = self._source.get(entry.key)
        return source.recorded(entry) if source is not None else None

    def set_status(self, key: str, status: cronplan.EntryStatus) -> None:
        if self.status.get(key) != status:
            self.status[key] = status
            self.generation += 1

    # --- the entry set -----------------------------------------------------------------------------

    def reconcile(self, now: datetime) -> list[tuple[CronEntry, datetime]]:
        """Brings the entry set up to date; reports bad input once. Returns missed slots to fire now."""
        enabled = self._namespaces.enabled
        entries: dict[str, CronEntry] = {}
        document_of: dict[str, SourceDocument] = {}
        source_of: dict[str, EntrySource] = {}
        present: set[ObjectRef] = set()
        for source in self._sources:
            for document in source.documents():
                present.add(document.ref)
                if document.ref.namespace not in enabled:
                    self._reporter.namespace_not_enabled(document)
                    continue
                self._reporter.namespace_enabled(document)
                self._reporter.problems(document)
                for entry in document.entries:
                    entries[entry.key] = entry
                    document_of[entry.key] = document
                    source_of[entry.key] = source
        self._reporter.forget_gone(present)
        for gone in self._handled.keys() - entries.keys():
            del self._handled[gone]
            self.status.pop(gone, None)
        self.entries, self._document, self._source = entries, document_of, source_of
        self.generation += 1
        self._by_label = {(e.namespace, entry_label_value(e)): e for e in entries.values()}
        self._metrics.cron_entries.set(len(entries))
        fire_now: list[tuple[CronEntry, datetime]] = []
        for key, entry in entries.items():
            if key not in self._handled:
                slot = self._first_sight(entry, now)
                if slot is not None:
                    fire_now.append((entry, slot))
        return fire_now

    def _first_sight(self, entry: CronEntry, now: datetime) -> datetime | None:
        """An entry taken on: recover its last slot; the latest missed slot, if still due."""
        runs = self._runs(entry).values()
        recorded = self.recorded(entry)
        status = cronplan.first_sight(recorded, runs, now)
        self.set_status(entry.key, status)
        last = status.last_schedule_time
        if entry.origin is not None:
            self._handled[entry.key] = max(last, now) if last else now
            return None
        # Slots since a leader first recorded the entry were due, even if none of them has a run: a
        # predecessor may have died while staging them. An entry nobody recorded starts afresh.
        decision = due_slot(entry, last, now, created=recorded.tracked_since if recorded else None)
        missed = decision.missed + (1 if decision.too_late else 0)
        if missed:
            self._metrics.cron_missed.inc(missed)
            self._metrics.entries.missed(self.ref(entry), entry.name, "downtime", missed)
            more = "+" if decision.missed_capped else ""
            note = (
                f"entry {entry.name}: {missed}{more} slots missed while jobsched was not running"
                f" (last fired {rfc3339(last) if last else 'never'})"
            )
            if decision.too_late and decision.latest is not None:
                note += f"; the latest, {rfc3339(decision.latest)}, is past startingDeadlineSeconds"
            self._reporter.entry(self.ref(entry), entry, "Warning", "MissedSchedules", note)
            log.warning("missed cron slots", entry=entry.key, missed=missed, last=last)
        self._handled[entry.key] = max(last, now) if last else now
        if decision.fire is not None:
            log.info("firing missed slot", entry=entry.key, slot=decision.fire)
        return decision.fire

    # --- storms ------------------------------------------------------------------------------------

    def storms(
        self, now: datetime, create_rates: Mapping[str, float], job_pod_rate: float | None
    ) -> tuple[float, list[Storm]]:
        """The storms whose staging time has come, and the seconds until the next one's."""
        cron = self._settings
        horizon = now + timedelta(seconds=cron.max_lead_s)
        start = now - timedelta(seconds=cron.plan_lookback_s)
        delay = cron.plan_period_s
        # Until measured: the assumed rate, a third of it for an adopted CronJob (three writes a slot).
        assumed = {"Pod": cron.assumed_create_rate, "Job": cron.assumed_create_rate}
        assumed["CronJob"] = cron.assumed_create_rate / 3
        rates = {**assumed, **create_rates}
        pod_rate = job_pod_rate or cron.assumed_job_pod_rate
        storms: list[Storm] = []
        if self._groups_of is not self.entries:  # _handled only changes here or with a new entry set
            self._groups_of, self._groups = self.entries, schedule_groups(self.entries.values())
            self._done.clear()
            self._coming.clear()
        self._done = {(key, instant) for key, instant in self._done if instant > start}
        self._coming = {coming: value for coming, value in self._coming.items() if coming[0] > start}
        for instant, keys in group_instants(self._groups, start, horizon).items():
            keys = [key for key in keys if (key, instant) not in self._done]
            coming = (instant, tuple(keys))
            if coming not in self._coming:
                handled = self._handled
                members = [
                    e
                    for key in keys
                    for e in self._groups[key]
                    if e.key in handled and handled[e.key] < instant
                ]
                self._coming[coming] = (members, cronplan.storm_shape(members))
            members, shape = self._coming[coming]
            if not members:
                self._done.update((key, instant) for key in keys)
                del self._coming[coming]
                continue
            lead = cronplan.storm_lead(
                shape,
                rates,
                pod_rate,
                min_lead=cron.min_lead_s,
                max_lead=cron.max_lead_s,
                margin=cron.lead_margin_s,
            )
            stage_at = instant - timedelta(seconds=lead)
            if stage_at <= now:
                log.info(
                    "staging storm", instant=rfc3339(instant), entries=len(members), lead_s=round(lead, 2)
                )
                for entry in members:
                    self._handled[entry.key] = instant
                storms.append((instant, members))
                self._done.update((key, instant) for key in keys)
                del self._coming[coming]
            else:
                delay = min(delay, (stage_at - now).total_seconds())
        for instant in [i for i in self._staged if i < now - STAGED_MEMORY]:
            del self._staged[instant]
        return max(delay, 0.0), storms

    def staged(self, instant: datetime, count: int) -> None:
        self._staged[instant] = self._staged.get(instant, 0) + count

    def storm_near(self, now: datetime) -> bool:
        """True from a little before a staged instant until a little after it (longer for a big storm)."""
        cron = self._settings
        for instant, count in self._staged.items():
            after = cron.busy_after_s + count / cron.busy_bind_rate
            if instant - timedelta(seconds=cron.busy_before_s) <= now <= instant + timedelta(seconds=after):
                return True
        return False
