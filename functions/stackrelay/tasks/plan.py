"""Validate Input: parse the execution input and plan the stages."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay.config import Settings
from stackrelay.model import parse_request
from stackrelay.plan import build_plan

logger = Logger()
SETTINGS = Settings.from_env()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event.get("request"))
    plan = build_plan(request, SETTINGS, event["execution"])
    logger.info(
        "Planned release",
        extra={
            "app": plan["app"],
            "kind": plan["kind"],
            "stages": [s["stack"] for s in plan["stages"]],
        },
    )
    return plan
