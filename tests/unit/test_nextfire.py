"""`jobsched next`: the engine's slot math, printed in UTC and local time, DST and leap days included."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronslots import next_slot
from jobsched.nextfire import main, next_fires


def write_configmap(path: Path, entries: list[dict[str, object]]) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "ns", "labels": {"jobsched.io/cron": "true"}},
        "data": {"crons.yaml": yaml.safe_dump({"entries": entries})},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def entry(name: str, schedule: str, zone: str = "UTC", **extra: object) -> dict[str, object]:
    template = {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    return {"name": name, "schedule": schedule, "timeZone": zone, "template": template, **extra}


def test_prints_utc_and_local_across_the_spring_gap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Europe/Berlin skips 02:00-03:00 on 2026-03-29: the 02:30 run fires once, at 03:00 local.
    path = write_configmap(tmp_path / "cm.yaml", [entry("nightly", "30 2 * * *", "Europe/Berlin")])
    assert main([str(path)], count=3, after=datetime(2026, 3, 27, 12, tzinfo=UTC)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "ns/cm/nightly  2026-03-28T01:30:00Z  2026-03-28T02:30:00+01:00 (Europe/Berlin)",
        "ns/cm/nightly  2026-03-29T01:00:00Z  2026-03-29T03:00:00+02:00 (Europe/Berlin)",
        "ns/cm/nightly  2026-03-30T00:30:00Z  2026-03-30T02:30:00+02:00 (Europe/Berlin)",
    ]


def test_suspended_entries_and_unreadable_files_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_configmap(tmp_path / "cm.yaml", [entry("paused", "@hourly", suspend=True)])
    assert main([str(path), str(tmp_path / "missing.yaml")], count=1) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == "ns/cm/paused  suspended"
    assert "missing.yaml" in captured.err


def leap_entry(schedule: str, zone: str = "UTC") -> CronEntry:
    return CronEntry(namespace="ns", configmap="cm", name="leap", schedule=schedule, time_zone=zone)


def test_the_29th_of_february_fires_only_in_leap_years() -> None:
    fires = next_fires(leap_entry("0 0 29 2 *"), datetime(2025, 3, 1, tzinfo=UTC), 3)
    assert [f.year for f in fires] == [2028, 2032, 2036]
    assert all((f.month, f.day) == (2, 29) for f in fires)


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    zone=st.sampled_from(
        ["UTC", "Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"]
    ),
)
def test_month_end_schedules_land_on_real_days_and_advance(start: datetime, zone: str) -> None:
    """Daily at 23:30 on the 28th-31st: every fire is a real local date, strictly increasing, and a
    leap year's 29 February is never skipped."""
    e = leap_entry("30 23 28-31 * *", zone)
    after = start.replace(tzinfo=UTC)
    fires = next_fires(e, after, 8)
    assert all(b > a for a, b in zip([after, *fires], fires, strict=False))
    for fire in fires:
        local = fire.astimezone(e.zone)
        assert local.day >= 28
        if local.month == 2 and local.day == 28:
            year = local.year
            leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
            following = next_slot(e, fire).astimezone(e.zone)
            assert (following.month, following.day) == ((2, 29) if leap else (3, 28))
    assert fires[-1] - after < timedelta(days=120)


# --- bad entries and bad flags: reported, never skipped silently, never a traceback ---------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "jobsched", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_bad_entries_are_reported_as_validate_reports_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_configmap(
        tmp_path / "cm.yaml",
        [entry("good", "0 0 * * *"), entry("bad", "0 0 * * *", "Mars/Olympus"), entry("late", "61 * * * *")],
    )
    assert main([str(path)], count=1, after=datetime(2026, 1, 1, tzinfo=UTC)) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["ns/cm/good  2026-01-02T00:00:00Z  2026-01-02T00:00:00+00:00 (UTC)"]
    assert captured.err.splitlines() == [
        f"{path}: ns/cm: entry bad: data[crons.yaml].entries[1].timeZone: unknown time zone 'Mars/Olympus'",
        f"{path}: ns/cm: entry late: data[crons.yaml].entries[2].schedule: invalid schedule: "
        + captured.err.splitlines()[1].split("invalid schedule: ")[1],
    ]


def test_the_end_of_the_calendar_is_said_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_configmap(tmp_path / "cm.yaml", [entry("yearly", "@yearly")])
    assert main([str(path)], count=3, after=datetime(9998, 6, 1, tzinfo=UTC)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ns/cm/yearly  9999-01-01T00:00:00Z  9999-01-01T00:00:00+00:00 (UTC)",
        "ns/cm/yearly  no more fire times before the year 10000",
    ]


def test_a_date_after_is_read_as_utc_midnight(tmp_path: Path) -> None:
    path = write_configmap(tmp_path / "cm.yaml", [entry("daily", "30 0 * * *")])
    run = run_cli("next", str(path), "--after", "2026-03-08", "--count", "1")
    assert run.returncode == 0, run
    assert run.stdout.split()[1] == "2026-03-08T00:30:00Z"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--count", "-1"], "--count: must be a whole number from 1 to 1000, got '-1'"),
        (["--count", "abc"], "--count: must be a whole number from 1 to 1000, got 'abc'"),
        (["--count", "9" * 5000], "--count: must be a whole number from 1 to 1000"),
        (["--after", "2026-03-08T25:00"], "--after: '2026-03-08T25:00' is not an instant"),
        (["--after", "tomorrow"], "--after: 'tomorrow' is not an instant"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        ([], None),
    ],
)
def test_bad_flags_print_one_line_and_exit_2(tmp_path: Path, args: list[str], words: str | None) -> None:
    path = write_configmap(tmp_path / "cm.yaml", [entry("daily", "@daily")])
    run = run_cli("next", *([str(path)] if words else []), *args)
    assert run.returncode == 2, run
    assert run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert line.startswith("jobsched next: ")
    assert (words or "required: files") in line
    assert len(line) < 300


@pytest.mark.parametrize(
    "content",
    [
        "kind: ConfigMap\nmetadata: {name: x, labels: {jobsched.io/cron: 'true'}}\n"
        + "data: {a.yaml: 'entries: [{name: a, priority: "
        + "1" * 5000
        + "}]'}\n",
        "kind: ConfigMap\npriority: " + "1" * 5000 + "\n",
        "kind: ConfigMap\nmetadata: [unclosed\n",
    ],
)
def test_unreadable_input_is_one_line_and_status_1(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    run = run_cli("next", str(bad), str(tmp_path / "missing.yaml"))
    assert run.returncode == 1, run
    assert "Traceback" not in run.stdout + run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{bad}: ")
    assert lines[1] == f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory"
