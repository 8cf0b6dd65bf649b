"""Helpers for scheduler integration tests: per-test nodes, settings and an in-process scheduler.

The control plane is shared by the whole session, so each test gets its own node label and its own
scheduler name: its scheduler sees only its nodes (domains select on the label) and takes only its
pods (schedulerName), whatever other tests left behind.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio

from jobsched.core.domains import domains_from_config
from jobsched.devcluster import nodes
from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.parts import Parts
from jobsched.runtime.scheduling.queue import PodState, Tracked
from jobsched.settings import ApiSettings, Settings

TEST_LABEL = "jobsched.io/test"


class ClusterSlice:
    """One test's slice of the cluster: a label on its nodes and a scheduler name for its pods."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.id = uuid.uuid4().hex[:8]
        self.scheduler_name = f"js-{self.id}"
        self.nodes: list[str] = []

    def config(self) -> dict[str, Any]:
        """The config/jobsched.yaml equivalent of settings(), for a `jobsched run` process."""
        return {"schedulerName": self.scheduler_name, "domains": self.domain_config()}

    def domain_config(self) -> list[dict[str, Any]]:
        label = {TEST_LABEL: self.id}
        return [
            {
                "name": "virtual",
                "matchAny": [{"type": "virtual-kubelet", **label}],
                "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Exists"}],
                "policy": "binpack",
            },
            {
                "name": "gpu",
                "nodeSelector": {"nvidia.com/gpu.present": "true", **label},
                "policy": "spread",
            },
            {"name": "regular", "nodeSelector": label, "policy": "spread"},
        ]

    def settings(self, bind_in_flight: int = 32) -> Settings:
        domains = domains_from_config(self.domain_config())
        return Settings(
            scheduler_name=self.scheduler_name,
            domains=domains,
            api=ApiSettings(connections=bind_in_flight, bind_in_flight=bind_in_flight),
        )

    async def add_node(
        self,
        kind: str,
        shape: nodes.NodeShape,
        *,
        labels: dict[str, str] | None = None,
        taints: list[dict[str, str]] | None = None,
        unschedulable: bool = False,
        wait_ready: bool = True,
        by_kwok: bool = True,
    ) -> str:
        """by_kwok=False: a virtual node the provider simulator plays (see provider_for)."""
        name = f"{kind[:1]}-{self.id}-{len(self.nodes)}"
        body = nodes.node_body(name, kind, shape, by_kwok=by_kwok)
        body["metadata"]["labels"].update({TEST_LABEL: self.id, **(labels or {})})
        if taints is not None:
            body["spec"]["taints"] = body["spec"].get("taints", []) + taints
        if unschedulable:
            body["spec"]["unschedulable"] = True
        resp = await self.kube.request("POST", "/api/v1/nodes", body)
        assert resp.status == 201, resp.message()
        self.nodes.append(name)
        if wait_ready:
            await self.wait_node_ready(name)
        return name

    async def wait_node_ready(self, name: str) -> None:
        with anyio.fail_after(60):
            while True:
                node = await self.kube.get_json(f"/api/v1/nodes/{name}")
                conditions = node["status"].get("conditions") or []
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    return
                await anyio.sleep(0.2)

    async def remove_nodes(self) -> None:
        for name in self.nodes:
            await self.kube.request("DELETE", f"/api/v1/nodes/{name}")

    def pod(self, name: str, cpu: str = "100m", memory: str = "64Mi", **spec: Any) -> dict[str, Any]:
        annotations = spec.pop("annotations", {})
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": self.namespace, "annotations": annotations},
            "spec": {
                "schedulerName": self.scheduler_name,
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "job",
                        "image": "busybox",
                        "resources": {"requests": {"cpu": cpu, "memory": memory}},
                    }
                ],
                **spec,
            },
        }
        return body

    async def create_pods(self, bodies: list[dict[str, Any]]) -> None:
        limiter = anyio.CapacityLimiter(32)

        async def create(body: dict[str, Any]) -> None:
            async with limiter:
                resp = await self.kube.request_retrying(
                    "POST", f"/api/v1/namespaces/{self.namespace}/pods", body
                )
                assert resp.status == 201, resp.message()

        async with anyio.create_task_group() as tg:
            for body in bodies:
                tg.start_soon(create, body)

    async def pods(self) -> dict[str, dict[str, Any]]:
        listing = await self.kube.get_json(f"/api/v1/namespaces/{self.namespace}/pods")
        return {p["metadata"]["name"]: p for p in listing["items"]}

    async def wait_for(
        self, check: Callable[[dict[str, dict[str, Any]]], bool], within_s: float = 90
    ) -> dict[str, dict[str, Any]]:
        """Polls the namespace's pods until check holds; the bound is a hang guard, not a timing test."""
        with anyio.fail_after(within_s):
            while True:
                current = await self.pods()
                if check(current):
                    return current
                await anyio.sleep(0.25)


def compact_etcd(state: ClusterState) -> int:
    """Compacts etcd to its current revision, so older resourceVersions answer 410 Gone."""
    base = f"http://127.0.0.1:{state.etcd_port}/v3/kv"
    with urllib.request.urlopen(
        urllib.request.Request(f"{base}/range", data=b'{"key":"AA=="}'), timeout=10
    ) as r:
        revision = int(json.loads(r.read())["header"]["revision"])
    body = json.dumps({"revision": str(revision), "physical": True}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{base}/compaction", data=body), timeout=30) as r:
        r.read()
    return revision


def node_of(pod: dict[str, Any]) -> str | None:
    node: str | None = pod["spec"].get("nodeName")
    return node


@contextlib.asynccontextmanager
async def running_scheduler(kubeconfig: str, settings: Settings) -> AsyncIterator[Parts]:
    """An in-process scheduler (no cron engine) with its own connection pool, cancelled on exit."""
    async with KubeClient.connect(kubeconfig, connections=settings.api.connections) as client:
        parts = Parts(client, settings, Metrics(), "test", cron=False)
        async with anyio.create_task_group() as tg:
            tg.start_soon(parts.run)
            with anyio.fail_after(30):
                while not parts.ready():  # noqa: ASYNC110 - readiness is polled, as /readyz does
                    await anyio.sleep(0.05)
            yield parts
            tg.cancel_scope.cancel()


def tracked(parts: Parts, state: PodState | None = None) -> list[Tracked]:
    """The pods the scheduler's queue tracks (in one state, if given)."""
    assert parts.scheduler is not None
    pods = parts.scheduler.queue.tracked.values()
    return [t for t in pods if state is None or t.state is state]
