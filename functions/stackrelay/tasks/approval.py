"""The approval function: list, show, approve or reject a waiting release.

CI's approve/reject jobs invoke this function and nothing else: it looks the
task token up and answers Step Functions, so the token never leaves the
orchestrator. Errors are domain exceptions (ApprovalNotFound,
ApprovalAlreadyDecided, ApprovalExpired, ChangeSetStale): the CLI maps their
names to exit codes.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import BaseModel, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pydantic import Field

from stackrelay import approvals, cfn, changeset, clock, sessions
from stackrelay.config import Settings
from stackrelay.errors import ApprovalExpired, ChangeSetStale, InvalidInput, retryable_throttling
from stackrelay.model import APP_PATTERN

logger = Logger()
SETTINGS = Settings.from_env()
TABLE = boto3.resource("dynamodb").Table(SETTINGS.table_name)
SFN = boto3.client("stepfunctions")
STS = boto3.client("sts")


class ApprovalAction(BaseModel):
    action: Literal["list", "show", "approve", "reject"]
    app: str | None = Field(default=None, pattern=APP_PATTERN)
    pipeline_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,40}$")
    stage: str = "prod"
    approver: str | None = Field(default=None, max_length=255)
    job_url: str | None = Field(default=None, max_length=2048)
    reason: str | None = Field(default=None, max_length=1024)


def _stale_reason(item: dict[str, Any]) -> str | None:
    """Why the reviewed change set can no longer run, or None if it still can."""
    role = SETTINGS.deploy_role_arn(item["stage"])
    session = sessions.assume_role(
        STS, role, f"stackrelay-approval-{item['pipeline_id']}", SETTINGS.region
    )
    found = cfn.describe_change_set(
        session.client("cloudformation"), item["stack"], item["change_set"]
    )
    if found is None:
        return "the change set no longer exists"
    if found.get("ExecutionStatus") != "AVAILABLE":
        return f"the change set is {found.get('ExecutionStatus')}, not AVAILABLE"
    if changeset.digest(found) != item["digest"]:
        return "the change set's content changed after it was summarised"
    return None


def _answer(sfn: Any, call: str, **kwargs: Any) -> None:
    try:
        getattr(sfn, call)(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            raise ApprovalExpired(
                "The release is no longer waiting for this approval (timed out or stopped). "
                "Run the pipeline again."
            ) from None
        raise


def decide(table: Any, sfn: Any, request: ApprovalAction) -> dict[str, Any]:
    if request.action == "list":
        return {"approvals": approvals.waiting(table, request.app)}
    if not request.app or not request.pipeline_id:
        raise InvalidInput(f"{request.action} needs app and pipeline_id.")
    item = approvals.get(table, request.app, request.pipeline_id, request.stage)
    view = approvals.public(item)
    view["summary_text"] = changeset.render(item["summary"])
    if request.action == "show":
        return {"approval": view}
    if not request.approver:
        raise InvalidInput(f"{request.action} needs the approver's identity (approver).")
    try:
        approvals.check_open(item)
    except ApprovalExpired:
        approvals.settle(table, item, "expired")
        raise
    stale = _stale_reason(item)
    if stale is not None:
        approvals.settle(table, item, "stale", by=request.approver, reason=stale)
        message = f"Not approved: {stale}. Run the pipeline again to review the new change."
        _answer(
            sfn,
            "send_task_failure",
            taskToken=approvals.token_of(item),
            error="ChangeSetStale",
            cause=message,
        )
        raise ChangeSetStale(message)
    status = "approved" if request.action == "approve" else "rejected"
    decided = approvals.settle(
        table, item, status, by=request.approver, reason=request.reason, job_url=request.job_url
    )
    token = approvals.token_of(item)
    if status == "approved":
        output = {
            "approver": request.approver,
            "reason": request.reason,
            "job_url": request.job_url,
            "decided_at": clock.now(),
        }
        _answer(sfn, "send_task_success", taskToken=token, output=json.dumps(output))
    else:
        cause = f"Rejected by {request.approver}: {request.reason or 'no reason given'}"
        _answer(sfn, "send_task_failure", taskToken=token, error="DeploymentRejected", cause=cause)
    return {"approval": {**decided, "summary_text": view["summary_text"]}}


@logger.inject_lambda_context(log_event=False)
@event_parser(model=ApprovalAction)
@retryable_throttling
def lambda_handler(event: ApprovalAction, context: LambdaContext) -> dict[str, Any]:
    result = decide(TABLE, SFN, event)
    logger.info(
        "Approval action",
        extra={
            "action": event.action,
            "app": event.app,
            "pipeline_id": event.pipeline_id,
            "approver": event.approver,
        },
    )
    return result
