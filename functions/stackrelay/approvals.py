"""Pending approvals: the task token, kept in the table and never shown.

An approval is keyed by app, pipeline id and stage, and bound to one change
set by its id and digest. Only :func:`token_of` reads the token; every view
that leaves this module goes through :func:`public`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from stackrelay import clock
from stackrelay.errors import ApprovalAlreadyDecided, ApprovalExpired, ApprovalNotFound
from stackrelay.records import clean, plain

PENDING = "pending"
DECIDED = ("approved", "rejected", "expired", "stale")


def key(app: str, pipeline_id: str, stage: str) -> dict[str, str]:
    return {"pk": f"APPROVAL#{app}#{pipeline_id}", "sk": stage}


def store(
    table: Any,
    *,
    app: str,
    pipeline_id: str,
    stage: str,
    token: str,
    timeout_seconds: int,
    details: dict[str, Any],
) -> dict[str, Any]:
    """Save a waiting approval; returns its public view."""
    now = clock.now()
    item = {
        **key(app, pipeline_id, stage),
        "kind": "approval",
        "app": app,
        "pipeline_id": pipeline_id,
        "stage": stage,
        "status": PENDING,
        "token": token,
        "requested_at": now,
        "expires_at": now + timeout_seconds,
        **details,
    }
    table.put_item(Item=clean(item))
    return public(item)


def public(item: dict[str, Any]) -> dict[str, Any]:
    """The approval without its token: safe to log, print and return."""
    return {k: v for k, v in plain(item).items() if k not in ("token", "pk", "sk")}


def get(table: Any, app: str, pipeline_id: str, stage: str) -> dict[str, Any]:
    item = table.get_item(Key=key(app, pipeline_id, stage), ConsistentRead=True).get("Item")
    if not item:
        raise ApprovalNotFound(
            f"No approval for {app} pipeline {pipeline_id} ({stage}). "
            "`stackrelay pending` lists the approvals that are waiting."
        )
    return plain(item)


def check_open(item: dict[str, Any]) -> None:
    """Raise unless the approval can still be decided."""
    where = f"{item['app']} pipeline {item['pipeline_id']} ({item['stage']})"
    if item["status"] != PENDING:
        by = f" by {item['decided_by']}" if item.get("decided_by") else ""
        raise ApprovalAlreadyDecided(f"The approval for {where} was already {item['status']}{by}.")
    if clock.now() >= item["expires_at"]:
        raise ApprovalExpired(
            f"The approval for {where} expired at {clock.iso(item['expires_at'])}. "
            "Run the pipeline again to review a new change set."
        )


def token_of(item: dict[str, Any]) -> str:
    return str(item["token"])


def settle(
    table: Any,
    item: dict[str, Any],
    status: str,
    *,
    by: str | None = None,
    reason: str | None = None,
    job_url: str | None = None,
) -> dict[str, Any]:
    """Move a pending approval to ``status`` once; a second decision fails."""
    now = clock.now()
    values = {":s": status, ":p": PENDING, ":t": clean(now)}
    update = "SET #s = :s, decided_at = :t REMOVE #tok"
    if by is not None:
        update = update.replace("REMOVE", ", decided_by = :b REMOVE")
        values[":b"] = by
    if reason is not None:
        update = update.replace("REMOVE", ", decision_reason = :r REMOVE")
        values[":r"] = reason
    if job_url is not None:
        update = update.replace("REMOVE", ", decision_job_url = :j REMOVE")
        values[":j"] = job_url
    try:
        table.update_item(
            Key=key(item["app"], item["pipeline_id"], item["stage"]),
            UpdateExpression=update,
            ConditionExpression="#s = :p",
            ExpressionAttributeNames={"#s": "status", "#tok": "token"},
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            current = get(table, item["app"], item["pipeline_id"], item["stage"])
            raise ApprovalAlreadyDecided(
                f"The approval for {item['app']} pipeline {item['pipeline_id']} was already "
                f"{current['status']}."
            ) from None
        raise
    decided = {
        **item,
        "status": status,
        "decided_at": now,
        "decided_by": by,
        "decision_reason": reason,
        "decision_job_url": job_url,
    }
    return public(decided)


def waiting(table: Any, app: str | None = None) -> list[dict[str, Any]]:
    """Pending approvals (newest first), optionally for one app."""
    expression = "kind = :k AND #s = :p"
    values: dict[str, Any] = {":k": "approval", ":p": PENDING}
    if app:
        expression += " AND app = :a"
        values[":a"] = app
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "FilterExpression": expression,
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": values,
    }
    while True:
        page = table.scan(**kwargs)
        items.extend(public(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    now = clock.now()
    return sorted((i for i in items if i["expires_at"] > now), key=lambda i: -i["requested_at"])
