"""tasks.approval.decide (with tasks.request_approval.request): the approval function.

The change set lives in the prod account (333333333333), reached through the
deploy role as the function does; Step Functions is a recording fake, since
a task token cannot be made in moto without running the state machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from stackrelay import approvals, changeset, sessions
from stackrelay.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    ChangeSetStale,
    InvalidInput,
)
from stackrelay.plan import Stage

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAZ-secret-task-token"
TEMPLATE = {
    "Parameters": {"Stage": {"Type": "String"}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
}


class RecordingSfn:
    def __init__(self, error_code: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.error_code = error_code

    def _call(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, kwargs))
        if self.error_code:
            raise ClientError({"Error": {"Code": self.error_code, "Message": "x"}}, name)
        return {}

    def send_task_success(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("send_task_success", kwargs)

    def send_task_failure(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("send_task_failure", kwargs)


@pytest.fixture
def approval(task_module: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = task_module("approval")
    monkeypatch.setattr(module, "STS", boto3.client("sts", region_name="us-east-1"))
    return module


@pytest.fixture
def prod_stage(make_stage: Callable[..., Stage]) -> Stage:
    return make_stage("deploy_main.json", 1)


@pytest.fixture
def prod_cfn(prod_stage: Stage) -> Any:
    """CloudFormation in the prod account, through its deploy role."""
    session = sessions.assume_role(
        boto3.client("sts", region_name="us-east-1"), prod_stage.role_arn, "test-setup", "us-east-1"
    )
    s3 = session.client("s3")
    s3.create_bucket(Bucket="stackrelay-artifacts")
    key = prod_stage.template_url.split(".amazonaws.com/", 1)[1]
    s3.put_object(Bucket="stackrelay-artifacts", Key=key, Body=json.dumps(TEMPLATE).encode())
    return session.client("cloudformation")


@pytest.fixture
def waiting(
    task_module: Any, table: Any, prod_stage: Stage, prod_cfn: Any, fake_clock: Any
) -> dict[str, Any]:
    """A prod change set ready in the prod account and its approval waiting."""
    prod_cfn.create_change_set(
        StackName=prod_stage.stack,
        ChangeSetName=prod_stage.change_set,
        ChangeSetType="CREATE",
        TemplateURL=prod_stage.template_url,
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": "prod"}],
    )
    checked = task_module("check_change_set").check(prod_cfn, prod_stage)
    request = task_module("request_approval")
    view = request.request(
        table, request.ApprovalRequest(token=TOKEN, stage=prod_stage, change_set=checked)
    )
    return {"view": view, "change_set": checked}


def action(approval: Any, **kwargs: Any) -> Any:
    base = {"app": "aws-news", "pipeline_id": "4712"}
    return approval.ApprovalAction(**{**base, **kwargs})


def test_request_approval_stores_token_and_returns_public_view(
    waiting: dict[str, Any], table: Any, fake_clock: Any
) -> None:
    view = waiting["view"]

    assert view["status"] == "pending"
    assert "token" not in view
    assert view["digest"] == waiting["change_set"]["digest"]
    assert view["expires_at"] == fake_clock.t + 72 * 3600
    assert approvals.token_of(approvals.get(table, "aws-news", "4712", "prod")) == TOKEN


def test_decide_list_returns_waiting_without_tokens(
    approval: Any, waiting: dict[str, Any], table: Any
) -> None:
    result = approval.decide(table, RecordingSfn(), approval.ApprovalAction(action="list"))

    assert [a["pipeline_id"] for a in result["approvals"]] == ["4712"]
    assert TOKEN not in json.dumps(result, default=str)


def test_decide_show_returns_summary_text_without_token(
    approval: Any, waiting: dict[str, Any], table: Any
) -> None:
    sfn = RecordingSfn()

    result = approval.decide(table, sfn, action(approval, action="show"))

    assert result["approval"]["summary_text"] == changeset.render(waiting["change_set"]["summary"])
    assert result["approval"]["status"] == "pending"
    assert TOKEN not in json.dumps(result, default=str)
    assert sfn.calls == []


def test_decide_approve_sends_success_with_token_and_records_approver(
    approval: Any, waiting: dict[str, Any], table: Any, fake_clock: Any
) -> None:
    sfn = RecordingSfn()

    result = approval.decide(
        table,
        sfn,
        action(approval, action="approve", approver="carol", reason="ok", job_url="https://ci/1"),
    )

    [(call, kwargs)] = sfn.calls
    assert call == "send_task_success"
    assert kwargs["taskToken"] == TOKEN
    assert json.loads(kwargs["output"]) == {
        "approver": "carol",
        "reason": "ok",
        "job_url": "https://ci/1",
        "decided_at": fake_clock.t,
    }
    assert result["approval"]["status"] == "approved"
    assert TOKEN not in json.dumps(result, default=str)
    stored = approvals.get(table, "aws-news", "4712", "prod")
    assert (stored["status"], stored["decided_by"]) == ("approved", "carol")


def test_decide_reject_sends_failure_deployment_rejected(
    approval: Any, waiting: dict[str, Any], table: Any
) -> None:
    sfn = RecordingSfn()

    result = approval.decide(
        table, sfn, action(approval, action="reject", approver="dave", reason="not today")
    )

    [(call, kwargs)] = sfn.calls
    assert call == "send_task_failure"
    assert kwargs["error"] == "DeploymentRejected"
    assert kwargs["cause"] == "Rejected by dave: not today"
    assert kwargs["taskToken"] == TOKEN
    assert result["approval"]["status"] == "rejected"


def test_decide_approve_twice_raises_already_decided_and_answers_once(
    approval: Any, waiting: dict[str, Any], table: Any
) -> None:
    sfn = RecordingSfn()
    approval.decide(table, sfn, action(approval, action="approve", approver="carol"))

    with pytest.raises(ApprovalAlreadyDecided, match="already approved by carol"):
        approval.decide(table, sfn, action(approval, action="reject", approver="dave"))

    assert len(sfn.calls) == 1


def test_decide_after_timeout_raises_expired_and_marks_expired(
    approval: Any, waiting: dict[str, Any], table: Any, fake_clock: Any
) -> None:
    sfn = RecordingSfn()
    fake_clock.advance(72 * 3600)

    with pytest.raises(ApprovalExpired):
        approval.decide(table, sfn, action(approval, action="approve", approver="carol"))

    assert sfn.calls == []
    assert approvals.get(table, "aws-news", "4712", "prod")["status"] == "expired"


def test_decide_change_set_deleted_raises_stale_and_fails_task(
    approval: Any, waiting: dict[str, Any], table: Any, prod_stage: Stage, prod_cfn: Any
) -> None:
    prod_cfn.delete_change_set(StackName=prod_stage.stack, ChangeSetName=prod_stage.change_set)
    sfn = RecordingSfn()

    with pytest.raises(ChangeSetStale, match="no longer exists"):
        approval.decide(table, sfn, action(approval, action="approve", approver="carol"))

    [(call, kwargs)] = sfn.calls
    assert (call, kwargs["error"]) == ("send_task_failure", "ChangeSetStale")
    stored = approvals.get(table, "aws-news", "4712", "prod")
    assert stored["status"] == "stale"
    assert stored["decision_reason"] == "the change set no longer exists"


def test_decide_change_set_content_changed_raises_stale(
    approval: Any, waiting: dict[str, Any], table: Any
) -> None:
    table.update_item(
        Key=approvals.key("aws-news", "4712", "prod"),
        UpdateExpression="SET digest = :d",
        ExpressionAttributeValues={":d": "0" * 64},
    )
    sfn = RecordingSfn()

    with pytest.raises(ChangeSetStale, match="content changed"):
        approval.decide(table, sfn, action(approval, action="approve", approver="carol"))

    assert sfn.calls[0][0] == "send_task_failure"


def test_decide_change_set_already_executed_raises_stale(
    approval: Any, waiting: dict[str, Any], table: Any, prod_stage: Stage, prod_cfn: Any
) -> None:
    prod_cfn.execute_change_set(StackName=prod_stage.stack, ChangeSetName=prod_stage.change_set)

    with pytest.raises(ChangeSetStale, match="EXECUTE_COMPLETE, not AVAILABLE"):
        approval.decide(table, RecordingSfn(), action(approval, action="approve", approver="x"))


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_decide_execution_no_longer_waiting_raises_expired(
    approval: Any, waiting: dict[str, Any], table: Any, code: str
) -> None:
    with pytest.raises(ApprovalExpired, match="no longer waiting"):
        approval.decide(
            table, RecordingSfn(code), action(approval, action="approve", approver="carol")
        )


def test_decide_other_sfn_error_raised(approval: Any, waiting: dict[str, Any], table: Any) -> None:
    with pytest.raises(ClientError, match="AccessDeniedException"):
        approval.decide(
            table,
            RecordingSfn("AccessDeniedException"),
            action(approval, action="approve", approver="carol"),
        )


@pytest.mark.parametrize("act", ["approve", "reject"])
def test_decide_without_approver_raises_invalid_input(
    approval: Any, waiting: dict[str, Any], table: Any, act: str
) -> None:
    with pytest.raises(InvalidInput, match="approver"):
        approval.decide(table, RecordingSfn(), action(approval, action=act))

    assert approvals.get(table, "aws-news", "4712", "prod")["status"] == "pending"


@pytest.mark.parametrize("missing", ["app", "pipeline_id"])
def test_decide_show_without_key_raises_invalid_input(
    approval: Any, table: Any, missing: str
) -> None:
    request = action(approval, action="show", **{missing: None})

    with pytest.raises(InvalidInput, match="needs app and pipeline_id"):
        approval.decide(table, RecordingSfn(), request)


def test_decide_unknown_approval_raises_not_found(approval: Any, table: Any) -> None:
    with pytest.raises(ApprovalNotFound):
        approval.decide(table, RecordingSfn(), action(approval, action="show", pipeline_id="1"))
