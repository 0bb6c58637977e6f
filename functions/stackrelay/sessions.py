"""Sessions acting in a target account, through the deploy role."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from stackrelay.naming import slug

if TYPE_CHECKING:
    from stackrelay.plan import Stage


def session_name(pipeline_id: str, stage: str) -> str:
    """The role session name CloudTrail shows: which pipeline did this."""
    return f"stackrelay-{slug(pipeline_id) or 'manual'}-{stage}"[:64]


def assume_role(sts: Any, role_arn: str, name: str, region: str) -> boto3.Session:
    """A boto3 session with the role's short-lived credentials.

    The credentials stay inside the session object: never log or return them.
    """
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=name, DurationSeconds=900)[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def for_stage(stage: Stage) -> boto3.Session:
    """A session acting in the stage's account through its deploy role."""
    return assume_role(boto3.client("sts"), stage.role_arn, stage.session, stage.region)


# One quick SDK retry for a transient blip; throttling beyond that is raised as
# Throttled and retried by the state machine, which waits for free instead of
# sleeping in a billed Lambda.
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 2})


def cloudformation(stage: Stage) -> Any:
    """A CloudFormation client acting in the stage's account."""
    return for_stage(stage).client("cloudformation", config=CLIENT_CONFIG)
