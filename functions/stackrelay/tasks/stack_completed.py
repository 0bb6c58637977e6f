"""Stack Completed: a forwarded CloudFormation status event answers a waiting stage.

Triggered by the completion bus's rule. The event only wakes the wait: the
answer comes from the stack's real status (the polling path's check). Events
StackRelay did not start, non-terminal ones, other accounts' stacks and
duplicates are ignored; one that arrives before the wait stored its token is
kept for it (see stackrelay.completion).
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import completion
from stackrelay.config import Settings
from stackrelay.errors import retryable_throttling

logger = Logger()
SETTINGS = Settings.from_env()


@functools.cache
def _table() -> Any:
    return boto3.resource("dynamodb").Table(SETTINGS.table_name)


@functools.cache
def _sfn() -> Any:
    return boto3.client("stepfunctions")


def complete(table: Any, sfn: Any, event: dict[str, Any], stack_prefix: str) -> dict[str, Any]:
    try:
        found = completion.parse(event, stack_prefix)
    except completion.IgnoredEvent as why:
        return {"outcome": "ignored", "reason": str(why)}
    record_key = completion.key(found.account, found.region, found.stack, found.token)
    item = completion.record(table, record_key, found)
    result: dict[str, Any] = {"stack": found.stack, "status": found.status}
    if not completion.ready(item):
        return {**result, "outcome": "recorded"}
    outcome = completion.answer(
        table, sfn, record_key, item, lambda w: completion.check_wait(w, SETTINGS.poll)
    )
    return {**result, "outcome": outcome}


@logger.inject_lambda_context
@retryable_throttling
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = complete(_table(), _sfn(), event, SETTINGS.stack_prefix)
    logger.info("Stack status event", extra=result)
    return result
