"""Prepare Stack: decide how to change the stack, or stop with what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import cfn, hints, records, sessions, trust
from stackrelay.config import Settings
from stackrelay.errors import StackBusy, StackNeedsRecovery, retryable_throttling
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage
from stackrelay.status import StackState, classify

logger = Logger()
SETTINGS = Settings.from_env()


@dataclass(frozen=True, kw_only=True)
class PrepareEvent(Model):
    stage: Stage


class Result(TypedDict):
    status: str | None
    change_set_type: Literal["CREATE", "UPDATE"]
    recreate: bool
    expected_seconds: float | None


def prepare(cloudformation: Any, table: Any, stage: Stage) -> Result:
    stack = cfn.describe_stack(cloudformation, stage.stack)
    status = stack["StackStatus"] if stack else None
    state = classify(status)
    latest = records.latest_for_stack(table, stage.account, stage.stack, stage.place) or {}
    result: Result = {
        "status": status,
        "change_set_type": "UPDATE",
        "recreate": False,
        "expected_seconds": latest.get("duration_seconds"),
    }
    if state in (StackState.ABSENT, StackState.REVIEW):
        result["change_set_type"] = "CREATE"
    elif state is StackState.IN_PROGRESS:
        raise StackBusy(
            f"{stage.stack} is {status}: another operation is running. StackRelay retries; "
            "if it never ends, look at the stack in the CloudFormation console."
        )
    elif state is StackState.NEEDS_RECREATE and trust.is_review(stage):
        result["change_set_type"], result["recreate"] = "CREATE", True
    elif state in (StackState.NEEDS_RECREATE, StackState.NEEDS_RECOVERY):
        assert status is not None
        raise StackNeedsRecovery(hints.needs_operator(stage, status))
    return result


@logger.inject_lambda_context
@event_parser(model=PrepareEvent)
@retryable_throttling
def lambda_handler(event: PrepareEvent, context: LambdaContext) -> Result:
    result = prepare(
        sessions.cloudformation(event.stage), sessions.table(SETTINGS.table_name), event.stage
    )
    logger.info("Prepared stack", extra={"stack": event.stage.stack, **result})
    return result
