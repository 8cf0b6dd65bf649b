"""Hypothesis strategies for cron ConfigMaps whose every entry has a known verdict.

A generated `CronMap` is a raw ConfigMap plus what parsing it must give: each `Good` entry comes back
with its name, schedule and zone, and each `Bad` entry is wrong in exactly one field, so the Problem it
yields is known down to the field path. Around them go the things that must not disturb them: keys
that are not YAML, keys with other suffixes, duplicate names, both document layouts.

`live=True` keeps everything the apiserver would store as a ConfigMap, makes every good entry one the
apiserver accepts and that fires at a given slot, and adds `Rejected` entries: valid to jobsched,
refused by the apiserver when their object is created (cronspec checks structure, not the full schema).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import yaml
from hypothesis import settings
from hypothesis import strategies as st

from jobsched.core.cronlimits import (
    ENTRY_LIMITS,
    INT32_MAX,
    INT64_MAX,
    MAX_CONFIGMAP_NAME,
    MAX_DEADLINE_SECONDS,
    MAX_LABEL,
    MAX_OBJECT_NAME,
    MAX_TEMPLATE_DEPTH,
    MAX_TEMPLATE_NODES,
)
from jobsched.core.cronschedule import MACROS

ZONES = sorted(available_timezones())
PROFILE = os.environ.get("JOBSCHED_FUZZ_PROFILE", "ci")  # registered in conftest.py
LIVE_ACCOUNT = "fuzz-runner"  # the live test creates it; good live entries may run as it

dns_labels = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z").filter(lambda s: len(s) <= 63)
# ConfigMap data keys the apiserver accepts; the strategies append the suffix.
key_stems = st.from_regex(r"\A[a-z0-9][-_a-z0-9.]{0,15}\Z")


@dataclass(frozen=True)
class Good:
    raw: dict[str, Any]
    name: str
    schedule: str
    zone: str  # "UTC" when the entry leaves it out


@dataclass(frozen=True)
class Bad:
    raw: Any
    field: str  # below the entry, e.g. "timeZone" or "template.spec.containers[0].image"; "" is the entry
    named: bool  # the Problem names the entry by its name (else by "#index")
    name: str | None
    what: str  # the mutation, for failure messages


@dataclass(frozen=True)
class Rejected:
    """Valid to jobsched; its object is refused when created (live only)."""

    raw: dict[str, Any]
    name: str
    field: str  # what the engine's Event names: "template" or the service account's path
    what: str


Spec = Good | Bad | Rejected


@dataclass(frozen=True)
class Placed:
    spec: Spec
    path: str  # "data[k.yaml].entries[3]", or "data[k.yaml][3]" in a bare list
    label: str  # the Problem's entry: the name, or "#3"
    counted: bool = True  # False in a .yml key, which is not read at all

    def field_path(self) -> str:
        assert isinstance(self.spec, Bad)
        return f"{self.path}.{self.spec.field}" if self.spec.field else self.path


@dataclass
class CronMap:
    body: dict[str, Any]
    placed: list[Placed] = field(default_factory=list)
    key_problems: list[str] = field(default_factory=list)  # ConfigMap-level fields that must be reported

    @property
    def ref(self) -> str:
        meta = self.body["metadata"]
        return f"{meta['namespace']}/{meta['name']}"

    def goods(self) -> list[Good]:
        return [p.spec for p in self.placed if p.counted and isinstance(p.spec, Good)]

    def bads(self) -> list[Placed]:
        return [p for p in self.placed if p.counted and isinstance(p.spec, Bad)]

    def rejected(self) -> list[Rejected]:
        return [p.spec for p in self.placed if p.counted and isinstance(p.spec, Rejected)]


# --- schedules -------------------------------------------------------------------------------------

# (low, high, names) per field; day of month stops at 28 so that every month has the day.
_FIELDS: list[tuple[int, int, list[str]]] = [
    (0, 59, []),
    (0, 23, []),
    (1, 28, []),
    (1, 12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
    (0, 6, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
]


def _word(names: list[str], value: int, low: int, draw: Callable[[Any], Any]) -> str:
    if names and draw(st.booleans()):
        word = names[value - low]
        return str(draw(st.sampled_from([word, word.upper(), word.capitalize()])))
    return str(value)


@st.composite
def _cron_term(draw: Any, index: int, must: int | None) -> str:
    """One comma-separated part of field `index`; it matches `must` when that is given."""
    low, high, names = _FIELDS[index]
    form = draw(st.sampled_from(["star", "value", "range", "step", "range-step"]))
    if form == "star":
        return "?" if index in (2, 4) and draw(st.booleans()) else "*"
    if form == "value":
        value = must if must is not None else draw(st.integers(low, high))
        return _word(names, value, low, draw)
    if form == "step":
        step = draw(st.integers(1, high - low + 1))
        if must is not None and (must - low) % step:
            step = 1
        return f"*/{step}"
    a = draw(st.integers(low, high if must is None else must))
    b = draw(st.integers(max(a, must if must is not None else a), high))
    text = f"{_word(names, a, low, draw)}-{_word(names, b, low, draw)}"
    if form == "range":
        return text
    step = draw(st.integers(1, b - a + 1))
    if must is not None and (must - a) % step:
        step = 1
    return f"{text}/{step}"


@st.composite
def cron_fields(draw: Any, index: int, must: int | None = None) -> str:
    terms = draw(st.lists(_cron_term(index, None), max_size=2))
    if must is not None or not terms:
        terms.insert(draw(st.integers(0, len(terms))), draw(_cron_term(index, must)))
    return ",".join(terms)


@st.composite
def schedules(draw: Any, at: datetime | None = None) -> str:
    """A 5-field expression or a descriptor; one that matches wall time `at` when given."""
    if at is None and draw(st.integers(0, 5)) == 0:
        macro = draw(st.sampled_from(sorted(MACROS)))
        return str(draw(st.sampled_from([macro, macro.upper()])))
    must: list[int | None] = [None] * 5
    if at is not None:
        must = [at.minute, at.hour, at.day, at.month, (at.weekday() + 1) % 7]
        if at.day > 28:  # outside the generated day range: match on day of week instead
            must[2] = None
    parts = []
    for index in range(5):
        if at is not None and index == 2 and must[2] is None:
            parts.append("*")  # a restricted day of month would be OR-ed with day of week
        else:
            parts.append(draw(cron_fields(index, must[index])))
    sep = draw(st.sampled_from([" ", "  ", "\t"]))
    text = sep.join(parts)
    return f" {text} " if draw(st.integers(0, 9)) == 0 else text


def fires_at(zone: str, slot: datetime) -> datetime | None:
    """The wall time of `slot` in `zone`, or None if that wall time repeats (a fall-back fold)."""
    local = slot.astimezone(ZoneInfo(zone))
    naive = local.replace(tzinfo=None)
    other = naive.replace(fold=1 - local.fold, tzinfo=ZoneInfo(zone))
    return None if other.utcoffset() != local.utcoffset() else naive


# --- templates -------------------------------------------------------------------------------------

images = st.sampled_from(
    ["busybox", "busybox:1.36", "registry.example.com/team/report:2.4.1", "alpine@sha256:" + "a" * 64]
)
quantities = {
    "cpu": st.sampled_from(["10m", "100m", "250m", "0.5", "1", "2"]),
    "memory": st.sampled_from(["16Mi", "64Mi", "128M", "1Gi", "1000000"]),
    "ephemeral-storage": st.sampled_from(["100Mi", "1Gi"]),
}
label_keys = st.sampled_from(["app", "team", "example.com/tier", "tier"])
label_values = st.from_regex(r"\A([a-z0-9]([-a-z0-9._]{0,10}[a-z0-9])?)?\Z")
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@st.composite
def resources(draw: Any) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(sorted(quantities)), min_size=1, max_size=3, unique=True))
    amounts = {n: draw(quantities[n]) for n in names}
    # Limits equal to requests: the apiserver refuses requests above limits.
    return dict(
        draw(
            st.sampled_from(
                [{"requests": amounts}, {"limits": amounts}, {"requests": amounts, "limits": amounts}]
            )
        )
    )


@st.composite
def containers(draw: Any, names: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        container: dict[str, Any] = {"name": name, "image": draw(images)}
        if draw(st.booleans()):
            container["resources"] = draw(resources())
        if draw(st.booleans()):
            container["command"] = draw(st.lists(texts.filter(bool), min_size=1, max_size=3))
        if draw(st.booleans()):
            container["env"] = [
                {"name": key, "value": draw(texts)}
                for key in draw(st.lists(st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,8}\Z"), max_size=3, unique=True))
            ]
        out.append(container)
    return out


@st.composite
def pod_templates(draw: Any, namespace: str, live: bool, top: bool = True) -> dict[str, Any]:
    names = draw(st.lists(dns_labels, min_size=1, max_size=3, unique=True))
    spec: dict[str, Any] = {"containers": draw(containers(names))}
    if draw(st.booleans()):
        spec["restartPolicy"] = draw(st.sampled_from(["Never", "OnFailure"]))
    if draw(st.integers(0, 3)) == 0:
        spec["schedulerName"] = "jobsched"
    if draw(st.integers(0, 3)) == 0:
        spec["serviceAccountName"] = (
            LIVE_ACCOUNT
            if live
            else draw(st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?(\.[a-z0-9]{1,5})?\Z"))
        )
    if draw(st.integers(0, 3)) == 0:
        spec["tolerations"] = [{"key": "virtual-kubelet.io/provider", "operator": "Exists"}]
    if not live and draw(st.integers(0, 3)) == 0:
        # One list object in every container: YAML writes an anchor and aliases.
        shared = draw(st.lists(texts.filter(bool), min_size=1, max_size=3))
        for container in spec["containers"]:
            container["args"] = shared
    template: dict[str, Any] = {"spec": spec}
    metadata: dict[str, Any] = {}
    if draw(st.booleans()):
        metadata["labels"] = draw(st.dictionaries(label_keys, label_values, max_size=3))
    if draw(st.booleans()):
        metadata["annotations"] = draw(st.dictionaries(label_keys, texts, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        metadata["namespace"] = namespace
    if metadata or draw(st.booleans()):
        template["metadata"] = metadata
    return template


@st.composite
def job_templates(draw: Any, namespace: str, live: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": draw(pod_templates(namespace, live))}
    low = 1 if live else 0  # the apiserver wants some of these positive
    for key in ("backoffLimit", "parallelism", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        if draw(st.integers(0, 3)) == 0:
            spec[key] = draw(st.integers(low, 100))
    if draw(st.integers(0, 3)) == 0:
        spec["completionMode"] = draw(st.sampled_from(["NonIndexed", "Indexed"]))
    if spec.get("completionMode") == "Indexed" or draw(st.integers(0, 3)) == 0:
        spec["completions"] = draw(st.integers(1, 10))  # Indexed needs completions
    return {"spec": spec}


# --- entries ---------------------------------------------------------------------------------------


@st.composite
def good_entries(draw: Any, name: str, namespace: str, slot: datetime | None = None) -> Good:
    """A valid entry; with `slot`, one the apiserver accepts and that fires at `slot` (live)."""
    live = slot is not None
    raw: dict[str, Any] = {"name": name}
    zone = "UTC"
    if draw(st.booleans()):
        zone = draw(st.sampled_from(ZONES))
        raw["timeZone"] = zone
    at = None
    if slot is not None:
        at = fires_at(zone, slot)
        if at is None:  # a repeated wall time fires only once: keep the test about other things
            zone = "UTC"
            raw.pop("timeZone")
            at = fires_at(zone, slot)
    raw["schedule"] = draw(schedules(at))
    kind = draw(st.sampled_from(["Pod", "Pod", "Job"]))
    if kind == "Job" or draw(st.booleans()):
        raw["kind"] = kind
    if not live and draw(st.booleans()):
        raw["suspend"] = draw(st.booleans())
    if draw(st.booleans()):
        raw["concurrencyPolicy"] = draw(st.sampled_from(["Allow", "Forbid", "Replace"]))
    if draw(st.booleans()):
        raw["startingDeadlineSeconds"] = draw(st.none() | st.integers(0 if not live else 30, 10**6))
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        if draw(st.booleans()):
            raw[key] = draw(st.integers(0, 50))
    if draw(st.integers(0, 3)) == 0:
        raw["domains"] = draw(st.lists(dns_labels, min_size=1, max_size=3, unique=True))
    if draw(st.integers(0, 3)) == 0:
        raw["priority"] = draw(st.integers(-(2**31), 10**9))
    template = job_templates(namespace, live) if kind == "Job" else pod_templates(namespace, live)
    raw["template"] = draw(template)
    # Key order must not matter.
    order = draw(st.permutations(list(raw)))
    return Good({k: raw[k] for k in order}, name, raw["schedule"], zone)


def _pod_spec_path(raw: dict[str, Any]) -> tuple[list[str], str]:
    """Where the pod spec sits in an entry's template: (keys, field path)."""
    if raw.get("kind") == "Job":
        return ["template", "spec", "template", "spec"], "template.spec.template.spec"
    return ["template", "spec"], "template.spec"


