"""Stack locks in workflows (issue 5.3): one change set at a time per stack, a newer review
commit supersedes an older waiter, and no lock outlives its execution."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from review_fixtures import (
    deployments,
    dev,
    failures,
    lock_items,
    publish,
    review_stack,
    stack_status,
    states_entered,
    stop,
    wait_for_state,
)
from stackrelay import statenames
from stackrelay_cli.local import LocalOrchestrator, bootstrap
from stackrelay_local import EngineConfig, Fault, LocalEngine


@pytest.fixture(scope="module")
def local() -> Iterator[LocalOrchestrator]:
    """These tests park executions on the polling states (Check Stack, Wait For Stack Lock):
    the polling path (StackCompletion=poll). Event completion has its own tests."""
    with LocalEngine(EngineConfig(stack_seconds=20.0)) as engine:
        yield bootstrap(engine, parameters={"StackCompletion": "poll"})


COMMITS = {"1": "1111111aaaaaaa", "2": "2222222bbbbbbb", "3": "3333333ccccccc"}


def start(releaser, ref, artifact, build):
    return releaser.start(releaser.request(ref, artifact, commit=COMMITS[build]))


def deployed_commit(releaser):
    """The commit of the last change set executed on the app's stack, from the records."""
    return [r for r in deployments(releaser) if r["outcome"] == "deployed"][-1]["commit"]


def deployed_build(releaser, name):
    """BUILD of the stack's function: which artifact the stack runs now."""
    cfn = releaser.engine.client("cloudformation", account=dev(releaser))
    resource = cfn.describe_stack_resource(StackName=name, LogicalResourceId="NotesFunction")
    function = resource["StackResourceDetail"]["PhysicalResourceId"]
    config = releaser.engine.client("lambda", account=dev(releaser)).get_function_configuration(
        FunctionName=function
    )
    return config["Environment"]["Variables"]["BUILD"]


def execute_periods(releaser):
    """(start, end) of every change-set execution the records show, by start."""
    return sorted(
        (float(r["started_at"]), float(r["finished_at"]))
        for r in deployments(releaser)
        if r["outcome"] == "deployed"
    )


def test_two_concurrent_deploys_same_stack_never_overlap(releaser, tmp_path):
    ref = "feature/race"
    name = review_stack(releaser, ref)
    releaser.engine.set_stack_seconds(600, stack=name)
    one, two = publish(releaser, tmp_path, "1"), publish(releaser, tmp_path, "2")

    arns = [start(releaser, ref, one, "1"), start(releaser, ref, two, "2")]
    runs = [releaser.finish(arn) for arn in arns]

    assert [r.status for r in runs] == ["SUCCEEDED", "SUCCEEDED"], [
        failures(releaser, r.arn) for r in runs
    ]
    waited = [r for r in runs if "Wait For Stack Lock" in states_entered(releaser, r.arn)]
    assert len(waited) == 1, "exactly one execution should have waited for the lock"
    periods = execute_periods(releaser)
    assert len(periods) == 2
    (_, first_end), (second_start, _) = periods
    assert second_start >= first_end, f"change sets overlapped: {periods}"
    assert first_end - periods[0][0] >= 600
    assert lock_items(releaser) == []
    assert stack_status(releaser, dev(releaser), name) == "UPDATE_COMPLETE"


def test_newer_review_commit_supersedes_older_waiter(releaser, tmp_path):
    ref = "feature/supersede"
    name = review_stack(releaser, ref)
    releaser.engine.set_stack_seconds(3000, stack=name)
    artifacts = {b: publish(releaser, tmp_path, b) for b in ("1", "2", "3")}
    # Given A changes the stack (a long create) and B waits for the lock
    a = start(releaser, ref, artifacts["1"], "1")
    wait_for_state(releaser, a, statenames.EXECUTE_CHANGE_SET)
    b = start(releaser, ref, artifacts["2"], "2")
    wait_for_state(releaser, b, "Wait For Stack Lock")

    # When C, a newer commit of the same branch, arrives
    c = start(releaser, ref, artifacts["3"], "3")
    run_a, run_b, run_c = (releaser.finish(arn) for arn in (a, b, c))

    # Then B gives up without touching the stack, and C deploys after A
    runs = [run_a, run_b, run_c]
    assert [r.status for r in runs] == ["SUCCEEDED"] * 3, [failures(releaser, r.arn) for r in runs]
    assert run_b.output["stages"][0]["outcome"] == "superseded"
    assert statenames.CREATE_CHANGE_SET not in states_entered(releaser, b)
    assert run_c.output["stages"][0]["outcome"] == "deployed"
    assert deployed_commit(releaser) == COMMITS["3"]
    assert deployed_build(releaser, name) == "3"
    (_, a_end), (c_start, _) = execute_periods(releaser)
    assert c_start >= a_end
    assert lock_items(releaser) == []


