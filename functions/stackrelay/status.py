"""Stack status classification: the one place that knows what a status means."""

from __future__ import annotations

from enum import StrEnum


class StackState(StrEnum):
    ABSENT = "absent"
    """No stack (never created, or deleted)."""
    REVIEW = "review_in_progress"
    """Created by a change set that was never executed (REVIEW_IN_PROGRESS)."""
    IN_PROGRESS = "in_progress"
    STABLE = "stable"
    """Last operation succeeded; ready for the next change."""
    ROLLED_BACK = "rolled_back"
    """Last update failed and rolled back cleanly; the stack still works."""
    NEEDS_RECREATE = "needs_recreate"
    """The first create failed: the stack can only be deleted."""
    NEEDS_RECOVERY = "needs_recovery"
    """A rollback or delete failed: an operator must act."""


CONTINUE_ROLLBACK_FROM = "UPDATE_ROLLBACK_FAILED"
"""The one status continue-update-rollback (``stackrelay recover``) can act on."""

_NEEDS_RECREATE = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"}
# UPDATE_FAILED: an update failed with rollback disabled; roll back or continue it.
_NEEDS_RECOVERY = {
    "UPDATE_FAILED",
    "UPDATE_ROLLBACK_FAILED",
    "DELETE_FAILED",
    "IMPORT_ROLLBACK_FAILED",
}
_ROLLED_BACK = {"UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
_STABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}


TERMINAL_STATUSES = frozenset(
    {"DELETE_COMPLETE", *_NEEDS_RECREATE, *_NEEDS_RECOVERY, *_ROLLED_BACK, *_STABLE}
)
"""Every status that ends a stack operation (the completion events worth forwarding)."""


def classify(status: str | None) -> StackState:
    if status is None or status == "DELETE_COMPLETE":
        return StackState.ABSENT
    if status == "REVIEW_IN_PROGRESS":
        return StackState.REVIEW
    if status.endswith("_IN_PROGRESS"):
        return StackState.IN_PROGRESS
    if status in _NEEDS_RECREATE:
        return StackState.NEEDS_RECREATE
    if status in _NEEDS_RECOVERY:
        return StackState.NEEDS_RECOVERY
    if status in _ROLLED_BACK:
        return StackState.ROLLED_BACK
    if status in _STABLE:
        return StackState.STABLE
    raise ValueError(f"unknown CloudFormation stack status {status!r}")


def is_failed_operation(status: str) -> bool:
    """True when the operation that just ended did not do what was asked."""
    return classify(status) in {
        StackState.ROLLED_BACK,
        StackState.NEEDS_RECREATE,
        StackState.NEEDS_RECOVERY,
    }
