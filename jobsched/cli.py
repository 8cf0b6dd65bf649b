"""The `jobsched` command line: run the scheduler, lint cron ConfigMaps, drive the local control plane."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _dev_cluster(args: argparse.Namespace) -> int:
    from jobsched.devcluster import cluster, nodes

    if args.action == "up":
        state = cluster.up(args.name)
        if args.native:
            cluster.start_native(state, qps=args.qps, burst=args.burst)
        print(f"export KUBECONFIG={state.kubeconfig}")
        return 0
    if args.action == "down":
        stopped = cluster.down(args.name)
        print(f"cluster {args.name!r} {'stopped' if stopped else 'was not running'}", file=sys.stderr)
        return 0
    state_or_none = cluster.ClusterState.load(args.name)
    if state_or_none is None or not cluster.is_healthy(state_or_none):
        print(f"cluster {args.name!r} is not up; run `jobsched dev-cluster up` first", file=sys.stderr)
        return 1
    state = state_or_none
    if args.action == "nodes":
        shape_v = nodes.NodeShape(cpu=args.virtual_cpu, memory=args.virtual_memory, pods=args.virtual_pods)
        shape_r = nodes.NodeShape(cpu=args.regular_cpu, memory=args.regular_memory, pods=args.regular_pods)
        bodies = nodes.standard_nodes(args.virtual, args.regular, shape_v, shape_r, args.flavor)
        created = nodes.create_nodes(state, bodies)
        print(f"{created} nodes created ({len(bodies) - created} existed)", file=sys.stderr)
        return 0
    if args.action == "native-up":
        cluster.start_native(state, qps=args.qps, burst=args.burst)
        return 0
    if args.action == "native-down":
        cluster.stop_native(state)
        return 0
    if args.action == "env":
        print(f"export KUBECONFIG={state.kubeconfig}")
        return 0
    raise AssertionError(args.action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobsched", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev-cluster", help="build, start and stop the local control plane")
    dev.add_argument("action", choices=["up", "down", "nodes", "native-up", "native-down", "env"])
    dev.add_argument("--name", default="dev", help="cluster name (state under /dev/shm/jobsched/NAME)")
    dev.add_argument("--native", action="store_true", help="with up: also start the native baseline")
    dev.add_argument("--qps", type=int, default=0, help="native clients' QPS (0 keeps upstream defaults)")
    dev.add_argument("--burst", type=int, default=0, help="native clients' burst")
    dev.add_argument("--virtual", type=int, default=0, help="with nodes: virtual nodes to create")
    dev.add_argument("--regular", type=int, default=0, help="with nodes: regular nodes to create")
    dev.add_argument("--flavor", choices=["virtual-kubelet", "eklet"], default="virtual-kubelet")
    dev.add_argument("--virtual-cpu", default="1000")
    dev.add_argument("--virtual-memory", default="4Ti")
    dev.add_argument("--virtual-pods", type=int, default=1000)
    dev.add_argument("--regular-cpu", default="32")
    dev.add_argument("--regular-memory", default="128Gi")
    dev.add_argument("--regular-pods", type=int, default=110)
    dev.set_defaults(func=_dev_cluster)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
