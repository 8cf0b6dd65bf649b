"""Parsing cron ConfigMaps: good entries come out frozen, every mistake becomes a located Problem."""

from __future__ import annotations

import base64
import dataclasses
import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsched.core import cronentry
from jobsched.core.cronentry import CronEntry, Problem
from jobsched.core.cronlimits import MAX_CONFIGMAP_BYTES, MAX_DEADLINE_SECONDS, MAX_PROBLEMS
from jobsched.core.cronschedule import CronSpecError, load_zone, normalize_schedule
from jobsched.core.cronslots import due_slot
from jobsched.core.cronspec import parse_configmap, parse_entries_yaml

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


def test_a_template_equal_to_a_good_one_is_shared_and_a_bad_one_after_it_still_reported() -> None:
    bad = {**POD_TEMPLATE, "metadata": {"namespace": "elsewhere"}}
    text = entries_text(
        entry(name="a"),
        entry(name="b", schedule="@hourly"),
        entry(name="c", template=bad),
        entry(name="d", kind="Job"),  # equal to a good Pod template, but not checked as a Job template
        entry(name="e"),
    )
    entries, problems = parse_entries_yaml(text, "batch", "crons")
    assert [e.name for e in entries] == ["a", "b", "e"]
    assert entries[0].template is entries[1].template is entries[2].template
    assert {(p.entry, p.field) for p in problems} >= {("c", "entries[2].template.metadata.namespace")}
    assert "d" in {p.entry for p in problems}


def test_an_equal_template_is_judged_like_the_first_one_whatever_the_order() -> None:
    bad = {**POD_TEMPLATE, "metadata": {"namespace": "elsewhere"}}
    first_bad, _ = parse_entries_yaml(entries_text(entry(name="x", template=bad), entry()), "batch", "crons")
    first_good, problems = parse_entries_yaml(
        entries_text(entry(), entry(name="x", template=bad)), "batch", "crons"
    )
    assert [e.name for e in first_bad] == [e.name for e in first_good] == ["job"]
    assert [p.entry for p in problems] == ["x"]


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


