"""The scheduler on the real control plane: filters, unschedulable and retry, fallback, node loss, 410."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from jobsched.devcluster import cluster as devcluster
from jobsched.devcluster.nodes import NodeShape
from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Resource
from jobsched.runtime.scheduling.queue import PodState
from tests.support.cluster_slice import ClusterSlice, compact_etcd, node_of, running_scheduler, tracked
from tests.support.faultproxy import FaultPlan, FaultProxy

pytestmark = pytest.mark.integration

SMALL = NodeShape(cpu="2", memory="4Gi", pods=110)
VIRTUAL = NodeShape(cpu="1000", memory="4Ti", pods=1000)


@pytest.fixture
async def bed(kube: KubeClient, namespace: str) -> Any:
    testbed = ClusterSlice(kube, namespace)
    yield testbed
    await testbed.remove_nodes()


def all_bound(expected: int) -> Any:
    return lambda pods: len(pods) == expected and all(node_of(p) for p in pods.values())


async def test_each_filter_sends_the_pod_to_the_only_node_that_passes(
    bed: ClusterSlice, control_plane: ClusterState
) -> None:
    # Every node but one fails exactly one filter for the pod that needs it.
    fits = await bed.add_node("regular", SMALL, labels={"disk": "ssd", "zone": "a"})
    await bed.add_node(
        "regular", NodeShape(cpu="1", memory="4Gi", pods=110), labels={"disk": "ssd", "zone": "a"}
    )
    await bed.add_node(
        "regular", NodeShape(cpu="2", memory="4Gi", pods=0), labels={"disk": "ssd", "zone": "a"}
    )
    await bed.add_node("regular", SMALL, labels={"disk": "ssd", "zone": "a"}, unschedulable=True)
    await bed.add_node(
        "regular",
        SMALL,
        labels={"disk": "ssd", "zone": "a"},
        taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
    )
    await bed.add_node(
        "regular",
        SMALL,
        labels={"disk": "ssd", "zone": "a"},
        taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}],
    )
    await bed.add_node("regular", SMALL, labels={"disk": "hdd", "zone": "a"})
    await bed.add_node("regular", SMALL, labels={"disk": "ssd", "zone": "b"})
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                ]
            }
        }
    }
    async with running_scheduler(str(control_plane.kubeconfig), bed.settings()):
        await bed.create_pods(
            [bed.pod("needs-1500m", cpu="1500m", nodeSelector={"disk": "ssd"}, affinity=affinity)]
        )
        pods = await bed.wait_for(all_bound(1))
    assert node_of(pods["needs-1500m"]) == fits


async def test_pod_overhead_counts_against_the_node(
    bed: ClusterSlice, control_plane: ClusterState, kube: KubeClient
) -> None:
    runtime_class = f"kwok-{bed.id}"
    body = {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": runtime_class},
        "handler": "kwok",
        "overhead": {"podFixed": {"cpu": "600m"}},
    }
    assert (await kube.request("POST", "/apis/node.k8s.io/v1/runtimeclasses", body)).status == 201
    try:
        await bed.add_node("regular", NodeShape(cpu="1500m", memory="4Gi", pods=110))
        roomy = await bed.add_node("regular", NodeShape(cpu="2", memory="4Gi", pods=110))
        async with running_scheduler(str(control_plane.kubeconfig), bed.settings()):
            # 1 cpu fits both nodes; 1 cpu + 600m overhead fits only the 2-cpu one.
            await bed.create_pods([bed.pod("with-overhead", cpu="1", runtimeClassName=runtime_class)])
            pods = await bed.wait_for(all_bound(1))
        assert pods["with-overhead"]["spec"]["overhead"] == {"cpu": "600m"}
        assert node_of(pods["with-overhead"]) == roomy
    finally:
        await kube.request("DELETE", f"/apis/node.k8s.io/v1/runtimeclasses/{runtime_class}")


async def test_unschedulable_pod_gets_condition_then_binds_when_a_node_arrives(
    bed: ClusterSlice, control_plane: ClusterState, kube: KubeClient
) -> None:
    await bed.add_node("regular", SMALL)
    async with running_scheduler(str(control_plane.kubeconfig), bed.settings()):
        await bed.create_pods([bed.pod("big", cpu="8")])

        def has_condition(pods: dict[str, dict[str, Any]]) -> bool:
            conditions = pods["big"]["status"].get("conditions") or []
            return any(c["type"] == "PodScheduled" and c["reason"] == "Unschedulable" for c in conditions)

        pods = await bed.wait_for(has_condition)
        condition = next(c for c in pods["big"]["status"]["conditions"] if c["type"] == "PodScheduled")
        assert condition["status"] == "False"
        assert condition["message"] == "0/1 nodes are available: 1 Insufficient cpu."
        big_node = await bed.add_node("regular", NodeShape(cpu="16", memory="32Gi", pods=110))
        pods = await bed.wait_for(all_bound(1))
        assert node_of(pods["big"]) == big_node
        with anyio.fail_after(30):
            while True:
                events = await kube.get_json(
                    f"/apis/events.k8s.io/v1/namespaces/{bed.namespace}/events",
                )
                reasons = {e["reason"] for e in events["items"]}
                if {"FailedScheduling", "Scheduled"} <= reasons:
                    break
                await anyio.sleep(0.5)


async def test_fallback_fills_virtual_then_regular_with_none_lost_or_double_booked(
    bed: ClusterSlice, control_plane: ClusterState
) -> None:
    virtual = [await bed.add_node("virtual", NodeShape(cpu="1000", memory="4Ti", pods=40)) for _ in range(3)]
    regular = [await bed.add_node("regular", NodeShape(cpu="64", memory="256Gi", pods=110)) for _ in range(2)]
    total = 200  # virtual holds 120
    async with running_scheduler(str(control_plane.kubeconfig), bed.settings(bind_in_flight=48)):
        await bed.create_pods([bed.pod(f"p-{i:03d}") for i in range(total)])
        pods = await bed.wait_for(all_bound(total))
    per_node = Counter(node_of(p) for p in pods.values())
    assert sum(per_node[n] for n in virtual) == 120
    assert all(per_node[n] == 40 for n in virtual)
    assert sum(per_node[n] for n in regular) == total - 120
    assert sum(per_node.values()) == total


async def test_node_deleted_during_binding_strands_no_pod(
    bed: ClusterSlice, control_plane: ClusterState, kube: KubeClient
) -> None:
    doomed = await bed.add_node("virtual", VIRTUAL)
    await bed.add_node("regular", NodeShape(cpu="64", memory="256Gi", pods=500))
    # Placed ahead of a fire time a few seconds out, so the node can go while they wait to bind.
    fire = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with running_scheduler(str(control_plane.kubeconfig), bed.settings()) as scheduler:
        await bed.create_pods(
            [bed.pod(f"p-{i:03d}", annotations={"jobsched.io/scheduled-time": fire}) for i in range(100)]
        )
        with anyio.fail_after(30):
            while len(tracked(scheduler, PodState.GATED)) < 100:  # noqa: ASYNC110
                await anyio.sleep(0.1)
        resp = await kube.request("DELETE", f"/api/v1/nodes/{doomed}")
        assert resp.ok
        pods = await bed.wait_for(all_bound(100))
    assert all(node_of(p) != doomed for p in pods.values())


@pytest.fixture(scope="module")
def uncached_control_plane() -> Any:
    """A second control plane whose apiserver has no watch cache, so watches read etcd directly and a
    compacted resourceVersion answers 410 Gone (a watch cache would still serve it from memory)."""
    name = f"pytest-nocache-{os.getpid()}"
    state = devcluster.up(name, apiserver_args=("--watch-cache=false",))
    yield state
    devcluster.down(name)


async def test_expired_watch_relists_without_losing_pods(uncached_control_plane: ClusterState) -> None:
    control_plane = uncached_control_plane
    async with KubeClient.connect(str(control_plane.kubeconfig)) as kube:
        namespace = f"t-{os.getpid()}"
        await kube.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
        bed = ClusterSlice(kube, namespace)
        await _expired_watch_scenario(bed, control_plane)


async def _expired_watch_scenario(bed: ClusterSlice, control_plane: ClusterState) -> None:
    await bed.add_node("virtual", VIRTUAL)
    async with running_scheduler(str(control_plane.kubeconfig), bed.settings()) as scheduler:
        informer = scheduler.watches.informer(Resource.PODS)
        lists_before = informer.stats.lists
        # Pods created while the watch is forced onto a compacted resourceVersion: it gets 410 and relists.
        stale = informer.resource_version
        await bed.add_node("virtual", VIRTUAL)  # writes, so that compaction passes `stale`
        compact_etcd(control_plane)
        informer.restart_watch(resource_version=stale)
        await bed.create_pods([bed.pod(f"p-{i:02d}") for i in range(30)])
        pods = await bed.wait_for(all_bound(30))
        assert informer.stats.expired >= 1
        assert informer.stats.lists > lists_before
    assert len(pods) == 30


async def test_virtual_nodes_going_not_ready_before_fire_time_send_pods_to_regular(
    bed: ClusterSlice, control_plane: ClusterState, kube: KubeClient
) -> None:
    virtual = [await bed.add_node("virtual", VIRTUAL) for _ in range(2)]
    regular = await bed.add_node("regular", NodeShape(cpu="64", memory="256Gi", pods=500))
    fire = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with running_scheduler(str(control_plane.kubeconfig), bed.settings()) as scheduler:
        await bed.create_pods(
            [bed.pod(f"p-{i:03d}", annotations={"jobsched.io/scheduled-time": fire}) for i in range(60)]
        )
        with anyio.fail_after(30):
            while len(tracked(scheduler, PodState.GATED)) < 60:  # noqa: ASYNC110
                await anyio.sleep(0.1)
        assert {t.node for t in tracked(scheduler)} <= set(virtual)
        # What the node lifecycle controller does to a node whose kubelet stopped reporting.
        not_ready = {"spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}}
        for name in virtual:
            resp = await kube.request(
                "PATCH", f"/api/v1/nodes/{name}", not_ready, content_type="application/merge-patch+json"
            )
            assert resp.ok, resp.message()
        pods = await bed.wait_for(all_bound(60))
    assert {node_of(p) for p in pods.values()} == {regular}


async def test_binds_whose_replies_are_lost_count_as_done_and_are_never_placed_twice(
    bed: ClusterSlice, control_plane: ClusterState, kube: KubeClient, tmp_path: Path
) -> None:
    """Every Binding POST is carried out by the apiserver but its reply is dropped (as when the
    apiserver dies mid-request), so each bind's retries end in failure. The watch shows the pods
    bound; the scheduler must take that as done, and never place them again (a second placement of a
    counted pod once crashed the process)."""
    node = await bed.add_node("virtual", VIRTUAL)
    plan = FaultPlan(rate_lost_reply=1.0, methods=frozenset({"POST"}))
    async with FaultProxy(control_plane, plan) as proxy:
        kubeconfig = proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")
        async with running_scheduler(str(kubeconfig), bed.settings()) as scheduler:
            await bed.create_pods([bed.pod(f"p-{i:02d}") for i in range(20)])
            pods = await bed.wait_for(all_bound(20))
            with anyio.fail_after(60):
                while tracked(scheduler):  # noqa: ASYNC110 - the scheduler's own record, polled
                    await anyio.sleep(0.1)
            await anyio.sleep(3)  # a retry (1 s backoff) would re-place by now
            assert tracked(scheduler) == []
            assert scheduler.scheduler is not None
            assert scheduler.scheduler.cache.assumed_pods() == []
    assert {node_of(p) for p in pods.values()} == {node}
    assert proxy.counts["lost_reply"] >= 20
    # A bound pod is never reported unschedulable (event writes are POSTs too: carried out, reply lost).
    pods = await bed.pods()
    conditions = [c for p in pods.values() for c in p["status"].get("conditions") or []]
    assert not [c for c in conditions if c["type"] == "PodScheduled" and c["status"] == "False"]
    events = await kube.get_json(f"/api/v1/namespaces/{bed.namespace}/events")
    assert [e["reason"] for e in events["items"] if e["reason"] == "FailedScheduling"] == []
