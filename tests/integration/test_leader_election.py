"""Leader election on a real coordination.k8s.io Lease, with short lease times so tests stay short.

Time bounds (anyio.fail_after) are hang guards, not timing assertions; what is asserted is who holds
the Lease and in what order things happen.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from jobsched.kube.lease import LeaderElector, LeadershipLost, LeaseConfig
from tests.support.faultproxy import FaultPlan, FaultProxy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def config(namespace: str, identity: str) -> LeaseConfig:
    return LeaseConfig(
        "le-test", namespace, identity, lease_duration_s=3, renew_deadline_s=2, retry_period_s=0.5
    )


async def holder(kube: KubeClient, namespace: str) -> tuple[str, int]:
    lease = await kube.get_json(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/le-test")
    spec = lease["spec"]
    return spec.get("holderIdentity") or "", int(spec.get("leaseTransitions") or 0)


async def test_a_standby_waits_while_the_leader_renews_and_takes_over_when_it_stops(
    kube: KubeClient, namespace: str
) -> None:
    first = LeaderElector(kube, config(namespace, "a"))
    second = LeaderElector(kube, config(namespace, "b"))
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            leading = anyio.Event()

            async def work() -> None:
                leading.set()
                await anyio.sleep_forever()

            first_scope = anyio.CancelScope()

            async def run_first() -> None:
                with first_scope:
                    await first.run_while_leader(work)

            tg.start_soon(run_first)
            await leading.wait()
            assert await holder(kube, namespace) == ("a", 0)
            # b keeps trying for longer than the lease lasts, and a's renewals keep it out.
            assert not await second.try_acquire_or_renew()
            await anyio.sleep(4)
            assert not await second.try_acquire_or_renew()
            assert (await holder(kube, namespace))[0] == "a"
            # a dies without handing the lease back (cancelled, no release): b takes over once it expires.
            first_scope.cancel()
            await second.acquire()
            assert await holder(kube, namespace) == ("b", 1)
            tg.cancel_scope.cancel()


async def test_release_hands_the_lease_over_without_waiting_out_its_duration(
    kube: KubeClient, namespace: str
) -> None:
    first = LeaderElector(kube, config(namespace, "a"))
    second = LeaderElector(kube, config(namespace, "b"))
    await first.acquire()
    assert not await second.try_acquire_or_renew()
    await first.release()
    assert not first.is_leader
    # A fresh candidate (no observation yet) may take a released lease at once.
    third = LeaderElector(kube, config(namespace, "c"))
    assert await third.try_acquire_or_renew()
    assert (await holder(kube, namespace))[0] == "c"


async def test_a_leader_that_cannot_renew_stops_its_work_and_raises(
    control_plane: ClusterState, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    plan = FaultPlan()
    async with FaultProxy(control_plane, plan) as proxy:
        kubeconfig = proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")
        async with KubeClient.connect(str(kubeconfig)) as client:
            elector = LeaderElector(client, config(namespace, "a"))
            progress: list[str] = []

            async def work() -> None:
                progress.append("started")
                plan.rate_500 = 1.0  # from now on every renewal is refused
                try:
                    await anyio.sleep_forever()
                finally:
                    progress.append("cancelled")

            with anyio.fail_after(30), pytest.raises(LeadershipLost):
                await elector.run_while_leader(work)
    assert progress == ["started", "cancelled"]
    assert not elector.is_leader
    assert proxy.counts["500"] > 0
    # Someone else can have it once it expires; nobody renewed it since.
    other = LeaderElector(kube, config(namespace, "b"))
    with anyio.fail_after(30):
        await other.acquire()


async def test_a_leader_keeps_its_lease_through_a_share_of_failing_requests(
    control_plane: ClusterState, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    """30% of the leader's lease requests fail (500): a failed renewal is retried well within the
    renewDeadline, so the leader holds on for several deadlines' worth of time."""
    plan = FaultPlan()
    lease = LeaseConfig("le-test", namespace, "a", lease_duration_s=6, renew_deadline_s=4, retry_period_s=2)
    async with FaultProxy(control_plane, plan, seed=7) as proxy:
        kubeconfig = proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")
        async with KubeClient.connect(str(kubeconfig)) as client:
            elector = LeaderElector(client, lease)

            async def work() -> None:
                plan.rate_500 = 0.3
                await anyio.sleep(16)

            with anyio.fail_after(60):
                await elector.run_while_leader(work)
    assert proxy.counts["500"] > 0
    assert (await holder(kube, namespace))[0] == "a"
