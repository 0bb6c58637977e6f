"""locks: one holder per stack; dead or expired holders lose it; review waiters give way."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from stackrelay import locks
from stackrelay.errors import StackBusy
from stackrelay.locks import LOCK_POLL_SECONDS, LockRequest

ACCOUNT = "111111111111"
STACK = "sr-aws-news-review-feature-login-1a2b3c4d"
LEASE = 6 * 3600
MAX_WAIT = 3600


@pytest.fixture
def sfn(aws: None) -> Any:
    return boto3.client("stepfunctions", region_name="us-east-1")


@pytest.fixture
def start_execution(sfn: Any) -> Callable[[], str]:
    """Start a RUNNING execution (moto keeps it RUNNING until stopped)."""
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = sfn.create_state_machine(
        name="stackrelay-deploy",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=role,
    )["stateMachineArn"]

    def start() -> str:
        return sfn.start_execution(stateMachineArn=machine)["executionArn"]

    return start


def ask(
    holder: str,
    *,
    review: bool = True,
    waiting_since: float | None = None,
    commit: str = "abc1234",
    lease: int = LEASE,
) -> LockRequest:
    return LockRequest(
        account=ACCOUNT,
        stack=STACK,
        holder=holder,
        commit=commit,
        review=review,
        lease_seconds=lease,
        max_wait_seconds=MAX_WAIT,
        waiting_since=waiting_since,
    )


def test_acquire_free_stack_acquired(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a = start_execution()

    result = locks.acquire(table, sfn, ask(a))

    assert result == {
        "acquired": True,
        "superseded": False,
        "wait_seconds": 0,
        "waiting_since": fake_clock.t,
        "holder": a,
    }
    held = locks.holder_of(table, ACCOUNT, STACK)
    assert held is not None
    assert held["holder"] == a
    assert held["expires_at"] == fake_clock.t + LEASE


def test_acquire_same_holder_again_acquired(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a = start_execution()
    locks.acquire(table, sfn, ask(a))

    assert locks.acquire(table, sfn, ask(a))["acquired"] is True


def test_acquire_held_by_running_execution_second_waits(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b = start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a))

    result = locks.acquire(table, sfn, ask(b))

    assert result["acquired"] is False
    assert result["superseded"] is False
    assert result["wait_seconds"] == LOCK_POLL_SECONDS
    assert result["holder"] == a
    assert result["waiting_since"] == fake_clock.t
    assert locks.holder_of(table, ACCOUNT, STACK)["holder"] == a  # type: ignore[index]


def test_release_then_waiter_acquires(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b = start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a))
    first = locks.acquire(table, sfn, ask(b))
    fake_clock.advance(LOCK_POLL_SECONDS)

    assert locks.release(table, ACCOUNT, STACK, a) is True
    result = locks.acquire(table, sfn, ask(b, waiting_since=first["waiting_since"]))

    assert result["acquired"] is True
    assert locks.holder_of(table, ACCOUNT, STACK)["holder"] == b  # type: ignore[index]


def test_release_by_non_holder_keeps_lock(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b = start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a))

    assert locks.release(table, ACCOUNT, STACK, b) is False
    assert locks.holder_of(table, ACCOUNT, STACK)["holder"] == a  # type: ignore[index]


def test_release_free_stack_returns_false(table: Any) -> None:
    assert locks.release(table, ACCOUNT, STACK, "arn:nobody") is False
    assert locks.holder_of(table, ACCOUNT, STACK) is None


def test_release_holder_also_clears_its_waiter_mark(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b = start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a))
    since = locks.acquire(table, sfn, ask(b))["waiting_since"]
    locks.release(table, ACCOUNT, STACK, a)
    locks.acquire(table, sfn, ask(b, waiting_since=since))

    assert locks.release(table, ACCOUNT, STACK, b) is True

    assert table.get_item(Key={"pk": f"LOCK#{ACCOUNT}#{STACK}", "sk": "WAITER"}).get("Item") is None


def test_acquire_holder_execution_stopped_taken_over(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b = start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a))
    sfn.stop_execution(executionArn=a)

    result = locks.acquire(table, sfn, ask(b))

    assert result["acquired"] is True
    assert locks.holder_of(table, ACCOUNT, STACK)["holder"] == b  # type: ignore[index]


@pytest.mark.parametrize(
    "dead",
    [
        "arn:aws:states:us-east-1:123456789012:execution:stackrelay-deploy:gone",
        "not-an-arn",
    ],
)
def test_acquire_holder_execution_does_not_exist_taken_over(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any, dead: str
) -> None:
    locks.acquire(table, sfn, ask(dead))
    b = start_execution()

    result = locks.acquire(table, sfn, ask(b))

    assert result["acquired"] is True
    assert locks.holder_of(table, ACCOUNT, STACK)["holder"] == b  # type: ignore[index]


def test_acquire_lease_expired_taken_over_from_live_holder(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b = start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a, lease=600))
    fake_clock.advance(601)

    result = locks.acquire(table, sfn, ask(b))

    assert result["acquired"] is True
    assert locks.holder_of(table, ACCOUNT, STACK)["holder"] == b  # type: ignore[index]


def test_acquire_lease_not_yet_expired_waits(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b = start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a, lease=600))
    fake_clock.advance(599)

    assert locks.acquire(table, sfn, ask(b))["acquired"] is False


def test_acquire_review_older_waiter_superseded_by_newer(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    # Given A holds the lock and B waits for it
    a, b, c = start_execution(), start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a, commit="aaa1111"))
    b_since = locks.acquire(table, sfn, ask(b, commit="bbb2222"))["waiting_since"]
    fake_clock.advance(5)
    # When C (a newer commit) starts waiting too
    c_first = locks.acquire(table, sfn, ask(c, commit="ccc3333"))
    fake_clock.advance(LOCK_POLL_SECONDS)

    # Then B gives up at its next look, and C keeps waiting
    b_again = locks.acquire(table, sfn, ask(b, commit="bbb2222", waiting_since=b_since))
    c_again = locks.acquire(
        table, sfn, ask(c, commit="ccc3333", waiting_since=c_first["waiting_since"])
    )

    assert b_again["acquired"] is False
    assert b_again["superseded"] is True
    assert b_again["holder"] == a
    assert c_again["acquired"] is False
    assert c_again["superseded"] is False
    assert c_again["wait_seconds"] == LOCK_POLL_SECONDS


def test_acquire_non_review_older_waiter_not_superseded(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b, c = start_execution(), start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a, review=False))
    b_since = locks.acquire(table, sfn, ask(b, review=False))["waiting_since"]
    fake_clock.advance(5)
    locks.acquire(table, sfn, ask(c, review=False))
    fake_clock.advance(LOCK_POLL_SECONDS)

    b_again = locks.acquire(table, sfn, ask(b, review=False, waiting_since=b_since))

    assert b_again["superseded"] is False
    assert b_again["acquired"] is False
    assert b_again["wait_seconds"] == LOCK_POLL_SECONDS


def test_acquire_waited_longer_than_max_raises_stack_busy(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b = start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a))
    since = locks.acquire(table, sfn, ask(b))["waiting_since"]
    fake_clock.advance(MAX_WAIT + 1)

    with pytest.raises(StackBusy) as caught:
        locks.acquire(table, sfn, ask(b, waiting_since=since))

    assert a in str(caught.value)
    assert "60 minutes" in str(caught.value)
    assert STACK in str(caught.value)


def test_acquire_waited_exactly_max_still_waits(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b = start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a))
    since = locks.acquire(table, sfn, ask(b))["waiting_since"]
    fake_clock.advance(MAX_WAIT)

    assert locks.acquire(table, sfn, ask(b, waiting_since=since))["wait_seconds"] == 30


def test_acquire_other_stack_independent(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    a, b = start_execution(), start_execution()
    locks.acquire(table, sfn, ask(a))
    other = LockRequest(
        account="222222222222",
        stack=STACK,
        holder=b,
        commit="c",
        review=True,
        lease_seconds=LEASE,
        max_wait_seconds=MAX_WAIT,
    )

    assert locks.acquire(table, sfn, other)["acquired"] is True


class DeniedSfn:
    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeExecution"
        )


def test_acquire_holder_status_unreadable_error_propagates(table: Any, fake_clock: Any) -> None:
    locks.acquire(table, DeniedSfn(), ask("arn:a"))

    with pytest.raises(ClientError, match="AccessDeniedException"):
        locks.acquire(table, DeniedSfn(), ask("arn:b"))

    assert locks.holder_of(table, ACCOUNT, STACK)["holder"] == "arn:a"  # type: ignore[index]


def test_acquire_same_stack_other_region_of_a_wave_independent(
    table: Any, sfn: Any, start_execution: Callable[[], str], fake_clock: Any
) -> None:
    # One stack name in two regions of one stage: each region has its own lock.
    a, b = start_execution(), start_execution()
    east = dataclasses.replace(ask(a, review=False), region="us-east-1")
    west = dataclasses.replace(ask(b, review=False), region="eu-west-1")

    assert locks.acquire(table, sfn, east)["acquired"] is True
    assert locks.acquire(table, sfn, west)["acquired"] is True
    assert locks.holder_of(table, ACCOUNT, STACK, "eu-west-1")["holder"] == b
    assert locks.release(table, ACCOUNT, STACK, b, "eu-west-1") is True
    assert locks.holder_of(table, ACCOUNT, STACK, "us-east-1")["holder"] == a
