"""core.ages against k8s.io/apimachinery's own test table for duration.HumanDuration (v0.36.3,
pkg/util/duration/duration_test.go: TestHumanDuration and TestHumanDurationBoundaries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobsched.core.ages import age, human_duration, until

S, MS, NS = 1.0, 1e-3, 1e-9
MIN, H, D, Y = 60.0, 3600.0, 86400.0, 365 * 86400.0

UPSTREAM = [
    (S, "1s"),
    (70 * S, "70s"),
    (190 * S, "3m10s"),
    (70 * MIN, "70m"),
    (47 * H, "47h"),
    (49 * H, "2d1h"),
    ((8 * 24 + 2) * H, "8d"),
    (367 * 24 * H, "367d"),
    ((365 * 2 * 24 + 25) * H, "2y1d"),
    ((365 * 8 * 24 + 2) * H, "8y"),
    (-2 * S, "<invalid>"),
    (-2 * S + NS, "0s"),
    (0, "0s"),
    (S - MS, "0s"),
    (2 * MIN - MS, "119s"),
    (2 * MIN, "2m"),
    (2 * MIN + S, "2m1s"),
    (10 * MIN - MS, "9m59s"),
    (10 * MIN, "10m"),
    (10 * MIN + S, "10m"),
    (3 * H - MS, "179m"),
    (3 * H, "3h"),
    (3 * H + MIN, "3h1m"),
    (8 * H - MS, "7h59m"),
    (8 * H, "8h"),
    (8 * H + 59 * MIN, "8h"),
    (2 * D - MS, "47h"),
    (2 * D, "2d"),
    (2 * D + H, "2d1h"),
    (8 * D - MS, "7d23h"),
    (8 * D, "8d"),
    (8 * D + 23 * H, "8d"),
    (2 * Y - MS, "729d"),
    (2 * Y, "2y"),
    (2 * Y + 23 * H, "2y"),
    (2 * Y + 23 * H + 59 * MIN, "2y"),
    (2 * Y + D - MS, "2y"),
    (2 * Y + D, "2y1d"),
    (3 * Y, "3y"),
    (7 * Y, "7y"),
    (8 * Y - MS, "7y364d"),
    (8 * Y, "8y"),
    (8 * Y + 364 * D, "8y"),
    (9 * Y, "9y"),
]


@pytest.mark.parametrize(("seconds", "expected"), UPSTREAM, ids=[e for _, e in UPSTREAM])
def test_human_duration_matches_apimachinery(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_age_and_until() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert age(now - timedelta(minutes=3, seconds=10), now) == "3m10s"
    assert age(None, now) == "<none>"
    assert until(now + timedelta(hours=19), now) == "in 19h"
    assert until(None, now) == "<none>"
