"""The systems under test, behind one small interface the harness drives the same way for all.

A system is given a fresh namespace and a fire time. `prepare` writes its inputs (CronJobs, cron
ConfigMaps, pre-made pods), `start` launches its processes before the fire time, `fire` does
whatever must happen at the fire time itself (only the raw client acts then; the others are
driven by their own cron), `check` raises if a process died early, and `stop` ends every process
it started. The harness measures all of them through the same pod watch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.from_thread
import anyio.to_thread

from bench.lib import manifests
from bench.lib.kubeops import create_all, create_namespace, delete_namespace
from bench.lib.provider import domain_limits, limited_config
from bench.lib.raw import PhaseResult, bind_pods, create_pods
from bench.lib.scenario import Scenario, cron_schedule, entry_names, rfc3339
from bench.lib.usage import UsageSampler
from jobsched.core.vocabulary import BENCH_LABEL, NAMESPACE_OPT_IN_LABEL
from jobsched.devcluster import cluster as devcluster
from jobsched.devcluster import processes as devprocesses
from jobsched.devcluster.provider.limits import ProviderLimits
from jobsched.kube.client import KubeClient

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE_ENV = "JOBSCHED_BENCH_PROFILE"  # a directory: profile every jobsched process with py-spy
PROFILE_FORMAT_ENV = "JOBSCHED_BENCH_PROFILE_FORMAT"  # py-spy's --format: flamegraph or raw
DEFAULT_JOBSCHED_CONFIG = REPO_ROOT / "config" / "jobsched.yaml"
STOP_GRACE_S = 10.0
LOG_TAIL_CHARS = 2000
REANCHOR_BEFORE_S = 1.0  # the harness re-reads the wall clock this long before the fire instant


class SystemFailed(Exception):
    """The system cannot be measured (a process exited early, or it needs what is not there)."""


@dataclass
class RunContext:
    """What one measured run of one system gets from the harness."""

    client: KubeClient
    scenario: Scenario
    namespace: str
    fire_at: datetime
    fire_mono: float
    kubeconfig: str
    workdir: Path  # logs of processes the system starts
    nodes: Sequence[dict[str, Any]]  # every node of the cluster, for systems that place pods themselves
    cluster: devcluster.ClusterState | None  # None when the harness was given a foreign kubeconfig
    sampler: UsageSampler = field(default_factory=UsageSampler)  # the system's own processes
    # apiserver, etcd, kwok: childless, so no scan of the process table every 50 ms in the burst
    control_plane_sampler: UsageSampler = field(default_factory=lambda: UsageSampler(children=False))
    harness_sampler: UsageSampler = field(default_factory=lambda: UsageSampler(children=False))
    clock_step_s: float = 0.0  # how far the wall clock moved against the monotonic one since set-up

    def sample(self) -> None:
        """One sample of every sampler, so that all three cover the same windows."""
        for sampler in (self.sampler, self.control_plane_sampler, self.harness_sampler):
            sampler.sample()

    @property
    def entries(self) -> list[str]:
        return entry_names(self.scenario.crons)

    def reanchor(self) -> None:
        """Re-reads the fire instant's monotonic time from the wall clock. The systems fire by the wall
        clock (cron is wall time), the harness measures on the monotonic one; a freshly booted machine
        may step its wall clock during the lead, and without this a step of +1 s would show every pod
        bound a second "early"."""
        anchored = time.monotonic() + (self.fire_at - datetime.now(UTC)).total_seconds()
        self.clock_step_s += self.fire_mono - anchored
        self.fire_mono = anchored

    async def wait_for_fire(self, before_s: float = 0.0) -> None:
        """Sleeps until `before_s` ahead of the fire instant, re-anchored on the wall clock a second
        before it."""
        await anyio.sleep(max(0.0, self.fire_mono - REANCHOR_BEFORE_S - time.monotonic()))
        self.reanchor()
        await anyio.sleep(max(0.0, self.fire_mono - before_s - time.monotonic()))


async def create_cronjobs(ctx: RunContext, build: Callable[[str, str, float], dict[str, Any]]) -> None:
    """One CronJob per entry, all firing at the run's instant (the native systems' and the adopted)."""
    schedule = cron_schedule(ctx.fire_at)
    bodies = [build(name, schedule, ctx.scenario.run_seconds) for name in ctx.entries]
    await create_all(ctx.client, f"/apis/batch/v1/namespaces/{ctx.namespace}/cronjobs", bodies)


def log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    except OSError:
        return "(no log)"


class System:
    """The interface, with the defaults of a system that needs nothing at fire time."""

    name: ClassVar[str]
    minute_aligned: ClassVar[bool] = True  # fired by cron, so fire_at must be a minute boundary

    def lead(self, scenario: Scenario) -> float:
        return scenario.lead

    def settings(self) -> dict[str, Any]:
        """Client settings worth recording in the environment (QPS, concurrency)."""
        return {}

    async def prepare(self, ctx: RunContext) -> None:
        raise NotImplementedError

    async def start(self, ctx: RunContext) -> None:
        """Starts the system's processes (before the fire time)."""

    async def fire(self, ctx: RunContext) -> None:
        """Runs from just before the fire time until the system has done its part."""

    def check(self) -> None:
        """Raises SystemFailed if the system can no longer produce results."""

    def stop(self) -> None:
        """Stops every process the system started; idempotent and synchronous (runs in finally)."""

    def extra(self) -> dict[str, Any]:
        """System-specific figures added to the run's record."""
        return {}


