"""Pod (and Job) writes other than bindings: create a slot's object, mark a pod unschedulable,
remove the tracking finalizer, delete. Each returns an outcome instead of raising, because the
caller decides per object and one bad object must never stop the rest of a storm."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

import aiohttp

from jobsched.kube.client import KubeClient

STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class CreateOutcome(enum.Enum):
    CREATED = "created"
    EXISTS = "exists"  # AlreadyExists: an earlier attempt (or another replica) made it; counts as done
    REJECTED = "rejected"  # the apiserver refused the object itself (4xx): an input error to report
    FAILED = "failed"  # transport error or 5xx after retries: worth another try later


@dataclass(frozen=True, slots=True)
class CreateResult:
    outcome: CreateOutcome
    status: int = 0
    message: str = ""
    obj: dict[str, Any] | None = None


def collection_path(body: dict[str, Any]) -> str:
    ns = body["metadata"]["namespace"]
    if body.get("kind") == "Job":
        return f"/apis/batch/v1/namespaces/{ns}/jobs"
    return f"/api/v1/namespaces/{ns}/pods"


async def create(client: KubeClient, body: dict[str, Any], attempts: int = 5) -> CreateResult:
    """POSTs a Pod or Job body; 409 AlreadyExists is success for deterministic names."""
    try:
        resp = await client.request_retrying("POST", collection_path(body), body, attempts=attempts)
    except (aiohttp.ClientError, TimeoutError) as err:
        return CreateResult(CreateOutcome.FAILED, 0, repr(err))
    if resp.ok:
        return CreateResult(CreateOutcome.CREATED, resp.status, obj=resp.json())
    if resp.status == 409:
        return CreateResult(CreateOutcome.EXISTS, resp.status, resp.message())
    if 400 <= resp.status < 500 and resp.status != 429:
        return CreateResult(CreateOutcome.REJECTED, resp.status, resp.message())
    return CreateResult(CreateOutcome.FAILED, resp.status, resp.message())


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def mark_unschedulable(client: KubeClient, namespace: str, name: str, message: str) -> bool:
    """Sets PodScheduled=False/Unschedulable with kube-scheduler's wording, on the status subresource."""
    patch = {
        "status": {
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastProbeTime": None,
                    "lastTransitionTime": _now(),
                }
            ]
        }
    }
    return await _patch_status(client, namespace, name, patch)


async def _patch_status(client: KubeClient, namespace: str, name: str, patch: dict[str, Any]) -> bool:
    """A strategic merge patch on the pod's status subresource; True if applied or the pod is gone."""
    return await _patch(client, f"/api/v1/namespaces/{namespace}/pods/{name}/status", patch, STRATEGIC)


async def _patch(
    client: KubeClient, path: str, patch: Any, content_type: str, done: tuple[int, ...] = (404,)
) -> bool:
    """One PATCH with retries; True if applied or answered with a status in done."""
    try:
        resp = await client.request_retrying("PATCH", path, patch, attempts=3, content_type=content_type)
    except (aiohttp.ClientError, TimeoutError):
        return False
    return resp.ok or resp.status in done


async def remove_finalizer(client: KubeClient, pod: dict[str, Any], finalizer: str) -> bool:
    """Drops one finalizer with a JSON patch guarded by the pod's resourceVersion-free test op."""
    meta = pod["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if finalizer not in finalizers:
        return True
    index = finalizers.index(finalizer)
    patch = [
        {"op": "test", "path": f"/metadata/finalizers/{index}", "value": finalizer},
        {"op": "remove", "path": f"/metadata/finalizers/{index}"},
    ]
    return await _patch(
        client, f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", patch, JSON_PATCH
    )


async def drop_finalizer(client: KubeClient, namespace: str, name: str, uid: str, finalizer: str) -> bool:
    """Removes one finalizer from the pod with this UID (a strategic merge patch; the UID in it is a
    precondition, so a newer pod of the same name keeps its own). True when it is gone or so is the pod."""
    patch = {"metadata": {"uid": uid, "$deleteFromPrimitiveList/finalizers": [finalizer]}}
    return await _patch(client, f"/api/v1/namespaces/{namespace}/pods/{name}", patch, STRATEGIC, (404, 409))


async def mark_failed(client: KubeClient, namespace: str, name: str, reason: str, message: str) -> bool:
    """Sets phase Failed with a reason on the status subresource, as PodGC does to a pod whose node
    is gone (nothing else will ever report its end)."""
    patch = {
        "status": {
            "phase": "Failed",
            "reason": reason,
            "message": message,
            "conditions": [
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "DeletionByPodGC",
                    "message": message,
                    "lastTransitionTime": _now(),
                }
            ],
        }
    }
    return await _patch_status(client, namespace, name, patch)


async def delete(
    client: KubeClient,
    kind: str,
    namespace: str,
    name: str,
    uid: str | None = None,
    grace_s: int | None = None,
) -> bool:
    """Deletes a Pod or Job (background propagation), with a UID precondition when given."""
    path = (
        f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"
        if kind == "Job"
        else f"/api/v1/namespaces/{namespace}/pods/{name}"
    )
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
    if uid:
        body["preconditions"] = {"uid": uid}
    if grace_s is not None:
        body["gracePeriodSeconds"] = grace_s
    try:
        resp = await client.request_retrying("DELETE", path, body, attempts=3)
    except (aiohttp.ClientError, TimeoutError):
        return False
    return resp.ok or resp.status in (404, 409)
