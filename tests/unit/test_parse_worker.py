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
