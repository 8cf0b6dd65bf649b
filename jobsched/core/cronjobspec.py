"""A batch/v1 CronJob, as raw JSON, read into a `CronEntry` jobsched can fire, or the reasons it cannot.

A CronJob labelled `jobsched.io/managed: "true"` in an opted-in namespace is an entry source (see
docs/cronjob-migration.md). The apiserver has already validated it, so what is left to check here is
what jobsched does not take over, each named by its field: a schedule jobsched would not evaluate
exactly as the native controller does (`@every`, legacy `TZ=`/`CRON_TZ=`, one that never fires), an
unknown zone, a Job template that another controller or scheduler owns (`jobTemplate.spec.suspend`,
`spec.managedBy`, a foreign `schedulerName`, `nodeName`). Such a CronJob stays with the native
controller, which keeps firing it; a Warning Event on the CronJob says why. Every other field keeps its
batch/v1 meaning and default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from jobsched import SCHEDULER_NAME
from jobsched.core.batchcron import parse_batch_schedule
from jobsched.core.cronentry import BATCH_V1_DIALECT, CONCURRENCY_POLICIES, CronEntry, CronJobOrigin, Problem
from jobsched.core.cronschedule import CronSpecError, load_zone
from jobsched.core.vocabulary import DOMAINS_ANNOTATION, PRIORITY_ANNOTATION

DEFAULT_SCHEDULER: Final = "default-scheduler"
JOB_CONTROLLER: Final = "kubernetes.io/job-controller"  # the one spec.managedBy value that is no hand-off
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def cronjob_ref(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(namespace, name, uid) of a raw CronJob."""
    meta = _mapping(obj.get("metadata"))
    return str(meta.get("namespace", "")), str(meta.get("name", "")), str(meta.get("uid", ""))


# robfig searches five years for a fire time, and its fields repeat with the calendar (29 February
# every four years), so a schedule that fires within five years of this instant fires from any other.
NEVER_FIRES_PROBE: Final = datetime(2000, 1, 1, tzinfo=UTC)


def check_batch_schedule(schedule: str, zone: ZoneInfo) -> None:
    """Raises CronSpecError for a schedule jobsched does not fire the way the native controller would:
    one kube-apiserver would refuse today (`TZ=`/`CRON_TZ=` included: legacy objects may hold one),
    `@every` (a delay after the last run, not clock slots; under a minute two runs share a Job name),
    and one that never fires (the native controller reports InvalidSchedule)."""
    if "TZ" in schedule:
        raise CronSpecError("TZ= or CRON_TZ= in the schedule is not adopted; set spec.timeZone instead")
    parsed = parse_batch_schedule(schedule)  # robfig/cron v3's standard parser, as batch/v1 validates
    if parsed.delay is not None:
        raise CronSpecError(
            "@every counts from the CronJob's last run, not the clock; left to the native controller"
        )
    parsed.next_after(NEVER_FIRES_PROBE, zone)  # raises UnfireableSchedule


def parse_cronjob(
    obj: Mapping[str, Any], scheduler_name: str = SCHEDULER_NAME, default_time_zone: str = "UTC"
) -> tuple[CronEntry | None, list[Problem]]:
    """The entry for a raw CronJob, or None and the problems that keep it with the native controller.

    `default_time_zone` is the zone of CronJobs without spec.timeZone: the kube-controller-manager's
    local zone (usually UTC), a setting.
    """
    namespace, name, uid = cronjob_ref(obj)
    source = f"{namespace}/{name}"
    problems: list[Problem] = []

    def problem(field: str, message: str) -> None:
        problems.append(Problem(source, None, field, message))

    meta = _mapping(obj.get("metadata"))
    spec = _mapping(obj.get("spec"))
    zone_field = spec.get("timeZone")
    zone = zone_field if isinstance(zone_field, str) else default_time_zone
    loaded: ZoneInfo | None = None
    try:
        loaded = load_zone(zone)
    except CronSpecError as err:
        problem("spec.timeZone" if zone_field is not None else "cron.cronJobTimeZone (setting)", str(err))
    schedule = spec.get("schedule")
    if not isinstance(schedule, str):
        problem("spec.schedule", "missing")
        schedule = ""
    elif loaded is not None:
        try:
            check_batch_schedule(schedule, loaded)
        except CronSpecError as err:
            problem("spec.schedule", str(err))
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy not in CONCURRENCY_POLICIES:
        problem("spec.concurrencyPolicy", f"unknown policy {policy!r}")
    job_template = _mapping(spec.get("jobTemplate"))
    job_spec = _mapping(job_template.get("spec"))
    if job_spec.get("suspend") is True:
        problem(
            "spec.jobTemplate.spec.suspend",
            "a Job created suspended waits for another controller to start it",
        )
    managed_by = job_spec.get("managedBy")
    if managed_by not in (None, JOB_CONTROLLER):
        problem(
            "spec.jobTemplate.spec.managedBy",
            f"its Jobs are managed by {managed_by!r}, not the Job controller",
        )
    pod_spec = _mapping(_mapping(job_spec.get("template")).get("spec"))
    scheduler = pod_spec.get("schedulerName")
    if scheduler not in (None, DEFAULT_SCHEDULER, scheduler_name):
        problem(
            "spec.jobTemplate.spec.template.spec.schedulerName",
            f"{scheduler!r} places these pods; jobsched adopts only pods of {DEFAULT_SCHEDULER} or {scheduler_name}",
        )
    if pod_spec.get("nodeName"):
        problem(
            "spec.jobTemplate.spec.template.spec.nodeName", "pods pinned to a node are not placed by jobsched"
        )
    annotations = _mapping(meta.get("annotations"))
    domains = _domains(annotations.get(DOMAINS_ANNOTATION), problem)
    priority = _priority(annotations.get(PRIORITY_ANNOTATION), problem)
    if problems:
        return None, problems
    return (
        CronEntry(
            namespace=namespace,
            configmap=name,
            name=name,
            schedule=schedule,
            time_zone=zone,
            suspend=spec.get("suspend") is True,
            concurrency_policy=str(policy),
            starting_deadline_seconds=_count(spec.get("startingDeadlineSeconds"), None),
            successful_history=_count(spec.get("successfulJobsHistoryLimit"), 3) or 0,
            failed_history=_count(spec.get("failedJobsHistoryLimit"), 1) or 0,
            domains=domains,
            priority=priority,
            kind="Job",
            template={"metadata": dict(_mapping(job_template.get("metadata"))), "spec": dict(job_spec)},
            dialect=BATCH_V1_DIALECT,
            origin=CronJobOrigin(uid, zone_field if isinstance(zone_field, str) else None),
        ),
        [],
    )


def _count(value: Any, default: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def _domains(text: Any, problem: Callable[[str, str], None]) -> tuple[str, ...] | None:
    if text is None:
        return None
    field = f"metadata.annotations[{DOMAINS_ANNOTATION}]"
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    if (
        not names
        or not all(len(n) <= 63 and _DNS_LABEL.match(n) for n in names)
        or len(set(names)) != len(names)
    ):
        problem(field, f"{text!r:.80} is not a comma-separated list of distinct domain names")
        return None
    return tuple(names)


def _priority(text: Any, problem: Callable[[str, str], None]) -> int | None:
    if text is None:
        return None
    try:
        value = int(str(text))
    except ValueError:
        value = None
    if value is None or not -(2**31) <= value <= 10**9:
        problem(
            f"metadata.annotations[{PRIORITY_ANNOTATION}]",
            "must be an integer between -2147483648 and 1000000000",
        )
        return None
    return value
