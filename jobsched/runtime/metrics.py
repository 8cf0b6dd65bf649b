"""Prometheus metrics, named like kube-scheduler's where one exists so existing dashboards work.

Each Metrics instance has its own registry, so tests and several schedulers in one process never
collide on the global one. The registry carries prometheus-client's process, platform and GC
collectors too (`process_*`, `python_*`), as the default registry would.

Which replica reports what: the capacity gauges and the process's own metrics come from every
replica; the queue (`scheduler_pending_pods`), binding and cron metrics only from the leader, since a
standby places, binds and fires nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from jobsched.runtime.entry_metrics import EntryMetrics

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 120)
# kube-scheduler's for pod_scheduling_sli_duration_seconds: exponential from 10 ms, doubling, 20 buckets.
SLI_BUCKETS: Final = tuple(0.01 * 2**i for i in range(20))
MAX_ATTEMPTS_LABEL: Final = 15  # kube-scheduler caps the attempts label at "15+"


def attempts_label(attempts: int) -> str:
    """The `attempts` label of scheduler_pod_scheduling_sli_duration_seconds, as kube-scheduler sets it."""
    return f"{MAX_ATTEMPTS_LABEL}+" if attempts >= MAX_ATTEMPTS_LABEL else str(attempts)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    per_entry: bool = True  # the per-entry cron series (setting metrics.perEntry)

    def __post_init__(self) -> None:
        r = self.registry
        self.entries = EntryMetrics(self.per_entry)  # rendered apart: see exposition()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        if GC_COLLECTOR is not None:  # None on interpreters without gc.get_stats
            GCCollector(registry=r)
        self._storm_instant = float("-inf")
        self._storm_max = 0.0
        # kube-scheduler's names.
        self.schedule_attempts = Counter(
            "scheduler_schedule_attempts_total",
            "Scheduling attempts by result (scheduled, unschedulable, error).",
            ["result", "profile"],
            registry=r,
        )
        self.pending_pods = Gauge(
            "scheduler_pending_pods",
            "Pending pods by queue (active, backoff, unschedulable, gated: placed, waiting for their fire time).",
            ["queue"],
            registry=r,
        )
        self.attempt_duration = Histogram(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency per pod (placement of its batch, amortised).",
            ["result", "profile"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pod_scheduling_sli = Histogram(
            "scheduler_pod_scheduling_sli_duration_seconds",
            "E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue "
            "(is first seen pending) to its binding, over all its scheduling attempts. As upstream "
            "excludes time held by schedulingGates, the wait for a cron pod's fire time is excluded: "
            "for a pod pre-staged before its slot this is the time from the slot to its binding.",
            ["attempts"],
            buckets=SLI_BUCKETS,
            registry=r,
        )
        self.binding_duration = Histogram(
            "scheduler_binding_duration_seconds",
            "Binding API call latency.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # jobsched's own.
        self.binds = Counter(
            "jobsched_binds_total", "Binding outcomes by domain.", ["domain", "outcome"], registry=r
        )
        self.fallbacks = Counter(
            "jobsched_fallbacks_total",
            "Pods placed in a later domain of their chain than the first.",
            ["from_domain", "to_domain"],
            registry=r,
        )
        self.domain_allocatable = Gauge(
            "jobsched_domain_allocatable",
            "Allocatable resources per domain.",
            ["domain", "resource"],
            registry=r,
        )
        self.domain_requested = Gauge(
            "jobsched_domain_requested",
            "Requested (bound plus assumed) resources per domain.",
            ["domain", "resource"],
            registry=r,
        )
        self.domain_nodes = Gauge(
            "jobsched_domain_nodes", "Schedulable nodes per domain.", ["domain"], registry=r
        )
        self.domain_launch_tokens = Gauge(
            "jobsched_domain_launch_tokens",
            "Launch tokens the domain's provider has left, by jobsched's projection of its token bucket.",
            ["domain"],
            registry=r,
        )
        self.domain_launch_backlog = Gauge(
            "jobsched_domain_launch_backlog",
            "Pods queued at the domain's provider for a launch token, by jobsched's projection.",
            ["domain"],
            registry=r,
        )
        self.domain_spilled = Counter(
            "jobsched_domain_spilled_total",
            "Pods sent on to the next domain of their chain by this domain's provider limits "
            "(reason launch_rate: it would start too late; quota: maxPods reached).",
            ["domain", "reason"],
            registry=r,
        )
        self.domain_reruns = Counter(
            "jobsched_domain_reruns_total",
            "Cron slots run again on the next domain after their pod failed in this domain before any "
            "container started (a provider failure such as ProviderFailed).",
            ["domain"],
            registry=r,
        )
        self.fire_to_bound = Histogram(
            "jobsched_fire_to_bound_seconds",
            "From a cron slot's scheduled time to its pod's binding.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.storm_fire_to_bound_max = Gauge(
            "jobsched_storm_fire_to_bound_max_seconds",
            "The slowest fire→bound of the most recent fire instant (a storm's last pod); the histogram's "
            "buckets only bound it.",
            registry=r,
        )
        self.events_dropped = Counter(
            "jobsched_events_dropped_total",
            "Events dropped because the deferred queue overflowed.",
            registry=r,
        )
        self.cron_fires = Counter(
            "jobsched_cron_fires_total", "Cron slots fired, by outcome.", ["outcome"], registry=r
        )
        self.cron_missed = Counter(
            "jobsched_cron_missed_slots_total",
            "Slots missed during downtime and not replayed (only the latest within the deadline fires).",
            registry=r,
        )
        self.cron_invalid = Counter(
            "jobsched_cron_invalid_entries_total",
            "Cron entries rejected by validation or by the apiserver, by field.",
            ["field"],
            registry=r,
        )
        self.cronjob_writes = Counter(
            "jobsched_cronjob_handover_writes_total",
            "Writes of the CronJob hand-over (claim, own, release, cancel, replace, deadline), by outcome.",
            ["step", "outcome"],
            registry=r,
        )
        self.cron_entries = Gauge("jobsched_cron_entries", "Valid cron entries loaded.", registry=r)
        self.is_leader = Gauge("jobsched_leader", "1 while this instance holds the leader lease.", registry=r)

    def exposition(self) -> bytes:
        """Everything /metrics serves: the registry's metrics, then the per-entry series (rendered by
        `EntryMetrics` itself, which is far cheaper at 10,000 entries than a registry scrape)."""
        return generate_latest(self.registry) + self.entries.exposition()

    def observe_fire_to_bound(self, fire_at: float, seconds: float) -> None:
        """One slot pod bound `seconds` after its fire instant `fire_at` (epoch seconds)."""
        self.fire_to_bound.observe(seconds)
        if fire_at > self._storm_instant:
            self._storm_instant, self._storm_max = fire_at, seconds
        elif fire_at < self._storm_instant or seconds <= self._storm_max:
            return  # a late pod of an older storm, or not the slowest
        self._storm_max = seconds
        self.storm_fire_to_bound_max.set(seconds)
