"""Cron entries as plain data, parsed from the ConfigMaps that define them.

Cron definitions live in ConfigMaps labelled ``jobsched.io/cron: "true"`` (see docs/cron-format.md).
This module turns one such ConfigMap, as raw Kubernetes JSON, into frozen `CronEntry` records plus a
list of `Problem`s. A bad entry, or a bad data key, never hides the good ones: parsing always returns
both, so one typo cannot silence every other cron in the ConfigMap. An entry with any problem is
dropped as a whole (like the API server rejecting an invalid object) rather than run half-understood.
The YAML is read by boundedyaml within the limits of cronlimits; templates are checked by crontemplate.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from jobsched import SCHEDULER_NAME
from jobsched.core import boundedyaml
from jobsched.core.boundedyaml import YAML_LOADER as YAML_LOADER
from jobsched.core.cronlimits import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    ENTRY_LIMITS,
    INT32_MAX,
    MAX_CONFIGMAP_BYTES,
    MAX_CONFIGMAP_NAME,
    MAX_DEADLINE_SECONDS,
    MAX_DOMAINS,
    MAX_LABEL,
    MAX_OBJECT_NAME,
    MAX_PROBLEMS,
    MAX_SCHEDULE_CHARS,
    PRIORITY_RANGE,
    configmap_budget,
    configmap_key_error,
    data_bytes,
    show,
    show_all,
)
from jobsched.core.crontemplate import check_template
from jobsched.core.vocabulary import STATUS_SUFFIX

DATA_KEY_SUFFIX: Final = ".yaml"
DEFAULT_NAMESPACE: Final = "default"  # as kubectl assumes for a file without metadata.namespace
UNNAMED: Final = "<unnamed>"

CONCURRENCY_POLICIES: Final = ("Allow", "Forbid", "Replace")
# How an entry's schedule is read: jobsched's ConfigMap dialect (croniter, docs/cron-format.md) or, for an
# adopted batch/v1 CronJob, robfig/cron's as Kubernetes reads it (jobsched.core.batchcron).
JOBSCHED_DIALECT: Final = "jobsched"
BATCH_V1_DIALECT: Final = "batch/v1"
DIALECTS: Final = (JOBSCHED_DIALECT, BATCH_V1_DIALECT)
KINDS: Final = ("Pod", "Job")

# The descriptors batch/v1 accepts, as 5-field expressions (robfig/cron's table).
MACROS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    }
)

_FIELD_CHARS = re.compile(r"^[0-9A-Za-z*?,/-]+\Z")
_MONTH_NAMES = frozenset(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
_DAY_NAMES = frozenset(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
# Same pattern batch/v1 validates timeZone parts with.
_ZONE_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}\Z")
# Where entry lists sit in a data key's document: the document itself, or its `entries`.
_ENTRY_LISTS: Final = ((), ("entries",))


class CronSpecError(ValueError):
    """A schedule or time zone that jobsched cannot run; the message is meant for the user."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a ConfigMap, located precisely enough to fix it."""

    configmap: str  # "namespace/name"
    entry: str | None  # the entry's name, "#<index>" when it has no usable name, None for the ConfigMap
    field: str  # path such as "data[crons.yaml].entries[3].timeZone"
    message: str


@dataclass(frozen=True, slots=True)
class CronJobOrigin:
    """What an entry read from a batch/v1 CronJob (core.cronjobspec) carries beyond the entry itself."""

    uid: str  # the CronJob's UID: its Jobs' ownerReference
    time_zone: str | None  # spec.timeZone as written; None: the controller's zone, and UTC in annotations


