"""The JSON body jobsched POSTs for one cron slot: a Pod (the default) or a batch/v1 Job.

Built here, from plain data, so that what jobsched creates can be checked in a table test without an
API server, and so that the hot path only has to serialise a dict. The entry's template is copied, never
mutated; jobsched's own metadata wins over the template's where both set a key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from jobsched import SCHEDULER_NAME
from jobsched.core.cronspec import CronEntry, thaw
from jobsched.core.naming import slot_labels_and_annotations, slot_object_name
from jobsched.core.vocabulary import TRACKING_FINALIZER


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
    template: dict[str, Any] = thaw(entry.template)
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
