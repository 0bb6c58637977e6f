"""Check Stack: is the operation done? If not, how long to wait next."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import sessions, stackcheck
from stackrelay.config import Settings
from stackrelay.errors import retryable_throttling
from stackrelay.parsing import event_parser
from stackrelay.stackcheck import CheckResult as Result
from stackrelay.stackcheck import CheckStackEvent

logger = Logger()
SETTINGS = Settings.from_env()

__all__ = ["CheckStackEvent", "Result", "check", "lambda_handler"]


def check(cloudformation: Any, event: CheckStackEvent) -> Result:
    return stackcheck.check(cloudformation, event, SETTINGS.poll)


@logger.inject_lambda_context
@event_parser(model=CheckStackEvent)
@retryable_throttling
def lambda_handler(event: CheckStackEvent, context: LambdaContext) -> Result:
    result = check(sessions.cloudformation(event.stage), event)
    logger.info("Stack checked", extra={"stack": event.stage.stack, "status": result["status"]})
    return result
