"""The reaper: tear down review stacks not deployed for ReviewRetentionDays (daily schedule).

It finds them with the same rule as ``stackrelay reviews --stale`` and starts
one teardown execution each; the teardown workflow does the deleting (and
takes each stack's lock, so a deploy in flight is never torn down under it).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Collection
from types import SimpleNamespace
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import clock, events, reviews, sessions
from stackrelay.config import Settings
from stackrelay.errors import retryable_throttling
from stackrelay.naming import execution_name

logger = Logger()
SETTINGS = Settings.from_env()
TEARDOWN_STATE_MACHINE_ARN = os.environ.get("TEARDOWN_STATE_MACHINE_ARN", "")
REVIEW_RETENTION_DAYS = int(os.environ.get("REVIEW_RETENTION_DAYS", "7"))
REAPER_USER = "stackrelay-reaper"


def reaper_action(review: dict[str, Any], execution_arn: str) -> dict[str, Any]:
    """The ``Reaper Action`` detail: which stale review stack it tears down, and why."""
    return {
        **events.source_detail(SimpleNamespace(**review), execution_arn),
        "action": "teardown",
        "reaper_action": "teardown_started",
        "stage": review.get("stage"),
        "account": review.get("account"),
        "stack": review.get("stack"),
        "user": REAPER_USER,
        "deployed_at": review.get("deployed_at"),
        "reason": f"not deployed for more than {REVIEW_RETENTION_DAYS} days",
    }


def reap(
    table: Any,
    sfn: Any,
    machine: str,
    retention_days: int,
    legacy_stages: Collection[str] = (),
) -> dict[str, Any]:
    """Start one teardown per stale review stack; what was started (``legacy_stages``:
    the topology's review stages, for records written before they carried a trust)."""
    pipeline_id = f"reaper-{clock.utcnow():%Y-%m-%d}"
    started = []
    for review in reviews.list_reviews(
        table, retention_days, stale_only=True, legacy_stages=legacy_stages
    ):
        request = reviews.teardown_request(review, pipeline_id, REAPER_USER)
        name = execution_name(
            request.app, "teardown", request.source.ref, pipeline_id, secrets.token_hex(3)
        )
        response = sfn.start_execution(
            stateMachineArn=machine,
            name=name,
            input=json.dumps(request.model_dump(exclude_none=True)),
        )
        started.append({"stack": review["stack"], "executionArn": response["executionArn"]})
        events.publish(events.REAPER_ACTION, reaper_action(review, response["executionArn"]))
    return {"started": started, "retention_days": retention_days, "pipeline_id": pipeline_id}


@logger.inject_lambda_context
@retryable_throttling
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = reap(
        sessions.table(SETTINGS.table_name),
        sessions.client("stepfunctions"),
        TEARDOWN_STATE_MACHINE_ARN,
        REVIEW_RETENTION_DAYS,
        [s.name for s in SETTINGS.topology.review_stages()],
    )
    logger.info(
        "Reaped stale review stacks",
        extra={"stacks": [s["stack"] for s in result["started"]], "days": result["retention_days"]},
    )
    return result
