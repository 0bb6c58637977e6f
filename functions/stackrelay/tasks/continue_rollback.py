"""Continue Rollback: finish a failed update rollback of a release stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import cfn, clock, sessions, stackcheck
from stackrelay.errors import retryable_throttling
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

logger = Logger()


@dataclass(frozen=True, kw_only=True)
class ContinueRollbackEvent(Model):
    stage: Stage
    skip: list[str] = field(default_factory=list)


class Result(TypedDict):
    started_at: float
    skipped: list[str]


def continue_rollback(cloudformation: Any, stage: Stage, skip: list[str]) -> Result:
    stack = cfn.describe_stack(cloudformation, stage.stack)
    status = stack["StackStatus"] if stack else None
    stackcheck.check_recoverable(stage, status)
    request: dict[str, Any] = {"StackName": stage.stack, "RoleARN": stage.execution_role_arn}
    if skip:
        request["ResourcesToSkip"] = skip
    cloudformation.continue_update_rollback(**request)
    return {"started_at": clock.now(), "skipped": skip}


@logger.inject_lambda_context
@event_parser(model=ContinueRollbackEvent)
@retryable_throttling
def lambda_handler(event: ContinueRollbackEvent, context: LambdaContext) -> Result:
    result = continue_rollback(sessions.cloudformation(event.stage), event.stage, event.skip)
    logger.info("Rollback continuing", extra={"stack": event.stage.stack, **result})
    return result
