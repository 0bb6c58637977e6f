"""tasks.report_gitlab: the EventBridge-triggered reporter, its token and its failure metric."""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path
from typing import Any

import boto3
import pytest
from gitlab_fake import GITLAB_TOKEN, FakeGitLab

EVENTS = Path(__file__).resolve().parent.parent / "events" / "stackrelay"
SHA = "2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b"


class Context:
    function_name = "ReportGitLabFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ReportGitLabFunction"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def module(
    task_module: Any, table: Any, fake_gitlab: FakeGitLab, monkeypatch: pytest.MonkeyPatch
) -> Any:
    secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="stackrelay/gitlab-token", SecretString=json.dumps({"token": GITLAB_TOKEN})
    )
    monkeypatch.setenv("GITLAB_URL", fake_gitlab.url)
    monkeypatch.setenv("GITLAB_TOKEN_SECRET_ARN", secret["ARN"])
    monkeypatch.setenv("GITLAB_TIMEOUT_SECONDS", "0.5")
    fake_gitlab.pipelines = {4711: SHA}
    loaded = task_module("report_gitlab")
    loaded._cached.clear()  # one container per test
    yield loaded
    loaded._cached.clear()


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every log record with all its fields (what Powertools writes as JSON)."""
    return "\n".join(json.dumps(vars(r), default=str) for r in caplog.records)


def emf(output: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF documents Powertools printed."""
    docs = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            docs.append(json.loads(line))
    return docs


def test_handler_reports_stage_deployed_with_token_from_secrets_manager(
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    module: Any,
    fake_gitlab: FakeGitLab,
) -> None:
    caplog.set_level(logging.INFO)  # the level the template runs the function at
    result = module.lambda_handler(load("stage_deployed.json"), Context())
    assert result["failed"] == []
    assert fake_gitlab.status_states("stackrelay/staging") == ["success"]
    assert [d["status"] for d in fake_gitlab.deployments.values()] == ["success"]
    assert all(c.headers["private-token"] == GITLAB_TOKEN for c in fake_gitlab.calls)
    assert GITLAB_TOKEN not in capfd.readouterr().out + logged(caplog)
    assert "GitLab report" in caplog.text


@pytest.mark.parametrize("kind", ["500", "timeout", "401"])
def test_handler_gitlab_failing_returns_normally_counts_failure_and_never_logs_token(
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    module: Any,
    fake_gitlab: FakeGitLab,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    caplog.set_level(logging.INFO)  # the level the template runs the function at
    monkeypatch.setattr("stackrelay.gitlab_report.RetryPolicy.first_delay", 0.01)
    if kind == "401":
        fake_gitlab.token = "another-token"
    else:
        fake_gitlab.fail(kind, seconds=1.0)
    try:
        result = module.lambda_handler(load("stage_deployed.json"), Context())
    finally:
        fake_gitlab.token = GITLAB_TOKEN
    assert result["reported"] == [] and result["failed"]
    out = capfd.readouterr().out
    assert GITLAB_TOKEN not in out + logged(caplog) + json.dumps(result)
    metrics = {
        name: sum(doc[name]) if isinstance(doc[name], list) else doc[name]
        for doc in emf(out)
        for name in ("GitLabReportFailures", "GitLabReportRetries")
        if name in doc
    }
    assert metrics["GitLabReportFailures"] >= 1
    assert ("GitLabReportRetries" in metrics) == (kind != "401")
    assert "GitLab report failed" in caplog.text


def test_handler_unreadable_secret_counts_a_failure_and_says_why(
    capfd: pytest.CaptureFixture[str], module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "GITLAB_TOKEN_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf",
    )
    result = module.lambda_handler(load("stage_deployed.json"), Context())
    assert "cannot read the GitLab token secret" in result["failed"][0]
    assert "GitLabReportFailures" in {k for doc in emf(capfd.readouterr().out) for k in doc}


@pytest.mark.parametrize(
    "raw", [GITLAB_TOKEN, f"  {GITLAB_TOKEN}\n", json.dumps({"token": GITLAB_TOKEN})]
)
def test_read_token_accepts_plain_or_json_secret(module: Any, raw: str) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="t", SecretString=raw)["ARN"]
    assert module.read_token(client, arn) == GITLAB_TOKEN


@pytest.mark.parametrize("raw", ["  ", json.dumps({"other": "x"}), "{not json"])
def test_read_token_empty_secret_is_a_clear_error(module: Any, raw: str) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="t", SecretString=raw)["ARN"]
    with pytest.raises(module.ReporterConfigError, match="holds no token"):
        module.read_token(client, arn)


def test_handler_other_sources_are_ignored(module: Any, fake_gitlab: FakeGitLab) -> None:
    event = {**load("stage_deployed.json"), "source": "aws.states"}
    result = module.lambda_handler(event, Context())
    assert result["skipped"] == ["not a StackRelay event"] and fake_gitlab.calls == []


def test_import_botocore_debug_logging_raised_to_info(task_module: Any) -> None:
    # GetSecretValue's response body is the token; botocore logs bodies at DEBUG.
    botocore_logger = logging.getLogger("botocore")
    before = botocore_logger.level
    botocore_logger.setLevel(logging.DEBUG)
    try:
        importlib.reload(task_module("report_gitlab"))

        assert not botocore_logger.isEnabledFor(logging.DEBUG)
    finally:
        botocore_logger.setLevel(before)
