"""The bounded YAML loader: yaml.safe_load's values, with aliases paid for before they are used."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsched.core import boundedyaml
from jobsched.core.boundedyaml import (
    YAML_LOADER,
    Budget,
    Flaw,
    Limits,
    Refused,
    Unreadable,
    _Forward,
    load,
    load_all,
)

LIMITS = Limits(nodes=1_000, chars=10_000, depth=10)
ITEMS = ((), ("entries",))


def budget(nodes: int = 100_000, chars: int = 1_000_000) -> Budget:
    return Budget(nodes, chars, "test")


def laughs(levels: int, fanout: int = 10) -> str:
    """The billion laughs: `levels` anchored lists, each `fanout` aliases of the one before."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * fanout)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fanout)}]" for i in range(1, levels)]
    return "\n".join(lines)


def test_plain_documents_read_as_safe_load_reads_them() -> None:
    text = "a: 1\nb: [x, 2.5, true, null, 2026-01-01, !!binary aGk=]\nc: {d: 'e', '1': 017}\n"
    assert load(text, LIMITS, budget()) == yaml.load(text, Loader=YAML_LOADER)


def test_an_empty_text_is_none_and_a_second_document_is_unreadable() -> None:
    assert load("", LIMITS, budget()) is None
    assert load("# nothing\n", LIMITS, budget()) is None
    with pytest.raises(Unreadable, match="single document"):
        load("a: 1\n---\nb: 2\n", LIMITS, budget())


def test_an_alias_is_charged_its_whole_size_before_it_is_used() -> None:
    # The billion laughs (10^9 values in 400 bytes), one level per item, against a limit of 1,000.
    text = "entries:\n- &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    text += "".join(f"- &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    got = load(text, LIMITS, budget(), ITEMS)["entries"]
    assert got[0] == ["lol"] * 10
    assert got[1] == [["lol"] * 10] * 10  # 111 values
    assert isinstance(got[2], Refused)  # 1,111: refused at its 10th alias, before using it
    assert got[2].flaws[0].path == ("entries", 2, 9)
    assert "too large: more than 1,000 values" in got[2].flaws[0].message
    for item in got[3:]:
        assert isinstance(item, Refused)
        assert "names a value that was refused" in item.flaws[0].message


def test_a_bomb_in_a_field_refuses_that_item_at_that_field_and_no_other() -> None:
    text = laughs(9) + "\nentries:\n- {name: ok}\n- {name: bomb, timeZone: *a8, more: 1}\n- {name: after}\n"
    with pytest.raises(Unreadable, match="too large"):
        load(text, LIMITS, budget(), ITEMS)  # the anchors themselves are outside the entries: whole text
    text = "entries:\n- a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    text += "".join(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 3))
    text += "- {name: ok}\n- {name: bomb, timeZone: *a2, more: 1}\n- {name: after}\n"
    first, ok, bomb, after = load(text, LIMITS, budget(), ITEMS)["entries"]
    assert isinstance(first, Refused)  # a2 alone is 1,111 values
    assert ok == {"name": "ok"}
    assert after == {"name": "after"}
    assert isinstance(bomb, Refused)
    assert bomb.flaws[0].path == ("entries", 2, "timeZone")
    assert "*a2" in bomb.flaws[0].message
    assert "refused" in bomb.flaws[0].message


def test_an_overrun_field_reads_as_none_and_the_rest_of_the_item_is_kept() -> None:
    text = "- &big [" + ", ".join(["x"] * 600) + "]\n- {name: n, args: [*big, *big], schedule: s}\n"
    first, second = load(text, LIMITS, budget(), ITEMS)
    assert first == ["x"] * 600
    assert isinstance(second, Refused)
    assert second.flaws == (Flaw((1, "args"), second.flaws[0].message),)
    assert "too large: more than 1,000 values" in second.flaws[0].message
    assert second.value == {"name": "n", "args": None, "schedule": "s"}


def test_an_alias_inside_its_own_anchor_is_endless() -> None:
    (item,) = load("- name: x\n  spec: &s {args: [*s]}\n", LIMITS, budget(), ITEMS)
    assert isinstance(item, Refused)
    assert item.flaws[0].path == (0, "spec", "args", 0)
    assert "endless" in item.flaws[0].message


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("- {name: a, schedule: x, schedule: y}\n", (0, "schedule"), ["'schedule'", "lines 1 and 1"]),
        ("- name: a\n  t:\n    spec: {c: 1}\n    spec: {c: 2}\n", (0, "t", "spec"), ["lines 3 and 4"]),
        ("- {1: a, 1.0: b}\n", (0, 1.0), ["duplicate key 1.0"]),
        ("- {<<: {a: 1}, <<: {b: 2}}\n", (0, "<<"), ["duplicate key"]),
    ],
)
def test_duplicate_keys_are_flaws_naming_the_key(text: str, path: tuple[Any, ...], words: list[str]) -> None:
    (item,) = load(text, LIMITS, budget(), ITEMS)
    assert isinstance(item, Refused)
    assert [f.path for f in item.flaws] == [path]
    assert all(word in item.flaws[0].message for word in words), item.flaws


