"""Pending approvals: the task token, kept in the table and never shown.

One approval per waiting execution and stage (``APPROVAL#<execution>`` /
``<stage>``), bound to one change set by its id and digest. Every write is
conditional, so an approval is never overwritten: not by another execution
(the key is the execution, not a pipeline id a caller could name), not by a
second decision.

A decision goes ``pending`` -> ``deciding`` (who, what, the digest they saw;
the token stays) -> Step Functions is answered -> ``approved``/``rejected``
(the token is removed). If the answer fails (throttled, the function dies),
the item stays ``deciding`` with its token and the same decision can be sent
again (idempotent), so a decision is never lost. Only :func:`token_of` reads
the token; every view that leaves this module goes through :func:`public`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from stackrelay import clock
from stackrelay.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    ApproverNotAllowed,
    InvalidInput,
    SummaryMismatch,
)
from stackrelay.records import clean, plain

PENDING = "pending"
DECIDING = "deciding"
DECIDED = ("approved", "rejected", "expired", "stale")
OPEN = (PENDING, DECIDING)


def may_decide(caller: Any) -> bool:
    """Only a job on a protected branch decides (the release pipeline's approve job).

    With the app's project checked first (:func:`stackrelay.registry.check`), this
    is what IAM cannot check: the role's trust pins the branch name, this pins
    GitLab's ``ref_protected`` claim.
    """
    return bool(caller.ref_protected and caller.ref_type == "branch")


def check_decision(item: dict[str, Any], caller: Any, action: str, digest: str | None) -> None:
    """May ``caller`` decide (``approve``/``reject``) ``item`` now, having been shown
    ``digest``? Raises the domain error that says why not; returns when it may.

    The project was checked before the approval was found (registry.check). Order
    matters: who may decide first (says nothing of the approval), then what was shown,
    then whether it is still open (an expired one is settled by the caller).
    """
    if not may_decide(caller):
        raise ApproverNotAllowed(
            f"{caller.describe()} may not decide: approvals come only from a job on a "
            "protected branch of the app's project (the approve job of the release "
            "pipeline). Nothing was decided."
        )
    if action == "approve" and digest is None:
        raise InvalidInput(
            "approve needs the digest of the change summary you were shown (digest); "
            "`stackrelay approve` shows it and sends it."
        )
    if digest is not None and digest != item["digest"]:
        raise SummaryMismatch(
            f"The {item['stage']} change set waiting for {item['app']} is not the one whose "
            "summary was shown (digests differ). Nothing was decided: run approve again "
            "and review what it shows."
        )
    check_open(item)


def needs_stale_check(item: dict[str, Any]) -> bool:
    """Must the change set be checked again before this decision is sent?

    Not for a retry of a decision whose answer may already have reached Step
    Functions (``deciding``): the change set may be executing by now.
    """
    return bool(item["status"] != DECIDING)


def key(execution: str, stage: str) -> dict[str, str]:
    return {"pk": f"APPROVAL#{execution}", "sk": stage}


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def store(
    table: Any,
    *,
    execution: str,
    app: str,
    pipeline_id: str,
    stage: str,
    token: str,
    timeout_seconds: int,
    details: dict[str, Any],
) -> dict[str, Any]:
    """Save a waiting approval; returns its public view.

    Only a retry of the same task (same execution, stage and change set, still
    pending) may replace the token: Step Functions waits on the newest one.
    """
    now = clock.now()
    item = {
        **key(execution, stage),
        "kind": "approval",
        "execution": execution,
        "app": app,
        "pipeline_id": pipeline_id,
        "stage": stage,
        "status": PENDING,
        "token": token,
        "requested_at": now,
        "expires_at": now + timeout_seconds,
        **details,
    }
    try:
        table.put_item(
            Item=clean(item),
            ConditionExpression="attribute_not_exists(pk) OR (#s = :p AND change_set_id = :cs)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": PENDING, ":cs": details.get("change_set_id")},
        )
    except ClientError as exc:
        if _conditional_failed(exc):
            raise ApprovalAlreadyDecided(
                f"Execution {execution} already has a {stage} approval that is not this "
                "change set's or was decided; it is never overwritten."
            ) from None
        raise
    return public(item)


def public(item: dict[str, Any]) -> dict[str, Any]:
    """The approval without its token: safe to log, print and return."""
    return {k: v for k, v in plain(item).items() if k not in ("token", "pk", "sk")}


def _where(item: dict[str, Any]) -> str:
    return f"{item['app']} pipeline {item['pipeline_id']} ({item['stage']}, {item['execution']})"


def get(table: Any, execution: str, stage: str) -> dict[str, Any]:
    item = table.get_item(Key=key(execution, stage), ConsistentRead=True).get("Item")
    if not item:
        raise ApprovalNotFound(
            f"No {stage} approval for execution {execution}. "
            "`stackrelay pending` lists the approvals that are waiting."
        )
    return dict(plain(item))


def _one(every: list[dict[str, Any]], where: str, stage: str | None) -> dict[str, Any]:
    """The one open approval of ``every``; with none open, the newest decided one (so
    a second decision says who decided)."""
    what = f"{stage} approval" if stage else "approval"
    found = [i for i in every if i["status"] in OPEN]
    if not found and every:
        return max(every, key=lambda i: i["requested_at"])
    if not found:
        raise ApprovalNotFound(
            f"No {what} is waiting for {where}. "
            "`stackrelay pending` lists the approvals that are waiting."
        )
    waves = {(i["execution"], i.get("wave")) for i in found}
    if len(found) > 1 and len(waves) == 1 and None not in next(iter(waves)):
        # One stage in several regions waits once per region: decide them one by one.
        return min(found, key=lambda i: i["stage"])
    if len(found) > 1:
        stages = sorted({i["stage"] for i in found})
        if stage is None and len(stages) > 1:
            raise InvalidInput(
                f"{where} has approvals waiting in {', '.join(stages)}: name one with --stage."
            )
        names = ", ".join(sorted(i["execution"] for i in found))
        raise InvalidInput(
            f"{where} has {len(found)} {what}s waiting ({names}): name one with --execution."
        )
    return found[0]


def find(table: Any, app: str, pipeline_id: str, stage: str | None = None) -> dict[str, Any]:
    """The one open approval of ``app``'s pipeline (by pipeline: CI's view), of
    ``stage`` (a target, or a stage whose regions each wait) or of whichever stage waits."""
    expression = "kind = :k AND app = :a AND pipeline_id = :pl"
    values = {":k": "approval", ":a": app, ":pl": pipeline_id}
    if stage is not None:
        expression += " AND (sk = :st OR wave = :st)"
        values[":st"] = stage
    return _one(_scan(table, expression, values), f"{app} pipeline {pipeline_id}", stage)


def of_execution(table: Any, execution: str, stage: str | None = None) -> dict[str, Any]:
    """The approval of ``execution`` in ``stage`` (a target, or a stage whose regions
    each wait), or the one its execution waits on."""
    if stage is not None:
        try:
            return get(table, execution, stage)
        except ApprovalNotFound:
            regions = [i for i in _of(table, execution) if i.get("wave") == stage]
            if not regions:
                raise
            return _one(regions, f"execution {execution}", stage)
    return _one(_of(table, execution), f"execution {execution}", None)


def _of(table: Any, execution: str) -> list[dict[str, Any]]:
    """Every approval of ``execution``."""
    every: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": key(execution, "")["pk"]},
        "ConsistentRead": True,
    }
    while True:
        page = table.query(**kwargs)
        every.extend(plain(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return every
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def check_open(item: dict[str, Any]) -> None:
    """Raise unless the approval can still be decided."""
    if item["status"] not in OPEN:
        by = f" by {item['decided_by']}" if item.get("decided_by") else ""
        raise ApprovalAlreadyDecided(
            f"The approval for {_where(item)} was already {item['status']}{by}."
        )
    if clock.now() >= item["expires_at"]:
        raise ApprovalExpired(
            f"The approval for {_where(item)} expired at {clock.iso(item['expires_at'])}. "
            "Run the pipeline again to review a new change set."
        )


def token_of(item: dict[str, Any]) -> str:
    return str(item["token"])


def claim(
    table: Any,
    item: dict[str, Any],
    decision: str,
    *,
    by: str,
    digest: str,
    reason: str | None,
    job_url: str | None,
) -> dict[str, Any]:
    """pending -> deciding, once; the same decision by the same person may repeat.

    The token stays until Step Functions has the answer (:func:`settle`).
    """
    values: dict[str, Any] = {
        ":p": PENDING,
        ":d": DECIDING,
        ":decision": decision,
        ":by": by,
        ":digest": digest,
        ":t": clean(clock.now()),
    }
    update = (
        "SET #s = :d, #dec = :decision, decided_by = :by, decided_digest = :digest, claimed_at = :t"
    )
    for name, value in (("decision_reason", reason), ("decision_job_url", job_url)):
        if value is not None:
            update += f", {name} = :{name}"
            values[f":{name}"] = value
    try:
        table.update_item(
            Key=key(item["execution"], item["stage"]),
            UpdateExpression=update,
            ConditionExpression=(
                "#s = :p OR (#s = :d AND #dec = :decision AND decided_by = :by "
                "AND decided_digest = :digest)"
            ),
            ExpressionAttributeNames={"#s": "status", "#dec": "decision"},
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if _conditional_failed(exc):
            current = get(table, item["execution"], item["stage"])
            state = current["status"]
            if state == DECIDING:
                state = f"being {current.get('decision')}"
            by_whom = f" by {current['decided_by']}" if current.get("decided_by") else ""
            raise ApprovalAlreadyDecided(
                f"The approval for {_where(item)} was already {state}{by_whom}."
            ) from None
        raise
    return get(table, item["execution"], item["stage"])


def settle(
    table: Any,
    item: dict[str, Any],
    status: str,
    *,
    by: str | None = None,
    reason: str | None = None,
    job_url: str | None = None,
) -> dict[str, Any]:
    """Move an open approval to ``status`` (removing its token) once."""
    now = clock.now()
    values: dict[str, Any] = {":s": status, ":p": PENDING, ":d": DECIDING, ":t": clean(now)}
    update = "SET #s = :s, decided_at = :t"
    for name, value in (
        ("decided_by", by),
        ("decision_reason", reason),
        ("decision_job_url", job_url),
    ):
        if value is not None:
            update += f", {name} = :{name}"
            values[f":{name}"] = value
    try:
        table.update_item(
            Key=key(item["execution"], item["stage"]),
            UpdateExpression=update + " REMOVE #tok",
            ConditionExpression="#s IN (:p, :d)",
            ExpressionAttributeNames={"#s": "status", "#tok": "token"},
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if _conditional_failed(exc):
            current = get(table, item["execution"], item["stage"])
            raise ApprovalAlreadyDecided(
                f"The approval for {_where(item)} was already {current['status']}."
            ) from None
        raise
    return public(get(table, item["execution"], item["stage"]))


def _scan(table: Any, expression: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "FilterExpression": expression,
        "ExpressionAttributeValues": values,
    }
    while True:
        page = table.scan(**kwargs)
        items.extend(plain(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def waiting(table: Any, app: str | None = None) -> list[dict[str, Any]]:
    """Open approvals (newest first), optionally for one app."""
    expression = "kind = :k"
    values: dict[str, Any] = {":k": "approval"}
    if app:
        expression += " AND app = :a"
        values[":a"] = app
    now = clock.now()
    items = [
        public(i)
        for i in _scan(table, expression, values)
        if i["status"] in OPEN and i["expires_at"] > now
    ]
    return sorted(items, key=lambda i: -i["requested_at"])
