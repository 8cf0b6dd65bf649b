"""The reduced chaos suite, in CI: every scenario of `python -m tests.chaos` at 200 crons.

Each scenario is a real storm on the session's control plane with two `jobsched run --leader-elect`
replicas at the default lease (15 s / 10 s / 2 s) and one fault; it must end with every slot's pod
created once, bound once, never before T, and running. Latency is recorded in the full suite's table
(README), never asserted here.
"""

from __future__ import annotations

import json

import anyio
import pytest

from jobsched.devcluster.cluster import ClusterState
from tests.chaos.faults import scenarios
from tests.chaos.storm import StormShape, run_storm, verdict

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

REDUCED = StormShape(crons=200, virtual_nodes=4, virtual_pods=60, regular_nodes=4, run_seconds=10)
FAULTS = [name for name in scenarios() if not name.endswith("baseline")]


@pytest.mark.parametrize("scenario", FAULTS)
def test_every_slot_fires_exactly_once_through_the_fault(control_plane: ClusterState, scenario: str) -> None:
    result = anyio.run(run_storm, control_plane, REDUCED, scenarios()[scenario], scenario)
    report = json.dumps({k: v for k, v in result.items() if k != "fire_to_created_s"}, indent=1)
    assert verdict(result) == "ok", report
    assert result["pods_created"] == REDUCED.crons, report
    assert result["pods_bound"] == REDUCED.crons, report
