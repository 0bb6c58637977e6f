"""The approval function: list, show, approve or reject a waiting release.

CI's approve/reject jobs invoke this function and nothing else: it looks the
task token up and answers Step Functions, so the token never leaves the
orchestrator. Every call carries the caller's GitLab ID token: who decides is
the token's ``user_login`` (recorded with the job's URL), never a field; the
token's project must own the app (app A's approvers cannot decide app B); and
a decision needs a job on a protected branch. ``approve`` must carry the
digest of the summary the approver was shown, and is refused if it differs.

Errors are domain exceptions (IdentityRejected, ProjectMismatch,
ApproverNotAllowed, ApprovalNotFound, ApprovalAlreadyDecided, ApprovalExpired,
SummaryMismatch, ChangeSetStale): the CLI maps their names to exit codes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from stackrelay import approvals, cfn, changeset, clock, events, identity, registry, sessions
from stackrelay.config import Settings
from stackrelay.errors import (
    ApprovalExpired,
    ApprovalNotFound,
    ChangeSetStale,
    retryable_throttling,
)
from stackrelay.model import APP_PATTERN, DIGEST_PATTERN, PIPELINE_PATTERN, parse_model
from stackrelay.parsing import Model, Secret, text

logger = Logger()
SETTINGS = Settings.from_env()
ISSUER = identity.Issuer.from_env(os.environ)

EXECUTION_PATTERN = r"^[A-Za-z0-9_:.-]{1,256}$"  # a name (or, in tests, an ARN)


@dataclass(frozen=True, kw_only=True)
class ApprovalAction(Model):
    _forbid_extra: ClassVar[bool] = True

    action: Literal["list", "show", "approve", "reject"]
    id_token: Secret = text(repr=False)
    app: str = text(pattern=APP_PATTERN)
    execution: str | None = text(None, pattern=EXECUTION_PATTERN)
    pipeline_id: str | None = text(None, pattern=PIPELINE_PATTERN)
    stage: str | None = text(None, pattern=r"^[a-z][a-z0-9-]{0,39}(\.[a-z0-9-]{1,30})?$")
    """The approval's stage; by default the one stage that waits."""
    digest: str | None = text(None, pattern=DIGEST_PATTERN)
    reason: str | None = text(None, max_length=1024, safe=True)


def _stale_reason(item: dict[str, Any]) -> str | None:
    """Why the reviewed change set can no longer run, or None if it still can."""
    role = SETTINGS.deploy_role_arn(item["account"])
    session = sessions.assume_role(
        sessions.client("sts"),
        role,
        f"stackrelay-approval-{item['pipeline_id']}",
        item.get("region") or SETTINGS.region,
    )
    found = cfn.describe_change_set(
        session.client("cloudformation", retries=True), item["stack"], item["change_set"]
    )
    stale = changeset.stale_reason(found, item["digest"])
    return stale.reason if stale else None


def _answer(sfn: Any, call: str, **kwargs: Any) -> bool:
    """Answer Step Functions; False when it no longer waits (timed out, stopped)."""
    try:
        getattr(sfn, call)(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            return False
        raise
    return True


def _gone() -> ApprovalExpired:
    return ApprovalExpired(
        "The release is no longer waiting for this approval (timed out or stopped). "
        "Run the pipeline again."
    )


def _locate(table: Any, request: ApprovalAction, caller: identity.Identity) -> dict[str, Any]:
    if request.execution:
        item = approvals.of_execution(table, request.execution, request.stage)
        if item["app"] != request.app:
            # Never say which app it belongs to: the caller's project does not own it.
            what = f"{request.stage} approval" if request.stage else "approval"
            raise ApprovalNotFound(f"No {what} of {request.app} for execution {request.execution}.")
        return item
    pipeline = request.pipeline_id or caller.pipeline_id
    return approvals.find(table, request.app, pipeline, request.stage)


def decide(
    table: Any, sfn: Any, request: ApprovalAction, issuer: identity.Issuer
) -> dict[str, Any]:
    caller = identity.verify(request.id_token.get_secret_value(), issuer)
    registry.check(table, request.app, caller)
    if request.action == "list":
        return {"approvals": approvals.waiting(table, request.app)}
    item = _locate(table, request, caller)
    view = approvals.public(item)
    view["summary_text"] = changeset.render(item["summary"])
    if request.action == "show":
        return {"approval": view}
    try:
        approvals.check_decision(item, caller, request.action, request.digest)
    except ApprovalExpired:
        approvals.settle(table, item, "expired")
        raise
    approver, job_url = caller.user_login, caller.job_url
    retry = not approvals.needs_stale_check(item)
    stale = None if retry else _stale_reason(item)
    if stale is not None:
        message = f"Not approved: {stale}. Run the pipeline again to review the new change."
        answered = _answer(
            sfn,
            "send_task_failure",
            taskToken=approvals.token_of(item),
            error="ChangeSetStale",
            cause=message,
        )
        approvals.settle(table, item, "stale" if answered else "expired", by=approver, reason=stale)
        raise ChangeSetStale(message)
    decision = "approved" if request.action == "approve" else "rejected"
    claimed = approvals.claim(
        table,
        item,
        decision,
        by=approver,
        digest=item["digest"],
        reason=request.reason,
        job_url=job_url,
    )
    # The token stays in the item until Step Functions has the answer: if this call
    # fails (throttled), the item stays "deciding" and the same decision may be resent.
    token = approvals.token_of(claimed)
    if decision == "approved":
        output = {
            "approver": approver,
            "reason": request.reason,
            "job_url": job_url,
            "decided_at": clock.now(),
        }
        answered = _answer(sfn, "send_task_success", taskToken=token, output=json.dumps(output))
    else:
        cause = f"Rejected by {approver}: {request.reason or 'no reason given'}"
        answered = _answer(
            sfn, "send_task_failure", taskToken=token, error="DeploymentRejected", cause=cause
        )
    if not answered and not retry:
        approvals.settle(table, claimed, "expired")
        raise _gone()
    decided = approvals.settle(
        table, claimed, decision, by=approver, reason=request.reason, job_url=job_url
    )
    events.publish(events.APPROVAL_DECIDED, approval_decided(decided))
    return {"approval": {**decided, "summary_text": view["summary_text"]}}


def approval_decided(decided: dict[str, Any]) -> dict[str, Any]:
    """The ``Approval Decided`` detail, from the settled approval (never its token)."""
    view = approvals.public(decided)
    return events.stage_detail(
        SimpleNamespace(**view),
        outcome=view["status"],
        headline=view.get("headline"),
        change_set_id=view.get("change_set_id"),
        digest=view.get("digest"),
        decision=view["status"],
        approver=view.get("decided_by"),
        reason=view.get("decision_reason"),
        decision_job_url=view.get("decision_job_url"),
        decided_at=view.get("decided_at"),
    )


@logger.inject_lambda_context(log_event=False)
@retryable_throttling
def lambda_handler(payload: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Parsed here, not by event_parser: a validation error must never echo the token.
    event = parse_model(ApprovalAction, payload, "approval request")
    result = decide(
        sessions.table(SETTINGS.table_name), sessions.client("stepfunctions"), event, ISSUER
    )
    approval = result.get("approval") or {}
    logger.info(
        "Approval action",
        extra={
            "action": event.action,
            "app": event.app,
            "execution": approval.get("execution"),
            "status": approval.get("status"),
            "approver": approval.get("decided_by"),
        },
    )
    return result
