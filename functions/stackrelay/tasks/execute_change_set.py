"""Execute Change Set: only the one that was reviewed, only while AVAILABLE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import cfn, changeset, clock, completion, sessions
from stackrelay.config import Settings
from stackrelay.errors import ChangeSetStale, retryable_throttling
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

logger = Logger()
SETTINGS = Settings.from_env()


@dataclass(frozen=True, kw_only=True)
class ExecuteEvent(Model):
    stage: Stage
    digest: str


class Result(TypedDict):
    started_at: float
    request_token: str
    completion: str
    fallback_seconds: int


def started(stage: Stage) -> Result:
    """The task's result: when, the operation's request token, how to wait for it."""
    return {
        "started_at": clock.now(),
        "request_token": completion.request_token(
            stage.execution, stage.stack, "deploy", stage.change_set
        ),
        "completion": SETTINGS.completion.mode,
        "fallback_seconds": SETTINGS.completion.fallback_seconds,
    }


def execute(cloudformation: Any, stage: Stage, digest: str) -> Result:
    result = started(stage)
    found = cfn.describe_change_set(cloudformation, stage.stack, stage.change_set)
    if changeset.already_executed(found):
        return result
    stale = changeset.stale_reason(found, digest)
    if stale is not None:
        if stale.discard:
            cfn.delete_change_set(cloudformation, stage.stack, stage.change_set)
        deleted = "; it was deleted" if stale.discard else ""
        raise ChangeSetStale(
            f"Change set {stage.change_set} of {stage.stack} is not the change that was "
            f"reviewed: {stale.reason}{deleted}. Run the pipeline again to review the new change."
        )
    # The token names this operation on every status event CloudFormation sends for it.
    cloudformation.execute_change_set(
        StackName=stage.stack,
        ChangeSetName=stage.change_set,
        ClientRequestToken=result["request_token"],
    )
    if stage.protect:
        cloudformation.update_termination_protection(
            StackName=stage.stack, EnableTerminationProtection=True
        )
    return result


@logger.inject_lambda_context
@event_parser(model=ExecuteEvent)
@retryable_throttling
def lambda_handler(event: ExecuteEvent, context: LambdaContext) -> Result:
    result = execute(sessions.cloudformation(event.stage), event.stage, event.digest)
    logger.info("Change set executing", extra={"stack": event.stage.stack})
    return result
