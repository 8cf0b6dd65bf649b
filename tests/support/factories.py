"""Small builders of core nodes and pods, shared by the scheduling-core unit tests."""

from __future__ import annotations

from collections.abc import Mapping

from jobsched.core.cache import ClusterCache
from jobsched.core.domains import domains_from_config
from jobsched.core.model import Node, Pod, Taint, Toleration
from jobsched.settings import DEFAULT_DOMAINS

GIB = 2**30
MIB = 2**20
DOMAINS = domains_from_config(DEFAULT_DOMAINS)
VK_TAINT = Taint("virtual-kubelet.io/provider", "x", "NoSchedule")


def node(
    name: str,
    cpu: int = 4000,
    memory: int = 8 * GIB,
    pods: int = 110,
    labels: Mapping[str, str] | None = None,
    taints: tuple[Taint, ...] = (),
    **extra: object,
) -> Node:
    return Node(
        name=name,
        labels=dict(labels or {}),
        taints=taints,
        allocatable={"cpu": cpu, "memory": memory, "pods": pods},
        **extra,  # type: ignore[arg-type]
    )


def virtual_node(name: str, cpu: int = 4000, memory: int = 8 * GIB, pods: int = 110) -> Node:
    return node(name, cpu, memory, pods, labels={"type": "virtual-kubelet"}, taints=(VK_TAINT,))


def pod(
    name: str,
    cpu: int = 100,
    memory: int = 64 * MIB,
    tolerations: tuple[Toleration, ...] = (),
    **extra: object,
) -> Pod:
    return Pod(
        namespace="ns",
        name=name,
        uid=f"uid-{name}",
        requests={"cpu": cpu, "memory": memory},
        tolerations=tolerations,
        **extra,  # type: ignore[arg-type]
    )


def cache_with(*nodes: Node) -> ClusterCache:
    cache = ClusterCache(DOMAINS)
    for item in nodes:
        cache.upsert_node(item)
    return cache
