"""The faults of the chaos suite: each waits beside a storm for its moment, strikes once, and notes
what it did and what it saw happen next.

A fault strikes at a phase of the storm, judged from the harness's own pod watch:
- "staging": a third of the slots' pods exist and T has not come (the cron engine is pre-staging);
- "binding": a tenth of them are bound (the bind burst at T is under way);
- "before-fire": a couple of seconds before T, every pod staged and placed, none bound yet.
A fault that never reaches its moment does not strike, and the run's `strike_t` stays None, so a
scenario cannot pass without its fault having happened.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import anyio.to_thread

from jobsched.devcluster import cluster as devcluster
from jobsched.devcluster.nodes import KWOK_ANNOTATION
from tests.chaos.storm import StormRun
from tests.support.faultproxy import FaultPlan

TAKEOVER_WAIT_S = 90.0
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}


class Fault:
    """No fault: the baseline."""

    proxy_plan: FaultPlan | None = None  # jobsched talks to the apiserver through this, if set
    seed = 0
    replacement_allowed = False  # whether a slot may get a second pod after its first was lost

    def describe(self) -> str:
        return "none"

    async def strike(self, run: StormRun) -> None:
        run.observed.strike_t = run.t()

    def problems(self, run: StormRun) -> list[str]:
        """What this fault's scenario requires beyond exactly-once (checked after the run)."""
        return []


