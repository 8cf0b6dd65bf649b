"""Cron engine fixtures: settings with short leads, a clock shifted to just before a minute boundary,
cron ConfigMaps, in-process engines, and waits on what they create."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import yaml

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronspec import parse_configmap
from jobsched.core.vocabulary import ENTRY_LABEL
from jobsched.kube.client import KubeClient
from jobsched.runtime.cron.engine import CronEngine
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.parts import Parts
from jobsched.settings import ApiSettings, CronSettings, Settings

SETTINGS = Settings(
    cron=CronSettings(min_lead_s=2.0, max_lead_s=20.0, lead_margin_s=2.0),
    api=ApiSettings(create_in_flight=8),
)
CONTAINER = {"name": "job", "image": "busybox", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}


def shifted_clock(seconds_before: float) -> tuple[Callable[[], datetime], datetime]:
    """A clock that reads `seconds_before` a minute boundary now, and that boundary (the slot)."""
    real = datetime.now(UTC)
    slot = real.replace(second=0, microsecond=0) + timedelta(minutes=2)
    offset = slot - timedelta(seconds=seconds_before) - real
    return (lambda: datetime.now(UTC) + offset), slot


def cron_configmap(ns: str, name: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"jobsched.io/cron": "true"}},
        "data": {"crons.yaml": yaml.safe_dump({"entries": entries})},
    }


def entry(name: str, **extra: Any) -> dict[str, Any]:
    spec = {"containers": [CONTAINER]}
    return {"name": name, "schedule": "* * * * *", "template": {"spec": spec}, **extra}


@contextlib.asynccontextmanager
async def configmap(kube: KubeClient, body: dict[str, Any]) -> AsyncIterator[list[CronEntry]]:
    """Creates a cron ConfigMap (deleted afterwards: namespaces never finish terminating here)."""
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    resp = await kube.request("POST", f"/api/v1/namespaces/{ns}/configmaps", body)
    assert resp.status == 201, resp.message()
    try:
        yield parse_configmap(body)[0]
    finally:
        await kube.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/{name}")


@contextlib.asynccontextmanager
async def running(
    kube: KubeClient, clock: Callable[[], datetime], count: int = 1, settings: Settings = SETTINGS
) -> AsyncIterator[list[tuple[CronEngine, Metrics]]]:
    """`count` cron engines (replicas, no scheduler, no election) with their watches and event writers,
    cancelled on exit."""
    engines = []
    async with anyio.create_task_group() as tg:
        for index in range(count):
            metrics = Metrics()
            parts = Parts(
                kube, settings, metrics, f"test-{index}", scheduling=False, cron=True, cron_clock=clock
            )
            assert parts.engine is not None
            engines.append((parts.engine, metrics))
            tg.start_soon(parts.run)
        try:
            yield engines
        finally:
            tg.cancel_scope.cancel()


async def slot_pods(kube: KubeClient, ns: str) -> list[dict[str, Any]]:
    reply = await kube.get_json(f"/api/v1/namespaces/{ns}/pods", {"labelSelector": ENTRY_LABEL})
    return list(reply["items"])


async def wait_pods(kube: KubeClient, ns: str, count: int, within_s: float = 30) -> list[dict[str, Any]]:
    with anyio.fail_after(within_s):
        while True:
            found = await slot_pods(kube, ns)
            if len(found) >= count:
                return found
            await anyio.sleep(0.2)


async def wait_until(clock: Callable[[], datetime], moment: datetime) -> None:
    await anyio.sleep(max((moment - clock()).total_seconds(), 0))


async def wait_event(
    kube: KubeClient, ns: str, reason: str, within_s: float = 30, count: int = 1
) -> list[dict[str, Any]]:
    with anyio.fail_after(within_s):
        while True:
            reply = await kube.get_json(f"/apis/events.k8s.io/v1/namespaces/{ns}/events")
            found = [e for e in reply["items"] if e.get("reason") == reason]
            if len(found) >= count:
                return found
            await anyio.sleep(0.3)


def fires(metrics: Metrics, outcome: str) -> float:
    return metrics.registry.get_sample_value("jobsched_cron_fires_total", {"outcome": outcome}) or 0.0
