"""`jobsched status`'s rows: one per cron entry, valid or not, from the cluster's own objects.

A row is built from a *source document*, the way the engine sees one: the entries and problems its
parser returns, plus the status recorded for them brought up to date with the entries' live runs (their
Pods and Jobs), as the engine's housekeeper would write it once a storm is over. For a cron ConfigMap that is `cronspec.parse_configmap`
and the status ConfigMap beside it (`configmap_rows`). Any other kind of source plugs in the same way:
parse the object into (entries, problems), read its recorded status into {entry name: EntryStatus}, and
call `document_rows`. An adopted batch/v1 CronJob is one: its entry comes from `core.cronjobspec`'s
parser and its status from its own `.status` (`status_from_cronjob`); its row's SOURCE is "CronJob/<name>".

An entry the parser refused is still a row, with the problems that keep it from running and whatever of
its schedule, zone and suspend could be read, so that `status` shows every entry a user wrote.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
import yaml

from jobsched.core.cronentry import CronEntry, Problem, thaw
from jobsched.core.cronjobspec import cronjob_ref, parse_cronjob
from jobsched.core.cronplan import STATUS_KEY, EntryStatus, merge_status, parse_status_document
from jobsched.core.cronruns import RunRecord
from jobsched.core.cronschedule import CronSpecError
from jobsched.core.cronslots import next_slot
from jobsched.core.cronspec import YAML_LOADER, configmap_ref, parse_configmap
from jobsched.core.naming import label_value, parse_time, rfc3339

CONFIGMAP: Final = "ConfigMap"
CRONJOB: Final = "CronJob"
# Where a problem's field path says which entry it is about: data[KEY].entries[N] or data[KEY][N].
_ENTRY_PATH = re.compile(r"^data\[(?P<key>[^\]]*)\](?:\.entries)?\[(?P<index>\d+)\]")


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One entry as `status` shows it. `entry` is None for problems of the source object as a whole."""

    namespace: str
    source_kind: str  # CONFIGMAP or CRONJOB
    source: str  # the source object's name
    entry: str | None  # the entry's name ("#3" when it has none usable); a CronJob's is its own name
    schedule: str | None
    time_zone: str | None
    suspend: bool | None
    kind: str | None  # Pod or Job, when known
    domains: tuple[str, ...] | None
    containers: tuple[str, ...]
    images: tuple[str, ...]
    status: EntryStatus
    next_schedule: datetime | None  # None when suspended, invalid, or its namespace has not opted in
    valid: bool
    enabled: bool | None  # its namespace opted in; None when that could not be read
    problems: tuple[tuple[str, str], ...] = field(default=())  # (field, message)

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.namespace, self.source_kind, self.source, self.entry or "")

    @property
    def source_label(self) -> str:
        """The SOURCE column: "<configmap>/<entry>", or "CronJob/<name>" (no ConfigMap name has capitals)."""
        if self.source_kind == CRONJOB:
            return f"{CRONJOB}/{self.source}"
        return f"{self.source}/{self.entry}" if self.entry is not None else self.source

    def to_json(self) -> dict[str, Any]:
        """The row in `-o json|yaml` (docs/operations.md documents this shape)."""
        status = self.status
        return {
            "namespace": self.namespace,
            "source": {"kind": self.source_kind, "name": self.source},
            "entry": self.entry,
            "schedule": self.schedule,
            "timeZone": self.time_zone,
            "suspend": self.suspend,
            "kind": self.kind,
            "domains": list(self.domains) if self.domains is not None else None,
            "containers": list(self.containers),
            "images": list(self.images),
            "active": list(status.active),
            "lastScheduleTime": _time(status.last_schedule_time),
            "lastSuccessfulTime": _time(status.last_successful_time),
            "nextScheduleTime": _time(self.next_schedule),
            "valid": self.valid,
            "namespaceEnabled": self.enabled,
            "problems": [{"field": path, "message": message} for path, message in self.problems],
        }


