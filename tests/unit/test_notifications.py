"""stackrelay.notifications: the SNS message people get, for chat and e-mail."""

from __future__ import annotations

import json

from stackrelay import notifications

APPROVAL = {
    "source": "stackrelay",
    "detail-type": "Approval Requested",
    "detail": {
        "app": "aws-news",
        "stage": "prod",
        "stack": "sr-aws-news-prod",
        "account": "333333333333",
        "ref": "main",
        "commit": "2a3b4c5d6e7f8a9b",
        "pipeline_id": "4711",
        "pipeline_url": "https://gitlab.example.com/g/aws-news/-/pipelines/4711",
        "headline": "1 to add, 1 to modify, 0 to remove (1 IAM-affecting)",
        "summary": {"headline": "h", "table": "| Action |\n|---|\n| add |", "iam": True},
        "approve_job_url": "https://gitlab.example.com/g/aws-news/-/pipelines/4711",
        "approve_command": "stackrelay approve --app aws-news --pipeline-id 4711 --stage prod",
        "expires_at": 1_800_000_000,
        "console_url": "https://us-east-1.console.aws.amazon.com/states/home#x",
        "reason": None,
        "fix": None,
    },
}


def test_approval_message_for_chat_and_email() -> None:
    args = notifications.message(APPROVAL)
    assert args["MessageStructure"] == "json"
    assert args["Subject"] == "[StackRelay] aws-news prod: waiting for your approval"
    body = json.loads(args["Message"])
    chat = json.loads(body["default"])
    assert chat["version"] == "1.0" and chat["source"] == "custom"
    assert chat["content"]["textType"] == "client-markdown"
    assert "1 IAM-affecting" in chat["content"]["description"]
    assert APPROVAL["detail"]["approve_job_url"] in chat["content"]["description"]
    assert any("Approve or reject" in s for s in chat["content"]["nextSteps"])
    assert "| add |" in chat["content"]["description"]
    assert "Expires" in body["email"] and "2027-01-15" in body["email"]
    assert "None" not in body["email"]
    assert args["MessageAttributes"]["detail_type"]["StringValue"] == "Approval Requested"


def test_failure_message_carries_reason_and_fix() -> None:
    event = {
        "source": "stackrelay",
        "detail-type": "Stage Failed",
        "detail": {
            "app": "aws-news",
            "stage": "prod",
            "reason": "sr-aws-news-prod is UPDATE_ROLLBACK_FAILED after Fn: boom",
            "fix": "stackrelay recover --app aws-news --stage prod",
        },
    }
    body = json.loads(notifications.message(event)["Message"])
    assert "Fix" in body["email"] and "stackrelay recover --app aws-news" in body["email"]
    assert "UPDATE_ROLLBACK_FAILED" in body["email"]
    chat = json.loads(body["default"])
    assert chat["content"]["nextSteps"] == ["Run `stackrelay recover --app aws-news --stage prod`"]


def test_subject_is_one_short_ascii_line() -> None:
    detail = {"app": "x" * 40, "stage": "prod\nnext", "decision": "approved", "approver": "é" * 90}
    subject = notifications.subject("Approval Decided", detail)
    assert len(subject) <= 100
    assert "\n" not in subject
    subject.encode("ascii")
    assert notifications.subject("Stage Failed", {}) == "[StackRelay] ? ?: FAILED"
