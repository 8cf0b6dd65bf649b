"""What the cron engine knows of the cluster, kept current by its informers.

Four informer handlers, each a plain in-memory index: opted-in namespaces, cron ConfigMaps (parsed
into entries once per change, not once per look), the runs (Pods and Jobs) of every entry, and the
status ConfigMaps jobsched wrote earlier. The engine reads them on the event loop; nothing here does
I/O, so the handlers never block a watch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from jobsched.core.cronplan import STATUS_KEY, EntryStatus, parse_status_document
from jobsched.core.cronruns import RunRecord
from jobsched.core.cronspec import CronEntry, Problem, parse_configmap
from jobsched.core.vocabulary import STATUS_SUFFIX

Key = tuple[str, str]  # (namespace, name)


def _key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


class NamespaceStore:
    """The names of the namespaces that opted in (the informer's label selector does the filtering)."""

    def __init__(self, changed: Callable[[], None]) -> None:
        self.enabled: set[str] = set()
        self._changed = changed

    def replace(self, items: list[dict[str, Any]]) -> None:
        self.enabled = {str((item.get("metadata") or {}).get("name")) for item in items}
        self._changed()

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name"))
        if event_type == "DELETED":
            self.enabled.discard(name)
        else:
            self.enabled.add(name)
        self._changed()


@dataclass(frozen=True, slots=True)
class ParsedConfigMap:
    namespace: str
    name: str
    uid: str
    resource_version: str
    entries: tuple[CronEntry, ...]
    problems: tuple[Problem, ...]


class ConfigMapStore:
    """Cron ConfigMaps, parsed when they change."""

    def __init__(self, scheduler_name: str, changed: Callable[[], None]) -> None:
        self.configmaps: dict[Key, ParsedConfigMap] = {}
        self._scheduler_name = scheduler_name
        self._changed = changed

    def _parse(self, obj: dict[str, Any]) -> ParsedConfigMap:
        meta = obj.get("metadata") or {}
        entries, problems = parse_configmap(obj, self._scheduler_name)
        namespace, name = _key(obj)
        return ParsedConfigMap(
            namespace,
            name,
            str(meta.get("uid", "")),
            str(meta.get("resourceVersion", "")),
            tuple(entries),
            tuple(problems),
        )

    def replace(self, items: list[dict[str, Any]]) -> None:
        self.configmaps = {_key(item): self._parse(item) for item in items}
        self._changed()

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self.configmaps.pop(_key(obj), None)
        else:
            self.configmaps[_key(obj)] = self._parse(obj)
        self._changed()


class RunStore:
    """The runs of every entry, by (namespace, entry label), plus tracked pods awaiting finalizer removal.

    `convert` turns a raw object into a run (None: not a slot object). A run that is finished or being
    deleted and still carries the tracking finalizer is kept, with its raw metadata, in `to_release`.
    """

    def __init__(self, convert: Callable[[dict[str, Any]], RunRecord | None]) -> None:
        self.runs: dict[Key, dict[str, RunRecord]] = {}
        self.to_release: dict[str, dict[str, Any]] = {}  # uid -> {"metadata": ...}
        self._convert = convert

    def replace(self, items: list[dict[str, Any]]) -> None:
        self.runs = {}
        self.to_release = {}
        for item in items:
            self.apply("ADDED", item)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        run = self._convert(obj)
        if run is None:
            return
        group = self.runs.setdefault((run.namespace, run.entry_label), {})
        if event_type == "DELETED":
            group.pop(run.name, None)
            if not group:
                del self.runs[run.namespace, run.entry_label]
            self.to_release.pop(run.uid, None)
            return
        group[run.name] = run
        if run.tracked and (run.done or run.deleting):
            self.to_release[run.uid] = {"metadata": obj.get("metadata") or {}}
        else:
            self.to_release.pop(run.uid, None)

    def remember(self, obj: dict[str, Any]) -> None:
        """Adds an object this process just created, unless the informer already has a newer view."""
        run = self._convert(obj)
        if run is not None and run.name not in self.runs.get((run.namespace, run.entry_label), {}):
            self.apply("ADDED", obj)

    def of(self, namespace: str, entry_label: str) -> dict[str, RunRecord]:
        return self.runs.get((namespace, entry_label), {})


class StatusStore:
    """The status ConfigMaps jobsched wrote, as recorded entry statuses by (namespace, source ConfigMap)."""

    def __init__(self) -> None:
        self.recorded: dict[Key, dict[str, EntryStatus]] = {}

    @staticmethod
    def _source(obj: dict[str, Any]) -> Key | None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name", ""))
        if not name.endswith(STATUS_SUFFIX):
            return None
        return str(meta.get("namespace", "")), name[: -len(STATUS_SUFFIX)]

    def replace(self, items: list[dict[str, Any]]) -> None:
        self.recorded = {}
        for item in items:
            self.apply("ADDED", item)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        source = self._source(obj)
        if source is None:
            return
        if event_type == "DELETED":
            self.recorded.pop(source, None)
            return
        text = (obj.get("data") or {}).get(STATUS_KEY) or "{}"
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            document = {}
        self.recorded[source] = parse_status_document(document)
