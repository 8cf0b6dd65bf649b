"""The cron engine's decisions, as pure functions: how early to stage a storm, what a slot does under
its concurrencyPolicy, which finished runs to prune, and how an entry's status follows from its runs.

The engine (jobsched.runtime.cron_engine) only moves data between the cluster and these functions, so
every rule the engine follows can be tested here with plain tables and hypothesis, with no API server
and no clock.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronruns import RunRecord, RunState
from jobsched.core.naming import parse_time, rfc3339

EWMA_ALPHA: Final = 0.3
MIN_RATE_SAMPLE: Final = 10  # storms smaller than this say little about the create rate
STATUS_KEY: Final = "status.json"


# --- lead ----------------------------------------------------------------------------------------


def lead_seconds(count: int, create_rate: float, *, min_lead: float, max_lead: float, margin: float) -> float:
    """How long before its instant a storm of `count` objects must start being created.

    The time to create them all at the measured rate, plus a margin, clamped to [min_lead, max_lead].
    """
    if create_rate <= 0:
        return max_lead
    return min(max_lead, max(min_lead, count / create_rate + margin))


def object_class(entry: CronEntry) -> str:
    """What staging one slot of `entry` costs, as a class whose create rate is measured on its own: a
    Pod or a Job (one write), or an adopted CronJob's Job (three: the Job, the claim, the owner)."""
    return "CronJob" if entry.origin is not None else entry.kind


def initial_pods(entry: CronEntry) -> int:
    """The pods the Job controller creates for one slot Job at once: its parallelism (default 1), at most
    its completions. 0 for a Pod entry, whose pod is the object jobsched creates."""
    if entry.kind != "Job":
        return 0
    spec = entry.template.get("spec") or {}
    parallelism = spec.get("parallelism")
    completions = spec.get("completions")
    pods = parallelism if isinstance(parallelism, int) and not isinstance(parallelism, bool) else 1
    if isinstance(completions, int) and not isinstance(completions, bool):
        pods = min(pods, completions)
    return max(pods, 0)


@dataclass(frozen=True, slots=True)
class StormShape:
    """What staging a storm costs: its objects per class (object_class), and the pods the Job controller
    creates for its Jobs at once."""

    counts: Mapping[str, int]
    pods: int


def storm_shape(members: Sequence[CronEntry]) -> StormShape:
    return StormShape(
        Counter(object_class(entry) for entry in members), sum(initial_pods(entry) for entry in members)
    )


def storm_lead(
    shape: StormShape,
    create_rates: Mapping[str, float],
    job_pod_rate: float,
    *,
    min_lead: float,
    max_lead: float,
    margin: float,
) -> float:
    """How long before its instant a storm must start staging: creating every object at its class's
    measured rate (one after another: they share the stager's workers), or, for Jobs, waiting for the
    Job controller to create their pods at the rate they were seen to appear, whichever is longer; plus
    a margin, clamped to [min_lead, max_lead]."""
    counts = shape.counts
    if any(create_rates.get(kind, 0.0) <= 0 for kind in counts):
        return max_lead
    create_s = sum(count / create_rates[kind] for kind, count in counts.items())
    pods = shape.pods
    if pods and job_pod_rate <= 0:
        return max_lead
    pods_s = pods / job_pod_rate if pods else 0.0
    return min(max_lead, max(min_lead, max(create_s, pods_s) + margin))


def ewma(previous: float | None, sample: float, alpha: float = EWMA_ALPHA) -> float:
    """The exponentially weighted moving average after one more sample."""
    if previous is None:
        return sample
    return alpha * sample + (1 - alpha) * previous


# --- concurrencyPolicy ---------------------------------------------------------------------------


class SlotAction(enum.Enum):
    CREATE = "create"
    SKIP = "skip"  # Forbid, and an earlier run is still active
    REPLACE = "replace"  # Replace: delete `previous` first, then create


@dataclass(frozen=True, slots=True)
class SlotDecision:
    action: SlotAction
    previous: tuple[RunRecord, ...] = ()  # the active runs that caused SKIP or are to be replaced


def earlier_active(runs: Iterable[RunRecord], slot: datetime) -> tuple[RunRecord, ...]:
    """The entry's runs for slots before `slot` that have not finished and are not being deleted."""
    return tuple(
        run
        for run in runs
        if run.state is RunState.ACTIVE
        and not run.deleting
        and (run.scheduled is None or run.scheduled < slot)
    )


def concurrency_decision(policy: str, runs: Iterable[RunRecord], slot: datetime) -> SlotDecision:
    """What creating `slot` means under `policy` (Allow | Forbid | Replace), given the entry's runs."""
    if policy == "Allow":
        return SlotDecision(SlotAction.CREATE)
    active = earlier_active(runs, slot)
    if not active:
        return SlotDecision(SlotAction.CREATE)
    if policy == "Forbid":
        return SlotDecision(SlotAction.SKIP, active)
    return SlotDecision(SlotAction.REPLACE, active)


# --- history -------------------------------------------------------------------------------------


def _newest_first(run: RunRecord) -> tuple[float, float, str]:
    scheduled = run.scheduled.timestamp() if run.scheduled else 0.0
    finished = run.finished.timestamp() if run.finished else 0.0
    return (-scheduled, -finished, run.name)


