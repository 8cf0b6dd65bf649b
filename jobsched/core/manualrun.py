"""A manual run of a cron entry (`jobsched trigger`, like `kubectl create job --from=cronjob/x`): the
object the entry's slot would create, now, under a name that says it is manual.

It is the slot's own body (`podbuild`: template, labels, domain chain, priority, tracking finalizer,
schedulerName), so it goes the same way as a slot: the scheduler places it on the entry's domain chain,
the engine counts it among the entry's runs and releases its finalizer. Two things differ:

- No `jobsched.io/scheduled-time`: it is no slot, so it binds as soon as it is placed and never moves
  the entry's lastScheduleTime (`jobsched.io/manual` says when it was asked for instead). It is one of
  the entry's active runs while it runs, so concurrencyPolicy sees it, as batch/v1 sees a manual Job.
- Its name, `<configmap>-<entry>-manual-<unix seconds>-<hash>` (63 characters at most, 52 for a Job),
  hashes a nonce drawn once per invocation: a retried POST of the same invocation gets AlreadyExists
  (created once), and two invocations in the same second never collide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jobsched.core.cronentry import CronEntry
from jobsched.core.naming import MAX_JOB_NAME, MAX_NAME, identity_hash, rfc3339
from jobsched.core.podbuild import build_slot_object
from jobsched.core.vocabulary import MANUAL_ANNOTATION, SCHEDULED_TIME_ANNOTATION


def manual_object_name(entry: CronEntry, now: datetime, nonce: str) -> str:
    """The name of a manual run of `entry` asked for at `now`, unique to `nonce`."""
    seconds = int(now.timestamp())
    digest = identity_hash(entry.namespace, entry.configmap, entry.name, str(seconds), "manual", nonce)
    suffix = f"-manual-{seconds}-{digest}"
    limit = (MAX_JOB_NAME if entry.kind == "Job" else MAX_NAME) - len(suffix)
    own = entry.name if entry.origin is not None else f"{entry.configmap}-{entry.name}"  # a CronJob: its name
    readable = own.replace(".", "-")[:limit].rstrip("-")
    return f"{readable}{suffix}"


def build_manual_object(entry: CronEntry, now: datetime, scheduler_name: str, nonce: str) -> dict[str, Any]:
    """The Pod or Job of a manual run of `entry` at `now` (see the module docstring)."""
    # The slot builder wants a minute-aligned slot; the slot's marks are taken off below.
    body = build_slot_object(entry, now.astimezone(UTC).replace(second=0, microsecond=0), scheduler_name)
    body["metadata"]["name"] = manual_object_name(entry, now, nonce)
    metadatas = [body["metadata"]]
    if entry.kind == "Job":
        metadatas.append(body["spec"]["template"]["metadata"])
    for metadata in metadatas:
        annotations = metadata["annotations"]
        del annotations[SCHEDULED_TIME_ANNOTATION]
        annotations[MANUAL_ANNOTATION] = rfc3339(now)
    if entry.origin is not None:
        # Owned by its CronJob, as `kubectl create job --from` makes it, so cascading deletion takes it;
        # not as its controller, so the native controller (which counts its own runs) leaves it alone.
        body["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] = "manual"
        body["metadata"]["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": entry.name,
                "uid": entry.origin.uid,
                "controller": False,
                "blockOwnerDeletion": True,
            }
        ]
    return body
