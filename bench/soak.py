"""`python -m bench.soak`: a soak run in compressed time on the local control plane (documented, not in CI).

    python -m bench.soak --entries 1000 --minutes 30 --virtual-nodes 100 --out bench/results/soak.json

(those are the defaults; a quick check: `python -m bench.soak --entries 200 --minutes 4 --out /tmp/soak.json`).

Cron's finest granularity is one minute, so "compressed time" means short lifecycles, not a faster clock:
every entry is `* * * * *`, its pods run RUN_SECONDS under kwok, and it keeps HISTORY_LIMIT finished
pods, so each real minute is a full slot lifecycle for every entry (staged, bound, run, succeeded, status
written, finalizer released, pruned), and 30 minutes are 30 of them.

It starts its own control plane (cluster `soak`, stopped at the end), creates --virtual-nodes virtual
nodes, a namespace, and `jobsched run` as a separate process, then the cron ConfigMaps. The judged slots
are the --minutes minute boundaries from the first one at least LEAD_S after the ConfigMaps exist; the
run ends END_BEFORE_NEXT_S before the slot after the last (before its staging). Every --sample-seconds it
records jobsched's RSS (/proc/PID/status VmRSS), open fds (/proc/PID/fd), established TCP connections to
the apiserver's port (psutil), CPU seconds, the pods in the namespace, and the newest slot's pods
created/bound/duplicates/missed (from its own pod watch, which keeps deleted pods in its counts).

Output: a JSON document at --out (samples, one row per slot, summary, verdicts) and a Markdown summary on
stdout. Verdicts (t = seconds after the first judged slot; warm-up = the first WARMUP_MINUTES; the early
window is W minutes after warm-up and the late window the last W minutes, W = min(10, (span - warm-up)/2)
where span is the run's length after the first slot):
- every slot fires once: each judged slot has exactly one pod per entry (duplicates = extra pods of a slot),
  and every entry's pod was bound (missed = entries without a bound pod for the slot);
- flat RSS: max RSS in the late window <= 1.10 x max RSS in the early window;
- flat fds, flat connections: late max <= max(1.10 x early max, early max + 2) (a few fds are noise);
- steady pods: the same rule for pods in the namespace, and the late max is at most
  entries x (HISTORY_LIMIT + 2) (kept history, the running pod, the next slot's staged pod).
It stops every process it started and deletes what it made on any exit (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import orjson
import psutil  # type: ignore[import-untyped]
import yaml

from bench.lib import manifests
from bench.lib.harness import Options, environment, setup_nodes
from bench.lib.kubeops import create_all, create_namespace, delete_namespace, delete_nodes
from bench.lib.scenario import Scenario, entry_names, rfc3339
from bench.lib.systems import DEFAULT_JOBSCHED_CONFIG, Jobsched, RunContext
from bench.lib.watcher import PodWatcher
from jobsched.core.vocabulary import BENCH_LABEL, NAMESPACE_OPT_IN_LABEL
from jobsched.devcluster import cluster as devcluster
from jobsched.devcluster import state as devstate
from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Informer

SOAK_CLUSTER = "soak"
RUN_SECONDS = 5.0
HISTORY_LIMIT = 1
LEAD_S = 30.0  # set-up before the first judged slot: jobsched loads the entries and stages ahead
END_BEFORE_NEXT_S = 15.0
WARMUP_MINUTES = 2.0
WINDOW_MAX_MINUTES = 10.0
GROWTH = 1.10
SLACK = 2
READY_S = 120.0
CONNECTIONS = 32


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class LiveWatcher(PodWatcher):
    """PodWatcher (first-seen times, deleted pods kept) plus the set of pods that exist right now."""

    def __init__(self) -> None:
        super().__init__(clock=time.time)  # wall clock: slots are wall-clock instants
        self.live: set[str] = set()

    def replace(self, items: list[dict[str, Any]]) -> None:
        super().replace(items)
        self.live = {str(p["metadata"]["uid"]) for p in items}

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        super().apply(event_type, obj)
        uid = str(obj["metadata"]["uid"])
        if event_type == "DELETED":
            self.live.discard(uid)
        else:
            self.live.add(uid)


def soak_configmaps(names: Sequence[str]) -> list[dict[str, Any]]:
    """The bench's cron ConfigMaps, every minute, with short history limits."""
    maps = manifests.cron_configmaps(names, "* * * * *", RUN_SECONDS)
    for cm in maps:
        document = yaml.safe_load(cm["data"][manifests.CRON_CONFIGMAP_KEY])
        for entry in document["entries"]:
            entry["successfulJobsHistoryLimit"] = HISTORY_LIMIT
            entry["failedJobsHistoryLimit"] = HISTORY_LIMIT
        cm["data"][manifests.CRON_CONFIGMAP_KEY] = yaml.safe_dump(document, sort_keys=False)
    return maps