# --- hostile input: bounded work, clean problems --------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    """About a kilobyte: `levels` anchored lists of ten aliases each, 10^levels values expanded."""
    lines = ["- &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"- &l{i} [{','.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("field", ["timeZone", "schedule", "name", "domains", "priority", "kind", "suspend"])
def test_an_alias_bomb_in_a_scalar_field_is_refused_before_it_expands(field: str) -> None:
    ok = entries_text(entry(name="ok"))[len("entries:\n") :]
    text = billion_laughs() + ok + f"- {{name: bomb, schedule: '@daily', {field}: *l8}}\n"
    if field == "name":
        text = text.replace("{name: bomb, ", "{")
    assert len(text) < 1200
    entries, problems = parse_configmap(configmap({"a.yaml": text}))
    assert [e.name for e in entries] == ["ok"]
    path = "data[a.yaml][10]"
    assert any(p.field.startswith(path) for p in problems), problems
    assert all(len(p.message) < 300 for p in problems)


def test_an_alias_bomb_in_the_template_is_refused_and_named() -> None:
    text = "entries:\n- name: bomb\n  schedule: '@daily'\n  template:\n    spec:\n"
    text += "      containers: [{name: c, image: i}]\n      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
    text += "".join(f"      l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9))
    entries, problems = parse_entries_yaml(text, "batch", "crons")
    assert entries == []
    (problem,) = problems
    assert (problem.entry, problem.field) == ("bomb", "entries[0].template")
    assert "too large: more than 21,000 values" in problem.message


def test_the_configmap_budget_is_shared_by_its_keys() -> None:
    # Each key shares a 19,000-value list among 5 entries' templates: each entry is within its own
    # limit, but the ConfigMap may hold 524,288 values in all, whichever keys they are in.
    text = "defs: &args [" + ", ".join(["x"] * 19_000) + "]\nentries:\n"
    template = "{spec: {containers: [{name: c, image: i, args: *args}]}}"
    data = {
        f"k{k}.yaml": text
        + "".join(f"- {{name: e{k}-{i}, schedule: '@daily', template: {template}}}\n" for i in range(5))
        for k in range(8)
    }
    entries, problems = parse_configmap(configmap(data))
    refused = [p for p in problems if p.entry is not None]
    unreadable = [p for p in problems if p.entry is None and "budget" in p.message]
    assert all("does not fit in what is left of the ConfigMap's budget" in p.message for p in refused)
    assert all(p.field.endswith(".template") for p in refused)
    assert refused
    assert unreadable  # the later keys' own 19,000 values no longer fit either
    assert len(entries) + len(refused) + 5 * len(unreadable) == 40
    assert (len(entries) + len(refused)) * 19_000 <= 524_288 + 5 * 19_000


@pytest.mark.parametrize(
    ("text", "entry_label", "field", "key"),
    [
        (
            "- {name: a, schedule: '@daily', schedule: '@hourly', template: {spec: {containers: [{name: c, image: i}]}}}",
            "a",
            "[0].schedule",
            "'schedule'",
        ),
        (
            "- name: a\n  name: b\n  schedule: '@daily'\n  template: {spec: {containers: [{name: c, image: i}]}}",
            "#0",
            "[0].name",
            "'name'",
        ),
        (
            "- name: a\n  schedule: '@daily'\n  template:\n    spec:\n      containers: [{name: c, image: i, image: j}]",
            "a",
            "[0].template.spec.containers[0].image",
            "'image'",
        ),
    ],
)
def test_duplicate_keys_are_problems_naming_the_key(
    text: str, entry_label: str, field: str, key: str
) -> None:
    entries, problems = parse_entries_yaml(
        text + "\n- " + yaml.safe_dump(entry(name="ok")).replace("\n", "\n  "), "b", "c"
    )
    assert [e.name for e in entries] == ["ok"]
    (problem,) = problems
    assert (problem.entry, problem.field) == (entry_label, field)
    assert f"duplicate key {key}" in problem.message


def test_a_duplicate_entries_key_makes_the_data_key_unreadable() -> None:
    text = entries_text(entry(name="first")) + entries_text(entry(name="second"))
    entries, problems = parse_configmap(configmap({"a.yaml": text, "b.yaml": entries_text(entry(name="b"))}))
    assert [e.name for e in entries] == ["b"]
    assert [(p.field, p.entry) for p in problems] == [("data[a.yaml]", None)]
    assert "duplicate key 'entries'" in problems[0].message


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"startingDeadlineSeconds": 10**12},
            "entries[0].startingDeadlineSeconds",
            "≤ 2147483647 (about 68 years",
        ),
        ({"successfulJobsHistoryLimit": 2**31}, "entries[0].successfulJobsHistoryLimit", "≤ 2147483647"),
        ({"failedJobsHistoryLimit": 2**40}, "entries[0].failedJobsHistoryLimit", "≤ 2147483647"),
        ({"priority": -(2**31) - 1}, "entries[0].priority", "between"),
        ({"schedule": " " * 2000 + "@daily"}, "entries[0].schedule", "at most 1024"),
        ({"timeZone": "Europe/" + "x" * 300}, "entries[0].timeZone", "not a valid IANA"),
        ({"domains": [f"d{i}" for i in range(33)]}, "entries[0].domains", "at most 32"),
        (
            {"template": {"spec": {**POD_TEMPLATE["spec"], "activeDeadlineSeconds": 2**63}}},
            "entries[0].template.spec.activeDeadlineSeconds",
            "64 bits",
        ),
        (
            {"kind": "Job", "template": {"spec": {"parallelism": 2**31, "template": POD_TEMPLATE}}},
            "entries[0].template.spec.parallelism",
            "≤ 2147483647",
        ),
        (
            {"kind": "Job", "template": {"spec": {"backoffLimit": 2**63, "template": POD_TEMPLATE}}},
            "entries[0].template.spec.backoffLimit",
            "64 bits",
        ),
    ],
)
def test_numbers_and_lengths_out_of_range(fields: dict[str, Any], field: str, message: str) -> None:
    entries, problems = parse_one(**fields)
    assert entries == []
    assert any(p.field == field and message in p.message for p in problems), problems


def test_every_accepted_deadline_fits_the_calendar() -> None:
    entries, problems = parse_one(startingDeadlineSeconds=MAX_DEADLINE_SECONDS, schedule="0 0 1 1 *")
    assert problems == []
    # In year 9950, slot + deadline would be past year 9999: the decision never computes it.
    now = datetime(9950, 6, 1, tzinfo=UTC)
    decision = due_slot(entries[0], now - timedelta(days=400), now)
    assert decision.fire == datetime(9950, 1, 1, tzinfo=UTC)
    assert not decision.too_late


def test_a_five_thousand_digit_number_is_a_problem_at_its_field() -> None:
    text = entries_text(entry(priority=1)).replace("priority: 1", "priority: " + "7" * 5000)
    entries, problems = parse_entries_yaml(text, "batch", "crons")
    assert entries == []
    (problem,) = problems
    assert (problem.entry, problem.field) == ("job", "entries[0].priority")
    assert "a number of 5,000 digits" in problem.message


@pytest.mark.parametrize(
    ("name", "runs"),
    [
        ("a" * 237, True),
        ("a" * 238, False),
        ("a." * 118 + "b", True),  # 237 characters, dots included
        ("a" * 253, False),
        ("a" * 254, False),
        ("Bad_Name", False),
        ("name\n", False),
    ],
)
def test_a_configmap_whose_status_name_cannot_fit_does_not_run(name: str, runs: bool) -> None:
    entries, problems = parse_configmap(configmap({"a.yaml": entries_text(entry())}, name=name))
    assert bool(entries) is runs
    assert [p.field for p in problems] == ([] if runs else ["metadata.name"])
    assert all(len(p.configmap) < 300 for p in problems)


