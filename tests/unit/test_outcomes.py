"""What each apiserver reply means for a create and a bind, and what jobsched does about it: tables."""

from __future__ import annotations

import pytest

from jobsched.core.outcomes import (
    STAGE_ACTIONS,
    BindAction,
    BindOutcome,
    CreateOutcome,
    WriteOutcome,
    bind_action,
    bind_outcome,
    conflict_outcome,
    create_outcome,
    delete_done,
    patch_done,
    retryable,
    write_outcome,
)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (201, CreateOutcome.CREATED),
        (200, CreateOutcome.CREATED),
        (409, CreateOutcome.EXISTS),
        (403, CreateOutcome.FORBIDDEN),
        (404, CreateOutcome.GONE),
        (422, CreateOutcome.REJECTED),
        (400, CreateOutcome.REJECTED),
        (413, CreateOutcome.REJECTED),
        (429, CreateOutcome.RETRY),
        (500, CreateOutcome.RETRY),
        (503, CreateOutcome.RETRY),
        (504, CreateOutcome.RETRY),
        (None, CreateOutcome.RETRY),
    ],
)
def test_create_outcomes(status: int | None, outcome: CreateOutcome) -> None:
    assert create_outcome(status) is outcome


@pytest.mark.parametrize(
    ("outcome", "count", "report", "retry"),
    [
        (CreateOutcome.CREATED, "created", None, False),
        (CreateOutcome.EXISTS, "exists", None, False),
        (CreateOutcome.FORBIDDEN, "forbidden", "CreateForbidden", False),
        (CreateOutcome.REJECTED, "rejected", "InvalidCronEntry", False),
        (CreateOutcome.GONE, "gone", None, False),
        (CreateOutcome.RETRY, None, None, True),
    ],
)
def test_what_the_stager_does_after_each_create(
    outcome: CreateOutcome, count: str | None, report: str | None, retry: bool
) -> None:
    action = STAGE_ACTIONS[outcome]
    assert (action.count, action.report, action.retry) == (count, report, retry)


def test_every_create_outcome_has_an_action() -> None:
    assert set(STAGE_ACTIONS) == set(CreateOutcome)


@pytest.mark.parametrize(
    ("status", "message", "outcome"),
    [
        (201, "", BindOutcome.BOUND),
        (404, 'pods "p" not found', BindOutcome.GONE),
        (409, "Operation cannot be fulfilled", BindOutcome.CONFLICT),
        (400, 'pod p is already assigned to node "n1"', BindOutcome.CONFLICT),
        (400, "something else", BindOutcome.FAILED),
        (403, "forbidden", BindOutcome.FAILED),
        (422, "invalid", BindOutcome.FAILED),
        (500, "", BindOutcome.FAILED),
        (None, "", BindOutcome.FAILED),
    ],
)
def test_bind_outcomes(status: int | None, message: str, outcome: BindOutcome) -> None:
    assert bind_outcome(status, message) is outcome


@pytest.mark.parametrize(
    ("found_uid", "found_node", "outcome"),
    [
        (None, "", BindOutcome.GONE),  # deleted meanwhile
        ("other", "n1", BindOutcome.GONE),  # replaced by a new pod of the same name
        ("u1", "n1", BindOutcome.ALREADY_THERE),  # our earlier attempt's reply was lost
        ("u1", "n2", BindOutcome.ELSEWHERE),  # someone else bound it
        ("u1", "", BindOutcome.FAILED),  # conflict, yet not bound: try again later
    ],
)
def test_conflicts_are_resolved_by_the_pod_as_found(
    found_uid: str | None, found_node: str, outcome: BindOutcome
) -> None:
    assert conflict_outcome("u1", found_uid, found_node, "n1") is outcome


@pytest.mark.parametrize(
    ("outcome", "seen_bound", "action"),
    [
        (BindOutcome.BOUND, False, BindAction.CONFIRM),
        (BindOutcome.ALREADY_THERE, False, BindAction.CONFIRM),
        (BindOutcome.ELSEWHERE, False, BindAction.DROP),
        (BindOutcome.GONE, False, BindAction.DROP),
        (BindOutcome.FAILED, False, BindAction.RETRY),
        (BindOutcome.FAILED, True, BindAction.DROP),  # a lost reply the watch shows carried out
    ],
)
def test_what_the_binder_does_after_each_bind(
    outcome: BindOutcome, seen_bound: bool, action: BindAction
) -> None:
    assert bind_action(outcome, seen_bound) is action


@pytest.mark.parametrize(
    ("status", "deleted", "patched"),
    [
        (200, True, True),
        (202, True, True),
        (404, True, True),
        (409, True, False),
        (403, False, False),
        (None, False, False),
    ],
)
def test_deletes_and_patches(status: int | None, deleted: bool, patched: bool) -> None:
    assert delete_done(status) is deleted
    assert patch_done(status) is patched


def test_retryable() -> None:
    assert [s for s in (None, 200, 400, 404, 409, 429, 500, 502, 503, 504) if retryable(s)] == [
        None,
        429,
        500,
        502,
        503,
        504,
    ]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, WriteOutcome.DONE),
        (201, WriteOutcome.DONE),
        (409, WriteOutcome.CONFLICT),  # the CronJob's resourceVersion moved on: read and recompute
        (404, WriteOutcome.GONE),
        (422, WriteOutcome.REFUSED),  # a JSON-patch test op failed
        (403, WriteOutcome.REFUSED),
        (429, WriteOutcome.RETRY),
        (503, WriteOutcome.RETRY),
        (None, WriteOutcome.RETRY),
    ],
)
def test_conditional_write_outcomes(status: int | None, outcome: WriteOutcome) -> None:
    assert write_outcome(status) is outcome
