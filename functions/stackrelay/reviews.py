"""Review stacks, stale review stacks, and the requests that act on them.

One rule for "stale", used by ``stackrelay reviews --stale`` (through the
operations function) and by the reaper that tears those stacks down.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from stackrelay import clock, trust
from stackrelay.config import Settings
from stackrelay.errors import InvalidInput
from stackrelay.model import DeployRequest, Source
from stackrelay.plan import Stage, build_plan
from stackrelay.records import plain

DAY = 86400
GONE = frozenset({"deleted"})
"""Outcomes after which a review stack no longer exists."""
REVIEW_KEYS = ("app", "stage", "ref", "commit", "stack", "account", "deployed_at", "outcome", "url")


def is_stale(deployed_at: float, retention_days: int, now: float) -> bool:
    """Not deployed for more than ``retention_days`` days."""
    return now - deployed_at > retention_days * DAY


def _latest_items(table: Any, legacy_stages: Collection[str] = ()) -> list[dict[str, Any]]:
    """LATEST items of review stacks: ``trust`` says so; a record written before records
    carried it counts when its stage is one of ``legacy_stages`` (the topology's review
    stages), so stacks deployed before an upgrade are still listed and reaped."""
    names = {f":s{i}": name for i, name in enumerate(sorted(legacy_stages))}
    legacy = (
        f" OR (attribute_not_exists(#trust) AND #stage IN ({', '.join(names)}))" if names else ""
    )
    kwargs: dict[str, Any] = {
        "FilterExpression": f"sk = :latest AND (#trust = :review{legacy})",
        "ExpressionAttributeNames": {"#trust": "trust", **({"#stage": "stage"} if names else {})},
        "ExpressionAttributeValues": {":latest": "LATEST", ":review": trust.REVIEW, **names},
    }
    items: list[dict[str, Any]] = []
    while True:
        page = table.scan(**kwargs)
        items.extend(plain(i) for i in page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def list_reviews(
    table: Any,
    retention_days: int,
    app: str | None = None,
    stale_only: bool = False,
    now: float | None = None,
    legacy_stages: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Live review stacks (newest deployment first), each marked stale or not.

    From each stack's LATEST record; a stack whose last outcome is a teardown
    is gone and left out.
    """
    now = clock.now() if now is None else now
    rows = []
    for item in _latest_items(table, legacy_stages):
        if item.get("outcome") in GONE or (app and item.get("app") != app):
            continue
        row = {key: item.get(key) for key in REVIEW_KEYS}
        deployed_at = float(item.get("deployed_at") or 0)
        row["deployed_at"] = deployed_at
        row["stale"] = is_stale(deployed_at, retention_days, now)
        if row["stale"] or not stale_only:
            rows.append(row)
    return sorted(rows, key=lambda r: (-r["deployed_at"], r["stack"] or ""))


def teardown_request(review: dict[str, Any], pipeline_id: str, user: str) -> DeployRequest:
    """The teardown execution input for a listed review stack (validated by the model)."""
    return DeployRequest(
        app=review["app"],
        action="teardown",
        source=Source(
            project=f"stackrelay/{review['app']}",
            ref=review["ref"],
            commit=review.get("commit") or "0000000",
            pipeline_id=pipeline_id,
            user=user,
        ),
    )


def release_stage(
    settings: Settings, app: str, stage: str, commit: str, pipeline_id: str, execution: str
) -> Stage:
    """The release stage ``stage`` of ``app`` as the deploy plan builds it.

    Operations that are not releases (recover) act on exactly the stack, the
    account and the role a release would use: the plan's own rule, not a copy.
    """
    source = Source(
        project=f"stackrelay/{app}",
        ref=settings.default_branch,
        ref_type="branch",
        ref_protected=True,
        commit=commit,
        pipeline_id=pipeline_id,
    )
    # No artifact: the plan only names the stages (a release needs one, recover does not).
    request = DeployRequest.model_construct(app=app, artifact=None, source=source, action="deploy")
    plan = build_plan(request, settings, execution)
    # A stage's first region, or exactly the target named (``prod.eu-west-1``).
    found = next((s for s in plan["stages"] if stage in (s["stage"], s.get("target"))), None)
    if found is None:
        names = ", ".join(s["stage"] for s in plan["stages"])
        raise InvalidInput(f"{stage!r} is not a release stage of this orchestrator: use {names}.")
    return Stage.from_dict(found)