@dataclass(frozen=True)
class CronEntry:
    """One validated cron entry. `template` is deep-frozen: mappings are read-only, lists are tuples.

    An entry from a ConfigMap has no `origin`; one from an adopted CronJob has, and is named after it
    (`configmap` and `name` both hold the CronJob's name).
    """

    namespace: str
    configmap: str
    name: str
    schedule: str
    time_zone: str = "UTC"
    suspend: bool = False
    concurrency_policy: str = "Allow"
    starting_deadline_seconds: int | None = None
    successful_history: int = 3
    failed_history: int = 1
    domains: tuple[str, ...] | None = None
    priority: int | None = None
    kind: str = "Pod"
    template: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    dialect: str = JOBSCHED_DIALECT
    origin: CronJobOrigin | None = None
    # Covers every field above, template included, so equality still notices template changes.
    spec_hash: str = field(init=False)

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}, got {self.dialect!r}")
        object.__setattr__(self, "template", freeze(self.template))
        object.__setattr__(self, "spec_hash", _hash_entry(self))

    def __reduce__(self) -> tuple[Any, ...]:
        # A MappingProxyType does not pickle: the template travels as plain data and is frozen again,
        # so that entries parsed in a worker process can come back to the engine. Every field goes,
        # the hash included, so that the receiving side (the event loop) does not compute it again.
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state["template"] = thaw(self.template)
        return (_unpickle_entry, (state,))

    @property
    def key(self) -> str:
        """Stable identity across updates: "namespace/configmap/name", or "namespace/CronJob/name" for an
        adopted CronJob (no ConfigMap name holds a capital letter, so the two never collide)."""
        if self.origin is not None:
            return f"{self.namespace}/CronJob/{self.name}"
        return f"{self.namespace}/{self.configmap}/{self.name}"

    @property
    def zone(self) -> ZoneInfo:
        return load_zone(self.time_zone)


def _unpickle_entry(state: dict[str, Any]) -> CronEntry:
    """A pickled CronEntry as it was: its template frozen again, its hash as computed when it was made."""
    entry = object.__new__(CronEntry)
    for name, value in state.items():
        object.__setattr__(entry, name, freeze(value) if name == "template" else value)
    return entry


