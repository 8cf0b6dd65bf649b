"""`python -m bench`: a midnight CronJob storm, measured on jobsched, the native pipeline and the raw ceiling.

Without --kubeconfig it starts its own local control plane (etcd + kube-apiserver + kwok, built from
Go modules on first use) and stops it at the end. Results: the JSON document at --out, a Markdown
table on stdout (and beside --out as .md), and a plot beside --out as .png.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from bench.lib import report
from bench.lib.harness import Options, find_cluster, run_bench
from bench.lib.scenario import Scenario, parse_fire_at
from bench.lib.systems import DEFAULT_JOBSCHED_CONFIG, PROFILE_ENV, PROFILE_FORMAT_ENV, SYSTEM_NAMES
from jobsched.devcluster import cluster as devcluster

OWN_CLUSTER = "bench"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--crons", type=int, default=1000, help="cron entries, all firing at one instant")
    p.add_argument("--virtual-nodes", type=int, default=100)
    p.add_argument("--regular-nodes", type=int, default=20)
    p.add_argument(
        "--virtual-capacity-pods",
        type=int,
        default=None,
        help="total pods the virtual nodes hold (spread over them), to force fallback to regular nodes",
    )
    p.add_argument(
        "--virtual-launch-rate",
        type=float,
        default=None,
        help="the provider simulator plays the virtual nodes: launches/s (default 20 with any --virtual-* flag)",
    )
    p.add_argument("--virtual-launch-burst", type=int, default=None, help="its token bucket (default 100)")
    p.add_argument(
        "--virtual-quota-pods",
        type=int,
        default=None,
        help="its pod quota over all virtual nodes (default none)",
    )
    p.add_argument("--run-seconds", type=float, default=30.0, help="pod run time under kwok")
    p.add_argument("--repeats", type=int, default=1, help="runs per system; figures are medians")
    p.add_argument("--systems", default="jobsched,native,native-tuned,raw", help="comma list")
    p.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    p.add_argument(
        "--fire-at",
        type=parse_fire_at,
        default=None,
        help="first run's fire time, RFC 3339 or +SECONDS (default: next minute boundary after --lead)",
    )
    p.add_argument("--lead", type=float, default=None, help="seconds of set-up before a fire time")
    p.add_argument("--deadline", type=float, default=None, help="seconds after fire before a slot is missed")
    p.add_argument("--kubeconfig", default=None, help="use this cluster instead of starting one")
    p.add_argument("--tuned-qps", type=int, default=5000, help="QPS and burst of native-tuned's clients")
    p.add_argument("--raw-in-flight", type=int, default=64)
    p.add_argument("--jobsched-config", type=Path, default=DEFAULT_JOBSCHED_CONFIG)
    p.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="a status line per second"
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="write a py-spy flame graph of each jobsched run into this directory (figures then include "
        "the profiler's overhead)",
    )
    p.add_argument(
        "--profile-format",
        choices=("flamegraph", "raw"),
        default="flamegraph",
        help="py-spy's output: an SVG flame graph, or collapsed stacks (text, one stack per line)",
    )
    return p


def parse_systems(text: str) -> tuple[str, ...]:
    systems = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in systems if s not in SYSTEM_NAMES]
    if unknown or not systems:
        raise SystemExit(f"--systems: unknown {unknown or 'empty'}; choose from {', '.join(SYSTEM_NAMES)}")
    return systems


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        os.environ[PROFILE_ENV] = str(args.profile.resolve())
        os.environ[PROFILE_FORMAT_ENV] = args.profile_format
    try:
        scenario = Scenario(
            crons=args.crons,
            virtual_nodes=args.virtual_nodes,
            regular_nodes=args.regular_nodes,
            virtual_capacity_pods=args.virtual_capacity_pods,
            run_seconds=args.run_seconds,
            repeats=args.repeats,
            lead_s=args.lead,
            deadline_s=args.deadline,
            fire_at=args.fire_at,
            virtual_launch_rate=args.virtual_launch_rate,
            virtual_launch_burst=args.virtual_launch_burst,
            virtual_quota_pods=args.virtual_quota_pods,
        )
    except ValueError as err:
        raise SystemExit(f"bad scenario: {err}") from err
    systems = parse_systems(args.systems)
    # SIGTERM (a CI timeout, `kill`) gets the same clean-up as Ctrl-C: processes stopped, cluster down.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    own = args.kubeconfig is None
    provider = scenario.provider_limits()
    state = devcluster.up(OWN_CLUSTER, provider=provider) if own else find_cluster(args.kubeconfig)
    if provider is not None and not own:
        if state is None:
            raise SystemExit(
                "--virtual-*: the provider simulator needs a dev cluster; this kubeconfig is not one"
            )
        devcluster.start_provider(state, provider)
    try:
        kubeconfig = str(state.kubeconfig) if own and state else str(args.kubeconfig)
        options = Options(
            scenario=scenario,
            systems=systems,
            kubeconfig=kubeconfig,
            cluster=state,
            tuned_qps=args.tuned_qps,
            raw_in_flight=args.raw_in_flight,
            jobsched_config=args.jobsched_config,
            progress=args.progress,
        )
        outcome = anyio.run(run_bench, options, backend_options={"use_uvloop": True})
    except KeyboardInterrupt:
        print("[bench] interrupted: every process the bench started has been stopped", file=sys.stderr)
        return 130
    finally:
        if own:
            devcluster.down(OWN_CLUSTER)
    table = report.write_all(outcome.document, outcome.bound_curves, args.out)
    print(table)
    print(
        f"results: {args.out} (JSON), {args.out.with_suffix('.md')}, {args.out.with_suffix('.png')}",
        file=sys.stderr,
    )
    failed = [name for name, run in outcome.document["runs"].items() if "error" in run]
    return 1 if failed and len(failed) == len(systems) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
