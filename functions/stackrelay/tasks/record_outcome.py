"""Record Outcome: the audit trail, the stage's line in the execution output, its
event (docs/events.md) and its delivery metrics (docs/metrics.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import approvals, cfn, clock, delivery, events, hints, records, sessions, status
from stackrelay.config import Settings
from stackrelay.errors import ApprovalNotFound, retryable_throttling
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

logger = Logger()
metrics = Metrics()
SETTINGS = Settings.from_env()


@dataclass(frozen=True, kw_only=True)
class RecordEvent(Model):
    stage: Stage
    outcome: Literal["deployed", "no_changes", "failed", "deleted", "superseded", "recovered"]
    change_set: dict[str, Any] | None = None
    execution: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def error_text(error: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(name, message) of a Catch's ``$.error``; a Lambda's Cause is its error JSON."""
    if not error:
        return None, None
    cause = error.get("Cause") or ""
    try:
        message = json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        message = cause
    return error.get("Error"), message


def decision(table: Any, stage: Stage) -> dict[str, Any]:
    """Who approved or rejected this stage, from the approval record itself."""
    if not stage.approval:
        return {}
    try:
        item = approvals.get(table, stage.execution, stage.approval_key)
    except ApprovalNotFound:
        return {}
    return {
        "approver": item.get("decided_by"),
        "approval_status": item.get("status"),
        "approval_reason": item.get("decision_reason"),
        "approved_at": item.get("decided_at"),
        "approval_job_url": item.get("decision_job_url"),
        "approval_requested_at": item.get("requested_at"),
        "approval_digest": item.get("digest"),
    }


def stack_truth(cloudformation: Any, stack: str) -> tuple[str | None, dict[str, str]]:
    """(status, outputs) of the stack as CloudFormation has it now; status None if absent.

    Never raises: a record is written even when the stack cannot be read (the
    status then says so).
    """
    try:
        found = cfn.describe_stack(cloudformation, stack)
    except Exception as exc:  # the record matters more than this read
        logger.warning("Could not read the stack for its record", extra={"error": str(exc)})
        return "UNKNOWN (could not describe the stack)", {}
    if found is None:
        return None, {}
    return str(found["StackStatus"]), cfn.outputs(found)


def write(
    table: Any, event: RecordEvent, review_url_output: str, cloudformation: Any = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Write the stage's record; (the record, the stack's LATEST item before it).

    A failed stage's record says what the stack really is.
    """
    stage = event.stage
    finished = clock.now()
    started = (event.execution or {}).get("started_at")
    outputs = (event.result or {}).get("outputs") or {}
    error, message = error_text(event.error)
    stack_status = (event.result or {}).get("status")
    if cloudformation is not None:
        stack_status, real_outputs = stack_truth(cloudformation, stage.stack)
        outputs = outputs or real_outputs
        if started and _stable(stack_status):
            message = (
                f"{message or error or 'The stage failed'} (The stack itself is {stack_status}: "
                "the change set was applied; only what followed failed.)"
            )
    entry = {
        "app": stage.app,
        "stage": stage.stage,
        "target": stage.target or stage.stage,
        "trust": stage.trust,
        "account": stage.account,
        "region": stage.region,
        "stack": stage.stack,
        "project": stage.project,
        "ref": stage.ref,
        "commit": stage.commit,
        "commit_timestamp": stage.commit_timestamp,
        "pipeline_id": stage.pipeline_id,
        "pipeline_url": stage.pipeline_url,
        "job_url": stage.job_url,
        "execution": stage.execution,
        "execution_arn": stage.execution_arn,
        "user": stage.user,
        "outcome": event.outcome,
        "change_set": stage.change_set if event.change_set else None,
        "change_set_id": (event.change_set or {}).get("id"),
        "change_set_digest": (event.change_set or {}).get("digest"),
        "headline": (event.change_set or {}).get("headline"),
        "started_at": started,
        "finished_at": finished,
        "duration_seconds": round(finished - started, 3) if started else None,
        "url": outputs.get(stage.url_output or review_url_output),
        "outputs": outputs,
        "error": error,
        "reason": message,
        "stack_status": stack_status or "ABSENT",
        "fix": hints.fix_command(error, message, stage, stack_status) if error else None,
        "approver": None,
        **decision(table, stage),
    }
    previous = records.latest_for_stack(table, stage.account, stage.stack, stage.place)
    entry["failing_since"] = delivery.failing_since(previous, entry)
    entry["lead_time_seconds"] = delivery.lead_time(entry)
    records.put_deployment(table, {k: v for k, v in entry.items() if k != "outputs"})
    return entry, previous


class Result(TypedDict):
    """The stage's line in the execution output (the ASL's ResultSelector names each key)."""

    stage: str
    target: str
    account: str
    region: str
    stack: str
    outcome: str
    url: str | None
    headline: str | None
    error: str | None
    reason: str | None
    duration_seconds: float | None
    approver: str | None
    outputs: dict[str, str]


def line(entry: dict[str, Any]) -> Result:
    """The stage's line in the execution output: the record's keys the ASL selects."""
    return cast(Result, {key: entry[key] for key in Result.__annotations__})


def record(
    table: Any, event: RecordEvent, review_url_output: str, cloudformation: Any = None
) -> Result:
    """Write the stage's record; its line in the execution output."""
    return line(write(table, event, review_url_output, cloudformation)[0])


