"""StackRelay's own events on EventBridge: one publish function, one schema.

Handlers call :func:`publish` where a transition happens (a release starts, a
stage starts or ends, an approval is requested, decided or expires, a review
stack is torn down, the reaper acts). The schema is docs/events.md; the
GitLab reporter and the notification formatter consume it.

Emitting never fails a deployment: any error (no bus, throttling, a rejected
entry) is logged and counted in the ``EventsNotPublished`` metric, and
:func:`publish` returns False. The client is created on first use, so a cold
start of a handler that publishes nothing pays nothing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from stackrelay import clock

SOURCE = "stackrelay"
BUS_ENV = "EVENT_BUS_NAME"
DEFAULT_BUS = "stackrelay"

RELEASE_STARTED = "Release Started"
STAGE_STARTED = "Stage Started"
STAGE_DEPLOYED = "Stage Deployed"
STAGE_NO_CHANGES = "Stage No Changes"
STAGE_FAILED = "Stage Failed"
STAGE_ROLLED_BACK = "Stage Rolled Back"
STAGE_RECOVERED = "Stage Recovered"
APPROVAL_REQUESTED = "Approval Requested"
APPROVAL_DECIDED = "Approval Decided"
APPROVAL_EXPIRED = "Approval Expired"
REVIEW_TORN_DOWN = "Review Torn Down"
REAPER_ACTION = "Reaper Action"

DETAIL_TYPES = (
    RELEASE_STARTED,
    STAGE_STARTED,
    STAGE_DEPLOYED,
    STAGE_NO_CHANGES,
    STAGE_FAILED,
    STAGE_ROLLED_BACK,
    STAGE_RECOVERED,
    APPROVAL_REQUESTED,
    APPROVAL_DECIDED,
    APPROVAL_EXPIRED,
    REVIEW_TORN_DOWN,
    REAPER_ACTION,
)
"""Every detail-type StackRelay emits (docs/events.md). ``Stage Recovered`` was added
to the first contract: a recover execution brought a stack back to a working state."""

FAILED_METRIC = "EventsNotPublished"
MAX_DETAIL_BYTES = 200_000
"""EventBridge takes entries up to 256 KB; a summary table is cut before that."""

_COMMON = (
    "app",
    "execution_arn",
    "console_url",
    "project",
    "project_id",
    "ref",
    "commit",
    "pipeline_id",
    "pipeline_url",
    "job_url",
    "user",
)
_STAGE = (
    "stage",
    "trust",
    "environment",
    "region",
    "account",
    "stack",
    "stack_console_url",
    "outcome",
    "headline",
    "reason",
    "fix",
    "app_url",
)

log = logging.getLogger(__name__)
_client: Any = None


def bus_name(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get(BUS_ENV, "").strip() or DEFAULT_BUS


def _events_client() -> Any:
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        # Short timeouts and one retry: an event is never worth slowing a deployment.
        _client = boto3.client(
            "events",
            config=Config(
                connect_timeout=2,
                read_timeout=3,
                retries={"mode": "standard", "total_max_attempts": 2},
            ),
        )
    return _client


def reset_client() -> None:
    """Forget the cached client (tests that switch mocks; the engine between runs)."""
    global _client
    _client = None


# -- links ---------------------------------------------------------------------------


def _region_of(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" else None


def execution_console_url(execution_arn: str | None) -> str | None:
    """The Step Functions console page of an execution (same link as ``stackrelay start``)."""
    region = _region_of(execution_arn)
    if not region:
        return None
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def stack_console_url(region: str | None, stack: str | None) -> str | None:
    """The CloudFormation console page of a stack (open it signed in to the stage's account)."""
    if not region or not stack:
        return None
    return (
        f"https://{region}.console.aws.amazon.com/cloudformation/home?region={region}"
        f"#/stacks/stackinfo?stackId={stack}"
    )


# -- details -------------------------------------------------------------------------


def execution_arn_of(stage: Any) -> str | None:
    """The execution's ARN from a plan's stage (None when the plan predates it)."""
    return getattr(stage, "execution_arn", None) or None


def source_detail(stage: Any, execution_arn: str | None = None) -> dict[str, Any]:
    """The fields every event carries, from a plan's stage (or anything alike).

    Read by attribute with defaults, so identity fields the plan carries
    (project, project_id, job_url, verified or not) flow through unchanged.
    """
    arn = execution_arn or execution_arn_of(stage)
    detail = {name: getattr(stage, name, None) for name in _COMMON}
    detail["execution_arn"] = arn
    detail["console_url"] = execution_console_url(arn)
    detail["execution"] = getattr(stage, "execution", None)
    detail["action"] = getattr(stage, "action", None)
    return detail


def stage_detail(stage: Any, *, execution_arn: str | None = None, **fields: Any) -> dict[str, Any]:
    """``source_detail`` plus the stage's own fields; ``fields`` add or override."""
    detail = source_detail(stage, execution_arn)
    for name in _STAGE:
        detail[name] = getattr(stage, name, None)
    detail["stack_console_url"] = stack_console_url(detail["region"], detail["stack"])
    detail["approval"] = bool(getattr(stage, "approval", False))
    regions = getattr(stage, "regions", None) or [detail["region"]]
    detail["regions"] = [r for r in regions if r]
    detail["outcome"] = None
    detail.update(fields)
    return detail


_OUTCOME_TYPES = {
    "deployed": STAGE_DEPLOYED,
    "no_changes": STAGE_NO_CHANGES,
    "failed": STAGE_FAILED,
    "deleted": REVIEW_TORN_DOWN,
    "recovered": STAGE_RECOVERED,
}


def outcome_type(outcome: str, error: str | None = None) -> str | None:
    """The event of a recorded stage outcome; None for ``superseded`` (the stage never
    started: a newer commit took the stack)."""
    if outcome == "failed" and error == "StackRollback":
        return STAGE_ROLLED_BACK
    return _OUTCOME_TYPES.get(outcome)


def _fit(detail: dict[str, Any]) -> str:
    """JSON for the entry; a summary table that would not fit is cut, and says so."""
    body = json.dumps(detail, default=str, separators=(",", ":"))
    summary = detail.get("summary")
    if len(body.encode()) <= MAX_DETAIL_BYTES or not isinstance(summary, dict):
        return body
    table = str(summary.get("table") or "")
    room = max(MAX_DETAIL_BYTES - (len(body.encode()) - len(table.encode())) - 200, 0)
    cut = table.encode()[:room].decode(errors="ignore").rsplit("\n", 1)[0]
    detail = {**detail, "summary": {**summary, "table": cut, "truncated": True}}
    return json.dumps(detail, default=str, separators=(",", ":"))


def _count_failure() -> None:
    try:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "StackRelay"
        with single_metric(name=FAILED_METRIC, unit=MetricUnit.Count, value=1, namespace=namespace):
            pass
    except Exception:  # a metric must not fail a deployment either
        log.warning("could not emit the %s metric", FAILED_METRIC)


def publish(detail_type: str, detail: Mapping[str, Any], client: Any = None) -> bool:
    """Put one StackRelay event on the orchestrator's bus; never raises.

    Returns True when EventBridge accepted it. ``detail`` must hold no secret
    (no task token, no credentials): it reaches people and GitLab.
    """
    if detail_type not in DETAIL_TYPES:
        log.error("not a StackRelay event type: %r (not published)", detail_type)
        _count_failure()
        return False
    body = {"at": clock.now(), **detail}
    try:
        entry = {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": _fit(body),
            "EventBusName": bus_name(),
        }
        response = (client or _events_client()).put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            failed = (response.get("Entries") or [{}])[0]
            raise RuntimeError(f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}")
    except Exception as exc:
        log.warning(
            "StackRelay event %r was not published (the deployment goes on): %s: %s",
            detail_type,
            type(exc).__name__,
            exc,
        )
        _count_failure()
        return False
    return True
