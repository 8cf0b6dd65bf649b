"""What the ConfigMap parse worker sends back survives the trip: entries pickle, templates stay frozen."""

from __future__ import annotations

import pickle
from types import MappingProxyType

import orjson
import yaml

from jobsched.runtime.cron.parse_worker import parse_raw

TEMPLATE = {
    "metadata": {"labels": {"team": "a"}},
    "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "x", "value": "y"}]}]},
}


def configmap(entries: list[dict[str, object]]) -> bytes:
    body = {
        "metadata": {"name": "crons", "namespace": "ns", "labels": {"jobsched.io/cron": "true"}},
        "data": {"crons.yaml": yaml.safe_dump({"entries": entries})},
    }
    return orjson.dumps(body)


def test_entries_and_problems_pickle_and_stay_frozen() -> None:
    raw = configmap(
        [
            {"name": "good", "schedule": "@hourly", "template": TEMPLATE},
            {"name": "bad", "schedule": "61 * * * *", "template": TEMPLATE},
        ]
    )
    entries, problems = parse_raw(raw, "jobsched")
    back_entries, back_problems = pickle.loads(pickle.dumps((entries, problems)))
    assert back_entries == entries
    assert back_problems == problems
    (entry,) = back_entries
    assert entry.spec_hash == entries[0].spec_hash
    assert isinstance(entry.template, MappingProxyType)
    container = entry.template["spec"]["containers"][0]
    assert isinstance(container, MappingProxyType)
    assert isinstance(container["env"][0], MappingProxyType)
    assert [p.entry for p in back_problems] == ["bad"]


def test_equal_templates_are_held_once_and_travel_once() -> None:
    other = {**TEMPLATE, "metadata": {"labels": {"team": "b"}}}
    raw = configmap(
        [
            {"name": "a1", "schedule": "@hourly", "template": TEMPLATE},
            {"name": "b1", "schedule": "@hourly", "template": other},
            {"name": "a2", "schedule": "@daily", "template": TEMPLATE},
        ]
    )
    entries, _ = parse_raw(raw, "jobsched")
    a1, b1, a2 = entries
    assert a1.template is a2.template
    assert b1.template is not a1.template
    assert b1.template["metadata"]["labels"]["team"] == "b"
    back = pickle.loads(pickle.dumps(entries))
    assert back == entries
    assert back[0].template is back[2].template
    assert back[0].template == a1.template
    assert [e.spec_hash for e in back] == [e.spec_hash for e in entries]
