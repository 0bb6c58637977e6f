"""tasks.prepare_stack.prepare: how to change the stack, or stop saying what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from stackrelay import records
from stackrelay.errors import StackBusy, StackNeedsRecovery
from stackrelay.plan import Stage


class StackStub:
    def __init__(self, status: str | None) -> None:
        self.status = status

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
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
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.status}]}


@pytest.fixture
def prepare(task_module: Any) -> Any:
    return task_module("prepare_stack").prepare


@pytest.mark.parametrize(
    ("status", "change_set_type"),
    [
        (None, "CREATE"),
        ("DELETE_COMPLETE", "CREATE"),
        ("REVIEW_IN_PROGRESS", "CREATE"),
        ("CREATE_COMPLETE", "UPDATE"),
        ("UPDATE_COMPLETE", "UPDATE"),
        ("UPDATE_ROLLBACK_COMPLETE", "UPDATE"),
        ("IMPORT_COMPLETE", "UPDATE"),
    ],
)
@pytest.mark.parametrize("event", ["deploy_main.json", "deploy_feature.json"])
def test_prepare_stack_usable_status_picks_change_set_type(
    prepare: Any,
    table: Any,
    make_stage: Callable[..., Stage],
    status: str | None,
    change_set_type: str,
    event: str,
) -> None:
    result = prepare(StackStub(status), table, make_stage(event))

    assert result == {
        "status": None if status == "DELETE_COMPLETE" else status,
        "change_set_type": change_set_type,
        "recreate": False,
        "expected_seconds": None,
    }


@pytest.mark.parametrize(
    "status",
    [
        "CREATE_IN_PROGRESS",
        "UPDATE_IN_PROGRESS",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "DELETE_IN_PROGRESS",
    ],
)
def test_prepare_stack_operation_running_raises_busy(
    prepare: Any, table: Any, make_stage: Callable[..., Stage], status: str
) -> None:
    with pytest.raises(StackBusy, match=status):
        prepare(StackStub(status), table, make_stage())


@pytest.mark.parametrize("status", ["ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"])
def test_prepare_stack_failed_first_create_review_recreated(
    prepare: Any, table: Any, make_stage: Callable[..., Stage], status: str
) -> None:
    result = prepare(StackStub(status), table, make_stage("deploy_feature.json"))

    assert result["change_set_type"] == "CREATE"
    assert result["recreate"] is True


@pytest.mark.parametrize("index", [0, 1], ids=["staging", "prod"])
def test_prepare_stack_failed_first_create_release_raises_with_delete_hint(
    prepare: Any, table: Any, make_stage: Callable[..., Stage], index: int
) -> None:
    stage = make_stage("deploy_main.json", index)

    with pytest.raises(StackNeedsRecovery) as caught:
        prepare(StackStub("ROLLBACK_COMPLETE"), table, stage)

    assert f"delete-stack --stack-name {stage.stack}" in str(caught.value)
    assert stage.account in str(caught.value)


@pytest.mark.parametrize(
    "status", ["UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "IMPORT_ROLLBACK_FAILED", "UPDATE_FAILED"]
)
def test_prepare_stack_broken_stack_raises_with_recover_hint(
    prepare: Any, table: Any, make_stage: Callable[..., Stage], status: str
) -> None:
    with pytest.raises(
        StackNeedsRecovery, match="stackrelay recover --app aws-news --stage staging"
    ):
        prepare(StackStub(status), table, make_stage())


def test_prepare_stack_previous_duration_becomes_expected_seconds(
    prepare: Any, table: Any, make_stage: Callable[..., Stage], fake_clock: Any
) -> None:
    stage = make_stage()
    records.put_deployment(
        table,
        {
            "app": stage.app,
            "stage": stage.stage,
            "account": stage.account,
            "stack": stage.stack,
            "outcome": "deployed",
            "duration_seconds": 184.5,
        },
    )

    result = prepare(StackStub("UPDATE_COMPLETE"), table, stage)

    assert result["expected_seconds"] == 184.5


def test_prepare_stack_moto_stack_absent_create(
    prepare: Any, table: Any, make_stage: Callable[..., Stage]
) -> None:
    client = boto3.client("cloudformation", region_name="us-east-1")

    assert prepare(client, table, make_stage())["change_set_type"] == "CREATE"
