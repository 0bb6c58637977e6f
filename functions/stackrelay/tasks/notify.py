"""Notify: StackRelay events that people care about, to the SNS topic for people.

Triggered by EventBridge rules on StackRelay's bus (template.yaml); the message is
built by :mod:`stackrelay.notifications` (chat, email). A failure here raises, so
EventBridge retries it and the function's Errors alarm reports it; it never
touches a deployment, which has already moved on.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import notifications

logger = Logger()
TOPIC_ARN = os.environ.get("NOTIFY_TOPIC_ARN", "")
_sns: Any = None


def sns() -> Any:
    global _sns
    if _sns is None:
        import boto3

        _sns = boto3.client("sns")
    return _sns


def notify(client: Any, topic_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    published = client.publish(TopicArn=topic_arn, **notifications.message(event))
    return {"message_id": published["MessageId"], "detail_type": event.get("detail-type")}


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("source") != "stackrelay":
        logger.warning("Not a StackRelay event; ignored", extra={"source": event.get("source")})
        return {"message_id": None, "detail_type": event.get("detail-type")}
    result = notify(sns(), TOPIC_ARN, event)
    logger.info("Notified", extra=result)
    return result