def process_usage(pid: int, apiserver_port: int) -> dict[str, float]:
    """RSS (MB), open fds, established TCP connections to the apiserver and CPU seconds of pid."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    proc = psutil.Process(pid)
    connections = sum(
        1
        for c in proc.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == apiserver_port and c.status == psutil.CONN_ESTABLISHED
    )
    cpu = proc.cpu_times()
    return {
        "rss_mb": round(rss_kb / 1024, 1),
        "fds": fds,
        "connections": connections,
        "cpu_s": round(cpu.user + cpu.system, 2),
    }


def slot_row(watcher: PodWatcher, slot: datetime, entries: int) -> dict[str, Any]:
    """Pods created and bound for one slot, duplicates (extra pods of an entry) and missed entries."""
    suffix = "@" + rfc3339(slot)
    per_entry: Counter[str] = Counter()
    bound_entries: set[str] = set()
    latest_bound = None
    for record in watcher.records():
        if not record.slot.endswith(suffix):
            continue
        per_entry[record.entry] += 1
        if record.bound is not None:
            bound_entries.add(record.entry)
            latest_bound = max(latest_bound or record.bound, record.bound)
    return {
        "slot": rfc3339(slot),
        "created": sum(per_entry.values()),
        "bound": len(bound_entries),
        "duplicates": sum(n - 1 for n in per_entry.values()),
        "missed": entries - len(bound_entries),
        "last_bound_after_slot_s": round(latest_bound - slot.timestamp(), 2) if latest_bound else None,
    }


def scrape_fires(port: int) -> dict[str, float]:
    """jobsched_cron_fires_total by outcome, from the process's own /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    fires = {}
    for line in text.splitlines():
        if line.startswith('jobsched_cron_fires_total{outcome="'):
            outcome = line.split('"')[1]
            fires[outcome] = float(line.split()[-1])
    return fires