def test_stopped_holder_lock_released_and_next_deploy_not_blocked(releaser, tmp_path):
    ref = "feature/aborted"
    name = review_stack(releaser, ref)
    releaser.engine.set_stack_seconds(300, stack=name)
    a = start(releaser, ref, publish(releaser, tmp_path, "1"), "1")
    wait_for_state(releaser, a, statenames.CHECK_STACK)
    assert [i["holder"] for i in lock_items(releaser) if i["sk"] == "LOCK"] == [a]

    janitor = stop(releaser, a)

    assert f"LOCK#{dev(releaser)}#{name}/LOCK" in janitor["released"]
    assert lock_items(releaser) == []
    run = releaser.finish(start(releaser, ref, publish(releaser, tmp_path, "2"), "2"))
    assert run.status == "SUCCEEDED", run.cause
    assert "Wait For Stack Lock" not in states_entered(releaser, run.arn)
    assert deployed_commit(releaser) == COMMITS["2"]
    assert deployed_build(releaser, name) == "2"
    assert lock_items(releaser) == []


def test_crashed_holder_lock_taken_over_without_janitor(releaser, tmp_path):
    ref = "feature/crashed"
    name = review_stack(releaser, ref)
    releaser.engine.set_stack_seconds(120, stack=name)
    a = start(releaser, ref, publish(releaser, tmp_path, "1"), "1")
    wait_for_state(releaser, a, statenames.CHECK_STACK)
    releaser.sfn.stop_execution(executionArn=a)  # no status-change event delivered

    run = releaser.finish(start(releaser, ref, publish(releaser, tmp_path, "2"), "2"))

    assert run.status == "SUCCEEDED", run.cause
    assert "Wait For Stack Lock" not in states_entered(releaser, run.arn)
    assert lock_items(releaser) == []


def test_lock_a_failed_execution_could_not_release_is_freed_by_the_janitor_via_eventbridge(
    releaser, tmp_path
):
    # Given an execution holding the lock whose record and lock functions then break,
    ref = "feature/stuck-lock"
    name = review_stack(releaser, ref)
    releaser.engine.set_stack_seconds(120, stack=name)
    a = start(releaser, ref, publish(releaser, tmp_path, "1"), "1")
    wait_for_state(releaser, a, statenames.CHECK_STACK)
    for function in ("*RecordOutcome*", "*-LockFunction-*"):
        releaser.engine.faults.add(
            Fault.lambda_crash(function=function, error_type="TaskCrashed", times=None)
        )

    engine = releaser.engine

    def janitor_deliveries() -> int:
        found = engine.events.deliveries(
            source="aws.states", target="*LockJanitor*", outcome="delivered"
        )
        return len(found)

    before = janitor_deliveries()

    # When it fails (it cannot record nor release: LockNotReleased),
    run = releaser.finish(a)
    releaser.engine.faults.clear()
    assert (run.status, run.error) == ("FAILED", "LockNotReleased")

    # Then its FAILED status-change event reaches the lock janitor, which frees the lock.
    for _ in range(100):
        if janitor_deliveries() > before:
            break
        engine.clock.advance(engine.config.event_latency_seconds)
        engine.events.wait_idle(30)
    assert lock_items(releaser) == []
    assert stack_status(releaser, dev(releaser), name) == "CREATE_COMPLETE"
