"""config.Settings: read once from the environment; accounts and roles per stage."""

from __future__ import annotations

import json

import pytest
from stackrelay import topology
from stackrelay.config import PollBounds, Settings
from stackrelay.errors import ConfigurationError


def test_settings_from_env_full_env_reads_every_value(aws_env: dict[str, str]) -> None:
    settings = Settings.from_env(aws_env)

    assert settings.topology == topology.default(
        {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}, "us-east-1"
    )
    assert settings.region == "us-east-1"
    assert settings.default_branch == "main"
    assert settings.stack_prefix == "sr-"
    assert settings.table_name == "stackrelay-test"
    assert settings.artifact_bucket == "stackrelay-artifacts"
    assert settings.poll == PollBounds()
    assert settings.deploy_accounts is None
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

    assert Settings.from_env(env).topology.stage("prod").parameters == {"LogLevel": "WARN"}


def test_settings_from_env_stage_parameters_not_json_raises(aws_env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="STAGE_PARAMETERS is not JSON"):
        Settings.from_env({**aws_env, "STAGE_PARAMETERS": "{prod"})


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
    assert settings.url_output == "WebUrl"
    assert settings.deploy_role_arn("333333333333").startswith("arn:aws-us-gov:iam::333333333333:")


def test_settings_roles_are_per_account(aws_env: dict[str, str]) -> None:
    settings = Settings.from_env(aws_env)

    account = "222222222222"
    assert settings.deploy_role_arn(account) == f"arn:aws:iam::{account}:role/StackRelayDeployRole"
    assert settings.execution_role_arn(account, "aws-news") == (
        f"arn:aws:iam::{account}:role/StackRelayExecution-aws-news"
    )
    # Each app's stacks run as that app's own execution role (setup/target-app.yaml).
    assert settings.execution_role_arn(account, "shop") != settings.execution_role_arn(
        account, "aws-news"
    )


TOPOLOGY = {
    "stages": [
        {"name": "qa", "account": "444444444444", "regions": ["eu-west-1"]},
        {"name": "live", "account": "555555555555", "regions": ["eu-west-1", "eu-central-1"]},
    ]
}


def test_settings_topology_variable_replaces_the_account_variables(
    aws_env: dict[str, str],
) -> None:
    env = {k: v for k, v in aws_env.items() if not k.endswith("_ACCOUNT_ID")}
    env["TOPOLOGY"] = json.dumps(TOPOLOGY)
    env["DEPLOY_ACCOUNT_IDS"] = "444444444444, 555555555555"

    settings = Settings.from_env(env)

    assert [s.name for s in settings.topology.stages] == ["qa", "live"]
    assert settings.topology.stage("live").regions == ("eu-west-1", "eu-central-1")
    assert settings.deploy_accounts == frozenset({"444444444444", "555555555555"})


def test_settings_topology_invalid_raises_with_its_path(aws_env: dict[str, str]) -> None:
    bad = {"stages": [{**TOPOLOGY["stages"][0], "regions": ["Mars"]}]}

    with pytest.raises(ConfigurationError, match=r"stages\[0\]\.regions\[0\]"):
        Settings.from_env({**aws_env, "TOPOLOGY": json.dumps(bad)})


def test_settings_stage_parameters_merged_into_topology(aws_env: dict[str, str]) -> None:
    env = {**aws_env, "TOPOLOGY": json.dumps(TOPOLOGY), "STAGE_PARAMETERS": '{"qa": {"A": "1"}}'}

    assert Settings.from_env(env).topology.stage("qa").parameters == {"A": "1"}


def test_settings_stage_parameters_unknown_stage_refused(aws_env: dict[str, str]) -> None:
    env = {**aws_env, "TOPOLOGY": json.dumps(TOPOLOGY), "STAGE_PARAMETERS": '{"prod": {}}'}

    with pytest.raises(ConfigurationError, match=r"names stage 'prod'.*StageParameters"):
        Settings.from_env(env)
