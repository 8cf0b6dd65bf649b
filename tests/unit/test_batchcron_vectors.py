"""The Python port of robfig/cron v3.0.1 and the CronJob controller against the Go code itself.

The vectors in tests/vectors/robfig/vectors.json were written by the Go program beside them, which
runs github.com/robfig/cron/v3 v3.0.1 and a copy of kube v1.36.3's schedule validation and
mostRecentScheduleTime. To regenerate them (deterministic for a given tzdata, the seed is fixed):

    cd tests/vectors/robfig && go run . > vectors.json

Go reads zones from /usr/share/zoneinfo; so does Python's zoneinfo when it exists (else tzdata).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from jobsched.core.batchcron import UnfireableSchedule, most_recent_schedule_time, parse_batch_schedule
from jobsched.core.cronschedule import CronSpecError

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "robfig" / "vectors.json").read_text(encoding="utf-8")
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MISSED = ("none", "few", "many")


def instant(seconds: int, nanos: int = 0) -> datetime:
    return EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


def test_vectors_cover_what_they_claim() -> None:
    assert VECTORS["about"]["robfig"] == "github.com/robfig/cron/v3 v3.0.1"
    verdicts = [ok for _, ok, _ in VECTORS["parse"]]
    assert len(verdicts) > 500
    assert 200 < sum(verdicts) < len(verdicts) - 200  # both verdicts well represented
    zones = {chain["zone"] for chain in VECTORS["next"]}
    assert {"UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"} <= zones
    assert sum(len(chain["chains"]) for chain in VECTORS["next"]) > 4000


@pytest.mark.parametrize("case", VECTORS["parse"], ids=lambda case: repr(case[0])[:40])
def test_parse_verdicts_and_messages_match_kube(case: list[Any]) -> None:
    spec, ok, message = case
    if ok:
        parse_batch_schedule(spec)
        return
    with pytest.raises(CronSpecError) as refused:
        parse_batch_schedule(spec)
    if spec and "TZ" not in spec:  # for these two kube's wording is its own, not robfig's
        assert str(refused.value) == message


def _next_cases() -> list[tuple[str, str, list[int]]]:
    return [(c["spec"], c["zone"], row) for c in VECTORS["next"] for row in c["chains"]]


def test_next_fire_times_match_robfig() -> None:
    mismatches = []
    cases = _next_cases()
    for spec, zone_name, row in cases:
        schedule, zone = parse_batch_schedule(spec), ZoneInfo(zone_name)
        moment = instant(row[0], row[1])
        expected_unix = row[0]
        for delta in row[2:]:
            if delta == -1:
                with pytest.raises(UnfireableSchedule):
                    schedule.next_after(moment, zone)
                break
            expected_unix += delta
            got = schedule.next_after(moment, zone)
            if got != instant(expected_unix):
                mismatches.append(
                    f"{spec!r} {zone_name} after {moment}: robfig {instant(expected_unix)}, port {got}"
                )
                break
            moment = got
    assert not mismatches, f"{len(mismatches)} of {len(cases)} chains differ:\n" + "\n".join(mismatches[:20])


def test_most_recent_schedule_time_matches_the_controller() -> None:
    mismatches = []
    total = 0
    for case in VECTORS["most_recent"]:
        schedule, zone = parse_batch_schedule(case["spec"]), ZoneInfo(case["zone"])
        for earliest, now_s, now_ns, deadline, slot, missed, error in case["rows"]:
            total += 1
            args = (schedule, zone, instant(earliest), instant(now_s, now_ns))
            where = (
                f"{case['spec']!r} {case['zone']} earliest {instant(earliest)} now {instant(now_s, now_ns)}"
            )
            try:
                got = most_recent_schedule_time(
                    *args, starting_deadline_seconds=None if deadline < 0 else deadline
                )
            except UnfireableSchedule:
                if not error:
                    mismatches.append(f"{where}: port raised, controller did not")
                continue
            want = (None if slot < 0 else instant(slot), MISSED[missed], bool(error))
            if (got.slot, got.missed, False) != want:
                mismatches.append(f"{where}: controller {want}, port {(got.slot, got.missed)}")
    assert not mismatches, f"{len(mismatches)} of {total} differ:\n" + "\n".join(mismatches[:20])
