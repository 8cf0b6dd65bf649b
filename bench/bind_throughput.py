"""Scheduler throughput against the raw bind ceiling, in the same run on the same control plane.

N pending pods are pre-created for jobsched (schedulerName jobsched) and N more for a raw bind loop
(a scheduler name nobody runs). The raw loop binds its pods flat out; then `jobsched run` starts as
a separate process and schedules its pods. Both rates are measured by this harness's own pod watch
(first bound to last bound), so they are comparable. Repeats alternate the two and report medians.

    python -m bench.bind_throughput --pods 5000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import anyio
import orjson
from anyio.abc import Process

from bench.lib.raw import bench_pod, delete_namespace
from jobsched.kube.binder import BindRequest, bind
from jobsched.kube.client import KubeClient


async def _create_pods(
    client: KubeClient, ns: str, count: int, scheduler: str, in_flight: int = 64
) -> dict[str, str]:
    """Creates count pods; returns name -> uid."""
    uids: dict[str, str] = {}
    names = [f"p-{i:05d}" for i in range(count)]
    index = 0

    async def worker() -> None:
        nonlocal index
        while index < len(names):
            name = names[index]
            index += 1
            resp = await client.request_retrying(
                "POST", f"/api/v1/namespaces/{ns}/pods", bench_pod(name, scheduler, None)
            )
            if resp.ok:
                uids[name] = resp.json()["metadata"]["uid"]

    async with anyio.create_task_group() as tg:
        for _ in range(in_flight):
            tg.start_soon(worker)
    return uids


async def _watch_bound(client: KubeClient, ns: str, expected: int, deadline_s: float, rv: str) -> list[float]:
    """Arrival times (monotonic) of each pod's first bound sighting, until all are bound or the deadline."""
    seen: dict[str, float] = {}
    with anyio.move_on_after(deadline_s):
        params = {
            "watch": "true",
            "resourceVersion": rv,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(int(deadline_s)),
        }
        async for line in client.stream_lines(f"/api/v1/namespaces/{ns}/pods", params, deadline_s + 5):
            event = orjson.loads(line)
            obj = event.get("object") or {}
            if event.get("type") in ("ADDED", "MODIFIED") and (obj.get("spec") or {}).get("nodeName"):
                seen.setdefault(obj["metadata"]["uid"], time.monotonic())
                if len(seen) >= expected:
                    break
    return sorted(seen.values())


def _rate(times: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


async def _namespace(client: KubeClient) -> str:
    ns = f"tp-{uuid.uuid4().hex[:6]}"
    await client.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    return ns


async def _raw_round(client: KubeClient, nodes: list[str], pods: int, in_flight: int) -> float:
    ns = await _namespace(client)
    try:
        uids = await _create_pods(client, ns, pods, "nobody")
        rv = (await client.get_json(f"/api/v1/namespaces/{ns}/pods", {"limit": "1"}))["metadata"][
            "resourceVersion"
        ]
        items = sorted(uids.items())

        async def binder_loop() -> None:
            index = 0

            async def worker() -> None:
                nonlocal index
                while index < len(items):
                    i = index
                    index += 1
                    name, uid = items[i]
                    await bind(client, BindRequest(ns, name, uid, nodes[i % len(nodes)]))

            async with anyio.create_task_group() as tg:
                for _ in range(in_flight):
                    tg.start_soon(worker)

        times: list[float] = []
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                times.extend(await _watch_bound(client, ns, len(uids), 120, rv))

            tg.start_soon(watch)
            await anyio.sleep(0.5)
            await binder_loop()
        return _rate(times)
    finally:
        await delete_namespace(client, ns)


async def _jobsched_round(
    client: KubeClient, kubeconfig: str, pods: int, config: str | None
) -> tuple[float, int]:
    ns = await _namespace(client)
    log = tempfile.NamedTemporaryFile(prefix="jobsched-tp-", suffix=".log", delete=False)  # noqa: SIM115
    proc: Process | None = None
    try:
        uids = await _create_pods(client, ns, pods, "jobsched")
        rv = (await client.get_json(f"/api/v1/namespaces/{ns}/pods", {"limit": "1"}))["metadata"][
            "resourceVersion"
        ]
        times: list[float] = []
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                times.extend(await _watch_bound(client, ns, len(uids), 180, rv))

            tg.start_soon(watch)
            cmd = [
                sys.executable,
                "-m",
                "jobsched",
                "run",
                "--no-cron",
                "--port",
                "0",
                "--kubeconfig",
                kubeconfig,
            ]
            if config:
                cmd += ["--config", config]
            proc = await anyio.open_process(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        return _rate(times), len(times)
    finally:
        if proc is not None:
            with anyio.CancelScope(shield=True):
                proc.send_signal(signal.SIGTERM)
                with anyio.move_on_after(10):
                    await proc.wait()
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        log.close()
        await delete_namespace(client, ns)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    async with KubeClient.connect(args.kubeconfig, connections=args.in_flight) as client:
        node_list = await client.get_json("/api/v1/nodes", {"labelSelector": "type=virtual-kubelet"})
        nodes = [n["metadata"]["name"] for n in node_list["items"]]
        if not nodes:
            raise SystemExit("no virtual nodes: run `jobsched dev-cluster nodes --virtual 100` first")
        raw_rates: list[float] = []
        js_rates: list[float] = []
        for repeat in range(args.repeats):
            raw_rates.append(await _raw_round(client, nodes, args.pods, args.in_flight))
            rate, bound = await _jobsched_round(client, args.kubeconfig, args.pods, args.config)
            js_rates.append(rate)
            print(
                f"repeat {repeat + 1}: raw {raw_rates[-1]:.0f} binds/s, jobsched {rate:.0f} binds/s "
                f"({bound}/{args.pods} bound)",
                flush=True,
            )
    result = {
        "cpus": os.cpu_count(),
        "pods": args.pods,
        "nodes": len(nodes),
        "raw_binds_per_s": raw_rates,
        "jobsched_binds_per_s": js_rates,
        "raw_median": statistics.median(raw_rates),
        "jobsched_median": statistics.median(js_rates),
        "ratio_of_medians": statistics.median(js_rates) / statistics.median(raw_rates),
    }
    print(
        f"median of {args.repeats} on {os.cpu_count()} CPUs, {args.pods} pods, {len(nodes)} nodes: raw "
        f"{result['raw_median']:.0f} binds/s, jobsched {result['jobsched_median']:.0f} binds/s "
        f"= {100 * result['ratio_of_medians']:.0f}% of raw"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=96, help="raw loop's concurrent binds")
    parser.add_argument("--config", default=None)
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    import uvloop

    result = uvloop.run(_main(args))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
