"""Completion by event: request tokens, event parsing, the token/event handshake."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stackrelay import completion
from stackrelay.errors import StackRollback, Throttled
from stackrelay.plan import Stage

DEV = "111111111111"
STACK_ID = f"arn:aws:cloudformation:us-east-1:{DEV}:stack/sr-aws-news-dev/0a1b2c3d-4e5f"
TOKEN = completion.request_token("arn:exec:1", "sr-aws-news-dev", "deploy", "cs-1")


def stack_event(
    status: str = "UPDATE_COMPLETE",
    token: str = TOKEN,
    account: str = DEV,
    stack_id: str = STACK_ID,
    source: str = "aws.cloudformation",
    event_id: str = "e-1",
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudFormation Stack Status Change",
        "source": source,
        "account": account,
        "time": "2026-12-01T05:00:00Z",
        "region": "us-east-1",
        "resources": [stack_id],
        "detail": {
            "stack-id": stack_id,
            "status-details": {"status": status, "status-reason": ""},
            "client-request-token": token,
        },
    }


class Sfn:
    """send_task_success/failure, recording answers; ``gone`` answers TaskTimedOut."""

    def __init__(self, gone: bool = False) -> None:
        self.answers: list[tuple[str, str, Any]] = []
        self.gone = gone

    def _maybe_gone(self, name: str) -> None:
        if self.gone:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "x"}}, name)

    def send_task_success(self, taskToken: str, output: str) -> None:
        self._maybe_gone("SendTaskSuccess")
        self.answers.append(("success", taskToken, json.loads(output)))

    def send_task_failure(self, taskToken: str, error: str, cause: str) -> None:
        self._maybe_gone("SendTaskFailure")
        self.answers.append(("failure", taskToken, (error, json.loads(cause))))


def done_check(wait: dict[str, Any]) -> dict[str, Any]:
    return {"done": True, "status": "UPDATE_COMPLETE", "outputs": {"ApiUrl": "https://x"}}


def record_key() -> dict[str, str]:
    return completion.key(DEV, "us-east-1", "sr-aws-news-dev", TOKEN)


def wait_for(stage: Stage) -> dict[str, Any]:
    return {"stage": stage.to_dict(), "operation": "deploy", "started_at": 1.0}


def test_request_token_is_deterministic_valid_and_per_operation() -> None:
    again = completion.request_token("arn:exec:1", "sr-aws-news-dev", "deploy", "cs-1")
    other = completion.request_token("arn:exec:2", "sr-aws-news-dev", "deploy", "cs-1")
    delete = completion.request_token("arn:exec:1", "sr-aws-news-dev", "delete", "delete")

    assert again == TOKEN != other
    assert delete.startswith("sr-delete-")
    for token in (TOKEN, other, delete):
        assert re.fullmatch(r"[a-zA-Z0-9-]{1,128}", token)
        assert re.fullmatch(completion.TOKEN_PATTERN, token)


def test_parse_terminal_event_gives_stack_and_token() -> None:
    found = completion.parse(stack_event(), "sr-")

    assert (found.account, found.region, found.stack) == (DEV, "us-east-1", "sr-aws-news-dev")
    assert (found.status, found.token, found.stack_id) == ("UPDATE_COMPLETE", TOKEN, STACK_ID)


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (stack_event(status="UPDATE_IN_PROGRESS"), "does not end an operation"),
        (stack_event(status="REVIEW_IN_PROGRESS"), "does not end an operation"),
        (stack_event(status="NOT_A_STATUS"), "unknown CloudFormation stack status"),
        (stack_event(token=""), "not started by StackRelay"),
        (stack_event(token="Console-CreateStack-7f59"), "not started by StackRelay"),
        (stack_event(account="222222222222"), "not the account that sent the event"),
        (
            stack_event(stack_id=STACK_ID.replace("sr-aws-news-dev", "other-stack")),
            "not one of StackRelay's",
        ),
        (stack_event(stack_id="sr-aws-news-dev"), "not a CloudFormation stack ARN"),
        (stack_event(source="stackrelay"), "not a stack status change"),
    ],
)
def test_parse_ignores_events_it_must_not_act_on(event: dict[str, Any], why: str) -> None:
    with pytest.raises(completion.IgnoredEvent, match=why):
        completion.parse(event, "sr-")


def test_token_stored_first_then_event_answers_once(
    table: Any, make_stage: Callable[..., Stage]
) -> None:
    sfn = Sfn()
    armed = completion.arm(table, record_key(), task_token="tok-1", wait=wait_for(make_stage()))
    assert not completion.ready(armed)

    item = completion.record(table, record_key(), completion.parse(stack_event(), "sr-"))
    assert completion.ready(item)
    first = completion.answer(table, sfn, record_key(), item, done_check)
    # A duplicated event: recorded again, but the token was already answered.
    again = completion.record(table, record_key(), completion.parse(stack_event(), "sr-"))
    second = completion.answer(table, sfn, record_key(), again, done_check)

    assert (first, second) == ("succeeded", "already answered")
    assert [(kind, token) for kind, token, _ in sfn.answers] == [("success", "tok-1")]
    assert sfn.answers[0][2]["outputs"] == {"ApiUrl": "https://x"}


def test_event_before_token_is_kept_for_the_armer(
    table: Any, make_stage: Callable[..., Stage]
) -> None:
    sfn = Sfn()
    early = completion.record(table, record_key(), completion.parse(stack_event(), "sr-"))
    assert not completion.ready(early)

    item = completion.arm(table, record_key(), task_token="tok-1", wait=wait_for(make_stage()))

    assert completion.ready(item)
    assert completion.answer(table, sfn, record_key(), item, done_check) == "succeeded"
    assert [token for _, token, _ in sfn.answers] == ["tok-1"]


def test_event_of_an_older_operation_never_reaches_the_current_wait(
    table: Any, make_stage: Callable[..., Stage]
) -> None:
    completion.arm(table, record_key(), task_token="tok-1", wait=wait_for(make_stage()))
    older = completion.request_token("arn:exec:0", "sr-aws-news-dev", "deploy", "cs-0")
    found = completion.parse(stack_event(token=older), "sr-")

    item = completion.record(
        table, completion.key(found.account, found.region, found.stack, found.token), found
    )

    assert not completion.ready(item)  # recorded under its own operation, nobody waits there
    current = table.get_item(Key=record_key())["Item"]
    assert "completion" not in current


def test_rearmed_wait_answers_the_newest_token_only(
    table: Any, make_stage: Callable[..., Stage]
) -> None:
    sfn = Sfn()
    completion.arm(table, record_key(), task_token="tok-1", wait=wait_for(make_stage()))
    completion.arm(table, record_key(), task_token="tok-2", wait=wait_for(make_stage()))

    item = completion.record(table, record_key(), completion.parse(stack_event(), "sr-"))
    completion.answer(table, sfn, record_key(), item, done_check)

    assert [token for _, token, _ in sfn.answers] == ["tok-2"]


def test_failed_operation_answers_with_the_domain_error(
    table: Any, make_stage: Callable[..., Stage]
) -> None:
    sfn = Sfn()
    completion.arm(table, record_key(), task_token="tok-1", wait=wait_for(make_stage()))
    item = completion.record(
        table, record_key(), completion.parse(stack_event("UPDATE_ROLLBACK_COMPLETE"), "sr-")
    )

    def rolled_back(wait: dict[str, Any]) -> dict[str, Any]:
        raise StackRollback("sr-aws-news-dev rolled back. First failure: Table: boom")

    outcome = completion.answer(table, sfn, record_key(), item, rolled_back)

    assert outcome == "failed StackRollback"
    [(kind, token, (error, cause))] = sfn.answers
    assert (kind, token, error) == ("failure", "tok-1", "StackRollback")
    assert cause == {
        "errorType": "StackRollback",
        "errorMessage": "sr-aws-news-dev rolled back. First failure: Table: boom",
    }


def test_not_done_or_throttled_gives_the_claim_back(
    table: Any, make_stage: Callable[..., Stage]
) -> None:
    sfn = Sfn()
    completion.arm(table, record_key(), task_token="tok-1", wait=wait_for(make_stage()))
    item = completion.record(table, record_key(), completion.parse(stack_event(), "sr-"))

    def in_progress(wait: dict[str, Any]) -> dict[str, Any]:
        return {"done": False, "status": "UPDATE_IN_PROGRESS"}

    def throttled(wait: dict[str, Any]) -> dict[str, Any]:
        raise Throttled("DescribeStacks was throttled")

    assert completion.answer(table, sfn, record_key(), item, in_progress) == (
        "not done (UPDATE_IN_PROGRESS)"
    )
    with pytest.raises(Throttled):
        completion.answer(table, sfn, record_key(), item, throttled)
    assert completion.answer(table, sfn, record_key(), item, done_check) == "succeeded"
    assert len(sfn.answers) == 1


def test_answer_to_a_wait_that_already_timed_out_is_harmless(
    table: Any, make_stage: Callable[..., Stage]
) -> None:
    completion.arm(table, record_key(), task_token="tok-1", wait=wait_for(make_stage()))
    item = completion.record(table, record_key(), completion.parse(stack_event(), "sr-"))

    outcome = completion.answer(table, Sfn(gone=True), record_key(), item, done_check)

    assert outcome == "wait already over"


def test_record_never_holds_the_token_in_clear_outside_task_token(
    table: Any, make_stage: Callable[..., Stage]
) -> None:
    completion.arm(table, record_key(), task_token="secret-token", wait=wait_for(make_stage()))
    item = completion.record(table, record_key(), completion.parse(stack_event(), "sr-"))
    completion.answer(table, Sfn(), record_key(), item, done_check)

    stored = table.get_item(Key=record_key())["Item"]
    others = {k: v for k, v in stored.items() if k != "task_token"}
    assert "secret-token" not in json.dumps(others, default=str)
    assert stored["purge_at"] > 0
