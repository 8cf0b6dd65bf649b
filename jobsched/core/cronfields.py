"""One cron entry's fields, read and checked: name, schedule, zone, policies, counts, domains, template.
A problem names the entry and the field; an entry with any problem is dropped as a whole (like the API
server rejecting an invalid object) rather than run half-understood."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jobsched.core.cronentry import (
    CONCURRENCY_POLICIES,
    KINDS,
    CronEntry,
    Problem,
    TemplateInterner,
)
from jobsched.core.cronlimits import (
    DNS_LABEL,
    INT32_MAX,
    MAX_DEADLINE_SECONDS,
    MAX_DOMAINS,
    MAX_LABEL,
    MAX_PROBLEMS,
    MAX_SCHEDULE_CHARS,
    PRIORITY_RANGE,
    show,
    show_all,
)
from jobsched.core.cronschedule import CronSpecError, load_zone, normalize_schedule
from jobsched.core.crontemplate import check_template


class ProblemReport:
    """Collects the problems of one ConfigMap, the first MAX_PROBLEMS of them; the rest are counted."""

    def __init__(self, configmap: str) -> None:
        self.configmap = configmap
        self.problems: list[Problem] = []
        self.omitted = 0

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def add(self, entry: str | None, path: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(self.configmap, entry, path, message))
        else:
            self.omitted += 1

    def finish(self, where: str) -> list[Problem]:
        if self.omitted:
            message = f"{self.omitted:,} more problems, not listed: only the first {MAX_PROBLEMS:,} are"
            self.problems.append(Problem(self.configmap, None, where, message))
            self.omitted = 0
        return self.problems


@dataclass
class EntryContext:
    report: ProblemReport
    namespace: str
    configmap: str
    scheduler_name: str
    path: str  # e.g. "data[crons.yaml].entries[3]"
    label: str  # the entry's name, or "#3" until the name is known good
    # Shared by the entries of one parse, so that equal templates are held (and pickled) once.
    templates: TemplateInterner
    failed: bool = False

    def problem(self, sub: str, message: str) -> None:
        self.failed = True
        self.report.add(self.label, f"{self.path}.{sub}" if sub else self.path, message)


_ENTRY_FIELDS: Final = frozenset(
    {
        "name",
        "schedule",
        "timeZone",
        "suspend",
        "concurrencyPolicy",
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
        "domains",
        "priority",
        "kind",
        "template",
    }
)


def parse_entry(raw: Any, ctx: EntryContext) -> CronEntry | None:
    if not isinstance(raw, Mapping):
        ctx.problem("", "each entry must be a mapping")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        ctx.problem("name", "required: a lowercase DNS-1123 label such as 'nightly-report'")
    elif len(name) > MAX_LABEL or not DNS_LABEL.match(name):
        ctx.problem(
            "name", f"{show(name)} must be a DNS-1123 label: ≤63 of a-z 0-9 '-', alphanumeric at both ends"
        )
    else:
        ctx.label = name
    unknown = [k for k in raw if k not in _ENTRY_FIELDS]
    if unknown:
        # Strict, because a misspelt timeZone or suspend would otherwise silently take its default.
        ctx.problem("", f"unknown fields {show_all(unknown)}")

    schedule = raw.get("schedule")
    if not isinstance(schedule, str):
        ctx.problem("schedule", "required: a 5-field cron expression or a descriptor such as @daily")
    elif len(schedule) > MAX_SCHEDULE_CHARS:
        ctx.problem("schedule", f"{len(schedule):,} characters; a schedule has at most {MAX_SCHEDULE_CHARS}")
    else:
        _check(ctx, "schedule", normalize_schedule, schedule)
    time_zone = _optional(ctx, raw, "timeZone", str, "UTC")
    if time_zone is not None:
        _check(ctx, "timeZone", load_zone, time_zone)
    suspend = _optional(ctx, raw, "suspend", bool, False)
    policy = _choice(ctx, raw, "concurrencyPolicy", CONCURRENCY_POLICIES)
    kind = _choice(ctx, raw, "kind", KINDS)
    deadline = _count(
        ctx,
        raw,
        "startingDeadlineSeconds",
        None,
        MAX_DEADLINE_SECONDS,
        " (about 68 years; leave it out for no deadline)",
    )
    successful = _count(ctx, raw, "successfulJobsHistoryLimit", 3, INT32_MAX)
    failed = _count(ctx, raw, "failedJobsHistoryLimit", 1, INT32_MAX)
    priority = _optional(ctx, raw, "priority", int, None)
    if priority is not None and not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
        ctx.problem(
            "priority", f"must be between {PRIORITY_RANGE[0]} and {PRIORITY_RANGE[1]}, got {show(priority)}"
        )
    domains = _domains(ctx, raw.get("domains"))
    kind = kind or "Pod"
    template = ctx.templates.known_good(kind, raw.get("template"))
    if template is None:
        checked = check_template(ctx, raw.get("template"), kind)
        if not ctx.failed:
            template = ctx.templates.good(kind, checked or {})

    if ctx.failed or template is None:
        return None
    assert isinstance(name, str)
    assert isinstance(schedule, str)
    return CronEntry(
        namespace=ctx.namespace,
        configmap=ctx.configmap,
        name=name,
        schedule=schedule.strip(),
        time_zone=time_zone or "UTC",
        suspend=bool(suspend),
        concurrency_policy=policy or "Allow",
        starting_deadline_seconds=deadline,
        successful_history=successful if successful is not None else 3,
        failed_history=failed if failed is not None else 1,
        domains=domains,
        priority=priority,
        kind=kind,
        template=template,
    )


def _check(ctx: EntryContext, sub: str, check: Callable[[str], object], value: str) -> None:
    try:
        check(value)
    except CronSpecError as exc:
        ctx.problem(sub, str(exc))


def _type_name(kind: type) -> str:
    return {str: "a string", bool: "true or false", int: "an integer"}.get(kind, kind.__name__)


def _optional(ctx: EntryContext, raw: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = raw.get(key)
    if value is None:
        return default
    # bool is an int in Python, but `priority: true` is a mistake, not 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        ctx.problem(key, f"must be {_type_name(kind)}, got {show(value)}")
        return None
    return value


def _choice(ctx: EntryContext, raw: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    value = _optional(ctx, raw, key, str, choices[0])
    if value is not None and value not in choices:
        ctx.problem(key, f"must be one of {', '.join(choices)}, got {show(value)}")
        return None
    return str(value) if value is not None else None


def _count(
    ctx: EntryContext, raw: Mapping[str, Any], key: str, default: int | None, most: int, why: str = ""
) -> int | None:
    """An optional integer field that must lie in 0..most."""
    value = _optional(ctx, raw, key, int, default)
    if value is not None and value < 0:
        ctx.problem(key, f"must be ≥ 0, got {show(value)}")
        return None
    if value is not None and value > most:
        ctx.problem(key, f"must be ≥ 0 and ≤ {most}{why}, got {show(value)}")
        return None
    return int(value) if value is not None else None


def _domains(ctx: EntryContext, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        ctx.problem("domains", "must be a non-empty list of domain names, e.g. [virtual, regular]")
        return None
    if len(value) > MAX_DOMAINS:
        ctx.problem("domains", f"lists {len(value):,} domains; a chain has at most {MAX_DOMAINS}")
        return None
    for index, item in enumerate(value):
        if not isinstance(item, str) or len(item) > MAX_LABEL or not DNS_LABEL.match(item):
            ctx.problem(f"domains[{index}]", f"{show(item)} is not a domain name (a DNS-1123 label)")
            return None
    if len(set(value)) != len(value):
        ctx.problem("domains", "lists a domain twice")
        return None
    return tuple(value)
