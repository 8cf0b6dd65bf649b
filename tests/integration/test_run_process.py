"""`jobsched run` as a separate process: it binds pods, serves /healthz, /readyz and kube-scheduler's
metric names on /metrics, and exits cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from jobsched.devcluster.nodes import NodeShape
from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from tests.support.cluster_slice import ClusterSlice, node_of
from tests.support.processes import free_port, http_get

pytestmark = pytest.mark.integration


async def test_run_binds_pods_and_serves_health_and_metrics(
    kube: KubeClient, namespace: str, control_plane: ClusterState, tmp_path: Path
) -> None:
    bed = ClusterSlice(kube, namespace)
    await bed.add_node("virtual", NodeShape(cpu="1000", memory="4Ti", pods=1000))
    config = tmp_path / "jobsched.yaml"
    config.write_text(yaml.safe_dump(bed.config()))
    port = free_port()
    log = (tmp_path / "jobsched.log").open("wb")
    proc = await anyio.open_process(
        [sys.executable, "-m", "jobsched", "run", "--no-cron", "--config", str(config),
         "--kubeconfig", str(control_plane.kubeconfig), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with anyio.fail_after(60):
            while True:
                assert proc.returncode is None, (tmp_path / "jobsched.log").read_text()
                try:
                    if http_get(port, "/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                await anyio.sleep(0.2)
        assert http_get(port, "/healthz") == (200, "ok")
        await bed.create_pods([bed.pod(f"p-{i:02d}") for i in range(20)])

        def all_bound(pods: dict[str, dict[str, Any]]) -> bool:
            return len(pods) == 20 and all(node_of(p) for p in pods.values())

        await bed.wait_for(all_bound)
        status, metrics = http_get(port, "/metrics")
        assert status == 200
        assert (
            f'scheduler_schedule_attempts_total{{profile="{bed.scheduler_name}",result="scheduled"}} 20.0'
            in metrics
        )
        assert 'jobsched_binds_total{domain="virtual",outcome="bound"} 20.0' in metrics
        assert "scheduler_pending_pods" in metrics
        assert "scheduler_scheduling_attempt_duration_seconds_bucket" in metrics
        # Upstream's SLI: every pod bound at its first attempt; and the process's own collectors.
        assert 'scheduler_pod_scheduling_sli_duration_seconds_count{attempts="1"} 20.0' in metrics
        assert "\nprocess_cpu_seconds_total " in metrics
        assert "\npython_info{" in metrics
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(15):
            assert await proc.wait() == 0
        # stderr is no terminal here: every line, jobsched's and its libraries', is JSON naming its logger.
        lines = (tmp_path / "jobsched.log").read_text().splitlines()
        assert lines
        assert all(json.loads(line)["logger"] for line in lines), lines
    finally:
        if proc.returncode is None:
            proc.kill()
            with anyio.CancelScope(shield=True):
                await proc.wait()
        log.close()
        await bed.remove_nodes()
