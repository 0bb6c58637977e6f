"""Validate Input: parse the execution input and plan the stages; Judge Wave."""

from __future__ import annotations

from typing import Any, TypedDict, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import events
from stackrelay.config import Settings
from stackrelay.model import parse_request
from stackrelay.plan import Stage, build_plan, judge_wave

logger = Logger()
SETTINGS = Settings.from_env()


class Result(TypedDict):
    """The plan (stackrelay.plan.build_plan), as the ASL's Returns names it."""

    app: str
    action: str
    kind: str
    artifact: dict[str, Any] | None
    stages: list[dict[str, Any]]
    waves: list[dict[str, Any]]


class Judged(TypedDict):
    """Judge Wave's verdict (stackrelay.plan.judge_wave)."""

    held: bool
    failed: int
    error: str | None
    cause: str | None


RESULTS = {"request": Result, "judge": Judged}
"""The result of each request this function answers (by the payload key it carries)."""


def release_started(plan: dict[str, Any]) -> dict[str, Any]:
    """The ``Release Started`` detail: who asked for what, and the stages it will run."""
    first = Stage.from_dict(plan["stages"][0])
    return {
        **events.source_detail(first),
        "action": plan["action"],
        "kind": plan["kind"],
        "stages": [
            {k: s[k] for k in ("stage", "account", "region", "stack", "approval")}
            for s in plan["stages"]
        ],
    }


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Result | Judged:
    if "judge" in event:
        # Judge Wave: the plan's failure policy, applied to a wave's outcomes.
        verdict = cast(Judged, judge_wave(event["judge"], event.get("outcomes") or []))
        logger.info("Judged wave", extra={"wave": event["judge"].get("name"), **verdict})
        return verdict
    request = parse_request(event.get("request"))
    plan = cast(
        Result, build_plan(request, SETTINGS, event["execution"], event.get("execution_arn"))
    )
    logger.info(
        "Planned release",
        extra={
            "app": plan["app"],
            "kind": plan["kind"],
            "stages": [s["stack"] for s in plan["stages"]],
        },
    )
    if plan["stages"]:
        events.publish(events.RELEASE_STARTED, release_started(dict(plan)))
    return plan
