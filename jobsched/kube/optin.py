"""Opting a namespace in or out: its label (what jobsched reads) and the RoleBinding that grants the cron
engine's writes there (what the apiserver enforces). Used by `jobsched enable` / `jobsched disable`; `opted_in` is how `status` and `trigger` read it."""

from __future__ import annotations

from typing import Any

from jobsched.kube import paths
from jobsched.kube.client import ApiError, KubeClient
from jobsched.kube.listing import list_all

FIELD_MANAGER = "jobsched-enable"


async def set_label(client: KubeClient, namespace: str, key: str, value: str | None) -> None:
    """Sets (or, with None, removes) one label of a namespace. Raises ApiError or TransportError."""
    patch = {"metadata": {"labels": {key: value}}}
    path = paths.namespace(namespace)
    resp = await client.request_retrying("PATCH", path, patch, content_type="application/merge-patch+json")
    if not resp.ok:
        raise ApiError("PATCH", path, resp)


async def apply(client: KubeClient, body: dict[str, Any]) -> None:
    """Creates or updates a RoleBinding by server-side apply. Raises ApiError or TransportError."""
    meta = body["metadata"]
    path = paths.rolebinding(meta["namespace"], meta["name"])
    resp = await client.request_retrying(
        "PATCH",
        path,
        body,
        params={"fieldManager": FIELD_MANAGER, "force": "true"},
        content_type="application/apply-patch+yaml",
    )
    if not resp.ok:
        raise ApiError("PATCH", path, resp)


async def delete_rolebinding(client: KubeClient, namespace: str, name: str) -> bool:
    """Deletes the RoleBinding; False when there was none. Raises ApiError or TransportError."""
    path = paths.rolebinding(namespace, name)
    resp = await client.request_retrying("DELETE", path)
    if resp.status == 404:
        return False
    if not resp.ok:
        raise ApiError("DELETE", path, resp)
    return True


async def opted_in(client: KubeClient, namespace: str | None, label: str) -> set[str] | None:
    """The namespaces carrying the opt-in `label` (KEY=VALUE): of all, or `namespace` if it does. None
    when the caller may not read namespaces (RBAC), so the answer is unknown rather than "none".
    Raises ApiError for other refusals, TransportError."""
    key, _, value = label.partition("=")
    try:
        if namespace is None:
            items = await list_all(client, paths.namespaces(), {"labelSelector": label})
            return {str((item.get("metadata") or {}).get("name")) for item in items}
        resp = await client.request_retrying("GET", paths.namespace(namespace))
        if resp.status == 404:
            return set()
        if not resp.ok:
            raise ApiError("GET", paths.namespace(namespace), resp)
        labels = ((resp.json() or {}).get("metadata") or {}).get("labels") or {}
        return {namespace} if labels.get(key) == value else set()
    except ApiError as err:
        if err.status in (401, 403):
            return None
        raise
