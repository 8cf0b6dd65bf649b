"""Running a cron slot again after its pod failed before it ever started: a provider failure.

A serverless provider may refuse a pod it was bound to (a quota, a capacity shortage, an API error).
virtual-kubelet then writes reason `ProviderFailed` and, for restartPolicy Never (a slot pod's default),
phase Failed, and no container status, since nothing ran. For a cron slot that is a missed run. jobsched
runs the slot again, exactly once, on the next domain of the pod's chain:
- only a Pod (in Job mode the Job controller owns its pods' retries), Failed, with a status reason its
  domain lists in `neverStartedReasons`, and with no sign that any container ever started (a pod whose
  containers started did run its slot, however it ended, and is never run again);
- never a re-run itself (its `jobsched.io/rerun-of` annotation names the pod it replaces): once only;
- under a deterministic name (`naming.rerun_object_name`), so a restarted or second instance that
  decides the same gets AlreadyExists;
- only within the entry's startingDeadlineSeconds (as the slot itself), and only if the chain has a
  domain after the one that failed.
A pod the provider refused but keeps Pending (restartPolicy OnFailure or Always) is being retried by
virtual-kubelet itself; running its slot elsewhere meanwhile could run it twice, so it is left alone.

Pure decisions and the re-run's body; the runtime (runtime/cron/reruns.py) carries them out.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronruns import RunRecord, RunState
from jobsched.core.naming import rerun_object_name
from jobsched.core.podbuild import build_slot_object
from jobsched.core.vocabulary import DOMAINS_ANNOTATION, RERUN_OF_ANNOTATION


def never_started_failure(run: RunRecord, reasons: Collection[str]) -> bool:
    """A slot pod that failed, for one of `reasons`, before any of its containers started."""
    return (
        run.kind == "Pod"
        and run.state is RunState.FAILED
        and run.reason in reasons
        and not run.containers_ran
        and not run.rerun_of
    )


def remaining_chain(chain: Sequence[str], failed: str) -> tuple[str, ...]:
    """The domains after the one that failed: the rest of the chain after it, or (a pod placed outside
    its chain) the chain without it."""
    if failed in chain:
        return tuple(chain[list(chain).index(failed) + 1 :])
    return tuple(domain for domain in chain if domain != failed)


class Verdict(enum.Enum):
    RERUN = "rerun"  # create the re-run on `chain`
    DONE = "done"  # the re-run exists already (this or another instance made it)
    TOO_LATE = "too_late"  # the slot's starting deadline has passed
    NO_DOMAIN = "no_domain"  # nothing left in the chain after the domain that failed


@dataclass(frozen=True, slots=True)
class RerunPlan:
    verdict: Verdict
    name: str  # the re-run's name
    chain: tuple[str, ...] = ()  # the domains the re-run may use


def rerun_plan(
    entry: CronEntry,
    run: RunRecord,
    *,
    chain: Sequence[str],
    failed_domain: str,
    existing: Collection[str],
    now: datetime,
    deadline: datetime,
) -> RerunPlan:
    """What to do about a never-started failure `run` of `entry` (see never_started_failure), given the
    names of the entry's runs in the cluster and the slot's deadline."""
    assert run.scheduled is not None, "a slot pod carries its scheduled time"
    name = rerun_object_name(entry, run.scheduled)
    if name in existing:
        return RerunPlan(Verdict.DONE, name)
    rest = remaining_chain(chain, failed_domain)
    if not rest:
        return RerunPlan(Verdict.NO_DOMAIN, name)
    if now >= deadline:
        return RerunPlan(Verdict.TOO_LATE, name, rest)
    return RerunPlan(Verdict.RERUN, name, rest)


def build_rerun_object(
    entry: CronEntry, slot: datetime, scheduler_name: str, chain: Sequence[str], original: str
) -> dict[str, Any]:
    """The slot's Pod again, under its re-run name, on the remaining chain, naming the pod it replaces."""
    body = build_slot_object(entry, slot, scheduler_name)
    metadata = body["metadata"]
    metadata["name"] = rerun_object_name(entry, slot)
    metadata["annotations"][DOMAINS_ANNOTATION] = ",".join(chain)
    metadata["annotations"][RERUN_OF_ANNOTATION] = original
    return body
