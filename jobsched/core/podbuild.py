"""The JSON body jobsched POSTs for one cron slot: a Pod (the default) or a batch/v1 Job.

Built here, from plain data, so that what jobsched creates can be checked in a table test without an
API server, and so that the hot path only has to serialise a dict. The entry's template is copied, never
mutated; jobsched's own metadata wins over the template's where both set a key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from jobsched import SCHEDULER_NAME
from jobsched.core.cronentry import CronEntry, thaw
from jobsched.core.cronschedule import load_zone
from jobsched.core.naming import rfc3339, slot_labels_and_annotations, slot_object_name
from jobsched.core.vocabulary import (
    CRONJOB_SCHEDULED_TIMESTAMP,
    PREVIOUS_SCHEDULE_ANNOTATION,
    TRACKING_FINALIZER,
)


def build_slot_object(
    entry: CronEntry,
    slot: datetime,
    scheduler_name: str = SCHEDULER_NAME,
    *,
    scheduling_gates: Sequence[str] = (),
) -> dict[str, Any]:
    """The Pod or Job for `entry` at `slot`, ready to POST to the entry's namespace.

    The entry's priority travels as the jobsched.io/priority annotation (see naming), never as
    spec.priority, which the Priority admission plugin rejects without a priorityClassName.

    `scheduling_gates` become spec.schedulingGates (of the pod template for a Job); none by default.
    """
    template = template_copy(entry.template)
    labels, annotations = slot_labels_and_annotations(entry, slot)
    metadata = _merged_metadata(template.get("metadata"), labels, annotations)
    metadata["name"] = slot_object_name(entry, slot)
    metadata["namespace"] = entry.namespace
    spec: dict[str, Any] = template.get("spec") or {}
    if entry.kind == "Job":
        pod_template: dict[str, Any] = spec.get("template") or {}
        pod_template["metadata"] = _merged_metadata(pod_template.get("metadata"), labels, annotations)
        pod_template["metadata"].pop("namespace", None)
        pod_template["spec"] = _pod_spec(
            entry, pod_template.get("spec") or {}, scheduler_name, scheduling_gates
        )
        spec["template"] = pod_template
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}
    finalizers = metadata.setdefault("finalizers", [])
    if TRACKING_FINALIZER not in finalizers:
        finalizers.append(TRACKING_FINALIZER)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": _pod_spec(entry, spec, scheduler_name, scheduling_gates),
    }


def build_adopted_job(
    entry: CronEntry,
    slot: datetime,
    scheduler_name: str = SCHEDULER_NAME,
    *,
    now: datetime,
    previous: datetime | None,
) -> dict[str, Any]:
    """The Job for an adopted CronJob's `slot`, created at `now`, the native controller's Job but for
    what pre-staging needs.

    As the native controller builds it: the name `<cronjob>-<unix minutes>`, the jobTemplate's labels and
    annotations plus `batch.kubernetes.io/cronjob-scheduled-timestamp` (the slot in spec.timeZone, UTC
    without one), an ownerReference to the CronJob, and the jobTemplate's spec. What jobsched adds: its
    slot label and annotation (also on the pod template, so its scheduler holds the pods until the
    slot), its `schedulerName`, the CronJob's lastScheduleTime before this slot (`previous`, restored if
    the slot is called off), an ownerReference that is not yet the controller (the native controller
    ignores the Job until jobsched has recorded it in the CronJob's status; then it is made the
    controller), and an activeDeadlineSeconds lengthened by the time left until the slot, since the Job
    controller counts it from the Job's start, which is now (it is set exactly once the Job started).
    """
    origin = entry.origin
    if origin is None:
        raise ValueError(f"entry {entry.key} is not an adopted CronJob")
    template = template_copy(entry.template)
    labels, annotations = slot_labels_and_annotations(entry, slot)
    source_meta = template.get("metadata") or {}
    metadata: dict[str, Any] = {
        "name": slot_object_name(entry, slot),
        "namespace": entry.namespace,
        "labels": {**(source_meta.get("labels") or {}), **labels},
        "annotations": {
            **(source_meta.get("annotations") or {}),
            CRONJOB_SCHEDULED_TIMESTAMP: go_rfc3339(slot, origin.time_zone),
            **annotations,
            PREVIOUS_SCHEDULE_ANNOTATION: rfc3339(previous) if previous is not None else "",
        },
        "ownerReferences": [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": entry.name,
                "uid": origin.uid,
                "controller": False,
                "blockOwnerDeletion": True,
            }
        ],
    }
    spec: dict[str, Any] = template.get("spec") or {}
    pod_template: dict[str, Any] = spec.get("template") or {}
    pod_template["metadata"] = _merged_metadata(pod_template.get("metadata"), labels, annotations)
    pod_template["metadata"].pop("namespace", None)
    pod_template["spec"] = _pod_spec(entry, pod_template.get("spec") or {}, scheduler_name, ())
    spec["template"] = pod_template
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and not isinstance(deadline, bool):
        spec["activeDeadlineSeconds"] = deadline + max(0, math.ceil((slot - now).total_seconds()))
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


# Each template's JSON, by identity (the template is kept with it, so the id cannot be reused meanwhile).
_TEMPLATE_JSON: dict[int, tuple[Mapping[str, Any], bytes]] = {}
_TEMPLATE_JSON_MAX: Final = 4096


def template_copy(template: Mapping[str, Any]) -> dict[str, Any]:
    """A mutable deep copy of an entry's frozen template, made by decoding its JSON, which is kept.

    Entries parsed together share their template object, so a storm of 10,000 slots decodes a handful of
    JSON texts 10,000 times (one C call each) instead of walking 10,000 frozen trees in Python.
    """
    cached = _TEMPLATE_JSON.get(id(template))
    if cached is None or cached[0] is not template:
        try:
            text = orjson.dumps(template, default=dict)
        except orjson.JSONEncodeError:  # not JSON data orjson writes (it checks more than the parser)
            copy: dict[str, Any] = thaw(template)
            return copy
        if len(_TEMPLATE_JSON) >= _TEMPLATE_JSON_MAX:
            _TEMPLATE_JSON.clear()
        cached = _TEMPLATE_JSON[id(template)] = (template, text)
    decoded: dict[str, Any] = orjson.loads(cached[1])
    return decoded


def go_rfc3339(moment: datetime, zone: str | None) -> str:
    """`moment` as Go's time.RFC3339 prints it in `zone` (UTC for None): "Z" for a zero offset."""
    local = moment.astimezone(load_zone(zone) if zone else UTC)
    offset = local.utcoffset()
    if not offset:
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.isoformat(timespec="seconds")


