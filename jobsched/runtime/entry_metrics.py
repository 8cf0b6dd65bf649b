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

Why the text is rendered here and not by prometheus-client: 10,000 entries are 50,000 series, and
rendering them through a registry costs about 0.4 s of interpreter time per scrape, in the HTTP thread,
holding the GIL against the event loop, whenever Prometheus happens to scrape (during a storm's binds
too). So each entry's lines are rendered when its values change, on the event loop and off the storm
(the engine publishes when not busy), and a scrape only joins the finished text (a few ms).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronplan import EntryStatus
from jobsched.core.entrymetrics import EntrySample, entry_sample
from jobsched.kube.events import ObjectRef

Labels = tuple[str, str, str]  # (namespace, source, entry)

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

_PREFIX: Final = "jobsched_cron_entry_"
# (name, help) of the gauges, in the order of EntrySample's fields.
GAUGES: Final = (
    (
        _PREFIX + "last_schedule_time_seconds",
        "The last slot the entry fired (kube_cronjob_status_last_schedule_time), epoch seconds.",
    ),
    (
        _PREFIX + "last_successful_time_seconds",
        "When a run of the entry last succeeded (kube_cronjob_status_last_successful_time), epoch seconds.",
    ),
    (
        _PREFIX + "next_schedule_time_seconds",
        "The slot after the last one fired (kube_cronjob_next_schedule_time); in the past while a slot is "
        "overdue; absent while suspended. Epoch seconds.",
    ),
    (_PREFIX + "active_runs", "Runs of the entry not finished (kube_cronjob_status_active)."),
    (
        _PREFIX + "slots_since_last_success",
        "Slots fired since the entry last succeeded, the newest possibly still running (capped at 100).",
    ),
)
MISSED: Final = _PREFIX + "missed_slots_total"
MISSED_HELP: Final = "Slots of the entry that did not run, by reason: " + "; ".join(
    f"{reason}: {meaning}" for reason, meaning in MISSED_REASONS.items()
)


def labels_of(ref: ObjectRef, entry: str) -> Labels:
    """(namespace, source, entry) for an entry of the source object `ref`."""
    return (ref.namespace, f"{ref.kind}/{ref.name}", entry)


def _escape(value: str) -> str:
    """A label value as the text format writes it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_text(labels: Labels, extra: str = "") -> str:
    namespace, source, entry = (_escape(v) for v in labels)
    return f'{{entry="{entry}",namespace="{namespace}"{extra},source="{source}"}}'


def _lines(labels: Labels, sample: EntrySample) -> tuple[str, ...]:
    """One line per gauge ("" where the value is unknown), in GAUGES' order."""
    text = _label_text(labels)
    values = (
        sample.last_schedule,
        sample.last_success,
        sample.next_schedule,
        sample.active,
        sample.slots_since_success,
    )
    return tuple(
        "" if value is None else f"{name}{text} {float(value)!r}\n"
        for (name, _), value in zip(GAUGES, values, strict=True)
    )


def _header(name: str, help_text: str, kind: str) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"


class EntryMetrics:
    """The per-entry series: published by the leader's cron engine, served by the HTTP thread."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        # Per entry: what its lines were rendered from, and the lines.
        self._memo: dict[Labels, tuple[str, EntryStatus | None, EntrySample, tuple[str, ...]]] = {}
        self._missed: dict[tuple[Labels, str], int] = {}
        self.samples: dict[Labels, EntrySample] = {}  # the values last published
        self._gauges_text = self._render()  # replaced whole on publish: a scrape reads one version

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
        memo: dict[Labels, tuple[str, EntryStatus | None, EntrySample, tuple[str, ...]]] = {}
        changed = False
        for ref, entry, status in entries:
            labels = labels_of(ref, entry.name)
            known = self._memo.get(labels)
            # With a status, nothing depends on `now`: the sample and its lines can be reused.
            if known is not None and status is not None and known[:2] == (entry.spec_hash, status):
                memo[labels] = known
                continue
            sample = entry_sample(entry, status, now)
            lines = _lines(labels, sample)
            changed = changed or known is None or known[3] != lines
            memo[labels] = (entry.spec_hash, status, sample, lines)
        changed = changed or memo.keys() != self._memo.keys()  # an entry came or went
        self._memo = memo
        if changed:
            self.samples = {labels: value[2] for labels, value in memo.items()}
            self._gauges_text = self._render()
        if any(labels not in memo for labels, _ in self._missed):
            self._missed = {key: value for key, value in self._missed.items() if key[0] in memo}

    def _render(self) -> bytes:
        """The gauges' text: each family's header, then its line for every entry (one group each)."""
        parts: list[str] = []
        for index, (name, help_text) in enumerate(GAUGES):
            parts.append(_header(name, help_text, "gauge"))
            parts.extend(value[3][index] for value in self._memo.values())
        return "".join(parts).encode()

    def exposition(self) -> bytes:
        """The series in Prometheus' text format, to follow the registry's own on /metrics."""
        if not self.enabled:
            return b""
        # list() of a dict's items runs in C under the GIL: a consistent copy even while the loop adds.
        lines = [_header(MISSED, MISSED_HELP, "counter")]
        for (labels, reason), count in list(self._missed.items()):
            reason_label = ',reason="' + _escape(reason) + '"'
            lines.append(f"{MISSED}{_label_text(labels, reason_label)} {float(count)!r}\n")
        return self._gauges_text + "".join(lines).encode()
