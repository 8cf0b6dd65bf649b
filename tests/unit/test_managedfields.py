"""Watch events lose metadata.managedFields before decoding, exactly, whatever the strings in them hold."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from jobsched.kube.managedfields import without_managed_fields

# Characters that could fool a cut by pattern: its own pieces, quotes, escapes, and a letter to follow.
PIECES = st.text(alphabet=st.sampled_from([*']},"\\:[{ as', "é", "\n"]), max_size=12)
TRICKY = PIECES | PIECES.map(lambda text: text + "]},")  # a string ending like the array's end


def managed_entry(manager: str, field_key: str, subresource: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2026-12-04T13:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {f"f:{field_key}": {}}}, "f:spec": {".": {}}},
    }
    if subresource is not None:
        entry["subresource"] = subresource
    return entry


def pod_event(annotation: str, entries: list[dict[str, Any]], after: list[str]) -> dict[str, Any]:
    """A watch event as the apiserver writes it: metadata's fields in Go's order, managedFields last."""
    metadata: dict[str, Any] = {
        "name": "slot-1",
        "namespace": "team-a",
        "uid": "u-1",
        "resourceVersion": "42",
        "annotations": {"note": annotation},
        "finalizers": ["jobsched.io/tracking"],
        "managedFields": entries,
    }
    obj: dict[str, Any] = {"kind": "Pod", "apiVersion": "v1", "metadata": metadata}
    for key in after:
        obj[key] = {"phase": annotation} if key == "status" else {"nodeName": annotation}
    return {"type": "MODIFIED", "object": obj}


def without(event: dict[str, Any]) -> dict[str, Any]:
    trimmed = copy.deepcopy(event)
    del trimmed["object"]["metadata"]["managedFields"]
    return trimmed


def test_a_running_pods_event_is_decoded_without_its_managed_fields() -> None:
    event = pod_event(
        "x",
        [managed_entry("jobsched", "app", None), managed_entry("kwok", "app", "status")],
        ["spec", "status"],
    )
    line = orjson.dumps(event)
    cut = without_managed_fields(line)
    assert len(cut) < len(line)
    assert orjson.loads(cut) == without(event)


def test_a_manager_named_like_the_end_of_the_array_is_cut_at_the_real_end() -> None:
    event = pod_event("]},", [managed_entry("]},", "]},", "]},"), managed_entry("a", "b", None)], ["spec"])
    assert orjson.loads(without_managed_fields(orjson.dumps(event))) == without(event)


def test_an_event_without_managed_fields_is_passed_on_as_it_came() -> None:
    line = orjson.dumps({"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": "7"}}})
    assert without_managed_fields(line) is line


def test_metadata_as_the_objects_last_key_is_left_whole() -> None:
    event = pod_event("x", [managed_entry("m", "a", None)], after=[])
    line = orjson.dumps(event)
    assert without_managed_fields(line) is line


@given(
    annotation=TRICKY,
    managers=st.lists(st.tuples(TRICKY, TRICKY, st.none() | TRICKY), max_size=4),
    after=st.sampled_from([[], ["spec"], ["spec", "status"], ["status"]]),
)
def test_strings_that_look_like_the_pattern_never_mislead_the_cut(
    annotation: str, managers: list[tuple[str, str, str | None]], after: list[str]
) -> None:
    event = pod_event(annotation, [managed_entry(m, k, s) for m, k, s in managers], after)
    decoded = orjson.loads(without_managed_fields(orjson.dumps(event)))
    if after:
        assert decoded == without(event)
    else:
        assert decoded == event  # nothing follows metadata: no exact end to cut at, so no cut
