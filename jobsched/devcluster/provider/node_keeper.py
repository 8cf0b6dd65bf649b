"""Keeps the simulated provider's virtual nodes alive, as virtual-kubelet does for its node.

A node is the provider's if its labels match one of the node selectors and kwok does not play it (no
`kwok.x-k8s.io/node` annotation: one node, one kubelet). For each, the keeper marks it Ready at once
(as kwok's node-initialize stage does, also after someone marked it NotReady), renews its
coordination.k8s.io Lease in kube-node-lease every heartbeat (the kubelet's 10 s, lease duration 40 s)
and posts a node status heartbeat every third one, so kube-controller-manager's node lifecycle
controller, when it runs, never marks it NotReady. The lease carries the node as owner, like the
kubelet's, and is deleted when the node is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from jobsched.devcluster.provider.limits import KWOK_NODE_ANNOTATION, ProviderLimits, selects
from jobsched.devcluster.provider.pod_status import micro_time, rfc3339
from jobsched.devcluster.provider.write_queue import MERGE, STRATEGIC_MERGE, Write, WriteQueue
from jobsched.kube.client import Response

LEASE_DURATION_S = 40
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
STATUS_EVERY = 3  # node status heartbeat every third lease renewal
HOST_IP = "127.0.0.1"  # what kwok reports for its nodes too (--node-ip)
_CONDITIONS = (
    ("Ready", "True", "KubeletReady", "jobsched provider simulator is posting ready status"),
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "provider has sufficient memory"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "provider has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "provider has sufficient PID available"),
)


@dataclass
class KeptNode:
    uid: str
    ready: bool


def _is_ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def node_status_patch(name: str, now: float, was_ready: bool, initial: bool) -> dict[str, Any]:
    """A heartbeat; lastTransitionTime only where Ready changes (the merge keeps the old one)."""
    t = rfc3339(now)
    conditions = []
    for kind, value, reason, message in _CONDITIONS:
        cond = {"type": kind, "status": value, "reason": reason, "message": message, "lastHeartbeatTime": t}
        if initial or not was_ready:
            cond["lastTransitionTime"] = t
        conditions.append(cond)
    status: dict[str, Any] = {"conditions": conditions}
    if initial:
        status["addresses"] = [
            {"type": "InternalIP", "address": HOST_IP},
            {"type": "Hostname", "address": name},
        ]
        status["nodeInfo"] = {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "kubeletVersion": "provider-simulator",
            "kubeProxyVersion": "",
            "containerRuntimeVersion": "provider-simulator",
            "kernelVersion": "",
            "osImage": "",
            "bootID": "",
            "machineID": "",
            "systemUUID": "",
        }
        status["phase"] = "Running"
    return {"status": status}


class NodeKeeper:
    """A node informer handler plus the heartbeat loop. on_change(added, removed) tells the pod side."""

    def __init__(
        self,
        limits: ProviderLimits,
        writes: WriteQueue,
        on_change: Callable[[set[str], set[str]], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._selectors = limits.selectors()
        self._heartbeat_s = limits.heartbeat_s
        self._writes = writes
        self._on_change = on_change
        self._clock = clock
        self.nodes: dict[str, KeptNode] = {}  # the nodes the provider plays
        self.others: set[str] = set()  # every other node (kwok's, regular ones)

    def knows(self, name: str) -> bool:
        return name in self.nodes or name in self.others

    def plays(self, node: dict[str, Any]) -> bool:
        meta = node.get("metadata") or {}
        if KWOK_NODE_ANNOTATION in (meta.get("annotations") or {}):
            return False
        return selects(self._selectors, meta.get("labels") or {})

    # --- informer handler ---------------------------------------------------------------------------
    def replace(self, items: list[dict[str, Any]]) -> None:
        present = {str(n["metadata"]["name"]) for n in items}
        gone = {name for name in self.nodes if name not in present}
        self.others &= present
        for name in gone:
            self._drop(name)
        added: set[str] = set()
        for node in items:
            added |= self._see(node)
        self._on_change(added, gone)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        name = str(obj["metadata"]["name"])
        if event_type == "DELETED":
            self.others.discard(name)
            if name in self.nodes:
                self._drop(name)
                self._on_change(set(), {name})
            return
        if name in self.nodes and not self.plays(obj):
            self._drop(name, delete_lease=False)
            self.others.add(name)
            self._on_change(set(), {name})
            return
        added = self._see(obj)
        if added:
            self._on_change(added, set())

    def _see(self, node: dict[str, Any]) -> set[str]:
        name = str(node["metadata"]["name"])
        if not self.plays(node):
            self.others.add(name)
            return set()
        self.others.discard(name)
        ready = _is_ready(node)
        kept = self.nodes.get(name)
        if kept is None:
            self.nodes[name] = KeptNode(uid=str(node["metadata"]["uid"]), ready=ready)
            self._post_status(name, initial=True)
            self._renew_lease(name)
            return {name}
        kept.ready = ready
        if not ready:
            self._post_status(name, initial=False)
        return set()

    def _drop(self, name: str, delete_lease: bool = True) -> None:
        self.nodes.pop(name, None)
        if delete_lease:
            self._writes.put(Write("DELETE", f"{LEASES}/{name}", None, what=f"lease {name}: node deleted"))

    # --- writes -------------------------------------------------------------------------------------
    def _post_status(self, name: str, initial: bool) -> None:
        kept = self.nodes[name]
        body = node_status_patch(name, self._clock(), kept.ready, initial)
        kept.ready = True
        self._writes.put(
            Write("PATCH", f"/api/v1/nodes/{name}/status", body, STRATEGIC_MERGE, what=f"node {name} status")
        )

    def _lease_spec(self, name: str) -> dict[str, Any]:
        return {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION_S,
            "renewTime": micro_time(self._clock()),
        }

    def _renew_lease(self, name: str) -> None:
        def created_if_missing(response: Response | None) -> None:
            if response is not None and response.status == 404 and name in self.nodes:
                self._writes.put(Write("POST", LEASES, self._lease_body(name), what=f"lease {name}: create"))

        self._writes.put(
            Write(
                "PATCH",
                f"{LEASES}/{name}",
                {"spec": self._lease_spec(name)},
                MERGE,
                done=created_if_missing,
                what=f"lease {name}: renew",
            )
        )

    def _lease_body(self, name: str) -> dict[str, Any]:
        owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": self.nodes[name].uid}
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease", "ownerReferences": [owner]},
            "spec": self._lease_spec(name),
        }

    async def run(self) -> None:
        """Renews every lease each heartbeat, and posts node status every STATUS_EVERY heartbeats."""
        tick = 0
        while True:
            await anyio.sleep(self._heartbeat_s)
            tick += 1
            for name in list(self.nodes):
                self._renew_lease(name)
                if tick % STATUS_EVERY == 0:
                    self._post_status(name, initial=False)
