"""Fault injection by rule: change sets, resources, deletes, throttling, Lambda."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from stackrelay_local import Fault, LocalEngine

AppEngine = tuple[LocalEngine, dict[str, str]]


def _status(cfn: Any, name: str) -> str:
    return str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])


def _events(cfn: Any, name: str) -> list[tuple[str, str, str | None]]:
    return [
        (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason"))
        for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
    ]


def _update_label(cfn: Any, name: str, template: str, label: str) -> None:
    cfn.update_stack(
        StackName=name,
        TemplateBody=template,
        Parameters=[{"ParameterKey": "Label", "ParameterValue": label}],
    )


def test_fault_change_set_failed_ends_failed_with_reason(
    local_engine: LocalEngine, queue_template: str
) -> None:
    local_engine.faults.add(
        Fault.change_set_failed(stack="app-*", account="dev", reason="Role is not authorized")
    )
    cfn = local_engine.client("cloudformation", "dev")
    cs = cfn.create_change_set(StackName="app-1", ChangeSetName="c", TemplateBody=queue_template)
    local_engine.clock.advance(5)
    described = cfn.describe_change_set(ChangeSetName=cs["Id"])
    assert (described["Status"], described["StatusReason"]) == ("FAILED", "Role is not authorized")


def test_fault_change_set_failed_other_account_not_affected(
    local_engine: LocalEngine, queue_template: str
) -> None:
    local_engine.faults.add(Fault.change_set_failed(stack="*", account="prod"))
    cfn = local_engine.client("cloudformation", "dev")
    cs = cfn.create_change_set(StackName="app", ChangeSetName="c", TemplateBody=queue_template)
    local_engine.clock.advance(5)
    assert cfn.describe_change_set(ChangeSetName=cs["Id"])["Status"] == "CREATE_COMPLETE"


def test_fault_resource_failed_on_create_rolls_back_with_reason(
    local_engine: LocalEngine, queue_template: str
) -> None:
    local_engine.faults.add(
        Fault.resource_failed(stack="new", resource="Table", reason="Table limit exceeded")
    )
    cfn = local_engine.client("cloudformation", "dev")
    cfn.create_stack(StackName="new", TemplateBody=queue_template)
    assert _status(cfn, "new") == "CREATE_IN_PROGRESS"
    assert local_engine.wait_stack("new", "dev") == "ROLLBACK_COMPLETE"

    events = _events(cfn, "new")
    assert ("Table", "CREATE_FAILED", "Table limit exceeded") in events
    assert events[0][:2] == ("new", "ROLLBACK_COMPLETE")
    assert any(
        status == "ROLLBACK_IN_PROGRESS" and "[Table]" in (reason or "")
        for _, status, reason in events
    )
    assert local_engine.client("dynamodb", "dev").list_tables()["TableNames"] == []


def test_fault_resource_failed_on_update_rolls_back_keeping_old_template(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "staging")
    cfn.create_stack(StackName="svc", TemplateBody=queue_template)
    local_engine.wait_stack("svc", "staging")
    local_engine.faults.add(Fault.resource_failed(stack="svc", resource="Queue", reason="Boom"))

    _update_label(cfn, "svc", queue_template, "two")
    assert local_engine.wait_stack("svc", "staging") == "UPDATE_ROLLBACK_COMPLETE"
    events = _events(cfn, "svc")
    assert ("Queue", "UPDATE_FAILED", "Boom") in events
    statuses = [status for _, status, _ in events]
    assert statuses.index("UPDATE_ROLLBACK_COMPLETE") < statuses.index(
        "UPDATE_ROLLBACK_IN_PROGRESS"
    )
    parameters = cfn.describe_stacks(StackName="svc")["Stacks"][0]["Parameters"]
    assert parameters == [{"ParameterKey": "Label", "ParameterValue": "one"}]


def test_fault_rollback_fails_then_continue_update_rollback_completes(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "prod")
    cfn.create_stack(StackName="stuck", TemplateBody=queue_template)
    local_engine.wait_stack("stuck", "prod")
    local_engine.faults.add(
        Fault.resource_failed(stack="stuck", resource="Queue", reason="Nope", rollback_fails=True)
    )
    _update_label(cfn, "stuck", queue_template, "two")
    assert local_engine.wait_stack("stuck", "prod") == "UPDATE_ROLLBACK_FAILED"
    with pytest.raises(ClientError, match="UPDATE_ROLLBACK_FAILED state"):
        _update_label(cfn, "stuck", queue_template, "three")

    cfn.continue_update_rollback(StackName="stuck", ResourcesToSkip=["Queue"])
    assert _status(cfn, "stuck") == "UPDATE_ROLLBACK_IN_PROGRESS"
    assert local_engine.wait_stack("stuck", "prod") == "UPDATE_ROLLBACK_COMPLETE"
    assert ("Queue", "UPDATE_COMPLETE", "Resource skipped during UpdateRollback") in _events(
        cfn, "stuck"
    )


def test_fault_delete_failed_once_then_delete_succeeds(
    local_engine: LocalEngine, queue_template: str
) -> None:
    cfn = local_engine.client("cloudformation", "dev")
    cfn.create_stack(StackName="sticky", TemplateBody=queue_template)
    local_engine.wait_stack("sticky", "dev")
    local_engine.faults.add(Fault.delete_failed(stack="sticky", resource="Table", reason="In use"))

    cfn.delete_stack(StackName="sticky")
    assert _status(cfn, "sticky") == "DELETE_IN_PROGRESS"
    assert local_engine.wait_stack("sticky", "dev") == "DELETE_FAILED"
    assert ("Table", "DELETE_FAILED", "In use") in _events(cfn, "sticky")

    cfn.delete_stack(StackName="sticky")
    assert local_engine.wait_stack("sticky", "dev") == "DELETE_COMPLETE"


def test_fault_throttle_share_of_calls_is_deterministic_throttling_error(
    local_engine: LocalEngine,
) -> None:
    local_engine.faults.add(Fault.throttle(service="cloudformation", share=0.5, seed=3))
    cfn = local_engine.session("dev").client(
        "cloudformation", config=Config(retries={"total_max_attempts": 1, "mode": "standard"})
    )
    outcomes = []
    for _ in range(40):
        try:
            cfn.list_stacks()
            outcomes.append("ok")
        except ClientError as error:
            assert error.response["Error"] == {
                "Code": "Throttling",
                "Message": "Rate exceeded",
                "Type": "Sender",
            }
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            outcomes.append("throttled")
    assert 10 <= outcomes.count("throttled") <= 30
    local_engine.client("s3", "dev").list_buckets()  # other services are not throttled


def test_fault_throttle_single_operation_only(local_engine: LocalEngine) -> None:
    local_engine.faults.add(
        Fault.throttle(service="cloudformation", operation="DescribeStacks", share=1.0)
    )
    cfn = local_engine.session("dev").client(
        "cloudformation", config=Config(retries={"total_max_attempts": 1})
    )
    cfn.list_stacks()
    with pytest.raises(ClientError, match="Throttling"):
        cfn.describe_stacks()


def test_fault_lambda_crash_is_caught_by_asl(app_engine: AppEngine) -> None:
    engine, outputs = app_engine
    engine.faults.add(
        Fault.lambda_crash(function="*FlakyFunction*", error_type="FlakyError", message="kaboom")
    )
    arn = _start(engine, outputs, "crash")
    _approve(engine, arn)
    output = json.loads(engine.wait_execution(arn)["output"])
    assert output["flakyResult"] == "caught"
    assert output["error"]["Error"] == "FlakyError"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "kaboom"


def test_fault_lambda_timeout_reports_sandbox_timedout(app_engine: AppEngine) -> None:
    engine, outputs = app_engine
    engine.faults.add(Fault.lambda_timeout(function="*FlakyFunction*"))
    before = engine.clock.now()
    arn = _start(engine, outputs, "timeout")
    _approve(engine, arn)
    output = json.loads(engine.wait_execution(arn)["output"])
    assert output["error"]["Error"] == "Sandbox.Timedout"
    cause = json.loads(output["error"]["Cause"])
    assert cause["errorMessage"] == "Task timed out after 10.00 seconds"
    assert engine.clock.now() - before >= 70


def test_callback_timeout_follows_simulated_clock(app_engine: AppEngine) -> None:
    engine, outputs = app_engine
    arn = _start(engine, outputs, "ignored")
    engine.wait_parked(arn)
    engine.clock.advance(73 * 3600)
    result = engine.wait_execution(arn)
    assert (result["status"], result["error"]) == ("FAILED", "ApprovalTimedOut")
    history = engine.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
    assert any(e["type"] == "TaskTimedOut" for e in history)


def _start(engine: LocalEngine, outputs: dict[str, str], name: str, **payload: Any) -> str:
    body = {"items": [{"name": "a"}], "flaky": "ok", **payload}
    return str(
        engine.client("stepfunctions").start_execution(
            stateMachineArn=outputs["StateMachineArn"], name=name, input=json.dumps(body)
        )["executionArn"]
    )


def _approve(engine: LocalEngine, arn: str) -> None:
    token = engine.wait_parked(arn)
    engine.client("stepfunctions").send_task_success(
        taskToken=token, output=json.dumps({"approved": True})
    )
