"""`jobsched status`: every cron entry, shaped like `kubectl get cronjobs`, read from the cluster's objects.

Client-side and read-only: it lists the cron ConfigMaps, the status ConfigMaps beside them and the slot
Pods and Jobs, parses each ConfigMap with the engine's own parser (so every entry shows, valid or not,
and every problem with it), merges each entry's recorded status with its live runs as the engine does,
and computes NEXT with the engine's slot math. It needs no running jobsched, and reads only what `kubectl get`
of those objects would (namespaces too, to tell whether a namespace opted in; without that right the
column says so).

Rows come from `jobsched.core.statusrows`, one function per kind of entry source: `configmap_rows` for
cron ConfigMaps and `cronjob_rows` for adopted batch/v1 CronJobs (label cron.cronJobLabel), whose status
is their own.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import anyio
import orjson
import yaml

from jobsched.core.ages import NONE, age, until
from jobsched.core.convert import PodRecord
from jobsched.core.cronruns import RunRecord, run_from_job, run_from_pod
from jobsched.core.statusrows import StatusRow, configmap_rows, cronjob_rows
from jobsched.core.vocabulary import ENTRY_LABEL
from jobsched.kube import listing, optin, paths, statusmaps
from jobsched.kube.client import ApiError, KubeClient, context_namespace
from jobsched.settings import Settings

OUTPUTS: Final = ("wide", "json", "yaml")
COLUMNS: Final = (
    "SOURCE",
    "SCHEDULE",
    "TIMEZONE",
    "SUSPEND",
    "ACTIVE",
    "LAST SCHEDULE",
    "LAST SUCCESS",
    "NEXT",
)
WIDE_COLUMNS: Final = ("KIND", "DOMAINS", "CONTAINERS", "IMAGES")


@dataclass(frozen=True)
class _Cluster:
    """What `status` reads: cron ConfigMaps, status ConfigMaps, and which namespaces opted in."""

    configmaps: list[dict[str, Any]]
    status_configmaps: list[dict[str, Any]]
    enabled: set[str] | None  # None: not allowed to read namespaces
    runs: list[RunRecord] | None = field(default_factory=list)  # slot Pods and Jobs; None: may not list
    cronjobs: list[dict[str, Any]] = field(default_factory=list)  # adopted CronJobs


async def _read(
    kubeconfig: str | None, context: str | None, namespace: str | None, settings: Settings
) -> _Cluster:
    async with KubeClient.connect(kubeconfig, connections=4, context=context) as client:
        selector = {"labelSelector": settings.cron.configmap_label}
        # ConfigMaps hold up to 1 MiB each: small pages keep each reply modest.
        configmaps = await listing.list_all(client, paths.configmaps(namespace), selector, page_size=50)
        status = await statusmaps.list_status(client, namespace)
        enabled = await optin.opted_in(client, namespace, settings.cron.namespace_label)
        runs = await _runs(client, namespace)
        cronjobs = await _cronjobs(client, namespace, settings)
    return _Cluster(configmaps, status, enabled, runs, cronjobs)


async def _cronjobs(client: KubeClient, namespace: str | None, settings: Settings) -> list[dict[str, Any]]:
    """The CronJobs labelled for adoption (none when adoption is off, or the caller may not list them)."""
    if not settings.cron.adopt_cronjobs:
        return []
    try:
        return await listing.list_all(
            client, paths.cronjobs(namespace), {"labelSelector": settings.cron.cronjob_label}
        )
    except ApiError as err:
        if err.status in (401, 403, 404):
            return []
        raise


async def _runs(client: KubeClient, namespace: str | None) -> list[RunRecord] | None:
    """Every slot Pod and Job (label jobsched.io/entry), so ACTIVE and LAST SCHEDULE are live even while
    the engine holds its status writes back during a storm. None when the caller may not list them:
    the recorded status is then shown as it stands."""
    selector = {"labelSelector": ENTRY_LABEL}
    try:
        pods = await listing.list_all(client, paths.pods(namespace), selector)
        jobs = await listing.list_all(client, paths.jobs(namespace), selector)
    except ApiError as err:
        if err.status in (401, 403):
            return None
        raise
    found = [run_from_pod(PodRecord(pod, {})) for pod in pods] + [run_from_job(job) for job in jobs]
    return [run for run in found if run is not None]


def rows_from(cluster: _Cluster, now: datetime, settings: Settings) -> list[StatusRow]:
    """Every entry's row, sorted by namespace, source and entry."""
    status_of: dict[tuple[str, str], dict[str, Any]] = {}
    for item in cluster.status_configmaps:
        meta = item.get("metadata") or {}
        source = statusmaps.source_of(str(meta.get("name", "")))
        if source is not None:
            status_of[str(meta.get("namespace", "")), source] = item
    runs: dict[str, dict[str, list[RunRecord]]] = defaultdict(lambda: defaultdict(list))
    for run in cluster.runs or ():
        runs[run.namespace][run.entry_label].append(run)
    rows: list[StatusRow] = []
    for configmap in cluster.configmaps:
        meta = configmap.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        enabled = None if cluster.enabled is None else namespace in cluster.enabled
        status = status_of.get((namespace, name))
        live = None if cluster.runs is None else runs[namespace]
        rows.extend(configmap_rows(configmap, status, now, enabled, settings.scheduler_name, live))
    for cronjob in cluster.cronjobs:
        namespace = str((cronjob.get("metadata") or {}).get("namespace", ""))
        enabled = None if cluster.enabled is None else namespace in cluster.enabled
        rows.extend(
            cronjob_rows(cronjob, now, enabled, settings.scheduler_name, settings.cron.cronjob_time_zone)
        )
    return sorted(rows, key=lambda row: row.sort_key)


