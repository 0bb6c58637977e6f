"""tasks.lock.handle: acquire with the stage's lease, release by holder."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from stackrelay import locks
from stackrelay.plan import Stage


@pytest.fixture
def lock_module(task_module: Any) -> Any:
    return task_module("lock")


@pytest.fixture
def sfn(aws: None) -> Any:
    return boto3.client("stepfunctions", region_name="us-east-1")


@pytest.fixture
def running(sfn: Any) -> Callable[[], str]:
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = sfn.create_state_machine(
        name="deploy",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=role,
    )["stateMachineArn"]
    return lambda: sfn.start_execution(stateMachineArn=machine)["executionArn"]


def event(module: Any, action: str, stage: Stage, holder: str, lock: dict | None = None) -> Any:
    return module.LockEvent(action=action, stage=stage, holder=holder, lock=lock or {})


@pytest.mark.parametrize(
    ("source", "index", "extra"),
    [
        ("deploy_feature.json", 0, 0),
        ("deploy_main.json", 0, 0),
        ("deploy_main.json", 1, 72 * 3600),
    ],
    ids=["review", "staging", "prod"],
)
def test_lock_handle_acquire_lease_covers_approval_wait(
    lock_module: Any,
    table: Any,
    sfn: Any,
    running: Callable[[], str],
    make_stage: Callable[..., Stage],
    fake_clock: Any,
    source: str,
    index: int,
    extra: int,
) -> None:
    stage = make_stage(source, index)
    holder = running()

    result = lock_module.handle(table, sfn, event(lock_module, "acquire", stage, holder))

    assert result["acquired"] is True
    held = locks.holder_of(table, stage.account, stage.stack)
    assert held is not None
    assert held["expires_at"] == fake_clock.t + lock_module.STACK_LEASE_SECONDS + extra


def test_lock_handle_release_frees_lock(
    lock_module: Any,
    table: Any,
    sfn: Any,
    running: Callable[[], str],
    make_stage: Callable[..., Stage],
    fake_clock: Any,
) -> None:
    stage = make_stage()
    holder = running()
    lock_module.handle(table, sfn, event(lock_module, "acquire", stage, holder))

    result = lock_module.handle(table, sfn, event(lock_module, "release", stage, holder))

    assert result == {"acquired": False}
    assert locks.holder_of(table, stage.account, stage.stack) is None


def test_lock_handle_release_by_other_reports_still_held(
    lock_module: Any,
    table: Any,
    sfn: Any,
    running: Callable[[], str],
    make_stage: Callable[..., Stage],
    fake_clock: Any,
) -> None:
    stage = make_stage()
    lock_module.handle(table, sfn, event(lock_module, "acquire", stage, running()))

    result = lock_module.handle(table, sfn, event(lock_module, "release", stage, running()))

    assert result == {"acquired": True}


def test_lock_handle_waiting_since_carried_between_polls(
    lock_module: Any,
    table: Any,
    sfn: Any,
    running: Callable[[], str],
    make_stage: Callable[..., Stage],
    fake_clock: Any,
) -> None:
    stage = make_stage("deploy_main.json", 1)
    lock_module.handle(table, sfn, event(lock_module, "acquire", stage, running()))
    waiter = running()
    first = lock_module.handle(table, sfn, event(lock_module, "acquire", stage, waiter))
    fake_clock.advance(30)

    again = lock_module.handle(table, sfn, event(lock_module, "acquire", stage, waiter, first))

    assert again["acquired"] is False
    assert again["waiting_since"] == first["waiting_since"]
    assert again["superseded"] is False  # prod is never superseded
