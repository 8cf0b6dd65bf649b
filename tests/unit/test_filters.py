"""Filters: toleration semantics, node affinity operators and kube-scheduler's reason strings."""

from __future__ import annotations

import pytest

from jobsched.core.filters import (
    check_node_affinity,
    check_ready,
    check_taints,
    check_unschedulable,
    fit_request,
    insufficient_resources,
    node_reasons,
    tolerates,
)
from jobsched.core.model import NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration
from tests.support.factories import node, pod

NO_SCHEDULE = Taint("dedicated", "db", "NoSchedule")


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        (Toleration("dedicated", "Equal", "db", "NoSchedule"), NO_SCHEDULE, True),
        (Toleration("dedicated", "Equal", "web", "NoSchedule"), NO_SCHEDULE, False),
        (Toleration("dedicated", "Exists", "", "NoSchedule"), NO_SCHEDULE, True),
        (Toleration("dedicated", "Exists"), NO_SCHEDULE, True),  # empty effect: all effects
        (Toleration("dedicated", "Exists", "", "NoExecute"), NO_SCHEDULE, False),
        (Toleration("", "Exists"), NO_SCHEDULE, True),  # empty key with Exists: everything
        (Toleration("other", "Exists"), NO_SCHEDULE, False),
        (Toleration("dedicated", "Equal", "db"), NO_SCHEDULE, True),
    ],
)
def test_tolerates(toleration: Toleration, taint: Taint, expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


@pytest.mark.parametrize(
    ("taints", "tolerations", "expected"),
    [
        ((NO_SCHEDULE,), (), "node(s) had untolerated taint {dedicated: db}"),
        ((Taint("gpu", "", "NoExecute"),), (), "node(s) had untolerated taint {gpu: }"),
        ((Taint("soft", "x", "PreferNoSchedule"),), (), None),
        ((NO_SCHEDULE,), (Toleration("dedicated", "Equal", "db"),), None),
        ((Taint("node.kubernetes.io/not-ready", "", "NoSchedule"),), (), None),  # check_ready's
    ],
)
def test_check_taints(
    taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...], expected: str | None
) -> None:
    assert check_taints(node("n", taints=taints), tolerations) == expected


def test_not_ready_from_condition_and_from_taint() -> None:
    not_ready_taint = Taint("node.kubernetes.io/not-ready", "", "NoSchedule")
    assert check_ready(node("n", ready=False), ()) == "node(s) were not ready"
    assert check_ready(node("n", taints=(not_ready_taint,)), ()) == "node(s) were not ready"
    assert check_ready(node("n", taints=(not_ready_taint,)), (Toleration("", "Exists"),)) is None
    assert check_ready(node("n"), ()) is None


def test_unschedulable() -> None:
    cordoned = node("n", unschedulable=True)
    assert check_unschedulable(cordoned, ()) == "node(s) were unschedulable"
    tolerate = Toleration("node.kubernetes.io/unschedulable", "Exists", "", "NoSchedule")
    assert check_unschedulable(cordoned, (tolerate,)) is None
    assert check_unschedulable(node("n"), ()) is None


def _affinity(
    *requirements: NodeSelectorRequirement, fields: tuple[NodeSelectorRequirement, ...] = ()
) -> tuple[NodeSelectorTerm, ...]:
    return (NodeSelectorTerm(requirements, fields),)


LABELS = {"zone": "a", "cores": "16", "ssd": "true"}


@pytest.mark.parametrize(
    ("requirement", "matches"),
    [
        (NodeSelectorRequirement("zone", "In", ("a", "b")), True),
        (NodeSelectorRequirement("zone", "In", ("b",)), False),
        (NodeSelectorRequirement("zone", "NotIn", ("b",)), True),
        (NodeSelectorRequirement("missing", "NotIn", ("b",)), True),
        (NodeSelectorRequirement("zone", "NotIn", ("a",)), False),
        (NodeSelectorRequirement("ssd", "Exists"), True),
        (NodeSelectorRequirement("missing", "Exists"), False),
        (NodeSelectorRequirement("missing", "DoesNotExist"), True),
        (NodeSelectorRequirement("ssd", "DoesNotExist"), False),
        (NodeSelectorRequirement("cores", "Gt", ("8",)), True),
        (NodeSelectorRequirement("cores", "Gt", ("16",)), False),
        (NodeSelectorRequirement("cores", "Lt", ("32",)), True),
        (NodeSelectorRequirement("zone", "Lt", ("32",)), False),  # not an integer
        (NodeSelectorRequirement("zone", "Bogus", ("a",)), False),
    ],
)
def test_affinity_operators(requirement: NodeSelectorRequirement, matches: bool) -> None:
    candidate = pod("p", required_affinity=_affinity(requirement))
    expected = None if matches else "node(s) didn't match Pod's node affinity/selector"
    assert check_node_affinity(candidate, node("n1", labels=LABELS)) == expected


def test_affinity_terms_are_ored_and_empty_term_matches_nothing() -> None:
    terms = (
        NodeSelectorTerm((NodeSelectorRequirement("zone", "In", ("b",)),)),
        NodeSelectorTerm((NodeSelectorRequirement("ssd", "Exists"),)),
    )
    target = node("n1", labels=LABELS)
    assert check_node_affinity(pod("p", required_affinity=terms), target) is None
    assert check_node_affinity(pod("p", required_affinity=(NodeSelectorTerm(),)), target) is not None
    assert check_node_affinity(pod("p", required_affinity=()), target) is not None


def test_match_fields_by_node_name_and_node_selector() -> None:
    by_name = _affinity(fields=(NodeSelectorRequirement("metadata.name", "In", ("n1",)),))
    assert check_node_affinity(pod("p", required_affinity=by_name), node("n1")) is None
    assert check_node_affinity(pod("p", required_affinity=by_name), node("n2")) is not None
    assert check_node_affinity(pod("p", node_selector={"zone": "a"}), node("n", labels=LABELS)) is None
    assert check_node_affinity(pod("p", node_selector={"zone": "b"}), node("n", labels=LABELS)) is not None


def test_fit_request_order_and_extras() -> None:
    candidate = pod("p", cpu=0, memory=10, extras={"logs": 5, "uncapped": 1})
    request = fit_request(candidate, {"logs": 100})
    assert list(request.items()) == [("pods", 1), ("memory", 10), ("logs", 5)]


def test_insufficient_resources_reports_each() -> None:
    request = {"pods": 1, "cpu": 500, "memory": 100, "nvidia.com/gpu": 1}
    capacity = {"pods": 1, "cpu": 1000, "memory": 100}
    used = {"pods": 1, "cpu": 600, "memory": 0}
    assert insufficient_resources(request, capacity, used) == [
        "Too many pods",
        "Insufficient cpu",
        "Insufficient nvidia.com/gpu",
    ]


def test_node_reasons_stop_at_first_failing_filter() -> None:
    candidate = pod("p", cpu=10_000)
    request = fit_request(candidate, {})
    tainted = node("n", taints=(NO_SCHEDULE,), cpu=1)
    assert node_reasons(candidate, tainted, request, tainted.allocatable, {}, ()) == [
        "node(s) had untolerated taint {dedicated: db}"
    ]
    small = node("n", cpu=1)
    assert node_reasons(candidate, small, request, small.allocatable, {}, ()) == ["Insufficient cpu"]
    roomy = node("n", cpu=20_000)
    assert node_reasons(candidate, roomy, request, roomy.allocatable, {}, ()) == []
