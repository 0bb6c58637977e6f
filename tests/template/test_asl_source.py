"""The state machines have one source (statemachine/src/) and one retry/catch policy.

- The checked-in statemachine/*.asl.json is exactly what scripts/build_asl.py builds
  from statemachine/src/*.asl.yaml (a hand edit of the JSON, or a source edit without
  `make asl`, fails here).
- Every Task state of every built definition carries the policy of
  statemachine/src/policy.yaml: its retriers first and unchanged, and a States.ALL
  catch-all last, unless its source says why not (Uncaught). Planted violations show
  the checker can fail.
- The builder refuses a source that would break the policy, with a message naming the
  state.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import build_asl
import pytest
from test_asl import Definition, all_states

SOURCES = build_asl.sources()
SOURCE_IDS = [p.name for p in SOURCES]
POLICY = build_asl.load_policy()


def built(name: str) -> Definition:
    return json.loads((build_asl.STATEMACHINE / f"{name}.asl.json").read_text())


def source_states(source: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(where, name) -> source state, with `where` spelt as test_asl.all_states spells it."""
    return {(w, n): s for w, n, s in all_states(build_asl.load_yaml(source))}


# --------------------------------------------------------------------------- built = source
def test_asl_sources_one_per_shipped_definition() -> None:
    assert [build_asl.target_of(p).name for p in SOURCES] == [
        "deploy.asl.json",
        "recover.asl.json",
        "teardown.asl.json",
    ]


@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_IDS)
def test_asl_checked_in_json_is_exactly_what_source_builds(source: Path) -> None:
    expected = build_asl.render(build_asl.build(source, POLICY))
    assert build_asl.target_of(source).read_text() == expected, "run `make asl`"


def test_asl_build_check_reports_nothing_stale() -> None:
    assert build_asl.stale() == []
    assert build_asl.main(["--check"]) == 0


def test_asl_build_planted_source_edit_differs_from_checked_in(tmp_path: Path) -> None:
    # Given a source edited without rebuilding, what it builds is not the checked-in JSON.
    source = build_asl.SOURCE / "teardown.asl.yaml"
    edited = tmp_path / source.name
    edited.write_text(
        source.read_text().replace(
            "Delete Stack:\n", "Delete Stack:\n          TimeoutSeconds: 60\n"
        )
    )
    assert build_asl.render(build_asl.build(edited, POLICY)) != (
        build_asl.target_of(source).read_text()
    )


# --------------------------------------------------------------------------- policy
def policy_violations(definition: Definition, uncaught: set[tuple[str, str]]) -> list[str]:
    """Tasks without the policy's retriers (first, unchanged) or without the catch-all last."""
    found = []
    for where, name, state in all_states(definition):
        if state["Type"] != "Task":
            continue
        here = f"{where}/{name}"
        callback = state.get("Resource", "").endswith(".waitForTaskToken")
        expected = POLICY["callback_retry" if callback else "retry"]
        retry = state.get("Retry", [])
        if retry[: len(expected)] != expected:
            found.append(f"{here}: Retry does not start with the policy's retriers")
        policy_errors = {e for r in expected for e in r["ErrorEquals"]}
        for extra in retry[len(expected) :]:
            if policy_errors & set(extra["ErrorEquals"]):
                found.append(f"{here}: a domain retrier re-lists a policy error")
        catch = state.get("Catch", [])
        catch_all = catch[-1] if catch else {}
        has_catch_all = (
            catch_all.get("ErrorEquals") == POLICY["catch_all"]["ErrorEquals"]
            and {"Next", "ResultPath"} <= catch_all.keys()
        )
        if (where, name) in uncaught:
            if has_catch_all:
                found.append(f"{here}: declared Uncaught but has a catch-all (drop Uncaught)")
        elif not has_catch_all:
            found.append(f"{here}: no States.ALL catch-all last")
    return found


def uncaught_in(source: Path) -> set[tuple[str, str]]:
    return {key for key, state in source_states(source).items() if "Uncaught" in state}


@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_IDS)
def test_asl_every_task_carries_the_shared_policy(source: Path) -> None:
    definition = json.loads(build_asl.target_of(source).read_text())
    assert [s for _, _, s in all_states(definition) if s["Type"] == "Task"]
    assert policy_violations(definition, uncaught_in(source)) == []


@pytest.mark.parametrize("name", ["teardown", "recover"])
def test_asl_teardown_and_recover_tasks_retry_a_timed_out_function(name: str) -> None:
    # The drift #13 names: Sandbox.Timedout was retried in deploy only. Callback tasks
    # (policy.yaml's callback_retry) are the exception: a re-run would get a new token.
    tasks = [
        s
        for _, _, s in all_states(built(name))
        if s["Type"] == "Task" and not s["Resource"].endswith(".waitForTaskToken")
    ]
    assert tasks
    for task in tasks:
        assert any(r["ErrorEquals"] == ["Sandbox.Timedout"] for r in task["Retry"])


