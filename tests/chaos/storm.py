"""One chaos run: a cron storm on the real control plane, a jobsched Deployment of replicas, one fault.

A run has its own id, and with it its own scheduler name, nodes (labelled with the id), opted-in
namespace (the namespace label carries the id too), Lease and process logs, so runs sharing a cluster
never see each other's pods. The storm is `crons` entries firing at one minute boundary T far enough
ahead for set-up. The harness watches the namespace itself and keeps, for every pod, the monotonic
arrival times of the first event showing it created, bound and running (Kubernetes timestamps have one
second resolution), and it polls the Lease to see who leads and when that changes.

The fault (tests/chaos/faults.py) runs beside the storm, waits for its moment and strikes. The run ends
when every slot has a running pod (plus SETTLE_S, for late duplicates) or at the deadline. Then:
- duplicates: runs beyond the first for one slot (pods of one slot that both reached Running);
- extra_pods: pods beyond the first for one slot, whether they ran or not; a scenario allows them
  only where a pod may be replaced (its node was deleted before it started), and `replaced` counts
  those: pods deleted without ever running;
- missed: slots with no pod that reached Running (a pod bound to a vanished node never runs);
- stranded: pods bound, never started and never deleted by the end (left on a vanished node);
- early: pods bound before T (the harness saw the binding before T by the wall clock, which the
  replicas fire by: it happened before T). Judged on the wall clock, not the monotonic one, because a
  paused virtual machine steps its wall clock forward on resuming (a 6.5 s step once made a whole
  storm look bound 5 s early); such a step is also noted;
- fire→bound and fire→running percentiles over each slot's first pod, and the makespan.
Every process it started (replicas, fault proxy) is stopped and everything it made is deleted, on
any exit.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import yaml

from bench.lib import manifests
from bench.lib.kubeops import create_all, create_namespace, delete_namespace, delete_nodes, wait_nodes_ready
from bench.lib.measure import percentiles
from bench.lib.scenario import Scenario, entry_names, rfc3339
from bench.lib.usage import UsageSampler
from bench.lib.watcher import PodWatcher
from jobsched.devcluster import nodes
from jobsched.devcluster.nodes import REGULAR_SHAPE
from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Informer
from tests.chaos.replicas import Replicas
from tests.support.proxy_process import ProxyProcess

if TYPE_CHECKING:
    from tests.chaos.faults import Fault

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_CONFIG = REPO_ROOT / "config" / "jobsched.yaml"
CHAOS_LABEL = "jobsched.io/chaos"
LEASE_NAMESPACE = "jobsched-system"
SETTLE_S = 3.0
POLL_S = 0.02
LEASE_POLL_S = 0.25


@dataclass(frozen=True)
class Replication:
    """How jobsched runs during a chaos storm: replicas under leader election (jobsched's defaults)."""

    replicas: int = 2
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0


def chaos_scenario(
    crons: int = 1000,
    virtual_nodes: int = 20,
    virtual_pods: int = 100,  # pods limit per virtual node (binpack fills them in order)
    regular_nodes: int = 10,
    run_seconds: float = 30.0,
) -> Scenario:
    """The bench's storm record, shaped for a chaos run: set-up time for replicas to start, sync and
    elect before pre-staging, and 150 s after T for a slot's pod to run before it counts as missed."""
    return Scenario(
        crons=crons,
        virtual_nodes=virtual_nodes,
        regular_nodes=regular_nodes,
        virtual_capacity_pods=virtual_nodes * virtual_pods,
        run_seconds=run_seconds,
        lead_s=25.0 + crons / 150,
        deadline_s=150.0,
    )


@dataclass
class Observed:
    """What the harness saw, beside the pod records."""

    leaders: list[tuple[str, float]] = field(default_factory=list)  # (holder, seconds after T)
    notes: list[str] = field(default_factory=list)
    strike_t: float | None = None  # when the fault struck, seconds after T


# A wall clock that moved more than this against the monotonic one during a run is noted.
CLOCK_STEP_NOTE_S = 0.5


def wall_offset() -> float:
    return time.time() - time.monotonic()


def coming_slot(lead_s: float, now: datetime | None = None) -> datetime:
    """The first minute boundary at least lead_s from now."""
    now = now or datetime.now(UTC)
    earliest = now + timedelta(seconds=lead_s)
    slot = earliest.replace(second=0, microsecond=0)
    return slot if slot >= earliest else slot + timedelta(minutes=1)


class ChaosWatcher(PodWatcher):
    """The bench's pod watcher, also keeping when each pod was deleted (a replaced pod is deleted) and
    the wall-clock time at which each was first seen bound."""

    def __init__(self) -> None:
        super().__init__()
        self.deleted: dict[str, float] = {}  # uid -> monotonic arrival of its DELETED event
        self.bound_wall: dict[str, float] = {}  # uid -> wall-clock arrival of its first bound event

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        uid = str((obj.get("metadata") or {}).get("uid", ""))
        if event_type == "DELETED":
            self.deleted.setdefault(uid, time.monotonic())
        super().apply(event_type, obj)
        record = self.pods.get(uid)
        if record is not None and record.bound is not None and uid not in self.bound_wall:
            self.bound_wall[uid] = time.time()


class StormRun:
    """The live state of one run, for the fault to read and act on."""

    def __init__(
        self,
        client: KubeClient,
        state: ClusterState,
        scenario: Scenario,
        replication: Replication,
        workdir: Path,
    ) -> None:
        self.client = client
        self.state = state
        self.scenario = scenario
        self.replication = replication
        self.workdir = workdir
        self.id = uuid.uuid4().hex[:6]
        self.scheduler_name = f"chaos-{self.id}"
        self.namespace = f"chaos-{self.id}"
        self.lease = f"chaos-{self.id}"
        self.watcher = ChaosWatcher()
        self.observed = Observed()
        self.sampler = UsageSampler()
        self.slot = datetime.now(UTC)
        self.fire_mono = math.inf
        self.wall_offset = 0.0  # wall clock minus monotonic clock when fire_mono was set
        self.replicas: Replicas | None = None
        self.virtual: list[str] = [f"cv-{self.id}-{i:03d}" for i in range(scenario.virtual_nodes)]
        self.regular: list[str] = [f"cr-{self.id}-{i:03d}" for i in range(scenario.regular_nodes)]

    # --- what a fault reads ------------------------------------------------------------------------

    def t(self) -> float:
        """Seconds after T (negative before it)."""
        return time.monotonic() - self.fire_mono

    def counts(self) -> tuple[int, int, int]:
        return self.watcher.counts()

    async def until(self, check: Callable[[], bool], within_s: float) -> bool:
        """Polls check until true; False if within_s passed first."""
        with anyio.move_on_after(within_s):
            while not check():  # noqa: ASYNC110 - the watcher is a plain record, polled
                await anyio.sleep(POLL_S)
            return True
        return False

    def leader(self) -> str | None:
        return self.observed.leaders[-1][0] if self.observed.leaders else None

    def note(self, text: str) -> None:
        self.observed.notes.append(f"T{self.t():+.1f}s {text}")

    # --- set-up ------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """config/jobsched.yaml with this run's scheduler name, nodes, namespace label and Lease."""
        base = yaml.safe_load(BASE_CONFIG.read_text())
        label = {CHAOS_LABEL: self.id}
        replication = self.replication
        base["schedulerName"] = self.scheduler_name
        base["domains"] = [
            {
                "name": "virtual",
                "matchAny": [{"type": "virtual-kubelet", **label}],
                "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Exists"}],
                "policy": "binpack",
            },
            {"name": "regular", "nodeSelector": label, "policy": "spread"},
        ]
        base["cron"]["namespaceLabel"] = f"{CHAOS_LABEL}={self.id}"
        base["leaderElection"] = {
            "enabled": True,
            "leaseName": self.lease,
            "leaseNamespace": LEASE_NAMESPACE,
            "leaseDurationSeconds": replication.lease_duration_s,
            "renewDeadlineSeconds": replication.renew_deadline_s,
            "retryPeriodSeconds": replication.retry_period_s,
        }
        return dict(base)

    def node_bodies(self) -> list[dict[str, Any]]:
        bodies = []
        for name, pods in zip(self.virtual, self.scenario.virtual_pod_limits(), strict=True):
            bodies.append(nodes.node_body(name, "virtual", nodes.NodeShape("1000", "4Ti", pods)))
        for name in self.regular:
            bodies.append(
                nodes.node_body(name, "regular", nodes.NodeShape("64", "256Gi", REGULAR_SHAPE.pods))
            )
        for body in bodies:
            body["metadata"]["labels"][CHAOS_LABEL] = self.id
        return bodies

    async def set_up(self) -> Path:
        """Nodes (Ready), the Lease namespace, the opted-in namespace, the config file."""
        await self.client.request(
            "POST", "/api/v1/namespaces", {"metadata": {"name": LEASE_NAMESPACE}}
        )  # 409 when it exists
        bodies = self.node_bodies()
        await create_all(self.client, "/api/v1/nodes", bodies, in_flight=16)
        await wait_nodes_ready(self.client, f"{CHAOS_LABEL}={self.id}", len(bodies), 120)
        await create_namespace(self.client, self.namespace, {CHAOS_LABEL: self.id})
        config = self.workdir / "jobsched.yaml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        return config

    async def create_storm(self) -> None:
        schedule = f"{self.slot.minute} {self.slot.hour} * * *"
        maps = manifests.cron_configmaps(
            entry_names(self.scenario.crons), schedule, self.scenario.run_seconds, self.scheduler_name
        )
        await create_all(self.client, f"/api/v1/namespaces/{self.namespace}/configmaps", maps, in_flight=4)

    async def watch_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.lease}"
        while True:
            with contextlib.suppress(Exception):
                resp = await self.client.request("GET", path, timeout=2)
                if resp.ok:
                    holder = str((resp.json().get("spec") or {}).get("holderIdentity") or "")
                    if holder and holder != self.leader():
                        self.observed.leaders.append((holder, round(self.t(), 2)))
            await anyio.sleep(LEASE_POLL_S)

    async def tear_down(self) -> None:
        """Deletes what the run made; a step that fails is noted in the result (the next still runs)."""
        lease = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.lease}"
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            (f"namespace {self.namespace}", lambda: delete_namespace(self.client, self.namespace)),
            ("nodes", lambda: delete_nodes(self.client, f"{CHAOS_LABEL}={self.id}")),
            (f"lease {self.lease}", lambda: self.client.request("DELETE", lease)),
        ]
        for what, step in steps:
            try:
                await step()
            except Exception as err:
                self.observed.notes.append(f"clean-up: deleting the {what} failed: {err}")

    # --- the run -----------------------------------------------------------------------------------

    def complete(self) -> bool:
        """Every slot has a running pod."""
        ran = {r.entry for r in self.watcher.records() if r.running is not None}
        return len(ran) >= self.scenario.crons

    async def run(self, fault: Fault) -> None:
        config = await self.set_up()
        informer = Informer(
            self.client, f"/api/v1/namespaces/{self.namespace}/pods", self.watcher, name="chaos"
        )
        proxy: ProxyProcess | None = None
        try:
            kubeconfig = self.state.kubeconfig
            if fault.proxy_plan is not None:
                proxy = ProxyProcess(self.state, fault.proxy_plan, self.workdir, seed=fault.seed)
                await anyio.to_thread.run_sync(proxy.start)
                kubeconfig = proxy.kubeconfig
            self.replicas = Replicas(self.replication.replicas, kubeconfig, config, self.workdir, self.id)
            async with anyio.create_task_group() as tg:
                tg.start_soon(informer.run)
                await informer.synced.wait()
                self.slot = coming_slot(self.scenario.lead)
                self.fire_mono = time.monotonic() + (self.slot - datetime.now(UTC)).total_seconds()
                self.wall_offset = wall_offset()
                await self.create_storm()
                self.replicas.start()
                tg.start_soon(self.replicas.supervise)
                tg.start_soon(self.watch_lease)
                tg.start_soon(fault.strike, self)
                await self._until_done()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                if self.replicas is not None:
                    self.sampler.sample()
                    await anyio.to_thread.run_sync(self.replicas.stop)
                if proxy is not None:
                    counts = await anyio.to_thread.run_sync(proxy.stop)
                    self.observed.notes.append(f"proxy: {dict(sorted(counts.items()))}")
                await self.tear_down()

    async def _until_done(self) -> None:
        done_at: float | None = None
        while True:
            if self.replicas is not None:
                self.sampler.pids = self.replicas.pids()
                self.sampler.sample()
            now = self.t()
            if done_at is None and now >= 0 and self.complete():
                done_at = now
            if (done_at is not None and now - done_at >= SETTLE_S) or now >= self.scenario.deadline:
                return
            await anyio.sleep(0.25)

    # --- the verdict -------------------------------------------------------------------------------

    def result(self, scenario: str, fault: Fault, error: str | None = None) -> dict[str, Any]:
        step = wall_offset() - self.wall_offset
        if math.isfinite(self.fire_mono) and abs(step) > CLOCK_STEP_NOTE_S:
            self.observed.notes.append(
                f"the wall clock moved {step:+.1f}s against the monotonic one during the run (a paused"
                " machine?): latencies are monotonic, bound-before-T is judged on the wall clock"
            )
        records = self.watcher.records()
        by_slot: dict[str, list[Any]] = defaultdict(list)
        for r in records:
            by_slot[r.entry].append(r)
        firsts = [min(rs, key=lambda r: r.created) for rs in by_slot.values()]
        bound = [
            min(r.bound for r in rs if r.bound is not None)
            for rs in by_slot.values()
            if any(r.bound is not None for r in rs)
        ]
        running = [
            min(r.running for r in rs if r.running is not None)
            for rs in by_slot.values()
            if any(r.running is not None for r in rs)
        ]
        ran = {e for e, rs in by_slot.items() if any(r.running is not None for r in rs)}
        deleted = self.watcher.deleted
        never_ran = [(uid, r) for uid, r in self.watcher.pods.items() if r.running is None]
        fire = self.fire_mono
        exits = self.replicas.exits if self.replicas else []
        return {
            "scenario": scenario,
            "fault": fault.describe(),
            "crons": self.scenario.crons,
            "pods_created": len(records),
            "pods_bound": sum(1 for r in records if r.bound is not None),
            "duplicates": sum(max(0, sum(r.running is not None for r in rs) - 1) for rs in by_slot.values()),
            "extra_pods": sum(len(rs) - 1 for rs in by_slot.values()),
            "replaced": sum(1 for uid, _ in never_ran if uid in deleted),
            "missed": self.scenario.crons - len(ran),
            "stranded": sum(1 for uid, r in never_ran if r.bound is not None and uid not in deleted),
            "early_binds": sum(1 for at in self.watcher.bound_wall.values() if at < self.slot.timestamp()),
            "fire_to_created_s": percentiles([r.created - fire for r in firsts]),
            "fire_to_bound_s": percentiles([b - fire for b in bound]),
            "fire_to_running_s": percentiles([x - fire for x in running]),
            "makespan_s": round(max(bound) - fire, 3) if bound else None,
            "leaders": [{"identity": who, "t": at} for who, at in self.observed.leaders],
            "replica_exits": [
                {"identity": e.identity, "code": e.code, "t": round(e.at - fire, 2)} for e in exits
            ],
            "strike_t": self.observed.strike_t,
            "scheduler_cpu_s": self.sampler.cpu_s,
            "scheduler_peak_rss_mb": self.sampler.peak_rss_mb,
            "slot": rfc3339(self.slot),
            "notes": self.observed.notes,
            "problems": fault.problems(self),
            "replacement_allowed": fault.replacement_allowed,
            "error": error,
        }


