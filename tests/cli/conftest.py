"""Fixtures for the CLI tests: a clean environment, fake credentials, moto."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:stackrelay-deploy"
GITLAB_VARS = {
    "CI_PROJECT_PATH": "group/aws-news",
    "CI_COMMIT_BRANCH": "feature/login",
    "CI_COMMIT_SHA": "1f2e3d4c5b6a7988",
    "CI_DEFAULT_BRANCH": "main",
    "CI_PIPELINE_ID": "4711",
    "CI_PIPELINE_URL": "https://gitlab.example.com/group/aws-news/-/pipelines/4711",
    "CI_JOB_URL": "https://gitlab.example.com/group/aws-news/-/jobs/9",
    "GITLAB_USER_LOGIN": "alice",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No CI, AWS or StackRelay settings leak in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "STACKRELAY_", "CI_", "GITLAB_")) or name == "CI":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def aws(fake_credentials: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def bucket(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    boto3.client("s3").create_bucket(Bucket="stackrelay-artifacts")
    monkeypatch.setenv("STACKRELAY_ARTIFACT_BUCKET", "stackrelay-artifacts")
    return "stackrelay-artifacts"


@pytest.fixture
def state_machine(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """A state machine moto records executions of (it does not run them)."""
    arn = boto3.client("stepfunctions").create_state_machine(
        name="stackrelay-deploy",
        definition='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
        roleArn="arn:aws:iam::123456789012:role/stackrelay-states",
    )["stateMachineArn"]
    assert arn == STATE_MACHINE
    monkeypatch.setenv("STACKRELAY_STATE_MACHINE_ARN", arn)
    return str(arn)


@pytest.fixture
def gitlab(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A GitLab job's predefined variables (a feature-branch pipeline)."""
    for name, value in GITLAB_VARS.items():
        monkeypatch.setenv(name, value)
    return dict(GITLAB_VARS)
