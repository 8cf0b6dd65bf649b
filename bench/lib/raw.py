"""The raw API ceiling: a plain concurrent client that creates pods, then binds them, flat out.

This is the yardstick every other system is compared with in the same run: how many creates and
binds per second this apiserver accepts from one Python process on raw JSON. The harness's `raw`
system uses the two phases apart (create ahead of the fire time, bind at it); run it alone with
`python -m bench.raw_ceiling --pods 2000` against KUBECONFIG (or the local dev cluster).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.lib.kubeops import delete_namespace, fan_out
from bench.lib.manifests import RAW_SCHEDULER, bench_pod
from jobsched.core.outcomes import BindOutcome
from jobsched.kube.binder import BindRequest, bind
from jobsched.kube.client import KubeClient

__all__ = ["RawResult", "bench_pod", "bind_pods", "create_pods", "delete_namespace", "raw_ceiling"]


@dataclass(frozen=True)
class RawResult:
    pods: int
    creates_per_s: float
    binds_per_s: float
    create_errors: int
    bind_errors: int


@dataclass(frozen=True)
class PhaseResult:
    """One phase (creates or binds): how many succeeded, how many failed, in how long."""

    done: int
    errors: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


async def create_pods(
    client: KubeClient, namespace: str, bodies: Sequence[dict[str, Any]], uids: dict[str, str], in_flight: int
) -> PhaseResult:
    """Creates the pods, recording name -> uid in uids (the binding's precondition)."""
    errors = 0

    async def create(i: int) -> None:
        nonlocal errors
        resp = await client.request_retrying("POST", f"/api/v1/namespaces/{namespace}/pods", bodies[i])
        if resp.ok:
            meta = resp.json()["metadata"]
            uids[meta["name"]] = meta["uid"]
        else:
            errors += 1

    seconds = await fan_out(len(bodies), in_flight, create)
    return PhaseResult(len(bodies) - errors, errors, seconds)


async def bind_pods(
    client: KubeClient, namespace: str, uids: dict[str, str], nodes: Sequence[str], in_flight: int
) -> PhaseResult:
    """Binds every pod in uids, round-robin over nodes."""
    names = list(uids)
    errors = 0

    async def do_bind(i: int) -> None:
        nonlocal errors
        name = names[i]
        result = await bind(client, BindRequest(namespace, name, uids[name], nodes[i % len(nodes)]))
        if result.outcome is not BindOutcome.BOUND:
            errors += 1

    seconds = await fan_out(len(names), in_flight, do_bind)
    return PhaseResult(len(names) - errors, errors, seconds)


async def raw_ceiling(
    client: KubeClient,
    namespace: str,
    nodes: Sequence[str],
    pods: int,
    in_flight: int = 64,
    run_seconds: float | None = 30,
) -> RawResult:
    """Creates `pods` pods with a scheduler nobody runs, then binds them round-robin to `nodes`."""
    tag = uuid.uuid4().hex[:6]
    bodies = [bench_pod(f"raw-{tag}-{i}", RAW_SCHEDULER, run_seconds) for i in range(pods)]
    uids: dict[str, str] = {}
    created = await create_pods(client, namespace, bodies, uids, in_flight)
    bound = await bind_pods(client, namespace, uids, nodes, in_flight)
    return RawResult(pods, created.per_s, bound.per_s, created.errors, bound.errors)
