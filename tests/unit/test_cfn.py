"""cfn: CloudFormation calls in the target account (stub clients and moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from stackrelay import cfn
from stackrelay.errors import ChangeSetFailed

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def event(
    minute: int,
    logical_id: str,
    status: str,
    reason: str | None = None,
    rtype: str = "AWS::SQS::Queue",
) -> dict[str, Any]:
    e: dict[str, Any] = {
        "Timestamp": T0 + timedelta(minutes=minute),
        "LogicalResourceId": logical_id,
        "ResourceType": rtype,
        "ResourceStatus": status,
    }
    if reason is not None:
        e["ResourceStatusReason"] = reason
    return e


class EventsStub:
    """A CloudFormation client whose describe_stack_events pages are given (newest first)."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.asked: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> EventsStub:
        assert name == "describe_stack_events"
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.asked.append(kwargs)
        return [{"StackEvents": page} for page in self.pages]


def newest_first(*events: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda e: e["Timestamp"], reverse=True)


FAILED_UPDATE = newest_first(
    event(0, "app", "UPDATE_IN_PROGRESS", rtype="AWS::CloudFormation::Stack"),
    event(1, "Queue", "UPDATE_IN_PROGRESS"),
    event(2, "Queue", "UPDATE_FAILED", "Queue name already exists"),
    event(3, "Table", "UPDATE_FAILED", "Resource update cancelled"),
    event(
        4,
        "app",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed",
        "AWS::CloudFormation::Stack",
    ),
    event(5, "Function", "UPDATE_FAILED", "Resource update cancelled"),
    event(6, "app", "UPDATE_ROLLBACK_COMPLETE", rtype="AWS::CloudFormation::Stack"),
)


def test_first_failure_events_newest_first_returns_oldest_failure() -> None:
    stub = EventsStub([FAILED_UPDATE])

    assert cfn.first_failure(stub, "app") == ("Queue", "Queue name already exists")
    assert stub.asked == [{"StackName": "app"}]


def test_first_failure_across_pages_returns_oldest_failure() -> None:
    stub = EventsStub([FAILED_UPDATE[:3], FAILED_UPDATE[3:5], FAILED_UPDATE[5:]])

    assert cfn.first_failure(stub, "app") == ("Queue", "Queue name already exists")


def test_first_failure_since_ignores_older_operations() -> None:
    old = event(-60, "OldThing", "CREATE_FAILED", "old failure")
    stub = EventsStub([[*FAILED_UPDATE, old]])

    assert cfn.first_failure(stub, "app", since=T0) == ("Queue", "Queue name already exists")
    assert cfn.first_failure(stub, "app") == ("OldThing", "old failure")


def test_first_failure_since_after_every_failure_returns_none() -> None:
    stub = EventsStub([FAILED_UPDATE])

    assert cfn.first_failure(stub, "app", since=T0 + timedelta(minutes=10)) is None


def test_first_failure_only_stack_failed_returns_stack_reason() -> None:
    stub = EventsStub(
        [
            newest_first(
                event(0, "app", "CREATE_IN_PROGRESS", rtype="AWS::CloudFormation::Stack"),
                event(
                    1, "app", "CREATE_FAILED", "Requires capabilities", "AWS::CloudFormation::Stack"
                ),
            )
        ]
    )

    assert cfn.first_failure(stub, "sr-app-staging") == ("sr-app-staging", "Requires capabilities")


def test_first_failure_no_reason_given_says_so() -> None:
    stub = EventsStub([[event(1, "Queue", "CREATE_FAILED")]])

    assert cfn.first_failure(stub, "app") == ("Queue", "no reason given")


def test_first_failure_no_failures_returns_none() -> None:
    stub = EventsStub([[event(1, "Queue", "CREATE_COMPLETE")], []])

    assert cfn.first_failure(stub, "app") is None