# --- output --------------------------------------------------------------------------------------


def _next_cell(row: StatusRow, now: datetime) -> str:
    if not row.valid:
        return "<invalid>"
    if row.enabled is False:
        return "<not opted in>"
    return until(row.next_schedule, now)


def _cells(row: StatusRow, now: datetime, *, namespaced: bool, wide: bool) -> tuple[str, ...]:
    suspend = NONE if row.suspend is None else str(row.suspend)
    cells: tuple[str, ...] = (
        row.source_label,
        row.schedule or NONE,
        row.time_zone or NONE,
        suspend,
        str(len(row.status.active)),
        age(row.status.last_schedule_time, now),
        age(row.status.last_successful_time, now),
        _next_cell(row, now),
    )
    if namespaced:
        cells = (row.namespace, *cells)
    if wide:
        domains = ",".join(row.domains) if row.domains else NONE
        cells = (*cells, row.kind or NONE, domains, ",".join(row.containers), ",".join(row.images))
    return cells


def format_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """Left-aligned columns three spaces apart, as kubectl prints them."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def render(rows: Sequence[StatusRow], now: datetime, output: str | None, all_namespaces: bool) -> str:
    """The text `status` prints for `rows`."""
    if output in ("json", "yaml"):
        document = {"items": [row.to_json() for row in rows]}
        if output == "json":
            return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).rstrip("\n")
    wide = output == "wide"
    header = (*(("NAMESPACE",) if all_namespaces else ()), *COLUMNS, *(WIDE_COLUMNS if wide else ()))
    table = format_table([_cells(r, now, namespaced=all_namespaces, wide=wide) for r in rows], header)
    problems = [
        f"{row.namespace}/{row.source_label}: field {path}: {message}"
        for row in rows
        for path, message in row.problems
    ]
    return table + ("\n\nProblems:\n  " + "\n  ".join(problems) if problems else "")


def status_main(
    settings: Settings,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    all_namespaces: bool,
    output: str | None,
    out: TextIO = sys.stdout,
    now: datetime | None = None,
) -> int:
    """`jobsched status`. Cluster and kubeconfig errors propagate for the CLI to print in one line."""
    scope = None if all_namespaces else namespace or context_namespace(kubeconfig, context)
    cluster = anyio.run(_read, kubeconfig, context, scope, settings)
    moment = now or datetime.now(UTC)
    rows = rows_from(cluster, moment, settings)
    if not rows and output not in ("json", "yaml"):
        where = "" if scope is None else f" in namespace {scope}"
        print(f"No cron entries found{where}.", file=sys.stderr)
        return 0
    print(render(rows, moment, output, all_namespaces), file=out)
    return 0
