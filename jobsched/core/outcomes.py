"""What an apiserver reply means, and what jobsched does about it: pure tables, tested as tables.

kube-scheduler keeps these decisions in its Status values and kopf in its causes; here they are plain
functions of the HTTP status (None: the request never got an answer), so the code that talks to the API
only reports what happened and the runtime only carries out the action named here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

RETRYABLE: Final = frozenset({429, 500, 502, 503, 504})  # worth the same request again, after backoff


def retryable(status: int | None) -> bool:
    """A transport failure (None), throttling or a server error: the same request may succeed later."""
    return status is None or status in RETRYABLE


# --- creating a slot's Pod or Job ---------------------------------------------------------------------


class CreateOutcome(enum.Enum):
    CREATED = "created"
    EXISTS = "exists"  # AlreadyExists: an earlier attempt (or another replica) made it; counts as done
    FORBIDDEN = "forbidden"  # 403: RBAC, a quota or a policy refuses jobsched here; not the entry's fault
    REJECTED = "rejected"  # another 4xx: the apiserver refused the object itself; an input error to report
    GONE = "gone"  # 404: the namespace is gone; nothing to create it in
    RETRY = "retry"  # no answer, 429 or 5xx: worth another try later


def create_outcome(status: int | None) -> CreateOutcome:
    if status is not None and 200 <= status < 300:
        return CreateOutcome.CREATED
    if retryable(status):
        return CreateOutcome.RETRY
    if status == 409:
        return CreateOutcome.EXISTS
    if status == 403:
        return CreateOutcome.FORBIDDEN
    if status == 404:
        return CreateOutcome.GONE
    return CreateOutcome.REJECTED


@dataclass(frozen=True, slots=True)
class StageAction:
    """What the stager does after one create: count it, report it (an Event reason), try again."""

    count: str | None  # the jobsched_cron_fires_total outcome label, None while it may still succeed
    report: str | None  # the Warning Event reason on the entry's source, if the user must hear of it
    retry: bool


STAGE_ACTIONS: Final = {
    CreateOutcome.CREATED: StageAction("created", None, retry=False),
    CreateOutcome.EXISTS: StageAction("exists", None, retry=False),
    CreateOutcome.FORBIDDEN: StageAction("forbidden", "CreateForbidden", retry=False),
    CreateOutcome.REJECTED: StageAction("rejected", "InvalidCronEntry", retry=False),
    CreateOutcome.GONE: StageAction("gone", None, retry=False),
    CreateOutcome.RETRY: StageAction(None, None, retry=True),
}


# --- binding a pod -----------------------------------------------------------------------------------


class BindOutcome(enum.Enum):
    BOUND = "bound"  # our Binding was written
    ALREADY_THERE = (
        "already_there"  # bound already, to the intended node (an earlier attempt's reply was lost)
    )
    ELSEWHERE = "elsewhere"  # bound to another node: our assumption is wrong
    GONE = "gone"  # the pod, or that UID of it, no longer exists
    CONFLICT = "conflict"  # 409 / "already assigned": which of the above it is needs a look at the pod
    FAILED = "failed"  # refused, or no answer after retries


def bind_outcome(status: int | None, message: str = "") -> BindOutcome:
    """The outcome of one Binding POST from its reply alone."""
    if status is not None and 200 <= status < 300:
        return BindOutcome.BOUND
    if status == 404:
        return BindOutcome.GONE
    if status == 409 or (status == 400 and "already assigned" in message):
        return BindOutcome.CONFLICT
    return BindOutcome.FAILED


def conflict_outcome(
    expected_uid: str, found_uid: str | None, found_node: str, intended_node: str
) -> BindOutcome:
    """A CONFLICT resolved by reading the pod: `found_uid` None means the pod is gone."""
    if found_uid is None or found_uid != expected_uid:
        return BindOutcome.GONE
    if found_node == intended_node:
        return BindOutcome.ALREADY_THERE
    if found_node:
        return BindOutcome.ELSEWHERE
    return BindOutcome.FAILED


class BindAction(enum.Enum):
    CONFIRM = "confirm"  # keep the assumption, count the pod scheduled, stop tracking it
    DROP = "drop"  # forget the assumption and stop tracking: someone else has it, or it is gone or done
    RETRY = "retry"  # forget the assumption and park the pod to be placed again after backoff


def bind_action(outcome: BindOutcome, seen_bound: bool) -> BindAction:
    """`seen_bound`: the watch already shows the pod bound (a bind whose reply was lost, then retried)."""
    if outcome in (BindOutcome.BOUND, BindOutcome.ALREADY_THERE):
        return BindAction.CONFIRM
    if outcome in (BindOutcome.GONE, BindOutcome.ELSEWHERE) or seen_bound:
        return BindAction.DROP
    return BindAction.RETRY


# --- deleting and patching ---------------------------------------------------------------------------


def delete_done(status: int | None) -> bool:
    """A delete with a UID precondition is done when it succeeded, the object is gone (404) or the name
    now holds another object (409: the precondition failed), which is not ours to delete."""
    return status is not None and (200 <= status < 300 or status in (404, 409))


def patch_done(status: int | None, gone_ok: bool = True) -> bool:
    """A patch is done when it applied, or (gone_ok) when the object it was for is gone."""
    return status is not None and (200 <= status < 300 or (gone_ok and status == 404))


# --- conditional writes (an adopted CronJob's status, its Jobs' owner and deadline) -------------------


class WriteOutcome(enum.Enum):
    DONE = "done"
    CONFLICT = "conflict"  # 409: the resourceVersion moved on; read the object again and recompute
    GONE = "gone"  # 404: the object is gone; nothing left to write
    REFUSED = "refused"  # another 4xx (a failed JSON-patch test, RBAC): this write will not succeed
    RETRY = "retry"  # no answer, 429 or 5xx: the same write may succeed later


def write_outcome(status: int | None) -> WriteOutcome:
    if status is not None and 200 <= status < 300:
        return WriteOutcome.DONE
    if retryable(status):
        return WriteOutcome.RETRY
    if status == 409:
        return WriteOutcome.CONFLICT
    if status == 404:
        return WriteOutcome.GONE
    return WriteOutcome.REFUSED
