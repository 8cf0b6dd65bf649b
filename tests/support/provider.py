"""The dev cluster's provider simulator for one test: it plays only that test's virtual nodes (a node
selector on the slice's label), with the limits the test asks for, and stops when the test ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from jobsched.devcluster import cluster
from jobsched.devcluster.provider.limits import ProviderLimits
from jobsched.devcluster.state import ClusterState
from tests.support.cluster_slice import TEST_LABEL, ClusterSlice


@contextlib.contextmanager
def provider_for(
    control_plane: ClusterState, bed: ClusterSlice, rate: float, burst: int, quota: int = 0
) -> Iterator[ProviderLimits]:
    limits = ProviderLimits(
        launch_rate=rate,
        launch_burst=burst,
        quota_pods=quota,
        node_selectors=(f"type=virtual-kubelet,{TEST_LABEL}={bed.id}",),
    )
    cluster.start_provider(control_plane, limits)
    try:
        yield limits
    finally:
        cluster.stop_provider(control_plane)
