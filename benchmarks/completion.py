"""Stack completion: event-driven vs adaptive polling vs fixed 5-s polling.

Runs the real deploy workflow (a review stage) on the local engine against
stack operations of 30 s to 60 simulated minutes, four ways:

* ``event``: StackCompletion=event. The target account's rule forwards the
  stack's terminal status event to the orchestrator's completion bus; the
  stage's ``.waitForTaskToken`` wait is answered by the completion function.
* ``event, events lost``: the same with every forwarded CloudFormation status
  event dropped (an injected fault): the wait times out every
  CompletionFallbackSeconds (1800 s, the default) and checks the stack itself.
* ``adaptive``: StackCompletion=poll, StackRelay's adaptive schedule.
* ``fixed 5 s``: StackCompletion=poll with PollMin=PollMax=5 (``sam deploy``).

Rows: ``{mode, op_seconds, transitions, lambda_calls, detection_seconds}``
where transitions are the states the stage's wait entered, lambda_calls the
Lambda invocations it made (Check Stack, Await Stack Event and the completion
function), and detection_seconds the simulated time from the stack reaching
its final status to the workflow knowing it. Simulated time only: the numbers
do not depend on this machine's speed.

    .venv/bin/python -m benchmarks.completion [--json] [--quick] [--events | --polling]
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stackrelay import statenames
from stackrelay_cli import packaging
from stackrelay_cli.local import bootstrap
from stackrelay_local import EngineConfig, Fault, LocalEngine

ROOT = Path(__file__).resolve().parents[1]
DURATIONS = (30, 60, 300, 900, 3600)
OFFSET = 1
"""Each operation runs one second past its nominal length (just after a 5-s poll)."""
FALLBACK_SECONDS = 1800
CFN = "CloudFormation Stack Status Change"
MODES: dict[str, dict[str, str]] = {
    "event": {"StackCompletion": "event"},
    "event, events lost": {"StackCompletion": "event"},
    "adaptive": {"StackCompletion": "poll"},
    "fixed 5 s": {"StackCompletion": "poll", "PollMinSeconds": "5", "PollMaxSeconds": "5"},
}
WAIT_STATES = {
    "Is Completion By Event?",
    statenames.AWAIT_STACK_EVENT,
    statenames.CHECK_STACK,
    statenames.IS_STACK_DONE,
    statenames.WAIT_FOR_STACK,
}
LAMBDA_STATES = {statenames.AWAIT_STACK_EVENT, statenames.CHECK_STACK}


@dataclass
class Row:
    mode: str
    op_seconds: int
    transitions: int
    lambda_calls: int
    detection_seconds: float


def _inputs(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [
        json.loads(e["stateEnteredEventDetails"]["input"])
        for e in events
        if (e.get("stateEnteredEventDetails") or {}).get("name") == name
    ]


def _drive(engine: LocalEngine, arn: str, done: threading.Event) -> None:
    """Let lost-event waits time out: when the engine idles, move to the next deadline."""
    sfn = engine.client("stepfunctions")
    while not done.wait(0.05):
        if engine.parked_tokens(arn) and engine.events.wait_idle(0.05):
            engine.wake_parked()
        if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
            return


def measure(engine: LocalEngine, local: Any, mode: str, seconds: int, app_dir: Path) -> Row:
    app = f"bench{seconds}"
    local.isolate(app)  # the app's own execution role in the target accounts (#11)
    engine.set_stack_seconds(float(seconds + OFFSET))
    artifact = packaging.package(app_dir, app, engine.client("s3"), local.bucket).as_input()
    sfn = engine.client("stepfunctions")
    completed_before = len(engine.events.deliveries(target="*StackCompleted*"))
    request = {
        "app": app,
        "artifact": artifact,
        "source": {
            "project": "bench/app",
            "ref": "feature/bench",
            "commit": "abcdef1234",
            "pipeline_id": str(seconds),
        },
    }
    arn = sfn.start_execution(
        stateMachineArn=local.outputs["DeployStateMachineArn"],
        name=f"bench-{seconds}",
        input=json.dumps(request),
    )["executionArn"]
    done = threading.Event()
    driver = threading.Thread(target=_drive, args=(engine, arn, done), daemon=True)
    driver.start()
    try:
        execution = engine.wait_execution(arn, timeout=1800)
    finally:
        done.set()
        driver.join()
    if execution["status"] != "SUCCEEDED":
        raise SystemExit(f"{mode} {seconds}s: {execution.get('error')}: {execution.get('cause')}")
    engine.events.wait_idle(30)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    execute = [
        e
        for e in events
        if (e.get("stateExitedEventDetails") or {}).get("name") == statenames.EXECUTE_CHANGE_SET
    ]
    started = json.loads(execute[-1]["stateExitedEventDetails"]["output"])["execution"][
        "started_at"
    ]
    noticed = _inputs(events, "Is Stack Done?")[-1]["result"]["checked_at"]
    completions = len(engine.events.deliveries(target="*StackCompleted*")) - completed_before
    return Row(
        mode=mode,
        op_seconds=seconds,
        transitions=sum(name in WAIT_STATES for name in entered),
        lambda_calls=sum(name in LAMBDA_STATES for name in entered) + completions,
        detection_seconds=round(noticed - (started + seconds + OFFSET), 3),
    )


def run(durations: tuple[int, ...] = DURATIONS, modes: tuple[str, ...] = tuple(MODES)) -> list[Row]:
    rows = []
    app_dir = ROOT / "examples" / "aws-news"
    for mode in modes:
        parameters = MODES[mode]
        with LocalEngine(EngineConfig()) as engine:
            local = bootstrap(
                engine,
                parameters={**parameters, "CompletionFallbackSeconds": str(FALLBACK_SECONDS)},
            )
            if mode == "event, events lost":
                engine.faults.add(Fault.event_lost(source="aws.cloudformation", detail_type=CFN))
            for seconds in durations:
                rows.append(measure(engine, local, mode, seconds, app_dir))
                print(f"  measured {json.dumps(asdict(rows[-1]))}", file=sys.stderr, flush=True)
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| stack time | mode | transitions | Lambda calls | detection |",
        "|---:|---|---:|---:|---:|",
    ]
    for row in sorted(rows, key=lambda r: (r.op_seconds, list(MODES).index(r.mode))):
        label = f"{row.op_seconds // 60} min" if row.op_seconds >= 60 else f"{row.op_seconds} s"
        lines.append(
            f"| {label} | {row.mode} | {row.transitions} | {row.lambda_calls} | "
            f"{row.detection_seconds:.1f} s |"
        )
    lines.append("")
    lines.append(
        f"Events lost: the wait checks the stack itself every {FALLBACK_SECONDS} s, so "
        f"detection is at most {FALLBACK_SECONDS} s plus one check."
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``--json``: rows as JSON; ``--quick``: 30 s and 60 min only; ``--events``: the two
    event modes only (``--polling``: the two polling modes only)."""
    durations = (30, 3600) if "--quick" in argv else DURATIONS
    modes = tuple(MODES)
    if "--events" in argv:
        modes = ("event", "event, events lost")
    elif "--polling" in argv:
        modes = ("adaptive", "fixed 5 s")
    rows = run(durations, modes)
    if "--json" in argv:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
