"""`python -m bench.job_pods`: how fast kube-controller-manager's Job controller makes the pods of Jobs
created at once, the rate that sizes the lead of a storm of pre-staged Jobs.

On its own local control plane (started and stopped here), with kube-controller-manager at the given
client QPS (0: upstream defaults, QPS 20 / burst 30) and no scheduler: N single-pod Jobs are POSTed as
fast as one client can (64 in flight, as jobsched's stager), and a pod watch records when each Job's pod
is first seen. The pods' scheduler is one nobody runs, so nothing else writes meanwhile. Reported: how
long the Jobs took to create, when the first and last pod appeared, the pods/s over the whole storm,
and the lead a storm of N Jobs needs (the time until its last pod existed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import anyio

from bench.lib.kubeops import create_all, create_namespace, delete_namespace
from bench.lib.measure import percentiles
from jobsched.devcluster import cluster as devcluster
from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Informer

CLUSTER = "jobpods"
NOBODY = "no-scheduler"  # the pods stay Pending: only the Job controller writes


def job_body(name: str) -> dict[str, Any]:
    pod = {
        "schedulerName": NOBODY,
        "restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox"}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"spec": pod}},
    }


class FirstSeen:
    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def replace(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            self.apply("ADDED", item)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        self.seen.setdefault(str(obj["metadata"]["uid"]), time.monotonic())


async def one_storm(client: KubeClient, jobs: int, within_s: float) -> dict[str, Any]:
    namespace = f"jobpods-{uuid.uuid4().hex[:6]}"
    await create_namespace(client, namespace, {})
    watcher = FirstSeen()
    informer = Informer(client, f"/api/v1/namespaces/{namespace}/pods", watcher, name="pods")
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)
            await informer.synced.wait()
            started = time.monotonic()
            bodies = [job_body(f"job-{i:05d}") for i in range(jobs)]
            created_s = await create_all(client, f"/apis/batch/v1/namespaces/{namespace}/jobs", bodies, 64)
            with anyio.move_on_after(within_s):
                while len(watcher.seen) < jobs:  # noqa: ASYNC110 - the watcher is a plain handler
                    await anyio.sleep(0.2)
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await delete_namespace(client, namespace)
    appeared = sorted(t - started for t in watcher.seen.values())
    last = appeared[-1] if appeared else None
    return {
        "jobs": jobs,
        "pods_seen": len(appeared),
        "jobs_created_s": round(created_s, 2),
        "first_pod_s": round(appeared[0], 2) if appeared else None,
        "last_pod_s": round(last, 2) if last is not None else None,
        "pods_per_s": round(len(appeared) / last, 2) if last else None,
        "pod_after_start_s": percentiles(appeared),
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    state = devcluster.up(CLUSTER)
    try:
        devcluster.start_native(state, args.qps, args.qps, scheduler=False)
        async with KubeClient.connect(str(state.kubeconfig), connections=64) as client:
            runs = []
            for repeat in range(args.repeats):
                run = await one_storm(client, args.jobs, args.within)
                print(f"[job_pods] repeat {repeat + 1}: {json.dumps(run)}", file=sys.stderr, flush=True)
                runs.append(run)
    finally:
        devcluster.down(CLUSTER)
    rates = [r["pods_per_s"] for r in runs if r["pods_per_s"]]
    lasts = [r["last_pod_s"] for r in runs if r["last_pod_s"] is not None]
    rate = statistics.median(rates) if rates else None
    return {
        "kube_controller_manager": {
            "qps": args.qps or 20,
            "burst": args.qps or 30,
            "upstream_defaults": not args.qps,
        },
        "cpus": os.cpu_count(),
        "jobs": args.jobs,
        "repeats": runs,
        "median_pods_per_s": rate,
        "median_last_pod_s": statistics.median(lasts) if lasts else None,
        "lead_for": {str(n): round(n / rate, 1) for n in (100, 1000, 10000)} if rate else {},
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.job_pods", description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument(
        "--qps", type=int, default=0, help="kube-controller-manager QPS and burst; 0: defaults"
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--within", type=float, default=600.0, help="seconds to wait for the pods")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = anyio.run(_main, args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
