"""Create Change Set: from the packaged artifact, named so a retry finds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import cfn, clock, sessions
from stackrelay.errors import retryable_throttling
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

logger = Logger()


@dataclass(frozen=True, kw_only=True)
class CreateEvent(Model):
    stage: Stage
    declared_parameters: list[str]
    change_set_type: Literal["CREATE", "UPDATE"]
    templates: dict[str, str] = field(default_factory=dict)
    """Region -> template URL (Verify Artifact): each region deploys its own copy."""


class Result(TypedDict):
    id: str
    name: str
    created_at: float


def create(cloudformation: Any, event: CreateEvent) -> Result:
    stage = event.stage
    declared = set(event.declared_parameters)
    parameters = {k: v for k, v in stage.parameters.items() if k in declared}
    change_set_id = cfn.create_change_set(
        cloudformation,
        stack=stage.stack,
        name=stage.change_set,
        change_set_type=event.change_set_type,
        template_url=event.templates.get(stage.region) or stage.template_url,
        parameters=parameters,
        tags=stage.tags,
        role_arn=stage.execution_role_arn,
        description=f"StackRelay {stage.ref}@{stage.commit[:12]} pipeline {stage.pipeline_id}",
    )
    return {"id": change_set_id, "name": stage.change_set, "created_at": clock.now()}


@logger.inject_lambda_context
@event_parser(model=CreateEvent)
@retryable_throttling
def lambda_handler(event: CreateEvent, context: LambdaContext) -> Result:
    result = create(sessions.cloudformation(event.stage), event)
    logger.info(
        "Change set requested", extra={"stack": event.stage.stack, "change_set": result["name"]}
    )
    return result
