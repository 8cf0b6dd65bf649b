"""Cron entries from adopted batch/v1 CronJobs: the CronJob watch's handler and the `EntrySource` on it.

The watch's label selector is the managed label (`jobsched.io/managed=true`), so it sees exactly the
CronJobs handed to jobsched; removing the label is a DELETED event here, and the CronJob is the native
controller's again. Each event updates the CronJob's hand-over state (its status and resourceVersion,
read by the stager and the claims) at once; a CronJob is parsed into an entry only when what the entry
depends on changed (its uid, spec generation or jobsched annotations), never on a status write, so the
thousands of status writes of a storm cost no re-planning. Parsing is cheap (the apiserver validated the
object) and done in `run()`, off the watch, a few hundred at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio
import anyio.lowlevel

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronjobclaims import CronJobState, cronjob_state
from jobsched.core.cronjobspec import parse_cronjob
from jobsched.core.cronplan import EntryStatus
from jobsched.core.vocabulary import DOMAINS_ANNOTATION, PRIORITY_ANNOTATION
from jobsched.kube.events import ObjectRef
from jobsched.runtime.cron.sources import SourceDocument
from jobsched.runtime.cron.stores import Key
from jobsched.settings import Settings

PARSE_CHUNK = 200  # CronJobs parsed between two yields to the event loop
NOT_ADOPTED = "NotAdopted"


def _spec_key(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """What an entry depends on: a status write changes none of it."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return (
        str(meta.get("uid", "")),
        str(meta.get("generation", "")),
        str(annotations.get(DOMAINS_ANNOTATION, "")),
        str(annotations.get(PRIORITY_ANNOTATION, "")),
    )


class CronJobSource:
    def __init__(
        self, settings: Settings, changed: Callable[[], None], touched: Callable[[Key], None]
    ) -> None:
        self._scheduler_name = settings.scheduler_name
        self._zone = settings.cron.cronjob_time_zone
        self._changed = changed  # the entry set changed: re-plan
        self._touched = touched  # a CronJob's status (or existence) changed: re-check its hand-over
        self._documents: dict[Key, SourceDocument] = {}
        self._keys: dict[Key, tuple[str, ...]] = {}  # what each document was parsed from
        self._states: dict[Key, CronJobState] = {}
        self._pending: dict[Key, dict[str, Any] | None] = {}  # to parse (None: to forget), latest wins
        self._wake = anyio.Event()
        self._listed = False
        self._synced = anyio.Event()

    # --- EntrySource -------------------------------------------------------------------------------

    @property
    def synced(self) -> anyio.Event:
        return self._synced

    def documents(self) -> Iterable[SourceDocument]:
        return self._documents.values()

    def recorded(self, entry: CronEntry) -> EntryStatus | None:
        state = self._states.get((entry.namespace, entry.name))
        return state.entry_status() if state is not None else None

    async def write_status(self, document: SourceDocument, rendered: dict[str, Any]) -> bool:
        """Nothing to write: a CronJob's status is written by the claims (and the native controller)."""
        return True

    # --- the hand-over's view ----------------------------------------------------------------------

    def state(self, namespace: str, name: str) -> CronJobState | None:
        """The managed CronJob's status as last seen by the watch."""
        return self._states.get((namespace, name))

    def managed(self) -> Iterable[Key]:
        return self._states.keys()

    # --- the watch's handler -----------------------------------------------------------------------

    def replace(self, items: list[dict[str, Any]]) -> None:
        listed: set[Key] = set()
        for item in items:
            self.apply("ADDED", item)
            listed.add(self._key(item))
        for key in (self._states.keys() | self._documents.keys() | self._pending.keys()) - listed:
            self.apply("DELETED", {"metadata": {"namespace": key[0], "name": key[1]}})
        self._listed = True
        self._wake.set()

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        key = self._key(obj)
        if event_type == "DELETED":
            self._states.pop(key, None)
            if key in self._documents or key in self._pending:
                self._pending[key] = None
                self._wake.set()
        else:
            self._states[key] = cronjob_state(obj)
            if self._keys.get(key) != _spec_key(obj) or key in self._pending:
                self._pending[key] = obj
                self._wake.set()
        self._touched(key)

    @staticmethod
    def _key(obj: Mapping[str, Any]) -> Key:
        meta = obj.get("metadata") or {}
        return str(meta.get("namespace", "")), str(meta.get("name", ""))

    # --- parsing -----------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            if not self._pending:
                if self._listed:
                    self._synced.set()
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            for _ in range(min(PARSE_CHUNK, len(self._pending))):
                key, obj = next(iter(self._pending.items()))
                del self._pending[key]
                if obj is None:
                    self._documents.pop(key, None)
                    self._keys.pop(key, None)
                else:
                    self._documents[key] = self._parse(key, obj)
                    self._keys[key] = _spec_key(obj)
            self._changed()
            await anyio.lowlevel.checkpoint()

    def _parse(self, key: Key, obj: dict[str, Any]) -> SourceDocument:
        meta = obj.get("metadata") or {}
        entry, problems = parse_cronjob(obj, self._scheduler_name, self._zone)
        ref = ObjectRef("CronJob", key[0], key[1], str(meta.get("uid", "")), api_version="batch/v1")
        version = "/".join(_spec_key(obj))
        entries = (entry,) if entry is not None else ()
        return SourceDocument(ref, version, entries, tuple(problems), NOT_ADOPTED)
