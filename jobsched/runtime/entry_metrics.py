"""Per-entry metrics: what kube-state-metrics exports for each CronJob, for every cron entry jobsched runs.

Once CronJobs are replaced by ConfigMap entries, `kube_cronjob_status_last_successful_time` and the alerts
built on it are gone; these series take their place, labelled (namespace, source, entry) where source is
"ConfigMap/<name>" (or "CronJob/<name>" for an adopted CronJob):

  jobsched_cron_entry_last_schedule_time_seconds     the last slot fired (absent until one has)
  jobsched_cron_entry_last_successful_time_seconds   when a run last succeeded (absent until one has)
  jobsched_cron_entry_next_schedule_time_seconds     the slot after the last fired; in the past while one
                                                     is overdue (absent while suspended)
  jobsched_cron_entry_active_runs                    runs not finished
  jobsched_cron_entry_slots_since_last_success       slots fired since the last success (capped at 100)
  jobsched_cron_entry_missed_slots_total{reason}     slots that did not run, by reason

Cardinality: at most 5 series per entry, plus one per (entry, reason) that ever missed a slot. Only the
leader exports them (its cron engine publishes; a standby exports none), and an entry's series go when
the entry goes. `metrics.perEntry: false` turns them all off.

Values are computed by `jobsched.core.entrymetrics` when an entry's status changes, off the storm
(the engine publishes when not busy); a scrape renders the last published snapshot from its own thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jobsched.core.cronplan import EntryStatus
from jobsched.core.cronspec import CronEntry
from jobsched.core.entrymetrics import EntrySample, entry_sample
from jobsched.kube.events import ObjectRef

LABELS: Final = ("namespace", "source", "entry")
Labels = tuple[str, str, str]

# Why a slot did not run: the `reason` label of jobsched_cron_entry_missed_slots_total.
MISSED_REASONS: Final = {
    "downtime": "it fell while no leader ran and was not replayed (or was past startingDeadlineSeconds)",
    "concurrency": "skipped by concurrencyPolicy Forbid while an earlier run was active",
    "create_failed": "its object could not be created before the slot's deadline",
    "create_forbidden": "the apiserver refused jobsched the create (HTTP 403: RBAC, quota, policy)",
    "invalid": "the cluster showed the entry invalid (a missing service account, a rejected template)",
    "node_lost": "its pod's node vanished before it started and it was too late to create it again",
}
# Events on an entry that each mean one of its slots did not run (what the stager reports).
MISSED_BY_EVENT: Final = {
    "FailedCreate": "create_failed",
    "JobAlreadyActive": "concurrency",
    "CreateForbidden": "create_forbidden",
}


def labels_of(ref: ObjectRef, entry: str) -> Labels:
    """(namespace, source, entry) for an entry of the source object `ref`."""
    return (ref.namespace, f"{ref.kind}/{ref.name}", entry)


class EntryMetrics(Collector):
    """The per-entry series: published by the leader's cron engine, rendered on scrape."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        # Replaced whole on publish, so a scrape thread always reads one consistent snapshot.
        self._samples: tuple[tuple[Labels, EntrySample], ...] = ()
        self._memo: dict[Labels, tuple[str, EntryStatus | None, EntrySample]] = {}
        self._missed: dict[tuple[Labels, str], int] = {}

    def missed(self, ref: ObjectRef, entry: str, reason: str, count: int = 1) -> None:
        """`count` slots of the entry did not run, for `reason` (a key of MISSED_REASONS)."""
        if not self.enabled or count <= 0:
            return
        if reason not in MISSED_REASONS:
            raise ValueError(f"unknown missed-slot reason {reason!r}")
        key = (labels_of(ref, entry), reason)
        self._missed[key] = self._missed.get(key, 0) + count

    def publish(
        self, entries: Iterable[tuple[ObjectRef, CronEntry, EntryStatus | None]], now: datetime
    ) -> None:
        """Sets the series from every current entry's status; entries not given lose their series."""
        if not self.enabled:
            return
        samples: list[tuple[Labels, EntrySample]] = []
        memo: dict[Labels, tuple[str, EntryStatus | None, EntrySample]] = {}
        for ref, entry, status in entries:
            labels = labels_of(ref, entry.name)
            known = self._memo.get(labels)
            # next_schedule does not depend on `now` once a slot fired or tracking began.
            if (
                known is not None
                and known[0] == entry.spec_hash
                and known[1] == status
                and status is not None
            ):
                sample = known[2]
            else:
                sample = entry_sample(entry, status, now)
            memo[labels] = (entry.spec_hash, status, sample)
            samples.append((labels, sample))
        self._memo = memo
        self._samples = tuple(samples)
        if any(labels not in memo for labels, _ in self._missed):
            self._missed = {key: value for key, value in self._missed.items() if key[0] in memo}

    def describe(self) -> Iterator[Metric]:
        return self._families((), [])

    def collect(self) -> Iterator[Metric]:
        # list() of a dict's items runs in C under the GIL: a consistent copy even while the loop adds.
        return self._families(self._samples, list(self._missed.items()))

    def _families(
        self,
        samples: tuple[tuple[Labels, EntrySample], ...],
        missed_counts: list[tuple[tuple[Labels, str], int]],
    ) -> Iterator[Metric]:
        prefix = "jobsched_cron_entry_"
        last = GaugeMetricFamily(
            prefix + "last_schedule_time_seconds",
            "The last slot the entry fired (kube_cronjob_status_last_schedule_time), epoch seconds.",
            labels=LABELS,
        )
        success = GaugeMetricFamily(
            prefix + "last_successful_time_seconds",
            "When a run of the entry last succeeded (kube_cronjob_status_last_successful_time), epoch seconds.",
            labels=LABELS,
        )
        following = GaugeMetricFamily(
            prefix + "next_schedule_time_seconds",
            "The slot after the last one fired (kube_cronjob_next_schedule_time); in the past while a slot "
            "is overdue; absent while suspended. Epoch seconds.",
            labels=LABELS,
        )
        active = GaugeMetricFamily(
            prefix + "active_runs",
            "Runs of the entry not finished (kube_cronjob_status_active).",
            labels=LABELS,
        )
        unsuccessful = GaugeMetricFamily(
            prefix + "slots_since_last_success",
            "Slots fired since the entry last succeeded, the newest possibly still running (capped at 100).",
            labels=LABELS,
        )
        for labels, sample in samples:
            values = list(labels)
            if sample.last_schedule is not None:
                last.add_metric(values, sample.last_schedule)
            if sample.last_success is not None:
                success.add_metric(values, sample.last_success)
            if sample.next_schedule is not None:
                following.add_metric(values, sample.next_schedule)
            active.add_metric(values, sample.active)
            unsuccessful.add_metric(values, sample.slots_since_success)
        missed = CounterMetricFamily(
            prefix + "missed_slots",
            "Slots of the entry that did not run, by reason: "
            + "; ".join(f"{reason}: {meaning}" for reason, meaning in MISSED_REASONS.items()),
            labels=(*LABELS, "reason"),
        )
        for (labels, reason), count in missed_counts:
            missed.add_metric([*labels, reason], count)
        yield from (last, success, following, active, unsuccessful, missed)
