"""start/teardown: the CLI sends the job's ID token and the artifact, nothing about who.

The start function (tests/workflow, tests/security) verifies the token; here the
CLI's side: what it sends, and what it prints and writes from the answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stackrelay_cli import commands
from stackrelay_cli.main import main

ARTIFACT = {
    "bucket": "stackrelay-artifacts",
    "key": "aws-news/abc/packaged.yaml",
    "sha256": "a" * 64,
    "version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
}
ARN = "arn:aws:states:us-east-1:123456789012:execution:stackrelay-deploy:aws-news-deploy-x-1-abc"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, fake_credentials: None) -> list[dict[str, Any]]:
    """What the CLI invokes (function, payload); the start function answers with an ARN."""
    calls: list[dict[str, Any]] = []

    def invoke(session: Any, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        calls.append({"function": function, "payload": payload})
        return {"executionArn": ARN, "name": ARN.rsplit(":", 1)[-1], "route": "review"}

    monkeypatch.setattr(commands, "invoke", invoke)
    monkeypatch.setenv("STACKRELAY_START_FUNCTION", "stackrelay-start")
    monkeypatch.setenv("STACKRELAY_ARTIFACT_BUCKET", "stackrelay-artifacts")
    monkeypatch.setenv("STACKRELAY_IDENTITY_TOKEN", TOKEN)
    return calls


@pytest.fixture
def artifact_file(tmp_path: Path) -> Path:
    path = tmp_path / "stackrelay-artifact.json"
    path.write_text(json.dumps(ARTIFACT))
    return path


def test_start_sends_token_app_and_artifact_only(
    sent: list[dict[str, Any]], gitlab: dict[str, str], artifact_file: Path
) -> None:
    assert main(["start", "--app", "aws-news", "--artifact-file", str(artifact_file)]) == 0

    [call] = sent
    assert call["function"] == "stackrelay-start"
    # GitLab's CI_* variables (ref, pipeline, user) are not sent: the token carries them.
    assert call["payload"] == {
        "id_token": TOKEN,
        "app": "aws-news",
        "action": "deploy",
        "artifact": ARTIFACT,
    }


def test_teardown_sends_token_and_app(sent: list[dict[str, Any]]) -> None:
    assert main(["teardown", "--app", "aws-news"]) == 0

    assert sent[0]["payload"] == {"id_token": TOKEN, "app": "aws-news", "action": "teardown"}


def test_start_token_from_file(
    sent: list[dict[str, Any]],
    artifact_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STACKRELAY_IDENTITY_TOKEN")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    argv = ["start", "--app", "aws-news", "--artifact-file", str(artifact_file)]

    assert main([*argv, "--id-token-file", str(token_file)]) == 0
    assert sent[0]["payload"]["id_token"] == TOKEN


def test_start_json_and_dotenv_carry_console_url(
    sent: list[dict[str, Any]],
    artifact_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dotenv = tmp_path / "stackrelay.env"
    argv = ["start", "--app", "aws-news", "--artifact-file", str(artifact_file)]
    assert main([*argv, "--dotenv", str(dotenv), "--json"]) == 0
    started = json.loads(capsys.readouterr().out)
    assert started["executionArn"] == ARN
    assert started["consoleUrl"] == (
        "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
        f"#/v2/executions/details/{ARN}"
    )
    assert dotenv.read_text().splitlines() == [
        f"STACKRELAY_EXECUTION_ARN={ARN}",
        f"STACKRELAY_EXECUTION_NAME={started['name']}",
        f"STACKRELAY_EXECUTION_URL={started['consoleUrl']}",
    ]


def test_start_output_never_prints_the_token(
    sent: list[dict[str, Any]], artifact_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["start", "--app", "aws-news", "--artifact-file", str(artifact_file)]) == 0
    out = capsys.readouterr()
    assert "Started aws-news-deploy-x-1-abc" in out.out
    assert TOKEN not in out.out + out.err


def test_start_bad_artifact_refused_before_invoking(
    sent: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "a.json"
    bad.write_text(json.dumps({**ARTIFACT, "sha256": "nope"}))

    assert main(["start", "--app", "aws-news", "--artifact-file", str(bad)]) == 8
    err = capsys.readouterr().err
    assert "artifact.sha256" in err and TOKEN not in err
    assert sent == []
