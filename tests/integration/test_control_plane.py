"""The local control plane is real: kwok nodes, a raw Binding POST, and kwok's pod lifecycle."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest

from jobsched.devcluster import nodes
from jobsched.kube.client import KubeClient

pytestmark = pytest.mark.integration


async def wait_for_pod(
    kube: KubeClient, ns: str, name: str, phase: str, within_s: float = 60
) -> dict[str, Any]:
    """Polls until the pod reaches phase; the bound is a hang guard, not a timing assertion."""
    with anyio.fail_after(within_s):
        while True:
            pod: dict[str, Any] = await kube.get_json(f"/api/v1/namespaces/{ns}/pods/{name}")
            if pod["status"].get("phase") == phase:
                return pod
            await anyio.sleep(0.2)


async def test_kwok_runs_a_raw_bound_pod_to_completion(kube: KubeClient, namespace: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    virtual = nodes.node_body(f"v-{suffix}", "virtual", nodes.VIRTUAL_SHAPE)
    regular = nodes.node_body(f"r-{suffix}", "regular", nodes.REGULAR_SHAPE)
    for body in (virtual, regular):
        resp = await kube.request("POST", "/api/v1/nodes", body)
        assert resp.status == 201, resp.message()
    try:
        with anyio.fail_after(60):
            while True:
                node = await kube.get_json(f"/api/v1/nodes/v-{suffix}")
                ready = [c for c in node["status"].get("conditions", []) if c["type"] == "Ready"]
                if ready and ready[0]["status"] == "True":
                    break
                await anyio.sleep(0.2)
        assert node["metadata"]["labels"]["type"] == "virtual-kubelet"
        assert node["spec"]["taints"][0]["key"] == "virtual-kubelet.io/provider"
        assert node["status"]["allocatable"]["pods"] in ("1000", "1k")  # kwok canonicalises quantities

        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "smoke",
                "annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "2s"},
            },
            "spec": {
                "schedulerName": "jobsched",
                "restartPolicy": "Never",
                "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Exists"}],
                "containers": [
                    {
                        "name": "job",
                        "image": "busybox",
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                    }
                ],
            },
        }
        resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod)
        assert resp.status == 201, resp.message()
        created = resp.json()
        assert created["status"]["phase"] == "Pending"
        assert "nodeName" not in created["spec"]

        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "smoke", "uid": created["metadata"]["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": f"v-{suffix}"},
        }
        resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/pods/smoke/binding", binding)
        assert resp.status == 201, resp.message()

        running = await wait_for_pod(kube, namespace, "smoke", "Running")
        assert running["spec"]["nodeName"] == f"v-{suffix}"
        done = await wait_for_pod(kube, namespace, "smoke", "Succeeded")
        terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
        assert terminated["reason"] == "Completed"

        # A second binding of the same pod is refused: the apiserver never double-books.
        resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/pods/smoke/binding", binding)
        assert resp.status == 409
    finally:
        for name in (f"v-{suffix}", f"r-{suffix}"):
            await kube.request("DELETE", f"/api/v1/nodes/{name}")
