"""`python -m bench.raw_ceiling`: the raw API ceiling alone, creates/s and binds/s of one plain client.

Runs against KUBECONFIG (or --kubeconfig) on its virtual-kubelet nodes; medians of --repeats.
"""

from __future__ import annotations

import argparse
import os
import statistics
import uuid

from bench.lib.raw import delete_namespace, raw_ceiling
from jobsched.kube.client import KubeClient


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