def _teardown_task(d: Definition, name: str) -> dict[str, Any]:
    return d["States"]["Tear Down Each Stage"]["ItemProcessor"]["States"][name]


def _plant_drop_sandbox_retry(d: Definition) -> None:
    task = _teardown_task(d, "Delete Stack")
    task["Retry"] = [r for r in task["Retry"] if r["ErrorEquals"] != ["Sandbox.Timedout"]]


def _plant_change_backoff(d: Definition) -> None:
    _teardown_task(d, "Check Deletion")["Retry"][0]["MaxAttempts"] = 1


def _plant_drop_catch_all(d: Definition) -> None:
    _teardown_task(d, "Check Deletion")["Catch"].pop()


def _plant_retry_policy_error_again(d: Definition) -> None:
    _teardown_task(d, "Delete Stack")["Retry"].append(
        {"ErrorEquals": ["Throttled", "StackBusy"], "MaxAttempts": 50}
    )


def _plant_catch_on_uncaught(d: Definition) -> None:
    # Record Teardown is declared Uncaught (DECLARED below) but keeps its catch-all.
    _teardown_task(d, "Record Teardown")["Catch"][-1]["ErrorEquals"] = ["States.ALL"]


DECLARED = {"catch_on_uncaught": "Record Teardown"}


PLANTED = [
    _plant_drop_sandbox_retry,
    _plant_change_backoff,
    _plant_drop_catch_all,
    _plant_retry_policy_error_again,
    _plant_catch_on_uncaught,
]


@pytest.mark.parametrize(
    "plant", PLANTED, ids=[p.__name__.removeprefix("_plant_") for p in PLANTED]
)
def test_asl_policy_checker_planted_violation_detected(plant: Any) -> None:
    source = build_asl.SOURCE / "teardown.asl.yaml"
    clean = built("teardown")
    assert policy_violations(clean, uncaught_in(source)) == []
    planted = copy.deepcopy(clean)
    plant(planted)
    declared = uncaught_in(source) | {
        (where, name)
        for where, name, _ in all_states(planted)
        if name == DECLARED.get(plant.__name__.removeprefix("_plant_"))
    }
    assert policy_violations(planted, declared) != []


# --------------------------------------------------------------------------- builder refuses
TASK = {"Type": "Task", "Function": "LockFunctionArn", "OnError": "Stop", "Next": "Stop"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Retry": []}, "write RetryAlso, not Retry"),
        ({"OnError": None}, "give OnError"),
        ({"Uncaught": "why"}, "give OnError"),
        ({"Resource": "arn:aws:states:::lambda:invoke"}, "Function replaces Resource"),
        ({"Returns": ["a"], "ResultSelector": {}}, "Returns replaces ResultSelector"),
    ],
    ids=["retry", "no-catch-all", "both", "resource", "result-selector"],
)
def test_asl_build_refuses_task_breaking_policy(
    change: dict[str, Any], message: str, tmp_path: Path
) -> None:
    task = {**TASK, **change}
    task = {k: v for k, v in task.items() if v is not None}
    states = {"Do It": task, "Stop": {"Type": "Succeed"}}
    source = tmp_path / "x.asl.yaml"
    source.write_text(json.dumps({"StartAt": "Do It", "States": states}))
    with pytest.raises(build_asl.SourceError, match=message) as caught:
        build_asl.build(source, POLICY)
    assert "Do It" in str(caught.value)


def test_asl_build_refuses_task_keys_on_other_states(tmp_path: Path) -> None:
    source = tmp_path / "x.asl.yaml"
    source.write_text(
        json.dumps({"StartAt": "S", "States": {"S": {"Type": "Pass", "OnError": "S"}}})
    )
    with pytest.raises(build_asl.SourceError, match="Task states only"):
        build_asl.build(source, POLICY)


def test_asl_build_expands_task_keys(tmp_path: Path) -> None:
    states = {
        "Do It": {
            **TASK,
            "Callback": True,
            "Payload": {"token.$": "$$.Task.Token"},
            "Returns": ["a"],
            "RetryAlso": [{"ErrorEquals": ["Busy"], "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["Rejected"], "Next": "Stop"}],
        },
        "Stop": {"Type": "Succeed"},
    }
    source = tmp_path / "x.asl.yaml"
    source.write_text(json.dumps({"StartAt": "Do It", "States": states}))
    task = build_asl.build(source, POLICY)["States"]["Do It"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert task["Parameters"] == {
        "FunctionName": "${LockFunctionArn}",
        "Payload": {"token.$": "$$.Task.Token"},
    }
    assert task["ResultSelector"] == {"a.$": "$.Payload.a"}
    assert task["Retry"] == [*POLICY["callback_retry"], {"ErrorEquals": ["Busy"], "MaxAttempts": 2}]
    assert task["Catch"] == [
        {"ErrorEquals": ["Rejected"], "Next": "Stop"},
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Stop"},
    ]
    assert not set(build_asl.MACROS) & set(task)