def http_ok(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


def first_last_max(samples: Sequence[dict[str, Any]], key: str) -> dict[str, float | None]:
    values = [s[key] for s in samples if s.get(key) is not None]
    if not values:
        return {"first": None, "last": None, "max": None}
    return {"first": values[0], "last": values[-1], "max": max(values)}


def window_max(samples: Sequence[dict[str, Any]], key: str, start: float, end: float) -> float | None:
    values = [s[key] for s in samples if start <= s["t_s"] <= end and s.get(key) is not None]
    return max(values) if values else None


def verdicts(
    samples: Sequence[dict[str, Any]], slots: Sequence[dict[str, Any]], entries: int, span_s: float
) -> list[dict[str, Any]]:
    """One verdict per claim, by the rules in the module docstring."""
    warmup = WARMUP_MINUTES * 60
    width = min(WINDOW_MAX_MINUTES * 60, (span_s - warmup) / 2)
    early = (warmup, warmup + width)
    late = (span_s - width, span_s)
    result = []
    judged = [s for s in slots if s["judged"]]
    fired_once = bool(judged) and all(
        s["created"] == entries and s["duplicates"] == 0 and s["missed"] == 0 for s in judged
    )
    result.append(
        {
            "claim": "every slot fires once",
            "pass": fired_once,
            "detail": f"{len(judged)} slots x {entries} entries: "
            f"{sum(s['duplicates'] for s in judged)} duplicates, {sum(s['missed'] for s in judged)} missed",
        }
    )
    for claim, key, relative_only in (
        ("flat RSS", "rss_mb", True),
        ("flat fds", "fds", False),
        ("flat connections", "connections", False),
        ("steady pods", "pods", False),
    ):
        first, last = window_max(samples, key, *early), window_max(samples, key, *late)
        if first is None or last is None or width <= 0:
            result.append({"claim": claim, "pass": False, "detail": "run too short for two windows"})
            continue
        limit = first * GROWTH if relative_only else max(first * GROWTH, first + SLACK)
        passed = last <= limit
        detail = f"late max {last:g} vs early max {first:g} (limit {limit:g})"
        if key == "pods":
            bound = entries * (HISTORY_LIMIT + 2)
            passed = passed and last <= bound
            detail += f"; bound {bound}"
        result.append({"claim": claim, "pass": passed, "detail": detail})
    for v in result:
        v["windows_s"] = {"early": [round(x) for x in early], "late": [round(x) for x in late]}
    return result


def markdown(document: dict[str, Any]) -> str:
    summary = document["summary"]
    options = document["options"]
    lines = [
        f"## Soak: {options['entries']} entries every minute for {options['minutes']} minutes, "
        f"{options['virtual_nodes']} virtual nodes",
        "",
        f"slots fired {summary['slots_fired']} / {summary['slots_judged']} judged, pods created "
        f"{summary['pods_created']}, duplicates {summary['duplicates']}, missed {summary['missed']}",
        "",
        "| figure | first | last | max |",
        "|---|---|---|---|",
    ]
    for label, key in (
        ("jobsched RSS MB", "rss_mb"),
        ("jobsched open fds", "fds"),
        ("TCP connections to apiserver", "connections"),
        ("pods in namespace", "pods"),
    ):
        figures = summary[key]
        lines.append(f"| {label} | {figures['first']} | {figures['last']} | {figures['max']} |")
    lines.append("")
    lines.append(f"jobsched CPU {summary['cpu_s']} s; fires by outcome {summary['fires_by_outcome']}")
    lines.append("")
    for v in document["verdicts"]:
        lines.append(f"- {'PASS' if v['pass'] else 'FAIL'} {v['claim']}: {v['detail']}")
    return "\n".join(lines)


@dataclass(frozen=True)
class SoakOptions:
    entries: int
    minutes: int
    virtual_nodes: int
    sample_seconds: float
    jobsched_config: Path


class Soak:
    def __init__(self, options: SoakOptions, state: devcluster.ClusterState, workdir: Path) -> None:
        self.options = options
        self.state = state
        self.workdir = workdir
        self.port = devstate.free_port()  # loopback, picked the way the cluster picks its own
        # Its own port, passed on the command line (which wins over the config file's server.port).
        self.jobsched = Jobsched(options.jobsched_config, port=self.port)
        self.namespace = f"soak-{uuid.uuid4().hex[:6]}"
        self.watcher = LiveWatcher()
        self.samples: list[dict[str, Any]] = []

    def stop(self) -> None:
        """Synchronous and idempotent: SIGTERM, then SIGKILL after a grace period (Jobsched.stop)."""
        self.jobsched.stop()

    async def run(self) -> dict[str, Any]:
        opts = self.options
        scenario = Scenario(crons=opts.entries, virtual_nodes=opts.virtual_nodes, regular_nodes=0)
        kubeconfig = str(self.state.kubeconfig)
        async with KubeClient.connect(kubeconfig, connections=CONNECTIONS) as client:
            env = await environment(
                client,
                Options(
                    scenario, ("jobsched",), kubeconfig, self.state, jobsched_config=opts.jobsched_config
                ),
                [self.jobsched],
            )
            try:
                await setup_nodes(client, scenario, say)
                await create_namespace(
                    client, self.namespace, {NAMESPACE_OPT_IN_LABEL: "true", BENCH_LABEL: "true"}
                )
                document = await self._measure(client, scenario, kubeconfig)
            finally:
                # Shielded: on Ctrl-C the process must still stop and the objects go.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self.stop)
                    try:
                        await delete_namespace(client, self.namespace)
                    except Exception as err:
                        say(f"[soak] cleaning up namespace {self.namespace} failed: {err}")
                    try:
                        await delete_nodes(client, f"{BENCH_LABEL}=true")
                    except Exception as err:
                        say(f"[soak] deleting the soak's nodes failed: {err}")
        document["environment"] = env
        return document

    async def _measure(self, client: KubeClient, scenario: Scenario, kubeconfig: str) -> dict[str, Any]:
        opts = self.options
        informer = Informer(client, f"/api/v1/namespaces/{self.namespace}/pods", self.watcher, name="soak")
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)
            with anyio.fail_after(60):
                await informer.synced.wait()
            ctx = RunContext(
                client=client,
                scenario=scenario,
                namespace=self.namespace,
                fire_at=datetime.now(UTC),
                fire_mono=time.monotonic(),
                kubeconfig=kubeconfig,
                workdir=self.workdir,
                nodes=[],
                cluster=self.state,
            )
            await self.jobsched.start(ctx)
            with anyio.fail_after(READY_S):
                while not await anyio.to_thread.run_sync(http_ok, self.port, "/readyz"):
                    self.jobsched.check()
                    await anyio.sleep(0.5)
            names = entry_names(opts.entries)
            await create_all(
                client, f"/api/v1/namespaces/{self.namespace}/configmaps", soak_configmaps(names), in_flight=4
            )
            created_at = datetime.now(UTC)
            first_slot = (created_at + timedelta(seconds=LEAD_S + 60)).replace(second=0, microsecond=0)
            slots = [first_slot + timedelta(minutes=i) for i in range(opts.minutes)]
            end = slots[-1] + timedelta(seconds=60 - END_BEFORE_NEXT_S)
            say(
                f"[soak] {opts.entries} entries in {self.namespace}; judged slots {rfc3339(slots[0])} .. "
                f"{rfc3339(slots[-1])}; ends {rfc3339(end)}; logs in {self.workdir}"
            )
            await self._sample_until(ctx.sampler.pids[0], first_slot, end)
            fires = await anyio.to_thread.run_sync(scrape_fires, self.port)
            tg.cancel_scope.cancel()
        return self._document(created_at, slots, end, fires)

    async def _sample_until(self, pid: int, first_slot: datetime, end: datetime) -> None:
        opts = self.options
        next_sample = time.time()
        while time.time() < end.timestamp():
            self.jobsched.check()
            now = datetime.now(UTC)
            usage = process_usage(pid, self.state.apiserver_port)
            newest = now.replace(second=0, microsecond=0)
            row = slot_row(self.watcher, newest, opts.entries)
            sample = {
                "t_s": round(now.timestamp() - first_slot.timestamp(), 1),
                "at": rfc3339(now),
                **usage,
                "pods": len(self.watcher.live),
                "pods_seen": len(self.watcher.pods),
                "newest_slot": row,
            }
            self.samples.append(sample)
            say(
                f"[soak] t{sample['t_s']:+7.0f}s  rss {usage['rss_mb']:6.1f} MB  fds {usage['fds']:4}  "
                f"conns {usage['connections']:3}  pods {sample['pods']:5}  slot {row['slot'][11:16]}: "
                f"created {row['created']} bound {row['bound']} dup {row['duplicates']} missed {row['missed']}"
            )
            next_sample += opts.sample_seconds
            await anyio.sleep(max(0.0, min(next_sample, end.timestamp()) - time.time()))

    def _document(
        self, created_at: datetime, slots: list[datetime], end: datetime, fires: dict[str, float]
    ) -> dict[str, Any]:
        opts = self.options
        judged = {rfc3339(s) for s in slots}
        seen = sorted({r.slot.rsplit("@", 1)[1] for r in self.watcher.records() if "@" in r.slot})
        rows = []
        for stamp in sorted(judged | set(seen)):
            row = slot_row(self.watcher, datetime.fromisoformat(stamp.replace("Z", "+00:00")), opts.entries)
            row["judged"] = stamp in judged
            rows.append(row)
        span = end.timestamp() - slots[0].timestamp()
        judged_rows = [r for r in rows if r["judged"]]
        summary = {
            "slots_judged": len(judged_rows),
            "slots_fired": sum(1 for r in judged_rows if r["created"] >= opts.entries and r["missed"] == 0),
            "pods_created": len(self.watcher.pods),
            "duplicates": sum(r["duplicates"] for r in rows),
            "missed": sum(r["missed"] for r in judged_rows),
            "rss_mb": first_last_max(self.samples, "rss_mb"),
            "fds": first_last_max(self.samples, "fds"),
            "connections": first_last_max(self.samples, "connections"),
            "pods": first_last_max(self.samples, "pods"),
            "cpu_s": self.samples[-1]["cpu_s"] if self.samples else None,
            "fires_by_outcome": fires,
        }
        return {
            "options": {
                "entries": opts.entries,
                "minutes": opts.minutes,
                "virtual_nodes": opts.virtual_nodes,
                "sample_seconds": opts.sample_seconds,
                "run_seconds": RUN_SECONDS,
                "history_limit": HISTORY_LIMIT,
                "jobsched_config": str(opts.jobsched_config),
                "configmaps_created_at": rfc3339(created_at),
                "first_slot": rfc3339(slots[0]),
                "end": rfc3339(end),
            },
            "summary": summary,
            "verdicts": verdicts(self.samples, rows, opts.entries, span),
            "slots": rows,
            "samples": self.samples,
        }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=1000, help="cron entries, each `* * * * *`")
    p.add_argument("--minutes", type=int, default=30, help="judged slots (one a minute)")
    p.add_argument("--virtual-nodes", type=int, default=100)
    p.add_argument("--sample-seconds", type=float, default=10.0)
    p.add_argument("--out", type=Path, default=Path("bench/results/soak.json"))
    p.add_argument("--jobsched-config", type=Path, default=DEFAULT_JOBSCHED_CONFIG)
    p.add_argument("--cluster-name", default=SOAK_CLUSTER, help="local control plane to start and stop")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.entries < 1 or args.minutes < 1 or args.virtual_nodes < 1 or args.sample_seconds <= 0:
        raise SystemExit("--entries, --minutes, --virtual-nodes and --sample-seconds must be positive")
    options = SoakOptions(
        args.entries, args.minutes, args.virtual_nodes, args.sample_seconds, args.jobsched_config
    )
    # SIGTERM gets the same clean-up as Ctrl-C: jobsched stopped, objects deleted, cluster down.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="jobsched-soak-"))
    state = devcluster.up(args.cluster_name)
    soak = Soak(options, state, workdir)
    try:
        document = anyio.run(soak.run, backend_options={"use_uvloop": True})
    except KeyboardInterrupt:
        say("[soak] interrupted: every process the soak started has been stopped")
        return 130
    finally:
        soak.stop()  # idempotent; covers an exit that bypassed the shielded clean-up
        devcluster.down(args.cluster_name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    print(markdown(document))
    say(f"[soak] results: {args.out}; jobsched log in {workdir}")
    return 0 if all(v["pass"] for v in document["verdicts"]) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
