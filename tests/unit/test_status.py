"""status.classify: every CloudFormation stack status has a meaning."""

from __future__ import annotations

import botocore.session
import pytest
from stackrelay.status import StackState, classify, is_failed_operation

ALL_STATUSES = (
    botocore.session.get_session().get_service_model("cloudformation").shape_for("StackStatus").enum
)


def test_stack_status_enum_loaded_from_botocore() -> None:
    assert len(ALL_STATUSES) >= 20
    assert "UPDATE_ROLLBACK_COMPLETE" in ALL_STATUSES


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_classify_every_cloudformation_status_returns_a_state(status: str) -> None:
    state = classify(status)

    assert isinstance(state, StackState)


@pytest.mark.parametrize("status", [s for s in ALL_STATUSES if s.endswith("_IN_PROGRESS")])
def test_classify_in_progress_statuses_are_busy_or_review(status: str) -> None:
    expected = StackState.REVIEW if status == "REVIEW_IN_PROGRESS" else StackState.IN_PROGRESS

    assert classify(status) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, StackState.ABSENT),
        ("DELETE_COMPLETE", StackState.ABSENT),
        ("REVIEW_IN_PROGRESS", StackState.REVIEW),
        ("CREATE_IN_PROGRESS", StackState.IN_PROGRESS),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", StackState.IN_PROGRESS),
        ("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", StackState.IN_PROGRESS),
        ("CREATE_COMPLETE", StackState.STABLE),
        ("UPDATE_COMPLETE", StackState.STABLE),
        ("IMPORT_COMPLETE", StackState.STABLE),
        ("UPDATE_ROLLBACK_COMPLETE", StackState.ROLLED_BACK),
        ("IMPORT_ROLLBACK_COMPLETE", StackState.ROLLED_BACK),
        ("ROLLBACK_COMPLETE", StackState.NEEDS_RECREATE),
        ("ROLLBACK_FAILED", StackState.NEEDS_RECREATE),
        ("CREATE_FAILED", StackState.NEEDS_RECREATE),
        ("UPDATE_ROLLBACK_FAILED", StackState.NEEDS_RECOVERY),
        ("DELETE_FAILED", StackState.NEEDS_RECOVERY),
        ("IMPORT_ROLLBACK_FAILED", StackState.NEEDS_RECOVERY),
        # An update that failed with rollback disabled: the stack is half-updated.
        ("UPDATE_FAILED", StackState.NEEDS_RECOVERY),
    ],
)
def test_classify_known_status_maps_to_state(status: str | None, expected: StackState) -> None:
    assert classify(status) is expected


@pytest.mark.parametrize("status", ["", "BOGUS", "create_complete"])
def test_classify_unknown_status_raises_value_error(status: str) -> None:
    with pytest.raises(ValueError, match="unknown CloudFormation stack status"):
        classify(status)


@pytest.mark.parametrize(
    ("status", "failed"),
    [
        ("CREATE_COMPLETE", False),
        ("UPDATE_COMPLETE", False),
        ("DELETE_COMPLETE", False),
        ("UPDATE_IN_PROGRESS", False),
        ("UPDATE_ROLLBACK_COMPLETE", True),
        ("ROLLBACK_COMPLETE", True),
        ("UPDATE_ROLLBACK_FAILED", True),
        ("UPDATE_FAILED", True),
    ],
)
def test_is_failed_operation_status_says_whether_operation_failed(
    status: str, failed: bool
) -> None:
    assert is_failed_operation(status) is failed


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_is_failed_operation_every_status_does_not_raise(status: str) -> None:
    assert is_failed_operation(status) in (True, False)
