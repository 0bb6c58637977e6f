"""Delete Stack: remove a review stack (teardown, or a failed first create)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import cfn, clock, completion, sessions, trust
from stackrelay.config import Settings
from stackrelay.errors import TeardownRefused, retryable_throttling
from stackrelay.naming import is_review_stack
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

logger = Logger()
SETTINGS = Settings.from_env()


@dataclass(frozen=True, kw_only=True)
class DeleteEvent(Model):
    stage: Stage
    retry: bool = False
    """The teardown's second try after DELETE_FAILED: a new operation, a new request token."""


class Result(TypedDict):
    started_at: float
    existed: bool
    request_token: str
    completion: str
    fallback_seconds: int


def delete(cloudformation: Any, stage: Stage, prefix: str, retry: bool = False) -> Result:
    if not trust.is_review(stage) or not is_review_stack(
        prefix, stage.app, stage.stage, stage.stack
    ):
        raise TeardownRefused(
            f"{stage.stack} is a {stage.stage} stack: StackRelay deletes only review stacks. "
            "Delete a release stack by hand if you really mean it."
        )
    existed = cfn.describe_stack(cloudformation, stage.stack) is not None
    ref = "delete-retry" if retry else "delete"
    token = completion.request_token(stage.execution, stage.stack, "delete", ref)
    if existed:
        # The token names this deletion on every status event CloudFormation sends for it.
        cloudformation.delete_stack(StackName=stage.stack, ClientRequestToken=token)
    return {
        "started_at": clock.now(),
        "existed": existed,
        "request_token": token,
        "completion": SETTINGS.completion.mode,
        "fallback_seconds": SETTINGS.completion.fallback_seconds,
    }


@logger.inject_lambda_context
@event_parser(model=DeleteEvent)
@retryable_throttling
def lambda_handler(event: DeleteEvent, context: LambdaContext) -> Result:
    result = delete(
        sessions.cloudformation(event.stage), event.stage, SETTINGS.stack_prefix, event.retry
    )
    logger.info("Stack deletion requested", extra={"stack": event.stage.stack, **result})
    return result