async def reach(run: StormRun, phase: str) -> bool:
    """Waits for the phase (module docstring); False if the storm never got there."""
    crons = run.scenario.crons
    within = run.scenario.lead + run.scenario.deadline
    if phase == "staging":
        reached = await run.until(lambda: run.counts()[0] >= max(1, crons // 3) or run.t() >= 0, within)
        if reached and run.t() >= 0:
            run.note(f"staging was over before T ({run.counts()[0]} pods created); no strike")
            return False
        return reached
    if phase == "binding":
        return await run.until(lambda: run.counts()[1] >= max(1, crons // 10), within)
    if phase == "before-fire":
        return await run.until(lambda: run.t() >= -2.0, within)
    raise ValueError(f"unknown phase {phase!r}")


def _counts(run: StormRun) -> str:
    created, bound, running = run.counts()
    return f"{created} created, {bound} bound, {running} running"


@dataclasses.dataclass
class KillLeader(Fault):
    """SIGKILL the replica holding the Lease: no goodbye, no Lease hand-back."""

    phase: str = "staging"

    def describe(self) -> str:
        return f"SIGKILL the leader during {self.phase}"

    async def strike(self, run: StormRun) -> None:
        if not await reach(run, self.phase):
            return
        leader = run.leader()
        assert run.replicas is not None
        if leader is None or not run.replicas.kill(leader):
            run.note(f"no live leader to kill (lease holder {leader!r}); no strike")
            return
        run.observed.strike_t = run.t()
        run.note(f"SIGKILL leader {leader} ({_counts(run)})")
        if await run.until(lambda: run.leader() not in (None, leader), TAKEOVER_WAIT_S):
            took = run.observed.leaders[-1][1] - run.observed.strike_t
            run.note(f"{run.leader()} took over {took:.1f}s after the kill")
        else:
            run.note(f"no takeover within {TAKEOVER_WAIT_S:g}s")


@dataclasses.dataclass
class RestartApiserver(Fault):
    """kube-apiserver killed (SIGKILL: in-flight requests are cut) and started again with the same
    flags; etcd keeps the data. In the bind burst, so binds in flight are cut and the rest wait."""

    phase: str = "binding"

    def describe(self) -> str:
        return f"kube-apiserver killed and restarted {self.phase}"

    async def strike(self, run: StormRun) -> None:
        if not await reach(run, self.phase):
            return
        run.observed.strike_t = run.t()
        run.note(f"killing kube-apiserver ({_counts(run)})")
        downtime = await anyio.to_thread.run_sync(devcluster.restart_apiserver, run.state, True)
        run.note(f"kube-apiserver ready again after {downtime:.1f}s ({_counts(run)})")


@dataclasses.dataclass
class ProxyFaults(Fault):
    """jobsched reaches the apiserver only through a fault-injecting proxy, for the whole run."""

    plan: FaultPlan = dataclasses.field(default_factory=FaultPlan)
    label: str = ""

    def __post_init__(self) -> None:
        self.proxy_plan = self.plan

    def describe(self) -> str:
        return self.label or "through the fault proxy, no faults"


@dataclasses.dataclass
class DeleteNodes(Fault):
    """Deletes a share of the virtual nodes (binpack's first, the ones the storm fills) mid-burst."""

    fraction: float = 0.5
    phase: str = "binding"
    replacement_allowed = True  # a pod bound to a deleted node before it started is created again

    def describe(self) -> str:
        return f"delete {self.fraction:.0%} of the virtual nodes during {self.phase}"

    async def strike(self, run: StormRun) -> None:
        if not await reach(run, self.phase):
            return
        doomed = run.virtual[: max(1, round(len(run.virtual) * self.fraction))]
        run.observed.strike_t = run.t()
        on_doomed = sum(1 for r in run.watcher.records() if r.node in doomed)
        async with anyio.create_task_group() as tg:
            for name in doomed:
                tg.start_soon(run.client.request, "DELETE", f"/api/v1/nodes/{name}")
        run.note(f"deleted {len(doomed)} virtual nodes holding {on_doomed} bound pods ({_counts(run)})")


def not_ready(node: dict[str, Any]) -> dict[str, Any]:
    """The node as its control plane leaves it when its agent stops: unmanaged by kwok (no more
    heartbeats), tainted not-ready, as the node lifecycle controller taints a NotReady node."""
    node["metadata"].setdefault("annotations", {}).pop(KWOK_ANNOTATION, None)
    taints = [t for t in node["spec"].get("taints") or [] if t["key"] != NOT_READY_TAINT["key"]]
    node["spec"]["taints"] = [*taints, NOT_READY_TAINT]
    return node


@dataclasses.dataclass
class VirtualNotReady(Fault):
    """Every virtual node goes NotReady just before T, after the storm was placed on them."""

    phase: str = "before-fire"

    def describe(self) -> str:
        return f"all virtual nodes NotReady {self.phase}"

    async def strike(self, run: StormRun) -> None:
        if not await reach(run, self.phase):
            return
        run.observed.strike_t = run.t()
        client = run.client

        async def darken(name: str) -> None:
            path = f"/api/v1/nodes/{name}"
            node = await client.get_json(path)
            await client.request("PUT", path, not_ready(node))
            condition = {
                "type": "Ready",
                "status": "False",
                "reason": "KubeletNotReady",
                "message": "chaos: the virtual node's agent stopped reporting",
            }
            await client.request(
                "PATCH",
                f"{path}/status",
                {"status": {"conditions": [condition]}},
                content_type="application/strategic-merge-patch+json",
            )

        async with anyio.create_task_group() as tg:
            for name in run.virtual:
                tg.start_soon(darken, name)
        run.note(f"{len(run.virtual)} virtual nodes NotReady ({_counts(run)})")

    def problems(self, run: StormRun) -> list[str]:
        # kwok flips Ready back after its next heartbeat, but the not-ready taint stays: a pod bound
        # to a virtual node after the strike means a placement made before it was not re-checked.
        on_virtual = sum(1 for r in run.watcher.records() if r.bound is not None and r.node in run.virtual)
        return [f"{on_virtual} pods bound to NotReady virtual nodes"] if on_virtual else []


def scenarios() -> dict[str, Fault]:
    """The suite, in the order it runs. Proxy scenarios are judged against proxy-baseline."""
    api_faults = FaultPlan(
        rate_429=0.05, rate_500=0.05, rate_timeout=0.01, rate_lost_reply=0.02, timeout_s=5.0
    )
    return {
        "baseline": Fault(),
        "kill-leader-staging": KillLeader(phase="staging"),
        "kill-leader-binding": KillLeader(phase="binding"),
        "apiserver-restart": RestartApiserver(),
        "node-deleted": DeleteNodes(),
        "virtual-not-ready": VirtualNotReady(),
        "proxy-baseline": ProxyFaults(label="through the fault proxy, no faults"),
        "watch-expiry": ProxyFaults(
            FaultPlan(watch_expire_after_s=5.0), label="every watch expires (410) after 5 s, all run long"
        ),
        "api-faults": ProxyFaults(
            api_faults,
            label="5% 429, 5% 500, 1% 5 s timeout, 2% reply lost after the write, on every request",
        ),
    }


BASELINE_OF = {"watch-expiry": "proxy-baseline", "api-faults": "proxy-baseline", "proxy-baseline": "baseline"}
