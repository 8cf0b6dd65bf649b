"""Lease renewal through the fault proxy: a renewal whose reply was lost may still have been written, so
the next attempt reads the lease before writing it again, instead of spending one of the few requests
that fit in renewDeadline on a PUT that can only get 409 (the chaos suite's api-faults scenario once
lost its leader to such a chain: a timeout, a lost reply, then 5xx until the deadline)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient, TransportError
from jobsched.kube.lease import LeaderElector, LeaseConfig
from tests.support.faultproxy import FaultPlan, FaultProxy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_a_renewal_whose_reply_was_lost_reads_the_lease_before_writing_it_again(
    control_plane: ClusterState, namespace: str, tmp_path: Path
) -> None:
    plan = FaultPlan(methods=frozenset({"PUT"}))
    async with FaultProxy(control_plane, plan) as proxy:
        kubeconfig = proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")
        async with KubeClient.connect(str(kubeconfig)) as client:
            elector = LeaderElector(
                client, LeaseConfig(f"l-{uuid.uuid4().hex[:8]}", namespace, "me", 15, 10, 2)
            )
            assert await elector.try_acquire_or_renew()  # GET (404), then POST
            elector.is_leader = True
            assert await elector.try_acquire_or_renew()  # a renewal: one PUT on what it wrote

            plan.rate_lost_reply = 1.0
            with pytest.raises(TransportError):
                await elector.try_acquire_or_renew()  # the PUT is carried out, its reply never comes
            assert proxy.counts["lost_reply"] == 1

            plan.rate_lost_reply = 0.0
            forwarded = proxy.counts["forwarded"]
            assert await elector.try_acquire_or_renew()
            assert proxy.counts["forwarded"] - forwarded == 2  # GET and PUT, no PUT refused with 409

            lease = await client.get_json(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/")
            (item,) = lease["items"]
            assert item["spec"]["holderIdentity"] == "me"