def event_for(stage: Stage, entry: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The StackRelay event a recorded outcome is (None: superseded, no event)."""
    detail_type = events.outcome_type(entry["outcome"], entry["error"])
    detail = events.stage_detail(
        stage,
        outcome=entry["outcome"],
        headline=entry["headline"],
        reason=entry["reason"],
        error=entry["error"],
        fix=entry["fix"],
        app_url=entry["url"],
        stack_status=entry["stack_status"],
        approver=entry.get("approver"),
        change_set_id=entry["change_set_id"],
        duration_seconds=entry["duration_seconds"],
        lead_time_seconds=entry["lead_time_seconds"],
    )
    return detail_type, detail


def _stable(stack_status: str | None) -> bool:
    try:
        return status.classify(stack_status) == status.StackState.STABLE
    except ValueError:
        return False


def _stack_client(event: RecordEvent) -> Any:
    """CloudFormation in the stage's account, for failed stages (whose result is unknown)."""
    if event.outcome != "failed":
        return None
    try:
        return sessions.cloudformation(event.stage)
    except Exception as exc:
        logger.warning("Could not assume the deploy role for the record", extra={"error": str(exc)})
        return _Unreadable()


class _Unreadable:
    def describe_stacks(self, **_: Any) -> Any:
        raise RuntimeError("the deploy role could not be assumed")


@metrics.log_metrics
@logger.inject_lambda_context
@event_parser(model=RecordEvent)
@retryable_throttling
def lambda_handler(event: RecordEvent, context: LambdaContext) -> Result:
    entry, previous = write(
        sessions.table(SETTINGS.table_name), event, SETTINGS.url_output, _stack_client(event)
    )
    result = line(entry)
    metrics.add_dimension(name="App", value=event.stage.app)
    metrics.add_dimension(name="Stage", value=event.stage.stage)
    metrics.add_metric(name=f"Stage_{event.outcome}", unit=MetricUnit.Count, value=1)
    if result["duration_seconds"] is not None:
        metrics.add_metric(
            name="StackSeconds", unit=MetricUnit.Seconds, value=result["duration_seconds"]
        )
    for name, value, unit in delivery.point_metrics(entry, previous):
        metrics.add_metric(name=name, unit=unit, value=value)
    logger.info("Stage recorded", extra={k: v for k, v in result.items() if k != "outputs"})
    detail_type, detail = event_for(event.stage, entry)
    if detail_type is not None:
        events.publish(detail_type, detail)
    return result
