"""Stack completion by event: one place for the token/event handshake.

A stage's stack operation (ExecuteChangeSet, DeleteStack) is started with a
``ClientRequestToken`` that names it: :func:`request_token`. CloudFormation
puts that token on every "CloudFormation Stack Status Change" event of the
operation; the target account's rule forwards the terminal ones to the
orchestrator's completion bus, where the completion function receives them.

The workflow waits on a ``.waitForTaskToken`` task whose handler *arms* the
operation's record (stores the task token). The completion function *records*
the completion on the same record. Both are single atomic DynamoDB updates
that return the whole item, so whichever comes second sees both, in either
order: an event that arrives before the token is stored is kept and the armer
answers; a token stored before the event is answered by the completion
function. :func:`claim` makes sure one token is answered once (duplicated
events, both sides seeing each other). An event of an older operation has
another request token, so it never reaches the current wait. The event only
wakes the wait: the answer comes from the stack's real status, classified by
the same :func:`stackrelay.stackcheck.check` the polling path uses.

The task token is a secret: it lives in the table only, is never logged or
returned; the ``answered`` marker is a hash of it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from stackrelay import clock, parsing, sessions, stackcheck
from stackrelay.config import PollBounds
from stackrelay.errors import StackRelayError, Throttled
from stackrelay.records import clean, plain
from stackrelay.status import StackState, classify

CFN_SOURCE = "aws.cloudformation"
CFN_STACK_STATUS = "CloudFormation Stack Status Change"
TOKEN_PATTERN = r"^sr-(deploy|delete)-[0-9a-f]{40}$"
KEEP_SECONDS = 7 * 24 * 3600
"""How long a completion record stays before DynamoDB's TTL removes it."""
_GONE_TOKEN_ERRORS = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")
_STACK_ARN = re.compile(
    r"^arn:[a-z-]+:cloudformation:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"stack/(?P<stack>[A-Za-z][A-Za-z0-9-]*)/[A-Za-z0-9-]+$"
)


def request_token(
    execution: str, stack: str, operation: Literal["deploy", "delete"], ref: str
) -> str:
    """The ClientRequestToken of one stack operation of one execution.

    ``ref`` names the operation within the execution (the change set name, or
    "delete"). Deterministic, so a retried task sends the same token;
    ``[a-zA-Z0-9-]``, at most 128 characters, as CloudFormation requires.
    """
    digest = hashlib.sha256(f"{execution}|{stack}|{operation}|{ref}".encode()).hexdigest()
    return f"sr-{operation}-{digest[:40]}"


def key(account: str, region: str, stack: str, token: str) -> dict[str, str]:
    return {"pk": f"COMPLETION#{account}#{region}#{stack}", "sk": token}


@dataclass(frozen=True)
class StackEvent:
    """The facts of a forwarded stack status change that StackRelay acts on."""

    account: str
    region: str
    stack: str
    stack_id: str
    status: str
    token: str
    event_id: str


class IgnoredEvent(ValueError):
    """An event the completion function does not act on (and why)."""


def parse(event: dict[str, Any], stack_prefix: str) -> StackEvent:
    """Validate a forwarded event; raises :class:`IgnoredEvent` saying why not.

    ``account`` is the event's envelope account, which EventBridge sets for
    cross-account events (the sender cannot choose it); it must be the stack
    ARN's account too.
    """
    if event.get("source") != CFN_SOURCE or event.get("detail-type") != CFN_STACK_STATUS:
        raise IgnoredEvent(f"not a stack status change: {event.get('detail-type')!r}")
    detail = event.get("detail") or {}
    stack_id = str(detail.get("stack-id") or "")
    match = _STACK_ARN.match(stack_id)
    if match is None:
        raise IgnoredEvent("stack-id is not a CloudFormation stack ARN")
    if match["account"] != str(event.get("account")):
        raise IgnoredEvent("the stack's account is not the account that sent the event")
    if not match["stack"].startswith(stack_prefix):
        raise IgnoredEvent(f"stack {match['stack']} is not one of StackRelay's")
    status = str((detail.get("status-details") or {}).get("status") or "")
    try:
        state = classify(status)
    except ValueError as exc:
        raise IgnoredEvent(str(exc)) from exc
    if state in (StackState.IN_PROGRESS, StackState.REVIEW):
        raise IgnoredEvent(f"{status} does not end an operation")
    token = str(detail.get("client-request-token") or "")
    if not re.match(TOKEN_PATTERN, token):
        raise IgnoredEvent("the operation was not started by StackRelay (no request token)")
    return StackEvent(
        account=match["account"],
        region=match["region"],
        stack=match["stack"],
        stack_id=stack_id,
        status=status,
        token=token,
        event_id=str(event.get("id") or ""),
    )


