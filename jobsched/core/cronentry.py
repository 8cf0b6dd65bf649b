"""A cron entry as plain data: the frozen record every part of jobsched passes around, whatever source it
was read from, and the Problem that says what was wrong with one that was not.

`template` is deep-frozen (read-only mappings, tuples); `spec_hash` covers every field, template
included, so equality notices an edited entry; an entry pickles cheaply (the ConfigMap parse worker
sends entries back to the scheduler's process) and unpickles without hashing again. Entries parsed
together share one frozen template per distinct template (`TemplateInterner`): a storm of 10,000
entries written from a handful of templates holds a handful, and pickle sends each once.
"""

from __future__ import annotations

import copyreg
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

from jobsched.core.cronschedule import load_zone

CONCURRENCY_POLICIES: Final = ("Allow", "Forbid", "Replace")
# How an entry's schedule is read: jobsched's ConfigMap dialect (croniter, docs/cron-format.md) or, for an
# adopted batch/v1 CronJob, robfig/cron's as Kubernetes reads it (jobsched.core.batchcron).
JOBSCHED_DIALECT: Final = "jobsched"
BATCH_V1_DIALECT: Final = "batch/v1"
DIALECTS: Final = (JOBSCHED_DIALECT, BATCH_V1_DIALECT)
KINDS: Final = ("Pod", "Job")


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
        entry.template,
    ]
    if entry.dialect != JOBSCHED_DIALECT:
        body.append(entry.dialect)  # appended only here, so ConfigMap entries keep their hashes
    if entry.origin is not None:
        body.append([entry.origin.uid, entry.origin.time_zone])
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """For json.dumps: a frozen mapping as the dict it wraps (tuples are written as lists already)."""
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def freeze(value: Any) -> Any:
    """A read-only deep copy of JSON-like data (mappings → MappingProxyType, lists → tuples).

    A MappingProxyType is taken as frozen already (this function's own output, e.g. an entry's template
    passed on by dataclasses.replace) and returned as it is, so shared templates stay shared.
    """
    if isinstance(value, MappingProxyType):
        return value
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


class TemplateInterner:
    """Freezes templates, one frozen object per distinct template: equal templates come back identical.

    Scoped to one parse (a ConfigMap key's entries: one namespace, one scheduler name), so it never
    outlives the text it was fed. It also remembers the last few templates that passed the checks, so
    that an entry whose template equals one of them (the common case: a ConfigMap of entries that
    differ in name and schedule) skips both the checks and the freezing.
    """

    GOOD_KEPT = 8

    def __init__(self) -> None:
        self._frozen: dict[str, Mapping[str, Any]] = {}
        self._good: list[tuple[str, object, Mapping[str, Any]]] = []  # (kind, raw, frozen), newest last

    def known_good(self, kind: str, raw: object) -> Mapping[str, Any] | None:
        """The frozen template of an equal one that passed the checks for `kind`, or None.

        Equal (`==`, compared in C) to a good template means good: a value equal to a string, an int in
        range or a finite float is one, equal keys are strings, and the structure is the same.
        """
        for good_kind, good_raw, kept in self._good[::-1]:
            if good_kind == kind and good_raw == raw:
                return kept
        return None

    def good(self, kind: str, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """Freezes a template that passed the checks for `kind` (the frozen object of an equal one
        seen before, if any), and remembers it."""
        key = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)
        frozen = self._frozen.get(key)
        if frozen is None:
            frozen = self._frozen[key] = freeze(raw)
        self._good.append((kind, raw, frozen))
        del self._good[: -self.GOOD_KEPT]
        return frozen


def _rebuild_proxy(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


def _reduce_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    # pickle cannot name the class (builtins has no `mappingproxy`); this reducer sends the mapping and a
    # function that wraps it again. pickle's memo keeps a shared template shared across entries.
    return _rebuild_proxy, (dict(proxy),)


# Registered where frozen templates are made, so an entry pickles in any process that can hold one.
copyreg.pickle(MappingProxyType, _reduce_proxy)
