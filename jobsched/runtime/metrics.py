"""Prometheus metrics, named like kube-scheduler's where one exists so existing dashboards work.

Each Metrics instance has its own registry, so tests and several schedulers in one process never
collide on the global one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 120)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
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
