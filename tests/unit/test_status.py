"""`jobsched status` without a cluster: rows for every entry of a cron ConfigMap (valid, never fired,
suspended, refused, unnamed, duplicate, unreadable key), the table's columns and ages, and the JSON shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from jobsched.core import cronplan
from jobsched.core.cronplan import EntryStatus
from jobsched.core.cronruns import RunRecord, RunState
from jobsched.core.statusrows import StatusRow, configmap_rows, status_from_cronjob
from jobsched.kube.statusmaps import status_body
from jobsched.settings import Settings
from jobsched.statuscmd import _Cluster, render, rows_from

NOW = datetime(2030, 1, 1, 12, 7, 30, tzinfo=UTC)
POD = {"spec": {"containers": [{"name": "job", "image": "busybox:1.36"}]}}


def _configmap(namespace: str = "team-a") -> dict[str, Any]:
    entries = [
        {"name": "nightly", "schedule": "0 0 * * *", "timeZone": "Europe/Berlin", "template": POD},
        {"name": "hourly", "schedule": "@hourly", "domains": ["virtual", "regular"], "template": POD},
        {"name": "paused", "schedule": "*/5 * * * *", "suspend": True, "template": POD},
        {"name": "broken", "schedule": "61 * * * *", "timeZone": "Mars/Base", "template": POD},
        {"schedule": "* * * * *", "template": POD},
        {"name": "hourly", "schedule": "30 * * * *", "template": POD},
    ]
    return {
        "metadata": {"name": "crons", "namespace": namespace, "uid": "uid-crons"},
        "data": {"crons.yaml": yaml.safe_dump({"entries": entries}), "zz.yaml": "entries: [unclosed"},
    }


def _status_configmap(namespace: str = "team-a") -> dict[str, Any]:
    statuses = {
        "nightly": EntryStatus(
            NOW - timedelta(hours=12, minutes=7, seconds=30),
            NOW - timedelta(hours=12, minutes=6),
            (),
            NOW - timedelta(days=3),
        ),
        "broken": EntryStatus(NOW - timedelta(days=2), None, ("broken-pod",), NOW - timedelta(days=9)),
    }
    return status_body(
        namespace, "crons", "uid-crons", cronplan.status_document(statuses), "jobsched.io/cron"
    )


def _rows(enabled: bool | None = True) -> dict[str, StatusRow]:
    rows = configmap_rows(_configmap(), _status_configmap(), NOW, enabled, "jobsched")
    return {f"{row.source_label}|{row.valid}": row for row in rows}


def test_every_entry_is_a_row_valid_or_not() -> None:
    rows = _rows()
    assert sorted(rows) == [
        "crons/#4|False",
        "crons/broken|False",
        "crons/hourly|False",
        "crons/hourly|True",
        "crons/nightly|True",
        "crons/paused|True",
        "crons|False",
    ]
    nightly = rows["crons/nightly|True"]
    assert (nightly.schedule, nightly.time_zone, nightly.suspend, nightly.kind) == (
        "0 0 * * *",
        "Europe/Berlin",
        False,
        "Pod",
    )
    assert nightly.next_schedule == datetime(2030, 1, 1, 23, 0, tzinfo=UTC)  # midnight in Berlin
    assert (nightly.containers, nightly.images) == (("job",), ("busybox:1.36",))
    assert rows["crons/hourly|True"].status == EntryStatus()  # never fired
    assert rows["crons/hourly|True"].domains == ("virtual", "regular")
    assert rows["crons/paused|True"].next_schedule is None


def test_a_refused_entry_shows_what_could_be_read_and_why() -> None:
    broken = _rows()["crons/broken|False"]
    assert (broken.schedule, broken.time_zone, broken.next_schedule) == ("61 * * * *", "Mars/Base", None)
    assert broken.status.active == ("broken-pod",)  # recorded before it broke
    fields = [path for path, _ in broken.problems]
    assert fields == ["data[crons.yaml].entries[3].schedule", "data[crons.yaml].entries[3].timeZone"]
    duplicate = _rows()["crons/hourly|False"]
    assert duplicate.schedule == "30 * * * *"
    assert "duplicate entry name" in duplicate.problems[0][1]
    whole = _rows()["crons|False"]
    assert whole.entry is None
    assert whole.problems[0][0] == "data[zz.yaml]"
    assert "invalid YAML" in whole.problems[0][1]


def test_table_columns_ages_and_problems() -> None:
    rows = sorted(_rows().values(), key=lambda r: r.sort_key)
    text = render(rows, NOW, None, all_namespaces=False)
    lines = text.splitlines()
    assert [c.strip() for c in lines[0].split("   ") if c.strip()] == [
        "SOURCE",
        "SCHEDULE",
        "TIMEZONE",
        "SUSPEND",
        "ACTIVE",
        "LAST SCHEDULE",
        "LAST SUCCESS",
        "NEXT",
    ]
    by_source: dict[str, list[str]] = {}
    for line in lines[1:8]:
        by_source.setdefault(line.split()[0], line.split())  # the valid "hourly" comes before its duplicate
    assert by_source["crons/nightly"] == [
        "crons/nightly",
        "0",
        "0",
        "*",
        "*",
        "*",
        "Europe/Berlin",
        "False",
        "0",
        "12h",
        "12h",
        "in",
        "10h",
    ]
    assert by_source["crons/hourly"][-4:] == ["<none>", "<none>", "in", "52m"]
    assert by_source["crons/paused"][-3:] == ["<none>", "<none>", "<none>"]
    broken = by_source["crons/broken"]
    assert broken[-4:] == ["1", "2d", "<none>", "<invalid>"]
    assert "Problems:" in text
    assert "team-a/crons/broken: field data[crons.yaml].entries[3].timeZone: " in text
    assert "team-a/crons: field data[zz.yaml]: invalid YAML" in text


def test_all_namespaces_adds_the_namespace_column_and_wide_its_columns() -> None:
    rows = sorted(_rows().values(), key=lambda r: r.sort_key)
    header = render(rows, NOW, "wide", all_namespaces=True).splitlines()[0].split()
    assert header[0] == "NAMESPACE"
    assert header[-4:] == ["KIND", "DOMAINS", "CONTAINERS", "IMAGES"]


def test_a_namespace_not_opted_in_never_fires() -> None:
    rows = sorted(_rows(enabled=False).values(), key=lambda r: r.sort_key)
    assert all(row.next_schedule is None for row in rows)
    assert "<not opted in>" in render(rows, NOW, None, all_namespaces=False)


def test_json_shape() -> None:
    cluster = _Cluster(
        [_configmap("team-b"), _configmap("team-a")], [_status_configmap("team-a")], {"team-a"}
    )
    rows = rows_from(cluster, NOW, Settings())
    document = json.loads(render(rows, NOW, "json", all_namespaces=True))
    assert list(document) == ["items"]
    items = document["items"]
    assert [item["namespace"] for item in items] == ["team-a"] * 7 + ["team-b"] * 7
    nightly = next(i for i in items if i["entry"] == "nightly" and i["namespace"] == "team-a")
    assert nightly == {
        "namespace": "team-a",
        "source": {"kind": "ConfigMap", "name": "crons"},
        "entry": "nightly",
        "schedule": "0 0 * * *",
        "timeZone": "Europe/Berlin",
        "suspend": False,
        "kind": "Pod",
        "domains": None,
        "containers": ["job"],
        "images": ["busybox:1.36"],
        "active": [],
        "lastScheduleTime": "2030-01-01T00:00:00Z",
        "lastSuccessfulTime": "2030-01-01T00:01:30Z",
        "nextScheduleTime": "2030-01-01T23:00:00Z",
        "valid": True,
        "namespaceEnabled": True,
        "problems": [],
    }
    other = next(i for i in items if i["entry"] == "nightly" and i["namespace"] == "team-b")
    assert (other["namespaceEnabled"], other["nextScheduleTime"], other["lastScheduleTime"]) == (
        False,
        None,
        None,
    )
    assert yaml.safe_load(render(rows, NOW, "yaml", all_namespaces=True)) == document


def test_an_adopted_cronjobs_status_is_its_own() -> None:
    cronjob = {
        "status": {
            "lastScheduleTime": "2030-01-01T12:00:00Z",
            "lastSuccessfulTime": "2030-01-01T11:00:40Z",
            "active": [{"kind": "Job", "name": "report-29000000"}],
        }
    }
    assert status_from_cronjob(cronjob) == EntryStatus(
        datetime(2030, 1, 1, 12, tzinfo=UTC),
        datetime(2030, 1, 1, 11, 0, 40, tzinfo=UTC),
        ("report-29000000",),
    )
    assert status_from_cronjob({}) == EntryStatus()


def test_live_runs_bring_the_record_up_to_date() -> None:
    fired = NOW - timedelta(seconds=2)  # a storm under way: the record still says the slot before
    running = RunRecord("Pod", "team-a", "crons-nightly-x", "uid-x", "crons.nightly", fired, RunState.ACTIVE)
    rows = configmap_rows(
        _configmap(), _status_configmap(), NOW, True, "jobsched", {"crons.nightly": [running]}
    )
    by_source = {(row.source_label, row.valid): row for row in rows}
    nightly = by_source["crons/nightly", True].status
    assert (nightly.last_schedule_time, nightly.active) == (fired, ("crons-nightly-x",))
    assert nightly.last_successful_time == NOW - timedelta(hours=12, minutes=6)  # kept from the record
    assert by_source["crons/broken", False].status.active == ()  # its recorded pod is gone


def _cronjob(name: str, schedule: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "uid": f"uid-{name}",
            "labels": {"jobsched.io/managed": "true"},
        },
        "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": POD}}, **spec},
        "status": {
            "lastScheduleTime": "2030-01-01T12:00:00Z",
            "active": [{"kind": "Job", "name": f"{name}-1"}],
        },
    }


def test_adopted_cronjobs_are_rows_with_their_own_status_and_a_refused_one_says_why() -> None:
    cluster = _Cluster(
        configmaps=[],
        status_configmaps=[],
        enabled={"team-a"},
        runs=[],
        cronjobs=[_cronjob("report", "0 * * * *", timeZone="Europe/Berlin"), _cronjob("sunday", "0 0 * * 7")],
    )
    rows = {row.source_label: row for row in rows_from(cluster, NOW, Settings())}
    report = rows["CronJob/report"]
    assert report.valid
    assert (report.schedule, report.time_zone) == ("0 * * * *", "Europe/Berlin")
    assert report.status.last_schedule_time == datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert report.status.active == ("report-1",)
    assert report.next_schedule == datetime(2030, 1, 1, 13, tzinfo=UTC)  # 14:00 in Berlin
    sunday = rows["CronJob/sunday"]
    assert not sunday.valid  # batch/v1's own range rules: day of week 0-6
    assert [f for f, _ in sunday.problems] == ["spec.schedule"]
