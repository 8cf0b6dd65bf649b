"""`jobsched status`: prints each cron entry's recorded status (from the status ConfigMaps)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

import anyio
import orjson

from jobsched.core.cronplan import STATUS_KEY, parse_status_document
from jobsched.kube import statusmaps
from jobsched.kube.client import ApiError, KubeClient, TransportError


def status_rows(items: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str, str]]:
    """(namespace, configmap, entry, lastSchedule, lastSuccessful, active) for each recorded entry."""
    rows = []
    for item in items:
        meta = item.get("metadata") or {}
        source = statusmaps.source_of(str(meta.get("name", "")))
        if source is None:
            continue
        try:
            document = orjson.loads((item.get("data") or {}).get(STATUS_KEY) or "{}")
        except orjson.JSONDecodeError:
            continue
        for entry, status in sorted(parse_status_document(document).items()):
            rows.append(
                (
                    str(meta.get("namespace", "")),
                    source,
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
    async with KubeClient.connect(kubeconfig, connections=2) as client:
        return await statusmaps.list_status(client, namespace)


def status_main(kubeconfig: str | None, namespace: str | None, out: TextIO = sys.stdout) -> int:
    """`jobsched status`: prints every entry's recorded status; 1 if the cluster could not be read."""
    try:
        items = anyio.run(fetch_status, kubeconfig, namespace)
    except (ApiError, TransportError, OSError) as err:
        print(f"jobsched status: {err}", file=sys.stderr)
        return 1
    header = ("NAMESPACE", "CONFIGMAP", "ENTRY", "LAST SCHEDULE", "LAST SUCCESSFUL", "ACTIVE")
    rows = status_rows(items)
    if not rows:
        print("no cron status recorded yet", file=out)
        return 0
    print(format_table(rows, header), file=out)
    return 0