def _at(raw: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    node = raw
    for key in keys:
        node = node[key]
    return node


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# Each mutation edits a deep copy of a good entry in place and returns the field it broke.
Mutation = Callable[[dict[str, Any], Any], str]


def _drop(key: str) -> Mutation:
    def mutate(raw: dict[str, Any], draw: Any) -> str:
        del raw[key]
        return key

    return mutate


def _set(key: str, values: st.SearchStrategy[Any]) -> Mutation:
    def mutate(raw: dict[str, Any], draw: Any) -> str:
        raw[key] = draw(values)
        return key

    return mutate


def _pod(sub: str, value: Any, extra: Callable[[dict[str, Any]], None] | None = None) -> Mutation:
    def mutate(raw: dict[str, Any], draw: Any) -> str:
        keys, path = _pod_spec_path(raw)
        spec = _at(raw, keys)
        if extra is not None:
            extra(spec)
        else:
            spec[sub] = value
        return f"{path}.{sub}"

    return mutate


def _container(sub: str, value: Any) -> Mutation:
    def mutate(raw: dict[str, Any], draw: Any) -> str:
        keys, path = _pod_spec_path(raw)
        spec = _at(raw, keys)
        index = draw(st.integers(0, len(spec["containers"]) - 1))
        spec["containers"][index][sub] = value
        return f"{path}.containers[{index}].{sub}"

    return mutate


def _delete_container_key(sub: str) -> Mutation:
    def mutate(raw: dict[str, Any], draw: Any) -> str:
        keys, path = _pod_spec_path(raw)
        spec = _at(raw, keys)
        index = draw(st.integers(0, len(spec["containers"]) - 1))
        del spec["containers"][index][sub]
        return f"{path}.containers[{index}].{sub}"

    return mutate


def _containers(value: Any) -> Mutation:
    def mutate(raw: dict[str, Any], draw: Any) -> str:
        keys, path = _pod_spec_path(raw)
        _at(raw, keys)["containers"] = value
        return f"{path}.containers"

    return mutate


def _non_string_container(raw: dict[str, Any], draw: Any) -> str:
    keys, path = _pod_spec_path(raw)
    _at(raw, keys)["containers"] = ["busybox"]
    return f"{path}.containers[0]"


def _metadata(sub: str, value: Any, *, pod: bool = False) -> Mutation:
    def mutate(raw: dict[str, Any], draw: Any) -> str:
        keys, path = ["template"], "template.metadata"
        if pod and raw.get("kind") == "Job":
            keys, path = ["template", "spec", "template"], "template.spec.template.metadata"
        holder = _at(raw, keys)
        holder.setdefault("metadata", {})[sub] = value
        return f"{path}.{sub}"

    return mutate


def _template_value(value: Any) -> Mutation:
    """A value JSON cannot hold, somewhere in the pod spec."""

    def mutate(raw: dict[str, Any], draw: Any) -> str:
        keys, path = _pod_spec_path(raw)
        _at(raw, keys)["extra"] = value
        return f"{path}.extra"

    return mutate


def _template_whole(value: Any, at: str = "template") -> Mutation:
    def mutate(raw: dict[str, Any], draw: Any) -> str:
        raw["template"] = value
        return at

    return mutate


def _too_large(raw: dict[str, Any], draw: Any) -> str:
    keys, _ = _pod_spec_path(raw)
    _at(raw, keys)["args"] = ["x"] * MAX_TEMPLATE_NODES
    return "template"


def _too_deep(raw: dict[str, Any], draw: Any) -> str:
    keys, _ = _pod_spec_path(raw)
    # Deeper than MAX_TEMPLATE_DEPTH, and deep enough to have hit Python's recursion limit once.
    _at(raw, keys)["args"] = _nested(draw(st.sampled_from([MAX_TEMPLATE_DEPTH + 1, 450])))
    return "template"


def _recursive(raw: dict[str, Any], draw: Any) -> str:
    keys, path = _pod_spec_path(raw)
    spec = _at(raw, keys)
    spec["args"] = [spec]  # YAML writes it with an anchor and an alias to itself
    return f"{path}.args[0]"  # the alias, reported where it stands


def _int_key(raw: dict[str, Any], draw: Any) -> str:
    keys, path = _pod_spec_path(raw)
    _at(raw, keys)[7] = "x"
    return path


def _job_only(sub: str, value: Any) -> Mutation:
    def mutate(raw: dict[str, Any], draw: Any) -> str:
        if raw.get("kind") != "Job":
            raw["kind"] = "Job"
            raw["template"] = {"spec": {"template": raw["template"]}}
        if sub == "template":
            raw["template"]["spec"]["template"] = value
        else:
            raw["template"]["spec"][sub] = value
        return f"template.spec.{sub}"

    return mutate


def _unknown_field(key: str | None) -> Mutation:
    def mutate(raw: dict[str, Any], draw: Any) -> str:
        name = key or draw(st.sampled_from(["timezone", "suspended", "Schedule", "zone"]))
        raw[name] = draw(st.sampled_from(["UTC", True, 1]))
        return ""

    return mutate


class DupKey:
    """A mapping key written a second time: YAML text can say it, a dict cannot (see _FuzzDumper)."""

    def __init__(self, key: str) -> None:
        self.key = key


class BigInt:
    """An integer of more digits than Python converts (4,300), written into the YAML as it is."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _duplicate(field: str | None) -> Mutation:
    """Writes a key of the entry (`field`), or of a mapping in its pod spec, a second time."""

    def mutate(raw: dict[str, Any], draw: Any) -> str:
        if field is not None:
            raw[DupKey(field)] = raw[field]
            return field
        keys, spec_path = _pod_spec_path(raw)
        spec = _at(raw, keys)
        index = draw(st.integers(0, len(spec["containers"]) - 1))
        container = spec["containers"][index]
        holder, path = draw(
            st.sampled_from(
                [(raw, ""), (spec, f"{spec_path}."), (container, f"{spec_path}.containers[{index}].")]
            )
        )
        key = draw(st.sampled_from([k for k in holder if k != "name" or holder is not raw]))
        holder[DupKey(key)] = draw(st.sampled_from([holder[key], "other"]))
        return f"{path}{key}"

    return mutate


def _big_number(raw: dict[str, Any], draw: Any) -> str:
    where = draw(
        st.sampled_from(["startingDeadlineSeconds", "priority", "failedJobsHistoryLimit", "template"])
    )
    number = BigInt(draw(st.integers(4301, 6000)))
    if where != "template":
        raw[where] = number
        return where
    keys, path = _pod_spec_path(raw)
    _at(raw, keys)["activeDeadlineSeconds"] = number
    return f"{path}.activeDeadlineSeconds"


def laughs(levels: int, fanout: int) -> list[Any]:
    """The billion laughs: each level one list object `fanout` times (YAML: an anchor, then aliases)."""
    value: list[Any] = ["lol"] * fanout
    for _ in range(levels - 1):
        value = [value] * fanout
    return value


def expanded_size(value: Any, memo: dict[int, int] | None = None) -> int:
    """Values in `value` with every shared list or mapping counted at each use, keys included."""
    memo = {} if memo is None else memo
    if not isinstance(value, list | dict):
        return 1
    if id(value) not in memo:
        memo[id(value)] = 10**18  # until it is known: a value inside itself is endless
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        memo[id(value)] = 1 + sum(expanded_size(v, memo) for v in items)
    return memo[id(value)]


@st.composite
def alias_graphs(draw: Any) -> list[Any]:
    """Lists that hold strings and earlier lists of the graph, each maybe several times: a DAG that
    YAML writes with anchors and aliases. The last one stands for the graph."""
    nodes: list[list[Any]] = []
    for _ in range(draw(st.integers(1, 14))):
        fanout = draw(st.integers(1, 12))
        node: list[Any] = []
        for _ in range(fanout):
            if nodes and draw(st.integers(0, 4)):
                node.append(nodes[draw(st.integers(max(0, len(nodes) - 3), len(nodes) - 1))])
            else:
                node.append("x")
        nodes.append(node)
    return nodes[-1]


def max_depth(value: Any, memo: dict[int, int] | None = None) -> int:
    memo = {} if memo is None else memo
    if not isinstance(value, list):
        return 0
    if id(value) not in memo:
        memo[id(value)] = 1 + max((max_depth(v, memo) for v in value), default=0)
    return memo[id(value)]


SCALAR_FIELDS = ["timeZone", "schedule", "suspend", "concurrencyPolicy", "kind", "priority", "domains"]


def _bomb(in_template: bool) -> Mutation:
    """A few lines of aliases that expand past an entry's limits, in a scalar field or the template."""

    def mutate(raw: dict[str, Any], draw: Any) -> str:
        fanout = draw(st.integers(2, 10))
        levels = 1
        while expanded_size(laughs(levels, fanout)) <= ENTRY_LIMITS.nodes:
            levels += 1
        bomb = laughs(levels + draw(st.integers(0, 3)), fanout)
        if in_template:
            keys, _ = _pod_spec_path(raw)
            _at(raw, keys)["args"] = bomb
            return "template"
        field = draw(st.sampled_from(SCALAR_FIELDS))
        raw[field] = bomb
        return field

    return mutate


def _wrap(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


def _deep_alias(raw: dict[str, Any], draw: Any) -> str:
    """A value nested within the depth limit where it is written, and past it where it is aliased."""
    keys, _ = _pod_spec_path(raw)
    depth = draw(st.integers(30, 90))
    inner = _nested(depth)
    _at(raw, keys)["args"] = [inner, _wrap(inner, MAX_TEMPLATE_DEPTH - depth + draw(st.integers(1, 20)))]
    return "template"


bad_schedules = st.one_of(
    st.sampled_from(
        [
            "",
            "   ",
            "0 0 0 * * *",
            "* * * * * *",
            "* * *",
            "* * * *",
            "@reboot",
            "@every 5m",
            "@fortnightly",
            "TZ=UTC * * * * *",
            "CRON_TZ=Europe/Berlin 0 0 * * *",
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * 32 * *",
            "* * * 13 *",
            "* * * 0 *",
            "*/0 * * * *",
            "0 0 L * *",
            "0 0 * * 1#2",
            "0 0 1W * *",
            "H * * * *",
            "0 0 * * MON5",
            "0 MON * * *",
            "0 0 * JUN-DEC SUN-FRX",
            "0 0 * * 5L",
            "0 0 1 * * 2030",
            "5-",
            "1,,2 * * * *",
        ]
    ),
    st.integers(60, 99).map(lambda m: f"{m} * * * *"),
    st.integers(24, 99).map(lambda h: f"0 {h} * * *"),
)

bad_names = st.one_of(
    st.sampled_from(["", "Bad_Name", "UPPER", "-lead", "trail-", "a.b", "x" * 64, "has space", "ünï"]),
    st.integers(),
    st.booleans(),
    st.lists(dns_labels, min_size=1, max_size=2),
)

# (what, mutation, whether the Problem still names the entry)
MUTATIONS: list[tuple[str, Mutation, bool]] = [
    ("no schedule", _drop("schedule"), True),
    ("bad schedule", _set("schedule", bad_schedules), True),
    ("schedule not a string", _set("schedule", st.sampled_from([5, ["*"], {"m": 1}, True, 1.5])), True),
    ("unknown zone", _set("timeZone", st.from_regex(r"\AMars/[A-Z][a-z]{2,12}\Z")), True),
    (
        "invalid zone",
        _set(
            "timeZone",
            st.sampled_from(
                [
                    "",
                    "Local",
                    "../etc/passwd",
                    "/etc/localtime",
                    "Europe/Berlin/",
                    "a" * 15,
                    "Europe//Berlin",
                    "-x/y",
                    3,
                    True,
                ]
            ),
        ),
        True,
    ),
    ("suspend not a bool", _set("suspend", st.sampled_from(["yes please", "true", 1, 0, [True]])), True),
    (
        "bad concurrencyPolicy",
        _set("concurrencyPolicy", st.sampled_from(["Sometimes", "allow", "", 1, ["Allow"]])),
        True,
    ),
    ("negative deadline", _set("startingDeadlineSeconds", st.integers(max_value=-1)), True),
    (
        "deadline past the calendar",
        _set("startingDeadlineSeconds", st.integers(MAX_DEADLINE_SECONDS + 1, 10**40)),
        True,
    ),
    ("history over int32", _set("successfulJobsHistoryLimit", st.integers(INT32_MAX + 1, 10**30)), True),
    ("job count over int32", _job_only("parallelism", INT32_MAX + 1), True),
    ("template number over 64 bits", _template_value(INT64_MAX + 1), True),
    ("number of 5,000 digits", _big_number, True),
    ("duplicate key", _duplicate(None), True),
    ("duplicate schedule", _duplicate("schedule"), True),
    ("alias bomb in a scalar field", _bomb(False), True),
    ("alias bomb in the template", _bomb(True), True),
    ("alias past the depth limit", _deep_alias, True),
    ("deadline not an int", _set("startingDeadlineSeconds", st.sampled_from(["10", 1.5, True, [1]])), True),
    ("negative history", _set("successfulJobsHistoryLimit", st.integers(-(10**30), -1)), True),
    (
        "history not an int",
        _set("failedJobsHistoryLimit", st.sampled_from(["3", 2.5, False, {"n": 1}])),
        True,
    ),
    ("domains not a list", _set("domains", st.sampled_from(["virtual", [], {"a": 1}, 3])), True),
    ("domain repeated", _set("domains", st.just(["virtual", "virtual"])), True),
    (
        "priority out of range",
        _set("priority", st.integers(10**9 + 1) | st.integers(max_value=-(2**31) - 1)),
        True,
    ),
    ("priority not an int", _set("priority", st.sampled_from([1.5, "high", True, [1]])), True),
    ("bad kind", _set("kind", st.sampled_from(["CronJob", "pod", "job", "", 7])), True),
    ("no template", _drop("template"), True),
    ("recursive template", _recursive, True),
    ("template not a mapping", _template_whole(["spec"]), True),
    ("template a string", _template_whole("spec: {}"), True),
    ("template without spec", _template_whole({"metadata": {}}, "template.spec"), True),
    ("template spec not a mapping", _template_whole({"spec": ["containers"]}, "template.spec"), True),
    ("no containers", _containers([]), True),
    ("containers not a list", _containers({"name": "c"}), True),
    ("container not a mapping", _non_string_container, True),
    ("container without image", _delete_container_key("image"), True),
    ("container with empty image", _container("image", ""), True),
    ("container without name", _delete_container_key("name"), True),
    ("container name not a string", _container("name", 5), True),
    # Not a namespace the tests put ConfigMaps in (kube-system is one).
    ("template in another namespace", _metadata("namespace", "elsewhere"), True),
    ("pod template in another namespace", _metadata("namespace", "elsewhere", pod=True), True),
    ("template names itself", _metadata("name", "fixed"), True),
    ("template generateName", _metadata("generateName", "fixed-"), True),
    ("label not a string", _metadata("labels", {"on": True}), True),
    ("annotations not a mapping", _metadata("annotations", ["a"]), True),
    ("nodeName set", _pod("nodeName", "node-1"), True),
    ("other scheduler", _pod("schedulerName", "default-scheduler"), True),
    ("restartPolicy Always", _pod("restartPolicy", "Always"), True),
    ("bad service account", _pod("serviceAccountName", "Not_An_Account"), True),
    ("service account not a string", _pod("serviceAccount", 7), True),
    ("YAML timestamp in template", _template_value(datetime(2026, 1, 1, tzinfo=UTC)), True),
    ("NaN in template", _template_value(math.nan), True),
    ("infinity in template", _template_value(-math.inf), True),
    ("binary in template", _template_value(b"\x00\x01"), True),
    ("non-string key in template", _int_key, True),
    ("template too large", _too_large, True),
    ("template too deep", _too_deep, True),
    ("negative backoffLimit", _job_only("backoffLimit", -1), True),
    ("completions not an int", _job_only("completions", "3"), True),
    ("bad completionMode", _job_only("completionMode", "Sharded"), True),
    ("job without pod template", _job_only("template", None), True),
    ("unknown field", _unknown_field(None), True),
    # A Problem longer than an Event note may be (1024 bytes), in 2-byte characters.
    ("long unknown field", _unknown_field("ü" * 600), True),
]
NAME_MUTATIONS: list[tuple[str, Mutation, bool]] = [
    ("bad name", _set("name", bad_names), False),
    ("no name", _drop("name"), False),
    ("name given twice", _duplicate("name"), False),
]
# Kept out of the ConfigMaps sent to the apiserver:
_PURE_ONLY = {"template too large"}


@st.composite
def bad_entries(draw: Any, name: str, namespace: str, live: bool = False) -> Bad:
    """A good entry broken in exactly one field."""
    good = draw(good_entries(name, namespace))
    raw = json.loads(json.dumps(good.raw))
    pool = [m for m in MUTATIONS + NAME_MUTATIONS if not (live and m[0] in _PURE_ONLY)]
    what, mutate, named = draw(st.sampled_from(pool))
    sub = mutate(raw, draw)
    if draw(st.integers(0, 9)) == 0 and not live:
        # Not a mapping at all: the entry itself is the field.
        return Bad(
            draw(st.sampled_from(["just text", 5, None, ["a", "b"]])), "", False, None, "not a mapping"
        )
    return Bad(raw, sub, named, name if named else None, what)


@st.composite
def rejected_entries(draw: Any, name: str, namespace: str, slot: datetime) -> Rejected:
    """Valid to jobsched, refused by the apiserver (or by the service-account check) at creation."""
    good = draw(good_entries(name, namespace, slot))
    raw = json.loads(json.dumps(good.raw))
    keys, _ = _pod_spec_path(raw)
    spec = _at(raw, keys)
    container = spec["containers"][0]
    what = draw(
        st.sampled_from(
            [
                "container name",
                "quantity",
                "requests above limits",
                "duplicate containers",
                "label key",
                "port",
                "missing account",
            ]
        )
    )
    field_ = "template"
    if what == "container name":
        container["name"] = "Not_A_DNS_Label"
    elif what == "quantity":
        container["resources"] = {"requests": {"cpu": "lots"}}
    elif what == "requests above limits":
        container["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    elif what == "duplicate containers":
        spec["containers"] = [container, dict(container)]
    elif what == "label key":
        raw["template"].setdefault("metadata", {})["labels"] = {"not a key!": "x"}
    elif what == "port":
        container["ports"] = [{"containerPort": 70000}]
    else:
        spec.pop("serviceAccount", None)
        spec["serviceAccountName"] = "no-such-account"
        field_ = f"{_pod_spec_path(raw)[1]}.serviceAccountName"
    return Rejected(raw, name, field_, what)


# --- ConfigMaps ------------------------------------------------------------------------------------


class _FuzzDumper(yaml.SafeDumper):
    """SafeDumper, and what only text can say: a key written twice, a number too long to convert."""


_FuzzDumper.add_representer(DupKey, lambda dumper, dup: dumper.represent_str(dup.key))
_FuzzDumper.add_representer(
    BigInt, lambda dumper, big: dumper.represent_scalar("tag:yaml.org,2002:int", "7" * big.digits)
)


def dump_yaml(doc: Any) -> str:
    """Block-style YAML for `doc`, DupKey and BigInt included."""
    return yaml.dump(doc, Dumper=_FuzzDumper, sort_keys=False, allow_unicode=True, width=10_000)


@st.composite
def _text_of(draw: Any, doc: Any) -> str:
    """YAML text for `doc`: block or flow style, or JSON (which is YAML) when JSON can say it exactly."""
    try:
        # JSON writes every alias out: not for an alias bomb.
        big = expanded_size(doc) > 100_000
        as_json: str | None = None if big else json.dumps(doc, allow_nan=False, ensure_ascii=False)
        # YAML takes no raw control characters, even in quotes, where JSON does.
        if as_json is not None and not all(c.isprintable() or c == "\n" for c in as_json):
            as_json = None
        # JSON turns an integer key into a string: then it does not say the same thing.
        if as_json is not None and json.loads(as_json) != doc:
            as_json = None
    except (TypeError, ValueError):
        as_json = None
    style = draw(st.sampled_from(["block", "flow", "json"]))
    if style == "json" and as_json is not None:
        return as_json
    return yaml.dump(
        doc,
        Dumper=_FuzzDumper,
        default_flow_style=style == "flow",
        allow_unicode=draw(st.booleans()),
        sort_keys=False,
        width=10_000,
    )


not_yaml = st.one_of(
    st.builds(lambda s: "entries: [" + s.replace("]", ""), texts),
    st.builds(lambda s: "entries:\n\t- " + s, texts),
    st.just("{entries: [}"),
    st.just("a: b: c"),
    st.just("entries: !!python/object:os.system {}"),
    st.just("- " + "[" * 2000),
    st.just("priority: " + "9" * 5000),  # over Python's int-to-str limit
    st.just("\x00"),
    st.just("? [a]\n: b"),
)


@st.composite
def cron_configmaps(
    draw: Any,
    namespace: str = "batch",
    name: str | None = None,
    max_entries: int = 8,
    slot: datetime | None = None,
    bad: bool = True,
) -> CronMap:
    """A ConfigMap of good entries and bad ones; `slot` makes it live (see the module docstring)."""
    live = slot is not None
    name = name or draw(dns_labels)
    count = draw(st.integers(0 if not live else 1, max_entries))
    names = draw(st.lists(dns_labels, min_size=count, max_size=count, unique=True))
    specs: list[Spec] = []
    for entry_name in names:
        roll = draw(st.integers(0, 9)) if bad else 0
        if roll < 5:
            specs.append(draw(good_entries(entry_name, namespace, slot)))
        elif live and roll == 9:
            assert slot is not None
            specs.append(draw(rejected_entries(entry_name, namespace, slot)))
        else:
            specs.append(draw(bad_entries(entry_name, namespace, live)))

    stems = draw(st.lists(key_stems, min_size=1, max_size=3, unique=True))
    keys = sorted(f"{stem}.yaml" for stem in stems)  # the parser reads keys in this order
    by_key: dict[str, list[Spec]] = {key: [] for key in keys}
    for spec in specs:
        by_key[draw(st.sampled_from(keys))].append(spec)

    # A later entry reusing an earlier good one's name: reported, and the first one kept.
    if bad:
        for _ in range(draw(st.integers(0, 2))):
            order = [(key, i) for key in keys for i in range(len(by_key[key]))]
            goods = [(key, i) for key, i in order if isinstance(by_key[key][i], Good)]
            if not goods:
                break
            key, i = draw(st.sampled_from(goods))
            later = [k for k in keys if k >= key]
            dup_key = draw(st.sampled_from(later))
            start = i + 1 if dup_key == key else 0
            at = draw(st.integers(start, len(by_key[dup_key])))
            original = by_key[key][i]
            assert isinstance(original, Good)
            copy = draw(good_entries(original.name, namespace, slot))
            by_key[dup_key].insert(at, Bad(copy.raw, "name", True, original.name, "duplicate name"))

    cm = CronMap(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": {"jobsched.io/cron": "true"}},
            "data": {},
        }
    )
    data: dict[str, Any] = cm.body["data"]
    for key in keys:
        raws = [spec.raw for spec in by_key[key]]
        bare = draw(st.booleans()) and bool(raws)
        doc: Any = raws if bare else {"entries": raws}
        if not bare and bad and draw(st.integers(0, 9)) == 0:
            doc["kind"] = "CronTab"  # an unknown top-level key is reported; the entries are still read
            cm.key_problems.append(f"data[{key}]")
        data[key] = draw(_text_of(doc))
        for index, spec in enumerate(by_key[key]):
            path = f"data[{key}][{index}]" if bare else f"data[{key}].entries[{index}]"
            named = isinstance(spec, Good | Rejected) or (isinstance(spec, Bad) and spec.named)
            label = spec.name if named and spec.name is not None else f"#{index}"
            cm.placed.append(Placed(spec, path, label))

    # Keys that hold no entries, or that are wrong as a whole.
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(
            st.sampled_from(
                ["other", "yml", "empty", "not yaml", "not a list"] if bad else ["other", "empty"]
            )
        )
        stem = draw(key_stems.filter(lambda s: all(not k.startswith(s + ".") for k in data)))
        if kind == "other":
            data[stem + draw(st.sampled_from([".txt", ".json", ".yaml.bak", ""]))] = draw(texts)
        elif kind == "yml":
            key = stem + ".yml"
            data[key] = draw(
                _text_of({"entries": [draw(good_entries(draw(dns_labels), namespace, slot)).raw]})
            )
            cm.key_problems.append(f"data[{key}]")
        elif kind == "empty":
            data[stem + ".yaml"] = draw(
                st.sampled_from(["", "\n", "# nothing\n", "null", "entries:", "[]", "entries: []"])
            )
        elif kind == "not yaml":
            key = stem + ".yaml"
            text = draw(not_yaml)
            if live:
                text = text.replace("\x00", "\x01")  # still not YAML; JSON strings may hold it either way
            data[key] = text
            cm.key_problems.append(f"data[{key}]")
        else:
            key = stem + ".yaml"
            data[key], where = draw(
                st.sampled_from(
                    [("entries: 5", ".entries"), ("just text", ""), ("{entries: {a: 1}}", ".entries")]
                )
            )
            cm.key_problems.append(f"data[{key}]{where}")
    return cm


def fuzz_settings(share: float, **overrides: Any) -> settings:
    """The chosen profile with `share` of its examples: costly tests run fewer."""
    base = settings.get_profile(PROFILE)
    return settings(base, max_examples=max(1, round(base.max_examples * share)), **overrides)


# --- names at every length limit ------------------------------------------------------------------


def name_of(length: int, dots: bool, seed: int) -> str:
    """A lowercase name of `length` characters, alphanumeric at both ends, with dots if asked."""
    body = "".join("abcdefghij0123456789-"[(seed + i * 7) % 21] for i in range(length))
    if dots:
        body = "".join("." if i % 9 == 4 else c for i, c in enumerate(body))
    chars = list(body)
    for i in range(1, length - 1):  # no "-." ".-" ".." : each label stays a label
        if chars[i] == "." and (chars[i - 1] in ".-" or chars[i + 1] in ".-"):
            chars[i] = "a"
    chars[0] = chars[-1] = "z"
    return "".join(chars)


# Each limit, and one on either side of it.
CONFIGMAP_NAME_LENGTHS = [1, MAX_LABEL, MAX_LABEL + 1, MAX_CONFIGMAP_NAME - 1, MAX_CONFIGMAP_NAME]
CONFIGMAP_NAME_LENGTHS += [MAX_CONFIGMAP_NAME + 1, MAX_OBJECT_NAME, MAX_OBJECT_NAME + 1]
LABEL_LENGTHS = [1, MAX_LABEL - 1, MAX_LABEL, MAX_LABEL + 1]


@st.composite
def names_at_limits(draw: Any) -> tuple[str, str, str]:
    """(configmap, namespace, entry) names, each at a length limit or next to one."""
    seed = draw(st.integers(0, 20))
    configmap = name_of(draw(st.sampled_from(CONFIGMAP_NAME_LENGTHS)), draw(st.booleans()), seed)
    namespace = name_of(draw(st.sampled_from(LABEL_LENGTHS)), False, seed + 1)
    entry = name_of(draw(st.sampled_from(LABEL_LENGTHS)), False, seed + 2)
    return configmap, namespace, entry
