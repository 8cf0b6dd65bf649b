"""Binding writes: one POST to pods/{name}/binding per placement, with the pod's UID as precondition.

The UID precondition makes a binding idempotent across scheduler restarts and leader changes: a
stale leader can never bind a pod that was deleted and recreated under the same name. A conflict is
resolved by reading the pod once; what each outcome means is decided in `jobsched.core.outcomes`.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobsched.core.outcomes import BindOutcome, bind_outcome, conflict_outcome
from jobsched.kube import paths
from jobsched.kube.client import KubeClient, TransportError


@dataclass(frozen=True, slots=True)
class BindRequest:
    namespace: str
    name: str
    uid: str
    node: str


@dataclass(frozen=True, slots=True)
class BindResult:
    request: BindRequest
    outcome: BindOutcome  # never CONFLICT: conflicts are resolved before returning
    message: str = ""


def binding_body(req: BindRequest) -> bytes:
    # Hand-written JSON: this runs thousands of times per second, and the fields are DNS names/UIDs.
    return (
        b'{"apiVersion":"v1","kind":"Binding","metadata":{"name":"%s","namespace":"%s","uid":"%s"},'
        b'"target":{"apiVersion":"v1","kind":"Node","name":"%s"}}'
        % (req.name.encode(), req.namespace.encode(), req.uid.encode(), req.node.encode())
    )


async def bind(client: KubeClient, req: BindRequest, attempts: int = 6) -> BindResult:
    """Writes one Binding, retrying 429/5xx/transport errors with jittered backoff."""
    try:
        resp = await client.request_retrying(
            "POST", paths.pod_binding(req.namespace, req.name), binding_body(req), attempts=attempts
        )
    except TransportError as err:
        return BindResult(req, BindOutcome.FAILED, f"binding transport error: {err}")
    message = "" if resp.ok else resp.message()
    outcome = bind_outcome(resp.status, message)
    if outcome is BindOutcome.CONFLICT:
        return await _resolve_conflict(client, req, message)
    if outcome is BindOutcome.FAILED:
        message = f"HTTP {resp.status}: {message}"
    return BindResult(req, outcome, message)


async def _resolve_conflict(client: KubeClient, req: BindRequest, message: str) -> BindResult:
    """A conflict means the pod is bound already, or its UID changed: find out which."""
    try:
        resp = await client.request_retrying("GET", paths.pod(req.namespace, req.name))
    except TransportError as err:
        return BindResult(req, BindOutcome.FAILED, f"{message}; checking the pod failed: {err}")
    if resp.status == 404:
        return BindResult(req, BindOutcome.GONE, message)
    if not resp.ok:
        return BindResult(req, BindOutcome.FAILED, f"{message}; checking the pod: HTTP {resp.status}")
    pod = resp.json()
    found_uid = str(pod["metadata"].get("uid", ""))
    found_node = str((pod.get("spec") or {}).get("nodeName") or "")
    return BindResult(req, conflict_outcome(req.uid, found_uid, found_node, req.node), message)
