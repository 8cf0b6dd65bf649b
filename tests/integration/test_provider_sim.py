"""The dev cluster's provider simulator on the real control plane: launch rate and burst, quota with
ProviderFailed refusals, node heartbeats and leases, kubelet-style deletion, and the CLI's process.

Each test starts its own simulator process (cluster.start_provider) on the session's control plane,
playing only its own virtual nodes (a node selector with the test's label), and stops it afterwards.
Times are this test's own watch arrival times; the bounds asserted are the token bucket's arithmetic
(with slack for the watch), never a tight timing.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
import pytest

from jobsched import cli
from jobsched.devcluster import cluster, nodes
from jobsched.devcluster.provider.limits import KWOK_NODE_ANNOTATION, ProviderLimits
from jobsched.devcluster.provider.pod_status import PROVIDER_FAILED, RUN_ANNOTATION
from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Informer

pytestmark = pytest.mark.integration

TEST_LABEL = "jobsched.io/test"
SHAPE = nodes.NodeShape(cpu="1000", memory="4Ti", pods=1000)
WATCH_SLACK_S = 0.25  # the simulator's and this test's watches see a bind at slightly different times


@dataclass
class Sim:
    """One test's simulator: its label, its limits, and the nodes it created."""

    state: cluster.ClusterState
    label: str
    limits: ProviderLimits
    nodes: list[str] = field(default_factory=list)


@pytest.fixture
def start_sim(control_plane: cluster.ClusterState) -> Iterator[Any]:
    """start_sim(rate, burst, quota, ...) starts a simulator that plays only this test's nodes."""
    sims: list[Sim] = []

    def start(rate: float, burst: int, quota: int = 0, per_node: int = 0, heartbeat_s: float = 10.0) -> Sim:
        label = uuid.uuid4().hex[:8]
        limits = ProviderLimits(
            launch_rate=rate,
            launch_burst=burst,
            quota_pods=quota,
            quota_pods_per_node=per_node,
            node_selectors=(f"type=virtual-kubelet,{TEST_LABEL}={label}",),
            heartbeat_s=heartbeat_s,
        )
        cluster.start_provider(control_plane, limits)
        sim = Sim(control_plane, label, limits)
        sims.append(sim)
        return sim

    try:
        yield start
    finally:
        cluster.stop_provider(control_plane)
        for sim in sims:
            for name in sim.nodes:
                cluster.api_send(control_plane, "DELETE", f"/api/v1/nodes/{name}", {})


async def add_node(kube: KubeClient, sim: Sim, kind: str = "virtual") -> str:
    name = f"{kind[:1]}-{sim.label}-{len(sim.nodes)}"
    body = nodes.node_body(name, kind, SHAPE, by_kwok=kind != "virtual")
    body["metadata"]["labels"][TEST_LABEL] = sim.label
    resp = await kube.request("POST", "/api/v1/nodes", body)
    assert resp.status == 201, resp.message()
    sim.nodes.append(name)
    await eventually(lambda: node_ready(kube, name))
    return name


async def eventually(probe: Callable[[], Awaitable[bool]], within_s: float = 30.0) -> None:
    """Polls probe until it is true; the bound is a hang guard, not a timing assertion."""
    with anyio.fail_after(within_s):
        while True:
            if await probe():
                return
            await anyio.sleep(0.05)


async def phase_is(kube: KubeClient, path: str, phase: str) -> bool:
    return (await kube.get_json(path))["status"].get("phase") == phase


async def node_ready(kube: KubeClient, name: str) -> bool:
    return is_ready(await kube.get_json(f"/api/v1/nodes/{name}"))


async def has_lease(kube: KubeClient, path: str) -> bool:
    return not await is_gone(kube, path)


async def is_gone(kube: KubeClient, path: str) -> bool:
    return (await kube.request("GET", path)).status == 404


def is_ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions") or [])


def pod_body(name: str, run: str | None = None, restart: str = "Never") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {RUN_ANNOTATION: run} if run else {}},
        "spec": {
            "schedulerName": "nobody",  # this test binds them itself
            "restartPolicy": restart,
            "containers": [{"name": "job", "image": "busybox"}],
        },
    }


