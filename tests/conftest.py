"""Shared fixtures: one real local control plane per test run, and a fresh namespace per test.

The control plane is the project's own (etcd + kube-apiserver + kwok, built from Go modules); set
JOBSCHED_TEST_KEEP_CLUSTER=1 to leave it running after the session for debugging.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from jobsched.devcluster import cluster as devcluster
from jobsched.kube.client import KubeClient


@pytest.fixture(scope="session")
def control_plane() -> Iterator[devcluster.ClusterState]:
    name = f"pytest-{os.getpid()}"
    state = devcluster.up(name)
    try:
        yield state
    finally:
        if not os.environ.get("JOBSCHED_TEST_KEEP_CLUSTER"):
            devcluster.down(name)


@pytest.fixture
def namespace(control_plane: devcluster.ClusterState) -> Iterator[str]:
    """A namespace of the test's own, opted in to jobsched, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"jobsched.io/enabled": "true"}},
    }
    code, reply = devcluster.api_send(control_plane, "POST", "/api/v1/namespaces", body)
    assert code == 201, reply
    yield name
    devcluster.api_send(
        control_plane, "DELETE", f"/api/v1/namespaces/{name}", {"propagationPolicy": "Background"}
    )


@pytest.fixture
async def kube(control_plane: devcluster.ClusterState) -> AsyncIterator[KubeClient]:
    async with KubeClient.connect(str(control_plane.kubeconfig)) as client:
        yield client
