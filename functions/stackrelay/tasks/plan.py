"""Validate Input: parse the execution input and plan the stages; Judge Wave."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import events
from stackrelay.config import Settings
from stackrelay.model import parse_request
from stackrelay.plan import Stage, build_plan, judge_wave

logger = Logger()
SETTINGS = Settings.from_env()


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
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "judge" in event:
        # Judge Wave: the plan's failure policy, applied to a wave's outcomes.
        verdict = judge_wave(event["judge"], event.get("outcomes") or [])
        logger.info("Judged wave", extra={"wave": event["judge"].get("name"), **verdict})
        return verdict
    request = parse_request(event.get("request"))
    plan = build_plan(request, SETTINGS, event["execution"], event.get("execution_arn"))
    logger.info(
        "Planned release",
        extra={
            "app": plan["app"],
            "kind": plan["kind"],
            "stages": [s["stack"] for s in plan["stages"]],
        },
    )
    if plan["stages"]:
        events.publish(events.RELEASE_STARTED, release_started(plan))
    return plan
