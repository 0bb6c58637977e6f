"""The orchestrator's table: deployment records, pending approvals, locks.

One DynamoDB table, keys ``pk``/``sk``:

=====================================  ==========================================
``APP#<app>`` / ``DEPLOY#<ts>#<stage>``  one record per stage outcome (history)
``STACK#<account>#<stack>`` / ``LATEST``  the last deployment of a stack (reviews, timing)
``APPROVAL#<app>#<pipeline>`` / ``<stage>``  a waiting approval and its task token
``LOCK#<account>#<stack>`` / ``LOCK``      who may change the stack now
=====================================  ==========================================
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stackrelay import clock


def clean(value: Any) -> Any:
    """DynamoDB wants Decimals, not floats, and no empty strings in keys."""
    if isinstance(value, float):
        return Decimal(str(round(value, 3)))
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """The reverse of :func:`clean`: Decimals back to int/float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def put_deployment(table: Any, record: dict[str, Any]) -> None:
    """Write one stage outcome and refresh the stack's LATEST item."""
    finished = record.get("finished_at") or clock.now()
    ts = clock.iso(finished)
    item = {
        "pk": f"APP#{record['app']}",
        "sk": f"DEPLOY#{ts}#{record['stage']}#{record.get('pipeline_id', '')}",
        "kind": "deployment",
        **record,
    }
    table.put_item(Item=clean(item))
    latest = {
        "pk": f"STACK#{record['account']}#{record['stack']}",
        "sk": "LATEST",
        "kind": "stack",
        **{
            k: record.get(k)
            for k in (
                "app",
                "stage",
                "account",
                "stack",
                "ref",
                "commit",
                "pipeline_id",
                "outcome",
                "stack_status",
                "url",
                "duration_seconds",
                "failing_since",
            )
        },
        "deployed_at": finished,
    }
    table.put_item(Item=clean(latest))


def latest_for_stack(table: Any, account: str, stack: str) -> dict[str, Any] | None:
    item = table.get_item(Key={"pk": f"STACK#{account}#{stack}", "sk": "LATEST"}).get("Item")
    return plain(item) if item else None


def history(
    table: Any, app: str, limit: int = 20, stage: str | None = None
) -> list[dict[str, Any]]:
    """The newest deployment records of ``app`` first (of one ``stage``, if given)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sk)",
        "ExpressionAttributeValues": {":pk": f"APP#{app}", ":sk": "DEPLOY#"},
        "ScanIndexForward": False,
    }
    if stage:
        kwargs["FilterExpression"] = "#stage = :stage"
        kwargs["ExpressionAttributeNames"] = {"#stage": "stage"}
        kwargs["ExpressionAttributeValues"][":stage"] = stage
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        page = table.query(Limit=limit, **kwargs)
        items.extend(plain(i) for i in page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items[:limit]


def deployments_since(table: Any, since: float, app: str | None = None) -> list[dict[str, Any]]:
    """Every deployment record finished at or after ``since`` (one app, or all apps)."""
    start = f"DEPLOY#{clock.iso(since)}"
    kwargs: dict[str, Any]
    if app:
        kwargs = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {":pk": f"APP#{app}", ":from": start, ":to": "DEPLOY#~"},
        }
        read = table.query
    else:
        kwargs = {
            "FilterExpression": "kind = :k AND finished_at >= :since",
            "ExpressionAttributeValues": {":k": "deployment", ":since": clean(float(since))},
        }
        read = table.scan
    items: list[dict[str, Any]] = []
    while True:
        page = read(**kwargs)
        items.extend(plain(i) for i in page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