def adjusted_deadline(entry: CronEntry, slot: datetime, started: datetime) -> int | None:
    """The activeDeadlineSeconds that ends an adopted Job `original` seconds after its slot (or after its
    start, for one started late), given when the Job controller started it, which for a pre-staged Job
    is before the slot; None when its template sets none."""
    original = (entry.template.get("spec") or {}).get("activeDeadlineSeconds")
    if not isinstance(original, int) or isinstance(original, bool):
        return None
    return original + max(0, math.floor((slot - started).total_seconds()))


def _merged_metadata(
    metadata: dict[str, Any] | None, labels: dict[str, str], annotations: dict[str, str]
) -> dict[str, Any]:
    merged = dict(metadata or {})
    merged["labels"] = {**(merged.get("labels") or {}), **labels}
    merged["annotations"] = {**(merged.get("annotations") or {}), **annotations}
    return merged


def _pod_spec(
    entry: CronEntry, spec: dict[str, Any], scheduler_name: str, gates: Sequence[str]
) -> dict[str, Any]:
    spec["schedulerName"] = scheduler_name
    spec.setdefault("restartPolicy", "Never")
    if gates:
        spec["schedulingGates"] = [{"name": gate} for gate in gates]
    return spec


SERVICE_ACCOUNT_FIELDS: Final = ("serviceAccountName", "serviceAccount")


def service_account_refs(entry: CronEntry) -> list[tuple[str, str]]:
    """The service accounts an entry's pods would run as: (field path in the entry, name).

    Both the field and its deprecated alias `serviceAccount` are listed when set (once per distinct
    name), since either one can decide which account the pod runs as. A template that names none runs as the namespace's `default`
    account, which the apiserver provides; only a named one has to be checked.
    """
    template = entry.template
    spec = template.get("spec")
    path = "template.spec"
    if entry.kind == "Job" and isinstance(spec, Mapping):
        pod = spec.get("template")
        spec = pod.get("spec") if isinstance(pod, Mapping) else None
        path = "template.spec.template.spec"
    if not isinstance(spec, Mapping):
        return []
    refs: list[tuple[str, str]] = []
    for key in SERVICE_ACCOUNT_FIELDS:
        name = spec.get(key)
        if isinstance(name, str) and name and all(name != seen for _, seen in refs):
            refs.append((f"{path}.{key}", name))
    return refs
