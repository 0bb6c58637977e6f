"""Helpers for the review-environment workflow tests (teardown, recover, locks, reaper).

Kept out of conftest.py: other workflow tests do not need them.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from stackrelay.naming import stack_name

MATRIX_COUNTS: Counter[str] = Counter()  # the fault matrix's counts, printed at the end
REVIEW_APP = Path(__file__).resolve().parents[1] / "fixtures" / "review_app"
PREFIX = "sr-"


def publish(releaser: Any, tmp_path: Path, build: str = "1") -> dict[str, str]:
    """Publish the review fixture app; another ``build`` is another artifact (a new commit)."""
    if build == "1":
        return releaser.publish(REVIEW_APP)
    target = tmp_path / f"review_app_{build}"
    if not target.exists():
        shutil.copytree(REVIEW_APP, target)
        template = target / "template.yaml"
        template.write_text(template.read_text().replace('BUILD: "1"', f'BUILD: "{build}"'))
    return releaser.publish(target)


def review_stack(releaser: Any, ref: str) -> str:
    return stack_name(PREFIX, releaser.app, "review", ref)


def release_stack(releaser: Any, stage: str) -> str:
    return stack_name(PREFIX, releaser.app, stage)


def dev(releaser: Any) -> str:
    return str(releaser.engine.config.accounts["dev"])


def teardown_input(releaser: Any, ref: str, **source: Any) -> dict[str, Any]:
    return {**releaser.request(ref, None, **source), "action": "teardown"}


def start_teardown(releaser: Any, ref: str, **source: Any) -> str:
    return str(releaser.start(teardown_input(releaser, ref, **source), "TeardownStateMachineArn"))


def function_named(releaser: Any, logical_id: str) -> str:
    """The physical name of one of the orchestrator's functions."""
    cfn = releaser.engine.client("cloudformation")
    resources = cfn.describe_stack_resources(StackName="stackrelay")["StackResources"]
    return next(
        r["PhysicalResourceId"] for r in resources if r.get("LogicalResourceId") == logical_id
    )


def invoke(releaser: Any, function: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Invoke an orchestrator function (a stack output or a logical id) as the CLI does.

    A function error comes back as ``{"FunctionError": <errorType>, "message": ...}``.
    """
    name = releaser.local.outputs.get(function) or function_named(releaser, function)
    response = releaser.engine.client("lambda").invoke(
        FunctionName=name, Payload=json.dumps(payload).encode()
    )
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        return {"FunctionError": body.get("errorType"), "message": body.get("errorMessage")}
    return dict(body or {})


def states_entered(releaser: Any, arn: str) -> list[str]:
    events = releaser.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def stack_status(releaser: Any, account: str, name: str) -> str:
    cfn = releaser.engine.client("cloudformation", account=account)
    try:
        return str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
    except Exception as exc:
        if "does not exist" in str(exc):
            return "DELETE_COMPLETE"
        raise


def lock_items(releaser: Any) -> list[dict[str, Any]]:
    table = releaser.table()
    items = table.scan()["Items"]
    return [i for i in items if str(i["pk"]).startswith("LOCK#")]


def stop(releaser: Any, arn: str, timeout: float = 60.0) -> dict[str, Any]:
    """Stop an execution and let the engine's EventBridge do the rest, as on AWS.

    Step Functions puts the ABORTED "Execution Status Change" event on the default
    bus; template.yaml's rule delivers it to the lock janitor (simulated latency,
    so the clock is moved until the delivery happened). Returns the janitor
    deliveries it caused and the locks of this execution that are gone since.
    """
    engine = releaser.engine
    held = {f"{i['pk']}/{i['sk']}" for i in lock_items(releaser) if i.get("holder") == arn}

    def delivered() -> list[Any]:
        return engine.events.deliveries(
            source="aws.states", target="*LockJanitor*", outcome="delivered"
        )

    before = len(delivered())
    releaser.sfn.stop_execution(executionArn=arn)
    for _ in range(20):
        if len(delivered()) > before:
            break
        engine.clock.advance(engine.config.event_latency_seconds)
        engine.events.wait_idle(timeout)
    else:
        # moto does not end an execution parked on a task token when it is stopped, so
        # no status-change event is emitted for it: hand the janitor the event AWS sends.
        machine = arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
        event = {
            "version": "0",
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": arn, "stateMachineArn": machine, "status": "ABORTED"},
        }
        invoke(releaser, "LockJanitorFunction", event)
    left = {f"{i['pk']}/{i['sk']}" for i in lock_items(releaser)}
    return {"deliveries": delivered()[before:], "released": sorted(held - left)}


def wait_for_state(releaser: Any, arn: str, state: str, timeout: float = 60.0) -> None:
    """Block until the execution has entered ``state`` (short real-time condition waits).

    Executions run in the engine's background threads; like
    ``LocalEngine.wait_execution`` this is the one kind of real wait a test needs.
    """
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while state not in states_entered(releaser, arn):
        status = releaser.sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            raise AssertionError(f"{arn} ended {status} before entering {state!r}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} did not enter {state!r} within {timeout}s")
        pause.wait(0.01)


def deployments(releaser: Any) -> list[dict[str, Any]]:
    """The app's deployment records, oldest first (the history `stackrelay history` reads)."""
    from stackrelay import records

    return list(reversed(records.history(releaser.table(), releaser.app, limit=1000)))


def failures(releaser: Any, arn: str) -> list[str]:
    """Every failure event of an execution (for assertion messages)."""
    events = releaser.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    out = []
    for event in events:
        details = next((v for k, v in event.items() if k.endswith("FailedEventDetails")), None)
        if details:
            out.append(f"{event['type']}: {details.get('error')}: {details.get('cause', '')[:300]}")
    return out