def test_a_duplicate_key_outside_the_items_makes_the_text_unreadable() -> None:
    with pytest.raises(Unreadable) as caught:
        load("entries: []\nentries: [{name: x}]\n", LIMITS, budget(), ITEMS)
    assert caught.value.flaw.path == ("entries",)
    assert "duplicate key 'entries' (lines 1 and 2)" in caught.value.flaw.message


def test_merge_keys_follow_the_yaml_merge_spec() -> None:
    text = "a: &x {p: 1, q: 2}\nb: &y {q: 3, r: 4}\nc: {<<: [*x, *y], p: 9}\nd: {<<: *y, s: 5}\n"
    got = load(text, LIMITS, budget())
    assert got["c"] == {"p": 9, "q": 2, "r": 4}  # the mapping's own keys win, then earlier sources
    assert got["d"] == {"q": 3, "r": 4, "s": 5}
    with pytest.raises(Unreadable, match="must merge mappings"):
        load("a: {<<: [1]}", LIMITS, budget())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: *nope", "no anchor &nope before it"),
        ("a: &x 1\nb: &x 2", "defined twice (lines 1 and 2)"),
        ("a: !!set {x, y}", "not JSON data"),
        ("a: !!python/object:os.system {}", "unknown tag"),
        ("? [a]\n: b", "is a list or mapping"),
        ("a: 2026-13-01", "month must be in 1..12"),
        ("a: " + "9" * 5000, "a number of 5,000 digits"),
        ("a: [unclosed", "invalid YAML"),
        ("a: \ud800", "invalid YAML"),
    ],
)
def test_what_safe_load_refuses_is_unreadable_with_a_short_message(text: str, words: str) -> None:
    with pytest.raises(Unreadable) as caught:
        load(text, LIMITS, budget())
    assert words in caught.value.flaw.message
    assert len(caught.value.flaw.message) < 400


def test_depth_counts_below_an_items_fields() -> None:
    ok = "- {name: n, t: " + "[" * 11 + "]" * 11 + "}\n"  # the field's value and 10 levels below it
    deep = "- {name: n, t: " + "[" * 12 + "]" * 12 + "}\n"
    assert not isinstance(load(ok, LIMITS, budget(), ITEMS)[0], Refused)
    (item,) = load(deep, LIMITS, budget(), ITEMS)
    assert isinstance(item, Refused)
    assert item.flaws[0].path == (0, "t")
    assert "nested too deeply: more than 10 levels" in item.flaws[0].message


def test_an_alias_counts_the_depth_of_what_it_names() -> None:
    text = "- &d " + "[" * 8 + "]" * 8 + "\n- {name: n, t: [[[[*d]]]]}\n"
    first, second = load(text, LIMITS, budget(), ITEMS)
    assert not isinstance(first, Refused)
    assert isinstance(second, Refused)
    assert "nested too deeply" in second.flaws[0].message


def test_the_budget_is_shared_and_spent_only_on_accepted_items() -> None:
    shared = budget(nodes=50)
    first = load("- [a, b, c]\n- " + "[" + ", ".join(["x"] * 60) + "]\n", LIMITS, shared, ITEMS)
    assert first[0] == ["a", "b", "c"]
    assert isinstance(first[1], Refused)
    assert "does not fit in what is left of the test's budget" in first[1].flaws[0].message
    assert shared.nodes == 50 - 1 - 4  # the list itself, then the item
    second = load("- [d]\n", LIMITS, shared, ITEMS)
    assert second == [["d"]]
    assert shared.nodes == 50 - 1 - 4 - 2 - 1


def test_anchors_in_a_refused_item_cannot_be_used_by_later_ones() -> None:
    text = "- {a: &x [1], a: 2}\n- {b: *x}\n"
    first, second = load(text, LIMITS, budget(), ITEMS)
    assert isinstance(first, Refused)
    assert isinstance(second, Refused)
    assert "refused" in second.flaws[0].message


