"""The deploy/ manifests, read as files: the scheduler configs load, the overlays pick their provider's
virtual nodes only, and every RBAC rule says why it is there.

What the apiserver thinks of the manifests is tests/integration/test_deploy.py's job; this catches a
config that `jobsched run` would refuse at start, or a rule added without its reason, without a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jobsched import optin
from jobsched.core.domains import domain_of
from jobsched.core.model import Node
from jobsched.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

EKLET = Node("eklet-1", labels={"node.kubernetes.io/instance-type": "eklet"})
VK_ACI = Node("vk-aci", labels={"type": "virtual-kubelet", "example.com/virtual-provider": "aci"})
VK_OTHER = Node("vk-other", labels={"type": "virtual-kubelet"})
CVM = Node("cvm-1", labels={"node.kubernetes.io/instance-type": "S5.LARGE8"})


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            ROOT / "config/jobsched.yaml",
            {EKLET: "virtual", VK_ACI: "virtual", VK_OTHER: "virtual", CVM: "regular"},
        ),
        (
            DEPLOY / "overlays/tencent-eks/jobsched.yaml",
            {EKLET: "virtual", VK_ACI: "regular", VK_OTHER: "regular", CVM: "regular"},
        ),
        (
            DEPLOY / "overlays/virtual-kubelet/jobsched.yaml",
            {EKLET: "regular", VK_ACI: "virtual", VK_OTHER: "regular", CVM: "regular"},
        ),
    ],
    ids=["base", "tencent-eks", "virtual-kubelet"],
)
def test_configs_load_and_select_their_virtual_nodes(config: Path, expected: dict[Node, str]) -> None:
    settings = load_settings(config)
    assert settings.scheduler_name == "jobsched"
    assert {node: domain_of(node, settings.domains) for node in expected} == expected


def test_overlay_tolerations_are_their_providers_own() -> None:
    tencent = load_settings(DEPLOY / "overlays/tencent-eks/jobsched.yaml").domains[0]
    assert [t.key for t in tencent.tolerations] == ["eks.tke.cloud.tencent.com/eklet"]
    vk = load_settings(DEPLOY / "overlays/virtual-kubelet/jobsched.yaml").domains[0]
    assert [t.key for t in vk.tolerations] == ["virtual-kubelet.io/provider"]


def test_every_rbac_rule_has_a_reason() -> None:
    """A rule's comment is the only record of why the verb is granted; none may be added without one."""
    lines = (DEPLOY / "base/rbac.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            assert lines[index - 1].strip().startswith("#"), (
                f"rbac.yaml line {index + 1}: rule without a comment"
            )


def test_rbac_grants_no_secrets_and_checks_service_accounts() -> None:
    rules = [
        rule
        for doc in yaml.safe_load_all((DEPLOY / "base/rbac.yaml").read_text())
        if doc["kind"] in ("ClusterRole", "Role")
        for rule in doc["rules"]
    ]
    resources = {resource for rule in rules for resource in rule["resources"]}
    assert "secrets" not in resources
    assert "*" not in resources
    assert all("*" not in rule["verbs"] for rule in rules)
    assert {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get"]} in rules


def test_overlays_build_on_the_base_not_on_deploy() -> None:
    """kustomize refuses a base that contains its overlay, so overlays refer to deploy/base."""
    for overlay in ("tencent-eks", "virtual-kubelet"):
        kustomization = yaml.safe_load((DEPLOY / "overlays" / overlay / "kustomization.yaml").read_text())
        assert kustomization["resources"] == ["../../base"]
        generator = kustomization["configMapGenerator"][0]
        assert (generator["name"], generator["behavior"]) == ("jobsched-config", "replace")


def _roles() -> dict[str, list[dict[str, Any]]]:
    docs = yaml.safe_load_all((ROOT / "deploy" / "base" / "rbac.yaml").read_text())
    return {d["metadata"]["name"]: d["rules"] for d in docs if d and d["kind"] in ("ClusterRole", "Role")}


def test_cluster_wide_grants_no_creates_of_pods_jobs_or_configmaps() -> None:
    """Least privilege: what jobsched may write everywhere is only what a scheduler writes."""
    writes = {"create", "update", "patch", "delete", "deletecollection", "*"}
    cluster_wide = _roles()["jobsched"]
    for rule in cluster_wide:
        if set(rule["verbs"]) & writes:
            assert set(rule["resources"]) <= {"pods/binding", "pods/status", "events"}, rule


def test_the_cron_writer_role_is_bound_only_per_namespace_and_matches_jobsched_enable() -> None:
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "base" / "rbac.yaml").read_text()) if d]
    cluster_bound = {d["roleRef"]["name"] for d in docs if d["kind"] == "ClusterRoleBinding"}
    assert cluster_bound == {"jobsched"}
    assert optin.CLUSTER_ROLE in _roles()
    binding = optin.OptIn("team-a", "jobsched.io/enabled=true").rolebinding()
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": optin.CLUSTER_ROLE,
    }
    assert binding["metadata"] == {
        "name": "jobsched-cron",
        "namespace": "team-a",
        "labels": {"app.kubernetes.io/part-of": "jobsched"},
    }
    service_accounts = next(d for d in docs if d["kind"] == "ClusterRoleBinding")["subjects"]
    assert binding["subjects"] == service_accounts
