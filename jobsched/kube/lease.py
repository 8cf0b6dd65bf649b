"""Leader election on a coordination.k8s.io/v1 Lease, in the manner of client-go's leaderelection.

A candidate takes the Lease when its holder has not renewed it for leaseDuration (judged by the
local time at which this candidate last saw the record change, so clocks need not agree), and
renews it every retryPeriod. A leader that has not renewed for renewDeadline gives up at once: the
work it guards is cancelled before another candidate can take over. Leases give no fencing, so
jobsched's writes are idempotent on their own (deterministic pod names, UID preconditions on
bindings); leader election only keeps the work from running twice at full speed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from jobsched.kube import paths
from jobsched.kube.client import KubeClient, TransportError

log = structlog.get_logger(__name__)

FAILED_RENEW_RETRY_S = 0.5  # after a failed renewal, the next try comes this soon (jittered)


class LeadershipLost(Exception):
    """The lease could not be renewed within renewDeadline."""


@dataclass(frozen=True)
class LeaseConfig:
    name: str
    namespace: str
    identity: str
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0


def _micro_time(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(self, client: KubeClient, config: LeaseConfig) -> None:
        self._client = client
        self.config = config
        self._path = paths.lease(config.namespace, config.name)
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) as last seen
        self._observed_at = 0.0
        self.is_leader = False
        self.transitions = 0
        self._expires_at = 0.0  # monotonic time the observed holder's lease runs out, if another holds it
        self._written: dict[str, Any] | None = None  # the lease as this elector last wrote it
        self.contact_at: float | None = None  # monotonic time of the last answer about the lease

    def _spec(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        now = _micro_time(dt.datetime.now(dt.UTC))
        spec: dict[str, Any] = {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": int(self.config.lease_duration_s),
            "renewTime": now,
            "acquireTime": now,
            "leaseTransitions": 0,
        }
        if previous is not None:
            transitions = int(previous.get("leaseTransitions") or 0)
            if previous.get("holderIdentity") == self.config.identity:
                spec["acquireTime"] = previous.get("acquireTime") or now
                spec["leaseTransitions"] = transitions
            else:
                spec["leaseTransitions"] = transitions + 1
        return spec

    async def _put(self, lease: dict[str, Any], now: float) -> bool:
        """Writes the lease (its resourceVersion is the precondition); remembers what was written."""
        try:
            updated = await self._client.request(
                "PUT", self._path, lease, timeout=self.config.retry_period_s * 2
            )
        except TransportError:
            # The write may have been carried out with its reply lost: then the resourceVersion we hold
            # is stale, and the next attempt reads the lease rather than spend a request on a 409.
            self._written = None
            raise
        if not updated.ok:
            self._written = None
            return False
        self._written = updated.json()
        new_spec = self._written["spec"]
        self._observed, self._observed_at = (self.config.identity, str(new_spec.get("renewTime"))), now
        return True

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True if we hold the lease afterwards.

        A leader renews in one request, on the lease as it last wrote it (the resourceVersion makes
        that safe: if anyone wrote since, the PUT is refused and the slow path reads it first), as
        client-go does; a candidate, or a leader whose fast path failed, reads then writes.
        """
        if self.is_leader and self._written is not None:
            lease = dict(self._written)
            lease["spec"] = self._spec(self._written.get("spec") or {})
            if await self._put(lease, time.monotonic()):
                return True
        resp = await self._client.request("GET", self._path, timeout=self.config.retry_period_s * 2)
        if resp.status == 404:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": self._spec(None),
            }
            path = paths.leases(self.config.namespace)
            created = await self._client.request("POST", path, body, timeout=self.config.retry_period_s * 2)
            self._written = created.json() if created.ok else None
            return created.ok
        if not resp.ok:
            return False
        lease = resp.json()
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, str(spec.get("renewTime")))
        now = time.monotonic()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration_s)
        self._expires_at = self._observed_at + duration if holder and holder != self.config.identity else 0.0
        if holder and holder != self.config.identity and now < self._observed_at + duration:
            return False  # someone else holds a lease that has not expired by our clock
        lease["spec"] = self._spec(spec)
        return await self._put(lease, now)

    async def _attempt(self) -> bool:
        try:
            held = await self.try_acquire_or_renew()
        except (TransportError, ValueError) as err:  # ValueError: a garbled reply
            log.warning("lease request failed", lease=self.config.name, error=repr(err))
            return False
        self.contact_at = time.monotonic()
        return held

    async def acquire(self) -> None:
        """Waits until this candidate holds the lease."""
        while not await self._attempt():  # noqa: ASYNC110 - polling the apiserver is the protocol
            await anyio.sleep(self._retry_in())
        self.is_leader = True
        self.transitions += 1
        log.info("became leader", lease=self.config.name, identity=self.config.identity)

    def _retry_in(self) -> float:
        """retryPeriod, or less when the holder's lease runs out sooner by our clock: a standby tries
        again at that moment instead of up to a retryPeriod after it (a faster takeover, same safety)."""
        until_expiry = self._expires_at - time.monotonic()
        if 0.0 < until_expiry < self.config.retry_period_s:
            return until_expiry + 0.05
        return self.config.retry_period_s

    async def _renew_until_lost(self) -> None:
        """Renews every retryPeriod; after a failed renewal tries again sooner (a lost request must not
        cost a whole retryPeriod of the renewDeadline), and raises the moment renewDeadline has passed
        since the last renewal, even in the middle of a request."""
        deadline = self.config.renew_deadline_s
        last_renew = time.monotonic()
        wait = self.config.retry_period_s
        while True:
            await anyio.sleep(min(wait, max(0.0, last_renew + deadline - time.monotonic())))
            renewed = False
            remaining = last_renew + deadline - time.monotonic()
            if remaining > 0:
                with anyio.move_on_after(remaining):
                    renewed = await self._attempt()
            if renewed:
                last_renew = time.monotonic()
                wait = self.config.retry_period_s
                continue
            if time.monotonic() - last_renew >= deadline:
                self.is_leader = False
                raise LeadershipLost(
                    f"could not renew lease {self.config.namespace}/{self.config.name} within {deadline:g}s"
                )
            wait = min(self.config.retry_period_s, FAILED_RENEW_RETRY_S) * (0.75 + random.random() / 2)

    async def run_while_leader(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Acquires, then runs work while renewing; raises LeadershipLost the moment renewal fails.

        The work is cancelled before the exception leaves, so nothing it does outlives the lease.
        """
        await self.acquire()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._renew_until_lost)
                await work()
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            lost, rest = group.split(LeadershipLost)
            if lost is None or rest is not None:
                raise
            raise lost.exceptions[0] from None

    async def release(self) -> None:
        """Hands the lease back on a clean shutdown so a standby need not wait leaseDuration."""
        if not self.is_leader:
            return
        with anyio.move_on_after(2), contextlib.suppress(TransportError):  # best effort: it expires anyway
            resp = await self._client.request("GET", self._path)
            if resp.ok:
                lease = resp.json()
                if lease["spec"].get("holderIdentity") == self.config.identity:
                    lease["spec"]["holderIdentity"] = ""
                    lease["spec"]["leaseDurationSeconds"] = 1
                    await self._client.request("PUT", self._path, lease)
        self.is_leader = False
