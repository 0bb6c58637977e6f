"""Production approval (issue 4): a task-token gate bound to the reviewed change set."""

from __future__ import annotations

import json
import logging

import pytest
from stackrelay.naming import stack_name

PROD = "333333333333"


class Approvals:
    """The approval function, invoked as the approve/reject CI jobs invoke it.

    The approver is the ID token's user (a job of the app's project on main);
    ``approve`` sends the digest of what ``show`` returned, as the CLI does.
    """

    def __init__(self, releaser) -> None:
        self.releaser = releaser

    def call(
        self, action: str, pipeline_id: str | None = None, approver: str = "alice", **extra
    ) -> dict:
        token = self.releaser.token("main", user_login=approver, environment="production")
        payload = {
            "action": action,
            "app": self.releaser.app,
            "id_token": token,
            "pipeline_id": pipeline_id or self.releaser.pipeline_id,
            **extra,
        }
        if action == "approve" and "digest" not in extra:
            shown = self.call("show", pipeline_id, approver)
            if "error" in shown:
                return shown
            payload["digest"] = shown["approval"]["digest"]
        body = self.releaser.invoke("ApprovalFunctionName", payload)
        if "errorType" in body:
            return {"error": body["errorType"], "message": body["errorMessage"]}
        return body


@pytest.fixture
def parked(releaser):
    """A default-branch release parked on the prod approval: (arn, approvals)."""
    arn = releaser.start(releaser.request("main", releaser.publish()))
    releaser.wait_approval(arn)
    return arn, Approvals(releaser)


def prod_change_sets(releaser) -> list[dict]:
    cfn = releaser.engine.client("cloudformation", account=PROD)
    return cfn.list_change_sets(StackName=stack_name("sr-", releaser.app, "prod"))["Summaries"]


def test_show_pending_approval_summarises_the_prod_change_set(releaser, parked):
    _, approvals = parked

    shown = approvals.call("show")["approval"]

    assert shown["stage"] == "prod" and shown["status"] == "pending"
    assert shown["summary"]["counts"]["add"] >= 3
    assert "to add" in shown["summary_text"]
    assert "token" not in shown
    listed = approvals.call("list")["approvals"]
    assert [a["pipeline_id"] for a in listed if a["app"] == releaser.app] == [releaser.pipeline_id]


def test_approve_deploys_prod_and_records_the_approver(releaser, parked):
    arn, approvals = parked

    answer = approvals.call("approve", approver="carol", reason="release 1.2")
    assert "approval" in answer, answer
    decided = answer["approval"]
    run = releaser.finish(arn)

    assert decided["status"] == "approved"
    assert run.status == "SUCCEEDED", run.cause
    prod = run.output["stages"][1]
    assert prod["stage"] == "prod" and prod["outcome"] == "deployed"
    assert prod["approver"] == "carol"
    stack = releaser.stack(PROD, stack_name("sr-", releaser.app, "prod"))
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["EnableTerminationProtection"] is True
    [record] = [
        r
        for r in releaser.table().scan()["Items"]
        if r.get("kind") == "deployment" and r.get("app") == releaser.app and r["stage"] == "prod"
    ]
    assert record["approver"] == "carol"
    assert record["approval_reason"] == "release 1.2"
    assert decided["decision_job_url"].startswith(releaser.local.engine.issuer_url)
    assert record["change_set"]


def test_reject_fails_deployment_rejected_with_who_and_why_and_deletes_change_set(releaser, parked):
    arn, approvals = parked

    approvals.call("reject", approver="dave", reason="wrong week")
    run = releaser.finish(arn)

    assert run.error == "DeploymentRejected"
    assert "dave" in run.cause and "wrong week" in run.cause
    assert prod_change_sets(releaser) == []


def test_no_decision_in_time_fails_approval_expired_and_deletes_change_set(releaser, parked):
    arn, approvals = parked

    releaser.engine.clock.advance(73 * 3600)
    run = releaser.finish(arn)

    assert run.error == "ApprovalExpired"
    assert prod_change_sets(releaser) == []
    late = approvals.call("approve", approver="erin")
    assert late["error"] in ("ApprovalExpired", "ApprovalAlreadyDecided")


def test_approve_after_change_set_changed_fails_change_set_stale(releaser, parked):
    arn, approvals = parked
    cfn = releaser.engine.client("cloudformation", account=PROD)
    [summary] = prod_change_sets(releaser)
    cfn.delete_change_set(ChangeSetName=summary["ChangeSetId"])

    answer = approvals.call("approve", approver="frank")
    run = releaser.finish(arn)

    assert answer["error"] == "ChangeSetStale"
    assert run.error == "ChangeSetStale"


def test_approving_twice_is_refused_already_decided(releaser, parked):
    arn, approvals = parked

    approvals.call("approve", approver="gina")
    again = approvals.call("approve", approver="gina")
    releaser.finish(arn)

    assert again["error"] == "ApprovalAlreadyDecided"


def test_wrong_pipeline_id_finds_no_approval(releaser, parked):
    arn, approvals = parked

    answer = approvals.call("approve", pipeline_id="999999", approver="hank")

    assert answer["error"] == "ApprovalNotFound"
    assert releaser.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    approvals.call("reject", approver="hank", reason="cleanup")
    releaser.finish(arn)


def test_empty_prod_change_set_needs_no_approval_and_ends_no_changes(releaser):
    artifact = releaser.publish()
    first = releaser.start(releaser.request("main", artifact))
    releaser.wait_approval(first)
    Approvals(releaser).call("approve", approver="ivy")
    assert releaser.finish(first).status == "SUCCEEDED"

    second = releaser.deploy("main", artifact)

    assert second.status == "SUCCEEDED", second.cause
    assert [s["outcome"] for s in second.output["stages"]] == ["no_changes", "no_changes"]
    assert Approvals(releaser).call("list")["approvals"] == []


class Collect(logging.Handler):
    """Every log line the handlers write, formatted as Powertools formats it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def handler_logs():
    logger = logging.getLogger("stackrelay")
    collect = Collect()
    if logger.handlers:
        collect.setFormatter(logger.handlers[0].formatter)
    logger.addHandler(collect)
    yield collect.lines
    logger.removeHandler(collect)


def test_full_approved_release_never_shows_the_task_token(releaser, capfd, handler_logs):
    arn = releaser.start(releaser.request("main", releaser.publish()))
    token = releaser.wait_approval(arn)
    approvals = Approvals(releaser)
    shown = approvals.call("show")
    listed = approvals.call("list")
    decided = approvals.call("approve", approver="jo", reason="ok")
    run = releaser.finish(arn)
    logs = capfd.readouterr()

    assert run.status == "SUCCEEDED"
    assert len(token) > 20
    everything = "\n".join(handler_logs)
    assert "Approval requested" in everything  # the handlers' logs were captured
    for text in (
        everything,
        logs.out,
        logs.err,
        json.dumps(shown),
        json.dumps(listed),
        json.dumps(decided),
        json.dumps(run.output),
    ):
        assert token not in text
