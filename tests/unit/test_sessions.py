"""sessions: role session names and assumed-role sessions in the target account."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from stackrelay import sessions
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


class CountingSts:
    """STS that counts AssumeRole calls and hands out credentials that expire."""

    def __init__(self, lifetime: float = 3600.0) -> None:
        self.calls: list[dict[str, object]] = []
        self.lifetime = lifetime

    def assume_role(self, **kwargs: object) -> dict[str, object]:
        self.calls.append(kwargs)
        n = len(self.calls)
        expires = datetime.fromtimestamp(sessions._now() + self.lifetime, tz=UTC)
        return {
            "Credentials": {
                "AccessKeyId": f"AKIA{n}",
                "SecretAccessKey": "secret",
                "SessionToken": "token",
                "Expiration": expires,
            }
        }


@pytest.fixture
def real_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The cache's clock, moved by hand."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(sessions, "_now", lambda: now[0])
    sessions.clear()
    yield now
    sessions.clear()


ROLE = "arn:aws:iam::111111111111:role/StackRelayDeployRole"


def test_assume_role_same_role_and_name_assumes_once(real_time: list[float]) -> None:
    sts = CountingSts()

    first = assume_role(sts, ROLE, "stackrelay-1-review", "us-east-1")
    again = assume_role(sts, ROLE, "stackrelay-1-review", "us-east-1")

    assert again is first
    assert len(sts.calls) == 1
    assert sts.calls[0]["DurationSeconds"] == sessions.SESSION_SECONDS


def test_assume_role_other_pipeline_gets_its_own_session(real_time: list[float]) -> None:
    sts = CountingSts()

    one = assume_role(sts, ROLE, "stackrelay-1-review", "us-east-1")
    two = assume_role(sts, ROLE, "stackrelay-2-review", "us-east-1")

    assert one is not two
    assert [c["RoleSessionName"] for c in sts.calls] == [
        "stackrelay-1-review",
        "stackrelay-2-review",
    ]


def test_assume_role_near_expiry_assumes_again(real_time: list[float]) -> None:
    sts = CountingSts(lifetime=3600)
    first = assume_role(sts, ROLE, "s", "us-east-1")

    real_time[0] += 3600 - sessions.REFRESH_MARGIN_SECONDS - 1
    assert assume_role(sts, ROLE, "s", "us-east-1") is first
    real_time[0] += 2
    renewed = assume_role(sts, ROLE, "s", "us-east-1")

    assert renewed is not first
    assert len(sts.calls) == 2


def test_assume_role_drops_expired_sessions_of_other_roles(real_time: list[float]) -> None:
    sts = CountingSts(lifetime=600)
    assume_role(sts, ROLE, "old", "us-east-1")
    real_time[0] += 600

    assume_role(sts, ROLE, "new", "us-east-1")

    assert [key[1] for key in sessions._assumed] == ["new"]


def test_session_client_made_once_per_service(real_time: list[float]) -> None:
    session = assume_role(CountingSts(), ROLE, "s", "eu-west-1")

    cfn = session.client("cloudformation")

    assert session.client("cloudformation") is cfn
    assert session.client("s3") is not cfn
    assert cfn.meta.region_name == "eu-west-1"
    assert cfn.meta.config.retries["total_max_attempts"] == 2


def test_credentials_not_in_session_repr(real_time: list[float]) -> None:
    session = assume_role(CountingSts(), ROLE, "s", "us-east-1")

    assert "secret" not in repr(session) and "AKIA" not in repr(session)


def test_own_client_cached_per_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions.clear()
    first = sessions.client("stepfunctions")
    assert sessions.client("stepfunctions") is first

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another-account-key")

    assert sessions.client("stepfunctions") is not first
    sessions.clear()


def test_for_stage_reuses_session_across_polls(aws: None, make_stage) -> None:  # type: ignore[no-untyped-def]
    stage = make_stage("deploy_feature.json")

    assert sessions.cloudformation(stage) is sessions.cloudformation(stage)