def arm(
    table: Any,
    record_key: dict[str, str],
    *,
    task_token: str,
    wait: dict[str, Any],
) -> dict[str, Any]:
    """Store the wait's task token and what answering needs; returns the item.

    ``wait`` holds the polling check's input (stage, operation, started_at,
    expected_seconds). Re-arming (the fallback's next round) replaces the
    token: only the newest wait is answered.
    """
    now = clock.now()
    response = table.update_item(
        Key=record_key,
        UpdateExpression=(
            "SET #kind = :kind, task_token = :token, #wait = :wait, armed_at = :now, "
            "purge_at = :purge"
        ),
        ExpressionAttributeNames={"#kind": "kind", "#wait": "wait"},
        ExpressionAttributeValues=clean(
            {
                ":kind": "completion",
                ":token": task_token,
                ":wait": wait,
                ":now": now,
                ":purge": int(now + KEEP_SECONDS),
            }
        ),
        ReturnValues="ALL_NEW",
    )
    return plain(response["Attributes"])


def record(table: Any, record_key: dict[str, str], found: StackEvent) -> dict[str, Any]:
    """Note that the operation ended (from its event); returns the item."""
    now = clock.now()
    response = table.update_item(
        Key=record_key,
        UpdateExpression="SET #kind = :kind, completion = :completion, purge_at = :purge",
        ExpressionAttributeNames={"#kind": "kind"},
        ExpressionAttributeValues=clean(
            {
                ":kind": "completion",
                ":completion": {
                    "status": found.status,
                    "stack_id": found.stack_id,
                    "event_id": found.event_id,
                    "at": now,
                },
                ":purge": int(now + KEEP_SECONDS),
            }
        ),
        ReturnValues="ALL_NEW",
    )
    return plain(response["Attributes"])


def ready(item: dict[str, Any]) -> bool:
    """Both halves are there: a stored token and a recorded completion."""
    return bool(item.get("task_token")) and bool(item.get("completion"))


def token_mark(task_token: str) -> str:
    return hashlib.sha256(task_token.encode()).hexdigest()[:32]


def claim(table: Any, record_key: dict[str, str], task_token: str) -> bool:
    """True for exactly one caller per token: that caller answers it."""
    mark = token_mark(task_token)
    try:
        table.update_item(
            Key=record_key,
            UpdateExpression="SET answered = :mark",
            ConditionExpression="task_token = :token AND "
            "(attribute_not_exists(answered) OR answered <> :mark)",
            ExpressionAttributeValues={":mark": mark, ":token": task_token},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release(table: Any, record_key: dict[str, str], task_token: str) -> None:
    """Give a claim back (the answer could not be given now; a later try may)."""
    try:
        table.update_item(
            Key=record_key,
            UpdateExpression="REMOVE answered",
            ConditionExpression="answered = :mark",
            ExpressionAttributeValues={":mark": token_mark(task_token)},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise


def send_success(sfn: Any, task_token: str, output: str) -> bool:
    """SendTaskSuccess; False if the wait is already over (answered or timed out)."""
    try:
        sfn.send_task_success(taskToken=task_token, output=output)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _GONE_TOKEN_ERRORS:
            return False
        raise
    return True


def send_failure(sfn: Any, task_token: str, error: str, cause: str) -> bool:
    """SendTaskFailure with the domain error's name; False if the wait is over."""
    try:
        sfn.send_task_failure(taskToken=task_token, error=error, cause=cause[:32768])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _GONE_TOKEN_ERRORS:
            return False
        raise
    return True


def answer(
    table: Any,
    sfn: Any,
    record_key: dict[str, str],
    item: dict[str, Any],
    check: Callable[[dict[str, Any]], dict[str, Any]],
) -> str:
    """Answer the wait stored in ``item`` once, from the stack's real status.

    ``check(wait)`` is the polling path's check on the stored wait. Done:
    SendTaskSuccess with its result. A domain failure (StackRollback,
    StackNeedsRecovery, DeleteFailed): SendTaskFailure with the class name as
    error and a Lambda-shaped cause, exactly what a failed Check Stack task
    gives the ASL's Catch. Not done yet (the event was not this operation's
    end) or an AWS error: the claim is given back for a later event, the
    fallback poll or the Lambda retry. Returns what happened, for the log.
    """
    task_token = str(item["task_token"])
    if not claim(table, record_key, task_token):
        return "already answered"
    try:
        result = check(dict(item["wait"]))
    except Throttled:
        release(table, record_key, task_token)
        raise
    except StackRelayError as exc:
        cause = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)})
        sent = send_failure(sfn, task_token, type(exc).__name__, cause)
        return f"failed {type(exc).__name__}" if sent else "wait already over"
    except Exception:
        release(table, record_key, task_token)
        raise
    if not result.get("done"):
        release(table, record_key, task_token)
        return f"not done ({result.get('status')})"
    sent = send_success(sfn, task_token, json.dumps(result))
    return "succeeded" if sent else "wait already over"


def check_wait(wait: dict[str, Any], poll: PollBounds) -> dict[str, Any]:
    """The polling path's check, on a stored wait, through the stage's deploy role."""
    event = parsing.parse(stackcheck.CheckStackEvent, wait, "stored wait")
    return dict(stackcheck.check(sessions.cloudformation(event.stage), event, poll))
