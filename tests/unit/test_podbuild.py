"""The Pod / Job bodies jobsched creates for a slot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jobsched.core.cronentry import CronEntry, freeze, thaw
from jobsched.core.naming import slot_object_name
from jobsched.core.podbuild import build_slot_object, service_account_refs, template_copy
from jobsched.core.vocabulary import TRACKING_FINALIZER

SLOT = datetime(2026, 1, 1, tzinfo=UTC)
POD_TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "x", "jobsched.io/entry": "spoofed"}, "annotations": {"note": "keep"}},
    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
}


def test_pod_body() -> None:
    entry = CronEntry(
        "batch", "crons", "report", "@daily", domains=("virtual", "regular"), template=POD_TEMPLATE
    )
    body = build_slot_object(entry, SLOT, "jobsched")
    assert body["apiVersion"] == "v1"
    assert body["kind"] == "Pod"
    meta = body["metadata"]
    assert meta["name"] == slot_object_name(entry, SLOT)
    assert meta["namespace"] == "batch"
    assert meta["labels"] == {
        "app": "x",
        "jobsched.io/entry": "crons.report",
        "jobsched.io/configmap": "crons",
    }
    assert meta["annotations"] == {
        "note": "keep",
        "jobsched.io/scheduled-time": "2026-01-01T00:00:00Z",
        "jobsched.io/domains": "virtual,regular",
    }
    assert meta["finalizers"] == [TRACKING_FINALIZER]
    assert body["spec"] == {
        "containers": [{"name": "c", "image": "busybox"}],
        "schedulerName": "jobsched",
        "restartPolicy": "Never",
    }


def test_pod_options() -> None:
    template = {"spec": {**POD_TEMPLATE["spec"], "restartPolicy": "OnFailure"}}
    entry = CronEntry("batch", "crons", "report", "@daily", priority=50, template=template)
    body = build_slot_object(entry, SLOT, "burst", scheduling_gates=["jobsched.io/staged"])
    assert body["spec"]["schedulerName"] == "burst"
    assert body["spec"]["restartPolicy"] == "OnFailure"
    assert "priority" not in body["spec"]
    assert body["metadata"]["annotations"]["jobsched.io/priority"] == "50"
    assert body["spec"]["schedulingGates"] == [{"name": "jobsched.io/staged"}]
    assert "jobsched.io/domains" not in body["metadata"]["annotations"]


def test_template_is_not_shared_with_bodies() -> None:
    entry = CronEntry("batch", "crons", "report", "@daily", template=POD_TEMPLATE)
    first = build_slot_object(entry, SLOT)
    first["spec"]["containers"][0]["image"] = "mutated"
    first["metadata"]["labels"]["x"] = "y"
    second = build_slot_object(entry, SLOT)
    assert second["spec"]["containers"][0]["image"] == "busybox"
    assert "x" not in second["metadata"]["labels"]
    assert first["metadata"]["name"] == second["metadata"]["name"]


def test_job_body() -> None:
    template = {
        "metadata": {"labels": {"team": "search"}},
        "spec": {
            "backoffLimit": 3,
            "completionMode": "Indexed",
            "completions": 8,
            "template": {"metadata": {"labels": {"pod": "yes"}}, "spec": POD_TEMPLATE["spec"]},
        },
    }
    entry = CronEntry("search", "reindex", "shards", "15 2 * * *", kind="Job", priority=5, template=template)
    body = build_slot_object(entry, SLOT)
    assert (body["apiVersion"], body["kind"]) == ("batch/v1", "Job")
    assert body["metadata"]["namespace"] == "search"
    assert len(body["metadata"]["name"]) <= 52
    assert "finalizers" not in body["metadata"]
    assert body["metadata"]["labels"]["team"] == "search"
    assert body["spec"]["backoffLimit"] == 3
    pod = body["spec"]["template"]
    assert pod["metadata"]["labels"] == {
        "pod": "yes",
        "jobsched.io/entry": "reindex.shards",
        "jobsched.io/configmap": "reindex",
    }
    assert pod["metadata"]["annotations"]["jobsched.io/scheduled-time"] == "2026-01-01T00:00:00Z"
    assert pod["spec"]["schedulerName"] == "jobsched"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert "priority" not in pod["spec"]
    assert pod["metadata"]["annotations"]["jobsched.io/priority"] == "5"
    assert "schedulingGates" not in pod["spec"]


def test_service_account_refs_name_the_field_to_fix() -> None:
    """The engine checks these accounts exist before creating, and reports the field path given here."""
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    plain = CronEntry("batch", "crons", "a", "@daily", template={"spec": spec})
    assert service_account_refs(plain) == []  # runs as `default`, which is not checked
    named = CronEntry(
        "batch", "crons", "b", "@daily", template={"spec": {**spec, "serviceAccountName": "etl"}}
    )
    assert service_account_refs(named) == [("template.spec.serviceAccountName", "etl")]
    both = {**spec, "serviceAccountName": "etl", "serviceAccount": "legacy"}
    assert service_account_refs(CronEntry("batch", "crons", "c", "@daily", template={"spec": both})) == [
        ("template.spec.serviceAccountName", "etl"),
        ("template.spec.serviceAccount", "legacy"),
    ]
    same = {**spec, "serviceAccountName": "etl", "serviceAccount": "etl"}
    assert len(service_account_refs(CronEntry("batch", "crons", "d", "@daily", template={"spec": same}))) == 1
    job = CronEntry(
        "batch",
        "crons",
        "e",
        "@daily",
        kind="Job",
        template={"spec": {"template": {"spec": {**spec, "serviceAccount": "old"}}}},
    )
    assert service_account_refs(job) == [("template.spec.template.spec.serviceAccount", "old")]


def test_a_template_copy_is_a_fresh_mutable_copy_of_that_template() -> None:
    one = freeze({"spec": {"containers": [{"name": "a", "args": ["x", 1, 2.5, True, None]}]}})
    other = freeze({"spec": {"containers": [{"name": "b"}]}})
    first = template_copy(one)
    assert first == thaw(one)
    first["spec"]["containers"][0]["name"] = "changed"
    first["spec"]["containers"].append({"name": "more"})
    assert template_copy(one) == thaw(one)  # the kept JSON is not the copy handed out
    assert template_copy(other) == thaw(other)
    huge = freeze({"spec": {"n": 2**70}})  # beyond what orjson writes: copied the slow way
    assert template_copy(huge) == {"spec": {"n": 2**70}}