class Seen:
    """An informer handler recording, per pod, the order and time of its bind and of its Running."""

    def __init__(self) -> None:
        self.pods: dict[str, dict[str, Any]] = {}
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.bind_order: list[str] = []
        self.run_order: list[str] = []

    def replace(self, items: list[dict[str, Any]]) -> None:
        for pod in items:
            self.apply("ADDED", pod)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        now = time.monotonic()
        if event_type == "DELETED":
            self.pods.pop(name, None)
            return
        self.pods[name] = obj
        if obj["spec"].get("nodeName") and name not in self.bound:
            self.bound[name] = now
            self.bind_order.append(name)
        if obj["status"].get("phase") == "Running" and name not in self.running:
            self.running[name] = now
            self.run_order.append(name)

    def phase(self, name: str) -> str:
        return str(self.pods[name]["status"].get("phase"))


@contextlib.asynccontextmanager
async def watching(kube: KubeClient, namespace: str) -> AsyncIterator[Seen]:
    """A watch on the namespace's pods, running until the block ends."""
    seen = Seen()
    informer = Informer(kube, f"/api/v1/namespaces/{namespace}/pods", seen)
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        with anyio.fail_after(30):
            await informer.synced.wait()
        yield seen
        tg.cancel_scope.cancel()


async def until(what: str, seen: Seen, check: Callable[[Seen], bool], within_s: float = 60.0) -> None:
    """Waits until check(seen) is true; the bound is a hang guard, not a timing assertion."""

    async def probe() -> bool:
        return check(seen)

    try:
        await eventually(probe, within_s)
    except TimeoutError:
        raise AssertionError(f"not within {within_s:.0f} s: {what}") from None


async def create_and_bind(kube: KubeClient, ns: str, bodies: list[dict[str, Any]], node: str) -> None:
    uids = {}
    for body in bodies:
        resp = await kube.request("POST", f"/api/v1/namespaces/{ns}/pods", body)
        assert resp.status == 201, resp.message()
        uids[body["metadata"]["name"]] = resp.json()["metadata"]["uid"]

    async def bind(name: str) -> None:
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "uid": uids[name]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        resp = await kube.request("POST", f"/api/v1/namespaces/{ns}/pods/{name}/binding", binding)
        assert resp.status == 201, resp.message()

    async with anyio.create_task_group() as tg:  # all at once, as a storm binds them
        for name in uids:
            tg.start_soon(bind, name)


async def test_launches_follow_the_token_bucket_in_arrival_order(
    kube: KubeClient, namespace: str, start_sim: Any
) -> None:
    rate, burst, count = 10.0, 20, 60
    sim = start_sim(rate, burst)
    node = await add_node(kube, sim)
    async with watching(kube, namespace) as seen:
        await create_and_bind(kube, namespace, [pod_body(f"p-{i:02d}") for i in range(count)], node)
        await until("all running", seen, lambda s: len(s.running) == count)
    first_bind = min(seen.bound.values())
    # No bucket of `burst` tokens refilling at `rate` starts the k-th pod (1-based) before
    # (k - burst) / rate seconds after the first arrival; the simulator takes them in arrival order.
    for k, name in enumerate(seen.bind_order, start=1):
        earliest = first_bind + max(0.0, (k - burst) / rate) - WATCH_SLACK_S
        assert seen.running[name] >= earliest, (
            f"{name}, bound {k}th, ran {earliest - seen.running[name]:.2f}s early"
        )
    last = max(seen.running.values()) - first_bind
    assert last >= (count - burst) / rate - WATCH_SLACK_S, last
    # Past the burst, launches are 1/rate apart: any two bound 3 apart start in that order.
    throttled = seen.bind_order[burst:]
    for i, early in enumerate(throttled):
        for late in throttled[i + 3 :]:
            assert seen.running[early] < seen.running[late], (early, late)
    running = seen.pods[seen.bind_order[-1]]["status"]
    assert running["startTime"]
    assert running["podIP"]
    assert running["hostIP"] == "127.0.0.1"
    assert running["containerStatuses"][0]["state"]["running"]["startedAt"]
    conditions = {c["type"]: c["status"] for c in running["conditions"]}
    assert {conditions[k] for k in ("PodScheduled", "Initialized", "Ready", "ContainersReady")} == {"True"}


