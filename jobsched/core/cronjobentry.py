"""One batch/v1 CronJob as a jobsched ConfigMap entry with the same meaning, or the reasons it cannot be.

`jobsched convert` moves CronJobs into ConfigMaps. An entry there is read in jobsched's dialect, so the
schedule is carried only when it fires on the same instants there (`jobsched.core.dialects`), rewritten
when that makes it so; the other CronJob fields map one to one; the jobTemplate becomes a ``kind: Job``
template and is checked by the very parser the engine runs (`cronspec`). Nothing is dropped without a
`Finding`: a fatal one means the CronJob is not converted, a note means it is, with the note's caveat.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import yaml

from jobsched.core.cronentry import thaw
from jobsched.core.cronschedule import CronSpecError, load_zone
from jobsched.core.cronspec import DEFAULT_NAMESPACE, parse_entries_yaml
from jobsched.core.dialects import Equivalence, equivalent_schedule

# CronJob spec fields and the entry fields they become (the same names; jobTemplate → template).
_CARRIED: Final = (
    "concurrencyPolicy",
    "startingDeadlineSeconds",
    "suspend",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
)
_HANDLED_SPEC: Final = frozenset({"schedule", "timeZone", "jobTemplate", *_CARRIED})
# Set by the API server, not by whoever wrote the CronJob: leaving them behind loses nothing.
_SERVER_METADATA: Final = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "namespace",
        "name",
    }
)
_LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
# The C emitter when PyYAML was built with libyaml: the same output, many times faster.
_YAML_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True, slots=True)
class Finding:
    """Something about one CronJob that the user must know; `fatal` ones stop its conversion."""

    cronjob: str  # "namespace/name"
    field: str  # where in the CronJob, e.g. "spec.jobTemplate.spec.template.spec.nodeName"
    message: str
    fatal: bool


@dataclass(frozen=True, slots=True)
class ConvertedCronJob:
    namespace: str
    name: str
    entry: dict[str, Any] | None  # the ConfigMap entry; None when any finding is fatal
    findings: tuple[Finding, ...]
    entry_yaml: str | None = None  # `entry` as a one-item YAML list, the text the engine checked


@functools.lru_cache(maxsize=4096)
def _equivalence(schedule: str, time_zone: str, start: datetime) -> Equivalence:
    return equivalent_schedule(schedule, time_zone, start)


def cronjob_to_entry(
    obj: Mapping[str, Any], *, controller_zone: str, start: datetime, scheduler_name: str
) -> ConvertedCronJob:
    """The ConfigMap entry for the CronJob `obj` (raw API JSON), judged from `start` on.

    `controller_zone` stands for the kube-controller-manager's local zone, which batch/v1 uses for
    CronJobs without spec.timeZone.
    """
    raw_metadata = obj.get("metadata")
    metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, Mapping) else {}
    namespace = metadata.get("namespace") or DEFAULT_NAMESPACE
    name = metadata.get("name")
    label = f"{namespace}/{name if isinstance(name, str) and name else '<unnamed>'}"
    findings: list[Finding] = []

    def fatal(field: str, message: str) -> None:
        findings.append(Finding(label, field, message, fatal=True))

    def note(field: str, message: str) -> None:
        findings.append(Finding(label, field, message, fatal=False))

    if obj.get("apiVersion") != "batch/v1":
        fatal("apiVersion", f"only batch/v1 CronJobs are converted, got {obj.get('apiVersion')!r:.40}")
    if not isinstance(namespace, str) or not isinstance(name, str) or not name:
        fatal("metadata", "a CronJob needs a name and a string namespace")
        return ConvertedCronJob(str(namespace), str(name), None, tuple(findings))
    _note_metadata(metadata, note)
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        fatal("spec", "required: a mapping")
        return ConvertedCronJob(namespace, name, None, tuple(findings))
    for key in sorted(set(spec) - _HANDLED_SPEC, key=str):
        fatal(f"spec.{key}", "not carried: a jobsched entry has no such field")
    status = obj.get("status")
    active = status.get("active") if isinstance(status, Mapping) else None
    if isinstance(active, list) and active:
        note(
            "status.active",
            f"{len(active)} Job(s) still running; jobsched's concurrencyPolicy will not see them",
        )

    entry: dict[str, Any] = {"name": name}
    entry.update(_schedule_fields(spec, controller_zone, start, fatal, note))
    entry.update({key: spec[key] for key in _CARRIED if spec.get(key) is not None})
    entry["kind"] = "Job"
    entry["template"] = _job_template(spec.get("jobTemplate"))
    # The engine's own parser decides what the entry may hold (names, templates, types). A schedule
    # already refused above is stood in for, so that the template is judged too.
    checked = entry if "schedule" in entry else {**entry, "schedule": "@daily"}
    text = yaml.dump([thaw(checked)], Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True)
    for problem in parse_entries_yaml(text, namespace, "convert", scheduler_name)[1]:
        fatal(_cronjob_path(problem.field), problem.message)
    if any(finding.fatal for finding in findings):
        return ConvertedCronJob(namespace, name, None, tuple(findings))
    return ConvertedCronJob(namespace, name, entry, tuple(findings), text)


_Report = Callable[[str, str], None]  # (field, message)


def _note_metadata(metadata: Mapping[str, Any], note: _Report) -> None:
    for key in sorted(set(metadata) - _SERVER_METADATA, key=str):
        value = metadata[key]
        if key == "annotations" and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k != _LAST_APPLIED}
        if value:
            note(f"metadata.{key}", "not carried: entries have none (the Jobs get the jobTemplate's)")


def _schedule_fields(
    spec: Mapping[str, Any], controller_zone: str, start: datetime, fatal: _Report, note: _Report
) -> dict[str, Any]:
    schedule, zone = spec.get("schedule"), spec.get("timeZone")
    if zone is None:
        zone = controller_zone
    elif not isinstance(zone, str):
        fatal("spec.timeZone", f"must be a string, got {zone!r:.40}")
        return {}
    else:
        try:
            load_zone(zone)
        except CronSpecError as exc:
            fatal("spec.timeZone", str(exc))
            return {}
    if not isinstance(schedule, str):
        fatal("spec.schedule", "required: a string")
        return {}
    try:
        same = _equivalence(schedule, zone, start)
    except CronSpecError as exc:
        fatal("spec.schedule", f"not a valid batch/v1 schedule: {exc}")
        return {}
    if same.schedule is None:
        fatal("spec.schedule", f"{schedule!r} in {zone} has no equivalent in jobsched: {same.difference}")
        return {}
    if same.translated:
        note(
            "spec.schedule",
            f"written as {same.schedule!r}, which fires as batch/v1 does in {zone}; as written, {same.difference}",
        )
    return {"schedule": same.schedule} | ({"timeZone": zone} if zone != "UTC" else {})


def _job_template(value: Any) -> Any:
    """The jobTemplate as an entry template, minus the ``creationTimestamp: null`` kubectl prints."""
    if not isinstance(value, Mapping):
        return value
    template = dict(value)
    template["metadata"] = _without_null_timestamp(template.get("metadata"))
    spec = template.get("spec")
    if isinstance(spec, Mapping) and isinstance(spec.get("template"), Mapping):
        pod = dict(spec["template"])
        pod["metadata"] = _without_null_timestamp(pod.get("metadata"))
        template["spec"] = {**spec, "template": {k: v for k, v in pod.items() if v is not None}}
    return {k: v for k, v in template.items() if v is not None}


def _without_null_timestamp(metadata: Any) -> Any:
    if not isinstance(metadata, Mapping):
        return metadata
    kept = {k: v for k, v in metadata.items() if not (k == "creationTimestamp" and v is None)}
    return kept or None


def _cronjob_path(entry_path: str) -> str:
    """An entry field path ("entries[0].template.spec...") as the CronJob field it came from."""
    rest = entry_path.split(".", 1)[1] if "." in entry_path else ""
    head, _, tail = rest.partition(".")
    base = {"name": "metadata.name", "template": "spec.jobTemplate", "": "spec"}.get(head, f"spec.{head}")
    return f"{base}.{tail}" if tail else base