class Native(System):
    """batch/v1 CronJobs + kube-controller-manager (cronjob, job, GC) + kube-scheduler."""

    name = "native"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "kube-scheduler": {"qps": 50, "burst": 100},
        "kube-controller-manager": {"qps": 20, "burst": 30},
        "upstream_defaults": True,
    }

    def __init__(self, qps: int = 0) -> None:
        self.qps = qps
        self._cluster: devcluster.ClusterState | None = None

    def settings(self) -> dict[str, Any]:
        if not self.qps:
            return dict(self.DEFAULTS)
        tuned = {"qps": self.qps, "burst": self.qps}
        return {"kube-scheduler": tuned, "kube-controller-manager": tuned, "upstream_defaults": False}

    async def prepare(self, ctx: RunContext) -> None:
        if ctx.cluster is None:
            raise SystemFailed(
                f"{self.name} needs the harness's local control plane (it starts kube-controller-manager "
                "and kube-scheduler itself); run without --kubeconfig, or on a devcluster kubeconfig"
            )
        await create_cronjobs(ctx, manifests.cronjob)

    async def start(self, ctx: RunContext) -> None:
        assert ctx.cluster is not None
        self._cluster = ctx.cluster
        await anyio.to_thread.run_sync(devcluster.start_native, ctx.cluster, self.qps, self.qps)
        ctx.sampler.track(ctx.cluster.pids[n] for n in devcluster.NATIVE_PROCESSES)

    def check(self) -> None:
        if self._cluster is None:
            return
        alive = {n for n, _ in devprocesses.running_pids(self._cluster)}
        for name in devcluster.NATIVE_PROCESSES:
            if name not in alive:
                tail = log_tail(self._cluster.dir / f"{name}.log")
                raise SystemFailed(f"{name} exited during the run; last log lines:\n{tail}")

    def stop(self) -> None:
        if self._cluster is not None:
            devcluster.stop_native(self._cluster)
            self._cluster = None


class NativeTuned(Native):
    name = "native-tuned"


