"""Cron entries from ConfigMaps: the ConfigMap watch's handler and the `EntrySource` built on it.

One ConfigMap watch (label selector: the cron label's key exists) sees both kinds of ConfigMap jobsched
reads: sources (the cron label with its configured value) and the status ConfigMaps jobsched writes
(value `status`, see `jobsched.kube.statusmaps`). The handler only sorts and queues; each changed source
is parsed later by `run()`, in a worker process with a deadline (`parse_worker`), so a hostile ConfigMap
can cost neither the event loop nor memory beyond its budget (where worker processes cannot start, in a
thread, still off the loop). A ConfigMap whose resourceVersion did not change (a relist) is not parsed
again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio
import anyio.to_process
import anyio.to_thread
import orjson
import structlog
from anyio import BrokenWorkerProcess

from jobsched.core.cronentry import CronEntry, Problem
from jobsched.core.cronplan import STATUS_KEY, EntryStatus, parse_status_document
from jobsched.core.vocabulary import STATUS_FOR_LABEL
from jobsched.kube import statusmaps
from jobsched.kube.client import KubeClient
from jobsched.kube.events import ObjectRef
from jobsched.runtime.cron.parse_worker import parse_in_worker, parse_raw
from jobsched.runtime.cron.sources import SourceDocument
from jobsched.runtime.cron.stores import Key
from jobsched.settings import Settings

log = structlog.get_logger(__name__)

RETRY_FIRST_S = 30.0  # a parse that ran out of time is tried again after this, doubling ...
RETRY_MAX_S = 600.0  # ... up to this


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


class ConfigMapSource:
    def __init__(self, client: KubeClient, settings: Settings, changed: Callable[[], None]) -> None:
        self._client = client
        self._scheduler_name = settings.scheduler_name
        self._label_key = settings.cron.configmap_label_key
        self._label_value = settings.cron.configmap_label_value
        self._parse_timeout_s = settings.cron.parse_timeout_s
        self._changed = changed
        self._documents: dict[Key, SourceDocument] = {}
        self._recorded: dict[Key, dict[str, EntryStatus]] = {}  # source ConfigMap -> its entries' status
        self._pending: dict[Key, dict[str, Any] | None] = {}  # to parse (None: to forget), latest wins
        self._wake = anyio.Event()
        self._listed = False
        self._synced = anyio.Event()
        self._isolated: bool | None = None  # parsing in worker processes; None until first tried
        self._retries: dict[
            Key, tuple[float, int, dict[str, Any]]
        ] = {}  # parses to try again: (due, tries, obj)

    # --- EntrySource -------------------------------------------------------------------------------

    @property
    def synced(self) -> anyio.Event:
        return self._synced

    def documents(self) -> Iterable[SourceDocument]:
        return self._documents.values()

    def document(self, namespace: str, name: str) -> SourceDocument | None:
        return self._documents.get((namespace, name))

    def recorded(self, entry: CronEntry) -> EntryStatus | None:
        return self._recorded.get((entry.namespace, entry.configmap), {}).get(entry.name)

    async def write_status(self, document: SourceDocument, rendered: dict[str, Any]) -> bool:
        ref = document.ref
        return await statusmaps.write_status(
            self._client, ref.namespace, ref.name, ref.uid, rendered, self._label_key
        )

    # --- the watch's handler -----------------------------------------------------------------------

    def replace(self, items: list[dict[str, Any]]) -> None:
        self._recorded = {}
        listed: set[Key] = set()
        for item in items:
            self.apply("ADDED", item)
            listed.add(_key(item))
        for key in (self._documents.keys() | self._pending.keys()) - listed:
            self._pending[key] = None
        self._listed = True
        self._wake.set()

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        key = _key(obj)
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if STATUS_FOR_LABEL in labels:
            self._apply_status(event_type, key[0], key[1], obj)
            return
        is_source = event_type != "DELETED" and labels.get(self._label_key) == self._label_value
        if is_source:
            known = self._documents.get(key)
            version = str((obj.get("metadata") or {}).get("resourceVersion", ""))
            if known is not None and known.resource_version == version and key not in self._pending:
                return
            self._pending[key] = obj
        elif key in self._documents or key in self._pending:
            self._pending[key] = None  # deleted, or its label no longer says it holds entries
        self._wake.set()

    def _apply_status(self, event_type: str, namespace: str, name: str, obj: dict[str, Any]) -> None:
        source = statusmaps.source_of(name)
        if source is None:
            return
        if event_type == "DELETED":
            self._recorded.pop((namespace, source), None)
            return
        text = (obj.get("data") or {}).get(STATUS_KEY) or "{}"
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            document = {}
        self._recorded[namespace, source] = parse_status_document(document)

    # --- parsing, off the event loop ---------------------------------------------------------------

    async def run(self) -> None:
        while True:
            self._requeue_due_retries()
            if not self._pending:
                if self._listed:
                    self._synced.set()
                self._wake = anyio.Event()
                with anyio.move_on_after(self._next_retry_in()):
                    await self._wake.wait()
                continue
            key, obj = next(iter(self._pending.items()))
            del self._pending[key]
            self._retries.pop(key, None)  # this version supersedes any retry of an older one
            if obj is None:
                self._documents.pop(key, None)
            else:
                document, timed_out = await self._parse(key, obj)
                self._documents[key] = document
                if timed_out:
                    self._schedule_retry(key, obj)
            self._changed()

    def _schedule_retry(self, key: Key, obj: dict[str, Any]) -> None:
        """A parse that ran out of time is tried again later, with backoff: on a machine that was merely
        overloaded it then succeeds, and a ConfigMap that always does costs one parse per period."""
        attempts = self._retries[key][1] + 1 if key in self._retries else 1
        delay = min(RETRY_FIRST_S * 2 ** (attempts - 1), RETRY_MAX_S)
        self._retries[key] = (time.monotonic() + delay, attempts, obj)
        log.warning("will parse the cron ConfigMap again", configmap=f"{key[0]}/{key[1]}", in_s=delay)

    def _requeue_due_retries(self) -> None:
        now = time.monotonic()
        for key, (due, attempts, obj) in list(self._retries.items()):
            if due <= now and key not in self._pending:
                self._pending[key] = obj
                self._retries[key] = (float("inf"), attempts, obj)  # counted again if it times out again

    def _next_retry_in(self) -> float:
        due = [due for due, _, _ in self._retries.values() if due != float("inf")]
        return max(0.0, min(due) - time.monotonic()) if due else float("inf")

    async def _parse(self, key: Key, obj: dict[str, Any]) -> tuple[SourceDocument, bool]:
        """The parsed document, and whether the parse ran out of time (then its Problem says so)."""
        meta = obj.get("metadata") or {}
        ref = ObjectRef("ConfigMap", key[0], key[1], str(meta.get("uid", "")))
        version = str(meta.get("resourceVersion", ""))
        raw = orjson.dumps(obj)
        problem: str | None = None
        isolated = await self._workers_usable()
        with anyio.move_on_after(self._parse_timeout_s) as scope:
            try:
                if isolated:
                    entries, problems = await anyio.to_process.run_sync(
                        parse_in_worker, raw, self._scheduler_name, cancellable=True
                    )
                else:
                    entries, problems = await anyio.to_thread.run_sync(
                        parse_raw, raw, self._scheduler_name, abandon_on_cancel=True
                    )
            except BrokenWorkerProcess as err:  # the worker died parsing it (killed, crashed in C)
                problem = "could not be parsed: the parser's worker process died on it"
                log.warning(
                    "cron ConfigMap killed its parse worker", configmap=f"{key[0]}/{key[1]}", error=repr(err)
                )
        if scope.cancelled_caught:
            problem = (
                f"could not be parsed within {self._parse_timeout_s:g} s; none of its entries run"
                " until a later attempt succeeds"
            )
        if problem is not None:
            entries, problems = [], [Problem(f"{key[0]}/{key[1]}", None, "data", problem)]
        return SourceDocument(ref, version, tuple(entries), tuple(problems)), scope.cancelled_caught

    async def _workers_usable(self) -> bool:
        """Whether worker processes can be started here, found out once with an empty ConfigMap. Where
        they cannot (a sandbox without fork/exec, a broken interpreter path), parsing falls back to a
        thread: still off the event loop and still bounded by the parser's own budgets, though no
        longer by a separate address space."""
        if self._isolated is None:
            with anyio.move_on_after(self._parse_timeout_s) as scope:
                try:
                    await anyio.to_process.run_sync(
                        parse_in_worker, b"{}", self._scheduler_name, cancellable=True
                    )
                    self._isolated = True
                except (BrokenWorkerProcess, OSError) as err:
                    log.error(
                        "cannot start parse worker processes; parsing ConfigMaps in a thread", error=repr(err)
                    )
                    self._isolated = False
            if scope.cancelled_caught:
                log.error("parse worker process did not start in time; parsing ConfigMaps in a thread")
                self._isolated = False
        return bool(self._isolated)