def test_a_bad_namespace_is_a_problem() -> None:
    entries, problems = parse_configmap(configmap({"a.yaml": entries_text(entry())}, namespace="x" * 64))
    assert entries == []
    assert [p.field for p in problems] == ["metadata.namespace"]


def test_data_over_the_apiservers_mebibyte_is_a_problem_and_is_not_parsed() -> None:
    big = entries_text(
        entry(template={"spec": {**POD_TEMPLATE["spec"], "args": ["x" * MAX_CONFIGMAP_BYTES]}})
    )
    assert len(big) > MAX_CONFIGMAP_BYTES
    entries, problems = parse_configmap(configmap({"a.yaml": big}))
    assert entries == []
    (problem,) = problems
    assert problem.field == "data"
    assert f"holds {len(big.encode()):,} bytes" in problem.message
    # binaryData counts, decoded; keys do not.
    half = "x" * (MAX_CONFIGMAP_BYTES // 2)
    both = {
        **configmap({"a.yaml": entries_text(entry()), "pad": half}),
        "binaryData": {"b": base64.b64encode(half.encode()).decode()},
    }
    assert parse_configmap(both)[1][0].field == "data"


def test_data_keys_the_apiserver_refuses_are_problems() -> None:
    _, problems = parse_configmap(configmap({"bad key.yaml": "", "..a.yaml": "", "ok.yaml": ""}))
    assert sorted(p.field for p in problems) == ["data[..a.yaml]", "data[bad key.yaml]"]


def test_messages_never_quote_a_value_in_full() -> None:
    huge = "z" * 1_000_000
    text = entries_text(
        entry(name=huge),
        entry(name="b", timeZone=huge),
        entry(name="c", **{huge: 1}),
        entry(name="d", template={"spec": {**POD_TEMPLATE["spec"], "serviceAccountName": huge}}),
        entry(name="e", domains=[huge]),
        entry(name="f", concurrencyPolicy=["q" * 1000] * 100),
    )
    _, problems = parse_entries_yaml(text, "batch", "crons")
    assert len(problems) == 6
    assert all(len(p.message) + len(p.field) < 400 for p in problems), [len(p.message) for p in problems]


def test_problems_are_capped_per_configmap() -> None:
    bad = [entry(name=f"e{i}", timeZone="Mars/Base") for i in range(1_200)]
    entries, problems = parse_configmap(configmap({"a.yaml": entries_text(*bad)}))
    assert entries == []
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].message.startswith("200 more problems, not listed")


def test_an_entry_pickles_with_every_field_and_is_not_hashed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        f.name: getattr(CronEntry("n", "c", "e", "@daily"), f.name)
        for f in dataclasses.fields(CronEntry)
        if f.init
    }
    values.update(time_zone="Europe/Berlin", suspend=True, starting_deadline_seconds=5, domains=("a",))
    values.update(priority=3, kind="Job", template={"spec": {"template": POD_TEMPLATE}})
    entry = CronEntry(**values)
    pickled = pickle.dumps(entry)
    monkeypatch.setattr(cronentry, "_hash_entry", lambda entry: pytest.fail("hashed again"))
    again = pickle.loads(pickled)
    assert again == entry
    assert all(getattr(again, f.name) == getattr(entry, f.name) for f in dataclasses.fields(CronEntry))


def test_parse_results_pickle_for_a_worker_process() -> None:
    cm = configmap({"a.yaml": entries_text(entry(domains=["virtual"]), entry(name="bad", kind="?"))})
    result = parse_configmap(cm)
    again = pickle.loads(pickle.dumps(result))
    assert again == result
    assert [e.spec_hash for e in again[0]] == [e.spec_hash for e in result[0]]
    with pytest.raises(TypeError):
        again[0][0].template["spec"] = {}  # type: ignore[index]


def test_the_issues_kilobyte_bomb_is_one_problem_for_its_key() -> None:
    """As filed: anchors at the top of the document, aliased from an entry's scalar field."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "\n".join(lines) + "\nentries:\n- {name: x, schedule: '@daily', timeZone: *a8}\n"
    assert len(text) < 1024
    cm = configmap({"bomb.yaml": text, "good.yaml": entries_text(entry())})
    entries, problems = parse_configmap(cm)
    assert [e.name for e in entries] == ["job"]
    (problem,) = problems
    assert (problem.entry, problem.field) == (None, "data[bomb.yaml]")
    assert problem.message.startswith("too large once YAML aliases are expanded")
