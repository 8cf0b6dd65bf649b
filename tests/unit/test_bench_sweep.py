"""The growth curve's arithmetic: one point per system and size, read from the bench's own documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import sweep


def run(makespan: float | None) -> dict[str, object]:
    return {
        "duplicates": 0,
        "missed": 0,
        "makespan_s": makespan,
        "fire_to_running_s": {"p99": 9.5},
        "cpu_ms_per_pod": 1.2,
        "burst_cpu_ms_per_pod": 0.2,
        "scheduler_peak_rss_mb": 190.0,
    }


def test_a_point_is_per_pod_where_the_curve_needs_it() -> None:
    p = sweep.point(4000, run(2.0))
    assert p["makespan_ms_per_pod"] == 0.5
    assert (p["running_p99_s"], p["cpu_ms_per_pod"], p["peak_rss_mb"]) == (9.5, 1.2, 190.0)
    assert sweep.point(10, {"error": "boom"})["makespan_ms_per_pod"] is None


def test_collect_orders_sizes_numerically_and_keeps_every_system(tmp_path: Path) -> None:
    for crons in (30000, 1000, 3000):
        document = {"environment": {"cpus": 2}, "scenario": {"crons": crons, "repeats": 1}}
        document["runs"] = {"jobsched": run(1.0), "raw": run(0.9)}
        (tmp_path / f"sweep-{crons}.json").write_text(json.dumps(document))
    curves, environment = sweep.collect(tmp_path)
    assert environment == {"cpus": 2}
    assert [p["crons"] for p in curves["jobsched"]] == [1000, 3000, 30000]
    assert set(curves) == {"jobsched", "raw"}
    assert "| raw | 30000 | 1 |" in sweep.table(curves, environment)


@pytest.mark.parametrize("text", ["", "0", "1000,x"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(SystemExit):
        sweep.sizes_of(text)
