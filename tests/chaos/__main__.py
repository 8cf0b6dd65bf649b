"""`python -m tests.chaos`: the full chaos suite, one 1,000-cron storm per scenario, with a table.

    python -m tests.chaos --crons 1000 --out bench/results/chaos.json

It starts its own control plane (cluster `chaos`, stopped at the end) unless --cluster names one that
is up. Each scenario (tests/chaos/faults.py) runs a storm with two jobsched replicas under leader
election at the default lease (15 s / 10 s / 2 s) and one fault; the table gives duplicates, missed
slots, stranded pods and the latency the fault added: p99 and max fire→bound minus those of the
scenario's baseline in the same suite run (a no-fault storm; for the proxy scenarios, a no-fault storm
through the proxy). Writes the JSON at --out and the table beside it (.md). Exit 1 if any scenario
had a duplicate, a missed slot, a stranded pod, an early bind, an error, or a fault that never struck.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from bench.lib.scenario import Scenario
from jobsched.devcluster import build
from jobsched.devcluster import cluster as devcluster
from tests.chaos.faults import scenarios
from tests.chaos.report import table
from tests.chaos.storm import chaos_scenario, run_storm, verdict

OWN_CLUSTER = "chaos"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    names = list(scenarios())
    p.add_argument("--crons", type=int, default=1000)
    p.add_argument("--scenarios", default=",".join(names), help=f"comma list of {', '.join(names)}")
    p.add_argument("--run-seconds", type=float, default=30.0, help="pod run time under kwok")
    p.add_argument("--out", type=Path, default=Path("bench/results/chaos.json"))
    p.add_argument("--cluster", default=None, help="use this running devcluster instead of starting one")
    p.add_argument(
        "--logs", type=Path, default=None, help="keep every run's process logs under this directory"
    )
    return p


def environment(state: devcluster.ClusterState) -> dict[str, Any]:
    versions = {c.name: c.version for c in build.all_components()}
    return {
        "kubernetes": versions.get("kubernetes"),
        "etcd": versions.get("etcd"),
        "kwok": versions.get("kwok"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cluster": state.name,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def run_suite(
    state: devcluster.ClusterState, shape: Scenario, names: list[str], logs: Path | None
) -> list[dict[str, Any]]:
    faults = scenarios()
    results = []
    for name in names:
        print(f"[chaos] {name}: {faults[name].describe()}", file=sys.stderr, flush=True)
        result = await run_storm(state, shape, faults[name], name, logs)
        print(f"[chaos] {name}: {verdict(result)}", file=sys.stderr, flush=True)
        for note in result["notes"]:
            print(f"[chaos]   {note}", file=sys.stderr, flush=True)
        results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    known = scenarios()
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SystemExit(f"--scenarios: unknown {unknown or 'empty'}; choose from {', '.join(known)}")
    shape = chaos_scenario(crons=args.crons, run_seconds=args.run_seconds)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    own = args.cluster is None
    state = devcluster.up(OWN_CLUSTER) if own else devcluster.ClusterState.load(args.cluster)
    if state is None:
        raise SystemExit(f"--cluster: {args.cluster!r} is not up")
    try:
        env = environment(state)
        results = anyio.run(run_suite, state, shape, names, args.logs, backend_options={"use_uvloop": True})
    except KeyboardInterrupt:
        print("[chaos] interrupted: every process the suite started has been stopped", file=sys.stderr)
        return 130
    finally:
        if own:
            devcluster.down(OWN_CLUSTER)
    document = {"environment": env, "shape": shape.to_json(), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    text = table(results)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 1 if any(verdict(r) != "ok" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
