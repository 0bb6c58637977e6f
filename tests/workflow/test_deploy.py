"""The deploy workflow (issue 3) on the local engine: real ASL, real handlers."""

from __future__ import annotations

from collections import Counter

import pytest
from stackrelay import statenames
from stackrelay.naming import stack_name
from stackrelay_cli import progress
from stackrelay_local import Fault


def accounts(releaser) -> dict[str, str]:
    return releaser.engine.config.accounts


def test_review_deploy_feature_branch_creates_stack_in_dev_only(releaser):
    run = releaser.deploy("feature/login")

    assert run.status == "SUCCEEDED", run.cause
    name = stack_name("sr-", releaser.app, "review", "feature/login")
    acct = accounts(releaser)
    assert releaser.stacks(acct["dev"]) == [name]
    assert releaser.stacks(acct["staging"]) == []
    assert releaser.stacks(acct["prod"]) == []
    stack = releaser.stack(acct["dev"], name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    tags = {t["Key"]: t["Value"] for t in stack["Tags"]}
    assert tags["stackrelay:ref"] == "feature/login"
    assert tags["stackrelay:stage"] == "review"
    [stage] = run.output["stages"]
    assert stage["outcome"] == "deployed"
    assert stage["url"].startswith("https://")


def test_review_deploy_assumes_the_stage_role_at_most_once(releaser):
    """Every task of the stage reuses its session (and every poll, when it polls):
    AssumeRole once per stage, or not at all when a warm function still holds this
    pipeline's session."""
    assumed = releaser.engine.runtime.assumed_sessions
    before = Counter(assumed)

    run = releaser.deploy("feature/sessions")

    assert run.status == "SUCCEEDED", run.cause
    name = f"stackrelay-{releaser.pipeline_id}-review"
    assert assumed[name] - before[name] <= 1
    entered = [
        (e.get("stateEnteredEventDetails") or {}).get("name")
        for e in progress.history(releaser.sfn, run.arn)
    ]
    # Several tasks acted in the stage's account through that one session.
    users = (
        statenames.PREPARE_STACK,
        statenames.CREATE_CHANGE_SET,
        statenames.CHECK_CHANGE_SET,
        statenames.EXECUTE_CHANGE_SET,
    )
    assert sum(entered.count(name) for name in users) > 3


def test_review_deploy_history_shows_the_states_in_order(releaser):
    run = releaser.deploy("feature/history")

    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in releaser.sfn.get_execution_history(executionArn=run.arn, maxResults=1000)["events"]
        if "stateEnteredEventDetails" in e
    ]
    expected = [
        statenames.VALIDATE_INPUT,
        "Verify Artifact",
        statenames.DEPLOY_EACH_STAGE,
        statenames.ACQUIRE_STACK_LOCK,
        statenames.PREPARE_STACK,
        statenames.CREATE_CHANGE_SET,
        statenames.CHECK_CHANGE_SET,
        statenames.EXECUTE_CHANGE_SET,
        statenames.AWAIT_STACK_EVENT,
        statenames.RECORD_DEPLOYMENT,
        "Release Stack Lock",
    ]
    positions = [entered.index(name) for name in expected]
    assert positions == sorted(positions)


def test_default_branch_deploy_updates_staging_then_waits_for_prod_approval(releaser):
    artifact = releaser.publish()
    arn = releaser.start(releaser.request("main", artifact))
    releaser.wait_approval(arn)

    acct = accounts(releaser)
    staging = stack_name("sr-", releaser.app, "staging")
    assert releaser.stacks(acct["staging"]) == [staging]
    assert releaser.stack(acct["staging"], staging)["StackStatus"] == "CREATE_COMPLETE"
    assert releaser.stack(acct["staging"], staging)["EnableTerminationProtection"] is True
    # Prod has a change set under review, and nothing deployed.
    prod = stack_name("sr-", releaser.app, "prod")
    assert releaser.stack(acct["prod"], prod)["StackStatus"] == "REVIEW_IN_PROGRESS"
    assert releaser.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"


def test_second_identical_deploy_ends_no_changes(releaser):
    artifact = releaser.publish()
    first = releaser.deploy("feature/same", artifact)
    second = releaser.deploy("feature/same", artifact)

    assert first.status == second.status == "SUCCEEDED"
    assert second.output["stages"][0]["outcome"] == "no_changes"
    name = stack_name("sr-", releaser.app, "review", "feature/same")
    cfn = releaser.engine.client("cloudformation", account=accounts(releaser)["dev"])
    assert cfn.list_change_sets(StackName=name)["Summaries"] == []


