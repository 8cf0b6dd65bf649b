"""The pod statuses a virtual-kubelet provider writes, as strategic-merge patches on pods/status.

Three moments: the provider started the pod (Running, with startTime, the four conditions,
containerStatuses running since startedAt, a pod IP), the pod's run ended (Succeeded, containers
terminated with exit code 0), and the provider refused the pod. A refusal is what virtual-kubelet
writes when the provider's CreatePod fails: reason `ProviderFailed` with the provider's message, phase
Failed if the pod's restartPolicy is Never and Pending otherwise (virtual-kubelet then retries), and no
container status at all, since no container ever started. Every patch carries the pod's UID, which the
apiserver refuses to change (422): a status meant for a pod never lands on a new pod of the same name.

How long a pod runs comes from the annotation kwok uses (`pod-complete.stage.kwok.x-k8s.io/delay`, a
Go duration such as "30s" or "1m30s"), so a workload runs the same on kwok's nodes and on the
simulator's. Pure functions over the pod's JSON.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

RUN_ANNOTATION = "pod-complete.stage.kwok.x-k8s.io/delay"
PROVIDER_FAILED = "ProviderFailed"  # virtual-kubelet's status reason for a pod its provider refused
POD_NETWORK = ipaddress.ip_network("10.64.0.0/10")

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class DurationError(ValueError):
    pass


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string ("1m30s", "2.5s", "500ms", "0"), as kwok reads its delays."""
    body = text.strip()
    if body in ("0", "+0"):
        return 0.0
    if body.startswith("-"):
        raise DurationError(f"{text!r} is negative")
    body = body.removeprefix("+")
    total, pos = 0.0, 0
    for match in _GO_PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise DurationError(f"{text!r} is not a Go duration such as 30s or 1m30s")
    return total


def rfc3339(ts: float) -> str:
    """A Kubernetes Time (one-second resolution)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(ts: float) -> str:
    """A Kubernetes MicroTime (Lease renewTime)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pod_ip(index: int) -> str:
    """The index-th address of the simulated pod network (wraps around)."""
    return str(POD_NETWORK.network_address + 1 + index % (POD_NETWORK.num_addresses - 2))


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What the provider needs of a pod to start it; taken once from the watch."""

    uid: str
    namespace: str
    name: str
    node: str
    restart_never: bool
    containers: tuple[tuple[str, str], ...]  # (name, image)
    init_containers: tuple[tuple[str, str, bool], ...]  # (name, image, is a sidecar: restartPolicy Always)
    readiness_gates: tuple[str, ...]
    run_s: float | None  # None: runs until deleted

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def status_path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status"


def pod_facts(pod: Mapping[str, Any]) -> tuple[PodFacts, str | None]:
    """The pod's facts, and a problem with its run annotation if it has one (the pod then runs until
    deleted, as it would on kwok, which ignores an annotation it cannot read)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    annotations = meta.get("annotations") or {}
    run_s: float | None = None
    problem = None
    if RUN_ANNOTATION in annotations:
        try:
            run_s = parse_go_duration(str(annotations[RUN_ANNOTATION]))
        except DurationError as err:
            problem = f"annotation {RUN_ANNOTATION}: {err}"
    facts = PodFacts(
        uid=str(meta.get("uid", "")),
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        node=str(spec.get("nodeName", "")),
        restart_never=spec.get("restartPolicy", "Always") == "Never",
        containers=tuple((str(c.get("name")), str(c.get("image", ""))) for c in spec.get("containers") or []),
        init_containers=tuple(
            (str(c.get("name")), str(c.get("image", "")), c.get("restartPolicy") == "Always")
            for c in spec.get("initContainers") or []
        ),
        readiness_gates=tuple(str(g.get("conditionType")) for g in spec.get("readinessGates") or []),
        run_s=run_s,
    )
    return facts, problem


def _condition(kind: str, status: str, now: str, reason: str | None = None) -> dict[str, Any]:
    cond: dict[str, Any] = {"type": kind, "status": status, "lastTransitionTime": now}
    if reason:
        cond["reason"] = reason
    return cond


def running_patch(facts: PodFacts, now: float, ip: str, host_ip: str) -> dict[str, Any]:
    """The provider started the pod at now: every container running, the pod Ready."""
    t = rfc3339(now)
    ready = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", *facts.readiness_gates]
    init_statuses = []
    for name, image, sidecar in facts.init_containers:
        state = (
            {"running": {"startedAt": t}}
            if sidecar
            else {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": t, "finishedAt": t}}
        )
        init_statuses.append(
            {
                "name": name,
                "image": image,
                "ready": True,
                "restartCount": 0,
                "started": sidecar,
                "state": state,
            }
        )
    status: dict[str, Any] = {
        "phase": "Running",
        "reason": None,  # clears ProviderFailed left by an earlier refusal
        "message": None,
        "startTime": t,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [_condition(kind, "True", t) for kind in ready],
        "containerStatuses": [
            {
                "name": name,
                "image": image,
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": t}},
            }
            for name, image in facts.containers
        ],
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    return {"metadata": {"uid": facts.uid}, "status": status}


def succeeded_patch(facts: PodFacts, started: float, now: float) -> dict[str, Any]:
    """The pod's run ended at now: every container exited 0."""
    t, s = rfc3339(now), rfc3339(started)
    return {
        "metadata": {"uid": facts.uid},
        "status": {
            "phase": "Succeeded",
            "conditions": [
                _condition("Ready", "False", t, "PodCompleted"),
                _condition("ContainersReady", "False", t, "PodCompleted"),
            ],
            "containerStatuses": [
                {
                    "name": name,
                    "image": image,
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {"exitCode": 0, "reason": "Completed", "startedAt": s, "finishedAt": t}
                    },
                }
                for name, image in facts.containers
            ],
        },
    }


def refused_patch(facts: PodFacts, message: str) -> dict[str, Any]:
    """The provider refused the pod: what virtual-kubelet writes when CreatePod fails."""
    phase = "Failed" if facts.restart_never else "Pending"
    return {
        "metadata": {"uid": facts.uid},
        "status": {"phase": phase, "reason": PROVIDER_FAILED, "message": message},
    }
