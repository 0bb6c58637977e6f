"""tasks.record_outcome: the audit record of a stage and its line in the output."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from stackrelay import approvals, records
from stackrelay.plan import Stage


@pytest.fixture
def module(task_module: Any) -> Any:
    return task_module("record_outcome")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, (None, None)),
        ({}, (None, None)),
        (
            {
                "Error": "StackRollback",
                "Cause": json.dumps(
                    {"errorMessage": "sr-x rolled back", "errorType": "StackRollback"}
                ),
            },
            ("StackRollback", "sr-x rolled back"),
        ),
        (
            {"Error": "States.Timeout", "Cause": "Task timed out"},
            ("States.Timeout", "Task timed out"),
        ),
        ({"Error": "X", "Cause": json.dumps({"other": 1})}, ("X", json.dumps({"other": 1}))),
        ({"Error": "X", "Cause": "[1, 2]"}, ("X", "[1, 2]")),
        ({"Error": "X", "Cause": '"quoted"'}, ("X", '"quoted"')),
        ({"Error": "X", "Cause": "17"}, ("X", "17")),
        ({"Error": "X"}, ("X", "")),
        ({"Error": "X", "Cause": None}, ("X", "")),
    ],
)
def test_error_text_catch_error_gives_name_and_message(
    module: Any, error: dict[str, Any] | None, expected: tuple[str | None, str | None]
) -> None:
    assert module.error_text(error) == expected


def event(module: Any, stage: Stage, outcome: str, **kwargs: Any) -> Any:
    return module.RecordEvent(stage=stage, outcome=outcome, **kwargs)


def test_record_deployed_review_writes_history_and_returns_url(
    module: Any, table: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    stage = make_stage("deploy_feature.json")
    started = fake_clock.t
    fake_clock.advance(95.5)

    result = module.record(
        table,
        event(
            module,
            stage,
            "deployed",
            change_set={"id": "arn:cs", "headline": "1 to add, 0 to modify, 0 to remove"},
            execution={"started_at": started},
            result={"outputs": {"ApiUrl": "https://api.example.com", "Other": "x"}},
        ),
        "ApiUrl",
    )

    assert result == {
        "stage": "review",
        "target": "review",
        "account": "111111111111",
        "region": "us-east-1",
        "stack": stage.stack,
        "outcome": "deployed",
        "url": "https://api.example.com",
        "headline": "1 to add, 0 to modify, 0 to remove",
        "error": None,
        "reason": None,
        "duration_seconds": 95.5,
        "approver": None,
        "outputs": {"ApiUrl": "https://api.example.com", "Other": "x"},
    }
    [entry] = records.history(table, "aws-news")
    assert entry["change_set_id"] == "arn:cs"
    assert entry["change_set"] == stage.change_set
    assert entry["commit"] == stage.commit
    latest = records.latest_for_stack(table, stage.account, stage.stack)
    assert latest is not None
    assert (latest["url"], latest["duration_seconds"]) == ("https://api.example.com", 95.5)


def test_record_failed_keeps_error_name_and_message(
    module: Any, table: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    stage = make_stage()
    cause = json.dumps({"errorMessage": "Queue: already exists", "errorType": "StackRollback"})

    result = module.record(
        table,
        event(module, stage, "failed", error={"Error": "StackRollback", "Cause": cause}),
        "ApiUrl",
    )

    assert (result["error"], result["reason"]) == ("StackRollback", "Queue: already exists")
    assert result["duration_seconds"] is None
    [entry] = records.history(table, "aws-news")
    assert entry["outcome"] == "failed"
    assert entry["reason"] == "Queue: already exists"
    assert "change_set" not in entry


def test_record_prod_approved_records_approver_from_approval(
    module: Any, table: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    stage = make_stage("deploy_main.json", 1)
    approvals.store(
        table,
        execution=stage.execution,
        app=stage.app,
        pipeline_id=stage.pipeline_id,
        stage=stage.stage,
        token="secret-token",
        timeout_seconds=3600,
        details={},
    )
    item = approvals.get(table, stage.execution, stage.stage)
    approvals.settle(table, item, "approved", by="carol", reason="ship it")

    result = module.record(table, event(module, stage, "deployed"), "ApiUrl")

    assert result["approver"] == "carol"
    [entry] = records.history(table, "aws-news")
    assert entry["approval_status"] == "approved"
    assert entry["approval_reason"] == "ship it"
    assert "token" not in entry
    assert "secret-token" not in json.dumps(entry, default=str)


def test_record_prod_without_approval_record_has_no_approver(
    module: Any, table: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    result = module.record(
        table, event(module, make_stage("deploy_main.json", 1), "no_changes"), "ApiUrl"
    )

    assert result["approver"] is None
    assert result["outcome"] == "no_changes"


def test_record_staging_never_reads_approvals(
    module: Any, table: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    stage = make_stage("deploy_main.json", 0)
    approvals.store(
        table,
        execution=stage.execution,
        app=stage.app,
        pipeline_id=stage.pipeline_id,
        stage="staging",
        token="t",
        timeout_seconds=60,
        details={},
    )

    assert module.decision(table, stage) == {}


class _Stacks:
    def __init__(self, status: str | None) -> None:
        self.status = status

    def describe_stacks(self, StackName: str) -> Any:
        from botocore.exceptions import ClientError

        if self.status is None:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.status, "Outputs": []}]}


@pytest.mark.parametrize(
    ("status", "recorded", "applied"),
    [
        ("CREATE_COMPLETE", "CREATE_COMPLETE", True),
        ("ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE", False),
        (None, "ABSENT", False),
    ],
)
def test_record_failed_says_what_the_stack_really_is(
    module: Any,
    table: Any,
    make_stage: Callable[..., Stage],
    fake_clock: Any,
    status: str | None,
    recorded: str,
    applied: bool,
) -> None:
    stage = make_stage()
    failed = event(
        module,
        stage,
        "failed",
        error={"Error": "Sandbox.Timedout", "Cause": "Task timed out after 30.00 seconds"},
        execution={"started_at": 1.0},
    )

    result = module.record(table, failed, "ApiUrl", _Stacks(status))

    [entry] = records.history(table, "aws-news")
    assert entry["stack_status"] == recorded
    assert ("the change set was applied" in result["reason"]) is applied
    assert result["reason"].startswith("Task timed out")
