"""The rules for a cron entry's template: the Pod or Job that jobsched creates for each of its slots.

jobsched checks structure, not the full Kubernetes schema (the apiserver does that when the object is
created): plain JSON data within size and depth limits, containers with names and images, the
object created only in the ConfigMap's namespace, by the jobsched scheduler, under a name jobsched
chooses, with numbers in the ranges batch/v1 stores. See docs/cron-format.md, "Template rules".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, Protocol

from jobsched.core.boundedyaml import clip
from jobsched.core.cronlimits import (
    DNS_SUBDOMAIN,
    INT32_MAX,
    INT64_MAX,
    INT64_MIN,
    MAX_OBJECT_NAME,
    MAX_TEMPLATE_DEPTH,
    MAX_TEMPLATE_NODES,
    show,
)

RESTART_POLICIES: Final = ("Never", "OnFailure")
# The Job fields checked here, with the largest value batch/v1 stores (int32, or int64).
_JOB_COUNTS: Final = (
    ("backoffLimit", INT32_MAX),
    ("completions", INT32_MAX),
    ("parallelism", INT32_MAX),
    ("activeDeadlineSeconds", INT64_MAX),
    ("ttlSecondsAfterFinished", INT32_MAX),
)


class EntryProblems(Protocol):
    """Where the problems of one entry go (cronspec's entry context)."""

    namespace: str
    scheduler_name: str

    def problem(self, sub: str, message: str) -> None: ...


def check_template(ctx: EntryProblems, value: Any, kind: str) -> Mapping[str, Any] | None:
    """`value` if it is a usable pod (or, for kind Job, job) template; else None, with its problems."""
    if not isinstance(value, Mapping):
        ctx.problem("template", f"required: a {'job' if kind == 'Job' else 'pod'} template mapping")
        return None
    if not _json_like(ctx, value):
        return None
    _metadata(ctx, "template.metadata", value.get("metadata"), top=True)
    spec = value.get("spec")
    if not isinstance(spec, Mapping):
        ctx.problem("template.spec", "required: a mapping")
    elif kind == "Job":
        _job_spec(ctx, spec)
    else:
        _pod_spec(ctx, "template.spec", spec)
    return value


def _json_like(ctx: EntryProblems, template: Mapping[str, Any]) -> bool:
    """Whether `template` is plain JSON data (what the apiserver would store); reports the first offence.

    Iterative, and a value's path is written out only for the one reported: a template is up to
    MAX_TEMPLATE_NODES values, and copying paths for each would cost values x depth.
    """
    # (value, depth, where): `where` is (parent's where, key) or None, a path in reverse, built lazily.
    pending: list[tuple[Any, int, Any]] = [(template, 0, None)]
    seen = 0
    while pending:
        value, depth, where = pending.pop()
        seen += 1
        if seen > MAX_TEMPLATE_NODES:
            ctx.problem("template", f"too large: more than {MAX_TEMPLATE_NODES} values")
            return False
        if depth > MAX_TEMPLATE_DEPTH:
            ctx.problem("template", f"nested too deeply: more than {MAX_TEMPLATE_DEPTH} levels")
            return False
        if isinstance(value, Mapping):
            children = []
            for key, item in value.items():
                if not isinstance(key, str):
                    ctx.problem(_where("template", where), f"key {show(key)} must be a string; quote it")
                    return False
                children.append((item, depth + 1, (where, key)))
            pending.extend(reversed(children))  # depth first, in order: the first offence is reported
        elif isinstance(value, list):
            pending.extend((value[i], depth + 1, (where, i)) for i in range(len(value) - 1, -1, -1))
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                ctx.problem(
                    _where("template", where), f"{show(value)} does not fit in 64 bits, as JSON numbers must"
                )
                return False
        elif isinstance(value, float):
            if not math.isfinite(value):
                ctx.problem(_where("template", where), "must be a finite number")
                return False
        else:
            ctx.problem(
                _where("template", where), f"a YAML {type(value).__name__} is not JSON; quote the value"
            )
            return False
    return True


def _where(prefix: str, where: Any) -> str:
    """The field path of a value found by _json_like."""
    parts: list[str] = []
    while where is not None:
        where, key = where
        parts.append(f"[{key}]" if isinstance(key, int) else f".{clip(key)}")
    return prefix + "".join(reversed(parts))


def _metadata(ctx: EntryProblems, path: str, value: Any, *, top: bool) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        ctx.problem(path, "must be a mapping")
        return
    for key in ("labels", "annotations"):
        items = value.get(key)
        if items is None:
            continue
        if not isinstance(items, Mapping) or not all(isinstance(v, str) for v in items.values()):
            ctx.problem(f"{path}.{key}", 'must map strings to strings (quote values such as "true")')
    namespace = value.get("namespace")
    if namespace is not None and namespace != ctx.namespace:
        ctx.problem(
            f"{path}.namespace",
            f"must be omitted or {show(ctx.namespace)}: objects are created only in the ConfigMap's namespace",
        )
    if top:
        for key in ("name", "generateName"):
            if key in value:
                ctx.problem(
                    f"{path}.{key}", "must be omitted: jobsched names each object from entry and slot"
                )


def _pod_spec(ctx: EntryProblems, path: str, spec: Mapping[str, Any]) -> None:
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        ctx.problem(f"{path}.containers", "required: a non-empty list of containers")
    else:
        for index, container in enumerate(containers):
            where = f"{path}.containers[{index}]"
            if not isinstance(container, Mapping):
                ctx.problem(where, "must be a mapping")
                continue
            for key in ("name", "image"):
                if not isinstance(container.get(key), str) or not container.get(key):
                    ctx.problem(f"{where}.{key}", "required: a non-empty string")
    if "nodeName" in spec:
        ctx.problem(f"{path}.nodeName", "must not be set: the jobsched scheduler places the pods")
    scheduler = spec.get("schedulerName")
    if scheduler is not None and scheduler != ctx.scheduler_name:
        ctx.problem(f"{path}.schedulerName", f"must be omitted or {show(ctx.scheduler_name)}")
    restart = spec.get("restartPolicy")
    if restart is not None and restart not in RESTART_POLICIES:
        ctx.problem(f"{path}.restartPolicy", "must be Never or OnFailure: a cron pod has to finish")
    # Whether the account exists is checked against the cluster when the entry is staged.
    for key in ("serviceAccountName", "serviceAccount"):
        account = spec.get(key)
        if account is None:
            continue
        if not isinstance(account, str) or len(account) > MAX_OBJECT_NAME or not DNS_SUBDOMAIN.match(account):
            ctx.problem(
                f"{path}.{key}", f"{show(account)} is not a service account name (a DNS-1123 subdomain)"
            )


def _job_spec(ctx: EntryProblems, spec: Mapping[str, Any]) -> None:
    for key, most in _JOB_COUNTS:
        value = spec.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= most
        ):
            ctx.problem(f"template.spec.{key}", f"must be an integer ≥ 0 and ≤ {most}, got {show(value)}")
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        ctx.problem("template.spec.completionMode", "must be NonIndexed or Indexed")
    pod = spec.get("template")
    if not isinstance(pod, Mapping):
        ctx.problem("template.spec.template", "required: the pod template of the Job")
        return
    _metadata(ctx, "template.spec.template.metadata", pod.get("metadata"), top=False)
    pod_spec = pod.get("spec")
    if not isinstance(pod_spec, Mapping):
        ctx.problem("template.spec.template.spec", "required: a mapping")
    else:
        _pod_spec(ctx, "template.spec.template.spec", pod_spec)