@pytest.mark.parametrize(
    ("change_set", "expected"),
    [
        (
            {
                "Status": "FAILED",
                "StatusReason": "The submitted information didn't contain changes. "
                "Submit different information to create a change set.",
            },
            True,
        ),
        ({"Status": "FAILED", "StatusReason": "No updates are to be performed."}, True),
        ({"Status": "FAILED", "StatusReason": "Template format error"}, False),
        ({"Status": "FAILED"}, False),
        ({"Status": "FAILED", "StatusReason": None}, False),
        ({"Status": "CREATE_COMPLETE", "StatusReason": "No updates are to be performed."}, False),
        ({}, False),
    ],
)
def test_is_no_changes_status_and_reason(change_set: dict[str, Any], expected: bool) -> None:
    assert cfn.is_no_changes(change_set) is expected


def test_outputs_as_dict() -> None:
    stack = {"Outputs": [{"OutputKey": "ApiUrl", "OutputValue": "https://x"}]}

    assert cfn.outputs(stack) == {"ApiUrl": "https://x"}
    assert cfn.outputs({}) == {}


def client_error(code: str, message: str, operation: str = "Op") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class Raises:
    """A client whose every call raises ``error``."""

    def __init__(self, error: ClientError) -> None:
        self.error = error
        self.called: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.called.append(name)
            raise self.error

        return call


def test_error_code_and_message_from_client_error() -> None:
    exc = client_error("ValidationError", "Stack with id x does not exist")

    assert cfn.error_code(exc) == "ValidationError"
    assert cfn.error_message(exc) == "Stack with id x does not exist"


def test_describe_stack_other_validation_error_raised() -> None:
    client = Raises(client_error("ValidationError", "1 validation error detected"))

    with pytest.raises(ClientError):
        cfn.describe_stack(client, "x")


def test_describe_stack_access_denied_raised() -> None:
    with pytest.raises(ClientError):
        cfn.describe_stack(Raises(client_error("AccessDenied", "does not exist")), "x")


class DeletedStack:
    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackName": StackName, "StackStatus": "DELETE_COMPLETE"}]}


def test_describe_stack_delete_complete_returns_none() -> None:
    assert cfn.describe_stack(DeletedStack(), "x") is None


class PagedChangeSet:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def describe_change_set(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        token = kwargs.get("NextToken")
        if token is None:
            return {
                "ChangeSetId": "id",
                "Status": "CREATE_COMPLETE",
                "Changes": [1, 2],
                "NextToken": "p2",
            }
        if token == "p2":
            return {
                "ChangeSetId": "id",
                "Status": "CREATE_COMPLETE",
                "Changes": [3],
                "NextToken": "p3",
            }
        return {"ChangeSetId": "id", "Status": "CREATE_COMPLETE", "Changes": [4]}


def test_describe_change_set_many_pages_joined() -> None:
    client = PagedChangeSet()

    found = cfn.describe_change_set(client, "s", "cs")

    assert found is not None
    assert found["Changes"] == [1, 2, 3, 4]
    assert found["ChangeSetId"] == "id"
    assert len(client.calls) == 3


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ChangeSetNotFound", "ChangeSet [cs] does not exist"),
        ("ChangeSetNotFoundException", "Change set not found"),
        ("ValidationError", "Stack [s] does not exist"),
    ],
)
def test_describe_change_set_missing_returns_none(code: str, message: str) -> None:
    assert cfn.describe_change_set(Raises(client_error(code, message)), "s", "cs") is None


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ChangeSetNotFound", "ChangeSet [cs] does not exist"),
        ("ValidationError", "Stack [s] does not exist"),
    ],
)
def test_delete_change_set_already_gone_is_fine(code: str, message: str) -> None:
    client = Raises(client_error(code, message))

    assert cfn.delete_change_set(client, "s", "cs") is None
    assert client.called == ["delete_change_set"]


def test_delete_change_set_other_error_raised() -> None:
    client = Raises(client_error("InvalidChangeSetStatus", "Cannot delete while executing"))

    with pytest.raises(ClientError, match="InvalidChangeSetStatus"):
        cfn.delete_change_set(client, "s", "cs")


TEMPLATE = {
    "Parameters": {"Stage": {"Type": "String"}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
}


@pytest.fixture
def moto_cfn(aws: None) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="stackrelay-artifacts")
    s3.put_object(Bucket="stackrelay-artifacts", Key="t.json", Body=json.dumps(TEMPLATE).encode())
    return boto3.client("cloudformation", region_name="us-east-1")