def _hash_entry(entry: CronEntry) -> str:
    body = [
        entry.namespace,
        entry.configmap,
        entry.name,
        entry.schedule,
        entry.time_zone,
        entry.suspend,
        entry.concurrency_policy,
        entry.starting_deadline_seconds,
        entry.successful_history,
        entry.failed_history,
        list(entry.domains) if entry.domains is not None else None,
        entry.priority,
        entry.kind,
        thaw(entry.template),
    ]
    if entry.dialect != JOBSCHED_DIALECT:
        body.append(entry.dialect)  # appended only here, so ConfigMap entries keep their hashes
    if entry.origin is not None:
        body.append([entry.origin.uid, entry.origin.time_zone])
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def freeze(value: Any) -> Any:
    """A read-only deep copy of JSON-like data (mappings → MappingProxyType, lists → tuples)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A mutable deep copy of frozen data, ready for JSON encoding."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


# --- schedules and zones -------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def normalize_schedule(schedule: str) -> str:
    """The 5-field expression croniter evaluates for `schedule`; raises CronSpecError if unusable.

    Accepts what batch/v1 accepts minus @every: 5 fields (numbers, month and day names, ``* , - /``
    and ``?``) or a descriptor. croniter's own extensions (L, W, #, H, a seconds or year field) are
    refused so that a ConfigMap means the same thing here as in a CronJob.
    """
    text = schedule.strip()
    if not text:
        raise CronSpecError("must not be empty")
    upper = text.upper()
    if upper.startswith(("TZ=", "CRON_TZ=")):
        raise CronSpecError("TZ and CRON_TZ are not supported in schedule; use the timeZone field")
    if text.startswith("@"):
        macro = text.lower()
        if macro == "@reboot":
            raise CronSpecError("@reboot is not supported: jobsched fires on clock time only")
        if macro.startswith("@every"):
            raise CronSpecError("@every is not supported; write the interval as a 5-field schedule")
        if macro not in MACROS:
            raise CronSpecError(f"unknown descriptor {show(text)}; use one of {', '.join(MACROS)}")
        return MACROS[macro]
    fields = text.split()
    if len(fields) == 6:
        raise CronSpecError("6 fields given: seconds are not supported, use 5 fields (minute first)")
    if len(fields) != 5:
        raise CronSpecError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    for index, part in enumerate(fields):
        _check_field(index, part)
    expr = " ".join(part.replace("?", "*") for part in fields)
    try:
        # Raises for impossible dates such as 30 February, which would otherwise never fire.
        croniter(expr, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise CronSpecError("never fires: no date matches this schedule") from None
    except (CroniterError, ValueError, KeyError, IndexError) as exc:
        raise CronSpecError(f"invalid schedule: {boundedyaml.clip(str(exc), 200)}") from None
    return expr


def _check_field(index: int, part: str) -> None:
    what = _FIELD_NAMES[index]
    if not _FIELD_CHARS.match(part):
        raise CronSpecError(f"{what} field {show(part)} has characters outside 0-9 a-z * ? , - /")
    names = _MONTH_NAMES if index == 3 else _DAY_NAMES if index == 4 else frozenset()
    for token in re.split(r"[,/-]", part):
        if token.isalpha():
            if token.lower() not in names:
                raise CronSpecError(f"{what} field {show(part)}: {show(token)} is not supported here")
        elif not token.isdigit() and token not in ("*", "?"):
            raise CronSpecError(f"{what} field {show(part)} is malformed")


@functools.lru_cache(maxsize=1024)
def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; raises CronSpecError for names batch/v1 would refuse or tzdata lacks."""
    if not name:
        raise CronSpecError("must be a non-empty IANA time zone name, or omitted for UTC")
    if name == "Local":
        raise CronSpecError("'Local' depends on the machine; name an IANA zone such as Europe/Berlin")
    # IANA names are a few dozen characters; a longer one only costs a failed file lookup.
    if len(name) > 255 or any(
        part in (".", "..") or part.startswith("-") or not _ZONE_PART.match(part) for part in name.split("/")
    ):
        raise CronSpecError(f"{show(name)} is not a valid IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronSpecError(f"unknown time zone {show(name)}") from None


# --- parsing ---------------------------------------------------------------------------------------


class _Report:
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
class _EntryContext:
    report: _Report
    namespace: str
    configmap: str
    scheduler_name: str
    path: str  # e.g. "data[crons.yaml].entries[3]"
    label: str  # the entry's name, or "#3" until the name is known good
    failed: bool = False

    def problem(self, sub: str, message: str) -> None:
        self.failed = True
        self.report.add(self.label, f"{self.path}.{sub}" if sub else self.path, message)


def configmap_ref(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of a raw ConfigMap; DEFAULT_NAMESPACE and UNNAMED stand in for missing ones."""
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    metadata = metadata if isinstance(metadata, Mapping) else {}
    namespace = metadata.get("namespace")
    name = metadata.get("name")
    return (
        namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE,
        name if isinstance(name, str) and name else UNNAMED,
    )


def configmap_label(namespace: str, name: str) -> str:
    """ "namespace/name" as problems name a ConfigMap: in full when valid, cut short when absurdly long."""
    return f"{boundedyaml.clip(namespace, MAX_LABEL)}/{boundedyaml.clip(name, MAX_OBJECT_NAME)}"


def parse_configmap(
    obj: Mapping[str, Any], scheduler_name: str = SCHEDULER_NAME
) -> tuple[list[CronEntry], list[Problem]]:
    """Every good entry of a raw ConfigMap, and a Problem for everything wrong in it.

    Keys ending in ``.yaml`` are read in sorted order. A name used twice keeps its first entry (by
    key order, then position) and reports each later one, so which one runs never depends on luck.
    Whatever `obj` holds, the work is bounded (jobsched.core.cronlimits) and so is every message;
    the result holds only plain data, so it can come back from a worker process.
    """
    namespace, name = configmap_ref(obj)
    report = _Report(configmap_label(namespace, name))
    runnable = _check_names(obj, namespace, name, report)
    data = obj.get("data") if isinstance(obj, Mapping) else None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        report.add(None, "data", "must be a mapping of key to text")
        data = {}
    binary = obj.get("binaryData") if isinstance(obj, Mapping) else None
    size = data_bytes(data, binary)
    if size > MAX_CONFIGMAP_BYTES:
        # The apiserver refuses it; reading it all would only cost time. Only `validate` gets here.
        report.add(
            None,
            "data",
            f"holds {size:,} bytes; the apiserver refuses a ConfigMap whose data and binaryData values "
            f"hold more than {MAX_CONFIGMAP_BYTES:,} bytes (1 MiB): split it",
        )
        return [], report.finish("data")
    entries: list[CronEntry] = []
    seen: dict[str, str] = {}
    budget = configmap_budget()
    for key in sorted(data, key=str):
        text = data[key]
        key_path = f"data[{boundedyaml.clip(str(key))}]"
        key_error = configmap_key_error(key)
        if key_error is not None:
            report.add(None, key_path, f"the key {key_error}")
            continue
        if not key.endswith(DATA_KEY_SUFFIX):
            if key.endswith(".yml"):
                report.add(None, key_path, "ignored: only keys ending in .yaml hold cron entries")
            continue
        if not isinstance(text, str):
            report.add(None, key_path, "must be a string holding YAML")
            continue
        for path, entry in _parse_text(text, namespace, name, scheduler_name, report, key_path, budget):
            if entry.name in seen:
                report.add(
                    entry.name,
                    f"{path}.name",
                    f"duplicate entry name; the first one ({seen[entry.name]}) is kept",
                )
                continue
            seen[entry.name] = path
            entries.append(entry)
    return (entries if runnable else []), report.finish("data")


def _check_names(obj: Mapping[str, Any], namespace: str, name: str, report: _Report) -> bool:
    """Reports a name or namespace the apiserver or the status ConfigMap could not hold; False if any."""
    if name == UNNAMED:
        report.add(None, "metadata.name", "a ConfigMap needs a name")
        return False
    if len(name) > MAX_OBJECT_NAME or not DNS_SUBDOMAIN.match(name):
        report.add(
            None,
            "metadata.name",
            f"must be a DNS-1123 subdomain: at most {MAX_OBJECT_NAME} of a-z 0-9 '-' '.'; "
            "its entries do not run",
        )
        return False
    if len(name) > MAX_CONFIGMAP_NAME:
        report.add(
            None,
            "metadata.name",
            f"{len(name)} characters; at most {MAX_CONFIGMAP_NAME}, so that its status ConfigMap "
            f"'<name>{STATUS_SUFFIX}' fits in {MAX_OBJECT_NAME}: its entries do not run",
        )
        return False
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    given = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    if given is not None and (
        not isinstance(given, str) or len(namespace) > MAX_LABEL or not DNS_LABEL.match(namespace)
    ):
        report.add(
            None, "metadata.namespace", f"must be a namespace name (a DNS-1123 label), got {show(given)}"
        )
        return False
    return True


def parse_entries_yaml(
    text: str, namespace: str, configmap_name: str, scheduler_name: str = SCHEDULER_NAME
) -> tuple[list[CronEntry], list[Problem]]:
    """The entries of one YAML text (a ``{entries: [...]}`` document or a bare list).

    Duplicate names within the text are reported and the first one kept.
    """
    report = _Report(configmap_label(namespace, configmap_name))
    entries: list[CronEntry] = []
    seen: set[str] = set()
    for path, entry in _parse_text(
        text, namespace, configmap_name, scheduler_name, report, "", configmap_budget()
    ):
        if entry.name in seen:
            report.add(entry.name, f"{path}.name", "duplicate entry name; the first one is kept")
            continue
        seen.add(entry.name)
        entries.append(entry)
    return entries, report.finish("<text>")


def _parse_text(
    text: str,
    namespace: str,
    configmap: str,
    scheduler_name: str,
    report: _Report,
    key_path: str,
    budget: boundedyaml.Budget,
) -> Iterator[tuple[str, CronEntry]]:
    where = key_path or "<text>"
    try:
        doc = boundedyaml.load(text, ENTRY_LIMITS, budget, _ENTRY_LISTS)
    except boundedyaml.Unreadable as exc:
        at = f" (at {field_path('', exc.flaw.path)})" if exc.flaw.path else ""
        report.add(None, where, exc.flaw.message + at)
        return
    list_path: tuple[Any, ...] = ()
    if isinstance(doc, dict):
        unknown = [k for k in doc if k != "entries"]
        if unknown:
            report.add(None, where, f"unknown top-level keys {show_all(unknown)}; only 'entries' is read")
        doc = doc.get("entries")
        list_path = ("entries",)
    if doc is None:
        return  # an empty key holds no entries
    if not isinstance(doc, list):
        report.add(None, field_path(key_path, list_path) or where, "must be a list of entries")
        return
    base = field_path(key_path, list_path)
    for index, raw in enumerate(doc):
        if isinstance(raw, boundedyaml.Refused) and report.full:
            report.omitted += len(raw.flaws)  # only counted: no need to write them out
            continue
        ctx = _EntryContext(report, namespace, configmap, scheduler_name, f"{base}[{index}]", f"#{index}")
        if isinstance(raw, boundedyaml.Refused):
            _report_refused(ctx, raw, key_path, (*list_path, index, "name"))
            continue
        entry = _parse_entry(raw, ctx)
        if entry is not None:
            yield ctx.path, entry


def field_path(prefix: str, path: tuple[Any, ...]) -> str:
    """A path from the YAML loader, written the way problems name fields: "data[k].entries[3].name"."""
    parts = [prefix]
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            parts.append(f"[{part}]")
        else:
            text = part if isinstance(part, str) else boundedyaml.show_key(part)
            parts.append(f".{boundedyaml.clip(text)}" if parts != [""] else boundedyaml.clip(text))
    return "".join(parts)


def _report_refused(
    ctx: _EntryContext, refused: boundedyaml.Refused, key_path: str, name_path: tuple[Any, ...]
) -> None:
    """Reports an entry the YAML loader refused (over budget, duplicate keys, bad aliases...), by its
    name if it has a good one (not itself the flaw)."""
    name = refused.value.get("name") if isinstance(refused.value, dict) else None
    name_flawed = any(f.path == name_path for f in refused.flaws)
    if isinstance(name, str) and len(name) <= MAX_LABEL and DNS_LABEL.match(name) and not name_flawed:
        ctx.label = name
    for flaw in refused.flaws:
        ctx.report.add(ctx.label, field_path(key_path, flaw.path), flaw.message)


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


def _parse_entry(raw: Any, ctx: _EntryContext) -> CronEntry | None:
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
    template = check_template(ctx, raw.get("template"), kind or "Pod")

    if ctx.failed:
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
        kind=kind or "Pod",
        template=template or {},
    )


def _check(ctx: _EntryContext, sub: str, check: Callable[[str], object], value: str) -> None:
    try:
        check(value)
    except CronSpecError as exc:
        ctx.problem(sub, str(exc))


def _type_name(kind: type) -> str:
    return {str: "a string", bool: "true or false", int: "an integer"}.get(kind, kind.__name__)


def _optional(ctx: _EntryContext, raw: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = raw.get(key)
    if value is None:
        return default
    # bool is an int in Python, but `priority: true` is a mistake, not 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        ctx.problem(key, f"must be {_type_name(kind)}, got {show(value)}")
        return None
    return value


def _choice(ctx: _EntryContext, raw: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    value = _optional(ctx, raw, key, str, choices[0])
    if value is not None and value not in choices:
        ctx.problem(key, f"must be one of {', '.join(choices)}, got {show(value)}")
        return None
    return str(value) if value is not None else None


def _count(
    ctx: _EntryContext, raw: Mapping[str, Any], key: str, default: int | None, most: int, why: str = ""
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


def _domains(ctx: _EntryContext, value: Any) -> tuple[str, ...] | None:
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
