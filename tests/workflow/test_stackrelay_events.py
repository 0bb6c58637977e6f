"""StackRelay's own events on the engine (docs/events.md), and the messages people get.

A rule on the orchestrator's bus sends every StackRelay event to an SQS queue; the
notification topic has an SQS subscriber. The real state machines and handlers run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from stackrelay.naming import stack_name
from stackrelay_local import Fault


class Watch:
    """Everything StackRelay published, and everything the topic sent, read from queues."""

    def __init__(self, local: Any) -> None:
        self.engine = local.engine
        self.outputs = local.outputs
        self.sqs = self.engine.client("sqs")
        events = self.engine.client("events")
        sns = self.engine.client("sns")
        self.events_url, events_arn = self._queue("stackrelay-events-seen")
        self.sns_url, sns_arn = self._queue("stackrelay-notifications-seen")
        bus = local.outputs["EventBusName"]
        events.put_rule(
            Name="test-all-stackrelay-events",
            EventBusName=bus,
            EventPattern=json.dumps({"source": ["stackrelay"]}),
        )
        events.put_targets(
            Rule="test-all-stackrelay-events",
            EventBusName=bus,
            Targets=[{"Id": "queue", "Arn": events_arn}],
        )
        sns.subscribe(
            TopicArn=local.outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=sns_arn
        )
        self.seen: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []

    def _queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    def _drain(self, url: str) -> list[dict[str, Any]]:
        found = []
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return found
            for m in got["Messages"]:
                found.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def events(self, app: str, *until: str, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The app's events in order of ``detail.at``, once ``until`` is there (a multiset:
        a type named twice must have arrived twice)."""
        deadline = time.monotonic() + timeout
        while True:
            self.seen += self._drain(self.events_url)
            mine = sorted(
                (e for e in self.seen if e["detail"].get("app") == app),
                key=lambda e: e["detail"]["at"],
            )
            types = [e["detail-type"] for e in mine]
            if Counter(until) <= Counter(types) or time.monotonic() > deadline:
                return mine
            self.engine.clock.advance(1)  # deliveries may wait on simulated time
            self.engine.events.wait_idle(5)  # deliveries run, not a fixed real sleep

    def notified(self, subject_part: str, timeout: float = 60.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            self.messages += self._drain(self.sns_url)
            for m in self.messages:
                if subject_part in (m.get("Subject") or ""):
                    return m
            if time.monotonic() > deadline:
                return None
            self.engine.clock.advance(1)
            self.engine.events.wait_idle(5)  # deliveries run, not a fixed real sleep

    def notify(self, event: dict[str, Any]) -> None:
        """Run the Notify function on an event as its EventBridge rule would."""
        lam = self.engine.client("lambda")
        name = next(
            f["FunctionName"]
            for page in lam.get_paginator("list_functions").paginate()
            for f in page["Functions"]
            if "NotifyFunction" in f["FunctionName"]
        )
        response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        assert not response.get("FunctionError"), response["Payload"].read()


@pytest.fixture(scope="module")
def watch(local: Any) -> Iterator[Watch]:
    yield Watch(local)


def types_of(found: list[dict[str, Any]]) -> list[str]:
    return [e["detail-type"] for e in found]


def one(found: list[dict[str, Any]], detail_type: str, **match: Any) -> dict[str, Any]:
    hits = [
        e["detail"]
        for e in found
        if e["detail-type"] == detail_type
        and all(e["detail"].get(k) == v for k, v in match.items())
    ]
    assert hits, f"no {detail_type} {match} in {types_of(found)}"
    return hits[-1]


def test_review_deploy_emits_started_and_deployed_with_links(releaser, watch):
    run = releaser.deploy("feature/events")
    assert run.status == "SUCCEEDED"

    found = watch.events(releaser.app, "Stage Deployed")

    assert types_of(found) == ["Release Started", "Stage Started", "Stage Deployed"]
    started = one(found, "Release Started")
    assert started["kind"] == "review" and started["action"] == "deploy"
    assert [s["stage"] for s in started["stages"]] == ["review"]
    assert started["project"]  # the verified project (trust #11), never a request field
    stage = one(found, "Stage Started")
    assert stage["execution_arn"] == run.arn
    assert stage["console_url"].endswith(run.arn)
    deployed = one(found, "Stage Deployed")
    assert deployed["stack"] == stack_name("sr-", releaser.app, "review", "feature/events")
    assert deployed["account"] == "111111111111"
    assert deployed["job_url"] and "/-/jobs/" in deployed["job_url"]  # from verified claims
    assert deployed["stack_console_url"].endswith(f"stackId={deployed['stack']}")
    assert deployed["outcome"] == "deployed" and deployed["reason"] is None
    assert deployed["headline"]


def test_release_emits_approval_requested_decided_and_tells_people(releaser, watch):
    arn = releaser.start(releaser.request("main", releaser.publish()))
    releaser.wait_approval(arn)
    # From the verified ID token, not from the request: the pipeline's page.
    project_url = f"{releaser.engine.issuer_url}/group/{releaser.app}"
    pipeline_url = f"{project_url}/-/pipelines/{releaser.pipeline_id}"

    found = watch.events(releaser.app, "Approval Requested")
    requested = one(found, "Approval Requested")
    assert requested["stage"] == "prod"
    assert requested["approve_job_url"] == pipeline_url
    assert requested["summary"]["headline"] == requested["headline"]
    assert requested["summary"]["table"].startswith("| Action | Resource |")
    assert set(requested["summary"]) >= {"replacement", "deletion", "iam", "digest"}
    assert requested["expires_at"] > requested["requested_at"]
    assert one(found, "Stage Deployed", stage="staging")

    # People hear of it: by the rule's own delivery where the engine has it, else by
    # running the Notify function on the event exactly as the rule would.
    message = watch.notified("waiting for your approval", timeout=5)
    if message is None:
        watch.notify(next(e for e in watch.seen if e["detail"] is requested))
        message = watch.notified("waiting for your approval")
    assert message is not None
    chat = json.loads(message["Message"])
    assert chat["source"] == "custom"
    assert pipeline_url in chat["content"]["description"]
    assert "token" not in message["Message"].lower()

    releaser.approve("carol", reason="ship it")
    run = releaser.finish(arn)
    assert run.status == "SUCCEEDED"

    found = watch.events(releaser.app, "Approval Decided", "Stage Deployed", "Stage Deployed")
    decided = one(found, "Approval Decided")
    assert (decided["decision"], decided["approver"], decided["reason"]) == (
        "approved",
        "carol",
        "ship it",
    )
    prod = one(found, "Stage Deployed", stage="prod")
    assert prod["approver"] == "carol" and prod["approval"] is True
    order = types_of(found)
    assert order.index("Approval Requested") < order.index("Approval Decided")


def test_rolled_back_stage_carries_the_reason(releaser, watch):
    name = stack_name("sr-", releaser.app, "review", "feature/broken")
    releaser.engine.faults.add(
        Fault.resource_failed(stack=name, resource="NewsTable", reason="Table limit exceeded")
    )
    run = releaser.deploy("feature/broken")
    assert run.error == "StackRollback"

    found = watch.events(releaser.app, "Stage Rolled Back")
    failed = one(found, "Stage Rolled Back")
    assert failed["error"] == "StackRollback"
    assert "NewsTable" in failed["reason"] and "Table limit exceeded" in failed["reason"]
    assert failed["fix"] is None  # fixed by changing the app, not by a command
    assert "Stage Deployed" not in types_of(found)


def test_expired_approval_and_teardown_are_announced(releaser, watch):
    arn = releaser.start(releaser.request("main", releaser.publish()))
    releaser.wait_approval(arn)
    releaser.engine.clock.advance(73 * 3600)
    assert releaser.finish(arn).error == "ApprovalExpired"

    found = watch.events(releaser.app, "Approval Expired", "Stage Failed")
    expired = one(found, "Approval Expired")
    assert expired["stage"] == "prod" and "72 hours" in expired["reason"]
    assert one(found, "Stage Failed", stage="prod")["error"] == "ApprovalExpired"

    review = releaser.deploy("feature/gone")
    assert review.status == "SUCCEEDED"
    teardown = releaser.finish(
        releaser.start(
            releaser.request("feature/gone", None) | {"action": "teardown"},
            machine="TeardownStateMachineArn",
        )
    )
    assert teardown.status == "SUCCEEDED"
    found = watch.events(releaser.app, "Review Torn Down")
    gone = one(found, "Review Torn Down")
    assert gone["ref"] == "feature/gone" and gone["outcome"] == "deleted"
    assert one(found, "Release Started", action="teardown")
