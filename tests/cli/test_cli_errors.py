"""Exit codes and messages: one clear line, never a traceback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from stackrelay_cli import commands
from stackrelay_cli.errors import (
    ERROR_EXIT,
    EXIT_CONFIG,
    EXIT_DECIDED,
    EXIT_EXPIRED,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_STALE,
    CliError,
)
from stackrelay_cli.main import EXIT_CODES_HELP, main

REPO = Path(__file__).resolve().parents[2]


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``stackrelay`` as a person runs it, in a child process (to see stderr whole)."""
    base = {k: v for k, v in os.environ.items()}
    base["PYTHONPATH"] = os.pathsep.join([str(REPO / "scripts"), str(REPO / "functions")])
    return subprocess.run(
        [sys.executable, "-m", "stackrelay_cli.main", *argv],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
        check=False,
    )


def test_exit_codes_domain_errors_are_core_exceptions_with_documented_codes() -> None:
    from stackrelay import errors as core
    from stackrelay_cli import errors as cli

    expected = {
        "ApprovalNotFound": EXIT_NOT_FOUND,
        "ApprovalAlreadyDecided": EXIT_DECIDED,
        "ApprovalExpired": EXIT_EXPIRED,
        "ChangeSetStale": EXIT_STALE,
        "InvalidInput": EXIT_INVALID,
        "TeardownRefused": EXIT_REFUSED,
    }
    assert expected.items() <= ERROR_EXIT.items()
    for name, code in ERROR_EXIT.items():
        assert isinstance(getattr(core, name, None), type), f"{name} is not a core error"
        assert f"| {code} |" in (cli.__doc__ or "")
        assert f"{code} " in EXIT_CODES_HELP


class _Lambda:
    def __init__(self, body: dict[str, Any], error: bool) -> None:
        self.body, self.error = body, error

    def invoke(self, **_: Any) -> dict[str, Any]:
        response: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(self.body).encode())}
        if self.error:
            response["FunctionError"] = "Unhandled"
        return response


class _Session:
    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, _service: str) -> Any:
        return self._client


@pytest.mark.parametrize(
    ("error_type", "code"),
    [
        ("ApprovalNotFound", EXIT_NOT_FOUND),
        ("ApprovalAlreadyDecided", EXIT_DECIDED),
        ("ApprovalExpired", EXIT_EXPIRED),
        ("ChangeSetStale", EXIT_STALE),
        ("SomethingNew", EXIT_FAILED),
    ],
)
def test_invoke_function_error_becomes_cli_error_with_code(error_type: str, code: int) -> None:
    body = {"errorType": error_type, "errorMessage": "what happened"}
    with pytest.raises(CliError) as raised:
        commands.invoke(_Session(_Lambda(body, error=True)), "fn", {})
    assert raised.value.code == code
    assert str(raised.value) == f"{error_type}: what happened"


def test_invoke_function_success_returns_body() -> None:
    assert commands.invoke(_Session(_Lambda({"ok": 1}, error=False)), "fn", {}) == {"ok": 1}


def test_cli_no_credentials_exits_config_without_traceback() -> None:
    done = _cli(
        "start",
        "--app",
        "aws-news",
        "--artifact-key",
        "aws-news/x/packaged.yaml",
        env={
            "AWS_DEFAULT_REGION": "us-east-1",
            "STACKRELAY_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:x",
        },
    )
    assert done.returncode in (EXIT_CONFIG, EXIT_INVALID), done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("error:")


def test_cli_no_credentials_publish_says_how_to_configure() -> None:
    app = REPO / "examples" / "aws-news"
    done = _cli(
        "publish",
        "--app",
        "aws-news",
        "--app-dir",
        str(app),
        "--bucket",
        "b",
        env={"AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert done.returncode == EXIT_CONFIG
    assert "no AWS credentials" in done.stderr and "AWS_WEB_IDENTITY_TOKEN_FILE" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_no_orchestrator_json_error_names_variables(fake_credentials: None) -> None:
    done = _cli(
        "pending",
        "--app",
        "aws-news",
        "--json",
        env={"AWS_ENDPOINT_URL": "http://localhost:9", "AWS_MAX_ATTEMPTS": "1"},
    )
    assert done.returncode == EXIT_CONFIG
    error = json.loads(done.stderr)
    assert error["exit_code"] == EXIT_CONFIG
    assert "STACKRELAY_APPROVAL_FUNCTION" in error["error"]
    assert done.stdout == ""


def test_cli_no_region_exits_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "some-execution"]) == EXIT_CONFIG
    assert "AWS_REGION" in capsys.readouterr().err


def test_status_unknown_execution_exits_invalid(
    state_machine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "no-such-execution"]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert "No execution named 'no-such-execution'" in err and "Traceback" not in err


def test_start_outside_ci_without_id_token_exits_config_with_hint(
    fake_credentials: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STACKRELAY_START_FUNCTION", "stackrelay-start")
    code = main(["start", "--app", "aws-news", "--artifact-key", "k", "--bucket", "b"])
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "STACKRELAY_IDENTITY_TOKEN" in err and "--id-token-file" in err


def test_start_missing_artifact_file_exits_invalid(
    fake_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STACKRELAY_START_FUNCTION", "stackrelay-start")
    missing = tmp_path / "artifact.json"
    code = main(["start", "--app", "aws-news", "--artifact-file", str(missing)])
    assert code == EXIT_INVALID
    assert "stackrelay publish --output" in capsys.readouterr().err


def test_publish_not_a_sam_app_exits_invalid(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", "--app", "x", "--app-dir", str(tmp_path)]) == EXIT_INVALID
    assert "has no template.yaml" in capsys.readouterr().err


def test_unexpected_error_one_line_then_debug_raises(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*_: Any) -> int:
        raise RuntimeError("[bold]kaput[/]")

    monkeypatch.setattr("stackrelay_cli.main._dispatch", boom)
    assert main(["pending", "--app", "a"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "unexpected RuntimeError: [bold]kaput[/]" in err and "--debug" in err
    with pytest.raises(RuntimeError):
        main(["pending", "--app", "a", "--debug"])