class Jobsched(System):
    """The real scheduler and cron engine, as a separate `python -m jobsched run` process. With the
    provider simulator's limits, its virtual domain is configured with them (bench/lib/provider.py)."""

    name = "jobsched"

    def __init__(
        self, config: Path = DEFAULT_JOBSCHED_CONFIG, provider: ProviderLimits | None = None, *, port: int = 0
    ) -> None:
        self.config = config
        self.provider = provider
        self.port = port  # metrics/health port; 0 lets it pick a free one (10259 may be another jobsched's)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    def settings(self) -> dict[str, Any]:
        import yaml

        try:
            loaded = yaml.safe_load(self.config.read_text()) or {}
        except (OSError, yaml.YAMLError):
            return {"config": str(self.config)}
        limits = domain_limits(self.provider) if self.provider else None
        return {"config": str(self.config), "api": loaded.get("api", {}), "virtual_domain_limits": limits}

    def _config_for(self, ctx: RunContext) -> Path:
        if self.provider is None:
            return self.config
        import yaml

        try:
            config = limited_config(self.config, self.provider)
        except (OSError, ValueError) as err:
            raise SystemFailed(f"{self.name}: {err}") from err
        path = ctx.workdir / f"jobsched-{ctx.namespace}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    async def prepare(self, ctx: RunContext) -> None:
        maps = manifests.cron_configmaps(ctx.entries, cron_schedule(ctx.fire_at), ctx.scenario.run_seconds)
        await create_all(ctx.client, f"/api/v1/namespaces/{ctx.namespace}/configmaps", maps, in_flight=4)

    async def start(self, ctx: RunContext) -> None:
        self._log = ctx.workdir / f"jobsched-{ctx.namespace}.log"
        command = [
            sys.executable,
            "-m",
            "jobsched",
            "run",
            "--kubeconfig",
            ctx.kubeconfig,
            "--config",
            str(self._config_for(ctx)),
            "--port",
            str(self.port),
        ]
        profile_dir = os.environ.get(PROFILE_ENV)
        if profile_dir:  # a flame graph of the whole run (py-spy samples from outside the process)
            form = os.environ.get(PROFILE_FORMAT_ENV, "flamegraph")
            out = Path(profile_dir) / f"jobsched-{ctx.namespace}.{'svg' if form == 'flamegraph' else 'txt'}"
            py_spy = str(Path(sys.executable).with_name("py-spy"))
            spy = [py_spy, "record", "--rate", "200", "--subprocesses", "--format", form, "-o", str(out)]
            command = [*spy, "--", *command]
        self._proc = await anyio.to_thread.run_sync(spawn, command, self._log)
        ctx.sampler.track([self._proc.pid])
        await anyio.sleep(0.5)
        self.check()

    def check(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            code = self._proc.returncode
            self._proc = None
            log = self._log or Path("/nonexistent")
            raise SystemFailed(
                f"`jobsched run` exited early with code {code}; log {log}, last lines:\n{log_tail(log)}"
            )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # py-spy writes its flame graph on SIGINT (and jobsched shuts down on it as on SIGTERM).
        stop_signal = signal.SIGINT if os.environ.get(PROFILE_ENV) else signal.SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, stop_signal)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class JobschedUnaware(Jobsched):
    """jobsched with the same domains, but none of the provider's limits configured."""

    name = "jobsched-unaware"

    def __init__(self, config: Path = DEFAULT_JOBSCHED_CONFIG) -> None:
        super().__init__(config, provider=None)


