"""Fuzzing the ConfigMap parser: it never raises, keeps every good entry, and locates every bad one."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import Phase, example, given
from hypothesis import strategies as st

from jobsched.core.cronspec import CronEntry, Problem, parse_configmap
from tests.fuzz.strategies import (
    Bad,
    CronMap,
    bad_entries,
    cron_configmaps,
    fuzz_settings,
    good_entries,
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
        "data": {"crons.yaml": yaml.safe_dump({"entries": [first.raw, bad.raw, last.raw]}, sort_keys=False)},
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
