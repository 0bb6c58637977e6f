"""Is a stack operation done, and how did it end? One decision for every waiter.

Check Stack (polling), the completion function and the await task (events)
all answer a stage's wait with :func:`check`, over the classification in
:mod:`stackrelay.status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

from stackrelay import backoff, cfn, clock, hints, trust
from stackrelay.config import PollBounds
from stackrelay.errors import (
    DeleteFailed,
    StackBusy,
    StackNeedsRecovery,
    StackNotRecoverable,
    StackRollback,
)
from stackrelay.parsing import Model
from stackrelay.plan import Stage
from stackrelay.status import CONTINUE_ROLLBACK_FROM, StackState, classify


@dataclass(frozen=True, kw_only=True)
class CheckStackEvent(Model):
    stage: Stage
    started_at: float
    operation: Literal["deploy", "delete", "recover"] = "deploy"
    expected_seconds: float | None = None


class CheckResult(TypedDict):
    """Every key, every time: the ASL's ResultSelector names them all."""

    done: bool
    status: str
    wait_seconds: float
    elapsed: float
    checked_at: float
    outputs: dict[str, str]


def _reason(cloudformation: Any, stage: Stage, since: float) -> str:
    found = cfn.first_failure(
        cloudformation, stage.stack, datetime.fromtimestamp(since - 1, tz=UTC)
    )
    if found is None:
        return "CloudFormation gave no reason"
    resource, reason = found
    return f"{resource}: {reason}"


def check(cloudformation: Any, event: CheckStackEvent, poll: PollBounds) -> CheckResult:
    """Is the operation done? Done: the result. Not yet: how long to wait. Failed: the
    domain error (StackRollback, StackNeedsRecovery, DeleteFailed) with CloudFormation's
    reason. The polling path and the completion by event both decide here."""
    stage = event.stage
    now = clock.now()
    elapsed = now - event.started_at
    stack = cfn.describe_stack(cloudformation, stage.stack)
    status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
    state = classify(status)

    def result(
        done: bool, wait_seconds: float = 0, outputs: dict[str, str] | None = None
    ) -> CheckResult:
        return CheckResult(
            done=done,
            status=status,
            wait_seconds=wait_seconds,
            elapsed=round(elapsed, 3),
            checked_at=now,
            outputs=outputs or {},
        )

    if state is StackState.IN_PROGRESS:
        return result(False, backoff.next_delay(elapsed, poll, event.expected_seconds))
    if event.operation == "delete":
        if state is StackState.ABSENT:
            return result(True)
        since = datetime.fromtimestamp(event.started_at - 1, tz=UTC)
        stuck = cfn.failed_resources(cloudformation, stage.stack, since)
        names = "; ".join(f"{rid}: {why}" for rid, why in stuck) or "CloudFormation gave no reason"
        raise DeleteFailed(
            f"CloudFormation could not delete {stage.stack} ({status}). Resources that would "
            f"not go: {names}. Remove them (or their protection) by hand, then run the teardown "
            "again."
        )
    if event.operation == "recover":
        if state is StackState.ROLLED_BACK:
            assert stack is not None
            return result(True, outputs=cfn.outputs(stack))
        reason = _reason(cloudformation, stage, event.started_at)
        raise StackNeedsRecovery(hints.needs_operator(stage, status, reason, continued=True))
    if state is StackState.STABLE:
        assert stack is not None
        return result(True, outputs=cfn.outputs(stack))
    reason = _reason(cloudformation, stage, event.started_at)
    if state is StackState.NEEDS_RECOVERY:
        raise StackNeedsRecovery(hints.needs_operator(stage, status, reason))
    raise StackRollback(f"{stage.stack} rolled back ({status}). First failure: {reason}")


def next_change(stage: Stage, status: str | None) -> tuple[Literal["CREATE", "UPDATE"], bool]:
    """How to change a stack that is in ``status`` (None: no stack) before a deploy:
    (the change set's type, whether the stack must be deleted first).

    A stack that is busy raises StackBusy (retried); one only an operator can repair
    raises StackNeedsRecovery saying what to run. A review stack whose first create
    failed is recreated; a release stack's never is (it may hold data).
    """
    state = classify(status)
    if state in (StackState.ABSENT, StackState.REVIEW):
        return "CREATE", False
    if state is StackState.IN_PROGRESS:
        raise StackBusy(
            f"{stage.stack} is {status}: another operation is running. StackRelay retries; "
            "if it never ends, look at the stack in the CloudFormation console."
        )
    if state is StackState.NEEDS_RECREATE and trust.is_review(stage):
        return "CREATE", True
    if state in (StackState.NEEDS_RECREATE, StackState.NEEDS_RECOVERY):
        assert status is not None
        raise StackNeedsRecovery(hints.needs_operator(stage, status))
    return "UPDATE", False


def check_recoverable(stage: Stage, status: str | None) -> None:
    """Raise StackNotRecoverable unless ``stackrelay recover`` can act on a stack in
    ``status``: only a failed update rollback can be continued."""
    if status != CONTINUE_ROLLBACK_FROM:
        raise StackNotRecoverable(hints.not_recoverable(stage, status))