def _time(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None


def _containers(template: Mapping[str, Any], kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    spec: Any = template.get("spec")
    if kind == "Job" and isinstance(spec, Mapping):
        pod = spec.get("template")
        spec = pod.get("spec") if isinstance(pod, Mapping) else None
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    if not isinstance(containers, list | tuple):
        return (), ()
    items = [c for c in containers if isinstance(c, Mapping)]
    return tuple(str(c.get("name", "")) for c in items), tuple(str(c.get("image", "")) for c in items)


def _next(entry: CronEntry, now: datetime, enabled: bool | None) -> datetime | None:
    if entry.suspend or enabled is False:
        return None
    try:
        return next_slot(entry, now)
    except CronSpecError:  # a batch/v1 schedule that never fires
        return None


def _valid_row(
    entry: CronEntry, kind: str, source: str, status: EntryStatus, now: datetime, enabled: bool | None
) -> StatusRow:
    containers, images = _containers(thaw(entry.template), entry.kind)
    return StatusRow(
        entry.namespace,
        kind,
        source,
        entry.name,
        entry.schedule,
        entry.time_zone,
        entry.suspend,
        entry.kind,
        entry.domains,
        containers,
        images,
        status,
        _next(entry, now, enabled),
        True,
        enabled,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _invalid_row(
    namespace: str,
    kind: str,
    source: str,
    name: str | None,
    raw: Mapping[str, Any],
    problems: Sequence[Problem],
    status: EntryStatus,
    enabled: bool | None,
) -> StatusRow:
    """An entry the parser refused, with what could be read of it."""
    suspend = raw.get("suspend")
    entry_kind = _text(raw.get("kind")) or ("Pod" if raw else None)
    template = raw.get("template")
    containers, images = (
        _containers(template, entry_kind or "Pod") if isinstance(template, Mapping) else ((), ())
    )
    return StatusRow(
        namespace,
        kind,
        source,
        name,
        _text(raw.get("schedule")),
        _text(raw.get("timeZone")) or ("UTC" if raw else None),
        suspend if isinstance(suspend, bool) else (False if raw else None),
        entry_kind,
        None,
        containers,
        images,
        status,
        None,
        False,
        enabled,
        tuple((p.field, p.message) for p in problems),
    )


def document_rows(
    namespace: str,
    kind: str,
    source: str,
    entries: Iterable[CronEntry],
    problems: Iterable[Problem],
    statuses: Mapping[str, EntryStatus],
    now: datetime,
    enabled: bool | None,
    raw_entry: Mapping[str, Mapping[str, Any]] | None = None,
    runs: Mapping[str, Sequence[RunRecord]] | None = None,
) -> list[StatusRow]:
    """The rows of one source document: a row per entry, valid or refused, and one for problems of the
    document as a whole. `statuses` (recorded) and `runs` (live; None when not read) are by entry name;
    each row's status is the recorded one brought up to date with the runs, as the engine's housekeeper
    would write it.
    `raw_entry` maps a problem's entry path ("data[k.yaml].entries[3]") to the raw entry there, to show
    what could be read of a refused one."""

    def status_of(name: str | None) -> EntryStatus:
        recorded = statuses.get(name or "")
        if runs is None:  # runs not read: the record as it stands
            return recorded or EntryStatus()
        return merge_status(recorded, runs.get(name or "", ()))  # active is what runs now

    rows = [_valid_row(entry, kind, source, status_of(entry.name), now, enabled) for entry in entries]
    by_path: dict[str, list[Problem]] = defaultdict(list)
    for problem in problems:
        match = _ENTRY_PATH.match(problem.field)
        by_path[match.group(0) if match and problem.entry is not None else ""].append(problem)
    raw_entry = raw_entry or {}
    for path, found in by_path.items():
        # A CronJob is its one entry; a ConfigMap's problem is an entry's when its path says which.
        name = source if kind == CRONJOB else found[0].entry if path else None
        raw = raw_entry.get(path) or {}
        rows.append(_invalid_row(namespace, kind, source, name, raw, found, status_of(name), enabled))
    return rows


def _raw_entries(configmap: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    """The raw entry at each entry path of a ConfigMap's problems, where the YAML can be read at all."""
    data = configmap.get("data")
    data = data if isinstance(data, Mapping) else {}
    loaded: dict[str, Any] = {}
    found: dict[str, Mapping[str, Any]] = {}
    for path in paths:
        match = _ENTRY_PATH.match(path)
        if match is None:
            continue
        key, index = match.group("key"), int(match.group("index"))
        if key not in loaded:
            try:
                loaded[key] = yaml.load(str(data.get(key, "")), Loader=YAML_LOADER)
            except (yaml.YAMLError, RecursionError, ValueError):
                loaded[key] = None
        doc = loaded[key]
        items = doc.get("entries") if isinstance(doc, Mapping) else doc
        if isinstance(items, list) and index < len(items) and isinstance(items[index], Mapping):
            found[match.group(0)] = items[index]
    return found


def recorded_statuses(status_configmap: Mapping[str, Any] | None) -> dict[str, EntryStatus]:
    """The statuses a status ConfigMap records, by entry name (none when absent or unreadable)."""
    if not status_configmap:
        return {}
    data = status_configmap.get("data")
    text = data.get(STATUS_KEY) if isinstance(data, Mapping) else None
    try:
        document = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}
    return parse_status_document(document)


def configmap_rows(
    configmap: Mapping[str, Any],
    status_configmap: Mapping[str, Any] | None,
    now: datetime,
    enabled: bool | None,
    scheduler_name: str,
    runs_by_label: Mapping[str, Sequence[RunRecord]] | None = None,
) -> list[StatusRow]:
    """The rows of a cron ConfigMap, parsed by the engine's own parser, with its recorded status and
    its entries' live runs (`runs_by_label`: the runs of its namespace by jobsched.io/entry value)."""
    namespace, name = configmap_ref(configmap)
    entries, problems = parse_configmap(configmap, scheduler_name)
    raw = _raw_entries(configmap, (p.field for p in problems if p.entry is not None))
    statuses = recorded_statuses(status_configmap)
    names = {e.name for e in entries} | {p.entry for p in problems if p.entry is not None}
    # An entry's label value, as naming.entry_label_value spells it for a ConfigMap entry.
    runs = (
        None
        if runs_by_label is None
        else {entry: runs_by_label.get(label_value(f"{name}.{entry}"), ()) for entry in names}
    )
    return document_rows(namespace, CONFIGMAP, name, entries, problems, statuses, now, enabled, raw, runs)


def status_from_cronjob(cronjob: Mapping[str, Any]) -> EntryStatus:
    """A batch/v1 CronJob's own status (lastScheduleTime, lastSuccessfulTime, active) as an EntryStatus,
    for an adopted CronJob's row (keyed by the CronJob's name in `document_rows`' statuses)."""
    status = cronjob.get("status")
    status = status if isinstance(status, Mapping) else {}
    active = status.get("active")
    names = tuple(
        str(ref.get("name", ""))
        for ref in (active if isinstance(active, list) else [])
        if isinstance(ref, Mapping)
    )
    return EntryStatus(
        parse_time(status.get("lastScheduleTime")), parse_time(status.get("lastSuccessfulTime")), names
    )


def cronjob_rows(
    cronjob: Mapping[str, Any],
    now: datetime,
    enabled: bool | None,
    scheduler_name: str,
    default_time_zone: str = "UTC",
) -> list[StatusRow]:
    """The row of an adopted batch/v1 CronJob: its entry (or why it stays with the native controller),
    with the CronJob's own status. Its runs are the CronJob's Jobs, which its status already counts."""
    entry, problems = parse_cronjob(cronjob, scheduler_name, default_time_zone)
    namespace, name, _ = cronjob_ref(cronjob)
    entries = [entry] if entry is not None else []
    statuses = {name: status_from_cronjob(cronjob)}
    return document_rows(namespace, CRONJOB, name, entries, problems, statuses, now, enabled)
