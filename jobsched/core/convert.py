"""Raw Kubernetes JSON (as orjson returns it) to core records, fast enough for thousands of pods.

Plain dict access and cached quantity parsing only: at a burst's start every pending pod and every
node passes through here, and a validation library would cost more than the placement itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from jobsched.core.model import Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration
from jobsched.core.resources import add_into, canonical, maximum, parse_resources
from jobsched.core.vocabulary import DOMAINS_ANNOTATION

_TERMINAL_PHASES: Final = frozenset({"Succeeded", "Failed"})
_EMPTY: Final[Mapping[str, Any]] = {}


def node_from_json(obj: Mapping[str, Any]) -> Node:
    meta = obj.get("metadata") or _EMPTY
    spec = obj.get("spec") or _EMPTY
    status = obj.get("status") or _EMPTY
    ready = False
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Ready":
            ready = condition.get("status") == "True"
            break
    return Node(
        name=meta["name"],
        labels=meta.get("labels") or {},
        taints=tuple(
            Taint(t.get("key", ""), t.get("value", ""), t.get("effect", "")) for t in spec.get("taints") or ()
        ),
        allocatable=parse_resources(status.get("allocatable")),
        unschedulable=bool(spec.get("unschedulable", False)),
        ready=ready,
        uid=meta.get("uid", ""),
    )


def effective_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """kube-scheduler's pod request: max(sum(containers) + sidecars, each init container) + overhead.

    Restartable init containers (sidecars) keep running, so they add to everything started after them.
    """
    containers: list[Mapping[str, Any]] = spec.get("containers") or []
    if len(containers) == 1 and not spec.get("initContainers") and not spec.get("overhead"):
        return parse_resources((containers[0].get("resources") or _EMPTY).get("requests"))  # the usual pod
    requests: dict[str, int] = {}
    for container in containers:
        add_into(requests, parse_resources((container.get("resources") or _EMPTY).get("requests")))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for container in spec.get("initContainers") or ():
        own = parse_resources((container.get("resources") or _EMPTY).get("requests"))
        if container.get("restartPolicy") == "Always":
            add_into(sidecars, own)
            init_peak = maximum(init_peak, sidecars)
        else:
            running = dict(sidecars)
            add_into(running, own)
            init_peak = maximum(init_peak, running)
    add_into(requests, sidecars)
    requests = maximum(requests, init_peak)
    add_into(requests, parse_resources(spec.get("overhead")))
    return requests


def _requirements(raw: Any) -> tuple[NodeSelectorRequirement, ...]:
    return tuple(
        NodeSelectorRequirement(r.get("key", ""), r.get("operator", ""), tuple(r.get("values") or ()))
        for r in raw or ()
    )


def _required_affinity(spec: Mapping[str, Any]) -> tuple[NodeSelectorTerm, ...] | None:
    node_affinity = (spec.get("affinity") or _EMPTY).get("nodeAffinity") or _EMPTY
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return None
    return tuple(
        NodeSelectorTerm(_requirements(t.get("matchExpressions")), _requirements(t.get("matchFields")))
        for t in required.get("nodeSelectorTerms") or ()
    )


def pod_from_json(obj: Mapping[str, Any], extra_dims: Mapping[str, str]) -> Pod:
    """A pod; `extra_dims` maps each extra dimension to the annotation holding the pod's amount."""
    meta = obj.get("metadata") or _EMPTY
    spec = obj.get("spec") or _EMPTY
    annotations = meta.get("annotations") or _EMPTY
    chain_text = annotations.get(DOMAINS_ANNOTATION)
    chain = tuple(part.strip() for part in chain_text.split(",") if part.strip()) if chain_text else ()
    extras: dict[str, int] = {}
    for dim, annotation in extra_dims.items():
        amount = annotations.get(annotation)
        if amount is not None:
            extras[dim] = canonical(dim, amount)
    return Pod(
        namespace=meta.get("namespace", "default"),
        name=meta["name"],
        uid=meta.get("uid", ""),
        requests=effective_requests(spec),
        node_selector=spec.get("nodeSelector") or {},
        required_affinity=_required_affinity(spec),
        tolerations=tuple(
            Toleration(
                t.get("key", ""),
                t.get("operator") or "Equal",
                t.get("value", ""),
                t.get("effect", ""),
                t.get("tolerationSeconds"),
            )
            for t in spec.get("tolerations") or ()
        ),
        domain_chain=chain or None,
        extras=extras,
        priority=spec.get("priority") or 0,
        node_name=spec.get("nodeName") or None,
        scheduler_name=spec.get("schedulerName") or "default-scheduler",
        terminal=(obj.get("status") or _EMPTY).get("phase") in _TERMINAL_PHASES,
    )
