"""Request Approval: park the release on a task token until a person decides.

Invoked with ``.waitForTaskToken``; its return value is ignored. The token
goes to the table and nowhere else (never into a log line).
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import BaseModel, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import approvals
from stackrelay.config import Settings
from stackrelay.errors import retryable_throttling
from stackrelay.plan import Stage

logger = Logger()
SETTINGS = Settings.from_env()
TABLE = boto3.resource("dynamodb").Table(SETTINGS.table_name)


class ApprovalRequest(BaseModel):
    token: str
    stage: Stage
    change_set: dict[str, Any]


def request(table: Any, event: ApprovalRequest) -> dict[str, Any]:
    stage, change_set = event.stage, event.change_set
    return approvals.store(
        table,
        execution=stage.execution,
        app=stage.app,
        pipeline_id=stage.pipeline_id,
        stage=stage.stage,
        token=event.token,
        timeout_seconds=stage.approval_timeout_seconds,
        details={
            "account": stage.account,
            "stack": stage.stack,
            "ref": stage.ref,
            "user": stage.user,
            "commit": stage.commit,
            "pipeline_url": stage.pipeline_url,
            "change_set": stage.change_set,
            "change_set_id": change_set["id"],
            "digest": change_set["digest"],
            "summary": change_set["summary"],
            "headline": change_set["headline"],
        },
    )


@logger.inject_lambda_context(log_event=False)
@event_parser(model=ApprovalRequest)
@retryable_throttling
def lambda_handler(event: ApprovalRequest, context: LambdaContext) -> dict[str, Any]:
    view = request(TABLE, event)
    logger.info(
        "Approval requested",
        extra={
            "app": view["app"],
            "pipeline_id": view["pipeline_id"],
            "headline": view["headline"],
        },
    )
    return {"status": view["status"]}
