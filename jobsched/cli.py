"""The `jobsched` command line: run the scheduler, lint cron ConfigMaps, drive the local control plane."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn


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


def _run(args: argparse.Namespace) -> int:
    import dataclasses

    from jobsched.runtime import logs, supervisor
    from jobsched.settings import SettingsError, load_settings

    logs.configure(args.log_level)
    try:
        settings = load_settings(args.config)
    except SettingsError as err:
        print(f"jobsched: bad configuration: {err}", file=sys.stderr)
        return 2
    if args.no_cron:
        settings = dataclasses.replace(settings, cron=dataclasses.replace(settings.cron, enabled=False))
    if args.port is not None:
        settings = dataclasses.replace(settings, server=dataclasses.replace(settings.server, port=args.port))
    if args.address is not None:
        settings = dataclasses.replace(
            settings, server=dataclasses.replace(settings.server, address=args.address)
        )
    if args.leader_elect is not None:
        le = dataclasses.replace(settings.leader_election, enabled=args.leader_elect)
        settings = dataclasses.replace(settings, leader_election=le)

    async def main() -> None:
        await supervisor.run(settings, args.kubeconfig, args.identity)

    from jobsched.kube.lease import LeadershipLost

    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
            import anyio

            anyio.run(main)
        else:
            uvloop.run(main())
    except LeadershipLost as lost:
        # Every write stopped before this was raised; a fresh process starts as a candidate.
        print(f"jobsched: {lost}; exiting so that a new candidate takes its place", file=sys.stderr)
        return 1
    return 0


def _validate(args: argparse.Namespace) -> int:
    from jobsched import validate

    return validate.main(args.files)


def _next(args: argparse.Namespace) -> int:
    from jobsched import nextfire

    return nextfire.main(args.files, args.count, args.after)


def _status(args: argparse.Namespace) -> int:
    from jobsched.runtime.cron_status import status_main

    return status_main(args.kubeconfig, args.namespace)


def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    """A usage error (a bad flag value, no files) prints one line saying what to fix, and exits 2."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: {message} (see --help)\n")

    parser.error = error  # type: ignore[method-assign]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobsched", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the scheduler (and cron engine) against KUBECONFIG or in-cluster")
    run.add_argument("--config", default=None, help="settings YAML (default: built-in defaults)")
    run.add_argument(
        "--kubeconfig", default=None, help="kubeconfig file (default: KUBECONFIG, then in-cluster)"
    )
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    run.add_argument("--identity", default=None, help="leader-election identity (default: hostname_pid)")
    run.add_argument("--port", type=int, default=None, help="metrics/health port (0 picks a free one)")
    run.add_argument("--address", default=None, help="metrics/health listen address (config: server.address)")
    run.add_argument("--no-cron", action="store_true", help="schedule only; do not run the cron engine")
    le = run.add_mutually_exclusive_group()
    le.add_argument("--leader-elect", dest="leader_elect", action="store_true", default=None)
    le.add_argument("--no-leader-elect", dest="leader_elect", action="store_false")
    run.set_defaults(func=_run)

    val = sub.add_parser("validate", help="lint cron ConfigMap YAML files offline")
    val.add_argument("files", nargs="+")
    val.set_defaults(func=_validate)
    _one_line_errors(val)

    from jobsched.nextfire import MAX_COUNT, after_arg, count_arg

    nxt = sub.add_parser(
        "next",
        help="print the next fire times of cron entries in files, in UTC and local time",
        description="Prints each entry's next fire times; problems in the files go to stderr, as "
        "`jobsched validate` reports them, and make the exit status 1.",
    )
    nxt.add_argument("files", nargs="+")
    nxt.add_argument(
        "--count", type=count_arg, default=5, help=f"fire times per entry, 1 to {MAX_COUNT} (default 5)"
    )
    nxt.add_argument(
        "--after",
        type=after_arg,
        default=None,
        help="start instant, RFC 3339 such as 2026-03-08T00:00:00Z (default: now); a date, or a time "
        "without offset, is read as UTC",
    )
    nxt.set_defaults(func=_next)
    _one_line_errors(nxt)

    status = sub.add_parser(
        "status", help="show each cron entry's last schedule, last success and active runs"
    )
    status.add_argument("-n", "--namespace", default=None, help="only this namespace (default: all)")
    status.add_argument("--kubeconfig", default=None)
    status.set_defaults(func=_status)

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
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command in ("validate", "next"):
        print(
            f"jobsched {args.command}: unknown arguments {' '.join(unknown)[:200]} (see --help)",
            file=sys.stderr,
        )
        return 2
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
