"""Cron entries as plain data, parsed from the ConfigMaps that define them.

Cron definitions live in ConfigMaps labelled ``jobsched.io/cron: "true"`` (see docs/cron-format.md).
This module turns one such ConfigMap, as raw Kubernetes JSON, into frozen `CronEntry` records plus a
list of `Problem`s. A bad entry, or a bad data key, never hides the good ones: parsing always returns
both, so one typo cannot silence every other cron in the ConfigMap. An entry with any problem is
dropped as a whole (like the API server rejecting an invalid object) rather than run half-understood.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import CroniterBadDateError, CroniterError, croniter

from jobsched import SCHEDULER_NAME

# The C loader when PyYAML was built with libyaml: the same safe subset, several times faster.
YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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
RESTART_POLICIES: Final = ("Never", "OnFailure")

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

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_FIELD_CHARS = re.compile(r"^[0-9A-Za-z*?,/-]+$")
_MONTH_NAMES = frozenset(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
_DAY_NAMES = frozenset(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
# Same pattern batch/v1 validates timeZone parts with.
_ZONE_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")
# Bounds the work a YAML alias bomb can cause when a template is copied.
MAX_TEMPLATE_NODES: Final = 20_000
# Bounds the recursion in checking, freezing and hashing a template (a pod spec needs about 12).
MAX_TEMPLATE_DEPTH: Final = 100


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
            raise CronSpecError(f"unknown descriptor {text!r}; use one of {', '.join(MACROS)}")
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
        raise CronSpecError(f"invalid schedule: {exc}") from None
    return expr


def _check_field(index: int, part: str) -> None:
    what = _FIELD_NAMES[index]
    if not _FIELD_CHARS.match(part):
        raise CronSpecError(f"{what} field {part!r} has characters outside 0-9 a-z * ? , - /")
    names = _MONTH_NAMES if index == 3 else _DAY_NAMES if index == 4 else frozenset()
    for token in re.split(r"[,/-]", part):
        if token.isalpha():
            if token.lower() not in names:
                raise CronSpecError(f"{what} field {part!r}: {token!r} is not supported here")
        elif not token.isdigit() and token not in ("*", "?"):
            raise CronSpecError(f"{what} field {part!r} is malformed")


@functools.lru_cache(maxsize=1024)
def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; raises CronSpecError for names batch/v1 would refuse or tzdata lacks."""
    if not name:
        raise CronSpecError("must be a non-empty IANA time zone name, or omitted for UTC")
    if name == "Local":
        raise CronSpecError("'Local' depends on the machine; name an IANA zone such as Europe/Berlin")
    for part in name.split("/"):
        if part in (".", "..") or part.startswith("-") or not _ZONE_PART.match(part):
            raise CronSpecError(f"{name!r} is not a valid IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronSpecError(f"unknown time zone {name!r}") from None


# --- parsing ---------------------------------------------------------------------------------------


class _Report:
    """Collects the problems of one ConfigMap; `entry`/`prefix` say where the next ones belong."""

    def __init__(self, configmap: str) -> None:
        self.configmap = configmap
        self.problems: list[Problem] = []

    def add(self, entry: str | None, path: str, message: str) -> None:
        self.problems.append(Problem(self.configmap, entry, path, message))


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


def parse_configmap(
    obj: Mapping[str, Any], scheduler_name: str = SCHEDULER_NAME
) -> tuple[list[CronEntry], list[Problem]]:
    """Every good entry of a raw ConfigMap, and a Problem for everything wrong in it.

    Keys ending in ``.yaml`` are read in sorted order. A name used twice keeps its first entry (by
    key order, then position) and reports each later one, so which one runs never depends on luck.
    """
    namespace, name = configmap_ref(obj)
    report = _Report(f"{namespace}/{name}")
    if name == UNNAMED:
        report.add(None, "metadata.name", "a ConfigMap needs a name")
    data = obj.get("data") if isinstance(obj, Mapping) else None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        report.add(None, "data", "must be a mapping of key to text")
        data = {}
    entries: list[CronEntry] = []
    seen: dict[str, str] = {}
    for key in sorted(data, key=str):
        text = data[key]
        key_path = f"data[{key}]"
        if not isinstance(key, str) or not key.endswith(DATA_KEY_SUFFIX):
            if isinstance(key, str) and key.endswith(".yml"):
                report.add(None, key_path, "ignored: only keys ending in .yaml hold cron entries")
            continue
        if not isinstance(text, str):
            report.add(None, key_path, "must be a string holding YAML")
            continue
        for path, entry in _parse_text(text, namespace, name, scheduler_name, report, key_path + "."):
            if entry.name in seen:
                report.add(
                    entry.name,
                    f"{path}.name",
                    f"duplicate entry name; the first one ({seen[entry.name]}) is kept",
                )
                continue
            seen[entry.name] = path
            entries.append(entry)
    return entries, report.problems


def parse_entries_yaml(
    text: str, namespace: str, configmap_name: str, scheduler_name: str = SCHEDULER_NAME
) -> tuple[list[CronEntry], list[Problem]]:
    """The entries of one YAML text (a ``{entries: [...]}`` document or a bare list).

    Duplicate names within the text are reported and the first one kept.
    """
    report = _Report(f"{namespace}/{configmap_name}")
    entries: list[CronEntry] = []
    seen: set[str] = set()
    for path, entry in _parse_text(text, namespace, configmap_name, scheduler_name, report, ""):
        if entry.name in seen:
            report.add(entry.name, f"{path}.name", "duplicate entry name; the first one is kept")
            continue
        seen.add(entry.name)
        entries.append(entry)
    return entries, report.problems


def _parse_text(
    text: str, namespace: str, configmap: str, scheduler_name: str, report: _Report, prefix: str
) -> Iterator[tuple[str, CronEntry]]:
    where = prefix.rstrip(".") or "<text>"
    try:
        doc = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        report.add(None, where, f"invalid YAML: {' '.join(str(exc).split())}")
        return
    except RecursionError:
        report.add(None, where, "invalid YAML: nested too deeply")
        return
    except ValueError as exc:
        # Not YAMLErrors: an integer over Python's 4300 digits, or a lone surrogate in the text.
        report.add(None, where, f"invalid YAML: {str(exc).split(';')[0]:.200}")
        return
    if isinstance(doc, Mapping):
        unknown = [k for k in doc if k != "entries"]
        if unknown:
            report.add(None, where, f"unknown top-level keys {_show(unknown)}; only 'entries' is read")
        doc = doc.get("entries")
        prefix += "entries"
    elif doc is None:
        return  # an empty key holds no entries
    if doc is None:
        return
    if not isinstance(doc, list):
        report.add(None, prefix.rstrip(".") or where, "must be a list of entries")
        return
    for index, raw in enumerate(doc):
        path = f"{prefix.rstrip('.')}[{index}]"  # "data[a.yaml][0]" for a bare list, not "data[a.yaml].[0]"
        ctx = _EntryContext(report, namespace, configmap, scheduler_name, path, f"#{index}")
        entry = _parse_entry(raw, ctx)
        if entry is not None:
            yield ctx.path, entry


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


def _show(keys: list[Any]) -> str:
    return ", ".join(repr(k) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")


def _parse_entry(raw: Any, ctx: _EntryContext) -> CronEntry | None:
    if not isinstance(raw, Mapping):
        ctx.problem("", "each entry must be a mapping")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        ctx.problem("name", "required: a lowercase DNS-1123 label such as 'nightly-report'")
    elif len(name) > 63 or not _DNS_LABEL.match(name):
        ctx.problem(
            "name", f"{name!r} must be a DNS-1123 label: ≤63 of a-z 0-9 '-', alphanumeric at both ends"
        )
    else:
        ctx.label = name
    unknown = [k for k in raw if k not in _ENTRY_FIELDS]
    if unknown:
        # Strict, because a misspelt timeZone or suspend would otherwise silently take its default.
        ctx.problem("", f"unknown fields {_show(unknown)}")

    schedule = raw.get("schedule")
    if not isinstance(schedule, str):
        ctx.problem("schedule", "required: a 5-field cron expression or a descriptor such as @daily")
    else:
        _check(ctx, "schedule", normalize_schedule, schedule)
    time_zone = _optional(ctx, raw, "timeZone", str, "UTC")
    if time_zone is not None:
        _check(ctx, "timeZone", load_zone, time_zone)
    suspend = _optional(ctx, raw, "suspend", bool, False)
    policy = _choice(ctx, raw, "concurrencyPolicy", CONCURRENCY_POLICIES)
    kind = _choice(ctx, raw, "kind", KINDS)
    deadline = _count(ctx, raw, "startingDeadlineSeconds", None)
    successful = _count(ctx, raw, "successfulJobsHistoryLimit", 3)
    failed = _count(ctx, raw, "failedJobsHistoryLimit", 1)
    priority = _optional(ctx, raw, "priority", int, None)
    if priority is not None and not -(2**31) <= priority <= 10**9:
        ctx.problem("priority", "must be between -2147483648 and 1000000000")
    domains = _domains(ctx, raw.get("domains"))
    template = _template(ctx, raw.get("template"), kind or "Pod")

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
        ctx.problem(key, f"must be {_type_name(kind)}, got {value!r:.60}")
        return None
    return value


def _choice(ctx: _EntryContext, raw: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    value = _optional(ctx, raw, key, str, choices[0])
    if value is not None and value not in choices:
        ctx.problem(key, f"must be one of {', '.join(choices)}, got {value!r:.60}")
        return None
    return str(value) if value is not None else None


def _count(ctx: _EntryContext, raw: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = _optional(ctx, raw, key, int, default)
    if value is not None and value < 0:
        ctx.problem(key, f"must be ≥ 0, got {value}")
        return None
    return int(value) if value is not None else None


def _domains(ctx: _EntryContext, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        ctx.problem("domains", "must be a non-empty list of domain names, e.g. [virtual, regular]")
        return None
    for index, item in enumerate(value):
        if not isinstance(item, str) or len(item) > 63 or not _DNS_LABEL.match(item):
            ctx.problem(f"domains[{index}]", f"{item!r:.60} is not a domain name (a DNS-1123 label)")
            return None
    if len(set(value)) != len(value):
        ctx.problem("domains", "lists a domain twice")
        return None
    return tuple(value)


# --- templates -------------------------------------------------------------------------------------


def _template(ctx: _EntryContext, value: Any, kind: str) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        ctx.problem("template", f"required: a {'job' if kind == 'Job' else 'pod'} template mapping")
        return None
    budget = [MAX_TEMPLATE_NODES]
    if not _json_like(ctx, "template", value, budget, 0):
        return None
    _metadata(ctx, "template.metadata", value.get("metadata"), top=True)
    spec = value.get("spec")
    if not isinstance(spec, Mapping):
        ctx.problem("template.spec", "required: a mapping")
    elif kind == "Job":
        _job_spec(ctx, spec)
    else:
        _pod_spec(ctx, "template.spec", spec)
    return value


def _json_like(ctx: _EntryContext, path: str, value: Any, budget: list[int], depth: int) -> bool:
    """Whether `value` is plain JSON data (what the API server would store); reports the first offence."""
    budget[0] -= 1
    if budget[0] < 0:
        ctx.problem("template", f"too large: more than {MAX_TEMPLATE_NODES} values")
        return False
    if depth > MAX_TEMPLATE_DEPTH:
        ctx.problem("template", f"nested too deeply: more than {MAX_TEMPLATE_DEPTH} levels")
        return False
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                ctx.problem(path, f"key {key!r:.40} must be a string; quote it")
                return False
            if not _json_like(ctx, f"{path}.{key}", item, budget, depth + 1):
                return False
        return True
    if isinstance(value, list):
        return all(_json_like(ctx, f"{path}[{i}]", item, budget, depth + 1) for i, item in enumerate(value))
    if isinstance(value, float) and not math.isfinite(value):
        ctx.problem(path, "must be a finite number")
        return False
    if value is None or isinstance(value, str | int | float | bool):
        return True
    ctx.problem(path, f"a YAML {type(value).__name__} is not JSON; quote the value")
    return False


def _metadata(ctx: _EntryContext, path: str, value: Any, *, top: bool) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        ctx.problem(path, "must be a mapping")
        return
    for key in ("labels", "annotations"):
        items = value.get(key)
        if items is None:
            continue
        if not isinstance(items, Mapping) or not all(isinstance(v, str) for v in items.values()):
            ctx.problem(f"{path}.{key}", 'must map strings to strings (quote values such as "true")')
    namespace = value.get("namespace")
    if namespace is not None and namespace != ctx.namespace:
        ctx.problem(
            f"{path}.namespace",
            f"must be omitted or {ctx.namespace!r}: objects are created only in the ConfigMap's namespace",
        )
    if top:
        for key in ("name", "generateName"):
            if key in value:
                ctx.problem(
                    f"{path}.{key}", "must be omitted: jobsched names each object from entry and slot"
                )


def _pod_spec(ctx: _EntryContext, path: str, spec: Mapping[str, Any]) -> None:
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        ctx.problem(f"{path}.containers", "required: a non-empty list of containers")
    else:
        for index, container in enumerate(containers):
            where = f"{path}.containers[{index}]"
            if not isinstance(container, Mapping):
                ctx.problem(where, "must be a mapping")
                continue
            for key in ("name", "image"):
                if not isinstance(container.get(key), str) or not container.get(key):
                    ctx.problem(f"{where}.{key}", "required: a non-empty string")
    if "nodeName" in spec:
        ctx.problem(f"{path}.nodeName", "must not be set: the jobsched scheduler places the pods")
    scheduler = spec.get("schedulerName")
    if scheduler is not None and scheduler != ctx.scheduler_name:
        ctx.problem(f"{path}.schedulerName", f"must be omitted or {ctx.scheduler_name!r}")
    restart = spec.get("restartPolicy")
    if restart is not None and restart not in RESTART_POLICIES:
        ctx.problem(f"{path}.restartPolicy", "must be Never or OnFailure: a cron pod has to finish")
    # Whether the account exists is checked against the cluster when the entry is staged.
    for key in ("serviceAccountName", "serviceAccount"):
        account = spec.get(key)
        if account is None:
            continue
        if not isinstance(account, str) or len(account) > 253 or not _DNS_SUBDOMAIN.match(account):
            ctx.problem(
                f"{path}.{key}",
                f"{account!r:.60} is not a service account name (a DNS-1123 subdomain)",
            )


def _job_spec(ctx: _EntryContext, spec: Mapping[str, Any]) -> None:
    for key in (
        "backoffLimit",
        "completions",
        "parallelism",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ):
        value = spec.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            ctx.problem(f"template.spec.{key}", "must be an integer ≥ 0")
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        ctx.problem("template.spec.completionMode", "must be NonIndexed or Indexed")
    pod = spec.get("template")
    if not isinstance(pod, Mapping):
        ctx.problem("template.spec.template", "required: the pod template of the Job")
        return
    _metadata(ctx, "template.spec.template.metadata", pod.get("metadata"), top=False)
    pod_spec = pod.get("spec")
    if not isinstance(pod_spec, Mapping):
        ctx.problem("template.spec.template.spec", "required: a mapping")
    else:
        _pod_spec(ctx, "template.spec.template.spec", pod_spec)
