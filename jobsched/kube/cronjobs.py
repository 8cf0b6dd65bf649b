"""The API calls of the CronJob hand-over: read a CronJob or Job, claim a slot in a CronJob's status
(conditional on its resourceVersion), make a CronJob its Job's controller (a JSON patch with test ops),
and set a Job's activeDeadlineSeconds. Each returns an outcome (`jobsched.core.outcomes`) rather than
raising: the hand-over decides per CronJob, and one refusal never stops the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobsched.core.outcomes import WriteOutcome, write_outcome
from jobsched.kube import paths
from jobsched.kube.client import KubeClient, TransportError

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
ATTEMPTS = 3  # retries of 429/5xx/transport inside one call; the caller retries later on RETRY


@dataclass(frozen=True, slots=True)
class Written:
    outcome: WriteOutcome
    status: int = 0  # the HTTP status, 0 when there was no answer
    message: str = ""
    obj: dict[str, Any] | None = None  # the object as the apiserver returned it (DONE, or a read)


async def _send(
    client: KubeClient, method: str, path: str, body: Any = None, content_type: str = "application/json"
) -> Written:
    try:
        resp = await client.request_retrying(
            method, path, body, attempts=ATTEMPTS, timeout=10, content_type=content_type
        )
    except TransportError as err:
        return Written(write_outcome(None), 0, str(err))
    outcome = write_outcome(resp.status)
    if outcome is WriteOutcome.DONE:
        return Written(outcome, resp.status, obj=resp.json())
    return Written(outcome, resp.status, resp.message())


async def get_cronjob(client: KubeClient, namespace: str, name: str) -> Written:
    return await _send(client, "GET", paths.cronjob(namespace, name))


async def get_job(client: KubeClient, namespace: str, name: str) -> Written:
    return await _send(client, "GET", paths.job(namespace, name))


async def patch_status(client: KubeClient, namespace: str, name: str, patch: dict[str, Any]) -> Written:
    """A JSON merge patch of the CronJob's status subresource; the patch carries the resourceVersion it
    was computed from, so a write that raced another answers CONFLICT instead of undoing it."""
    return await _send(client, "PATCH", paths.cronjob_status(namespace, name), patch, MERGE)


async def patch_job_owner(
    client: KubeClient, namespace: str, name: str, ops: list[dict[str, Any]]
) -> Written:
    """A JSON patch of the Job (test ops first: REFUSED when the Job is no longer as jobsched left it)."""
    return await _send(client, "PATCH", paths.job(namespace, name), ops, JSON_PATCH)


async def patch_job_deadline(
    client: KubeClient, namespace: str, name: str, uid: str, seconds: int
) -> Written:
    """Sets spec.activeDeadlineSeconds of the Job with this UID (the UID in the patch is a precondition)."""
    patch = {"metadata": {"uid": uid}, "spec": {"activeDeadlineSeconds": seconds}}
    return await _send(client, "PATCH", paths.job(namespace, name), patch, MERGE)
