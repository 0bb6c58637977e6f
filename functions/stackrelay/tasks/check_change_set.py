"""Check Change Set: pending, ready (with its summary and digest) or empty."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import boundary, cfn, changeset, layers, sessions
from stackrelay.errors import ChangeSetFailed, retryable_throttling
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

logger = Logger()
CHANGE_SET_POLL_SECONDS = 2


@dataclass(frozen=True, kw_only=True)
class CheckEvent(Model):
    stage: Stage


class Result(TypedDict):
    """Every key, every time: the ASL's ResultSelector names them all."""

    state: Literal["pending", "empty", "ready"]
    wait_seconds: int
    id: str | None
    digest: str | None
    summary: dict[str, Any] | None
    headline: str | None


def _not_ready(state: Literal["pending", "empty"], wait_seconds: int) -> Result:
    return {
        "state": state,
        "wait_seconds": wait_seconds,
        "id": None,
        "digest": None,
        "summary": None,
        "headline": None,
    }


def check(cloudformation: Any, stage: Stage) -> Result:
    found = cfn.describe_change_set(cloudformation, stage.stack, stage.change_set)
    if found is None:
        raise ChangeSetFailed(
            f"The change set {stage.change_set} of {stage.stack} disappeared before it was "
            "executed (deleted by someone else?). Run the pipeline again."
        )
    status = found["Status"]
    if status in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
        return _not_ready("pending", CHANGE_SET_POLL_SECONDS)
    if cfn.is_no_changes(found):
        cfn.delete_change_set(cloudformation, stage.stack, stage.change_set)
        return _not_ready("empty", 0)
    if status != "CREATE_COMPLETE":
        raise ChangeSetFailed(
            f"CloudFormation could not create the change set for {stage.stack} "
            f"({status}): {found.get('StatusReason') or 'no reason given'}"
        )
    template = cfn.change_set_template(cloudformation, stage.stack, stage.change_set)
    notes = [
        note
        for note in (
            boundary.applied_note(boundary.applied(template or {})),
            layers.applied_note(layers.applied(template or {})),
        )
        if note
    ]
    summary = changeset.summarize(found["Changes"], notes=notes or None)
    return {
        "state": "ready",
        "wait_seconds": 0,
        "id": found["ChangeSetId"],
        "digest": changeset.digest(found),
        "summary": summary,
        "headline": changeset.headline(summary),
    }


@logger.inject_lambda_context
@event_parser(model=CheckEvent)
@retryable_throttling
def lambda_handler(event: CheckEvent, context: LambdaContext) -> Result:
    result = check(sessions.cloudformation(event.stage), event.stage)
    logger.info(
        "Change set checked",
        extra={
            "stack": event.stage.stack,
            "state": result["state"],
            "headline": result.get("headline"),
        },
    )
    return result
