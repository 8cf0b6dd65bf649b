"""The reduced chaos suite, in CI: every fault scenario of `python -m tests.chaos`, at 200 crons.

Each scenario is a real storm on the session's control plane with two `jobsched run --leader-elect`
replicas at the default lease (15 s / 10 s / 2 s) and one fault; it must end with every slot's pod
created once, bound once, never before T, and running, and no replica may exit but by the fault's
SIGKILL. Scenarios run in its own slice of the cluster, so to keep CI short they run in waves of
three on one minute boundary; the apiserver crash runs alone, as it strikes every storm at once.
Latency is recorded in the full suite's table (docs/reliability.md), never asserted here.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from jobsched.devcluster.state import ClusterState
from tests.chaos.faults import scenarios
from tests.chaos.storm import chaos_scenario, run_storm, verdict

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REDUCED = chaos_scenario(crons=200, virtual_nodes=4, virtual_pods=60, regular_nodes=4, run_seconds=10)
WAVES = (
    ("kill-leader-staging", "watch-expiry", "virtual-not-ready"),
    ("kill-leader-binding", "api-faults", "node-deleted"),
    ("apiserver-restart",),
)
FAULTS = [name for wave in WAVES for name in wave]


@pytest.fixture(scope="module")
def results(control_plane: ClusterState) -> dict[str, dict[str, Any]]:
    async def run_waves() -> dict[str, dict[str, Any]]:
        done: dict[str, dict[str, Any]] = {}
        faults = scenarios()

        async def one(name: str) -> None:
            done[name] = await run_storm(control_plane, REDUCED, faults[name], name)

        for wave in WAVES:
            async with anyio.create_task_group() as tg:
                for name in wave:
                    tg.start_soon(one, name)
        return done

    return anyio.run(run_waves)


def test_the_waves_hold_every_fault_scenario_once() -> None:
    assert sorted(FAULTS) == sorted(n for n in scenarios() if not n.endswith("baseline"))


@pytest.mark.parametrize("scenario", FAULTS)
def test_every_slot_fires_exactly_once_through_the_fault(
    results: dict[str, dict[str, Any]], scenario: str
) -> None:
    result = results[scenario]
    report = json.dumps({k: v for k, v in result.items() if k != "fire_to_created_s"}, indent=1)
    assert verdict(result) == "ok", report
    assert result["pods_bound"] >= REDUCED.crons, report
    if not result["replacement_allowed"]:
        assert result["pods_created"] == REDUCED.crons, report
