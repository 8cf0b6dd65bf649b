"""Parsing cron ConfigMaps: good entries come out frozen, every mistake becomes a located Problem."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsched.core.cronspec import (
    CronEntry,
    CronSpecError,
    Problem,
    load_zone,
    normalize_schedule,
    parse_configmap,
    parse_entries_yaml,
)

POD_TEMPLATE: dict[str, Any] = {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def configmap(data: dict[str, Any], namespace: str = "batch", name: str = "crons") -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}, "data": data}


def entries_text(*entries: dict[str, Any]) -> str:
    return yaml.safe_dump({"entries": list(entries)})


def entry(**fields: Any) -> dict[str, Any]:
    return {"name": "job", "schedule": "0 0 * * *", "template": POD_TEMPLATE, **fields}


def parse_one(**fields: Any) -> tuple[list[CronEntry], list[Problem]]:
    return parse_entries_yaml(entries_text(entry(**fields)), "batch", "crons")


def test_defaults_follow_batch_v1() -> None:
    entries, problems = parse_one()
    assert problems == []
    (got,) = entries
    assert (got.namespace, got.configmap, got.name, got.schedule) == ("batch", "crons", "job", "0 0 * * *")
    assert got.time_zone == "UTC"
    assert not got.suspend
    assert got.concurrency_policy == "Allow"
    assert got.starting_deadline_seconds is None
    assert (got.successful_history, got.failed_history) == (3, 1)
    assert got.domains is None
    assert got.priority is None
    assert got.kind == "Pod"
    assert got.key == "batch/crons/job"


def test_all_fields() -> None:
    entries, problems = parse_one(
        timeZone="Europe/Berlin",
        suspend=True,
        concurrencyPolicy="Forbid",
        startingDeadlineSeconds=0,
        successfulJobsHistoryLimit=0,
        failedJobsHistoryLimit=5,
        domains=["virtual", "regular"],
        priority=7,
    )
    assert problems == []
    got = entries[0]
    assert got.time_zone == "Europe/Berlin"
    assert got.suspend
    assert got.concurrency_policy == "Forbid"
    assert got.starting_deadline_seconds == 0
    assert (got.successful_history, got.failed_history) == (0, 5)
    assert got.domains == ("virtual", "regular")
    assert got.priority == 7


def test_bare_list_document() -> None:
    entries, problems = parse_entries_yaml(yaml.safe_dump([entry()]), "batch", "crons")
    assert problems == []
    assert [e.name for e in entries] == ["job"]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("*/5 * * * *", "*/5 * * * *"),
        ("  0 0 * * *  ", "0 0 * * *"),
        ("0 9 * * MON-FRI", "0 9 * * MON-FRI"),
        ("0 0 1 jan,jul *", "0 0 1 jan,jul *"),
        ("0 0 ? * 1", "0 0 * * 1"),
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@DAILY", "0 0 * * *"),
    ],
)
def test_schedules_accepted(schedule: str, expected: str) -> None:
    assert normalize_schedule(schedule) == expected


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("", "empty"),
        ("0 0 0 * * *", "seconds are not supported"),
        ("0 0 *", "expected 5 fields"),
        ("@reboot", "@reboot is not supported"),
        ("@every 5m", "@every is not supported"),
        ("@fortnightly", "unknown descriptor"),
        ("TZ=UTC 0 0 * * *", "use the timeZone field"),
        ("CRON_TZ=Europe/Berlin 0 0 * * *", "use the timeZone field"),
        ("61 * * * *", "invalid schedule"),
        ("*/0 * * * *", "invalid schedule"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 L * *", "not supported"),
        ("H * * * *", "not supported"),
        ("0 0 * * 1#2", "characters outside"),
        ("0 0 * * MON5", "malformed"),
        ("0 0 * JAN MON-FRX", "not supported"),
        ("0 MON * * *", "not supported"),
    ],
)
def test_schedules_rejected(schedule: str, message: str) -> None:
    with pytest.raises(CronSpecError, match=message):
        normalize_schedule(schedule)


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("", "non-empty"),
        ("Local", "depends on the machine"),
        ("Mars/Olympus", "unknown time zone"),
        ("../etc/passwd", "not a valid"),
        ("/etc/localtime", "not a valid"),
    ],
)
def test_zones_rejected(zone: str, message: str) -> None:
    with pytest.raises(CronSpecError, match=message):
        load_zone(zone)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": None}, "entries[0].name", "required"),
        ({"name": "Bad_Name"}, "entries[0].name", "DNS-1123"),
        ({"name": "x" * 64}, "entries[0].name", "DNS-1123"),
        ({"schedule": None}, "entries[0].schedule", "required"),
        ({"schedule": 5}, "entries[0].schedule", "required"),
        ({"schedule": "0 0 0 * * *"}, "entries[0].schedule", "seconds"),
        ({"timeZone": "Nowhere/Land"}, "entries[0].timeZone", "unknown time zone"),
        ({"timeZone": 3}, "entries[0].timeZone", "must be a string"),
        ({"suspend": "yes please"}, "entries[0].suspend", "true or false"),
        ({"concurrencyPolicy": "Sometimes"}, "entries[0].concurrencyPolicy", "Allow, Forbid, Replace"),
        ({"startingDeadlineSeconds": -1}, "entries[0].startingDeadlineSeconds", "≥ 0"),
        ({"startingDeadlineSeconds": True}, "entries[0].startingDeadlineSeconds", "integer"),
        ({"successfulJobsHistoryLimit": "3"}, "entries[0].successfulJobsHistoryLimit", "integer"),
        ({"failedJobsHistoryLimit": -2}, "entries[0].failedJobsHistoryLimit", "≥ 0"),
        ({"domains": "virtual"}, "entries[0].domains", "non-empty list"),
        ({"domains": []}, "entries[0].domains", "non-empty list"),
        ({"domains": ["Virtual!"]}, "entries[0].domains[0]", "not a domain name"),
        ({"domains": ["a", "a"]}, "entries[0].domains", "twice"),
        ({"priority": 1.5}, "entries[0].priority", "integer"),
        ({"priority": 2**40}, "entries[0].priority", "between"),
        ({"kind": "CronJob"}, "entries[0].kind", "Pod, Job"),
        ({"timezone": "UTC"}, "entries[0]", "unknown fields 'timezone'"),
        ({"template": None}, "entries[0].template", "required"),
        ({"template": {"metadata": {}}}, "entries[0].template.spec", "required"),
        ({"template": {"spec": {}}}, "entries[0].template.spec.containers", "non-empty list"),
        ({"template": {"spec": {"containers": []}}}, "entries[0].template.spec.containers", "non-empty"),
        ({"template": {"spec": {"containers": ["c"]}}}, "entries[0].template.spec.containers[0]", "mapping"),
        (
            {"template": {"spec": {"containers": [{"name": "c"}]}}},
            "entries[0].template.spec.containers[0].image",
            "required",
        ),
        (
            {"template": {"metadata": {"namespace": "other"}, **POD_TEMPLATE}},
            "entries[0].template.metadata.namespace",
            "ConfigMap's namespace",
        ),
        (
            {"template": {"metadata": {"name": "fixed"}, **POD_TEMPLATE}},
            "entries[0].template.metadata.name",
            "must be omitted",
        ),
        (
            {"template": {"metadata": {"labels": {"on": True}}, **POD_TEMPLATE}},
            "entries[0].template.metadata.labels",
            "strings to strings",
        ),
        (
            {"template": {"spec": {**POD_TEMPLATE["spec"], "nodeName": "n1"}}},
            "entries[0].template.spec.nodeName",
            "must not be set",
        ),
        (
            {"template": {"spec": {**POD_TEMPLATE["spec"], "schedulerName": "default-scheduler"}}},
            "entries[0].template.spec.schedulerName",
            "'jobsched'",
        ),
        (
            {"template": {"spec": {**POD_TEMPLATE["spec"], "serviceAccountName": "Not_A_Name"}}},
            "entries[0].template.spec.serviceAccountName",
            "not a service account name",
        ),
        (
            {"template": {"spec": {**POD_TEMPLATE["spec"], "serviceAccount": 7}}},
            "entries[0].template.spec.serviceAccount",
            "not a service account name",
        ),
        (
            {
                "kind": "Job",
                "template": {"spec": {"template": {"metadata": {"namespace": "other"}, **POD_TEMPLATE}}},
            },
            "entries[0].template.spec.template.metadata.namespace",
            "ConfigMap's namespace",
        ),
        (
            {"template": {"spec": {**POD_TEMPLATE["spec"], "restartPolicy": "Always"}}},
            "entries[0].template.spec.restartPolicy",
            "Never or OnFailure",
        ),
        (
            {"kind": "Job", "template": POD_TEMPLATE},
            "entries[0].template.spec.template",
            "pod template of the Job",
        ),
        (
            {"kind": "Job", "template": {"spec": {"backoffLimit": -1, "template": POD_TEMPLATE}}},
            "entries[0].template.spec.backoffLimit",
            "≥ 0",
        ),
        (
            {"kind": "Job", "template": {"spec": {"completionMode": "Sharded", "template": POD_TEMPLATE}}},
            "entries[0].template.spec.completionMode",
            "Indexed",
        ),
        (
            {
                "kind": "Job",
                "template": {"spec": {"template": {"spec": {"containers": [], "nodeName": "x"}}}},
            },
            "entries[0].template.spec.template.spec.nodeName",
            "must not be set",
        ),
    ],
)
def test_entry_problems(fields: dict[str, Any], field: str, message: str) -> None:
    entries, problems = parse_one(**fields)
    assert entries == [], "an entry with a problem is dropped"
    assert any(p.field == field and message in p.message for p in problems), problems
    assert all(p.configmap == "batch/crons" for p in problems)


def test_problem_names_the_entry_or_its_index() -> None:
    text = entries_text(entry(name="ok", timeZone="Nowhere/Land"), entry(name=None))
    _, problems = parse_entries_yaml(text, "batch", "crons")
    assert {(p.entry, p.field) for p in problems} == {
        ("ok", "entries[0].timeZone"),
        ("#1", "entries[1].name"),
    }


def test_custom_scheduler_name() -> None:
    template = {"spec": {**POD_TEMPLATE["spec"], "schedulerName": "burst"}}
    text = entries_text(entry(template=template))
    assert parse_entries_yaml(text, "batch", "crons", scheduler_name="burst")[1] == []
    assert parse_entries_yaml(text, "batch", "crons")[1] != []


def test_non_json_yaml_values_are_problems() -> None:
    text = "entries:\n- name: job\n  schedule: '@daily'\n  template:\n    spec:\n      when: 2026-01-01\n"
    entries, problems = parse_entries_yaml(text, "batch", "crons")
    assert entries == []
    assert problems[0].field == "entries[0].template.spec.when"
    assert "quote" in problems[0].message


def test_alias_bomb_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    text = "\n".join(lines) + "\nentries:\n- name: job\n  schedule: '@daily'\n  template: {spec: *a11}\n"
    entries, problems = parse_entries_yaml(text, "batch", "crons")
    assert entries == []
    assert any("too large" in p.message for p in problems)


def test_good_entries_survive_bad_ones_and_bad_keys() -> None:
    cm = configmap(
        {
            "a.yaml": entries_text(entry(name="one"), entry(name="two", schedule="nope")),
            "b.yaml": "entries: [oops",
            "c.yaml": entries_text(entry(name="three")),
            "notes.txt": "ignored",
            "d.yml": entries_text(entry(name="four")),
        }
    )
    entries, problems = parse_configmap(cm)
    assert [e.name for e in entries] == ["one", "three"]
    fields = {p.field for p in problems}
    assert "data[a.yaml].entries[1].schedule" in fields
    assert "data[b.yaml]" in fields
    assert "data[d.yml]" in fields
    assert not any("notes.txt" in f for f in fields)


def test_duplicate_names_keep_the_first() -> None:
    cm = configmap(
        {
            "a.yaml": entries_text(entry(name="dup", schedule="1 * * * *"), entry(name="dup")),
            "b.yaml": entries_text(entry(name="dup", schedule="2 * * * *")),
        }
    )
    entries, problems = parse_configmap(cm)
    assert [(e.name, e.schedule) for e in entries] == [("dup", "1 * * * *")]
    assert [(p.entry, p.field) for p in problems] == [
        ("dup", "data[a.yaml].entries[1].name"),
        ("dup", "data[b.yaml].entries[0].name"),
    ]


def test_duplicate_names_in_one_text() -> None:
    entries, problems = parse_entries_yaml(entries_text(entry(), entry()), "batch", "crons")
    assert len(entries) == 1
    assert [p.field for p in problems] == ["entries[1].name"]


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"metadata": {"namespace": "batch"}, "data": {}}, "metadata.name"),
        ({"metadata": {"name": "x"}, "data": ["not", "a", "map"]}, "data"),
        ({"metadata": {"name": "x"}, "data": {"a.yaml": 5}}, "data[a.yaml]"),
        ({"metadata": {"name": "x"}, "data": {"a.yaml": "{entries: 5}"}}, "data[a.yaml].entries"),
        ({"metadata": {"name": "x"}, "data": {"a.yaml": "{entries: [], extra: 1}"}}, "data[a.yaml]"),
    ],
)
def test_configmap_level_problems(obj: dict[str, Any], field: str) -> None:
    _, problems = parse_configmap(obj)
    assert [p.field for p in problems] == [field]
    assert problems[0].entry is None


def test_missing_namespace_defaults_like_kubectl() -> None:
    entries, _ = parse_configmap({"metadata": {"name": "x"}, "data": {"a.yaml": entries_text(entry())}})
    assert entries[0].namespace == "default"


def test_template_is_frozen_copy() -> None:
    template = {"spec": {"containers": [{"name": "c", "image": "i"}]}}
    got = CronEntry("ns", "cm", "e", "@daily", template=template)
    template["spec"]["containers"][0]["image"] = "changed"
    assert got.template["spec"]["containers"][0]["image"] == "i"
    with pytest.raises(TypeError):
        got.template["spec"] = {}  # type: ignore[index]


def test_spec_hash_tracks_content() -> None:
    base = CronEntry("ns", "cm", "e", "@daily", template=POD_TEMPLATE)
    same = CronEntry("ns", "cm", "e", "@daily", template=POD_TEMPLATE)
    changed = CronEntry(
        "ns", "cm", "e", "@daily", template={"spec": {"containers": [{"name": "c", "image": "j"}]}}
    )
    assert base.spec_hash == same.spec_hash
    assert base == same
    assert hash(base) == hash(same)
    assert base.spec_hash != changed.spec_hash
    assert base != changed
    assert (
        base.spec_hash != CronEntry("ns", "cm", "e", "@daily", suspend=True, template=POD_TEMPLATE).spec_hash
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
entry_keys = st.sampled_from(["name", "schedule", "timeZone", "domains", "priority", "kind", "template", "x"])


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(entry_keys, json_values, max_size=8),
    st.one_of(json_values, st.dictionaries(st.sampled_from(["a.yaml", "b"]), json_values)),
)
def test_parse_never_raises(raw_entry: dict[str, Any], data: Any) -> None:
    for obj in (
        configmap({"a.yaml": yaml.safe_dump({"entries": [raw_entry]})}),
        {"metadata": data, "data": data},
    ):
        entries, problems = parse_configmap(obj)
        assert all(isinstance(p, Problem) for p in problems)
        assert all(isinstance(e, CronEntry) for e in entries)
