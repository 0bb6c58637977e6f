"""The orchestrator's table: deployment records, pending approvals, locks.

One DynamoDB table, keys ``pk``/``sk``:

``APP#<app>`` / ``DEPLOY#<ts>#<target>#<pipeline>#<execution>``
    one record per target outcome (history, metrics)
``APP#<app>`` / ``RECORDED#<execution>#<target>#<outcome>``
    when that outcome was first recorded, so a retried Record rewrites its row
``STACK#<account>#<stack>`` / ``LATEST``
    the last deployment of a stack (reviews, timing)
``APPROVAL#<execution>`` / ``<target>``
    a waiting approval and its task token
``LOCK#<account>#<stack>`` / ``LOCK``
    who may change the stack now

A target is a stage in one region (``prod``, or ``prod.eu-west-1`` for a stage with
several regions). The same stack name lives in every region of a stage, so for a
stage with several regions the stack keys carry the region too
(``STACK#<account>#<region>#<stack>``, ``LOCK#<account>#<region>#<stack>``): see
``stack_key``. One-region stages keep the keys they had before waves.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from stackrelay import clock

RECORDED_KEEP_SECONDS = 7 * 86400
"""How long the first-recorded time of an outcome is kept (TTL): retries come within minutes."""


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


def stack_key(account: str, stack: str, region: str | None = None) -> str:
    """``<account>#<stack>``, or ``<account>#<region>#<stack>`` when ``region`` is given
    (a stage with several regions: ``plan.Stage.place``)."""
    return f"{account}#{region}#{stack}" if region else f"{account}#{stack}"


def place(record: dict[str, Any]) -> str | None:
    """The region that keys a record's stack: only for a target of a several-region stage."""
    target = record.get("target")
    return record.get("region") if target and target != record.get("stage") else None


def first_recorded(table: Any, record: dict[str, Any], finished: float) -> float:
    """When this execution first recorded this outcome of this target (``finished`` if now).

    Record Outcome is retried after a crash or a timeout that may follow its write; the
    retry must rewrite the same history row, not add a second one (metrics count rows).
    """
    execution = record.get("execution")
    if not execution:
        return finished
    target = record.get("target") or record["stage"]
    key = {
        "pk": f"APP#{record['app']}",
        "sk": f"RECORDED#{execution}#{target}#{record.get('outcome')}",
    }
    try:
        table.put_item(
            Item=clean(
                {**key, "finished_at": finished, "purge_at": int(finished) + RECORDED_KEEP_SECONDS}
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )
        return finished
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
    item = table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
    return float(item.get("finished_at", finished))


def put_deployment(table: Any, record: dict[str, Any]) -> None:
    """Write one stage outcome and refresh the stack's LATEST item (idempotent per
    execution, target and outcome: see :func:`first_recorded`)."""
    finished = first_recorded(table, record, record.get("finished_at") or clock.now())
    record = {**record, "finished_at": finished}
    ts = clock.iso(finished)
    target = record.get("target") or record["stage"]
    item = {
        "pk": f"APP#{record['app']}",
        "sk": f"DEPLOY#{ts}#{target}#{record.get('pipeline_id', '')}#{record.get('execution', '')}",
        "kind": "deployment",
        **record,
    }
    table.put_item(Item=clean(item))
    latest = {
        "pk": f"STACK#{stack_key(record['account'], record['stack'], place(record))}",
        "sk": "LATEST",
        "kind": "stack",
        **{
            k: record.get(k)
            for k in (
                "app",
                "stage",
                "target",
                "trust",
                "account",
                "region",
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


def latest_for_stack(
    table: Any, account: str, stack: str, region: str | None = None
) -> dict[str, Any] | None:
    key = {"pk": f"STACK#{stack_key(account, stack, region)}", "sk": "LATEST"}
    item = table.get_item(Key=key).get("Item")
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
