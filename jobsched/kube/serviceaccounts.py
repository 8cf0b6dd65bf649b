"""Does a ServiceAccount exist? One GET per (namespace, name), remembered briefly.

A cron entry's pods may only run as a service account of their own namespace that exists
(docs/trust-model.md); the apiserver does not enforce that unless its ServiceAccount admission plugin
is on, and jobsched must not depend on how a cluster is configured for a promise it makes. The check runs
when a storm is staged, before T, and a storm of N entries naming one account must cost one GET, not
N: concurrent lookups of the same key share the request in flight, and its answer is kept for a short
while (ttl), so an account created or deleted since is seen on a later staging.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import anyio

from jobsched.kube import paths
from jobsched.kube.client import KubeClient, TransportError

DEFAULT_TTL_S: Final = 30.0


class Found(enum.Enum):
    EXISTS = "exists"
    MISSING = "missing"  # 404: the account does not exist
    REFUSED = "refused"  # 4xx such as 403: jobsched may not look, so it cannot vouch for the account
    UNKNOWN = "unknown"  # transport error, 429 or 5xx: ask again later


@dataclass(frozen=True, slots=True)
class Lookup:
    found: Found
    message: str = ""  # the apiserver's message (or the transport error) when not EXISTS


@dataclass(slots=True)
class _Pending:
    done: anyio.Event = field(default_factory=anyio.Event)
    answer: Lookup | None = None


class ServiceAccountCache:
    """Answers `lookup(namespace, name)`; a definite answer is reused for `ttl_s` seconds."""

    def __init__(
        self,
        client: KubeClient,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._clock = clock
        self._answers: dict[tuple[str, str], tuple[float, Lookup]] = {}
        self._in_flight: dict[tuple[str, str], _Pending] = {}
        self.requests = 0  # GETs sent, for tests and metrics

    async def lookup(self, namespace: str, name: str) -> Lookup:
        key = (namespace, name)
        while True:
            cached = self._answers.get(key)
            if cached is not None and self._clock() < cached[0]:
                return cached[1]
            pending = self._in_flight.get(key)
            if pending is None:
                break
            await pending.done.wait()
            if pending.answer is not None:
                return pending.answer  # even UNKNOWN: one failed GET answers everyone who waited on it
        pending = _Pending()
        self._in_flight[key] = pending
        try:
            answer = await self._get(namespace, name)
            pending.answer = answer
            if answer.found is not Found.UNKNOWN:
                self._answers[key] = (self._clock() + self._ttl_s, answer)
            return answer
        finally:
            del self._in_flight[key]
            pending.done.set()

    async def _get(self, namespace: str, name: str) -> Lookup:
        self.requests += 1
        path = paths.serviceaccount(namespace, name)
        try:
            resp = await self._client.request_retrying("GET", path, attempts=3, timeout=10)
        except TransportError as err:
            return Lookup(Found.UNKNOWN, repr(err))
        if resp.ok:
            return Lookup(Found.EXISTS)
        if resp.status == 404:
            return Lookup(Found.MISSING, resp.message())
        if 400 <= resp.status < 500 and resp.status != 429:
            return Lookup(Found.REFUSED, f"HTTP {resp.status}: {resp.message()}")
        return Lookup(Found.UNKNOWN, f"HTTP {resp.status}: {resp.message()}")

    def forget_expired(self) -> None:
        """Drops answers past their ttl, so the cache holds only accounts in recent use."""
        now = self._clock()
        self._answers = {key: value for key, value in self._answers.items() if value[0] > now}
