"""stackrelay.hints: the command that fixes a failed stage."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from stackrelay import hints
from stackrelay.plan import Stage


@pytest.mark.parametrize(
    ("error", "reason", "expected"),
    [
        (
            "StackNeedsRecovery",
            "sr-aws-news-prod in account 333333333333 is UPDATE_ROLLBACK_FAILED. Fix the cause",
            "stackrelay recover --app aws-news --stage prod",
        ),
        (
            "StackNeedsRecovery",
            "sr-aws-news-prod is UPDATE_ROLLBACK_FAILED after continuing its rollback: Fn: x",
            "stackrelay recover --app aws-news --stage prod --skip RESOURCE",
        ),
        (
            "StackNeedsRecovery",
            "sr-aws-news-prod in account 333333333333 is ROLLBACK_COMPLETE: its first create",
            "aws cloudformation delete-stack --stack-name sr-aws-news-prod",
        ),
        ("StackRollback", "sr-aws-news-prod rolled back (UPDATE_ROLLBACK_COMPLETE)", None),
        ("DeploymentRejected", "Rejected by bob: no", None),
        ("ChangeSetFailed", "could not create", None),
        (None, None, None),
    ],
)
def test_fix_command(
    make_stage: Callable[..., Stage], error: str | None, reason: str | None, expected: str | None
) -> None:
    stage = make_stage(index=1)  # prod
    assert hints.fix_command(error, reason, stage) == expected


def test_status_in_skips_words_that_are_not_statuses() -> None:
    assert hints.status_in("NOT_A_FAILED thing then UPDATE_ROLLBACK_FAILED") == (
        "UPDATE_ROLLBACK_FAILED"
    )
    assert hints.status_in("no status here") is None


def test_the_stacks_real_status_decides_over_the_message(make_stage: Callable[..., Stage]) -> None:
    stage = make_stage(index=1)
    message = "sr-aws-news-prod is UPDATE_ROLLBACK_FAILED after Fn: boom"
    assert hints.fix_command("StackNeedsRecovery", message, stage, "ROLLBACK_COMPLETE") == (
        "aws cloudformation delete-stack --stack-name sr-aws-news-prod"
    )
    assert hints.fix_command("StackNeedsRecovery", message, stage, "ABSENT") == (
        "stackrelay recover --app aws-news --stage prod"
    )


# -- the recover hint, written once (hints.needs_operator / not_recoverable) ----------


@pytest.mark.parametrize(
    ("status", "reason", "continued", "says", "command"),
    [
        ("ROLLBACK_COMPLETE", None, False, "can only be deleted", "delete-stack"),
        ("UPDATE_ROLLBACK_FAILED", "Fn: boom", False, "Fix the cause", "--stage prod`"),
        ("UPDATE_ROLLBACK_FAILED", "Fn: boom", True, "Skip the resources", "--skip RESOURCE"),
        ("DELETE_FAILED", None, False, "Fix the cause", "stackrelay recover"),
    ],
)
def test_needs_operator_says_what_to_run_and_fix_command_agrees(
    make_stage: Callable[..., Stage],
    status: str,
    reason: str | None,
    continued: bool,
    says: str,
    command: str,
) -> None:
    stage = make_stage(index=1)  # prod
    message = hints.needs_operator(stage, status, reason, continued=continued)
    assert stage.stack in message and status in message and says in message
    assert command in message
    # The event's fix (read from the message alone) is the command the message names.
    fix = hints.fix_command("StackNeedsRecovery", message, stage)
    assert fix is not None and f"`{fix}`" in message


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (None, "is absent"),
        ("UPDATE_ROLLBACK_COMPLETE", "Run the pipeline again"),
        ("ROLLBACK_COMPLETE", "delete it (`aws cloudformation delete-stack"),
    ],
)
def test_not_recoverable_says_why_and_what_instead(
    make_stage: Callable[..., Stage], status: str | None, says: str
) -> None:
    message = hints.not_recoverable(make_stage(index=1), status)
    assert "not UPDATE_ROLLBACK_FAILED" in message and says in message
