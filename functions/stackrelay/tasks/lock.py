"""Acquire Stack Lock / Release Stack Lock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import events, locks, sessions, trust
from stackrelay.config import Settings
from stackrelay.errors import retryable_throttling
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

logger = Logger()
SETTINGS = Settings.from_env()

STACK_LEASE_SECONDS = 6 * 3600
MAX_LOCK_WAIT_SECONDS = 3600


@dataclass(frozen=True, kw_only=True)
class LockEvent(Model):
    action: Literal["acquire", "release"]
    stage: Stage
    holder: str
    lock: dict[str, Any] = field(default_factory=dict)


class Released(TypedDict):
    """What Release Stack Lock returns: whether it still holds the lock (False: released)."""

    acquired: bool


RESULTS = {"acquire": locks.Acquired, "release": Released}
"""The result of each action (tests/template/test_returns.py checks them against the ASL)."""


def handle(table: Any, sfn: Any, event: LockEvent) -> locks.Acquired | Released:
    stage = event.stage
    if event.action == "release":
        return {
            "acquired": not locks.release(
                table, stage.account, stage.stack, event.holder, stage.place
            )
        }
    lease = STACK_LEASE_SECONDS + (stage.approval_timeout_seconds if stage.approval else 0)
    request = locks.LockRequest(
        account=stage.account,
        stack=stage.stack,
        holder=event.holder,
        commit=stage.commit,
        review=trust.is_review(stage),
        region=stage.place,
        lease_seconds=lease,
        max_wait_seconds=MAX_LOCK_WAIT_SECONDS,
        waiting_since=event.lock.get("waiting_since"),
    )
    return locks.acquire(table, sfn, request)


@logger.inject_lambda_context
@event_parser(model=LockEvent)
@retryable_throttling
def lambda_handler(event: LockEvent, context: LambdaContext) -> locks.Acquired | Released:
    result = handle(sessions.table(SETTINGS.table_name), sessions.client("stepfunctions"), event)
    logger.info("Stack lock", extra={"action": event.action, "stack": event.stage.stack, **result})
    if event.action == "acquire" and result["acquired"]:
        # The stage starts when it holds its stack: from here on it changes it.
        detail = events.stage_detail(event.stage, execution_arn=event.holder, outcome="started")
        events.publish(events.STAGE_STARTED, detail)
    return result
