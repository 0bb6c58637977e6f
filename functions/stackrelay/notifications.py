"""What people are told: a StackRelay event as an SNS message for email and chat.

One message per event, built here from the event's detail (docs/events.md):

- ``default`` (chat, SQS, anything else): an AWS Chatbot custom notification
  (``{"version": "1.0", "source": "custom", "content": {...}}``), which AWS Chatbot
  (Amazon Q Developer in chat applications) renders in Slack, Teams and Chime;
- ``email``: plain text, the same facts.

Nothing secret is in an event, so nothing secret can be in a message.
"""

from __future__ import annotations

import json
from typing import Any

SUBJECT_MAX = 100

_TITLES = {
    "Release Started": "{app}: release of {ref} started",
    "Stage Started": "{app} {stage}: started",
    "Stage Deployed": "{app} {stage}: deployed",
    "Stage No Changes": "{app} {stage}: no changes",
    "Stage Failed": "{app} {stage}: FAILED",
    "Stage Rolled Back": "{app} {stage}: FAILED and rolled back",
    "Stage Recovered": "{app} {stage}: recovered",
    "Approval Requested": "{app} {stage}: waiting for your approval",
    "Approval Decided": "{app} {stage}: {decision} by {approver}",
    "Approval Expired": "{app} {stage}: approval expired",
    "Review Torn Down": "{app}: review stack of {ref} torn down",
    "Reaper Action": "StackRelay reaper: {reaper_action} {stack}",
}


def _fmt(template: str, detail: dict[str, Any]) -> str:
    class Missing(dict[str, Any]):
        def __missing__(self, key: str) -> str:
            return "?"

    values = Missing({k: v for k, v in detail.items() if v not in (None, "")})
    return template.format_map(values)


def subject(detail_type: str, detail: dict[str, Any]) -> str:
    """An SNS subject: one line, at most 100 characters, ASCII-safe."""
    text = "[StackRelay] " + _fmt(_TITLES.get(detail_type, detail_type), detail)
    text = " ".join(text.split())
    text = text.encode("ascii", "replace").decode()
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1] + "~"


def facts(detail_type: str, detail: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) lines, most important first; empty values left out."""
    approval = detail_type.startswith("Approval")
    rows: list[tuple[str, Any]] = [
        ("Change", detail.get("headline")),
        ("Reason", detail.get("reason")),
        ("Fix", detail.get("fix") and f"`{detail['fix']}`"),
        ("Approve", detail.get("approve_job_url")),
        ("Or run", detail.get("approve_command") and f"`{detail['approve_command']}`"),
        ("Expires", _when(detail.get("expires_at")) if approval else None),
        ("Approver", detail.get("approver")),
        ("App URL", detail.get("app_url")),
        ("Stack", detail.get("stack") and f"{detail['stack']} ({detail.get('account')})"),
        ("Ref", detail.get("ref") and f"{detail['ref']} @ {str(detail.get('commit') or '')[:12]}"),
        ("Pipeline", detail.get("pipeline_url") or detail.get("pipeline_id")),
        ("Started by", detail.get("user")),
        ("Execution", detail.get("console_url")),
        ("Stack console", detail.get("stack_console_url")),
    ]
    return [(label, str(value)) for label, value in rows if value not in (None, "", False)]


def _when(epoch: Any) -> str | None:
    if epoch is None:
        return None
    from datetime import UTC, datetime

    try:
        return datetime.fromtimestamp(float(epoch), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError):
        return None


def chat(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An AWS Chatbot custom notification."""
    lines = [f"*{label}:* {value}" for label, value in facts(detail_type, detail)]
    summary = detail.get("summary") or {}
    if summary.get("table"):
        lines.append("")
        lines.append(str(summary["table"]))
    next_steps = []
    if detail.get("fix"):
        next_steps.append(f"Run `{detail['fix']}`")
    if detail.get("approve_job_url"):
        next_steps.append(f"Approve or reject in GitLab: {detail['approve_job_url']}")
    content: dict[str, Any] = {
        "textType": "client-markdown",
        "title": subject(detail_type, detail).removeprefix("[StackRelay] "),
        "description": "\n".join(lines),
        "keywords": [k for k in (detail.get("app"), detail.get("stage"), detail_type) if k],
    }
    if next_steps:
        content["nextSteps"] = next_steps
    return {
        "version": "1.0",
        "source": "custom",
        "id": detail.get("execution_arn") or detail.get("stack") or detail_type,
        "content": content,
        "metadata": {
            "threadId": f"{detail.get('app')}-{detail.get('pipeline_id')}",
            "enableCustomActions": False,
            "additionalContext": {"detail_type": detail_type},
        },
    }


def email(detail_type: str, detail: dict[str, Any]) -> str:
    lines = [subject(detail_type, detail).removeprefix("[StackRelay] "), ""]
    width = max((len(label) for label, _ in facts(detail_type, detail)), default=0)
    lines += [f"{label.ljust(width)}  {value}" for label, value in facts(detail_type, detail)]
    summary = detail.get("summary") or {}
    if summary.get("table"):
        lines += ["", str(summary["table"])]
    return "\n".join(lines) + "\n"


def message(event: dict[str, Any]) -> dict[str, Any]:
    """``sns.publish`` arguments for an EventBridge event from StackRelay."""
    detail_type = str(event.get("detail-type") or "")
    detail = event.get("detail") or {}
    body = {
        "default": json.dumps(chat(detail_type, detail)),
        "email": email(detail_type, detail),
        "email-json": json.dumps({"detail_type": detail_type, **detail}, default=str),
    }
    return {
        "Subject": subject(detail_type, detail),
        "Message": json.dumps(body),
        "MessageStructure": "json",
        "MessageAttributes": {
            "detail_type": {"DataType": "String", "StringValue": detail_type or "unknown"},
            "app": {"DataType": "String", "StringValue": str(detail.get("app") or "-")},
            "stage": {"DataType": "String", "StringValue": str(detail.get("stage") or "-")},
        },
    }
