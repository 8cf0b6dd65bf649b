"""Raw Kubernetes JSON (as orjson returns it) to core records, fast enough for thousands of pods.

Plain dict access and cached quantity parsing only: at a burst's start every pending pod and every
node passes through here, and a validation library would cost more than the placement itself.

A pod watch event is decoded once, into a `PodRecord` that carries what every consumer in the process
needs (the scheduler: phase, node, scheduler name, fire time, priority, domain chain and the scheduling
view; the cron engine: entry, slot, finalizer, started/finished), and fanned out to all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from jobsched.core.model import Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration
from jobsched.core.naming import parse_time
from jobsched.core.resources import add_into, canonical, maximum, parse_resources
from jobsched.core.vocabulary import (
    CONFIGMAP_LABEL,
    DOMAINS_ANNOTATION,
    ENTRY_LABEL,
    PRIORITY_ANNOTATION,
    RERUN_OF_ANNOTATION,
    SCHEDULED_TIME_ANNOTATION,
    TRACKING_FINALIZER,
)

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


def _chain(annotations: Mapping[str, Any]) -> tuple[str, ...] | None:
    text = annotations.get(DOMAINS_ANNOTATION)
    if not isinstance(text, str):
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip()) or None


def _priority(annotations: Mapping[str, Any], spec: Mapping[str, Any]) -> int:
    """The annotation's priority (what cron entries set), else spec.priority."""
    text = annotations.get(PRIORITY_ANNOTATION)
    if isinstance(text, str):
        try:
            return int(text)
        except ValueError:
            pass
    priority = spec.get("priority")
    return priority if isinstance(priority, int) else 0


def pod_from_json(obj: Mapping[str, Any], extra_dims: Mapping[str, str]) -> Pod:
    """A pod; `extra_dims` maps each extra dimension to the annotation holding the pod's amount."""
    meta = obj.get("metadata") or _EMPTY
    spec = obj.get("spec") or _EMPTY
    annotations = meta.get("annotations") or _EMPTY
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
        domain_chain=_chain(annotations),
        extras=extras,
        priority=_priority(annotations, spec),
        node_name=spec.get("nodeName") or None,
        scheduler_name=spec.get("schedulerName") or "default-scheduler",
        terminal=(obj.get("status") or _EMPTY).get("phase") in _TERMINAL_PHASES,
    )


def container_ran(status: Mapping[str, Any]) -> bool:
    """Whether one container status shows the container ever started: started, running or terminated
    now or before, or restarted. Conservative: any such sign counts."""
    if status.get("started") or (status.get("restartCount") or 0) > 0:
        return True
    for key in ("state", "lastState"):
        state = status.get(key) or _EMPTY
        if state.get("running") or state.get("terminated"):
            return True
    return False


class PodRecord:
    """One pod watch event, decoded once and shared by every consumer in the process.

    The cheap fields are read at once. The scheduling view (`pod`: requests, selectors, affinity,
    tolerations) is decoded on first use, because most events of a storm (its bind coming back, its pod
    running) never need it. Records are transient: a consumer keeps what it needs (a `Pod`, a run
    record), never the record, which holds on to the raw object until it is dropped.
    """

    __slots__ = (
        "_extra_dims",
        "_pod",
        "_raw",
        "deleting",
        "entry_label",
        "fire_at",
        "name",
        "namespace",
        "node_name",
        "owned_by_job",
        "phase",
        "scheduled",
        "scheduler_name",
        "source_label",
        "tracked",
        "uid",
    )

    def __init__(self, obj: Mapping[str, Any], extra_dims: Mapping[str, str]) -> None:
        meta = obj.get("metadata") or _EMPTY
        spec = obj.get("spec") or _EMPTY
        labels = meta.get("labels") or _EMPTY
        annotations = meta.get("annotations") or _EMPTY
        self._raw = obj
        self._extra_dims = extra_dims
        self._pod: Pod | None = None
        self.uid: str = meta.get("uid", "")
        self.namespace: str = meta.get("namespace", "default")
        self.name: str = meta.get("name", "")
        self.phase: str = (obj.get("status") or _EMPTY).get("phase") or "Pending"
        self.node_name: str = spec.get("nodeName") or ""
        self.scheduler_name: str = spec.get("schedulerName") or "default-scheduler"
        self.deleting = bool(meta.get("deletionTimestamp"))
        self.scheduled: datetime | None = parse_time(annotations.get(SCHEDULED_TIME_ANNOTATION))
        self.fire_at: float | None = self.scheduled.timestamp() if self.scheduled is not None else None
        self.entry_label: str = labels.get(ENTRY_LABEL) or ""
        self.source_label: str = labels.get(CONFIGMAP_LABEL) or ""
        self.tracked = TRACKING_FINALIZER in (meta.get("finalizers") or ())
        self.owned_by_job = any(ref.get("kind") == "Job" for ref in meta.get("ownerReferences") or ())

    @property
    def terminal(self) -> bool:
        return self.phase in _TERMINAL_PHASES

    @property
    def pod(self) -> Pod:
        """The scheduling view, decoded on first use."""
        if self._pod is None:
            self._pod = pod_from_json(self._raw, self._extra_dims)
        return self._pod

    @property
    def container_statuses(self) -> list[Mapping[str, Any]]:
        return list((self._raw.get("status") or _EMPTY).get("containerStatuses") or ())

    @property
    def started(self) -> bool:
        """Its containers ran: a kubelet reported it Running or finished, or a container running/ended."""
        if self.phase in ("Running", "Succeeded", "Failed"):
            return True
        return any(
            (cs.get("state") or _EMPTY).keys() & {"running", "terminated"} for cs in self.container_statuses
        )

    @property
    def reason(self) -> str:
        """status.reason: why the pod is in its phase (ProviderFailed, Evicted, NodeLost, ...)."""
        return str((self._raw.get("status") or _EMPTY).get("reason") or "")

    @property
    def containers_ran(self) -> bool:
        """Any container (init or not) is reported started, running, ended or restarted: the pod ran."""
        status = self._raw.get("status") or _EMPTY
        return any(
            container_ran(cs)
            for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses")
            for cs in status.get(key) or ()
        )

    @property
    def domain_chain(self) -> tuple[str, ...] | None:
        """The chain from the jobsched.io/domains annotation, if it has one."""
        return _chain((self._raw.get("metadata") or _EMPTY).get("annotations") or _EMPTY)

    @property
    def rerun_of(self) -> str:
        annotations = (self._raw.get("metadata") or _EMPTY).get("annotations") or _EMPTY
        return str(annotations.get(RERUN_OF_ANNOTATION) or "")

    @property
    def finished(self) -> datetime | None:
        """When the last container ended, for a pod that succeeded or failed, if its statuses say."""
        if not self.terminal:
            return None
        ends = [
            parse_time(((cs.get("state") or _EMPTY).get("terminated") or _EMPTY).get("finishedAt"))
            for cs in self.container_statuses
        ]
        known = [end for end in ends if end is not None]
        return max(known) if known else None
