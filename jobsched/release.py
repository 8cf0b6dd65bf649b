"""`jobsched release`: take jobsched's finalizer off every pod that carries it, so nothing is left stuck.

jobsched puts `jobsched.io/tracking` on each slot pod so that a pod's outcome is recorded before the pod
may go; a running jobsched takes it off again. Once jobsched is uninstalled (or scaled to zero) nobody
does, and pods being deleted hang in Terminating for ever. Run this after stopping jobsched
(docs/operations.md, "Uninstall"): it walks the slot pods (label `jobsched.io/entry`, a page at a time)
and removes the finalizer from each one that has it, with the pod's UID as a precondition so that a newer
pod of the same name keeps its own. Idempotent: a second run finds nothing to do.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import anyio

from jobsched.core.vocabulary import ENTRY_LABEL, TRACKING_FINALIZER
from jobsched.kube import listing, paths, pods
from jobsched.kube.client import ApiError, KubeClient, context_namespace

IN_FLIGHT = 16
MAX_RESTARTS = 3


@dataclass
class Released:
    """What one run of `release` found and did."""

    pods: int = 0  # slot pods looked at
    tracked: list[str] = field(default_factory=list)  # "namespace/name" of those carrying the finalizer
    released: int = 0  # finalizer removed (or the pod gone meanwhile)
    failed: list[str] = field(default_factory=list)  # could not be patched (see stderr)


def _tracked(pod: dict[str, Any]) -> bool:
    return TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


async def release(client: KubeClient, namespace: str | None, dry_run: bool) -> Released:
    """Removes the tracking finalizer from the slot pods of `namespace` (None: every namespace)."""
    for attempt in range(MAX_RESTARTS + 1):
        done = Released()
        try:
            await _walk(client, namespace, dry_run, done)
        except ApiError as err:
            if err.status != 410 or attempt == MAX_RESTARTS:
                raise
            continue  # the continue token expired: walk again (what was released stays released)
        return done
    raise AssertionError("unreachable")


async def _walk(client: KubeClient, namespace: str | None, dry_run: bool, done: Released) -> None:
    limiter = anyio.CapacityLimiter(IN_FLIGHT)

    async def drop(pod_namespace: str, name: str, uid: str) -> None:
        async with limiter:
            if await pods.drop_finalizer(client, pod_namespace, name, uid, TRACKING_FINALIZER):
                done.released += 1
            else:
                done.failed.append(f"{pod_namespace}/{name}")

    async for page in listing.pages(client, paths.pods(namespace), {"labelSelector": ENTRY_LABEL}):
        done.pods += len(page)
        async with anyio.create_task_group() as tg:
            for pod in filter(_tracked, page):
                meta = pod["metadata"]
                done.tracked.append(f"{meta['namespace']}/{meta['name']}")
                if not dry_run:
                    tg.start_soon(drop, meta["namespace"], meta["name"], meta.get("uid", ""))


async def _run(kubeconfig: str | None, context: str | None, namespace: str | None, dry_run: bool) -> Released:
    async with KubeClient.connect(kubeconfig, connections=IN_FLIGHT, context=context) as client:
        return await release(client, namespace, dry_run)


def release_main(
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    all_namespaces: bool,
    dry_run: bool,
    out: TextIO = sys.stdout,
) -> int:
    """`jobsched release`: 0 when every tracked pod was released (or would be, with --dry-run)."""
    scope = None if all_namespaces else namespace or context_namespace(kubeconfig, context)
    done = anyio.run(_run, kubeconfig, context, scope, dry_run)
    where = "all namespaces" if scope is None else f"namespace {scope}"
    if dry_run:
        for name in done.tracked:
            print(f"pod/{name}", file=out)
        print(
            f"{len(done.tracked)} of {done.pods} slot pods in {where} carry {TRACKING_FINALIZER};"
            " nothing changed (--dry-run)",
            file=out,
        )
        return 0
    print(
        f"{done.released} of {len(done.tracked)} slot pods carrying {TRACKING_FINALIZER} released"
        f" ({done.pods} slot pods in {where})",
        file=out,
    )
    for name in done.failed:
        print(
            f"jobsched release: pod/{name}: could not remove {TRACKING_FINALIZER}; run again", file=sys.stderr
        )
    return 1 if done.failed else 0
