"""Feasibility filters: can this pod run on this node, and if not, why, in kube-scheduler's words.

Each filter returns None when the node passes, or the reason string kube-scheduler would report, so
FailedScheduling events and PodScheduled conditions read the same as the native scheduler's.
`node_reasons` runs them in kube-scheduler's plugin order and stops at the first failing filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from jobsched.core.model import (
    BLOCKING_EFFECTS,
    Node,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Pod,
    Taint,
    Toleration,
)
from jobsched.core.resources import CPU, EPHEMERAL_STORAGE, MEMORY, PODS, Resources

NOT_READY_TAINT: Final = "node.kubernetes.io/not-ready"
UNSCHEDULABLE_TAINT: Final = "node.kubernetes.io/unschedulable"

_UNSCHEDULABLE: Final = Taint(UNSCHEDULABLE_TAINT, "", "NoSchedule")

REASON_NOT_READY: Final = "node(s) were not ready"
REASON_UNSCHEDULABLE: Final = "node(s) were unschedulable"
REASON_AFFINITY: Final = "node(s) didn't match Pod's node affinity/selector"
REASON_TOO_MANY_PODS: Final = "Too many pods"

_FIRST_RESOURCES: Final = (CPU, MEMORY, EPHEMERAL_STORAGE)


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Kubernetes' ToleratesTaint: empty effect and empty key (with Exists) match anything."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator == "Exists":
        return True
    return toleration.value == taint.value


def is_tolerated(taint: Taint, tolerations: Iterable[Toleration]) -> bool:
    return any(tolerates(toleration, taint) for toleration in tolerations)


def check_ready(node: Node, tolerations: tuple[Toleration, ...]) -> str | None:
    """Not ready: the Ready condition is not True, or an untolerated not-ready taint blocks the node."""
    if not node.ready:
        return REASON_NOT_READY
    for taint in node.taints:
        if (
            taint.key == NOT_READY_TAINT
            and taint.effect in BLOCKING_EFFECTS
            and not is_tolerated(taint, tolerations)
        ):
            return REASON_NOT_READY
    return None


def check_unschedulable(node: Node, tolerations: tuple[Toleration, ...]) -> str | None:
    """Cordoned nodes block pods that do not tolerate the unschedulable taint (NodeUnschedulable)."""
    if node.unschedulable and not is_tolerated(_UNSCHEDULABLE, tolerations):
        return REASON_UNSCHEDULABLE
    return None


def check_taints(node: Node, tolerations: tuple[Toleration, ...]) -> str | None:
    """The first NoSchedule/NoExecute taint not tolerated; not-ready taints are check_ready's."""
    for taint in node.taints:
        if (
            taint.effect in BLOCKING_EFFECTS
            and taint.key != NOT_READY_TAINT
            and not is_tolerated(taint, tolerations)
        ):
            return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"
    return None


def _matches_values(operator: str, value: str | None, values: tuple[str, ...]) -> bool:
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt"):
        if value is None or len(values) != 1:
            return False
        try:
            have, bound = int(value), int(values[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def requirement_matches(requirement: NodeSelectorRequirement, labels: Mapping[str, str]) -> bool:
    return _matches_values(requirement.operator, labels.get(requirement.key), requirement.values)


def term_matches(term: NodeSelectorTerm, node: Node) -> bool:
    """All expressions and fields must match; an empty term matches nothing (as in Kubernetes)."""
    if not term.match_expressions and not term.match_fields:
        return False
    for requirement in term.match_expressions:
        if not requirement_matches(requirement, node.labels):
            return False
    for requirement in term.match_fields:
        value = node.name if requirement.key == "metadata.name" else None
        if not _matches_values(requirement.operator, value, requirement.values):
            return False
    return True


def check_node_affinity(pod: Pod, node: Node) -> str | None:
    """nodeSelector (all labels equal) and required node affinity (terms ORed)."""
    labels = node.labels
    for key, value in pod.node_selector.items():
        if labels.get(key) != value:
            return REASON_AFFINITY
    terms = pod.required_affinity
    if terms is not None and not any(term_matches(term, node) for term in terms):
        return REASON_AFFINITY
    return None


def uses_node_name(pod: Pod) -> bool:
    """Whether affinity looks at the node's name (matchFields), not only its labels."""
    return any(term.match_fields for term in pod.required_affinity or ())


def affinity_label_keys(pod: Pod) -> tuple[str, ...]:
    """The label keys a pod's selector and affinity read: the only labels that matter to it."""
    keys = set(pod.node_selector)
    for term in pod.required_affinity or ():
        keys.update(requirement.key for requirement in term.match_expressions)
    return tuple(sorted(keys))


def fit_request(pod: Pod, extra_caps: Mapping[str, int]) -> dict[str, int]:
    """What a pod takes from a node, in kube-scheduler's check order: one pod slot, then cpu, memory,
    ephemeral-storage, then the other resources by name, then extra dimensions the domain caps.

    Zero requests are left out (they always fit); extras a domain does not cap are unconstrained there.
    """
    request = {PODS: 1}
    requests = pod.requests
    for name in _FIRST_RESOURCES:
        amount = requests.get(name, 0)
        if amount > 0:
            request[name] = amount
    for name in sorted(requests):
        if name not in request and requests[name] > 0:
            request[name] = requests[name]
    for name in sorted(pod.extras):
        if name in extra_caps and pod.extras[name] > 0:
            request[name] = request.get(name, 0) + pod.extras[name]
    return request


def insufficient_resources(request: Resources, capacity: Resources, used: Resources) -> list[str]:
    """NodeResourcesFit: every resource the request overflows, each as its own reason."""
    reasons = []
    for name, amount in request.items():
        if used.get(name, 0) + amount > capacity.get(name, 0):
            reasons.append(REASON_TOO_MANY_PODS if name == PODS else f"Insufficient {name}")
    return reasons


def node_condition_reason(node: Node, tolerations: tuple[Toleration, ...]) -> str | None:
    """Readiness, cordon and taints: the filters that read only taints, flags and tolerations."""
    return (
        check_ready(node, tolerations)
        or check_unschedulable(node, tolerations)
        or check_taints(node, tolerations)
    )


def static_reason(pod: Pod, node: Node, tolerations: tuple[Toleration, ...]) -> str | None:
    """The filters that do not depend on usage, in kube-scheduler's plugin order."""
    return node_condition_reason(node, tolerations) or check_node_affinity(pod, node)


def node_reasons(
    pod: Pod,
    node: Node,
    request: Resources,
    capacity: Resources,
    used: Resources,
    tolerations: tuple[Toleration, ...],
) -> list[str]:
    """Why `pod` cannot go to `node` (empty if it can): the first failing filter's reasons.

    `request` is `fit_request(pod, ...)`; `tolerations` are the pod's plus its domain's.
    """
    reason = static_reason(pod, node, tolerations)
    if reason is not None:
        return [reason]
    return insufficient_resources(request, capacity, used)
