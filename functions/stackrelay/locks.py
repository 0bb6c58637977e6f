"""One lock per stack, so two executions never change one stack at once.

The lock is a conditional write in the orchestrator's table. A holder that
died (its execution is no longer RUNNING) or whose lease ran out loses the
lock to the next asker. For review stacks, a waiter that a newer waiter has
overtaken gives up: the newer commit supersedes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from botocore.exceptions import ClientError

from stackrelay import clock
from stackrelay.errors import StackBusy
from stackrelay.records import clean, plain, stack_key

LOCK_POLL_SECONDS = 30


class Acquired(TypedDict):
    """What Acquire Stack Lock returns (the ASL's Returns names each key)."""

    acquired: bool
    superseded: bool
    wait_seconds: int
    waiting_since: float
    holder: str | None


@dataclass(frozen=True)
class LockRequest:
    account: str
    stack: str
    holder: str
    """The execution ARN asking for the lock."""
    commit: str
    review: bool
    lease_seconds: int
    max_wait_seconds: int
    waiting_since: float | None = None
    region: str | None = None
    """Given for a stage with several regions (``plan.Stage.place``): one lock per region."""


def _key(account: str, stack: str, sk: str, region: str | None = None) -> dict[str, str]:
    return {"pk": f"LOCK#{stack_key(account, stack, region)}", "sk": sk}


def _conditional_put(
    table: Any, item: dict[str, Any], condition: str, values: dict[str, Any]
) -> bool:
    try:
        table.put_item(
            Item=clean(item), ConditionExpression=condition, ExpressionAttributeValues=clean(values)
        )
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise


def _alive(sfn: Any, execution_arn: str) -> bool:
    try:
        return sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            return False
        raise


def _mark_newest(table: Any, request: LockRequest, since: float) -> dict[str, Any]:
    """Put this request's mark on the stack if it is the newest; the newest mark.

    A first ask (no ``waiting_since`` yet) arrived after every mark already
    there, so it wins ties on the simulated clock; a later look keeps its own
    mark, or takes it back from an older one, but never from a newer one.
    """
    key = _key(request.account, request.stack, "WAITER", request.region)
    mark = {
        **key,
        "kind": "lock-waiter",
        "holder": request.holder,
        "commit": request.commit,
        "waiting_since": since,
    }
    if request.waiting_since is None:
        _conditional_put(
            table, mark, "attribute_not_exists(pk) OR waiting_since <= :since", {":since": since}
        )
    else:
        _conditional_put(
            table,
            mark,
            "attribute_not_exists(pk) OR holder = :me OR waiting_since < :since",
            {":since": since, ":me": request.holder},
        )
    return plain(table.get_item(Key=key, ConsistentRead=True).get("Item") or {})


def acquire(table: Any, sfn: Any, request: LockRequest) -> Acquired:
    """Take the lock, or say how long to wait, or that this waiter is superseded.

    Every ask marks the stack with the newest request. For a review stack a
    request that is no longer the newest gives up (a newer commit supersedes
    it) unless it already holds the lock: an older waiter never takes a free
    lock from under a newer one.
    """
    now = clock.now()
    since = request.waiting_since if request.waiting_since is not None else now
    lock = {
        **_key(request.account, request.stack, "LOCK", request.region),
        "kind": "lock",
        "holder": request.holder,
        "commit": request.commit,
        "acquired_at": now,
        "expires_at": now + request.lease_seconds,
    }
    result: Acquired = {
        "acquired": True,
        "superseded": False,
        "wait_seconds": 0,
        "waiting_since": since,
        "holder": request.holder,
    }
    mine = {":me": request.holder}
    # Already mine (a retried task): keep it, whoever is waiting.
    if _conditional_put(table, lock, "holder = :me", mine):
        return result
    newest = _mark_newest(table, request, since)
    current = holder_of(table, request.account, request.stack) or {}
    holder = current.get("holder")
    if request.review and newest.get("holder") not in (None, request.holder):
        return {**result, "acquired": False, "superseded": True, "holder": holder}
    free = "attribute_not_exists(pk) OR expires_at < :now"
    if _conditional_put(table, lock, free, {":now": now}):
        return result
    current = holder_of(table, request.account, request.stack) or {}
    holder = current.get("holder")
    dead = holder is not None and not _alive(sfn, holder)
    if dead and _conditional_put(table, lock, "holder = :old", {":old": holder}):
        return result
    if now - since > request.max_wait_seconds:
        raise StackBusy(
            f"{request.stack} has been locked by {holder} for longer than "
            f"{request.max_wait_seconds // 60} minutes. Wait for that execution to finish "
            "or stop it in the Step Functions console, then run the pipeline again."
        )
    return {**result, "acquired": False, "wait_seconds": LOCK_POLL_SECONDS, "holder": holder}


def release(table: Any, account: str, stack: str, holder: str, region: str | None = None) -> bool:
    """Release the lock if ``holder`` has it; True if it did."""
    released = True
    for sk in ("LOCK", "WAITER"):
        try:
            table.delete_item(
                Key=_key(account, stack, sk, region),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": holder},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            released = released and sk != "LOCK"
    return released


def holder_of(
    table: Any, account: str, stack: str, region: str | None = None
) -> dict[str, Any] | None:
    key = _key(account, stack, "LOCK", region)
    item = table.get_item(Key=key, ConsistentRead=True).get("Item")
    return plain(item) if item else None


def release_held_by(table: Any, holder: str) -> list[str]:
    """Release every lock and waiter mark ``holder`` still has; the keys released.

    For executions that ended without reaching their Release state (stopped,
    timed out, or failed outside a Catch): the lock janitor calls this when
    Step Functions reports the end.
    """
    released: list[str] = []
    kwargs: dict[str, Any] = {
        "FilterExpression": "begins_with(pk, :lock) AND holder = :me",
        "ExpressionAttributeValues": {":lock": "LOCK#", ":me": holder},
        "ProjectionExpression": "pk, sk",
    }
    while True:
        page = table.scan(**kwargs)
        for item in page.get("Items", []):
            try:
                table.delete_item(
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    ConditionExpression="holder = :me",
                    ExpressionAttributeValues={":me": holder},
                )
                released.append(f"{item['pk']}/{item['sk']}")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
        if not page.get("LastEvaluatedKey"):
            return released
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
