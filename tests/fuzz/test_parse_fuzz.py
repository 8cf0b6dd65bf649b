"""Fuzzing the ConfigMap parser: it never raises, keeps every good entry, and locates every bad one."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import yaml
from hypothesis import Phase, assume, example, given
from hypothesis import strategies as st

from jobsched.core.cronentry import CronEntry, Problem, thaw
from jobsched.core.cronlimits import (
    ENTRY_LIMITS,
    MAX_CONFIGMAP_VALUES,
    MAX_TEMPLATE_DEPTH,
    MAX_TEMPLATE_NODES,
)
from jobsched.core.cronspec import parse_configmap
from jobsched.core.naming import slot_labels_and_annotations, slot_object_name
from jobsched.core.vocabulary import STATUS_SUFFIX
from tests.fuzz.strategies import (
    SCALAR_FIELDS,
    Bad,
    CronMap,
    _at,
    _pod_spec_path,
    alias_graphs,
    bad_entries,
    cron_configmaps,
    dump_yaml,
    expanded_size,
    fuzz_settings,
    good_entries,
    max_depth,
    names_at_limits,
    not_yaml,
    texts,
)


def check(cm: CronMap) -> tuple[list[CronEntry], list[Problem]]:
    """Parses `cm` and checks it against what the strategy says each entry and key must give."""
    entries, problems = parse_configmap(cm.body)
    where = {p.path: p for p in cm.placed}
    # Every good entry comes back, in order, unchanged in meaning; nothing else does.
    goods = cm.goods()
    assert [e.name for e in entries] == [g.name for g in goods], problems
    for got, good in zip(entries, goods, strict=True):
        assert (got.schedule, got.time_zone) == (good.schedule.strip(), good.zone)
        assert f"{got.namespace}/{got.configmap}" == cm.ref
    # Every bad entry is reported, under its label, at the field that was broken.
    for placed in cm.bads():
        wanted = (placed.label, placed.field_path())
        assert wanted in {(p.entry, p.field) for p in problems}, (placed.spec, problems)
    for field in cm.key_problems:
        assert (None, field) in {(p.entry, p.field) for p in problems}, (field, problems)
    # Every problem belongs to a bad entry or a bad key: nothing is both accepted and reported.
    for problem in problems:
        assert problem.configmap == cm.ref
        if problem.entry is None:
            assert problem.field in cm.key_problems, problem
            continue
        owner = [
            p
            for path, p in where.items()
            if problem.field == path or problem.field.startswith((f"{path}.", f"{path}["))
        ]
        owner = [p for p in owner if not any(o.path != p.path and o.path.startswith(p.path) for o in owner)]
        assert len(owner) == 1, problem
        assert isinstance(owner[0].spec, Bad), (problem, owner[0].spec)
        assert problem.entry == owner[0].label, problem
        assert problem.message
    return entries, problems


@fuzz_settings(1.0)
@given(cron_configmaps())
def test_good_entries_survive_and_bad_ones_are_located(cm: CronMap) -> None:
    check(cm)


@fuzz_settings(0.5)
@given(st.data(), st.sampled_from(["batch", "kube-system", "a" * 63]))
def test_every_single_mutation_is_reported(data: st.DataObject, namespace: str) -> None:
    """One bad entry between two good ones, one layout: the bad one alone is reported."""
    first = data.draw(good_entries("first", namespace))
    bad = data.draw(bad_entries("middle", namespace))
    last = data.draw(good_entries("last", namespace))
    body = {
        "metadata": {"namespace": namespace, "name": "crons"},
        "data": {"crons.yaml": dump_yaml({"entries": [first.raw, bad.raw, last.raw]})},
    }
    entries, problems = parse_configmap(body)
    assert [(e.name, e.schedule, e.time_zone) for e in entries] == [
        (g.name, g.schedule.strip(), g.zone) for g in (first, last)
    ]
    path = "data[crons.yaml].entries[1]"
    field = f"{path}.{bad.field}" if bad.field else path
    label = "middle" if bad.named else "#1"
    assert (label, field) in {(p.entry, p.field) for p in problems}, (bad.what, problems)
    assert all(p.entry == label and p.field.startswith(path) for p in problems), (bad.what, problems)


@fuzz_settings(0.5)
@given(not_yaml, cron_configmaps(bad=False))
def test_text_that_is_not_yaml_is_one_problem_naming_its_key(text: str, cm: CronMap) -> None:
    cm.body["data"]["broken.yaml"] = text
    cm.key_problems.append("data[broken.yaml]")
    _, problems = check(cm)
    assert [p.field for p in problems] == ["data[broken.yaml]"]
    assert problems[0].message.startswith("invalid YAML")


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(texts | st.integers(), kids, max_size=4),
    max_leaves=30,
)
entry_fields = st.sampled_from(
    [
        "name",
        "schedule",
        "timeZone",
        "suspend",
        "concurrencyPolicy",
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
        "domains",
        "priority",
        "kind",
        "template",
        "spec",
        "containers",
    ]
)
yaml_alphabet = st.sampled_from([*"abcz019:-[]{}&*!|>'\"#\n\t ,?@%.~<=\\", "entries", "name", "\ud800", "é"])
raw_texts = st.one_of(
    st.lists(yaml_alphabet, max_size=120).map("".join),
    st.text(max_size=200),
    st.builds(
        yaml.safe_dump,
        st.dictionaries(
            st.just("entries"), st.lists(st.dictionaries(entry_fields, json_like, max_size=8), max_size=4)
        ),
    ),
    st.builds(yaml.safe_dump, json_like),
)


@fuzz_settings(1.0)
@given(
    st.dictionaries(
        st.one_of(st.sampled_from(["a.yaml", "b.yaml", "c.yml", "d"]), st.integers()),
        raw_texts | json_like,
        max_size=4,
    )
    | json_like,
    json_like,
)
# Found by fuzzing: a deep template overflowed the stack, a huge integer or a lone surrogate made PyYAML
# raise ValueError; each used to escape parse_configmap.
@example({"a.yaml": "entries: [{name: a, template: {spec: " + "[" * 500 + "]" * 500 + "}}]"}, None)
@example({"a.yaml": "entries: [{name: a, priority: " + "1" * 5000 + "}]"}, None)
@example({"a.yaml": "- {name: \ud800}"}, None)
def test_parse_never_raises(data: Any, metadata: Any) -> None:
    for obj in (
        {"metadata": {"name": "x", "namespace": "y"}, "data": data},
        {"metadata": metadata, "data": data},
        data,
    ):
        entries, problems = parse_configmap(obj)
        assert all(isinstance(e, CronEntry) for e in entries)
        assert all(isinstance(p, Problem) and p.field and p.message for p in problems)
        # Nothing is both accepted and reported (a duplicate is reported at its own later position).
        named = {p.entry for p in problems if p.entry is not None and "duplicate" not in p.message}
        assert not named & {e.name for e in entries}


# Shrinking thousands of entries takes minutes; a failure still prints its reproduction blob.
@fuzz_settings(0.03, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.data())
def test_thousands_of_entries(data: st.DataObject) -> None:
    """A large ConfigMap: the good entries (most of them) all come back, each bad one is reported."""
    good = data.draw(good_entries("template", "batch"))
    count = data.draw(st.integers(1000, 3000))
    raws = [{**good.raw, "name": f"e{i}"} for i in range(count)]
    bad_at = set(data.draw(st.lists(st.integers(0, count - 1), max_size=20)))
    for index in bad_at:
        raws[index] = {**raws[index], "timeZone": "Mars/Olympus"}
    dup = data.draw(st.integers(0, count - 1))
    raws.append({**good.raw, "name": f"e{dup}"})
    body = {
        "metadata": {"name": "big", "namespace": "batch"},
        "data": {"big.yaml": yaml.safe_dump({"entries": raws})},
    }
    entries, problems = parse_configmap(body)
    # The duplicate runs only if the entry whose name it repeats was dropped.
    assert [e.name for e in entries] == [f"e{i}" for i in range(count) if i not in bad_at] + (
        [f"e{dup}"] if dup in bad_at else []
    )
    assert {(p.entry, p.field) for p in problems} == {
        (f"e{i}", f"data[big.yaml].entries[{i}].timeZone") for i in bad_at
    } | ({(f"e{dup}", f"data[big.yaml].entries[{count}].name")} if dup not in bad_at else set())


@fuzz_settings(0.1)
@given(
    st.sampled_from([None, {}, [], "text", 5]),
    st.dictionaries(st.sampled_from(["notes.txt", "a.json", "x"]), texts),
)
def test_data_missing_or_without_cron_keys(data: Any, other: dict[str, str]) -> None:
    entries, problems = parse_configmap({"metadata": {"name": "x"}, "data": data})
    assert entries == []
    assert [p.field for p in problems] == ([] if data in (None, {}) else ["data"])
    assert parse_configmap({"metadata": {"name": "x"}, "data": other}) == ([], [])
    assert parse_configmap({"metadata": {"name": "x"}}) == ([], [])


# --- hostile input: aliases, limits, names ----------------------------------------------------------

# What the apiserver accepts (apimachinery's validation), written out here rather than taken from
# jobsched, so that the test does not trust what it tests.
DNS_1123_LABEL = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS_1123_SUBDOMAIN = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
LABEL_VALUE = re.compile(r"\A(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
QUALIFIED_NAME = re.compile(r"\A([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")


def valid_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    prefix_ok = not prefix or (len(prefix) <= 253 and DNS_1123_SUBDOMAIN.match(prefix) is not None)
    return prefix_ok and len(name) <= 63 and QUALIFIED_NAME.match(name) is not None


slots = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)).map(
    lambda t: t.replace(second=0, microsecond=0, tzinfo=UTC)
)


@fuzz_settings(1.0)
@given(names_at_limits(), st.sampled_from(["Pod", "Job"]), st.lists(slots, min_size=1, max_size=4))
def test_every_derived_name_of_an_accepted_entry_is_valid(
    names: tuple[str, str, str], kind: str, at: list[datetime]
) -> None:
    """Names at each length limit: an entry runs only if all its derived names fit, and then they do."""
    configmap, namespace, name = names
    template: dict[str, Any] = {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    if kind == "Job":
        template = {"spec": {"template": template}}
    raw = {"name": name, "schedule": "@hourly", "kind": kind, "domains": ["virtual"], "template": template}
    body = {
        "metadata": {"name": configmap, "namespace": namespace},
        "data": {"a.yaml": yaml.safe_dump({"entries": [raw]})},
    }
    entries, problems = parse_configmap(body)
    fits = len(configmap) <= 253 - len(STATUS_SUFFIX) and len(namespace) <= 63 and len(name) <= 63
    assert bool(entries) is fits, problems
    if not fits:
        assert {p.field for p in problems} & {
            "metadata.name",
            "metadata.namespace",
            "data[a.yaml].entries[0].name",
        }, problems
        assert all(len(p.message) < 400 for p in problems)
        return
    (entry,) = entries
    status = configmap + STATUS_SUFFIX
    assert len(status) <= 253
    assert DNS_1123_SUBDOMAIN.match(status)
    for slot in at:
        object_name = slot_object_name(entry, slot)
        assert len(object_name) <= (52 if kind == "Job" else 63), object_name
        assert DNS_1123_LABEL.match(object_name), object_name
        labels, annotations = slot_labels_and_annotations(entry, slot)
        for key, value in labels.items():
            assert valid_label_key(key), key
            assert len(value) <= 63, value
            assert LABEL_VALUE.match(value), value
        assert all(valid_label_key(key) for key in annotations)
        assert sum(len(k) + len(v) for k, v in annotations.items()) <= 256 * 1024


@fuzz_settings(1.0)
@given(alias_graphs(), st.sampled_from([*SCALAR_FIELDS, "args"]), st.data())
def test_an_alias_graph_costs_what_it_expands_to(graph: list[Any], field: str, data: st.DataObject) -> None:
    """A DAG of aliases in any field: reported at that field when it is wrong or too large, and
    accepted in the template when it is plain JSON within limits; the entries around it never change."""
    # A list of strings is a valid domain chain: only nested lists are wrong there.
    assume(field != "domains" or any(isinstance(v, list) for v in graph))
    first = data.draw(good_entries("first", "batch"))
    last = data.draw(good_entries("last", "batch"))
    middle = data.draw(good_entries("middle", "batch"))
    raw = json.loads(json.dumps(middle.raw))
    keys, _ = _pod_spec_path(raw)
    if field == "args":
        _at(raw, keys)["args"] = graph
    else:
        raw[field] = graph
    text = yaml.safe_dump({"entries": [first.raw, raw, last.raw]}, sort_keys=False, width=10_000)
    entries, problems = parse_configmap(
        {"metadata": {"name": "g", "namespace": "batch"}, "data": {"a.yaml": text}}
    )
    assert [e.name for e in entries if e.name != "middle"] == ["first", "last"]
    size = expanded_size(graph)
    depth = max_depth(graph)
    reported = [p for p in problems if p.entry in ("middle", "#1")]
    assert [p for p in problems if p not in reported] == []
    if field != "args":
        assert "middle" not in [e.name for e in entries]
        at = f"data[a.yaml].entries[1].{field}"
        assert any(p.field == at or p.field.startswith(f"{at}[") for p in reported), (size, problems)
    elif size + 200 < MAX_TEMPLATE_NODES and depth + 6 < MAX_TEMPLATE_DEPTH:
        assert "middle" in [e.name for e in entries], problems
        (got,) = [e for e in entries if e.name == "middle"]
        assert expanded_size(thaw(got.template)) <= MAX_TEMPLATE_NODES
    elif size > ENTRY_LIMITS.nodes:
        assert [p.field for p in reported] == ["data[a.yaml].entries[1].template"], problems
        assert "too large" in reported[0].message
    assert all(len(p.message) < 400 for p in problems)


@fuzz_settings(0.3, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.integers(2_000, 19_900), st.integers(1, 6), st.integers(1, 30))
def test_the_configmap_budget_holds_whatever_the_aliases(size: int, keys: int, per_key: int) -> None:
    """Entries sharing one large list through aliases: accepted, in order, while the ConfigMap's budget
    lasts, every other one reported; what is accepted never expands past the budget."""
    head = "shared: &s [" + ", ".join(["x"] * size) + "]\nentries:\n"
    template = "{spec: {containers: [{name: c, image: i, args: *s}]}}"
    data = {
        f"k{k}.yaml": head
        + "".join(f"- {{name: e{k}-{i}, schedule: '@daily', template: {template}}}\n" for i in range(per_key))
        for k in range(keys)
    }
    entries, problems = parse_configmap({"metadata": {"name": "b", "namespace": "batch"}, "data": data})
    names = [f"e{k}-{i}" for k in range(keys) for i in range(per_key)]
    accepted = [e.name for e in entries]
    assert accepted == names[: len(accepted)]  # in order, no gaps: all cost the same
    spent = sum(expanded_size(thaw(e.template)) for e in entries)
    assert spent <= MAX_CONFIGMAP_VALUES
    # Every other entry is reported as not fitting (by position: it may not fit even its name),
    # unless its whole key could not be read (the key's own shared list did not fit either).
    unreadable = {p.field for p in problems if p.entry is None and "budget" in p.message}
    refused = {p.field for p in problems if p.entry is not None}
    assert all("does not fit" in p.message for p in problems if p.entry is not None), problems
    for index, name in enumerate(names[len(accepted) :], start=len(accepted)):
        key, at = f"data[k{index // per_key}.yaml]", index % per_key
        assert key in unreadable or any(f.startswith(f"{key}.entries[{at}]") for f in refused), name
