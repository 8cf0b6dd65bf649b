"""The `jobsched` command line: run the scheduler, lint cron ConfigMaps, drive the local control plane."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from jobsched import __version__

_PROVIDER_FLAGS = {
    "launch_rate": "virtual_launch_rate",
    "launch_burst": "virtual_launch_burst",
    "quota_pods": "virtual_quota_pods",
    "quota_pods_per_node": "virtual_quota_pods_per_node",
}


def _dev_cluster(args: argparse.Namespace) -> int:
    from jobsched.devcluster import cluster, nodes
    from jobsched.devcluster import state as devstate
    from jobsched.devcluster.provider.limits import LimitsError, ProviderLimits

    # The --virtual-* flags: any of them (or provider-up) starts the provider simulator.
    chosen = {
        field: getattr(args, flag)
        for field, flag in _PROVIDER_FLAGS.items()
        if getattr(args, flag) is not None
    }
    limits = None
    if chosen or args.action == "provider-up":
        try:
            limits = ProviderLimits(**chosen)
        except LimitsError as err:
            field = str(err).split(":")[0]
            print(
                f"jobsched dev-cluster: --{_PROVIDER_FLAGS.get(field, field).replace('_', '-')}: {err}",
                file=sys.stderr,
            )
            return 2
    if args.action == "up":
        state = cluster.up(args.name, provider=limits)
        if args.native:
            cluster.start_native(state, qps=args.qps, burst=args.burst)
        print(f"export KUBECONFIG={state.kubeconfig}")
        return 0
    if args.action == "down":
        stopped = cluster.down(args.name)
        print(f"cluster {args.name!r} {'stopped' if stopped else 'was not running'}", file=sys.stderr)
        return 0
    state_or_none = devstate.ClusterState.load(args.name)
    if state_or_none is None or not cluster.is_healthy(state_or_none):
        print(f"cluster {args.name!r} is not up; run `jobsched dev-cluster up` first", file=sys.stderr)
        return 1
    state = state_or_none
    if args.action == "nodes":
        shape_v = nodes.NodeShape(cpu=args.virtual_cpu, memory=args.virtual_memory, pods=args.virtual_pods)
        shape_r = nodes.NodeShape(cpu=args.regular_cpu, memory=args.regular_memory, pods=args.regular_pods)
        bodies = nodes.standard_nodes(
            args.virtual,
            args.regular,
            shape_v,
            shape_r,
            args.flavor,
            virtual_by_kwok=state.provider_limits is None,  # else the provider simulator plays them
        )
        created = nodes.create_nodes(state, bodies)
        print(f"{created} nodes created ({len(bodies) - created} existed)", file=sys.stderr)
        return 0
    if args.action == "native-up":
        cluster.start_native(state, qps=args.qps, burst=args.burst)
        return 0
    if args.action == "native-down":
        cluster.stop_native(state)
        return 0
    if args.action == "provider-up":
        assert limits is not None
        cluster.start_provider(state, limits)
        return 0
    if args.action == "provider-down":
        cluster.stop_provider(state)
        return 0
    if args.action == "env":
        print(f"export KUBECONFIG={state.kubeconfig}")
        return 0
    raise AssertionError(args.action)


def _run(args: argparse.Namespace) -> int:
    import dataclasses

    from jobsched.runtime import heap, logs, supervisor
    from jobsched.settings import SettingsError, load_settings

    logs.configure(args.log_level, log_format=args.log_format)
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
        await supervisor.run(settings, args.kubeconfig, args.identity, context=args.context)

    heap.tune_collector()  # this process's, not a caller's: supervisor.run also runs inside tests

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


def _optin(args: argparse.Namespace) -> int:
    from jobsched import optin
    from jobsched.settings import load_settings

    settings = load_settings(args.config)
    what = optin.OptIn(args.namespace, settings.cron.namespace_label, args.service_account)
    run = optin.enable_main if args.command == "enable" else optin.disable_main
    return run(what, args.apply, args.kubeconfig, args.context)


def _convert(args: argparse.Namespace) -> int:
    from jobsched import convert

    return convert.run(args)


def _status(args: argparse.Namespace) -> int:
    from jobsched.settings import load_settings
    from jobsched.statuscmd import status_main

    settings = load_settings(args.config)
    return status_main(
        settings, args.kubeconfig, args.context, args.namespace, args.all_namespaces, args.output
    )


def _trigger(args: argparse.Namespace) -> int:
    from jobsched.settings import load_settings
    from jobsched.trigger import trigger_main

    return trigger_main(args.target, load_settings(args.config), args.kubeconfig, args.context)


def _release(args: argparse.Namespace) -> int:
    from jobsched.release import release_main

    return release_main(args.kubeconfig, args.context, args.namespace, args.all_namespaces, args.dry_run)


def _cluster_flags(parser: argparse.ArgumentParser) -> None:
    """--kubeconfig and --context, as kubectl spells them, for every command that talks to a cluster."""
    parser.add_argument(
        "--kubeconfig", default=None, help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)"
    )
    parser.add_argument("--context", default=None, help="kubeconfig context (default: the current one)")


def _namespace_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """-n/--namespace and -A/--all-namespaces, as kubectl's: without either, the context's namespace."""
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", default=None, help=f"{what} in this namespace (default: the context's)"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help=f"{what} in every namespace")


class _Parser(argparse.ArgumentParser):
    """A usage error (a bad flag value, a missing argument, an unknown flag) prints one line saying what
    to fix and exits 2, for every subcommand."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jobsched", description=__doc__)
    parser.add_argument("--version", action="version", version=f"jobsched {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the scheduler (and cron engine) against KUBECONFIG or in-cluster")
    run.add_argument("--config", default=None, help="settings YAML (default: built-in defaults)")
    _cluster_flags(run)
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    run.add_argument(
        "--log-format",
        default=None,
        choices=["json", "console"],
        help="log lines as JSON or readable text (default: json unless stderr is a terminal)",
    )
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

    conv = sub.add_parser(
        "convert",
        help="turn batch/v1 CronJob YAML into jobsched cron ConfigMaps with the same meaning",
        description="Reads CronJobs (files, kubectl List output, or - for stdin) and writes cron ConfigMaps "
        "to stdout; every CronJob that cannot be carried exactly is named on stderr (exit 1).",
    )
    conv.add_argument("files", nargs="+", help="CronJob YAML files or Lists; - reads stdin")
    conv.add_argument("-o", "--output", default="-", help="where to write the ConfigMaps (default: stdout)")
    conv.add_argument("--name", default="cronjobs", help="ConfigMap name; further ones get -2, -3, ...")
    conv.add_argument(
        "--controller-time-zone",
        default="UTC",
        help="kube-controller-manager's zone, which batch/v1 uses for CronJobs without timeZone",
    )
    conv.add_argument(
        "--start", default=None, help="RFC 3339 instant to compare schedules from (default: now)"
    )
    conv.add_argument(
        "--scheduler-name", default=None, help="the jobsched scheduler's name (default: jobsched)"
    )
    conv.add_argument(
        "--max-bytes", type=int, default=None, help="largest serialized ConfigMap (default: 1 MiB)"
    )
    conv.set_defaults(func=_convert)

    status = sub.add_parser(
        "status",
        help="list cron entries like `kubectl get cronjobs`: schedule, last schedule, last success, next",
        description="Every cron entry, valid or not, read from the cron ConfigMaps, their status ConfigMaps "
        "and the entries' live Pods and Jobs (client-side: no running jobsched needed). Ages as kubectl "
        "prints them; NEXT is the next slot. -o json|yaml: {items: [...]}, documented in "
        "docs/operations.md.",
    )
    _namespace_flags(status, "entries")
    status.add_argument("-o", "--output", default=None, choices=["wide", "json", "yaml"])
    status.add_argument("--config", default=None, help="settings YAML (for the opt-in and ConfigMap labels)")
    _cluster_flags(status)
    status.set_defaults(func=_status)

    trig = sub.add_parser(
        "trigger",
        help="run a cron entry once, now (like kubectl create job --from=cronjob/NAME)",
        description="Creates the Pod (or Job) the entry's slot would create, now, named "
        "<configmap>-<entry>-manual-<unix seconds>-<hash>: scheduled on the entry's domain chain and bound "
        "at once, counted among the entry's runs but not as a slot (lastScheduleTime is unchanged). Only "
        "in namespaces that opted in, for a valid entry whose service accounts exist. Created exactly once "
        "per invocation, whatever the network does.",
    )
    trig.add_argument("target", metavar="NAMESPACE/CONFIGMAP/ENTRY")
    trig.add_argument("--config", default=None, help="settings YAML (labels, schedulerName)")
    _cluster_flags(trig)
    trig.set_defaults(func=_trigger)

    rel = sub.add_parser(
        "release",
        help="remove jobsched's finalizer from every slot pod (after uninstalling: nothing stays Terminating)",
        description="Removes the finalizer jobsched.io/tracking from every pod labelled jobsched.io/entry "
        "that carries it (UID-guarded patches; a second run finds nothing). Stop jobsched first: a running "
        "jobsched puts it on every new slot pod. See docs/operations.md, Uninstall.",
    )
    _namespace_flags(rel, "pods")
    rel.add_argument("--dry-run", action="store_true", help="list the pods, change nothing")
    _cluster_flags(rel)
    rel.set_defaults(func=_release)

    for name, verb in (("enable", "opt NAMESPACE in"), ("disable", "opt NAMESPACE out")):
        optin_parser = sub.add_parser(
            name,
            help=f"{verb}: the namespace label and the RoleBinding that lets jobsched create there",
            description=f"{verb.capitalize()} of jobsched's cron engine: the label cron.namespaceLabel and "
            "the RoleBinding jobsched-cron to the ClusterRole jobsched-cron-writer. Prints what to apply "
            "(a YAML stream for `kubectl apply -f -`, or kubectl commands), or applies it with --apply.",
        )
        optin_parser.add_argument("namespace")
        optin_parser.add_argument("--apply", action="store_true", help="apply it (default: print it)")
        optin_parser.add_argument("--config", default=None, help="settings YAML (for cron.namespaceLabel)")
        optin_parser.add_argument(
            "--service-account",
            default="jobsched-system/jobsched",
            help="jobsched's ServiceAccount as NAMESPACE/NAME (default jobsched-system/jobsched)",
        )
        _cluster_flags(optin_parser)
        optin_parser.set_defaults(func=_optin)

    dev = sub.add_parser("dev-cluster", help="build, start and stop the local control plane")
    dev.add_argument(
        "action",
        choices=["up", "down", "nodes", "native-up", "native-down", "provider-up", "provider-down", "env"],
    )
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
    sim = dev.add_argument_group(
        "provider simulator (with up or provider-up; any of these starts it, the others default to "
        "AWS Fargate's documented 20 launches/s, burst 100, no quota)"
    )
    sim.add_argument(
        "--virtual-launch-rate", type=float, default=None, help="pods the provider starts per second"
    )
    sim.add_argument("--virtual-launch-burst", type=int, default=None, help="launch token bucket size")
    sim.add_argument(
        "--virtual-quota-pods",
        type=int,
        default=None,
        help="pods running or starting on the provider (0: none)",
    )
    sim.add_argument(
        "--virtual-quota-pods-per-node", type=int, default=None, help="the same per virtual node (0: none)"
    )
    dev.set_defaults(func=_dev_cluster)
    return parser


def _user_error(err: Exception) -> bool:
    """Errors that come from the user's input or environment, not from a bug: one line, no traceback."""
    from jobsched.kube.client import ApiError, KubeconfigError, TransportError
    from jobsched.settings import SettingsError

    return isinstance(err, KubeconfigError | TransportError | ApiError | SettingsError | OSError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named by the subcommand's own parser, so the line says which command was misused
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)[:200]}")
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `jobsched status | head`: the reader went away. Quiet, as kubectl is; stdout goes to /dev/null
        # so that the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by it
    except Exception as err:
        if not _user_error(err):
            raise
        print(f"jobsched {args.command}: {err}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
