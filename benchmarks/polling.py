"""How soon does the workflow notice a stack is done, and at what cost?

Runs the real deploy workflow on the local engine against stack operations of
30 s, 1, 5, 15 and 60 simulated minutes, three ways, side by side in one run:

* adaptive: StackRelay's schedule (3 s in the first minute, then 10% of the
  time spent, capped at 30 s), as deployed by default;
* fixed 5 s: what ``sam deploy`` does;
* fixed 30 s: what the AWS CLI's CloudFormation waiters do.

For each it reports, for the stage's stack operation: the state transitions
and Lambda invocations of the polling loop, and the added detection latency
(simulated seconds from the stack reaching its final status to the workflow
noticing). Everything is measured in simulated time from execution histories,
so the numbers do not depend on this machine's speed.

    make bench        # or: .venv/bin/python -m benchmarks.polling
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from stackrelay import statenames
from stackrelay.backoff import next_delay
from stackrelay.config import PollBounds
from stackrelay_cli import build, progress
from stackrelay_cli.local import bootstrap
from stackrelay_local import EngineConfig, LocalEngine

ROOT = Path(__file__).resolve().parents[1]
DURATIONS = (30, 60, 300, 900, 3600)
OFFSET = 1
"""Each operation runs one second past its nominal length: just after a poll on the
5-s and 30-s grids (close to their worst case), arbitrary for the adaptive one."""
SCHEDULES = {  # polling only (StackCompletion=poll): benchmarks.completion compares events
    "adaptive": {"StackCompletion": "poll"},
    "adaptive, 3-s floor": {"StackCompletion": "poll", "PollMinSeconds": "3"},
    "fixed 5 s": {"StackCompletion": "poll", "PollMinSeconds": "5", "PollMaxSeconds": "5"},
    "fixed 30 s": {"StackCompletion": "poll", "PollMinSeconds": "30", "PollMaxSeconds": "30"},
}
TEMPLATE_POLL_MIN = 5  # template.yaml PollMinSeconds' default (the adaptive schedule's floor)
POLL_STATES = {statenames.CHECK_STACK, statenames.IS_STACK_DONE, statenames.WAIT_FOR_STACK}


@dataclass
class Measure:
    schedule: str
    seconds: int
    transitions: int
    invocations: int
    latency: float


def _outputs(events: list[dict], name: str) -> list[dict]:
    """The outputs of every exit from state ``name``, oldest first."""
    found = []
    for event in events:
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == name:
            found.append(json.loads(details["output"]))
    return found


def measure_one(engine, local, schedule: str, seconds: int, app_dir: Path) -> Measure:
    app = f"bench{seconds}"
    local.isolate(app)  # the app's own execution role in the target accounts (#11)
    engine.set_stack_seconds(float(seconds + OFFSET))
    artifact = build.publish(
        app_dir, app, engine.session(), local.bucket, sam_endpoint_url=engine.http_endpoint()
    ).as_input()
    sfn = engine.client("stepfunctions")
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
    execution = engine.wait_execution(arn, timeout=900)
    if execution["status"] != "SUCCEEDED":
        raise SystemExit(
            f"{schedule} {seconds}s: {execution.get('error')}: {execution.get('cause')}"
        )
    events = progress.history(sfn, arn)
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    started = _outputs(events, statenames.EXECUTE_CHANGE_SET)[-1]["execution"]["started_at"]
    noticed = _outputs(events, statenames.CHECK_STACK)[-1]["result"]["checked_at"]
    return Measure(
        schedule=schedule,
        seconds=seconds,
        transitions=sum(name in POLL_STATES for name in entered),
        invocations=entered.count(statenames.CHECK_STACK),
        latency=noticed - (started + seconds + OFFSET),
    )


def run(durations: tuple[int, ...] = DURATIONS) -> list[Measure]:
    import shutil
    import tempfile

    results = []
    work = Path(tempfile.mkdtemp(prefix="bench-app-"))
    app_dir = work / "aws-news"
    shutil.copytree(ROOT / "examples" / "aws-news", app_dir)
    build.sam_build(app_dir)  # once; every publish below ships this build
    for schedule, parameters in SCHEDULES.items():
        with LocalEngine(EngineConfig()) as engine:
            local = bootstrap(engine, parameters=parameters)
            for seconds in durations:
                results.append(measure_one(engine, local, schedule, seconds, app_dir))
                print(f"  measured {schedule:<10} {seconds:>5} s", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    return results


def worst_case(schedule: str, seconds: int) -> int:
    """The longest the workflow can take to notice: the wait in force at that time."""
    parameters = SCHEDULES[schedule]
    if "PollMaxSeconds" in parameters:
        return int(parameters["PollMaxSeconds"])
    floor = int(parameters.get("PollMinSeconds", TEMPLATE_POLL_MIN))
    bounds = PollBounds(minimum=floor)
    return max(next_delay(t, bounds) for t in range(max(0, seconds - 60), seconds + 1))


def table(results: list[Measure]) -> str:
    by = {(m.schedule, m.seconds): m for m in results}
    durations = sorted({m.seconds for m in results})
    lines = [
        "| stack time | schedule | transitions | Lambda calls | added latency | latency / op "
        "| worst case |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for seconds in durations:
        for schedule in SCHEDULES:
            m = by[(schedule, seconds)]
            label = f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"
            lines.append(
                f"| {label} | {schedule} | {m.transitions} | {m.invocations} | "
                f"{m.latency:.1f} s | {100 * m.latency / seconds:.1f}% | "
                f"{worst_case(schedule, seconds)} s |"
            )
    adaptive = by[("adaptive", durations[-1])]
    fixed = by[("fixed 5 s", durations[-1])]
    lines.append("")
    lines.append(
        f"For a {durations[-1] // 60}-minute operation the adaptive schedule uses "
        f"{adaptive.transitions / fixed.transitions:.2f}x the transitions of 5-s polling "
        f"({adaptive.transitions} vs {fixed.transitions})."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    short = "--short" in sys.argv  # the polling floor: operations of a minute or less
    print(table(run((30, 60) if short else (30, 300) if quick else DURATIONS)))