class JobschedHostile(Jobsched):
    """jobsched while a hostile tenant writes the worst cron ConfigMaps under 1 MiB (bench.lib.hostile_
    configmaps, every kind but the control) into another opted-in namespace, ahead of the storm. The
    storm's figures beside plain `jobsched`'s, in the same run, show what the tenant cost everyone
    else; `hostile_*` fields say how many were written and how many of them got Warning Events."""

    name = "jobsched-hostile"

    def __init__(
        self, config: Path = DEFAULT_JOBSCHED_CONFIG, provider: ProviderLimits | None = None
    ) -> None:
        super().__init__(config, provider)
        self._hostile_ns = ""
        self._hostile: list[str] = []
        self._reported: set[str] = set()
        self._invalid: set[str] = set()
        self._client: KubeClient | None = None

    async def prepare(self, ctx: RunContext) -> None:
        from bench.lib.hostile_configmaps import CATEGORIES

        await super().prepare(ctx)
        self._client = ctx.client
        self._hostile_ns = f"{ctx.namespace}-hostile"
        await create_namespace(
            ctx.client, self._hostile_ns, {NAMESPACE_OPT_IN_LABEL: "true", BENCH_LABEL: "true"}
        )
        bodies = []
        for kind, _, build in CATEGORIES:
            if kind == "ordinary":
                continue
            body = build()
            body["metadata"]["namespace"] = self._hostile_ns
            if body["metadata"]["name"] == "hostile":
                body["metadata"]["name"] = f"hostile-{kind}"
            bodies.append(body)
        await create_all(ctx.client, f"/api/v1/namespaces/{self._hostile_ns}/configmaps", bodies, in_flight=2)
        self._hostile = [b["metadata"]["name"] for b in bodies]
        # All but the two made of valid entries (shared through aliases) must get a Warning Event.
        self._invalid = {f"hostile-{kind}" for kind, _, _ in CATEGORIES} & set(self._hostile)
        self._invalid -= {"hostile-fanout-template", "hostile-many-entries"}
        self._invalid |= {name for name in self._hostile if not name.startswith("hostile")}  # the long name

    async def fire(self, ctx: RunContext) -> None:
        """Follows the Warning Events on the hostile ConfigMaps until the harness ends the run."""
        await super().fire(ctx)
        while not self._invalid <= self._reported:
            reply = await ctx.client.get_json(f"/apis/events.k8s.io/v1/namespaces/{self._hostile_ns}/events")
            self._reported |= {
                e["regarding"].get("name", "") for e in reply.get("items") or [] if e.get("type") == "Warning"
            }
            await anyio.sleep(2.0)

    def stop(self) -> None:
        super().stop()
        client, namespace = self._client, self._hostile_ns
        if client is not None and namespace:
            with contextlib.suppress(Exception):  # runs in a worker thread of the harness's event loop
                anyio.from_thread.run(delete_namespace, client, namespace)
        self._client = None

    def extra(self) -> dict[str, Any]:
        return {
            "hostile_configmaps": len(self._hostile),
            "hostile_invalid": len(self._invalid),
            "hostile_reported": len(self._reported & self._invalid),
        }


class JobschedCronJob(Jobsched):
    """The same `jobsched run` firing adopted batch/v1 CronJobs (label jobsched.io/managed=true), with
    kube-controller-manager's cronjob, job and GC controllers running at native-tuned's client QPS (its
    Job controller makes the pre-staged Jobs' pods). No kube-scheduler: jobsched places every pod."""

    name = "jobsched-cronjob"

    def __init__(self, config: Path = DEFAULT_JOBSCHED_CONFIG, qps: int = 5000) -> None:
        super().__init__(config)
        self.qps = qps
        self._cluster: devcluster.ClusterState | None = None

    def lead(self, scenario: Scenario) -> float:
        # Besides creating the CronJobs: three writes per slot (Job, claim, owner) before the slot, and
        # the Job controller's pods (≈ 50 slots/s on a loaded 2-CPU machine, with margin).
        return scenario.lead_s if scenario.lead_s is not None else scenario.lead + scenario.crons / 40

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "kube-controller-manager": {"qps": self.qps, "burst": self.qps}}

    async def prepare(self, ctx: RunContext) -> None:
        if ctx.cluster is None:
            raise SystemFailed(
                f"{self.name} needs the harness's local control plane (it starts kube-controller-manager "
                "itself); run without --kubeconfig, or on a devcluster kubeconfig"
            )
        await create_cronjobs(ctx, manifests.adopted_cronjob)

    async def start(self, ctx: RunContext) -> None:
        cluster = ctx.cluster
        assert cluster is not None
        self._cluster = cluster
        await anyio.to_thread.run_sync(
            lambda: devcluster.start_native(cluster, self.qps, self.qps, scheduler=False)
        )
        ctx.sampler.track([cluster.pids["kube-controller-manager"]])
        await super().start(ctx)

    def check(self) -> None:
        super().check()
        if self._cluster is not None:
            alive = {n for n, _ in devprocesses.running_pids(self._cluster)}
            if "kube-controller-manager" not in alive:
                tail = log_tail(self._cluster.dir / "kube-controller-manager.log")
                raise SystemFailed(f"kube-controller-manager exited during the run; last log lines:\n{tail}")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self._cluster is not None:
                devcluster.stop_native(self._cluster)
                self._cluster = None


def spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Starts command in its own session (so stopping it reaches its children), output to log_path."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            start_new_session=True,
        )


def placement_targets(nodes: Sequence[dict[str, Any]], count: int) -> list[str]:
    """Node names for count pods, round-robin, virtual nodes first while their pods limit lasts.

    The raw client needs no scheduler, but it honours capacity, so its fallback count is the one a
    perfect scheduler would have.
    """
    from bench.lib.measure import VIRTUAL, node_domain

    def limit(node: dict[str, Any]) -> int:
        text = str(((node.get("status") or {}).get("allocatable") or {}).get("pods", "110"))
        return int(float(text[:-1]) * 1000) if text.endswith("k") else int(float(text))

    targets: list[str] = []
    for domain_first in (True, False):
        free = {n["metadata"]["name"]: limit(n) for n in nodes if (node_domain(n) == VIRTUAL) == domain_first}
        while len(targets) < count and any(free.values()):
            for name in list(free):
                if free[name] > 0 and len(targets) < count:
                    targets.append(name)
                    free[name] -= 1
    if not targets:
        raise SystemFailed("raw: no node has room for a pod")
    while len(targets) < count:  # overcommitted: the apiserver does not check, kwok runs them anyway
        targets.append(targets[len(targets) % len(targets)])
    return targets


class Raw(System):
    """A plain concurrent client: pods made before the fire time, all bound at it. The ceiling."""

    name = "raw"
    minute_aligned = False

    def __init__(self, in_flight: int = 64) -> None:
        self.in_flight = in_flight
        self._uids: dict[str, str] = {}
        self._created: PhaseResult | None = None
        self._bound: PhaseResult | None = None

    def lead(self, scenario: Scenario) -> float:
        # Pre-creating runs at ≈ 800 pods/s; leave twice that, and two seconds for the watch.
        return scenario.lead_s if scenario.lead_s is not None else 3.0 + scenario.crons / 400

    def settings(self) -> dict[str, Any]:
        return {"in_flight": self.in_flight, "connections": self.in_flight}

    async def prepare(self, ctx: RunContext) -> None:
        scheduled = rfc3339(ctx.fire_at)
        bodies = [manifests.slot_pod(n, scheduled, ctx.scenario.run_seconds) for n in ctx.entries]
        self._uids = {}
        self._created = await create_pods(ctx.client, ctx.namespace, bodies, self._uids, self.in_flight)

    async def fire(self, ctx: RunContext) -> None:
        targets = placement_targets(ctx.nodes, len(self._uids))
        await ctx.wait_for_fire()
        self._bound = await bind_pods(ctx.client, ctx.namespace, self._uids, targets, self.in_flight)

    def extra(self) -> dict[str, Any]:
        created, bound = self._created, self._bound
        return {
            "creates_per_s": round(created.per_s, 1) if created else None,
            "binds_per_s": round(bound.per_s, 1) if bound else None,
            "create_errors": created.errors if created else None,
            "bind_errors": bound.errors if bound else None,
        }


SYSTEM_NAMES = (
    "jobsched",
    "jobsched-cronjob",
    "native",
    "native-tuned",
    "raw",
    "jobsched-unaware",
    "jobsched-hostile",
)


def make_system(
    name: str,
    tuned_qps: int,
    jobsched_config: Path,
    raw_in_flight: int,
    provider: ProviderLimits | None = None,
) -> System:
    if name == "native":
        return Native(qps=0)
    if name == "native-tuned":
        return NativeTuned(qps=tuned_qps)
    if name == "jobsched":
        return Jobsched(jobsched_config, provider)
    if name == "jobsched-unaware":
        return JobschedUnaware(jobsched_config)
    if name == "jobsched-hostile":
        return JobschedHostile(jobsched_config, provider)
    if name == "jobsched-cronjob":
        return JobschedCronJob(jobsched_config, qps=tuned_qps)
    if name == "raw":
        return Raw(raw_in_flight)
    raise ValueError(f"systems: unknown system {name!r} (choose from {', '.join(SYSTEM_NAMES)})")