async def run_storm(
    state: ClusterState,
    storm: Scenario,
    fault: Fault,
    scenario: str,
    keep_logs: Path | None = None,
    replication: Replication = Replication(),
) -> dict[str, Any]:
    """Runs one scenario on the cluster and returns its result record (see the module docstring)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"jobsched-chaos-{scenario}-"))
    error: str | None = None
    async with KubeClient.connect(str(state.kubeconfig), connections=32) as client:
        run = StormRun(client, state, storm, replication, workdir)
        try:
            await run.run(fault)
        except Exception as err:  # reported in the result: one failing scenario must not hide the others
            error = f"{type(err).__name__}: {err}"
        result = run.result(scenario, fault, error)
    result["logs"] = str(workdir)
    (workdir / "result.json").write_text(json.dumps(result, indent=1))
    if keep_logs is None and verdict(result) == "ok":
        shutil.rmtree(workdir, ignore_errors=True)
        result["logs"] = None
    elif keep_logs is not None:
        target = keep_logs / f"{scenario}-{run.id}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(workdir), target)
        result["logs"] = str(target)
    return result


def verdict(result: dict[str, Any]) -> str:
    """Returns "ok", or what went wrong, most serious first."""
    if result.get("error"):
        return f"error: {result['error']}"
    problems = [
        f"{result[key]} {key.replace('_', ' ')}"
        for key in ("duplicates", "missed", "stranded", "early_binds")
        if result.get(key)
    ]
    if result.get("extra_pods", 0) > result.get("replaced", 0) or (
        result.get("extra_pods") and not result.get("replacement_allowed")
    ):
        problems.append(f"{result['extra_pods']} extra pods ({result.get('replaced', 0)} replaced)")
    problems.extend(result.get("problems") or [])
    # The faults kill with SIGKILL (-9); any other exit is a replica that crashed or gave up its lease.
    problems.extend(
        f"replica {e['identity']} exited with code {e['code']} at T{e['t']:+.1f}s"
        for e in result.get("replica_exits") or []
        if e["code"] != -9
    )
    if result.get("strike_t") is None:
        problems.append("the fault never struck")
    return "; ".join(problems) or "ok"
