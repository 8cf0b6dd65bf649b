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

from jobsched.kube.client import ApiError, KubeClient, TransportError


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


CLEANUP_WITHIN_S = 600.0  # a namespace of 10,000 running pods takes about 70 s on 2 CPUs
# The apiserver stops a DeleteCollection at 60 s; asked for less, it stops there instead (an error
# reply, or the connection closed), and the call is repeated.
DELETE_COLLECTION_TIMEOUT = "50s"
RETRY_S = 1.0


class CleanupIncomplete(Exception):
    """What a clean-up deleted (a namespace's contents, nodes) was not all gone by the deadline; a
    namespace is then left in place."""


async def delete_collection(
    client: KubeClient,
    path: str,
    deadline: float,
    request_timeout: str = DELETE_COLLECTION_TIMEOUT,
    label_selector: str = "",
) -> int:
    """DELETEs every object of a collection (those label_selector matches, if given), again until the
    apiserver says it is done; returns the calls.

    One DeleteCollection deletes objects one at a time and stops at its timeout: on 2 CPUs about 9,000
    running pods in 60 s. What it had not reached then stays, so the call is repeated until it answers
    2xx (or 404: the namespace is gone). Raises CleanupIncomplete at the deadline.
    """
    params = {"gracePeriodSeconds": "0", "propagationPolicy": "Background", "timeout": request_timeout}
    if label_selector:
        params["labelSelector"] = label_selector
    calls = 0
    while True:
        calls += 1
        try:
            resp = await client.request("DELETE", path, params=params, timeout=300)
            if resp.ok or resp.status == 404:
                return calls
            problem = f"HTTP {resp.status}: {resp.message()}"
        except TransportError as err:
            problem = str(err)
        if time.monotonic() >= deadline:
            raise CleanupIncomplete(f"DELETE {path} did not finish: {problem}")
        await anyio.sleep(RETRY_S)


async def wait_no_pods(client: KubeClient, namespace: str, deadline: float) -> None:
    """Waits until the namespace holds no pod (those being deleted included); CleanupIncomplete at the
    deadline, saying how many are left."""
    path = f"/api/v1/namespaces/{namespace}/pods"
    while True:
        page = await client.get_json(path, {"limit": "1"})
        left = len(page.get("items") or []) + int((page.get("metadata") or {}).get("remainingItemCount") or 0)
        if left == 0:
            return
        if time.monotonic() >= deadline:
            raise CleanupIncomplete(f"namespace {namespace} still holds {left} pods; left in place")
        await anyio.sleep(RETRY_S)


async def delete_namespace(client: KubeClient, namespace: str, within_s: float = CLEANUP_WITHIN_S) -> None:
    """Deletes the namespace's contents until none are left, then the namespace, then finalizes it so it is
    really gone. Finalizing a namespace whose pods were not all deleted would leave them running, bound,
    in no namespace, through every later run: then it raises CleanupIncomplete instead."""
    deadline = time.monotonic() + within_s
    for template in NAMESPACED_COLLECTIONS:
        await delete_collection(client, template.format(ns=namespace), deadline)
    await strip_pod_finalizers(client, namespace)
    await wait_no_pods(client, namespace, deadline)
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


async def delete_nodes(client: KubeClient, label_selector: str, within_s: float = CLEANUP_WITHIN_S) -> None:
    """Deletes the nodes label_selector matches, as `delete_collection` does (CleanupIncomplete when
    some are still there at the deadline)."""
    await delete_collection(
        client, "/api/v1/nodes", time.monotonic() + within_s, label_selector=label_selector
    )


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
