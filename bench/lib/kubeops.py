"""The harness's own API chores: namespaces, bulk creates with bounded concurrency, nodes.

None of this is measured, but at 10,000 objects it must still be concurrent, and it must clean up
completely: the local control plane runs no namespace controller (only the native baseline's
cronjob/job/GC controllers), so the harness deletes a namespace's contents itself and then
finalizes the namespace.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from jobsched.kube.client import ApiError, KubeClient


async def fan_out(count: int, in_flight: int, work: Callable[[int], Awaitable[None]]) -> float:
    """Runs work(i) for i in range(count) with in_flight workers; returns elapsed seconds."""
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            i = next_index
            next_index += 1
            await work(i)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(min(in_flight, count)):
            tg.start_soon(worker)
    return time.perf_counter() - started


async def create_all(
    client: KubeClient, collection: str, bodies: Sequence[dict[str, Any]], in_flight: int = 32
) -> float:
    """POSTs every body to collection (retrying transient errors); raises on the first refusal."""

    async def create(i: int) -> None:
        resp = await client.request_retrying("POST", collection, bodies[i])
        if not resp.ok:
            raise ApiError("POST", collection, resp)

    return await fan_out(len(bodies), in_flight, create)


async def create_namespace(client: KubeClient, name: str, labels: dict[str, str]) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    resp = await client.request_retrying("POST", "/api/v1/namespaces", body)
    if not resp.ok:
        raise ApiError("POST", "/api/v1/namespaces", resp)


NAMESPACED_COLLECTIONS = (
    "/apis/batch/v1/namespaces/{ns}/cronjobs",
    "/apis/batch/v1/namespaces/{ns}/jobs",
    "/api/v1/namespaces/{ns}/pods",
    "/api/v1/namespaces/{ns}/configmaps",
    "/api/v1/namespaces/{ns}/events",
)


async def delete_namespace(client: KubeClient, namespace: str) -> None:
    """Deletes the namespace's contents, then the namespace, then finalizes it so it is really gone."""
    for template in NAMESPACED_COLLECTIONS:
        await client.request(
            "DELETE",
            template.format(ns=namespace),
            params={"gracePeriodSeconds": "0", "propagationPolicy": "Background"},
            timeout=300,
        )
    await strip_pod_finalizers(client, namespace)
    await client.request("DELETE", f"/api/v1/namespaces/{namespace}")
    resp = await client.request("GET", f"/api/v1/namespaces/{namespace}")
    if resp.ok:
        ns = resp.json()
        ns["spec"] = {"finalizers": []}
        await client.request("PUT", f"/api/v1/namespaces/{namespace}/finalize", ns)


async def strip_pod_finalizers(client: KubeClient, namespace: str) -> None:
    """Pods keep jobsched.io/tracking once their scheduler is stopped; left alone they would outlive the
    namespace and hold node capacity (same node names) in every later run."""
    listing = await client.get_json(f"/api/v1/namespaces/{namespace}/pods")
    limiter = anyio.CapacityLimiter(32)

    async def strip(name: str) -> None:
        async with limiter:
            await client.request(
                "PATCH",
                f"/api/v1/namespaces/{namespace}/pods/{name}",
                {"metadata": {"finalizers": None}},
                content_type="application/merge-patch+json",
            )

    async with anyio.create_task_group() as tg:
        for pod in listing.get("items") or []:
            if pod["metadata"].get("finalizers"):
                tg.start_soon(strip, pod["metadata"]["name"])


async def list_nodes(client: KubeClient, label_selector: str = "") -> list[dict[str, Any]]:
    params = {"labelSelector": label_selector} if label_selector else {}
    reply = await client.get_json("/api/v1/nodes", params)
    return list(reply.get("items") or [])


async def delete_nodes(client: KubeClient, label_selector: str) -> None:
    await client.request("DELETE", "/api/v1/nodes", params={"labelSelector": label_selector}, timeout=120)


async def wait_nodes_ready(client: KubeClient, label_selector: str, count: int, within_s: float) -> None:
    """Waits until count nodes matching label_selector are Ready (kwok marks them) and untainted."""
    with anyio.fail_after(within_s):
        while True:
            ready = 0
            for node in await list_nodes(client, label_selector):
                conditions = (node.get("status") or {}).get("conditions") or []
                taints = (node.get("spec") or {}).get("taints") or []
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) and not any(
                    t["key"] == "node.kubernetes.io/not-ready" for t in taints
                ):
                    ready += 1
            if ready >= count:
                return
            await anyio.sleep(0.5)
