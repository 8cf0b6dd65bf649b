"""`jobsched enable NAMESPACE` / `jobsched disable NAMESPACE`: opting a namespace in to jobsched, and out.

Opting in is two things, and this command does both so they never drift apart:
- the namespace label (`cron.namespaceLabel`, jobsched.io/enabled=true), which jobsched reads;
- a RoleBinding `jobsched-cron` to the ClusterRole `jobsched-cron-writer` (deploy/base/rbac.yaml) for
  jobsched's ServiceAccount, which is what lets the apiserver accept its pods, Jobs and status
  ConfigMaps there. Without it every create is refused with 403, whatever the label says.

Without --apply it prints a YAML stream for `kubectl apply -f -` (enable) or the kubectl commands
(disable), so a GitOps user can commit them instead.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Final, TextIO

import anyio
import yaml

from jobsched.kube import optin
from jobsched.kube.client import KubeClient

ROLEBINDING: Final = "jobsched-cron"
CLUSTER_ROLE: Final = "jobsched-cron-writer"
SERVICE_ACCOUNT: Final = "jobsched-system/jobsched"


@dataclass(frozen=True)
class OptIn:
    namespace: str
    label: str  # KEY=VALUE
    service_account: str = SERVICE_ACCOUNT  # NAMESPACE/NAME

    @property
    def label_key(self) -> str:
        return self.label.split("=", 1)[0]

    @property
    def label_value(self) -> str:
        return self.label.split("=", 1)[1]

    def rolebinding(self) -> dict[str, Any]:
        sa_namespace, sa_name = self.service_account.split("/", 1)
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {
                "name": ROLEBINDING,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/part-of": "jobsched"},
            },
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}],
        }

    def manifests(self) -> list[dict[str, Any]]:
        """What `kubectl apply -f -` needs: the namespace with its label, and the RoleBinding."""
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.namespace, "labels": {self.label_key: self.label_value}},
        }
        return [namespace, self.rolebinding()]

    def disable_commands(self) -> list[str]:
        return [
            f"kubectl label namespace {self.namespace} {self.label_key}-",
            f"kubectl delete rolebinding --namespace {self.namespace} {ROLEBINDING} --ignore-not-found",
        ]


def check_service_account(text: str) -> str:
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name:
        raise ValueError(f"--service-account must be NAMESPACE/NAME, got {text!r}")
    return text


async def _enable(kubeconfig: str | None, context: str | None, what: OptIn) -> None:
    async with KubeClient.connect(kubeconfig, connections=2, context=context) as client:
        await optin.set_label(client, what.namespace, what.label_key, what.label_value)
        await optin.apply(client, what.rolebinding())


async def _disable(kubeconfig: str | None, context: str | None, what: OptIn) -> bool:
    async with KubeClient.connect(kubeconfig, connections=2, context=context) as client:
        await optin.set_label(client, what.namespace, what.label_key, None)
        return await optin.delete_rolebinding(client, what.namespace, ROLEBINDING)


def enable_main(
    what: OptIn, apply: bool, kubeconfig: str | None, context: str | None, out: TextIO = sys.stdout
) -> int:
    if not apply:
        out.write(yaml.safe_dump_all(what.manifests(), sort_keys=False))
        return 0
    anyio.run(_enable, kubeconfig, context, what)
    print(
        f"namespace {what.namespace} opted in: label {what.label} and RoleBinding {ROLEBINDING}"
        f" (ClusterRole {CLUSTER_ROLE}) for {what.service_account}",
        file=out,
    )
    return 0


def disable_main(
    what: OptIn, apply: bool, kubeconfig: str | None, context: str | None, out: TextIO = sys.stdout
) -> int:
    if not apply:
        print("\n".join(what.disable_commands()), file=out)
        return 0
    existed = anyio.run(_disable, kubeconfig, context, what)
    binding = f"RoleBinding {ROLEBINDING} deleted" if existed else f"no RoleBinding {ROLEBINDING} to delete"
    print(f"namespace {what.namespace} opted out: label {what.label_key} removed, {binding}", file=out)
    return 0
