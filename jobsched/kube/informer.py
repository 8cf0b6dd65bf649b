"""List+watch in informer style, on raw JSON.

An informer lists a collection (paged), hands the full set to its handler, then watches from the
list's resourceVersion with bookmarks. A 410 Gone (the watch's resourceVersion was compacted away)
triggers a fresh list; transport errors and server-closed watches resume from the last seen
resourceVersion after a jittered backoff. Objects stay raw dicts (orjson), converted by the handler;
watch events arrive without metadata.managedFields (`managedfields`), which nothing reads.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import orjson
import structlog

from jobsched.kube import paths
from jobsched.kube.client import ApiError, KubeClient, Response, TransportError
from jobsched.kube.managedfields import without_managed_fields

log = structlog.get_logger(__name__)

WATCH_TIMEOUT_S = 290
READ_TIMEOUT_S = WATCH_TIMEOUT_S + 30
PAGE_SIZE = 1000


class InformerHandler(Protocol):
    """Receives the informer's view. Both calls run on the event loop and must not block."""

    def replace(self, items: list[dict[str, Any]]) -> None:
        """The complete current set (after a list); anything not in it is gone."""

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        """One watch event: ADDED, MODIFIED or DELETED."""


class ResourceExpired(Exception):
    """The watch's resourceVersion is too old (HTTP 410 or an ERROR event with code 410)."""


@dataclass
class InformerStats:
    lists: int = 0
    watches: int = 0
    events: int = 0
    expired: int = 0
    errors: int = 0
    last_error: str = ""


@dataclass
class Informer:
    """Feeds handler from list+watch of path (e.g. "/api/v1/pods"), filtered by params."""

    client: KubeClient
    path: str
    handler: InformerHandler
    params: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    stats: InformerStats = field(default_factory=InformerStats)
    synced: anyio.Event = field(default_factory=anyio.Event)
    resource_version: str = ""
    max_backoff_s: float = 30.0
    # Monotonic time of the first list/watch failure since the last success; None while healthy. Read by
    # the health check (from another thread: a plain attribute, replaced whole).
    failing_since: float | None = None
    _watch_scope: anyio.CancelScope | None = field(default=None, repr=False)

    def restart_watch(self, resource_version: str | None = None) -> None:
        """Ends the current watch so it resumes (from resource_version, if given). For tests and chaos."""
        if resource_version is not None:
            self.resource_version = resource_version
        if self._watch_scope is not None:
            self._watch_scope.cancel()

    async def run(self) -> None:
        """Runs until cancelled. Never returns on errors: it backs off and resumes."""
        backoff = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                with anyio.CancelScope() as scope:
                    self._watch_scope = scope
                    await self._watch()
                self._watch_scope = None
                self.failing_since = None
                backoff = 0.2  # a watch that ended normally (timeout) resumes at once
            except ResourceExpired:
                self.stats.expired += 1
                log.info(
                    "watch expired, relisting", informer=self.name, resource_version=self.resource_version
                )
                need_list = True
            except (TransportError, ApiError, orjson.JSONDecodeError) as err:
                self.stats.errors += 1
                self.stats.last_error = str(err)
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                if isinstance(err, ApiError) and err.status == 410:
                    self.stats.expired += 1
                    need_list = True
                    continue
                log.warning(
                    "list/watch failed; backing off", informer=self.name, error=str(err), backoff_s=backoff
                )
                await anyio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.max_backoff_s)

    async def _list(self) -> None:
        items: list[dict[str, Any]] = []
        params = {**self.params, "limit": str(PAGE_SIZE)}
        while True:
            page = await self.client.get_json(self.path, params)
            items.extend(page.get("items") or [])
            cont = page.get("metadata", {}).get("continue")
            if not cont:
                self.resource_version = page["metadata"]["resourceVersion"]
                break
            params = {**params, "continue": cont}
        self.stats.lists += 1
        self.failing_since = None
        self.handler.replace(items)
        self.synced.set()

    async def _watch(self) -> None:
        params = {
            **self.params,
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.resource_version,
            "timeoutSeconds": str(WATCH_TIMEOUT_S + random.randint(0, 30)),
        }
        self.stats.watches += 1
        async for line in self.client.stream_lines(self.path, params, READ_TIMEOUT_S):
            self.failing_since = None
            event = orjson.loads(without_managed_fields(line))
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise ResourceExpired(obj.get("message", ""))
                code = int(obj.get("code") or 500)
                raise ApiError("WATCH", self.path, Response(code, orjson.dumps(obj)))
            rv = obj.get("metadata", {}).get("resourceVersion")
            if rv:
                self.resource_version = rv
            if kind == "BOOKMARK":
                continue
            self.stats.events += 1
            self.handler.apply(kind, obj)


class Resource(enum.Enum):
    """The collections jobsched watches, cluster-wide."""

    NODES = "nodes"
    PODS = "pods"
    NAMESPACES = "namespaces"
    CONFIGMAPS = "configmaps"
    JOBS = "jobs"
    CRONJOBS = "cronjobs"


_COLLECTIONS: dict[Resource, str] = {
    Resource.NODES: paths.nodes(),
    Resource.PODS: paths.pods(),
    Resource.NAMESPACES: paths.namespaces(),
    Resource.CONFIGMAPS: paths.configmaps(),
    Resource.JOBS: paths.jobs(),
    Resource.CRONJOBS: paths.cronjobs(),
}


def informer_for(
    client: KubeClient,
    resource: Resource,
    handler: InformerHandler,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> Informer:
    """An informer on one cluster-wide collection, optionally filtered by selectors."""
    params: dict[str, str] = {}
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    return Informer(client, _COLLECTIONS[resource], handler, params, name=resource.value)