def history_to_prune(runs: Iterable[RunRecord], *, successful: int, failed: int) -> list[RunRecord]:
    """The finished runs beyond the history limits: all but the newest `successful` succeeded and the
    newest `failed` failed ones (newest by slot). Active runs and runs already being deleted stay."""
    prune: list[RunRecord] = []
    for state, keep in ((RunState.SUCCEEDED, successful), (RunState.FAILED, failed)):
        finished = sorted((r for r in runs if r.state is state and not r.deleting), key=_newest_first)
        prune.extend(finished[max(keep, 0) :])
    return prune


# --- status --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryStatus:
    """batch/v1 CronJob's status fields, for one entry, plus when jobsched first saw it.

    tracked_since plays the part of a CronJob's creationTimestamp: slots after it were due. A leader
    that takes over an entry with no run for a slot after tracked_since knows that slot was missed
    (its predecessor died before creating it) and fires it; an entry without it is new, and starts
    with its next slot.
    """

    last_schedule_time: datetime | None = None
    last_successful_time: datetime | None = None
    active: tuple[str, ...] = field(default_factory=tuple)
    tracked_since: datetime | None = None


def _latest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def merge_status(previous: EntryStatus | None, runs: Iterable[RunRecord]) -> EntryStatus:
    """The entry's status after seeing `runs`: times only move forward, active is what is active now.

    Times survive the runs themselves, so a pruned or deleted run never takes lastScheduleTime back.
    """
    previous = previous or EntryStatus()
    runs = list(runs)
    scheduled = _latest(previous.last_schedule_time, *(r.scheduled for r in runs))
    succeeded = _latest(
        previous.last_successful_time,
        *(r.finished or r.scheduled for r in runs if r.state is RunState.SUCCEEDED),
    )
    active = tuple(sorted(r.name for r in runs if r.state is RunState.ACTIVE and not r.deleting))
    return EntryStatus(scheduled, succeeded, active, previous.tracked_since)


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


def first_sight(recorded: EntryStatus | None, runs: Iterable[RunRecord], now: datetime) -> EntryStatus:
    """An entry's status when a leader first takes it on: what was recorded and what its runs show,
    tracked since the recorded instant (the entry's slots after it were due), or since now if new."""
    status = merge_status(recorded, runs)
    return replace(status, tracked_since=_earliest(status.tracked_since, now))


def last_scheduled(status: EntryStatus | None, runs: Iterable[RunRecord]) -> datetime | None:
    """The last slot an entry fired: the newer of the recorded status and its newest run."""
    recorded = status.last_schedule_time if status else None
    return _latest(recorded, *(r.scheduled for r in runs))


def status_document(statuses: Mapping[str, EntryStatus]) -> dict[str, Any]:
    """The JSON stored in a status ConfigMap: {"entries": {name: {lastScheduleTime, ...}}}."""
    entries: dict[str, Any] = {}
    for name in sorted(statuses):
        status = statuses[name]
        entries[name] = {
            "lastScheduleTime": rfc3339(status.last_schedule_time) if status.last_schedule_time else None,
            "lastSuccessfulTime": (
                rfc3339(status.last_successful_time) if status.last_successful_time else None
            ),
            "active": list(status.active),
            "trackedSince": rfc3339(status.tracked_since) if status.tracked_since else None,
        }
    return {"entries": entries}


def parse_status_document(document: Any) -> dict[str, EntryStatus]:
    """The inverse of `status_document`; anything malformed is skipped rather than trusted."""
    entries = document.get("entries") if isinstance(document, Mapping) else None
    if not isinstance(entries, Mapping):
        return {}
    statuses: dict[str, EntryStatus] = {}
    for name, raw in entries.items():
        if not isinstance(name, str) or not isinstance(raw, Mapping):
            continue
        active = raw.get("active")
        statuses[name] = EntryStatus(
            parse_time(raw.get("lastScheduleTime")),
            parse_time(raw.get("lastSuccessfulTime")),
            tuple(str(a) for a in active) if isinstance(active, list) else (),
            parse_time(raw.get("trackedSince")),
        )
    return statuses


# --- reporting -----------------------------------------------------------------------------------

_BRACKETS = re.compile(r"\[[^\]]*\]")


# The values `field_label` may return: the fields of an entry and of the template rules, so that a
# tenant's own keys (an unknown field, a duplicate key) never become a metric label value (unbounded
# label values are a denial of service on the metrics system).
FIELD_LABELS: Final = frozenset(
    {
        "data", "metadata", "name", "namespace", "entries", "schedule", "timeZone", "suspend",
        "concurrencyPolicy", "startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit",
        "domains", "priority", "kind", "template", "spec", "containers", "image", "nodeName", "schedulerName",
        "restartPolicy", "serviceAccountName", "serviceAccount", "labels", "annotations", "backoffLimit",
        "completions", "parallelism", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "completionMode",
        "jobTemplate",
    }
)  # fmt: skip


def field_label(path: str) -> str:
    """A problem's field for a metric label with few values: the last component of its path when it is
    one jobsched knows, else the nearest known one above it, else "other".

    "data[crons.yaml].entries[3].timeZone" → "timeZone"; "data[x.yaml]" → "data";
    "data[a.yaml].entries[0].template.spec.myOwnKey" → "spec".
    """
    parts = [part for part in _BRACKETS.sub("", path).split(".") if part]
    for part in reversed(parts):
        if part in FIELD_LABELS:
            return part
    return "other"