def test_a_key_repeated_many_times_is_one_flaw() -> None:
    keys = ", ".join(f"k: {i}" for i in range(30))
    (item,) = load("- {" + keys + "}\n", LIMITS, budget(), ITEMS)
    assert isinstance(item, Refused)
    assert [f.message for f in item.flaws] == [
        "duplicate key 'k' (lines 1 and 1): YAML keeps only the last; remove one"
    ]


def test_flaws_per_item_are_capped_and_counted() -> None:
    keys = ", ".join(f"k{i}: 1, k{i}: 2" for i in range(30))
    (item,) = load("- {" + keys + "}\n", LIMITS, budget(), ITEMS)
    assert isinstance(item, Refused)
    assert len(item.flaws) == 11
    assert item.flaws[-1].message == "and 20 more problems in this item"


def test_load_all_gives_each_document_then_the_syntax_error() -> None:
    docs = load_all("a: 1\n---\nb: [*x]\n---\nc: 3\n---\n[unclosed\n", LIMITS, budget())
    assert next(docs) == {"a": 1}
    assert isinstance(next(docs), Refused)
    assert next(docs) == {"c": 3}
    with pytest.raises(Unreadable, match="invalid YAML"):
        next(docs)


# --- the same values as yaml.safe_load, wherever that can be compared ---------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=30,
)


@st.composite
def shared_documents(draw: Any) -> Any:
    """JSON-like data in which some lists and mappings appear more than once (YAML aliases them)."""
    pool = draw(st.lists(json_values.filter(lambda v: isinstance(v, list | dict)), min_size=1, max_size=3))
    picks = draw(st.lists(st.integers(0, len(pool) - 1), max_size=6))
    return {"own": draw(json_values), "shared": [pool[i] for i in picks]}


@settings(max_examples=150, deadline=None)
@given(shared_documents(), st.booleans())
def test_the_values_are_those_of_safe_load(doc: Any, flow: bool) -> None:
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    assert load(text, Limits(10**6, 10**7, 1000), budget(10**6, 10**7)) == yaml.safe_load(text)


yaml_alphabet = st.sampled_from([*"ab01:-[]{}&*|>'\"#\n ,?.~", "a: ", "- ", "&x ", "*x", "&y ", "*y"])


@settings(max_examples=300, deadline=None)
@given(st.lists(yaml_alphabet, max_size=60).map("".join))
def test_on_any_text_it_reads_what_safe_load_reads_or_says_why_not(text: str) -> None:
    try:
        want: Any = yaml.load(text, Loader=YAML_LOADER)
    except (yaml.YAMLError, ValueError, TypeError):
        want = Unreadable
    try:
        got: Any = load(text, Limits(10**6, 10**7, 1000), budget(10**6, 10**7))
    except Unreadable:
        got = Unreadable
    if got is not Unreadable:
        assert repr(got) == repr(want)  # repr: NaN is not equal to itself
    elif want is not Unreadable:
        # Only what PyYAML lets through silently: a key given twice, or an alias to its own anchor.
        with pytest.raises(Unreadable, match=r"duplicate key|inside its own anchor"):
            load(text, Limits(10**6, 10**7, 1000), budget(10**6, 10**7))


def test_an_unreadable_text_gives_back_what_it_charged() -> None:
    shared = budget(nodes=100)
    with pytest.raises(Unreadable):
        load("a: [1, 2, 3]\nb: [unclosed\n", LIMITS, shared)
    with pytest.raises(Unreadable):
        load("a: [1, 2, 3]\na: 4\n", LIMITS, shared)
    assert shared.nodes == 100


def test_an_item_over_the_budget_at_a_key_is_refused_at_the_item_and_keeps_no_key() -> None:
    shared = budget(nodes=6)
    (item,) = load("- {name: n, schedule: s, template: {spec: 1}, more: 2}\n", LIMITS, shared, ITEMS)
    assert isinstance(item, Refused)
    assert [f.path for f in item.flaws] == [(0,)]
    assert item.value == {"name": "n", "schedule": "s"}


# --- items that repeat a field's value, character for character -------------------------------------

TEMPLATE = "\n".join(
    [
        "  template:",
        "    spec:",
        "      containers:",
        "      - {name: job, image: busybox, args: [sleep, '30']}",
        "      tolerations: [{key: virtual-kubelet.io/provider, operator: Exists}]",
    ]
)


def repeated_entries(count: int, template: str = TEMPLATE) -> str:
    return "entries:\n" + "".join(f"- name: e{i}\n{template}\n" for i in range(count))


