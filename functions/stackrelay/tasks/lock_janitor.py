"""Lock janitor: when an execution ends without releasing its locks, release them.

An EventBridge rule sends "Step Functions Execution Status Change" events for
ABORTED, TIMED_OUT and FAILED executions of the deploy, teardown and recover
state machines. A stopped execution runs no more states, so this is the only
way its lock goes the moment it ends (otherwise the next asker finds the
holder dead, or the lease runs out).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import events, locks, sessions
from stackrelay.config import Settings
from stackrelay.errors import retryable_throttling

logger = Logger()
SETTINGS = Settings.from_env()
ENDED = frozenset({"ABORTED", "TIMED_OUT", "FAILED", "SUCCEEDED"})


def clean_up(table: Any, event: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail") or {}
    arn, status = detail.get("executionArn"), detail.get("status")
    if not arn or status not in ENDED:
        return {"execution": arn, "status": status, "released": []}
    return {"execution": arn, "status": status, "released": locks.release_held_by(table, arn)}


@logger.inject_lambda_context
@retryable_throttling
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = clean_up(sessions.table(SETTINGS.table_name), event)
    logger.info("Locks of an ended execution", extra=result)
    if result["released"]:
        events.publish(
            events.REAPER_ACTION,
            {
                "reaper_action": "locks_released",
                "execution_arn": result["execution"],
                "console_url": events.execution_console_url(result["execution"]),
                "status": result["status"],
                "released": result["released"],
                "reason": f"the execution ended {result['status']} while holding them",
            },
        )
    return result
