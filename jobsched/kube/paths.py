"""Every API path jobsched requests, in one place: nothing outside `jobsched.kube` builds one.

A path is a plain string the client appends to the server URL. Keeping them here means a reader can
see the whole API surface jobsched touches, and a resource moving group or version changes one line.
"""

from __future__ import annotations

from typing import Final

CORE: Final = "/api/v1"
BATCH: Final = "/apis/batch/v1"
EVENTS: Final = "/apis/events.k8s.io/v1"
COORDINATION: Final = "/apis/coordination.k8s.io/v1"


def _collection(group: str, resource: str, namespace: str | None) -> str:
    return f"{group}/namespaces/{namespace}/{resource}" if namespace else f"{group}/{resource}"


def nodes() -> str:
    return f"{CORE}/nodes"


def namespaces() -> str:
    return f"{CORE}/namespaces"


def pods(namespace: str | None = None) -> str:
    return _collection(CORE, "pods", namespace)


def pod(namespace: str, name: str) -> str:
    return f"{CORE}/namespaces/{namespace}/pods/{name}"


def pod_binding(namespace: str, name: str) -> str:
    return pod(namespace, name) + "/binding"


def pod_status(namespace: str, name: str) -> str:
    return pod(namespace, name) + "/status"


def jobs(namespace: str | None = None) -> str:
    return _collection(BATCH, "jobs", namespace)


def job(namespace: str, name: str) -> str:
    return f"{BATCH}/namespaces/{namespace}/jobs/{name}"


def cronjobs(namespace: str | None = None) -> str:
    return _collection(BATCH, "cronjobs", namespace)


def cronjob(namespace: str, name: str) -> str:
    return f"{BATCH}/namespaces/{namespace}/cronjobs/{name}"


def cronjob_status(namespace: str, name: str) -> str:
    return cronjob(namespace, name) + "/status"


def configmaps(namespace: str | None = None) -> str:
    return _collection(CORE, "configmaps", namespace)


def configmap(namespace: str, name: str) -> str:
    return f"{CORE}/namespaces/{namespace}/configmaps/{name}"


def serviceaccount(namespace: str, name: str) -> str:
    return f"{CORE}/namespaces/{namespace}/serviceaccounts/{name}"


def events(namespace: str) -> str:
    return f"{EVENTS}/namespaces/{namespace}/events"


def leases(namespace: str) -> str:
    return f"{COORDINATION}/namespaces/{namespace}/leases"


def lease(namespace: str, name: str) -> str:
    return f"{leases(namespace)}/{name}"


def object_path(kind: str, namespace: str, name: str) -> str:
    """The path of a Pod or Job, the two kinds jobsched creates for a slot."""
    return job(namespace, name) if kind == "Job" else pod(namespace, name)


def collection_of(kind: str, namespace: str) -> str:
    """The collection a Pod or Job of `namespace` is created in."""
    return jobs(namespace) if kind == "Job" else pods(namespace)


def namespace(name: str) -> str:
    return f"{CORE}/namespaces/{name}"


RBAC: Final = "/apis/rbac.authorization.k8s.io/v1"


def rolebinding(namespace: str, name: str) -> str:
    return f"{RBAC}/namespaces/{namespace}/rolebindings/{name}"
