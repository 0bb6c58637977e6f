"""Stack completion (issue 16) in both modes: by forwarded event, and by polling.

The module's orchestrator is bootstrapped once per mode (StackCompletion=event,
StackCompletion=poll); the default-branch release, the review deploy, a rollback
and a teardown run in both. Lost and duplicated events run in event mode only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from review_fixtures import start_teardown
from stackrelay import statenames
from stackrelay.naming import stack_name
from stackrelay_cli.local import LocalOrchestrator, bootstrap
from stackrelay_local import EngineConfig, Fault, LocalEngine

CFN_STATUS = "CloudFormation Stack Status Change"


@pytest.fixture(scope="module", params=["event", "poll"])
def local(request: pytest.FixtureRequest) -> Iterator[LocalOrchestrator]:
    with LocalEngine(EngineConfig(stack_seconds=20.0)) as engine:
        parameters = {"StackCompletion": request.param, "CompletionFallbackSeconds": "300"}
        yield bootstrap(engine, parameters=parameters)


@pytest.fixture
def mode(local: LocalOrchestrator) -> str:
    cfn = local.engine.client("cloudformation")
    stack = cfn.describe_stacks(StackName="stackrelay")["Stacks"][0]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    return str(values["StackCompletion"])


def entered(releaser: Any, arn: str) -> list[str]:
    events = releaser.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def assert_waited_by(mode: str, states: list[str], await_state: str, poll_state: str) -> None:
    if mode == "event":
        assert await_state in states
        assert poll_state not in states  # no polling loop when the event arrives
    else:
        assert await_state not in states
        assert poll_state in states


def test_review_deploy_in_both_modes(releaser: Any, mode: str) -> None:
    run = releaser.deploy("feature/modes")

    assert run.status == "SUCCEEDED", run.cause
    [stage] = run.output["stages"]
    assert stage["outcome"] == "deployed"
    assert stage["url"].startswith("https://")
    assert_waited_by(
        mode, entered(releaser, run.arn), statenames.AWAIT_STACK_EVENT, statenames.WAIT_FOR_STACK
    )


def test_default_branch_release_in_both_modes(releaser: Any, mode: str) -> None:
    arn = releaser.start(releaser.request("main", releaser.publish()))
    releaser.wait_approval(arn)
    decided = releaser.approve()
    run = releaser.finish(arn)

    assert decided["approval"]["status"] == "approved"
    assert run.status == "SUCCEEDED", run.cause
    assert [(s["stage"], s["outcome"]) for s in run.output["stages"]] == [
        ("staging", "deployed"),
        ("prod", "deployed"),
    ]
    prod = releaser.stack(
        releaser.engine.config.accounts["prod"], stack_name("sr-", releaser.app, "prod")
    )
    assert prod["StackStatus"] == "CREATE_COMPLETE"
    states = entered(releaser, arn)
    assert_waited_by(mode, states, statenames.AWAIT_STACK_EVENT, statenames.WAIT_FOR_STACK)


def test_rollback_fails_with_cloudformations_reason_in_both_modes(releaser: Any, mode: str) -> None:
    name = stack_name("sr-", releaser.app, "review", "feature/broken")
    releaser.engine.faults.add(
        Fault.resource_failed(stack=name, reason="Table name taken", account="dev")
    )

    run = releaser.deploy("feature/broken")

    assert run.status == "FAILED"
    assert run.error == "StackRollback", run.cause
    assert "Table name taken" in run.cause


def test_teardown_in_both_modes(releaser: Any, mode: str) -> None:
    assert releaser.deploy("feature/gone").status == "SUCCEEDED"

    run = releaser.finish(start_teardown(releaser, "feature/gone"))

    assert run.status == "SUCCEEDED", run.cause
    assert releaser.stacks(releaser.engine.config.accounts["dev"]) == []
    assert_waited_by(mode, entered(releaser, run.arn), "Await Deletion Event", "Wait For Deletion")


def _wake_until_done(engine: LocalEngine, arn: str, done: threading.Event) -> None:
    """What time does on AWS: an idle engine's waits reach their timeouts."""
    while not done.wait(0.05):
        if engine.parked_tokens(arn) and engine.events.wait_idle(0.05):
            engine.wake_parked()


def test_lost_event_falls_back_to_checking_the_stack(releaser: Any, mode: str) -> None:
    """Event mode: a lost event costs a fallback check, not the deploy. Poll mode never
    waits on an event, so losing every one changes nothing."""
    engine = releaser.engine
    engine.set_stack_seconds(900)
    engine.faults.add(Fault.event_lost(source="aws.cloudformation", detail_type=CFN_STATUS))
    arn = releaser.start(releaser.request("feature/lost", releaser.publish()))
    done = threading.Event()
    waker = threading.Thread(target=_wake_until_done, args=(engine, arn, done), daemon=True)
    waker.start()
    try:
        run = releaser.finish(arn)
    finally:
        done.set()
        waker.join()

    assert run.status == "SUCCEEDED", run.cause
    states = entered(releaser, arn)
    if mode == "poll":
        assert_waited_by(mode, states, statenames.AWAIT_STACK_EVENT, statenames.WAIT_FOR_STACK)
        return
    # 900 s with a 300-s fallback: the wait times out and checks the stack until it is done.
    assert states.count(statenames.AWAIT_STACK_EVENT) >= 3
    assert states.count(statenames.CHECK_STACK) == states.count(statenames.AWAIT_STACK_EVENT)
    assert statenames.WAIT_FOR_STACK not in states
    assert engine.events.deliveries(outcome="lost")


def test_duplicated_event_answers_the_wait_once(releaser: Any, mode: str) -> None:
    """Event mode: a duplicated event answers the wait once. Poll mode ignores events."""
    releaser.engine.faults.add(
        Fault.event_duplicated(source="aws.cloudformation", target="*:event-bus/*")
    )

    run = releaser.deploy("feature/twice")

    assert run.status == "SUCCEEDED", run.cause
    if mode == "poll":
        assert_waited_by(
            mode,
            entered(releaser, run.arn),
            statenames.AWAIT_STACK_EVENT,
            statenames.WAIT_FOR_STACK,
        )
        return
    assert entered(releaser, run.arn).count(statenames.AWAIT_STACK_EVENT) == 1
    releaser.engine.events.wait_idle(30)
    completed = [
        d
        for d in releaser.engine.events.deliveries(target="*StackCompleted*")
        if d.outcome == "delivered"
    ]
    assert len(completed) >= 2  # the completion function ran for both copies
