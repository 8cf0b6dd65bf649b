"""Status ConfigMaps: where a cron ConfigMap's entries' lastScheduleTime / lastSuccessfulTime / active live.

Status lives beside the source ConfigMap, not on it, so that jobsched never writes an object its users
edit (no conflicts with kubectl apply, no resourceVersion churn that would re-trigger parsing). One
status ConfigMap per source ConfigMap, named `<configmap>-jobsched-status`, owned by the source so it
goes when the source goes. It is written with server-side apply: one request, no read first.

It carries the cron ConfigMap label's key with the value `status` as well as `jobsched.io/status-for`,
so that one ConfigMap watch (selector: that key exists) sees both the sources and their status.
"""

from __future__ import annotations

from typing import Any

import orjson

from jobsched.core.cronplan import STATUS_KEY
from jobsched.core.naming import label_value
from jobsched.core.vocabulary import (
    STATUS_CONFIGMAP_VALUE,
    STATUS_FIELD_MANAGER,
    STATUS_FOR_LABEL,
    STATUS_SUFFIX,
)
from jobsched.kube import paths
from jobsched.kube.client import KubeClient, TransportError
from jobsched.kube.listing import list_all


def status_name(configmap: str) -> str:
    return configmap + STATUS_SUFFIX


def source_of(status_configmap: str) -> str | None:
    """The source ConfigMap's name for a status ConfigMap's name, or None if it is not one."""
    if not status_configmap.endswith(STATUS_SUFFIX):
        return None
    return status_configmap[: -len(STATUS_SUFFIX)]


def status_body(
    namespace: str, configmap: str, uid: str, document: dict[str, Any], cron_label_key: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": status_name(configmap),
        "namespace": namespace,
        "labels": {STATUS_FOR_LABEL: label_value(configmap), cron_label_key: STATUS_CONFIGMAP_VALUE},
    }
    if uid:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": configmap, "uid": uid}]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {STATUS_KEY: orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()},
    }


async def write_status(
    client: KubeClient,
    namespace: str,
    configmap: str,
    uid: str,
    document: dict[str, Any],
    cron_label_key: str,
) -> bool:
    """Creates or updates the status ConfigMap (server-side apply); False if it could not be written."""
    try:
        resp = await client.request_retrying(
            "PATCH",
            paths.configmap(namespace, status_name(configmap)),
            status_body(namespace, configmap, uid, document, cron_label_key),
            params={"fieldManager": STATUS_FIELD_MANAGER, "force": "true"},
            attempts=3,
            timeout=10,
            content_type="application/apply-patch+yaml",
        )
    except TransportError:
        return False
    return resp.ok


async def list_status(client: KubeClient, namespace: str | None) -> list[dict[str, Any]]:
    """Every status ConfigMap (of one namespace, or all), in pages. Raises ApiError or TransportError."""
    return await list_all(
        client, paths.configmaps(namespace), {"labelSelector": STATUS_FOR_LABEL}, page_size=100
    )
