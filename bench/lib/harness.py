"""Runs the storm: nodes once, then each repeat of each system (interleaved) in a fresh namespace, watched alike.

For each run the harness starts its pod watch on the new namespace, picks the fire time, lets the
system prepare and start, and then ticks once a second (sampling the scheduler processes, checking
they are alive, printing progress) until every cron slot has a bound, running pod or the deadline
passes. A failing system is recorded as an error and the others still run; every process a system
started is stopped and its namespace deleted, also on errors and Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from bench.lib.kubeops import (
    create_all,
    create_namespace,
    delete_namespace,
    delete_nodes,
    list_nodes,
    wait_nodes_ready,
)
from bench.lib.measure import aggregate, cpu_figures, cpu_to_running, node_domain, summarise
from bench.lib.scenario import Scenario, fire_time, rfc3339
from bench.lib.systems import (
    DEFAULT_JOBSCHED_CONFIG,
    RunContext,
    System,
    SystemFailed,
    make_system,
)
from bench.lib.watcher import PodWatcher
from jobsched.core.vocabulary import BENCH_LABEL, NAMESPACE_OPT_IN_LABEL
from jobsched.devcluster import build
from jobsched.devcluster import cluster as devcluster
from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Informer

SETTLE_S = 2.0  # after the last slot is bound and running, wait this long for stragglers (duplicates)
NODES_READY_S = 120.0
CLOCK_STEP_NOTICE_S = 0.05  # a wall-clock move during set-up worth a line
BURST_SAMPLE_S = 0.05  # CPU sampling period around a burst (the burst window is exact to 0.1 s)
CONNECTIONS = 128


@dataclass(frozen=True)
class Options:
    scenario: Scenario
    systems: tuple[str, ...]
    kubeconfig: str
    cluster: devcluster.ClusterState | None  # the devcluster behind kubeconfig, if any
    tuned_qps: int = 5000
    raw_in_flight: int = 64
    jobsched_config: Path = DEFAULT_JOBSCHED_CONFIG
    progress: bool = True
    say: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))


@dataclass
class Outcome:
    """The JSON document of the contract, plus each run's bound times (for the plot, not the JSON)."""

    document: dict[str, Any]
    bound_curves: dict[str, list[list[float]]]


def find_cluster(kubeconfig: str) -> devcluster.ClusterState | None:
    """The devcluster whose kubeconfig this is, so the native systems can start their controllers."""
    target = Path(kubeconfig).resolve()
    root = devcluster.state_root()
    for state_file in sorted(root.glob("*/state.json")) if root.is_dir() else []:
        state = devcluster.ClusterState.load(state_file.parent.name)
        if state is not None and state.kubeconfig.resolve() == target:
            return state
    return None


def _component_versions() -> dict[str, str]:
    versions = {}
    for component in build.all_components():
        with contextlib.suppress(Exception):
            versions[component.name] = component.version
    return versions


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


async def environment(client: KubeClient, options: Options, systems: list[System]) -> dict[str, Any]:
    import psutil  # type: ignore[import-untyped]

    server: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        server = await client.get_json("/version")
    built = _component_versions()
    return {
        "kubernetes": server.get("gitVersion") or built.get("kubernetes"),
        "etcd": built.get("etcd"),
        "kwok": built.get("kwok"),
        "control_plane": "local devcluster" if options.cluster else "external kubeconfig",
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "qps": {s.name: s.settings() for s in systems},
        "tuned_qps": options.tuned_qps,
        "started_at": rfc3339(datetime.now(UTC)),
    }


async def setup_nodes(client: KubeClient, scenario: Scenario, say: Callable[[str], None]) -> None:
    """Replaces the bench's nodes with the scenario's (shapes differ between runs), waits until Ready."""
    selector = f"{BENCH_LABEL}=true"
    await delete_nodes(client, selector)
    bodies = scenario.node_bodies()  # nodes have no finalizers: the collection DELETE is done when it returns
    await create_all(client, "/api/v1/nodes", bodies, in_flight=16)
    await wait_nodes_ready(client, selector, len(bodies), NODES_READY_S)
    say(
        f"[bench] {scenario.virtual_nodes} virtual nodes ({sum(scenario.virtual_pod_limits())} pods) "
        f"and {scenario.regular_nodes} regular nodes ready"
    )


def leaf_errors(err: BaseException) -> list[BaseException]:
    """The real exceptions inside (nested) task-group exception groups."""
    if isinstance(err, BaseExceptionGroup):
        return [leaf for inner in err.exceptions for leaf in leaf_errors(inner)]
    return [err]


def describe_error(err: BaseException) -> str:
    return "; ".join(f"{type(e).__name__}: {e}" for e in leaf_errors(err))


