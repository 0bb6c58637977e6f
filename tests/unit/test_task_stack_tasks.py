"""Stack tasks: create_change_set.create, check_stack.check, delete_stack.delete,
close_approval.close and the Validate Input handler."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from stackrelay import approvals, backoff, completion
from stackrelay.errors import (
    ApprovalAlreadyDecided,
    DeleteFailed,
    InvalidInput,
    StackNeedsRecovery,
    StackRollback,
    TeardownRefused,
)
from stackrelay.plan import Stage

TEMPLATE = {
    "Parameters": {"Stage": {"Type": "String"}},
    "Outputs": {"Name": {"Value": "x"}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
}


@pytest.fixture
def cloudformation(aws: None, make_stage: Callable[..., Stage]) -> Any:
    stage = make_stage()
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="stackrelay-artifacts")
    key = stage.template_url.split(".amazonaws.com/", 1)[1].split("?", 1)[0]
    s3.put_object(Bucket="stackrelay-artifacts", Key=key, Body=json.dumps(TEMPLATE).encode())
    return boto3.client("cloudformation", region_name="us-east-1")


# create_change_set.create


def test_create_only_declared_parameters_passed(
    task_module: Any, cloudformation: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("create_change_set")
    stage = make_stage(parameters={"Stage": "staging", "Undeclared": "x"})

    result = module.create(
        cloudformation,
        module.CreateEvent(stage=stage, declared_parameters=["Stage"], change_set_type="CREATE"),
    )

    assert result["name"] == stage.change_set
    assert result["created_at"] == fake_clock.t
    found = cloudformation.describe_change_set(
        StackName=stage.stack, ChangeSetName=stage.change_set
    )
    assert found["ChangeSetId"] == result["id"]
    assert found["Parameters"] == [{"ParameterKey": "Stage", "ParameterValue": "staging"}]


def test_create_retried_task_returns_same_change_set(
    task_module: Any, cloudformation: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("create_change_set")
    request = module.CreateEvent(
        stage=make_stage(), declared_parameters=["Stage"], change_set_type="CREATE"
    )

    first = module.create(cloudformation, request)
    again = module.create(cloudformation, request)

    assert again["id"] == first["id"]


def test_create_uses_the_template_of_the_stage_region(
    task_module: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("create_change_set")
    stage = make_stage().replace(region="eu-west-1")
    seen: dict[str, Any] = {}

    class Recorder:
        def describe_change_set(self, **kwargs: Any) -> None:
            error = {"Code": "ChangeSetNotFound", "Message": "Change set does not exist"}
            raise ClientError({"Error": error}, "DescribeChangeSet")

        def create_change_set(self, **kwargs: Any) -> dict[str, str]:
            seen.update(kwargs)
            return {"Id": "arn:cs"}

    regional = "https://b-eu-west-1.s3.eu-west-1.amazonaws.com/app/r.template?versionId=v9"
    module.create(
        Recorder(),
        module.CreateEvent(
            stage=stage,
            declared_parameters=[],
            change_set_type="CREATE",
            templates={"us-east-1": stage.template_url, "eu-west-1": regional},
        ),
    )

    assert seen["TemplateURL"] == regional


# check_stack.check


class StackStub:
    """describe_stacks answers ``status``; events give one resource failure."""

    def __init__(self, status: str | None, outputs: list[dict[str, str]] | None = None) -> None:
        self.status = status
        self.outputs = outputs or []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if self.status is None:
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": "Stack with id x does not exist"}},
                "DescribeStacks",
            )
        return {
            "Stacks": [
                {"StackName": StackName, "StackStatus": self.status, "Outputs": self.outputs}
            ]
        }

    def get_paginator(self, name: str) -> StackStub:
        return self

    def paginate(self, StackName: str) -> list[dict[str, Any]]:
        when = datetime(2100, 1, 1, tzinfo=UTC)  # after every started_at in these tests
        return [
            {
                "StackEvents": [
                    {
                        "Timestamp": when,
                        "LogicalResourceId": "Queue",
                        "ResourceType": "AWS::SQS::Queue",
                        "ResourceStatus": "UPDATE_FAILED",
                        "ResourceStatusReason": "Queue name taken",
                    }
                ]
            }
        ]


def check_event(module: Any, stage: Stage, started_at: float, **kw: Any) -> Any:
    return module.CheckStackEvent(stage=stage, started_at=started_at, **kw)


def test_check_stack_in_progress_not_done_with_backoff_delay(
    task_module: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("check_stack")
    started = fake_clock.t - 120

    result = module.check(
        StackStub("UPDATE_IN_PROGRESS"), check_event(module, make_stage(), started)
    )

    assert result["done"] is False
    assert result["wait_seconds"] == backoff.next_delay(120, module.SETTINGS.poll) == 12
    assert result["elapsed"] == 120
    assert result["outputs"] == {}


def test_check_stack_complete_done_with_outputs(
    task_module: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("check_stack")
    stub = StackStub("UPDATE_COMPLETE", [{"OutputKey": "ApiUrl", "OutputValue": "https://x"}])

    result = module.check(stub, check_event(module, make_stage(), fake_clock.t))

    assert result["done"] is True
    assert result["status"] == "UPDATE_COMPLETE"
    assert result["outputs"] == {"ApiUrl": "https://x"}


@pytest.mark.parametrize("status", ["UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE"])
def test_check_stack_rolled_back_raises_with_first_failure(
    task_module: Any, make_stage: Callable[..., Stage], fake_clock: Any, status: str
) -> None:
    module = task_module("check_stack")

    with pytest.raises(StackRollback, match="First failure: Queue: Queue name taken"):
        module.check(StackStub(status), check_event(module, make_stage(), fake_clock.t))


@pytest.mark.parametrize("status", ["UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED"])
def test_check_stack_broken_raises_needs_recovery(
    task_module: Any, make_stage: Callable[..., Stage], fake_clock: Any, status: str
) -> None:
    module = task_module("check_stack")

    with pytest.raises(StackNeedsRecovery, match="stackrelay recover --app aws-news"):
        module.check(StackStub(status), check_event(module, make_stage(), fake_clock.t))


def test_check_stack_delete_gone_done(
    task_module: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("check_stack")
    stage = make_stage("deploy_feature.json")

    result = module.check(
        StackStub(None), check_event(module, stage, fake_clock.t, operation="delete")
    )

    assert result["done"] is True
    assert result["status"] == "DELETE_COMPLETE"


def test_check_stack_delete_failed_raises(
    task_module: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("check_stack")
    stage = make_stage("deploy_feature.json")

    with pytest.raises(DeleteFailed, match="DELETE_FAILED"):
        module.check(
            StackStub("DELETE_FAILED"), check_event(module, stage, fake_clock.t, operation="delete")
        )


# delete_stack.delete


@pytest.mark.parametrize("index", [0, 1], ids=["staging", "prod"])
def test_delete_release_stack_refused(
    task_module: Any, cloudformation: Any, make_stage: Callable[..., Stage], index: int
) -> None:
    module = task_module("delete_stack")

    with pytest.raises(TeardownRefused, match="deletes only review stacks"):
        module.delete(cloudformation, make_stage("deploy_main.json", index), "sr-")


def test_delete_review_stage_with_non_review_stack_name_refused(
    task_module: Any, cloudformation: Any, make_stage: Callable[..., Stage]
) -> None:
    module = task_module("delete_stack")
    stage = make_stage("deploy_feature.json", stack="sr-aws-news-staging")

    with pytest.raises(TeardownRefused):
        module.delete(cloudformation, stage, "sr-")


def test_delete_review_stack_deleted(
    task_module: Any, cloudformation: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("delete_stack")
    stage = make_stage("deploy_feature.json")
    cloudformation.create_stack(
        StackName=stage.stack,
        TemplateBody=json.dumps(TEMPLATE),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": "review"}],
    )

    result = module.delete(cloudformation, stage, "sr-")

    assert result == {
        "started_at": fake_clock.t,
        "existed": True,
        "request_token": completion.request_token(stage.execution, stage.stack, "delete", "delete"),
        "completion": "event",
        "fallback_seconds": 1800,
    }
    listed = cloudformation.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    assert [s["StackName"] for s in listed] == [stage.stack]


def test_delete_review_stack_absent_reports_not_existed(
    task_module: Any, cloudformation: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("delete_stack")

    result = module.delete(cloudformation, make_stage("deploy_feature.json"), "sr-")

    assert result["existed"] is False


# close_approval.close


class DeletesChangeSets:
    def __init__(self) -> None:
        self.deleted: list[tuple[str, str]] = []

    def delete_change_set(self, StackName: str, ChangeSetName: str) -> None:
        self.deleted.append((StackName, ChangeSetName))


def test_close_rejected_deletes_change_set_and_passes_error_on(
    task_module: Any, table: Any, make_stage: Callable[..., Stage]
) -> None:
    module = task_module("close_approval")
    stage = make_stage("deploy_main.json", 1)
    client = DeletesChangeSets()
    item = approvals.store(
        table,
        execution=stage.execution,
        app=stage.app,
        pipeline_id=stage.pipeline_id,
        stage="prod",
        token="t",
        timeout_seconds=60,
        details={},
    )
    approvals.settle(table, item, "rejected", by="dave", reason="no")
    # moto (and any caller) may drop the Cause: the approval record says who and why.
    error = {"Error": "DeploymentRejected", "Cause": None}

    result = module.close(client, table, module.CloseEvent(stage=stage, error=error))

    assert result == {"Error": "DeploymentRejected", "Cause": "Rejected by dave: no"}
    assert client.deleted == [(stage.stack, stage.change_set)]


def test_close_timeout_marks_approval_expired(
    task_module: Any, table: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("close_approval")
    stage = make_stage("deploy_main.json", 1)
    approvals.store(
        table,
        execution=stage.execution,
        app=stage.app,
        pipeline_id=stage.pipeline_id,
        stage="prod",
        token="t",
        timeout_seconds=60,
        details={},
    )
    error = {"Error": "States.Timeout", "Cause": ""}

    result = module.close(DeletesChangeSets(), table, module.CloseEvent(stage=stage, error=error))

    assert result["Error"] == "ApprovalExpired"
    assert "within 72 hours" in result["Cause"]
    assert approvals.get(table, stage.execution, "prod")["status"] == "expired"


def test_close_timeout_after_decision_keeps_decision(
    task_module: Any, table: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    module = task_module("close_approval")
    stage = make_stage("deploy_main.json", 1)
    approvals.store(
        table,
        execution=stage.execution,
        app=stage.app,
        pipeline_id=stage.pipeline_id,
        stage="prod",
        token="t",
        timeout_seconds=60,
        details={},
    )
    approvals.settle(table, approvals.get(table, stage.execution, "prod"), "approved", by="c")
    error = {"Error": "States.Timeout", "Cause": ""}

    result = module.close(DeletesChangeSets(), table, module.CloseEvent(stage=stage, error=error))

    assert result["Error"] == "ApprovalExpired"
    assert approvals.get(table, stage.execution, "prod")["status"] == "approved"
    with pytest.raises(ApprovalAlreadyDecided):
        approvals.settle(table, approvals.get(table, stage.execution, "prod"), "expired")


# plan.lambda_handler (Validate Input)


@dataclass
class FakeContext:
    function_name: str = "stackrelay-plan"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:stackrelay-plan"
    aws_request_id: str = "req-1"


def test_plan_handler_valid_request_returns_plan(
    task_module: Any, load_event: Callable[[str], dict[str, Any]]
) -> None:
    module = task_module("plan")

    plan = module.lambda_handler(
        {"request": load_event("deploy_main.json"), "execution": "arn:exec"}, FakeContext()
    )

    assert [s["stack"] for s in plan["stages"]] == ["sr-aws-news-staging", "sr-aws-news-prod"]
    assert plan["stages"][1]["account"] == "333333333333"


def test_plan_handler_missing_request_raises_invalid_input(task_module: Any) -> None:
    module = task_module("plan")

    with pytest.raises(InvalidInput, match="got NoneType"):
        module.lambda_handler({"execution": "arn:exec"}, FakeContext())


def test_close_without_approval_deletes_change_set_and_passes_error_on(
    task_module: Any, table: Any, make_stage: Callable[..., Stage]
) -> None:
    # A failed Execute Change Set on a stage that needs no approval: no orphan change set.
    module = task_module("close_approval")
    stage = make_stage("deploy_feature.json")
    assert not stage.approval
    client = DeletesChangeSets()
    error = {"Error": "TaskCrashed", "Cause": "Execute Change Set crashed: KeyError: 'x'"}

    result = module.close(client, table, module.CloseEvent(stage=stage, error=error))

    assert result == error
    assert client.deleted == [(stage.stack, stage.change_set)]