def test_injected_resource_failure_ends_stack_rollback_naming_resource_and_reason(releaser):
    name = stack_name("sr-", releaser.app, "review", "feature/broken")
    releaser.engine.faults.add(
        Fault.resource_failed(
            stack=name, resource="NewsTable", reason="Table limit exceeded for the account"
        )
    )

    run = releaser.deploy("feature/broken")

    assert run.status == "FAILED"
    assert run.error == "StackRollback"
    assert "NewsTable" in run.cause
    assert "Table limit exceeded for the account" in run.cause
    [stage] = run.progress.stages
    assert stage.state == "failed"


MALFORMED = {
    "not an object": ["app"],
    "missing app": {
        "source": {"project": "g/p", "ref": "x", "commit": "abc1234", "pipeline_id": "1"}
    },
    "bad app name": {
        "app": "Bad_App!",
        "source": {"project": "g/p", "ref": "x", "commit": "abc1234", "pipeline_id": "1"},
    },
    "routing field": {
        "app": "ok",
        "accounts": {"prod": "999999999999"},
        "source": {"project": "g/p", "ref": "x", "commit": "abc1234", "pipeline_id": "1"},
    },
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_ends_invalid_input_with_nothing_deployed(releaser, case):
    arn = releaser.start_raw(MALFORMED[case])
    run = releaser.finish(arn)

    assert run.status == "FAILED"
    assert run.error == "InvalidInput"
    for account in accounts(releaser).values():
        assert releaser.stacks(account) == []


def test_bad_sha256_refused_by_start_invalid_input_naming_the_field(releaser):
    artifact = {**releaser.publish(), "sha256": "not-a-digest"}
    refused = releaser.invoke(
        "StartFunctionName",
        {"id_token": releaser.token("feature/x"), "app": releaser.app, "artifact": artifact},
    )

    assert refused["errorType"] == "InvalidInput"
    assert "artifact.sha256" in refused["errorMessage"]
    assert releaser.stacks(accounts(releaser)["dev"]) == []


def test_bad_sha256_started_by_admin_ends_invalid_input_naming_the_field(releaser):
    artifact = {**releaser.publish(), "sha256": "not-a-digest"}
    run = releaser.finish(releaser.start_raw(releaser.request("feature/x", artifact)))

    assert run.error == "InvalidInput"
    assert "artifact.sha256" in run.cause


def test_artifact_changed_after_publish_ends_artifact_mismatch(releaser):
    artifact = {**releaser.publish(), "sha256": "0" * 64}
    run = releaser.finish(releaser.start(releaser.request("feature/x", artifact)))

    assert run.error == "ArtifactMismatch"
    assert releaser.stacks(accounts(releaser)["dev"]) == []


def test_twenty_percent_throttling_still_succeeds(releaser):
    releaser.engine.faults.add(Fault.throttle(service="cloudformation", share=0.2, seed=11))
    # Which calls the 20% hits depends on the call order (event completion makes fewer
    # calls): CreateChangeSet throttled past the SDK's own retry makes sure some are.
    certain = Fault.throttle(
        service="cloudformation", operation="CreateChangeSet", share=1.0, times=4
    )
    releaser.engine.faults.add(certain)

    run = releaser.deploy("feature/throttled")

    assert run.status == "SUCCEEDED", run.cause
    assert certain.times is not None and certain.times <= 0, "every certain throttle was served"


def test_retried_create_change_set_after_lost_answer_makes_no_second_change_set(releaser):
    # The task creates the change set, then times out: its answer is lost and it is retried.
    releaser.engine.faults.add(Fault.lambda_timeout(function="*CreateChangeSet*", times=1))

    run = releaser.deploy("feature/retried")

    assert run.status == "SUCCEEDED", run.cause
    events = releaser.sfn.get_execution_history(executionArn=run.arn, maxResults=1000)["events"]
    timed_out = [
        e
        for e in events
        if e["type"] == "TaskFailed"
        and e["taskFailedEventDetails"].get("error") == "Sandbox.Timedout"
    ]
    assert len(timed_out) == 1
    name = stack_name("sr-", releaser.app, "review", "feature/retried")
    cfn = releaser.engine.client("cloudformation", account=accounts(releaser)["dev"])
    assert cfn.list_change_sets(StackName=name)["Summaries"] == []
    assert releaser.stack(accounts(releaser)["dev"], name)["StackStatus"] == "CREATE_COMPLETE"
