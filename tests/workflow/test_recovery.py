"""Recovery (issue 5.2): a failed first review create recovers on the next deploy;
staging in ROLLBACK_COMPLETE or UPDATE_ROLLBACK_FAILED stops the deploy with the fix;
`stackrelay recover` (the operations function + recover state machine) continues the rollback."""

from __future__ import annotations

from review_fixtures import (
    dev,
    invoke,
    lock_items,
    publish,
    release_stack,
    review_stack,
    stack_status,
    states_entered,
    stop,
)
from stackrelay import statenames
from stackrelay_local import Fault


def test_review_failed_first_create_recreated_by_next_deploy(releaser, tmp_path):
    ref = "feature/first-create-fails"
    name = review_stack(releaser, ref)
    artifact = publish(releaser, tmp_path)
    releaser.engine.faults.add(
        Fault.resource_failed(stack=name, resource="NotesTable", reason="Limit exceeded", times=1)
    )
    first = releaser.deploy(ref, artifact)
    assert first.error == "StackRollback"
    assert stack_status(releaser, dev(releaser), name) == "ROLLBACK_COMPLETE"

    second = releaser.deploy(ref, artifact)

    assert second.status == "SUCCEEDED", second.cause
    assert stack_status(releaser, dev(releaser), name) == "CREATE_COMPLETE"
    entered = states_entered(releaser, second.arn)
    path = [
        statenames.PREPARE_STACK,
        "Delete Failed Review Stack",
        statenames.CHECK_DELETION,
        statenames.CREATE_CHANGE_SET,
        statenames.EXECUTE_CHANGE_SET,
        statenames.RECORD_DEPLOYMENT,
    ]
    positions = [entered.index(state) for state in path]
    assert positions == sorted(positions)
    assert second.output["stages"][0]["outcome"] == "deployed"
    assert lock_items(releaser) == []


def test_staging_failed_first_create_stops_deploy_with_delete_command(releaser, tmp_path):
    staging = release_stack(releaser, "staging")
    artifact = publish(releaser, tmp_path)
    releaser.engine.faults.add(Fault.resource_failed(stack=staging, resource="NotesTable", times=1))
    assert releaser.deploy("main", artifact).error == "StackRollback"

    again = releaser.deploy("main", artifact)

    assert again.status == "FAILED"
    assert again.error == "StackNeedsRecovery"
    assert "ROLLBACK_COMPLETE" in again.cause
    assert f"aws cloudformation delete-stack --stack-name {staging}" in again.cause
    assert "Delete Failed Review Stack" not in states_entered(releaser, again.arn)
    account = releaser.engine.config.accounts["staging"]
    assert stack_status(releaser, account, staging) == "ROLLBACK_COMPLETE"


def test_staging_update_rollback_failed_recovered_by_recover_command(releaser, tmp_path):
    staging = release_stack(releaser, "staging")
    account = releaser.engine.config.accounts["staging"]
    # Given staging deployed once (prod then waits for approval; stop that release)
    first = releaser.start(releaser.request("main", publish(releaser, tmp_path, "1")))
    releaser.wait_approval(first)
    assert stop(releaser, first)["released"]
    # and an update whose rollback fails
    releaser.engine.faults.add(
        Fault.resource_failed(
            stack=staging,
            resource="NotesFunction",
            reason="Function code is locked",
            rollback_fails=True,
            times=1,
        )
    )
    broken = releaser.deploy("main", publish(releaser, tmp_path, "2"))
    assert broken.error == "StackNeedsRecovery"
    assert stack_status(releaser, account, staging) == "UPDATE_ROLLBACK_FAILED"
    # the next deploy stops with the command that fixes it
    blocked = releaser.deploy("main", publish(releaser, tmp_path, "2"))
    assert blocked.error == "StackNeedsRecovery"
    assert f"stackrelay recover --app {releaser.app} --stage staging" in blocked.cause

    started = invoke(
        releaser,
        "OperationsFunctionName",
        {"action": "recover", "app": releaser.app, "stage": "staging", "skip": ["NotesFunction"]},
    )
    run = releaser.finish(started["executionArn"])

    assert started["stack"] == staging
    assert started["status"] == "UPDATE_ROLLBACK_FAILED"
    assert run.status == "SUCCEEDED", run.cause
    assert run.output["outcome"] == "recovered"
    assert stack_status(releaser, account, staging) == "UPDATE_ROLLBACK_COMPLETE"
    assert lock_items(releaser) == []
    history = invoke(
        releaser, "OperationsFunctionName", {"action": "history", "app": releaser.app, "limit": 5}
    )["records"]
    assert history[0]["outcome"] == "recovered"
    assert history[0]["stage"] == "staging"


def test_recover_stack_not_in_update_rollback_failed_refused(releaser, tmp_path):
    # prod was never created: there is nothing to continue
    result = invoke(
        releaser,
        "OperationsFunctionName",
        {"action": "recover", "app": releaser.app, "stage": "prod", "skip": []},
    )

    assert result["FunctionError"] == "StackNotRecoverable"
    assert release_stack(releaser, "prod") in result["message"]
    assert "not UPDATE_ROLLBACK_FAILED" in result["message"]
    recover_arn = releaser.local.outputs["RecoverStateMachineArn"]
    assert releaser.sfn.list_executions(stateMachineArn=recover_arn)["executions"] == [] or all(
        releaser.app not in e["name"]
        for e in releaser.sfn.list_executions(stateMachineArn=recover_arn)["executions"]
    )