async def test_quota_refuses_with_provider_failed_and_frees_as_pods_end(
    kube: KubeClient, namespace: str, start_sim: Any
) -> None:
    sim = start_sim(100.0, 100, quota=5)
    node = await add_node(kube, sim)
    names = [f"q-{i}" for i in range(8)]
    async with watching(kube, namespace) as seen:
        await create_and_bind(kube, namespace, [pod_body(n, run="3s") for n in names], node)

        def settled(s: Seen) -> bool:
            return all(n in s.pods and s.phase(n) in ("Running", "Failed", "Succeeded") for n in names)

        await until("8 settled", seen, settled)
        started = [n for n in names if n in seen.running]
        refused = [n for n in names if n not in seen.running]
        assert set(started) == set(seen.bind_order[:5]), "the first five to arrive take the quota"
        assert len(refused) == 3
        for name in refused:
            status = seen.pods[name]["status"]
            assert (status["phase"], status["reason"]) == ("Failed", PROVIDER_FAILED), status
            assert "quota exceeded: 5 of 5 pods" in status["message"], status["message"]
            assert not status.get("containerStatuses"), "no container ever started"
            assert not status.get("podIP")
        await until("the five succeed", seen, lambda s: all(s.phase(n) == "Succeeded" for n in started))
        ended = seen.pods[started[0]]["status"]["containerStatuses"][0]["state"]["terminated"]
        assert ended["exitCode"] == 0
        assert ended["reason"] == "Completed"

        # Their places are free again: new pods start.
        more = [f"r-{i}" for i in range(3)]
        await create_and_bind(kube, namespace, [pod_body(n) for n in more], node)
        await until("three more run", seen, lambda s: all(n in s.running for n in more))


async def test_refused_pod_that_may_restart_stays_pending_and_is_retried(
    kube: KubeClient, namespace: str, start_sim: Any
) -> None:
    sim = start_sim(100.0, 100, quota=1)
    node = await add_node(kube, sim)
    async with watching(kube, namespace) as seen:
        await create_and_bind(kube, namespace, [pod_body("first", run="2s")], node)
        await until("first runs", seen, lambda s: "first" in s.running)
        await create_and_bind(kube, namespace, [pod_body("second", restart="OnFailure")], node)

        def refused(s: Seen) -> bool:
            return "second" in s.pods and s.pods["second"]["status"].get("reason") == PROVIDER_FAILED

        await until("second refused", seen, refused)
        assert seen.phase("second") == "Pending", "virtual-kubelet fails only restartPolicy Never pods"
        await until("second runs once first ended", seen, lambda s: "second" in s.running)
        status = seen.pods["second"]["status"]
        assert seen.phase("first") == "Succeeded"
        assert not {"reason", "message"} & status.keys(), status


async def test_virtual_nodes_keep_ready_with_leases_and_regular_nodes_stay_kwoks(
    kube: KubeClient, namespace: str, start_sim: Any
) -> None:
    sim = start_sim(100.0, 100, heartbeat_s=1.0)
    virtual = await add_node(kube, sim, "virtual")
    regular = await add_node(kube, sim, "regular")
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{virtual}"

    def heartbeat(node: dict[str, Any]) -> datetime:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        return datetime.fromisoformat(ready["lastHeartbeatTime"].replace("Z", "+00:00"))

    await eventually(lambda: has_lease(kube, lease_path))
    lease = await kube.get_json(lease_path)
    node = await kube.get_json(f"/api/v1/nodes/{virtual}")
    assert lease["spec"]["holderIdentity"] == virtual
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    assert KWOK_NODE_ANNOTATION not in node["metadata"].get("annotations", {})
    await anyio.sleep(4.5)  # past three lease renewals and one node status heartbeat
    later_lease = await kube.get_json(lease_path)
    later_node = await kube.get_json(f"/api/v1/nodes/{virtual}")
    assert later_lease["spec"]["renewTime"] > lease["spec"]["renewTime"]
    assert heartbeat(later_node) > heartbeat(node)
    assert is_ready(later_node)

    # The regular node is kwok's: it runs pods, and the simulator never touches it.
    regular_node = await kube.get_json(f"/api/v1/nodes/{regular}")
    assert regular_node["status"]["nodeInfo"]["kubeletVersion"].startswith("kwok")
    await create_and_bind(kube, namespace, [pod_body("on-regular")], regular)
    await eventually(lambda: phase_is(kube, f"/api/v1/namespaces/{namespace}/pods/on-regular", "Running"))

    # When its node goes, the lease goes (no garbage collector runs here).
    await kube.request("DELETE", f"/api/v1/nodes/{virtual}")
    sim.nodes.remove(virtual)
    await eventually(lambda: is_gone(kube, lease_path), within_s=10)


