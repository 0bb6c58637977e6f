"""Prepare Stack: decide how to change the stack, or stop with what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import cfn, records, sessions, stackcheck
from stackrelay.config import Settings
from stackrelay.errors import retryable_throttling
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

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
    change_set_type, recreate = stackcheck.next_change(stage, status)
    latest = records.latest_for_stack(table, stage.account, stage.stack, stage.place) or {}
    return {
        "status": status,
        "change_set_type": change_set_type,
        "recreate": recreate,
        "expected_seconds": latest.get("duration_seconds"),
    }


@logger.inject_lambda_context
@event_parser(model=PrepareEvent)
@retryable_throttling
def lambda_handler(event: PrepareEvent, context: LambdaContext) -> Result:
    result = prepare(
        sessions.cloudformation(event.stage), sessions.table(SETTINGS.table_name), event.stage
    )
    logger.info("Prepared stack", extra={"stack": event.stage.stack, **result})
    return result
