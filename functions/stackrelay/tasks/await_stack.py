"""Await Stack: a `.waitForTaskToken` task; store its token for the completion event.

Runs right after the stack operation started (Execute Change Set, Delete
Stack). It arms the operation's completion record with the task token and
returns; the completion function answers when the stack's terminal status
event arrives. If that event came first, the record already holds it and this
task answers at once. Its TimeoutSeconds is the fallback: the workflow then
checks the stack itself and arms again.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import completion
from stackrelay.config import Settings
from stackrelay.errors import retryable_throttling
from stackrelay.parsing import Model, Secret, event_parser, text
from stackrelay.plan import Stage

logger = Logger()
SETTINGS = Settings.from_env()


@dataclass(frozen=True, kw_only=True)
class AwaitStackEvent(Model):
    stage: Stage
    operation: Literal["deploy", "delete"] = "deploy"
    started_at: float
    request_token: str = text(pattern=completion.TOKEN_PATTERN)
    task_token: Secret = text(repr=False)
    expected_seconds: float | None = None


@functools.cache
def _table() -> Any:
    return boto3.resource("dynamodb").Table(SETTINGS.table_name)


@functools.cache
def _sfn() -> Any:
    return boto3.client("stepfunctions")


def await_stack(table: Any, sfn: Any, event: AwaitStackEvent) -> dict[str, Any]:
    stage = event.stage
    record_key = completion.key(stage.account, stage.region, stage.stack, event.request_token)
    wait = {
        "stage": stage.to_dict(),
        "operation": event.operation,
        "started_at": event.started_at,
        "expected_seconds": event.expected_seconds,
    }
    item = completion.arm(
        table, record_key, task_token=event.task_token.get_secret_value(), wait=wait
    )
    if not completion.ready(item):
        return {"outcome": "waiting"}
    outcome = completion.answer(
        table, sfn, record_key, item, lambda w: completion.check_wait(w, SETTINGS.poll)
    )
    return {"outcome": outcome}


@logger.inject_lambda_context
@event_parser(model=AwaitStackEvent)
@retryable_throttling
def lambda_handler(event: AwaitStackEvent, context: LambdaContext) -> dict[str, Any]:
    result = await_stack(_table(), _sfn(), event)
    logger.info(
        "Waiting for the stack's completion event", extra={"stack": event.stage.stack, **result}
    )
    return result
