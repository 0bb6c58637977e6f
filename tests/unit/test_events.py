"""stackrelay.events: the one publish function, and the details handlers build."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from stackrelay import events
from stackrelay.plan import Stage

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:stackrelay-deploy:run-1"


@pytest.fixture
def bus(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[dict]]]:
    """The stackrelay bus with a rule sending everything to a queue; returns a reader."""
    monkeypatch.setenv("EVENT_BUS_NAME", "stackrelay-test")
    events.reset_client()
    client = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    client.create_event_bus(Name="stackrelay-test")
    url = sqs.create_queue(QueueName="seen")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    client.put_rule(
        Name="all",
        EventBusName="stackrelay-test",
        EventPattern=json.dumps({"source": ["stackrelay"]}),
    )
    client.put_targets(
        Rule="all", EventBusName="stackrelay-test", Targets=[{"Id": "q", "Arn": arn}]
    )

    def read() -> list[dict[str, Any]]:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in found]

    yield read
    events.reset_client()


def test_publish_puts_the_event_on_the_named_bus(bus: Callable[[], list[dict]]) -> None:
    assert events.publish(events.STAGE_STARTED, {"app": "aws-news", "stage": "prod"}) is True
    (seen,) = bus()
    assert seen["source"] == "stackrelay"
    assert seen["detail-type"] == "Stage Started"
    assert seen["detail"]["app"] == "aws-news"
    assert isinstance(seen["detail"]["at"], float)


def test_publish_without_the_bus_returns_false_logs_and_counts(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
    events.reset_client()
    # moto accepts PutEvents to an unknown bus with a failed entry, or raises: both count.
    client = boto3.client("events", region_name="us-east-1")
    ok = events.publish(events.STAGE_FAILED, {"app": "a"}, client=client)
    if ok:  # moto delivered to nowhere without complaint: fake a rejected entry instead
        failing = _Rejecting()
        assert events.publish(events.STAGE_FAILED, {"app": "a"}, client=failing) is False
    out = capsys.readouterr().out
    assert '"EventsNotPublished"' in out
    assert "StackRelay" in out


class _Rejecting:
    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "no"}],
        }


class _Raising:
    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        raise RuntimeError("throttled")


@pytest.mark.parametrize("client", [_Rejecting(), _Raising()])
def test_publish_never_raises(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert events.publish(events.APPROVAL_REQUESTED, {"app": "a"}, client=client) is False
    assert "EventsNotPublished" in capsys.readouterr().out


def test_publish_refuses_an_unknown_detail_type() -> None:
    assert events.publish("Stage Exploded", {"app": "a"}, client=_Rejecting()) is False


def test_a_huge_summary_table_is_cut_to_fit_and_says_so() -> None:
    sent: list[dict[str, Any]] = []

    class Capture:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            sent.extend(Entries)
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}

    table = "\n".join(f"| add | `Res{i}` | AWS::SQS::Queue | - | - |" for i in range(20000))
    detail = {"app": "a", "summary": {"headline": "20000 to add", "table": table}}
    assert events.publish(events.APPROVAL_REQUESTED, detail, client=Capture()) is True
    body = sent[0]["Detail"]
    assert len(body.encode()) <= events.MAX_DETAIL_BYTES
    parsed = json.loads(body)
    assert parsed["summary"]["truncated"] is True
    assert parsed["summary"]["headline"] == "20000 to add"
    assert parsed["summary"]["table"].endswith("|")


@pytest.mark.parametrize(
    ("outcome", "error", "expected"),
    [
        ("deployed", None, "Stage Deployed"),
        ("no_changes", None, "Stage No Changes"),
        ("failed", "StackRollback", "Stage Rolled Back"),
        ("failed", "ChangeSetFailed", "Stage Failed"),
        ("failed", "DeploymentRejected", "Stage Failed"),
        ("deleted", None, "Review Torn Down"),
        ("recovered", None, "Stage Recovered"),
        ("superseded", None, None),
    ],
)
def test_outcome_type(outcome: str, error: str | None, expected: str | None) -> None:
    assert events.outcome_type(outcome, error) == expected
    assert expected is None or expected in events.DETAIL_TYPES


def test_stage_detail_carries_the_contract_fields(make_stage: Callable[..., Stage]) -> None:
    stage = make_stage(execution_arn=EXECUTION, project="group/aws-news", job_url="https://j/1")
    detail = events.stage_detail(stage, outcome="deployed", app_url="https://app")
    contract = {
        "app", "execution_arn", "console_url", "project", "project_id", "ref", "commit",
        "pipeline_id", "pipeline_url", "job_url", "user", "stage", "region", "account",
        "stack", "stack_console_url", "outcome", "headline", "reason", "fix", "app_url",
    }  # fmt: skip
    assert contract <= set(detail)
    assert detail["console_url"].endswith(f"#/v2/executions/details/{EXECUTION}")
    assert detail["console_url"].startswith("https://us-east-1.console.aws.amazon.com/states/")
    assert f"stackId={stage.stack}" in detail["stack_console_url"]
    assert detail["outcome"] == "deployed"
    assert detail["app_url"] == "https://app"
    assert detail["action"] == "deploy"
    assert detail["regions"] == ["us-east-1"]
    json.dumps(detail)  # plain JSON


def test_console_url_needs_an_arn() -> None:
    assert events.execution_console_url(None) is None
    assert events.execution_console_url("run-1") is None
    assert events.stack_console_url("us-east-1", None) is None
