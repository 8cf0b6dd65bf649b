"""Binding writes: one POST to pods/{name}/binding per placement, with the pod's UID as precondition.

The UID precondition makes a binding idempotent across scheduler restarts and leader changes: a
stale leader can never bind a pod that was deleted and recreated under the same name. The outcome
says what the caller's cache must do: keep the assumption, forget it, or drop the pod.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import aiohttp

from jobsched.kube.client import KubeClient


class BindOutcome(enum.Enum):
    BOUND = "bound"  # our binding was written
    ALREADY_THERE = "already_there"  # someone (an earlier attempt) bound it to the intended node
    ELSEWHERE = "elsewhere"  # it is bound to another node: forget our assumption
    GONE = "gone"  # the pod (or that UID of it) no longer exists: drop it
    FAILED = "failed"  # the apiserver refused or stayed unreachable: forget and retry later


@dataclass(frozen=True, slots=True)
class BindRequest:
    namespace: str
    name: str
    uid: str
    node: str


@dataclass(frozen=True, slots=True)
class BindResult:
    request: BindRequest
    outcome: BindOutcome
    message: str = ""
    actual_node: str | None = None


def binding_body(req: BindRequest) -> bytes:
    # Hand-written JSON: this runs thousands of times per second, and the fields are DNS names/UIDs.
    return (
        b'{"apiVersion":"v1","kind":"Binding","metadata":{"name":"%s","namespace":"%s","uid":"%s"},'
        b'"target":{"apiVersion":"v1","kind":"Node","name":"%s"}}'
        % (req.name.encode(), req.namespace.encode(), req.uid.encode(), req.node.encode())
    )


async def bind(client: KubeClient, req: BindRequest, attempts: int = 6) -> BindResult:
    """Writes one Binding, retrying 429/5xx/transport errors with jittered backoff."""
    path = f"/api/v1/namespaces/{req.namespace}/pods/{req.name}/binding"
    try:
        resp = await client.request_retrying("POST", path, binding_body(req), attempts=attempts)
    except (aiohttp.ClientError, TimeoutError) as err:
        return BindResult(req, BindOutcome.FAILED, f"binding transport error: {err!r}")
    if resp.ok:
        return BindResult(req, BindOutcome.BOUND, actual_node=req.node)
    if resp.status == 404:
        return BindResult(req, BindOutcome.GONE, resp.message())
    if resp.status == 409:
        return await _resolve_conflict(client, req, resp.message())
    if resp.status == 400 and "already assigned" in resp.message():
        return await _resolve_conflict(client, req, resp.message())
    return BindResult(req, BindOutcome.FAILED, f"HTTP {resp.status}: {resp.message()}")


async def _resolve_conflict(client: KubeClient, req: BindRequest, message: str) -> BindResult:
    """A 409 means the pod is bound already, or its UID changed: find out which."""
    try:
        resp = await client.request_retrying("GET", f"/api/v1/namespaces/{req.namespace}/pods/{req.name}")
    except (aiohttp.ClientError, TimeoutError) as err:
        return BindResult(req, BindOutcome.FAILED, f"{message}; checking the pod failed: {err!r}")
    if resp.status == 404:
        return BindResult(req, BindOutcome.GONE, message)
    if not resp.ok:
        return BindResult(req, BindOutcome.FAILED, f"{message}; checking the pod: HTTP {resp.status}")
    pod = resp.json()
    if pod["metadata"].get("uid") != req.uid:
        return BindResult(req, BindOutcome.GONE, f"pod was replaced (uid changed): {message}")
    node = pod["spec"].get("nodeName")
    if node == req.node:
        return BindResult(req, BindOutcome.ALREADY_THERE, message, actual_node=node)
    if node:
        return BindResult(req, BindOutcome.ELSEWHERE, message, actual_node=node)
    return BindResult(req, BindOutcome.FAILED, message)
