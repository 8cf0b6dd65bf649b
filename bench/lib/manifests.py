"""The objects each system is given: one pod shape, wrapped as a raw Pod, a CronJob or a cron entry.

Every system runs the very same pod (100m CPU / 64Mi, tolerating virtual nodes' taints and
preferring them, running --run-seconds under kwok), so differences in the results come from the
pipeline, not from the workload.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from jobsched.core.vocabulary import (
    BENCH_LABEL,
    CRON_CONFIGMAP_LABEL,
    ENTRY_LABEL,
    MANAGED_CRONJOB_LABEL,
    SCHEDULED_TIME_ANNOTATION,
)

RUN_ANNOTATION = "pod-complete.stage.kwok.x-k8s.io/delay"
CRON_CONFIGMAP_KEY = "crons.yaml"
# Keeps each ConfigMap far below the 1 MiB object limit (an entry is ≈ 700 bytes of YAML).
ENTRIES_PER_CONFIGMAP = 500
NATIVE_SCHEDULER = "default-scheduler"
JOBSCHED_SCHEDULER = "jobsched"
RAW_SCHEDULER = "raw-bench"  # nobody runs it: the raw system binds these pods itself


def pod_spec(scheduler_name: str) -> dict[str, Any]:
    return {
        "schedulerName": scheduler_name,
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "tolerations": [
            {"key": "virtual-kubelet.io/provider", "operator": "Exists"},
            {"key": "eks.tke.cloud.tencent.com/eklet", "operator": "Exists"},
        ],
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "preference": {
                            "matchExpressions": [
                                {"key": "type", "operator": "In", "values": ["virtual-kubelet"]}
                            ]
                        },
                    }
                ]
            }
        },
        "containers": [
            {
                "name": "job",
                "image": "busybox",
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            }
        ],
    }


def pod_annotations(run_seconds: float | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    annotations = dict(extra or {})
    if run_seconds is not None:
        annotations[RUN_ANNOTATION] = f"{run_seconds:g}s"
    return annotations


def bench_pod(
    name: str,
    scheduler_name: str,
    run_seconds: float | None,
    extra_annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "annotations": pod_annotations(run_seconds, extra_annotations),
            "labels": {BENCH_LABEL: "true", **(labels or {})},
        },
        "spec": pod_spec(scheduler_name),
    }


def slot_pod(entry: str, scheduled_time: str, run_seconds: float | None) -> dict[str, Any]:
    """A pre-made pod for one cron slot, marked the way jobsched marks its own."""
    return bench_pod(
        entry,
        RAW_SCHEDULER,
        run_seconds,
        {SCHEDULED_TIME_ANNOTATION: scheduled_time},
        {ENTRY_LABEL: entry},
    )


def cronjob(name: str, schedule: str, run_seconds: float) -> dict[str, Any]:
    """A batch/v1 CronJob firing once a day at schedule (UTC)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "labels": {BENCH_LABEL: "true"}},
        "spec": {
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {
                            "annotations": pod_annotations(run_seconds),
                            "labels": {BENCH_LABEL: "true"},
                        },
                        "spec": pod_spec(NATIVE_SCHEDULER),
                    },
                }
            },
        },
    }


def adopted_cronjob(name: str, schedule: str, run_seconds: float) -> dict[str, Any]:
    """The native system's CronJob, handed to jobsched by its label (and nothing else)."""
    body = cronjob(name, schedule, run_seconds)
    body["metadata"]["labels"][MANAGED_CRONJOB_LABEL] = "true"
    return body


def cron_entry(
    name: str, schedule: str, run_seconds: float, scheduler_name: str = JOBSCHED_SCHEDULER
) -> dict[str, Any]:
    return {
        "name": name,
        "schedule": schedule,
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "template": {
            "metadata": {"annotations": pod_annotations(run_seconds), "labels": {BENCH_LABEL: "true"}},
            "spec": pod_spec(scheduler_name),
        },
    }


def cron_configmaps(
    names: Sequence[str], schedule: str, run_seconds: float, scheduler_name: str = JOBSCHED_SCHEDULER
) -> list[dict[str, Any]]:
    """jobsched's cron ConfigMaps: `crons.yaml` holds `entries: [...]`, ENTRIES_PER_CONFIGMAP each."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    maps = []
    for start in range(0, len(names), ENTRIES_PER_CONFIGMAP):
        chunk = names[start : start + ENTRIES_PER_CONFIGMAP]
        document = {"entries": [cron_entry(n, schedule, run_seconds, scheduler_name) for n in chunk]}
        maps.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": f"crons-{start // ENTRIES_PER_CONFIGMAP:03d}",
                    "labels": {CRON_CONFIGMAP_LABEL: "true", BENCH_LABEL: "true"},
                },
                "data": {CRON_CONFIGMAP_KEY: yaml.dump(document, Dumper=dumper, sort_keys=False)},
            }
        )
    return maps
