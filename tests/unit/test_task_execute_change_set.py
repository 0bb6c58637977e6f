"""tasks.execute_change_set.execute: only the reviewed change set, only while AVAILABLE."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from stackrelay import changeset, completion
from stackrelay.errors import ChangeSetStale
from stackrelay.plan import Stage

TEMPLATE = {
    "Parameters": {"Stage": {"Type": "String"}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
}


class Protecting:
    """The moto client, plus the termination-protection call moto lacks (recorded)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.protected: list[dict[str, Any]] = []

    def update_termination_protection(self, **kwargs: Any) -> None:
        self.protected.append(kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def execute(task_module: Any) -> Any:
    return task_module("execute_change_set").execute


@pytest.fixture
def client() -> Protecting:
    return Protecting(boto3.client("cloudformation", region_name="us-east-1"))


def create_change_set(client: Any, stage: Stage) -> str:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="stackrelay-artifacts")
    key = stage.template_url.split(".amazonaws.com/", 1)[1].split("?", 1)[0]
    s3.put_object(Bucket="stackrelay-artifacts", Key=key, Body=json.dumps(TEMPLATE).encode())
    client.create_change_set(
        StackName=stage.stack,
        ChangeSetName=stage.change_set,
        ChangeSetType="CREATE",
        TemplateURL=stage.template_url,
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage.stage}],
    )
    found = client.describe_change_set(StackName=stage.stack, ChangeSetName=stage.change_set)
    return changeset.digest(found)


@pytest.mark.parametrize("index", [0, 1], ids=["staging", "prod"])
def test_execute_reviewed_change_set_runs_and_protects_release_stack(
    execute: Any,
    client: Protecting,
    make_stage: Callable[..., Stage],
    fake_clock: Any,
    index: int,
) -> None:
    stage = make_stage("deploy_main.json", index)
    digest = create_change_set(client, stage)

    result = execute(client, stage, digest)

    assert result == {
        "started_at": fake_clock.t,
        "request_token": completion.request_token(
            stage.execution, stage.stack, "deploy", stage.change_set
        ),
        "completion": "event",
        "fallback_seconds": 1800,
    }
    stack = client.describe_stacks(StackName=stage.stack)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert client.protected == [{"StackName": stage.stack, "EnableTerminationProtection": True}]


def test_execute_review_stack_not_protected(
    execute: Any, client: Protecting, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    stage = make_stage("deploy_feature.json")
    digest = create_change_set(client, stage)

    execute(client, stage, digest)

    assert client.protected == []


def test_execute_digest_differs_deletes_and_raises_stale(
    execute: Any, client: Protecting, make_stage: Callable[..., Stage]
) -> None:
    stage = make_stage("deploy_main.json", 1)
    create_change_set(client, stage)

    with pytest.raises(
        ChangeSetStale, match="content changed after it was summarised; it was deleted"
    ):
        execute(client, stage, "0" * 64)

    summaries = client.list_change_sets(StackName=stage.stack)["Summaries"]
    assert [s["ChangeSetName"] for s in summaries] == []
    assert client.protected == []


def test_execute_change_set_gone_raises_stale(
    execute: Any, client: Protecting, make_stage: Callable[..., Stage]
) -> None:
    stage = make_stage("deploy_main.json", 1)

    with pytest.raises(ChangeSetStale, match="no longer exists"):
        execute(client, stage, "0" * 64)


def test_execute_already_executed_by_a_lost_retry_returns_start(
    execute: Any, client: Protecting, make_stage: Callable[..., Stage]
) -> None:
    # The task executed the change set, its answer was lost, and the ASL retried it.
    stage = make_stage("deploy_main.json", 1)
    digest = create_change_set(client, stage)
    client.execute_change_set(StackName=stage.stack, ChangeSetName=stage.change_set)

    result = execute(client, stage, digest)

    assert set(result) == {"started_at", "request_token", "completion", "fallback_seconds"}
