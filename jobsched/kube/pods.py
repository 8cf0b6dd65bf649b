"""Writes to the objects created for cron slots, other than bindings: create a slot's Pod or Job, mark a
pod unschedulable or failed, drop the tracking finalizer, delete. Each returns an outcome instead of
raising, because the caller decides per object and one bad object must never stop the rest of a storm.
What a reply means is decided in `jobsched.core.outcomes`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from jobsched.core.outcomes import CreateOutcome, create_outcome, delete_done, patch_done
from jobsched.kube import paths
from jobsched.kube.client import KubeClient, TransportError

STRATEGIC = "application/strategic-merge-patch+json"


@dataclass(frozen=True, slots=True)
class CreateResult:
    outcome: CreateOutcome
    status: int = 0  # the HTTP status, 0 when there was no answer
    message: str = ""
    obj: dict[str, Any] | None = None  # the created object, as the apiserver returned it


async def create(client: KubeClient, body: dict[str, Any], attempts: int = 5) -> CreateResult:
    """POSTs a Pod or Job body into its namespace; AlreadyExists is an outcome like any other."""
    path = paths.collection_of(str(body.get("kind", "Pod")), body["metadata"]["namespace"])
    try:
        resp = await client.request_retrying("POST", path, body, attempts=attempts)
    except TransportError as err:
        return CreateResult(create_outcome(None), 0, str(err))
    outcome = create_outcome(resp.status)
    if outcome is CreateOutcome.CREATED:
        return CreateResult(outcome, resp.status, obj=resp.json())
    return CreateResult(outcome, resp.status, resp.message())


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _patch(client: KubeClient, path: str, patch: Any, also_done: tuple[int, ...] = ()) -> bool:
    """One strategic merge patch, with retries; True when applied or no longer needed."""
    try:
        resp = await client.request_retrying("PATCH", path, patch, attempts=3, content_type=STRATEGIC)
    except TransportError:
        return False
    return patch_done(resp.status) or resp.status in also_done


async def mark_unschedulable(client: KubeClient, namespace: str, name: str, message: str) -> bool:
    """Sets PodScheduled=False/Unschedulable with kube-scheduler's wording, on the status subresource."""
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": None,
        "lastTransitionTime": _now(),
    }
    return await _patch(client, paths.pod_status(namespace, name), {"status": {"conditions": [condition]}})


async def mark_failed(client: KubeClient, namespace: str, name: str, reason: str, message: str) -> bool:
    """Sets phase Failed with a reason on the status subresource, as PodGC does to a pod whose node
    is gone (nothing else will ever report its end)."""
    condition = {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "DeletionByPodGC",
        "message": message,
        "lastTransitionTime": _now(),
    }
    patch = {"status": {"phase": "Failed", "reason": reason, "message": message, "conditions": [condition]}}
    return await _patch(client, paths.pod_status(namespace, name), patch)


async def drop_finalizer(client: KubeClient, namespace: str, name: str, uid: str, finalizer: str) -> bool:
    """Removes one finalizer from the pod with this UID (the UID in the patch is a precondition, so a
    newer pod of the same name keeps its own). True when it is gone, or so is the pod."""
    patch = {"metadata": {"uid": uid, "$deleteFromPrimitiveList/finalizers": [finalizer]}}
    return await _patch(client, paths.pod(namespace, name), patch, also_done=(409,))


async def delete(
    client: KubeClient,
    kind: str,
    namespace: str,
    name: str,
    uid: str | None = None,
    grace_s: int | None = None,
) -> bool:
    """Deletes a Pod or Job (background propagation), with a UID precondition when given."""
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
    if uid:
        body["preconditions"] = {"uid": uid}
    if grace_s is not None:
        body["gracePeriodSeconds"] = grace_s
    try:
        resp = await client.request_retrying(
            "DELETE", paths.object_path(kind, namespace, name), body, attempts=3
        )
    except TransportError:
        return False
    return delete_done(resp.status)