def without_repeats(text: str, limits: Limits, shared: Budget, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(boundedyaml, "MIN_REPEAT_CHARS", 10**9)  # nothing is ever remembered
        return load(text, limits, shared, ITEMS)


def test_a_repeated_template_is_read_once_and_each_item_gets_its_own_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forwards: list[Any] = []
    replays: list[Any] = []
    monkeypatch.setattr(boundedyaml, "_Forward", lambda *a: forwards.append(a) or _Forward(*a))
    real_replay = boundedyaml._Reader._replay
    monkeypatch.setattr(
        boundedyaml._Reader, "_replay", lambda self, f: replays.append(f) or real_replay(self, f)
    )
    text = repeated_entries(50)
    shared = budget()
    got = load(text, LIMITS, shared, ITEMS)["entries"]
    assert got == yaml.safe_load(text)["entries"]
    assert (len(forwards), len(replays)) == (49, 0)  # every item after the first
    plain = budget()
    assert without_repeats(text, LIMITS, plain, monkeypatch) == {"entries": got}
    assert (shared.nodes, shared.chars) == (plain.nodes, plain.chars)
    got[0]["template"]["spec"]["containers"][0]["args"].append("changed")
    assert got[1]["template"]["spec"]["containers"][0]["args"] == ["sleep", "30"]
    assert got[1]["template"] is not got[2]["template"]


@pytest.mark.parametrize(
    "second",
    [
        TEMPLATE.replace("busybox", "&img busybox"),  # an anchor: later items may name it
        TEMPLATE.replace("job,", "!!str job,"),  # a tag
        TEMPLATE + "\n    extra: 1",  # the same start, but more after it
        "  pad: [1, 2, 3, 4, 5, 6, 7, 8]\n" + TEMPLATE,  # the same value, but the item goes over its limits
    ],
)
def test_an_item_that_only_starts_like_a_remembered_value_is_read_the_usual_way(
    second: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "entries:\n" + f"- name: a\n{TEMPLATE}\n- name: b\n{second}\n- name: c\n  image: *img\n"
    limits = Limits(nodes=27, chars=10_000, depth=10)
    want_budget, got_budget = budget(), budget()
    try:
        want: Any = without_repeats(text, limits, want_budget, monkeypatch)
    except Unreadable as exc:
        want = exc.flaw
    try:
        got: Any = load(text, limits, got_budget, ITEMS)
    except Unreadable as exc:
        got = exc.flaw
    assert repr(got) == repr(want)
    assert (got_budget.nodes, got_budget.chars) == (want_budget.nodes, want_budget.chars)


pod_like = st.recursive(
    st.sampled_from(["busybox", "sleep", 30, True, None, "", "100m"]),
    lambda kids: (
        st.lists(kids, min_size=1, max_size=4)
        | st.dictionaries(
            st.sampled_from(["spec", "args", "image", "name", "a", "b"]), kids, min_size=1, max_size=4
        )
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(pod_like, min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.booleans()), min_size=1, max_size=8),
    st.booleans(),
    st.integers(5, 120),
    st.integers(1, 6),
    st.integers(20, 600),
)
def test_repeats_read_as_they_would_without_them(
    pool: list[Any], picks: list[tuple[int, int, bool]], flow: bool, nodes: int, depth: int, left: int
) -> None:
    """Entries drawn from a few templates, some aliased (one object dumped twice), with small limits and
    budgets so that some are refused: remembering values changes nothing, flaws and budget included."""
    entries = []
    for n, (pick, pad, alias) in enumerate(picks):
        template = pool[pick % len(pool)]
        entries.append(
            {"name": f"e{n}", "pad": list(range(pad)), "t": template if alias else copy.deepcopy(template)}
        )
    text = yaml.safe_dump({"entries": entries}, default_flow_style=flow, sort_keys=False)
    limits = Limits(nodes=nodes, chars=10_000, depth=depth)
    results = []
    for min_chars in (0, 10**9):
        saved = boundedyaml.MIN_REPEAT_CHARS
        setattr(boundedyaml, "MIN_REPEAT_CHARS", min_chars)  # noqa: B010 (a Final, changed for the test)
        try:
            shared = budget(nodes=left)
            try:
                got: Any = load(text, limits, shared, ITEMS)
            except Unreadable as exc:
                got = exc.flaw
            results.append((repr(got), shared.nodes, shared.chars))
        finally:
            setattr(boundedyaml, "MIN_REPEAT_CHARS", saved)  # noqa: B010
    assert results[0] == results[1]
