"""progress.read on execution histories recorded from the local engine (tests/cli/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stackrelay_cli import progress, render

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _recorded(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = json.loads((FIXTURES / f"history_{name}.json").read_text())
    return data["execution"], data["events"]


def _rows(result: progress.Progress) -> list[tuple[str, str, str, str]]:
    return [(s.stage, s.account, s.state, s.step) for s in result.stages]


def test_progress_review_succeeded_one_dev_stage_deployed() -> None:
    result = progress.read(*_recorded("review"))
    assert (result.status, result.app, result.kind, result.done) == (
        "SUCCEEDED",
        "aws-news",
        "review",
        True,
    )
    assert _rows(result) == [("review", "111111111111", "succeeded", "deployed")]
    (stage,) = result.stages
    assert stage.stack.startswith("sr-aws-news-review-feature-x")
    assert stage.url and stage.url.endswith("/Prod/news")
    assert stage.headline == "8 to add, 0 to modify, 0 to remove (3 IAM-affecting)"


def test_progress_release_parked_prod_waits_for_approval() -> None:
    result = progress.read(*_recorded("parked"))
    assert (result.status, result.kind, result.done) == ("RUNNING", "release", False)
    assert _rows(result) == [
        ("staging", "222222222222", "succeeded", "deployed"),
        ("prod", "333333333333", "running", "waiting for approval"),
    ]
    prod = result.stage("prod")
    assert prod is not None and prod.headline == "0 to add, 1 to modify, 0 to remove"


def test_progress_release_approved_records_approver() -> None:
    result = progress.read(*_recorded("main"))
    assert result.status == "SUCCEEDED" and result.error is None
    assert _rows(result) == [
        ("staging", "222222222222", "succeeded", "deployed"),
        ("prod", "333333333333", "succeeded", "deployed"),
    ]
    prod = result.stage("prod")
    assert prod is not None and prod.approver == "a"


@pytest.mark.parametrize("cut", [0, 1, 10, 40])
def test_progress_partial_history_never_raises_and_queues_stages(cut: int) -> None:
    execution, events = _recorded("main")
    result = progress.read({**execution, "status": "RUNNING"}, events[:cut])
    assert result.status == "RUNNING"
    assert all(s.state in ("queued", "running") for s in result.stages)


def test_progress_failed_execution_reports_error_and_clean_cause() -> None:
    execution, events = _recorded("review")
    failed = [
        *events[:-1],
        {
            "id": 10_000,
            "type": "ExecutionFailed",
            "executionFailedEventDetails": {
                "error": "StackRollback",
                "cause": json.dumps({"errorMessage": "NewsTable: limit exceeded"}),
            },
        },
    ]
    result = progress.read({**execution, "status": "FAILED"}, failed)
    assert (result.error, result.cause) == ("StackRollback", "NewsTable: limit exceeded")


def test_progress_json_shape_for_machines() -> None:
    data = render.progress_json(progress.read(*_recorded("parked")))
    assert set(data) == {"status", "app", "kind", "error", "cause", "stages"}
    assert set(data["stages"][0]) == {
        "stage",
        "target",
        "region",
        "stack",
        "account",
        "step",
        "state",
        "outcome",
        "headline",
        "url",
        "error",
        "reason",
        "approver",
    }
    json.dumps(data)


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [("parked", "RUNNING", 0), ("main", "SUCCEEDED", 0), ("main", "FAILED", 1)],
)
def test_status_command_recorded_execution_exit_code(
    name: str,
    status: str,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from stackrelay_cli.main import main

    execution, events = _recorded(name)
    recorded = progress.read({**execution, "status": status}, events)
    monkeypatch.setattr(progress, "fetch", lambda sfn, arn: recorded)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert main(["status", execution["executionArn"], "--json"]) == code
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == status
    assert [s["stage"] for s in shown["stages"]] == [s.stage for s in recorded.stages]


def test_status_command_human_table_lists_stages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stackrelay_cli.main import main

    execution, events = _recorded("parked")
    monkeypatch.setattr(progress, "fetch", lambda sfn, arn: progress.read(execution, events))
    monkeypatch.setattr(render.console, "width", 200)  # whatever COLUMNS the runner has
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert main(["status", execution["executionArn"]]) == 0
    out = capsys.readouterr().out
    assert "waiting for approval" in out and "sr-aws-news-staging" in out
