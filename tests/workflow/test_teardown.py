"""Teardown workflow (issue 5.1): delete a review stack in dev and wait; never staging or prod."""

from __future__ import annotations

import pytest
from review_fixtures import (
    dev,
    invoke,
    lock_items,
    publish,
    release_stack,
    review_stack,
    stack_status,
    start_teardown,
    states_entered,
)
from stackrelay import statenames
from stackrelay_local import Fault

ODD_BRANCHES = {
    "slashes-and-case": "Feature/JIRA-123_Login.Page",
    "unicode-and-symbols": "fix/ümlaut+émoji✓@{weird}~^",
    "very-long": "feature/" + "very-long-branch-name-" * 10,
}


@pytest.mark.parametrize("case", sorted(ODD_BRANCHES))
def test_teardown_odd_branch_name_deploys_then_deletes(releaser, tmp_path, case):
    ref = ODD_BRANCHES[case]
    name = review_stack(releaser, ref)
    deployed = releaser.deploy(ref, publish(releaser, tmp_path))
    assert deployed.status == "SUCCEEDED", deployed.cause
    assert stack_status(releaser, dev(releaser), name) == "CREATE_COMPLETE"
    assert len(name) <= 128

    run = releaser.finish(start_teardown(releaser, ref))

    assert run.status == "SUCCEEDED", run.cause
    assert stack_status(releaser, dev(releaser), name) == "DELETE_COMPLETE"
    [stage] = run.output["stages"]
    assert stage["outcome"] == "deleted"
    assert stage["stack"] == name
    assert lock_items(releaser) == []


def test_teardown_stack_never_deployed_succeeds_as_deleted(releaser):
    run = releaser.finish(start_teardown(releaser, "feature/never-deployed"))

    assert run.status == "SUCCEEDED", run.cause
    assert run.output["stages"][0]["outcome"] == "deleted"
    assert "Wait For Deletion" not in states_entered(releaser, run.arn)


def test_teardown_delete_failed_once_retries_and_succeeds(releaser, tmp_path):
    ref = "feature/sticky-once"
    name = review_stack(releaser, ref)
    assert releaser.deploy(ref, publish(releaser, tmp_path)).status == "SUCCEEDED"
    releaser.engine.faults.add(
        Fault.delete_failed(stack=name, resource="NotesTable", reason="Table is in use", times=1)
    )

    run = releaser.finish(start_teardown(releaser, ref))

    assert run.status == "SUCCEEDED", run.cause
    assert stack_status(releaser, dev(releaser), name) == "DELETE_COMPLETE"
    entered = states_entered(releaser, run.arn)
    assert entered.count(statenames.DELETE_STACK) == 2
    assert "Note Deletion Retry" in entered


def test_teardown_delete_failed_twice_fails_naming_resources(releaser, tmp_path):
    ref = "feature/sticky"
    name = review_stack(releaser, ref)
    assert releaser.deploy(ref, publish(releaser, tmp_path)).status == "SUCCEEDED"
    releaser.engine.faults.add(
        Fault.delete_failed(
            stack=name, resource="NotesTable", reason="Table has deletion protection", times=2
        )
    )

    run = releaser.finish(start_teardown(releaser, ref))

    assert run.status == "FAILED"
    assert run.error == "DeleteFailed"
    assert "NotesTable: Table has deletion protection" in run.cause
    assert stack_status(releaser, dev(releaser), name) == "DELETE_FAILED"
    assert states_entered(releaser, run.arn).count(statenames.DELETE_STACK) == 2
    assert lock_items(releaser) == []


def test_teardown_default_branch_refused_and_staging_survives(releaser, tmp_path):
    artifact = publish(releaser, tmp_path)
    arn = releaser.start(releaser.request("main", artifact))
    releaser.wait_approval(arn)  # staging deployed, prod waits for approval
    staging = release_stack(releaser, "staging")
    staging_account = releaser.engine.config.accounts["staging"]

    # The start function refuses it before any execution starts (#11).
    with pytest.raises(AssertionError, match="never release stacks") as refused:
        start_teardown(releaser, "main")

    assert "InvalidInput" in str(refused.value)
    assert stack_status(releaser, staging_account, staging) == "CREATE_COMPLETE"
    assert releaser.stack(staging_account, staging)["EnableTerminationProtection"] is True
    releaser.sfn.stop_execution(executionArn=arn)


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_delete_stack_task_staging_or_prod_stage_raises_teardown_refused(releaser, tmp_path, stage):
    # The delete step refuses on its own, whatever plan reached it.
    # (the protected default branch: the plan has its release stages)
    request = releaser.request("main", publish(releaser, tmp_path), ref_protected=True)
    plan = invoke(releaser, "PlanFunction", {"request": request, "execution": "refuse"})
    target = next(s for s in plan["stages"] if s["stage"] == stage)

    result = invoke(releaser, "DeleteStackFunction", {"stage": target})

    assert result["FunctionError"] == "TeardownRefused"
    assert "only review stacks" in result["message"]
