"""The status ConfigMaps: writing an entry's lastScheduleTime / lastSuccessfulTime / active back to the
cluster, and `jobsched status`, which prints them.

Status lives beside the source ConfigMap, not on it, so that jobsched never writes an object its users
edit (no conflicts with kubectl apply, no resourceVersion churn that would re-trigger parsing). One
status ConfigMap per source ConfigMap, named `<configmap>-jobsched-status`, owned by the source so it
goes when the source goes. It is written with server-side apply: one request, no read first.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

import aiohttp
import anyio
import orjson

from jobsched.core.cronplan import STATUS_KEY, parse_status_document
from jobsched.core.naming import label_value
from jobsched.core.vocabulary import STATUS_FOR_LABEL, STATUS_SUFFIX
from jobsched.kube.client import ApiError, KubeClient

FIELD_MANAGER = "jobsched-cron"


def status_name(configmap: str) -> str:
    return configmap + STATUS_SUFFIX


def status_body(namespace: str, configmap: str, uid: str, document: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": status_name(configmap),
        "namespace": namespace,
        "labels": {STATUS_FOR_LABEL: label_value(configmap)},
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
    client: KubeClient, namespace: str, configmap: str, uid: str, document: dict[str, Any]
) -> bool:
    """Creates or updates the status ConfigMap (server-side apply); False if it could not be written."""
    path = f"/api/v1/namespaces/{namespace}/configmaps/{status_name(configmap)}"
    try:
        resp = await client.request_retrying(
            "PATCH",
            path,
            status_body(namespace, configmap, uid, document),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            attempts=3,
            timeout=10,
            content_type="application/apply-patch+yaml",
        )
    except (aiohttp.ClientError, TimeoutError):
        return False
    return resp.ok


def status_rows(items: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str, str]]:
    """(namespace, configmap, entry, lastSchedule, lastSuccessful, active) for each recorded entry."""
    rows = []
    for item in items:
        meta = item.get("metadata") or {}
        name = str(meta.get("name", ""))
        if not name.endswith(STATUS_SUFFIX):
            continue
        try:
            document = orjson.loads((item.get("data") or {}).get(STATUS_KEY) or "{}")
        except orjson.JSONDecodeError:
            continue
        for entry, status in sorted(parse_status_document(document).items()):
            rows.append(
                (
                    str(meta.get("namespace", "")),
                    name[: -len(STATUS_SUFFIX)],
                    entry,
                    status.last_schedule_time.isoformat() if status.last_schedule_time else "-",
                    status.last_successful_time.isoformat() if status.last_successful_time else "-",
                    ",".join(status.active) or "-",
                )
            )
    return sorted(rows)


def format_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


async def fetch_status(kubeconfig: str | None, namespace: str | None) -> list[dict[str, Any]]:
    path = f"/api/v1/namespaces/{namespace}/configmaps" if namespace else "/api/v1/configmaps"
    async with KubeClient.connect(kubeconfig, connections=2) as client:
        reply = await client.get_json(path, {"labelSelector": STATUS_FOR_LABEL})
    return list(reply.get("items") or [])


def status_main(kubeconfig: str | None, namespace: str | None, out: TextIO = sys.stdout) -> int:
    """`jobsched status`: prints every entry's recorded status; 1 if the cluster could not be read."""
    try:
        items = anyio.run(fetch_status, kubeconfig, namespace)
    except (ApiError, aiohttp.ClientError, TimeoutError, OSError) as err:
        print(f"jobsched status: {err}", file=sys.stderr)
        return 1
    header = ("NAMESPACE", "CONFIGMAP", "ENTRY", "LAST SCHEDULE", "LAST SUCCESSFUL", "ACTIVE")
    rows = status_rows(items)
    if not rows:
        print("no cron status recorded yet", file=out)
        return 0
    print(format_table(rows, header), file=out)
    return 0
