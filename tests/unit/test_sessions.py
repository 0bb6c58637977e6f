"""sessions: role session names and assumed-role sessions in the target account."""

from __future__ import annotations

import re

import boto3
import pytest
from stackrelay.sessions import assume_role, for_stage, session_name


@pytest.mark.parametrize(
    ("pipeline_id", "stage", "expected"),
    [
        ("4711", "prod", "stackrelay-4711-prod"),
        ("", "review", "stackrelay-manual-review"),
        ("ABC-def", "staging", "stackrelay-abc-def-staging"),
    ],
)
def test_session_name_pipeline_and_stage(pipeline_id: str, stage: str, expected: str) -> None:
    assert session_name(pipeline_id, stage) == expected


def test_session_name_long_pipeline_fits_sts_limit() -> None:
    name = session_name("9" * 200, "staging")

    assert len(name) <= 64
    assert re.fullmatch(r"[\w+=,.@-]+", name)


def test_assume_role_session_acts_in_role_account(aws: None) -> None:
    sts = boto3.client("sts", region_name="us-east-1")

    session = assume_role(
        sts, "arn:aws:iam::333333333333:role/StackRelayDeployRole", "stackrelay-1-prod", "eu-west-1"
    )

    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == "333333333333"
    assert "StackRelayDeployRole/stackrelay-1-prod" in identity["Arn"]
    assert session.region_name == "eu-west-1"


def test_for_stage_uses_stage_role_and_region(aws: None, make_stage) -> None:  # type: ignore[no-untyped-def]
    stage = make_stage("deploy_feature.json")

    session = for_stage(stage)

    assert session.client("sts").get_caller_identity()["Account"] == "111111111111"
    assert session.region_name == "us-east-1"