def create(client: Any, **overrides: Any) -> str:
    kwargs: dict[str, Any] = {
        "stack": "sr-aws-news-staging",
        "name": "stackrelay-4711-staging-abcd1234",
        "change_set_type": "CREATE",
        "template_url": "https://stackrelay-artifacts.s3.us-east-1.amazonaws.com/t.json",
        "parameters": {"Stage": "staging"},
        "tags": {"stackrelay:app": "aws-news"},
        "role_arn": None,
        "description": "d" * 2000,
    }
    kwargs.update(overrides)
    return cfn.create_change_set(client, **kwargs)


def test_describe_stack_missing_in_moto_returns_none(moto_cfn: Any) -> None:
    assert cfn.describe_stack(moto_cfn, "sr-nothing-here") is None
    assert cfn.describe_change_set(moto_cfn, "sr-nothing-here", "cs") is None


def test_create_change_set_moto_created_with_parameters_and_tags(moto_cfn: Any) -> None:
    change_set_id = create(moto_cfn)

    found = cfn.describe_change_set(
        moto_cfn, "sr-aws-news-staging", "stackrelay-4711-staging-abcd1234"
    )
    assert found is not None
    assert found["ChangeSetId"] == change_set_id
    assert found["Parameters"] == [{"ParameterKey": "Stage", "ParameterValue": "staging"}]
    assert (
        cfn.describe_stack(moto_cfn, "sr-aws-news-staging")["StackStatus"] == "REVIEW_IN_PROGRESS"
    )  # type: ignore[index]


def test_create_change_set_retried_returns_same_id(moto_cfn: Any) -> None:
    first = create(moto_cfn)

    again = create(moto_cfn)

    assert again == first
    listed = moto_cfn.list_change_sets(StackName="sr-aws-news-staging")["Summaries"]
    assert len(listed) == 1


class Recorder:
    """Records create_change_set's request; answers describe with 'missing' first."""

    def __init__(self, create_error: ClientError | None = None, found_after: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.create_error = create_error
        self.found_after = found_after
        self.created = False

    def describe_change_set(self, **kwargs: Any) -> dict[str, Any]:
        if self.created or (self.found_after and self.requests):
            return {"ChangeSetId": "arn:existing", "Changes": []}
        raise client_error("ChangeSetNotFound", "ChangeSet [x] does not exist")

    def create_change_set(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        if self.create_error is not None:
            raise self.create_error
        return {"Id": "arn:new"}


def test_create_change_set_request_sorted_capabilities_role_and_short_description() -> None:
    client = Recorder()

    change_set_id = create(
        client,
        parameters={"B": "2", "A": "1"},
        tags={"z": "1", "a": "2"},
        role_arn="arn:aws:iam::1:role/exec",
    )

    assert change_set_id == "arn:new"
    [request] = client.requests
    assert request["Parameters"] == [
        {"ParameterKey": "A", "ParameterValue": "1"},
        {"ParameterKey": "B", "ParameterValue": "2"},
    ]
    assert request["Tags"] == [{"Key": "a", "Value": "2"}, {"Key": "z", "Value": "1"}]
    assert request["RoleARN"] == "arn:aws:iam::1:role/exec"
    assert set(request["Capabilities"]) == {
        "CAPABILITY_IAM",
        "CAPABILITY_NAMED_IAM",
        "CAPABILITY_AUTO_EXPAND",
    }
    assert len(request["Description"]) == 1024


def test_create_change_set_no_role_omits_role_arn() -> None:
    client = Recorder()

    create(client, role_arn=None)

    assert "RoleARN" not in client.requests[0]


def test_create_change_set_already_exists_race_returns_existing() -> None:
    client = Recorder(client_error("AlreadyExistsException", "exists"), found_after=True)

    assert create(client) == "arn:existing"


def test_create_change_set_validation_error_raises_change_set_failed() -> None:
    client = Recorder(client_error("ValidationError", "Template format error: bad"))

    with pytest.raises(ChangeSetFailed, match="sr-aws-news-staging: Template format error: bad"):
        create(client)


def test_create_change_set_other_error_raised() -> None:
    client = Recorder(client_error("LimitExceededException", "too many"))

    with pytest.raises(ClientError, match="LimitExceededException"):
        create(client)
