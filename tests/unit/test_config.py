"""config.Settings: read once from the environment; accounts and roles per stage."""

from __future__ import annotations

import pytest
from stackrelay.config import STAGE_ACCOUNT_KEY, STAGES, PollBounds, Settings
from stackrelay.errors import ConfigurationError


def test_settings_from_env_full_env_reads_every_value(aws_env: dict[str, str]) -> None:
    settings = Settings.from_env(aws_env)

    assert settings.accounts == {
        "dev": "111111111111",
        "staging": "222222222222",
        "prod": "333333333333",
    }
    assert settings.region == "us-east-1"
    assert settings.default_branch == "main"
    assert settings.stack_prefix == "sr-"
    assert settings.table_name == "stackrelay-test"
    assert settings.artifact_bucket == "stackrelay-artifacts"
    assert settings.approval_stages == frozenset({"prod"})
    assert settings.poll == PollBounds()
    assert settings.stage_parameters == {}
    assert settings.approval_timeout_seconds == 72 * 3600
    assert settings.partition == "aws"


def test_settings_from_env_no_argument_reads_os_environ(aws_env: dict[str, str]) -> None:
    assert Settings.from_env() == Settings.from_env(aws_env)


@pytest.mark.parametrize(
    "name",
    [
        "DEV_ACCOUNT_ID",
        "STAGING_ACCOUNT_ID",
        "PROD_ACCOUNT_ID",
        "TARGET_REGION",
        "DEPLOY_ROLE_NAME",
        "EXECUTION_ROLE_NAME",
        "DEFAULT_BRANCH",
        "TABLE_NAME",
        "ARTIFACT_BUCKET",
    ],
)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_settings_from_env_required_missing_raises_naming_variable(
    aws_env: dict[str, str], name: str, value: str | None
) -> None:
    env = dict(aws_env)
    if value is None:
        del env[name]
    else:
        env[name] = value

    with pytest.raises(ConfigurationError, match=f"^{name} is not set"):
        Settings.from_env(env)


@pytest.mark.parametrize("bad", ["12345", "1234567890123", "abcdefghijkl", "11111111111x"])
def test_settings_from_env_bad_account_id_raises(aws_env: dict[str, str], bad: str) -> None:
    with pytest.raises(ConfigurationError, match="prod account id"):
        Settings.from_env({**aws_env, "PROD_ACCOUNT_ID": bad})


def test_settings_from_env_stage_parameters_json_parsed(aws_env: dict[str, str]) -> None:
    env = {**aws_env, "STAGE_PARAMETERS": '{"prod": {"LogLevel": "WARN"}}'}

    assert Settings.from_env(env).stage_parameters == {"prod": {"LogLevel": "WARN"}}


def test_settings_from_env_stage_parameters_not_json_raises(aws_env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="STAGE_PARAMETERS is not JSON"):
        Settings.from_env({**aws_env, "STAGE_PARAMETERS": "{prod"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("prod", {"prod"}),
        ("staging, prod", {"staging", "prod"}),
        (" , prod ,", {"prod"}),
        ("", set()),
    ],
)
def test_settings_from_env_approval_stages_split_on_commas(
    aws_env: dict[str, str], value: str, expected: set[str]
) -> None:
    settings = Settings.from_env({**aws_env, "APPROVAL_STAGES": value})

    assert settings.approval_stages == frozenset(expected)


def test_settings_from_env_optional_overrides_applied(aws_env: dict[str, str]) -> None:
    env = {
        **aws_env,
        "POLL_MIN_SECONDS": "5",
        "POLL_MAX_SECONDS": "60",
        "APPROVAL_TIMEOUT_SECONDS": "3600",
        "AWS_PARTITION": "aws-us-gov",
        "REVIEW_URL_OUTPUT": "WebUrl",
    }

    settings = Settings.from_env(env)

    assert (settings.poll.minimum, settings.poll.maximum) == (5, 60)
    assert settings.approval_timeout_seconds == 3600
    assert settings.review_url_output == "WebUrl"
    assert settings.deploy_role_arn("prod").startswith("arn:aws-us-gov:iam::333333333333:")


@pytest.mark.parametrize(
    ("stage", "account"),
    [("review", "111111111111"), ("staging", "222222222222"), ("prod", "333333333333")],
)
def test_settings_stage_routes_to_its_account_and_roles(
    aws_env: dict[str, str], stage: str, account: str
) -> None:
    settings = Settings.from_env(aws_env)

    assert settings.account_for(stage) == account
    assert settings.deploy_role_arn(stage) == f"arn:aws:iam::{account}:role/StackRelayDeployRole"
    assert settings.execution_role_arn(stage) == (
        f"arn:aws:iam::{account}:role/StackRelayCloudFormationExecutionRole"
    )


def test_settings_unknown_stage_raises_key_error(aws_env: dict[str, str]) -> None:
    with pytest.raises(KeyError):
        Settings.from_env(aws_env).account_for("qa")


def test_stages_every_stage_has_an_account_key(aws_env: dict[str, str]) -> None:
    assert set(STAGES) == set(STAGE_ACCOUNT_KEY)
