"""tasks.check_change_set.check: pending, ready with summary and digest, or empty."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from stackrelay import changeset
from stackrelay.errors import ChangeSetFailed
from stackrelay.plan import Stage

TEMPLATE = {
    "Parameters": {"Stage": {"Type": "String"}},
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
    },
}
KEYS = ("state", "wait_seconds", "id", "digest", "summary", "headline")


@pytest.fixture
def check(task_module: Any) -> Any:
    return task_module("check_change_set").check


class ChangeSetStub:
    def __init__(self, answer: dict[str, Any] | None) -> None:
        self.answer = answer
        self.deleted: list[tuple[str, str]] = []

    def describe_change_set(self, StackName: str, ChangeSetName: str) -> dict[str, Any]:
        if self.answer is None:
            raise ClientError(
                {"Error": {"Code": "ChangeSetNotFound", "Message": "ChangeSet does not exist"}},
                "DescribeChangeSet",
            )
        return self.answer

    def delete_change_set(self, StackName: str, ChangeSetName: str) -> None:
        self.deleted.append((StackName, ChangeSetName))


@pytest.mark.parametrize("status", ["CREATE_PENDING", "CREATE_IN_PROGRESS"])
def test_check_change_set_still_creating_pending(
    check: Any, make_stage: Callable[..., Stage], status: str
) -> None:
    result = check(ChangeSetStub({"Status": status}), make_stage())

    assert result["state"] == "pending"
    assert result["wait_seconds"] == 2
    assert set(result) == set(KEYS)


def test_check_change_set_no_changes_empty_and_deleted(
    check: Any, make_stage: Callable[..., Stage]
) -> None:
    stage = make_stage()
    stub = ChangeSetStub(
        {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."}
    )

    result = check(stub, stage)

    assert result["state"] == "empty"
    assert set(result) == set(KEYS)
    assert stub.deleted == [(stage.stack, stage.change_set)]


def test_check_change_set_failed_raises_with_reason(
    check: Any, make_stage: Callable[..., Stage]
) -> None:
    stub = ChangeSetStub({"Status": "FAILED", "StatusReason": "Template error: Unresolved Ref X"})

    with pytest.raises(ChangeSetFailed, match="\\(FAILED\\): Template error: Unresolved Ref X"):
        check(stub, make_stage())

    assert stub.deleted == []


def test_check_change_set_gone_raises(check: Any, make_stage: Callable[..., Stage]) -> None:
    with pytest.raises(ChangeSetFailed, match="disappeared"):
        check(ChangeSetStub(None), make_stage())


def test_check_change_set_created_in_moto_ready_with_summary_and_digest(
    check: Any, make_stage: Callable[..., Stage]
) -> None:
    stage = make_stage()
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="stackrelay-artifacts")
    key = stage.template_url.split(".amazonaws.com/", 1)[1].split("?", 1)[0]
    s3.put_object(Bucket="stackrelay-artifacts", Key=key, Body=json.dumps(TEMPLATE).encode())
    client = boto3.client("cloudformation", region_name="us-east-1")
    created = client.create_change_set(
        StackName=stage.stack,
        ChangeSetName=stage.change_set,
        ChangeSetType="CREATE",
        TemplateURL=stage.template_url,
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": "staging"}],
        Capabilities=["CAPABILITY_IAM"],
    )

    result = check(client, stage)

    assert result["state"] == "ready"
    assert result["wait_seconds"] == 0
    assert result["id"] == created["Id"]
    assert result["summary"]["counts"]["add"] == 2
    assert result["summary"]["counts"]["iam"] == 1
    assert result["headline"] == changeset.headline(result["summary"])
    described = client.describe_change_set(StackName=stage.stack, ChangeSetName=stage.change_set)
    assert result["digest"] == changeset.digest(described)
    assert set(result) == set(KEYS)


def test_check_change_set_ready_notes_the_boundary_and_layer_names_publish_applied(
    check: Any, make_stage: Callable[..., Stage]
) -> None:
    class WithTemplate(ChangeSetStub):
        def get_template(self, StackName: str, ChangeSetName: str, TemplateStage: str) -> Any:
            assert TemplateStage == "Original"
            body = dict(TEMPLATE)
            body["Metadata"] = {
                "StackRelay": {
                    "AppliedPermissionsBoundary": {
                        "boundary": "StackRelayAppPermissionsBoundary",
                        "resources": ["HelloFunction"],
                    },
                    "NamedLayers": ["DepsLayer"],
                }
            }
            return {"TemplateBody": json.dumps(body)}

    answer = {
        "ChangeSetId": "arn:cs",
        "StackName": "s",
        "Status": "CREATE_COMPLETE",
        "Changes": [
            {
                "ResourceChange": {
                    "Action": "Add",
                    "LogicalResourceId": "R",
                    "ResourceType": "AWS::IAM::Role",
                }
            }
        ],
    }

    result = check(WithTemplate(answer), make_stage())

    [note, layer_note] = result["summary"]["notes"]
    assert "StackRelayAppPermissionsBoundary" in note and "HelloFunction" in note
    assert "DepsLayer" in layer_note
