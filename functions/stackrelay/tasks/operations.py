"""The operations function: history, review stacks, and recover (invoked by the CLI).

A person needs no access to the table or the target accounts: reads go
through here, and ``recover`` starts the recover state machine, which does the
slow part (continue the rollback, wait) in Step Functions.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import cfn, clock, delivery, records, reviews, sessions, stackcheck
from stackrelay.config import Settings
from stackrelay.errors import InvalidInput, retryable_throttling
from stackrelay.model import APP_PATTERN
from stackrelay.naming import execution_name
from stackrelay.parsing import Model, event_parser, limits, text

logger = Logger()
SETTINGS = Settings.from_env()
RECOVER_STATE_MACHINE_ARN = os.environ.get("RECOVER_STATE_MACHINE_ARN", "")
REVIEW_RETENTION_DAYS = int(os.environ.get("REVIEW_RETENTION_DAYS", "7"))
RECORD_RETENTION = (
    "Deployment records are kept until deleted (the table has point-in-time recovery "
    "for 35 days); docs/metrics.md says how to expire them."
)


@dataclass(frozen=True, kw_only=True)
class OperationsAction(Model):
    action: Literal["history", "reviews", "recover", "metrics"]
    app: str | None = text(None, pattern=APP_PATTERN)
    limit: int = limits(20, ge=1, le=500)
    stale: bool = False
    stage: str | None = text(None, pattern=r"^[a-z][a-z0-9-]{0,39}(\.[a-z0-9-]{1,30})?$")
    """A release stage, or one region of it (its target, ``prod.eu-west-1``)."""
    skip: list[str] = limits(default_factory=list, max_length=100)
    history_stage: str | None = text(None, pattern=r"^[a-z][a-z0-9-]{0,39}$")
    since: float | None = limits(None, ge=0)


def history(table: Any, action: OperationsAction) -> dict[str, Any]:
    if not action.app:
        raise InvalidInput("history needs --app: whose deployments?")
    found = records.history(table, action.app, action.limit, action.history_stage)
    return {"records": found, "retention": RECORD_RETENTION}


def metrics(table: Any, action: OperationsAction) -> dict[str, Any]:
    """Delivery metrics per app and stage since ``since`` (default: 30 days)."""
    now = clock.now()
    since = action.since if action.since is not None else now - 30 * delivery.DAY
    if since > now:
        raise InvalidInput("metrics: since is in the future.")
    found = records.deployments_since(table, since, action.app)
    return {
        "period": delivery.period(since, now),
        "app": action.app,
        "metrics": delivery.summarize(found, since, now),
    }


def list_reviews(table: Any, action: OperationsAction, retention_days: int) -> dict[str, Any]:
    rows = reviews.list_reviews(
        table,
        retention_days,
        app=action.app,
        stale_only=action.stale,
        legacy_stages=[s.name for s in SETTINGS.topology.review_stages()],
    )
    return {"reviews": rows, "retention_days": retention_days}


def recover(
    table: Any, sfn: Any, sts: Any, action: OperationsAction, settings: Settings, machine: str
) -> dict[str, Any]:
    """Start the recover execution for a release stack in UPDATE_ROLLBACK_FAILED."""
    if not action.app or not action.stage:
        raise InvalidInput("recover needs --app and --stage (a release stage).")
    pipeline_id = f"recover-{clock.utcnow():%Y%m%d%H%M%S}"
    name = execution_name(action.app, "recover", action.stage, pipeline_id, secrets.token_hex(3))
    stage = reviews.release_stage(settings, action.app, action.stage, "0000000", pipeline_id, name)
    # The record says which commit the stack runs; the plan's names do not depend on it.
    latest = records.latest_for_stack(table, stage.account, stage.stack, stage.place) or {}
    if latest.get("commit"):
        stage = stage.replace(commit=latest["commit"])
    execution_arn = machine.replace(":stateMachine:", ":execution:") + f":{name}"
    stage = stage.replace(action="recover", execution_arn=execution_arn)
    session = sessions.assume_role(sts, stage.role_arn, stage.session, stage.region)
    stack = cfn.describe_stack(session.client("cloudformation", retries=True), stage.stack)
    status = stack["StackStatus"] if stack else None
    stackcheck.check_recoverable(stage, status)
    started = sfn.start_execution(
        stateMachineArn=machine,
        name=name,
        input=json.dumps({"stage": stage.to_dict(), "skip": action.skip}),
    )
    return {"executionArn": started["executionArn"], "stack": stage.stack, "status": status}


@logger.inject_lambda_context
@event_parser(model=OperationsAction)
@retryable_throttling
def lambda_handler(event: OperationsAction, context: LambdaContext) -> dict[str, Any]:
    logger.info("Operation", extra={"action": event.action, "app": event.app})
    table = sessions.table(SETTINGS.table_name)
    if event.action == "history":
        return history(table, event)
    if event.action == "reviews":
        return list_reviews(table, event, REVIEW_RETENTION_DAYS)
    if event.action == "metrics":
        return metrics(table, event)
    sfn, sts = sessions.client("stepfunctions"), sessions.client("sts")
    return recover(table, sfn, sts, event, SETTINGS, RECOVER_STATE_MACHINE_ARN)
