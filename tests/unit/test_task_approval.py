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
from stackrelay import approvals, changeset, registry, sessions
from stackrelay.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    ApproverNotAllowed,
    ChangeSetStale,
    IdentityRejected,
    InvalidInput,
    ProjectMismatch,
    SummaryMismatch,
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
def approval(task_module: Any) -> Any:
    return task_module("approval")


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
    key = prod_stage.template_url.split(".amazonaws.com/", 1)[1].split("?", 1)[0]
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
    registry.register(table, "aws-news", "4711", "group/aws-news", by="admin")
    return {"view": view, "change_set": checked}


class Decider:
    """Calls decide as the approve job would: a token, then the request."""

    def __init__(self, approval: Any, table: Any, issuer: Any, mint: Any) -> None:
        self.approval, self.table, self.issuer, self.mint = approval, table, issuer, mint

    def __call__(self, sfn: Any, token_claims: dict[str, Any] | None = None, **kwargs: Any):
        fields = {"app": "aws-news", "id_token": self.mint(**(token_claims or {})), **kwargs}
        request = self.approval.ApprovalAction(**fields)
        return self.approval.decide(self.table, sfn, request, self.issuer)


@pytest.fixture
def decide(approval: Any, table: Any, issuer_config: Any, mint: Any) -> Decider:
    return Decider(approval, table, issuer_config, mint)


DIGEST_OF = "digest"


def approve(decide: Decider, waiting: dict[str, Any], sfn: Any, **kwargs: Any) -> Any:
    digest = waiting["view"]["digest"]
    return decide(sfn, action="approve", digest=digest, **kwargs)


def test_request_approval_stores_token_and_returns_public_view(
    waiting: dict[str, Any], table: Any, fake_clock: Any, prod_stage: Stage
) -> None:
    view = waiting["view"]

    assert view["status"] == "pending"
    assert "token" not in view
    assert view["digest"] == waiting["change_set"]["digest"]
    assert view["expires_at"] == fake_clock.t + 72 * 3600
    assert approvals.token_of(approvals.get(table, prod_stage.execution, "prod")) == TOKEN


def test_decide_list_returns_waiting_without_tokens(
    decide: Decider, waiting: dict[str, Any]
) -> None:
    result = decide(RecordingSfn(), action="list")

    assert [a["pipeline_id"] for a in result["approvals"]] == ["4712"]
    assert TOKEN not in json.dumps(result, default=str)


def test_decide_show_by_token_pipeline_returns_summary_without_token(
    decide: Decider, waiting: dict[str, Any]
) -> None:
    sfn = RecordingSfn()

    result = decide(sfn, action="show")

    assert result["approval"]["summary_text"] == changeset.render(waiting["change_set"]["summary"])
    assert result["approval"]["status"] == "pending"
    assert result["approval"]["digest"] == waiting["view"]["digest"]
    assert TOKEN not in json.dumps(result, default=str)
    assert sfn.calls == []


def test_decide_approve_sends_success_and_records_verified_approver(
    decide: Decider, waiting: dict[str, Any], table: Any, fake_clock: Any, prod_stage: Stage
) -> None:
    sfn = RecordingSfn()

    result = approve(decide, waiting, sfn, reason="ok", token_claims={"user_login": "carol"})

    [(call, kwargs)] = sfn.calls
    assert call == "send_task_success"
    assert kwargs["taskToken"] == TOKEN
    output = json.loads(kwargs["output"])
    assert output["approver"] == "carol"
    assert output["job_url"].startswith("http://localhost:")
    assert "/group/aws-news/-/jobs/" in output["job_url"]
    assert result["approval"]["status"] == "approved"
    assert TOKEN not in json.dumps(result, default=str)
    stored = approvals.get(table, prod_stage.execution, "prod")
    assert (stored["status"], stored["decided_by"]) == ("approved", "carol")
    assert stored["decision_job_url"] == output["job_url"]
    assert "token" not in stored


def test_decide_reject_sends_failure_deployment_rejected(
    decide: Decider, waiting: dict[str, Any]
) -> None:
    sfn = RecordingSfn()

    result = decide(sfn, action="reject", reason="not today", token_claims={"user_login": "dave"})

    [(call, kwargs)] = sfn.calls
    assert (call, kwargs["error"]) == ("send_task_failure", "DeploymentRejected")
    assert kwargs["cause"] == "Rejected by dave: not today"
    assert result["approval"]["status"] == "rejected"


def test_decide_approve_without_digest_refused(
    decide: Decider, waiting: dict[str, Any], table: Any, prod_stage: Stage
) -> None:
    with pytest.raises(InvalidInput, match="digest"):
        decide(RecordingSfn(), action="approve")

    assert approvals.get(table, prod_stage.execution, "prod")["status"] == "pending"


def test_decide_approve_other_digest_refused_summary_mismatch(
    decide: Decider, waiting: dict[str, Any], table: Any, prod_stage: Stage
) -> None:
    sfn = RecordingSfn()

    with pytest.raises(SummaryMismatch, match="digests differ"):
        decide(sfn, action="approve", digest="0" * 64)

    assert sfn.calls == []
    assert approvals.get(table, prod_stage.execution, "prod")["status"] == "pending"


def test_decide_other_project_refused(decide: Decider, waiting: dict[str, Any]) -> None:
    claims = {"project_path": "group/other", "project_id": "9"}
    for act in ("list", "show", "approve"):
        with pytest.raises(ProjectMismatch):
            decide(RecordingSfn(), action=act, digest="0" * 64, token_claims=claims)


