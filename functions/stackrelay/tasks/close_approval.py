"""Discard Change Set: an approval was rejected or timed out, or execution failed.

Deletes the change set that will not run (so no orphan is left on the stack),
marks a timed-out approval expired, and returns the error the release ends
with (Error/Cause, for Record Failure). Stages without an approval (a failed
Execute Change Set on a review or staging stack) only delete the change set.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import approvals, cfn, events, sessions
from stackrelay.config import Settings
from stackrelay.errors import ApprovalAlreadyDecided, ApprovalNotFound, retryable_throttling
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

logger = Logger()
SETTINGS = Settings.from_env()


@dataclass(frozen=True, kw_only=True)
class CloseEvent(Model):
    stage: Stage
    error: dict[str, str | None]


class Result(TypedDict):
    """The error the release ends with (States.* names, or the approval's outcome)."""

    Error: str
    Cause: str


def close(cloudformation: object, table: object, event: CloseEvent) -> Result:
    stage = event.stage
    cfn.delete_change_set(cloudformation, stage.stack, stage.change_set)
    name = event.error.get("Error") or "States.Runtime"
    try:
        item = approvals.get(table, stage.execution, stage.approval_key)
    except ApprovalNotFound:  # no approval stage, or it failed before asking for one
        return {"Error": name, "Cause": event.error.get("Cause") or ""}
    if name == "DeploymentRejected":
        # Said from the approval record, the source of truth for who decided and why.
        who, why = item.get("decided_by") or "someone", item.get("decision_reason")
        return {"Error": name, "Cause": f"Rejected by {who}: {why or 'no reason given'}"}
    if name != "States.Timeout":
        return {
            "Error": name,
            "Cause": event.error.get("Cause") or item.get("decision_reason") or "",
        }
    with contextlib.suppress(ApprovalAlreadyDecided):
        approvals.settle(table, item, "expired")
    hours = stage.approval_timeout_seconds / 3600
    cause = (
        f"No one approved the {stage.stage} change set of {stage.stack} within "
        f"{hours:g} hours; it was deleted. Run the pipeline again to review a new one."
    )
    events.publish(
        events.APPROVAL_EXPIRED,
        events.stage_detail(
            stage,
            outcome="expired",
            headline=item.get("headline"),
            reason=cause,
            change_set_id=item.get("change_set_id"),
            requested_at=item.get("requested_at"),
            expires_at=item.get("expires_at"),
        ),
    )
    return {"Error": "ApprovalExpired", "Cause": cause}


@logger.inject_lambda_context(log_event=False)
@event_parser(model=CloseEvent)
@retryable_throttling
def lambda_handler(event: CloseEvent, context: LambdaContext) -> Result:
    result = close(sessions.cloudformation(event.stage), sessions.table(SETTINGS.table_name), event)
    logger.info("Unapproved change set discarded", extra={"stack": event.stage.stack, **result})
    return result