class Harness:
    def __init__(self, client: KubeClient, options: Options, workdir: Path) -> None:
        self.client = client
        self.options = options
        self.workdir = workdir
        self.run_id = uuid.uuid4().hex[:5]
        self.nodes: list[dict[str, Any]] = []
        self.first_fire: datetime | None = options.scenario.fire_at

    def _fire_at(self, system: System) -> datetime:
        explicit, self.first_fire = self.first_fire, None
        if explicit is not None:
            return explicit
        return fire_time(datetime.now(UTC), system.lead(self.options.scenario), system.minute_aligned)

    async def run_once(self, system: System, repeat: int) -> tuple[dict[str, Any], list[float]]:
        """One measured run: (the run's figures, sorted seconds-after-fire at which pods were bound)."""
        scenario, say = self.options.scenario, self.options.say
        namespace = f"bench-{system.name}-{self.run_id}-{repeat}"
        await create_namespace(self.client, namespace, {NAMESPACE_OPT_IN_LABEL: "true", BENCH_LABEL: "true"})
        watcher = PodWatcher()
        informer = Informer(self.client, f"/api/v1/namespaces/{namespace}/pods", watcher, name=namespace)
        ctx: RunContext | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(informer.run)
                await informer.synced.wait()
                fire_at = self._fire_at(system)
                fire_mono = time.monotonic() + (fire_at - datetime.now(UTC)).total_seconds()
                ctx = RunContext(
                    client=self.client,
                    scenario=scenario,
                    namespace=namespace,
                    fire_at=fire_at,
                    fire_mono=fire_mono,
                    kubeconfig=self.options.kubeconfig,
                    workdir=self.workdir,
                    nodes=self.nodes,
                    cluster=self.options.cluster,
                )
                if ctx.cluster is not None:
                    pids = ctx.cluster.pids
                    ctx.control_plane_sampler.track(pids[n] for n in devcluster.CORE_PROCESSES if n in pids)
                ctx.harness_sampler.track([os.getpid()])
                label = f"{system.name} {repeat + 1}/{scenario.repeats}"
                say(f"[{label}] namespace {namespace}, fire at {rfc3339(fire_at)}; preparing")
                await system.prepare(ctx)
                await system.start(ctx)
                if time.monotonic() > fire_mono:
                    raise SystemFailed(
                        f"set-up ran {time.monotonic() - fire_mono:.1f}s past the fire time; raise --lead"
                    )
                say(f"[{label}] started, {fire_mono - time.monotonic():.1f}s to fire")
                tg.start_soon(system.fire, ctx)
                tg.start_soon(self._sample_burst, ctx, watcher)
                await self._watch_until_done(ctx, system, watcher, label)
                tg.cancel_scope.cancel()
        finally:
            if ctx is not None:
                with contextlib.suppress(Exception):
                    ctx.sample()
            # Shielded: on Ctrl-C (a cancellation) the processes must still stop and the namespace go.
            with anyio.CancelScope(shield=True):
                try:
                    await anyio.to_thread.run_sync(system.stop)
                finally:
                    try:
                        await delete_namespace(self.client, namespace)
                    except Exception as err:  # the run's figures stand; the leftovers are said
                        say(f"[bench] cleaning up namespace {namespace} failed: {err}")
        assert ctx is not None  # set before anything could have succeeded
        domains = {n["metadata"]["name"]: node_domain(n) for n in self.nodes}
        figures = summarise(watcher.records(), ctx.fire_mono, scenario.crons, domains)
        figures.update(
            fire_at=rfc3339(ctx.fire_at),
            scheduler_cpu_s=ctx.sampler.cpu_s,
            scheduler_peak_rss_mb=ctx.sampler.peak_rss_mb,
            wall_clock_step_s=round(ctx.clock_step_s, 3),
            **cpu_figures(ctx.sampler, ctx.fire_mono, figures),
            **cpu_to_running(
                ctx.sampler, ctx.control_plane_sampler, ctx.harness_sampler, ctx.fire_mono, figures
            ),
            **system.extra(),
        )
        curve = sorted(r.bound - ctx.fire_mono for r in watcher.records() if r.bound is not None)
        return figures, curve

    async def _sample_burst(self, ctx: RunContext, watcher: PodWatcher) -> None:
        """Samples CPU (the scheduler's and the rest of the machine's) every BURST_SAMPLE_S from just
        before the fire instant until every slot is bound, so the burst's CPU window is exact to within
        0.1 s."""
        await ctx.wait_for_fire(before_s=BURST_SAMPLE_S)
        if abs(ctx.clock_step_s) > CLOCK_STEP_NOTICE_S:
            self.options.say(
                f"[bench] the wall clock moved {ctx.clock_step_s:+.3f}s during set-up; re-anchored"
            )
        while watcher.bound_entries() < ctx.scenario.crons or time.monotonic() < ctx.fire_mono:
            ctx.sample()
            await anyio.sleep(BURST_SAMPLE_S)
        ctx.sample()

    async def _watch_until_done(
        self, ctx: RunContext, system: System, watcher: PodWatcher, label: str
    ) -> None:
        """Ticks once a second until every slot is bound and running (plus SETTLE_S) or the deadline."""
        scenario = ctx.scenario
        deadline = ctx.fire_mono + scenario.deadline
        done_at: float | None = None
        while True:
            now = time.monotonic()
            ctx.sample()
            system.check()
            created, bound, running = watcher.counts()
            # A line a second from the fire time on; before it, one every ten seconds is enough.
            before_fire = now < ctx.fire_mono - 1
            if self.options.progress and (not before_fire or round(ctx.fire_mono - now) % 10 == 0):
                refused = watcher.refused()
                self.options.say(
                    f"[{label}] T{now - ctx.fire_mono:+7.1f}s  created {created:>6}  bound {bound:>6}  "
                    f"running {running:>6}  / {scenario.crons}" + (f"  refused {refused}" if refused else "")
                )
            complete = (
                now >= ctx.fire_mono
                and watcher.bound_entries() >= scenario.crons
                and not watcher.waiting_to_run()
            )
            if complete and done_at is None:
                done_at = now
            if (done_at is not None and now - done_at >= SETTLE_S) or now >= deadline:
                return
            await anyio.sleep(min(1.0, max(0.05, deadline - now)))

    async def run(self) -> Outcome:
        options, scenario = self.options, self.options.scenario
        systems = [
            make_system(
                n,
                options.tuned_qps,
                options.jobsched_config,
                options.raw_in_flight,
                scenario.provider_limits(),
            )
            for n in options.systems
        ]
        env = await environment(self.client, options, systems)
        await setup_nodes(self.client, scenario, options.say)
        self.nodes = await list_nodes(self.client)
        foreign = [n for n in self.nodes if BENCH_LABEL not in (n["metadata"].get("labels") or {})]
        if foreign:
            options.say(f"[bench] note: {len(foreign)} nodes not made by the bench also take pods")
        env["foreign_nodes"] = len(foreign)
        runs: dict[str, Any] = {}
        curves: dict[str, list[list[float]]] = {}
        first_fire: str | None = None
        repeats: dict[str, list[dict[str, Any]]] = {system.name: [] for system in systems}
        given_up: set[str] = set()
        try:
            # Repeats are interleaved (a, b, a, b, ...), so a slow patch of a shared machine falls on
            # every system rather than on one system's repeats.
            for repeat in range(scenario.repeats):
                for system in systems:
                    if system.name in given_up:
                        continue
                    try:
                        figures, curve = await self.run_once(system, repeat)
                    except Exception as err:
                        message = describe_error(err)
                        options.say(f"[{system.name}] failed: {message}")
                        repeats[system.name].append({"error": message})
                        if any(isinstance(e, SystemFailed) for e in leaf_errors(err)):
                            given_up.add(system.name)  # the same cause would fail every repeat
                        continue
                    first_fire = first_fire or figures["fire_at"]
                    repeats[system.name].append(figures)
                    curves.setdefault(system.name, []).append(curve)
            runs = {name: aggregate(done) for name, done in repeats.items()}
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await delete_nodes(self.client, f"{BENCH_LABEL}=true")
                except Exception as err:  # the figures stand; the leftovers are said
                    options.say(f"[bench] deleting the bench's nodes failed: {err}")
        scenario_doc = scenario.to_json()
        scenario_doc["fire_at"] = first_fire or scenario_doc["fire_at"]
        scenario_doc["systems"] = list(options.systems)
        return Outcome({"environment": env, "scenario": scenario_doc, "runs": runs}, curves)


async def run_bench(options: Options) -> Outcome:
    """Runs every system of options on the cluster behind options.kubeconfig."""
    # Kept after the run: a failed system's error points into it.
    workdir = Path(os.environ.get("JOBSCHED_BENCH_LOGS") or tempfile.mkdtemp(prefix="jobsched-bench-"))
    await anyio.Path(workdir).mkdir(parents=True, exist_ok=True)
    options.say(f"[bench] process logs in {workdir}")
    async with KubeClient.connect(options.kubeconfig, connections=CONNECTIONS) as client:
        return await Harness(client, options, workdir).run()
