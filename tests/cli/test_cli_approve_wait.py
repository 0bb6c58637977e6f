"""`stackrelay approve --wait`: an approve job clicked before the change set waits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stackrelay_cli import commands, main
from stackrelay_cli.errors import EXIT_DECIDED, EXIT_NOT_FOUND, CliError

KEY = {"app": "aws-news", "pipeline_id": "4711", "stage": "prod"}
VIEW = {"app": "aws-news", "stack": "sr-aws-news-prod", "digest": "ab" * 32}


class Session:
    """Only what wait_for_approval touches: describe_execution."""

    def __init__(self, statuses: Iterator[str]) -> None:
        self.statuses = statuses

    def client(self, service: str) -> Any:
        assert service == "stepfunctions"
        outer = self

        class Client:
            def describe_execution(self, executionArn: str) -> dict[str, str]:
                return {"status": next(outer.statuses)}

        return Client()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The approval function's answers: NotFound until the third show."""
    seen: list[dict[str, Any]] = []

    def invoke(session: Any, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        seen.append(payload)
        if len(seen) < 3:
            raise CliError("ApprovalNotFound: No approval for aws-news", EXIT_NOT_FOUND)
        return {"approval": VIEW}

    monkeypatch.setattr(commands, "invoke", invoke)
    monkeypatch.setattr(commands.time, "sleep", lambda seconds: None)
    return seen


def test_wait_for_approval_clicked_early_polls_with_progress_until_it_exists(
    calls: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    shown = commands.wait_for_approval(
        Session(iter(["RUNNING"] * 5)), "fn", KEY, wait=60, execution_arn="arn:x:y", poll=0
    )
    assert shown == VIEW
    assert [c["action"] for c in calls] == ["show", "show", "show"]
    err = capsys.readouterr().err
    assert err.count("waiting for the prod change set of aws-news pipeline 4711") == 2


def test_wait_for_approval_without_wait_fails_at_once_as_before(
    calls: list[dict[str, Any]],
) -> None:
    with pytest.raises(CliError) as raised:
        commands.wait_for_approval(Session(iter([])), "fn", KEY, wait=0)
    assert raised.value.code == EXIT_NOT_FOUND and len(calls) == 1


def test_wait_for_approval_times_out_with_guidance(monkeypatch: pytest.MonkeyPatch) -> None:
    def invoke(session: Any, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise CliError("ApprovalNotFound: No approval for aws-news", EXIT_NOT_FOUND)

    monkeypatch.setattr(commands, "invoke", invoke)
    monkeypatch.setattr(commands.time, "sleep", lambda seconds: None)
    ticks = iter([0.0, 0.0, 30.0, 61.0, 61.0])
    monkeypatch.setattr(commands.time, "monotonic", lambda: next(ticks))
    with pytest.raises(CliError) as raised:
        commands.wait_for_approval(Session(iter(["RUNNING"] * 5)), "fn", KEY, wait=60, poll=0)
    assert raised.value.code == EXIT_NOT_FOUND
    assert "after waiting 60 s" in str(raised.value) and "STACKRELAY_APPROVE_WAIT" in str(
        raised.value
    )


def test_wait_for_approval_release_failed_before_approval_stops_waiting(
    calls: list[dict[str, Any]],
) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:stackrelay-deploy:run-9"
    with pytest.raises(CliError) as raised:
        commands.wait_for_approval(
            Session(iter(["FAILED"])), "fn", KEY, wait=600, execution_arn=arn
        )
    assert "run-9 ended FAILED before prod waited for approval" in str(raised.value)
    assert len(calls) == 1


def test_wait_for_approval_other_errors_are_not_waited_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def invoke(session: Any, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise CliError("ApprovalAlreadyDecided: already approved", EXIT_DECIDED)

    monkeypatch.setattr(commands, "invoke", invoke)
    with pytest.raises(CliError) as raised:
        commands.wait_for_approval(Session(iter([])), "fn", KEY, wait=600)
    assert raised.value.code == EXIT_DECIDED


@pytest.mark.parametrize("value", ["-1", "abc", "90000"])
def test_approve_wait_bad_value_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main.build_parser().parse_args(
            ["approve", "--app", "a", "--pipeline-id", "1", "--wait", value]
        )
    assert raised.value.code == 2
    assert "--wait" in capsys.readouterr().err