def test_decide_unprotected_branch_may_show_but_not_decide(
    decide: Decider, waiting: dict[str, Any], table: Any, prod_stage: Stage
) -> None:
    claims = {"ref": "feature/x"}
    assert decide(RecordingSfn(), action="show", token_claims=claims)["approval"]
    with pytest.raises(ApproverNotAllowed, match="protected branch"):
        approve(decide, waiting, RecordingSfn(), token_claims=claims)
    assert approvals.get(table, prod_stage.execution, "prod")["status"] == "pending"


def test_decide_bad_token_refused(
    approval: Any, waiting: dict[str, Any], table: Any, issuer_config: Any
) -> None:
    request = approval.ApprovalAction(action="show", app="aws-news", id_token="forged.jwt.x")

    with pytest.raises(IdentityRejected):
        approval.decide(table, RecordingSfn(), request, issuer_config)


def test_decide_approve_twice_raises_already_decided_and_answers_once(
    decide: Decider, waiting: dict[str, Any]
) -> None:
    sfn = RecordingSfn()
    approve(decide, waiting, sfn, token_claims={"user_login": "carol"})

    with pytest.raises(ApprovalAlreadyDecided, match="already approved by carol"):
        decide(sfn, action="reject", token_claims={"user_login": "dave"})

    assert len(sfn.calls) == 1


def test_decide_throttled_answer_keeps_token_and_retry_delivers(
    decide: Decider, waiting: dict[str, Any], table: Any, prod_stage: Stage
) -> None:
    with pytest.raises(ClientError, match="ThrottlingException"):
        approve(decide, waiting, RecordingSfn("ThrottlingException"))

    held = approvals.get(table, prod_stage.execution, "prod")
    assert held["status"] == approvals.DECIDING
    assert approvals.token_of(held) == TOKEN  # the decision is not lost
    sfn = RecordingSfn()
    approve(decide, waiting, sfn)
    assert [c for c, _ in sfn.calls] == ["send_task_success"]
    assert approvals.get(table, prod_stage.execution, "prod")["status"] == "approved"


def test_decide_after_timeout_raises_expired_and_marks_expired(
    decide: Decider, waiting: dict[str, Any], table: Any, fake_clock: Any, prod_stage: Stage
) -> None:
    sfn = RecordingSfn()
    fake_clock.advance(72 * 3600)

    with pytest.raises(ApprovalExpired):
        approve(decide, waiting, sfn)

    assert sfn.calls == []
    assert approvals.get(table, prod_stage.execution, "prod")["status"] == "expired"


def test_decide_change_set_deleted_raises_stale_and_fails_task(
    decide: Decider, waiting: dict[str, Any], table: Any, prod_stage: Stage, prod_cfn: Any
) -> None:
    prod_cfn.delete_change_set(StackName=prod_stage.stack, ChangeSetName=prod_stage.change_set)
    sfn = RecordingSfn()

    with pytest.raises(ChangeSetStale, match="no longer exists"):
        approve(decide, waiting, sfn)

    [(call, kwargs)] = sfn.calls
    assert (call, kwargs["error"]) == ("send_task_failure", "ChangeSetStale")
    stored = approvals.get(table, prod_stage.execution, "prod")
    assert stored["status"] == "stale"
    assert stored["decision_reason"] == "the change set no longer exists"


def test_decide_change_set_content_changed_raises_stale(
    decide: Decider, waiting: dict[str, Any], table: Any, prod_stage: Stage
) -> None:
    table.update_item(
        Key=approvals.key(prod_stage.execution, "prod"),
        UpdateExpression="SET digest = :d",
        ExpressionAttributeValues={":d": "0" * 64},
    )
    sfn = RecordingSfn()

    with pytest.raises(ChangeSetStale, match="content changed"):
        decide(sfn, action="approve", digest="0" * 64)

    assert sfn.calls[0][0] == "send_task_failure"


def test_decide_change_set_already_executed_raises_stale(
    decide: Decider, waiting: dict[str, Any], prod_stage: Stage, prod_cfn: Any
) -> None:
    prod_cfn.execute_change_set(StackName=prod_stage.stack, ChangeSetName=prod_stage.change_set)

    with pytest.raises(ChangeSetStale, match="EXECUTE_COMPLETE, not AVAILABLE"):
        approve(decide, waiting, RecordingSfn())


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_decide_execution_no_longer_waiting_raises_expired(
    decide: Decider, waiting: dict[str, Any], table: Any, prod_stage: Stage, code: str
) -> None:
    with pytest.raises(ApprovalExpired, match="no longer waiting"):
        approve(decide, waiting, RecordingSfn(code))

    assert approvals.get(table, prod_stage.execution, "prod")["status"] == "expired"


def test_decide_unknown_approval_raises_not_found(decide: Decider, table: Any) -> None:
    registry.register(table, "aws-news", "4711", "group/aws-news", by="admin")
    with pytest.raises(ApprovalNotFound):
        decide(RecordingSfn(), action="show", pipeline_id="1")


def test_decide_execution_of_other_app_not_found(
    decide: Decider, waiting: dict[str, Any], table: Any, prod_stage: Stage
) -> None:
    registry.register(table, "other", "1", "group/other", by="admin")
    claims = {"project_path": "group/other", "project_id": "1"}

    with pytest.raises(ApprovalNotFound):
        decide(
            RecordingSfn(),
            action="show",
            app="other",
            execution=prod_stage.execution,
            token_claims=claims,
        )


@pytest.mark.parametrize("reason", ["ok\u202e", "line\nbreak", "nul\x00"])
def test_decide_reason_with_control_or_bidi_refused(approval: Any, reason: str) -> None:
    from stackrelay.errors import InvalidInput as Invalid
    from stackrelay.model import parse_model

    with pytest.raises(Invalid, match="control or bidirectional"):
        parse_model(
            approval.ApprovalAction,
            {"action": "reject", "app": "aws-news", "id_token": "x", "reason": reason},
            "approval request",
        )
