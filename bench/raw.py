"""The raw API ceiling: a plain concurrent client that creates pods, then binds them, flat out.

This is the yardstick every other system is compared with in the same run: how many creates and
binds per second this apiserver accepts from one Python process on raw JSON. Run it alone with
`python -m bench.raw --pods 2000` against KUBECONFIG (or the local dev cluster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from jobsched.kube.binder import BindOutcome, BindRequest, bind
from jobsched.kube.client import KubeClient

RUN_ANNOTATION = "pod-complete.stage.kwok.x-k8s.io/delay"


def bench_pod(
    name: str, scheduler_name: str, run_seconds: float | None, extra_annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    annotations = dict(extra_annotations or {})
    if run_seconds is not None:
        annotations[RUN_ANNOTATION] = f"{run_seconds:g}s"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations, "labels": {"jobsched.io/bench": "true"}},
        "spec": {
            "schedulerName": scheduler_name,
            "restartPolicy": "Never",
            "tolerations": [
                {"key": "virtual-kubelet.io/provider", "operator": "Exists"},
                {"key": "eks.tke.cloud.tencent.com/eklet", "operator": "Exists"},
            ],
            "containers": [
                {
                    "name": "job",
                    "image": "busybox",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }
            ],
        },
    }


@dataclass(frozen=True)
class RawResult:
    pods: int
    creates_per_s: float
    binds_per_s: float
    create_errors: int
    bind_errors: int


async def _fan_out(count: int, in_flight: int, work: Any) -> float:
    """Runs work(i) for i in range(count) with in_flight workers; returns elapsed seconds."""
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            i = next_index
            next_index += 1
            await work(i)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(min(in_flight, count)):
            tg.start_soon(worker)
    return time.perf_counter() - started


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
    uids: list[str] = [""] * pods
    errors = {"create": 0, "bind": 0}

    async def create(i: int) -> None:
        body = bench_pod(f"raw-{tag}-{i}", "raw-bench", run_seconds)
        resp = await client.request_retrying("POST", f"/api/v1/namespaces/{namespace}/pods", body)
        if resp.ok:
            uids[i] = resp.json()["metadata"]["uid"]
        else:
            errors["create"] += 1

    async def do_bind(i: int) -> None:
        if not uids[i]:
            return
        result = await bind(client, BindRequest(namespace, f"raw-{tag}-{i}", uids[i], nodes[i % len(nodes)]))
        if result.outcome is not BindOutcome.BOUND:
            errors["bind"] += 1

    create_s = await _fan_out(pods, in_flight, create)
    bind_s = await _fan_out(pods, in_flight, do_bind)
    created = pods - errors["create"]
    return RawResult(
        pods, created / create_s, (created - errors["bind"]) / bind_s, errors["create"], errors["bind"]
    )


async def delete_namespace(client: KubeClient, namespace: str) -> None:
    """Deletes the pods first: no namespace controller runs on the local control plane."""
    await client.request(
        "DELETE", f"/api/v1/namespaces/{namespace}/pods", params={"gracePeriodSeconds": "0"}, timeout=120
    )
    await client.request("DELETE", f"/api/v1/namespaces/{namespace}")


async def _main(args: argparse.Namespace) -> None:
    async with KubeClient.connect(args.kubeconfig, connections=args.in_flight) as client:
        node_list = await client.get_json("/api/v1/nodes", {"labelSelector": "type=virtual-kubelet"})
        nodes = [n["metadata"]["name"] for n in node_list["items"]]
        if not nodes:
            raise SystemExit("no virtual-kubelet nodes: run `jobsched dev-cluster nodes --virtual 100` first")
        results = []
        for repeat in range(args.repeats):
            ns = f"raw-{uuid.uuid4().hex[:6]}"
            await client.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
            try:
                res = await raw_ceiling(client, ns, nodes, args.pods, args.in_flight, run_seconds=None)
            finally:
                await delete_namespace(client, ns)
            results.append(res)
            print(
                f"repeat {repeat + 1}: {res.creates_per_s:.0f} creates/s, {res.binds_per_s:.0f} binds/s "
                f"({res.create_errors} create errors, {res.bind_errors} bind errors)"
            )
        print(
            f"median of {args.repeats} on {os.cpu_count()} CPUs, {args.pods} pods, {args.in_flight} in flight: "
            f"{statistics.median(r.creates_per_s for r in results):.0f} creates/s, "
            f"{statistics.median(r.binds_per_s for r in results):.0f} binds/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    args = parser.parse_args()
    import uvloop

    uvloop.run(_main(args))


if __name__ == "__main__":
    main()