async def test_terminating_pods_are_deleted_once_their_finalizers_are_gone(
    kube: KubeClient, namespace: str, start_sim: Any
) -> None:
    sim = start_sim(100.0, 100)
    node = await add_node(kube, sim)
    held = pod_body("held")
    held["metadata"]["finalizers"] = ["jobsched.io/test-hold"]
    await create_and_bind(kube, namespace, [held, pod_body("free")], node)
    base = f"/api/v1/namespaces/{namespace}/pods"
    for name in ("held", "free"):
        await eventually(lambda name=name: phase_is(kube, f"{base}/{name}", "Running"))
    for name in ("held", "free"):
        resp = await kube.request("DELETE", f"{base}/{name}")  # default grace period: 30 s
        assert resp.ok, resp.message()
    await eventually(lambda: is_gone(kube, f"{base}/free"), within_s=10)
    await anyio.sleep(1.0)
    pod = await kube.get_json(f"{base}/held")
    assert pod["metadata"]["deletionTimestamp"], "a finalizer holds the pod, as it would on a kubelet"
    patch = {"metadata": {"finalizers": None}}
    resp = await kube.request("PATCH", f"{base}/held", patch, content_type="application/merge-patch+json")
    assert resp.ok, resp.message()
    await eventually(lambda: is_gone(kube, f"{base}/held"), within_s=10)


def test_cli_up_starts_the_simulator_and_down_stops_it() -> None:
    name = f"psim-{os.getpid()}"
    flags = ["--virtual-launch-rate", "20", "--virtual-launch-burst", "100", "--virtual-quota-pods", "300"]
    try:
        assert cli.main(["dev-cluster", "up", "--name", name, *flags]) == 0
        state = cluster.ClusterState.load(name)
        assert state is not None
        assert cluster.provider_running(state)
        pid = state.pids[cluster.PROVIDER_PROCESS]
        assert cli.main(["dev-cluster", "up", "--name", name, *flags]) == 0  # idempotent: kept
        again = cluster.ClusterState.load(name)
        assert again is not None
        assert again.pids[cluster.PROVIDER_PROCESS] == pid
        assert cli.main(["dev-cluster", "nodes", "--name", name, "--virtual", "2", "--regular", "1"]) == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            code, body = cluster.api_get(again, "/api/v1/nodes")
            items = json.loads(body)["items"] if code == 200 else []
            if len(items) == 3 and all(is_ready(n) for n in items):
                break
            time.sleep(0.2)
        virtual = [n for n in items if n["metadata"]["labels"].get("type") == "virtual-kubelet"]
        assert len(virtual) == 2
        assert len(items) == 3
        assert all(is_ready(n) for n in items)
        assert all(KWOK_NODE_ANNOTATION not in (n["metadata"].get("annotations") or {}) for n in virtual)
    finally:
        assert cli.main(["dev-cluster", "down", "--name", name]) == 0
    assert not cluster.provider_running(again), f"provider simulator {pid} still runs"
    left = subprocess.run(["pgrep", "-f", f"/{name}/"], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == "", f"processes left behind: {left.stdout}"
