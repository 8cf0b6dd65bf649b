"""Creates fake nodes that look like real virtual (serverless) and regular nodes.

Virtual nodes carry the marks their providers use (virtual-kubelet: label type=virtual-kubelet and
taint virtual-kubelet.io/provider; Tencent super nodes: instance-type eklet and taint
eks.tke.cloud.tencent.com/eklet), a large cpu/memory capacity and an explicit pods limit, which is
what bounds a virtual node in practice (IP addresses). Regular nodes look like ordinary workers.
kwok plays every node annotated `kwok.x-k8s.io/node: fake`; virtual nodes created for the provider
simulator (jobsched.devcluster.provider) go without that annotation, so the simulator plays them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from jobsched.core.vocabulary import DEV_NODE_LABEL
from jobsched.devcluster.cluster import api_send
from jobsched.devcluster.provider.limits import KWOK_NODE_ANNOTATION as KWOK_ANNOTATION
from jobsched.devcluster.state import ClusterState


@dataclass(frozen=True)
class NodeShape:
    cpu: str
    memory: str
    pods: int
    ephemeral_storage: str = "1Ti"


VIRTUAL_SHAPE = NodeShape(cpu="1000", memory="4Ti", pods=1000)
REGULAR_SHAPE = NodeShape(cpu="32", memory="128Gi", pods=110)


def node_body(
    name: str, kind: str, shape: NodeShape, flavor: str = "virtual-kubelet", by_kwok: bool = True
) -> dict[str, Any]:
    """The Node object for one fake node; kind is "virtual" or "regular". by_kwok=False leaves out
    kwok's annotation: the provider simulator plays the node (it must be a virtual one)."""
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        DEV_NODE_LABEL: kind,
    }
    taints: list[dict[str, str]] = []
    if kind == "virtual" and flavor == "eklet":
        labels["node.kubernetes.io/instance-type"] = "eklet"
        taints.append({"key": "eks.tke.cloud.tencent.com/eklet", "value": "true", "effect": "NoSchedule"})
    elif kind == "virtual":
        labels["type"] = "virtual-kubelet"
        taints.append({"key": "virtual-kubelet.io/provider", "value": "kwok", "effect": "NoSchedule"})
    resources = {
        "cpu": shape.cpu,
        "memory": shape.memory,
        "pods": str(shape.pods),
        "ephemeral-storage": shape.ephemeral_storage,
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: "fake"} if by_kwok else {},
        },
        "spec": {"taints": taints} if taints else {},
        "status": {"allocatable": resources, "capacity": resources},
    }


def create_nodes(state: ClusterState, bodies: list[dict[str, Any]], parallelism: int = 16) -> int:
    """Creates the nodes (existing ones are left alone) and returns how many were new."""

    def create(body: dict[str, Any]) -> bool:
        code, reply = api_send(state, "POST", "/api/v1/nodes", body)
        if code == 409:
            return False
        if code >= 300:
            raise RuntimeError(f"creating node {body['metadata']['name']}: HTTP {code}: {reply[:300]!r}")
        return True

    with ThreadPoolExecutor(parallelism) as pool:
        return sum(pool.map(create, bodies))


def standard_nodes(
    virtual: int,
    regular: int,
    virtual_shape: NodeShape = VIRTUAL_SHAPE,
    regular_shape: NodeShape = REGULAR_SHAPE,
    flavor: str = "virtual-kubelet",
    prefix: str = "",
    virtual_by_kwok: bool = True,
) -> list[dict[str, Any]]:
    """virtual_by_kwok=False: the virtual nodes are the provider simulator's (see node_body)."""
    bodies = [
        node_body(f"{prefix}virtual-{i:04d}", "virtual", virtual_shape, flavor, virtual_by_kwok)
        for i in range(virtual)
    ]
    bodies += [node_body(f"{prefix}regular-{i:04d}", "regular", regular_shape) for i in range(regular)]
    return bodies
