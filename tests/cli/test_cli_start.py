"""start: execution input from GitLab's variables, a readable unique name, console URL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from stackrelay_cli.main import main

ARTIFACT = {
    "bucket": "stackrelay-artifacts",
    "key": "aws-news/abc/packaged.yaml",
    "sha256": "a" * 64,
}


@pytest.fixture
def artifact_file(tmp_path: Path) -> Path:
    path = tmp_path / "stackrelay-artifact.json"
    path.write_text(json.dumps(ARTIFACT))
    return path


def _start(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    assert main(["start", "--app", "aws-news", "--json", *argv]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_start_in_ci_input_from_gitlab_variables(
    state_machine: str,
    gitlab: dict[str, str],
    artifact_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = _start(capsys, "--artifact-file", str(artifact_file))
    execution = boto3.client("stepfunctions").describe_execution(
        executionArn=started["executionArn"]
    )
    assert json.loads(execution["input"]) == {
        "app": "aws-news",
        "action": "deploy",
        "artifact": ARTIFACT,
        "source": {
            "project": "group/aws-news",
            "ref": "feature/login",
            "commit": gitlab["CI_COMMIT_SHA"],
            "default_branch": "main",
            "pipeline_id": "4711",
            "pipeline_url": gitlab["CI_PIPELINE_URL"],
            "job_url": gitlab["CI_JOB_URL"],
            "user": "alice",
        },
    }


def test_start_execution_name_readable_and_unique(
    state_machine: str,
    gitlab: dict[str, str],
    artifact_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = [_start(capsys, "--artifact-file", str(artifact_file))["name"] for _ in range(2)]
    for name in names:
        assert re.fullmatch(r"aws-news-deploy-feature-login-4711-[0-9a-f]{6}", name), name
    assert names[0] != names[1]


def test_start_flags_override_gitlab_variables(
    state_machine: str,
    gitlab: dict[str, str],
    artifact_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = _start(
        capsys, "--artifact-file", str(artifact_file), "--ref", "main", "--pipeline-id", "9"
    )
    execution = boto3.client("stepfunctions").describe_execution(
        executionArn=started["executionArn"]
    )
    source = json.loads(execution["input"])["source"]
    assert (source["ref"], source["pipeline_id"]) == ("main", "9")
    assert started["name"].startswith("aws-news-deploy-main-9-")


def test_start_json_and_dotenv_carry_console_url(
    state_machine: str,
    gitlab: dict[str, str],
    artifact_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dotenv = tmp_path / "stackrelay.env"
    started = _start(capsys, "--artifact-file", str(artifact_file), "--dotenv", str(dotenv))
    arn = started["executionArn"]
    assert started["consoleUrl"] == (
        "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
        f"#/v2/executions/details/{arn}"
    )
    assert dotenv.read_text().splitlines() == [
        f"STACKRELAY_EXECUTION_ARN={arn}",
        f"STACKRELAY_EXECUTION_NAME={started['name']}",
        f"STACKRELAY_EXECUTION_URL={started['consoleUrl']}",
    ]


def test_start_human_output_prints_name_and_console_url(
    state_machine: str,
    gitlab: dict[str, str],
    artifact_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["start", "--app", "aws-news", "--artifact-file", str(artifact_file)]) == 0
    out = capsys.readouterr().out
    assert "Started aws-news-deploy-feature-login-4711-" in out
    assert "console.aws.amazon.com/states/home?region=us-east-1" in out
