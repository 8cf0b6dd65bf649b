"""The harness's clean-up (namespaces, nodes) leaves nothing behind, even when one DeleteCollection
stops at its timeout part-way (as deleting 10,000 running pods does at the apiserver's 60 s): checked
against a real apiserver with the timeout made tiny. Time bounds are hang guards."""

from __future__ import annotations

import time

import pytest

from bench.lib.kubeops import (
    create_all,
    create_namespace,
    delete_collection,
    delete_namespace,
    delete_nodes,
    list_nodes,
)
from bench.lib.manifests import bench_pod
from jobsched.core.vocabulary import TRACKING_FINALIZER
from jobsched.kube.client import KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PODS = 300


async def _pods_left(kube: KubeClient, namespace: str) -> int:
    page = await kube.get_json(f"/api/v1/namespaces/{namespace}/pods")
    return len(page.get("items") or [])


async def test_a_delete_collection_stopped_by_its_timeout_is_repeated_until_nothing_is_left(
    kube: KubeClient,
) -> None:
    namespace = f"cleanup-{time.monotonic_ns() % 10**9}"
    await create_namespace(kube, namespace, {})
    pods = f"/api/v1/namespaces/{namespace}/pods"
    await create_all(kube, pods, [bench_pod(f"p{i:03d}", "nobody", None) for i in range(PODS)])
    calls = await delete_collection(kube, pods, time.monotonic() + 120, request_timeout="200ms")
    assert calls > 1  # the first call stopped at its timeout with pods left
    assert await _pods_left(kube, namespace) == 0
    await delete_namespace(kube, namespace)


async def test_delete_namespace_leaves_no_pod_and_no_namespace(kube: KubeClient) -> None:
    namespace = f"cleanup-{time.monotonic_ns() % 10**9}"
    await create_namespace(kube, namespace, {})
    pods = f"/api/v1/namespaces/{namespace}/pods"
    bodies = [bench_pod(f"p{i:03d}", "nobody", None) for i in range(PODS)]
    for body in bodies[::2]:  # like jobsched's own: they stay until the finalizer goes
        body["metadata"]["finalizers"] = [TRACKING_FINALIZER]
    await create_all(kube, pods, bodies)
    await delete_namespace(kube, namespace)
    assert (await kube.request("GET", f"/api/v1/namespaces/{namespace}")).status == 404
    assert await _pods_left(kube, namespace) == 0


async def test_delete_nodes_deletes_the_nodes_its_selector_matches_and_no_other(kube: KubeClient) -> None:
    run = f"{time.monotonic_ns() % 10**9}"

    def node(name: str, group: str) -> dict[str, object]:
        labels = {"cleanup-test": run, "cleanup-group": group}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": f"cleanup-{run}-{name}", "labels": labels},
        }

    nodes = [node(f"a{i:03d}", "gone") for i in range(100)] + [node(f"b{i}", "kept") for i in range(5)]
    await create_all(kube, "/api/v1/nodes", nodes)
    await delete_nodes(kube, f"cleanup-test={run},cleanup-group=gone")
    left = await list_nodes(kube, f"cleanup-test={run}")
    assert sorted(n["metadata"]["labels"]["cleanup-group"] for n in left) == ["kept"] * 5
    await delete_nodes(kube, f"cleanup-test={run}")
    assert await list_nodes(kube, f"cleanup-test={run}") == []
