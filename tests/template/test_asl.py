"""Static checks over every statemachine/*.asl.json (STYLE.md, ASL section).

Each rule is a checker that returns its findings (empty when the definition is
clean); the rules run over every definition, and each checker is also run on a
copy of the deploy definition with a planted violation, so each can fail.
Nested scopes (Map ItemProcessor/Iterator, Parallel Branches) are checked like
the top level. Finally the npm package asl-validator checks each definition,
with its ${X} placeholders replaced by dummy ARNs.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import ROOT, load_cfn, require_tool

STATEMACHINE = ROOT / "statemachine"
ASL_FILES = sorted(STATEMACHINE.glob("*.asl.json"))
ASL_IDS = [p.name for p in ASL_FILES]
ASL_VALIDATOR = os.environ.get("ASL_VALIDATOR") or str(
    ROOT / ".tools" / "node_modules" / ".bin" / "asl-validator"
)

LAMBDA_INVOKE = {
    "arn:aws:states:::lambda:invoke",
    "arn:aws:states:::lambda:invoke.waitForTaskToken",
}
LAMBDA_TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
# Where a key ending in ".$" switches the value from a literal to a path.
PATH_FIELDS = ("Parameters", "ResultSelector", "ItemSelector")
TITLE_WORD = re.compile(r"^[A-Z0-9][A-Za-z0-9'-]*$")

Definition = dict[str, Any]
Scope = dict[str, Any]


# --------------------------------------------------------------------------- load
def load(path: Path) -> Definition:
    return json.loads(path.read_text())


def deploy() -> Definition:
    return load(STATEMACHINE / "deploy.asl.json")


def state_machines() -> dict[str, tuple[str, dict[str, Any]]]:
    """DefinitionUri file name -> (logical id, properties) of the template's state machines."""
    template = load_cfn(ROOT / "template.yaml")
    found = {}
    for name, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::StateMachine":
            props = res["Properties"]
            found[Path(str(props.get("DefinitionUri", ""))).name] = (name, props)
    return found


# --------------------------------------------------------------------------- walk
def scopes(definition: Scope, where: str = "") -> Iterator[tuple[str, Scope]]:
    """(where, scope) for the top level and every nested StartAt/States scope."""
    yield where or "<top>", definition
    for name, state in definition.get("States", {}).items():
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from scopes(state[key], f"{where}/{name}")
        for i, branch in enumerate(state.get("Branches", [])):
            yield from scopes(branch, f"{where}/{name}[{i}]")


def all_states(definition: Definition) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for where, scope in scopes(definition):
        for name, state in scope.get("States", {}).items():
            yield where, name, state


def transitions(state: dict[str, Any]) -> list[str]:
    """Every state name this state can move to within its scope."""
    targets = [state[k] for k in ("Next", "Default") if k in state]
    targets += [c["Next"] for c in state.get("Choices", []) if "Next" in c]
    targets += [c["Next"] for c in state.get("Catch", []) if "Next" in c]
    return targets


def walk_values(node: Any, trail: str = "") -> Iterator[tuple[str, str, Any]]:
    """(trail, key, value) for every key of every mapping under node."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield trail, key, value
            yield from walk_values(value, f"{trail}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from walk_values(item, f"{trail}[{i}]")


# --------------------------------------------------------------------------- checks
def transition_violations(definition: Definition) -> list[str]:
    """StartAt, Next, Default, Choices[].Next and Catch[].Next name a state of the same scope."""
    found = []
    for where, scope in scopes(definition):
        names = set(scope.get("States", {}))
        if scope.get("StartAt") not in names:
            found.append(f"{where}: StartAt {scope.get('StartAt')!r} is not a state")
        for name, state in scope.get("States", {}).items():
            found += [
                f"{where}/{name}: {t!r} is not a state here"
                for t in transitions(state)
                if t not in names
            ]
            if state["Type"] not in {"Choice", "Succeed", "Fail"} and not (
                "Next" in state or state.get("End") is True
            ):
                found.append(f"{where}/{name}: neither Next nor End")
    return found


def unreachable_states(definition: Definition) -> list[str]:
    found = []
    for where, scope in scopes(definition):
        states = scope.get("States", {})
        seen: set[str] = set()
        todo = [scope.get("StartAt")]
        while todo:
            name = todo.pop()
            if name in seen or name not in states:
                continue
            seen.add(name)
            todo += transitions(states[name])
        found += [f"{where}/{name}" for name in states if name not in seen]
    return found


def lambda_retry_violations(definition: Definition) -> list[str]:
    found = []
    for where, name, state in all_states(definition):
        if state["Type"] == "Task" and state.get("Resource") in LAMBDA_INVOKE:
            retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            missing = LAMBDA_TRANSIENT - retried
            if missing:
                found.append(f"{where}/{name}: no Retry for {sorted(missing)}")
    return found


def states_all_retry_violations(definition: Definition) -> list[str]:
    return [
        f"{where}/{name}"
        for where, name, state in all_states(definition)
        for retrier in state.get("Retry", [])
        if "States.ALL" in retrier["ErrorEquals"]
    ]


def catch_order_violations(definition: Definition) -> list[str]:
    """States.ALL, when caught, is alone in the last catcher: specific names first."""
    found = []
    for where, name, state in all_states(definition):
        catchers = state.get("Catch", [])
        for i, catcher in enumerate(catchers):
            errors = catcher["ErrorEquals"]
            if "States.ALL" in errors and (errors != ["States.ALL"] or i != len(catchers) - 1):
                found.append(f"{where}/{name}: Catch[{i}] States.ALL is not alone and last")
    return found


def choice_default_violations(definition: Definition) -> list[str]:
    return [
        f"{where}/{name}"
        for where, name, state in all_states(definition)
        if state["Type"] == "Choice" and "Default" not in state
    ]


def is_path(value: Any) -> bool:
    return isinstance(value, str) and (
        value in {"$", "$$"} or value.startswith(("$.", "$$.", "$[", "States."))
    )


def path_key_violations(definition: Definition) -> list[str]:
    """A path value ($., $$., an intrinsic) has a key ending in ".$", and only such a value."""
    found = []
    for where, name, state in all_states(definition):
        for field in PATH_FIELDS:
            for trail, key, value in walk_values(state.get(field, {}), field):
                if key.endswith(".$") and not is_path(value):
                    found.append(f"{where}/{name}: {trail}.{key} is not a path: {value!r}")
                elif not key.endswith(".$") and is_path(value):
                    found.append(f"{where}/{name}: {trail}.{key} holds a path; key needs '.$'")
    return found


def jsonata_violations(definition: Definition) -> list[str]:
    return [
        f"{trail}.{key}"
        for trail, key, value in walk_values(definition)
        if key == "QueryLanguage" and value == "JSONata"
    ]


def state_name_violations(definition: Definition) -> list[str]:
    """Title Case words; Choice states are questions (end with "?")."""
    found = []
    for where, name, state in all_states(definition):
        words = name.removesuffix("?").split(" ")
        if not all(TITLE_WORD.match(w) for w in words):
            found.append(f"{where}/{name}: not Title Case")
        if state["Type"] == "Choice" and not name.endswith("?"):
            found.append(f"{where}/{name}: a Choice name is a question ending in '?'")
    return found


def fail_state_violations(definition: Definition) -> list[str]:
    found = []
    for where, name, state in all_states(definition):
        if state["Type"] != "Fail":
            continue
        if not ({"Error", "ErrorPath"} & state.keys()):
            found.append(f"{where}/{name}: no Error/ErrorPath")
        if not ({"Cause", "CausePath"} & state.keys()):
            found.append(f"{where}/{name}: no Cause/CausePath")
    return found


CHECKERS: dict[str, Callable[[Definition], list[str]]] = {
    "transitions": transition_violations,
    "reachable": unreachable_states,
    "lambda-retry": lambda_retry_violations,
    "no-states-all-retry": states_all_retry_violations,
    "catch-order": catch_order_violations,
    "choice-default": choice_default_violations,
    "path-keys": path_key_violations,
    "no-jsonata": jsonata_violations,
    "state-names": state_name_violations,
    "fail-states": fail_state_violations,
}


# --------------------------------------------------------------------------- rules
def test_statemachine_folder_has_the_three_definitions() -> None:
    assert {p.name for p in ASL_FILES} == {
        "deploy.asl.json",
        "teardown.asl.json",
        "recover.asl.json",
    }


@pytest.mark.parametrize("path", ASL_FILES, ids=ASL_IDS)
def test_asl_file_parses_as_json_object_with_states(path: Path) -> None:
    definition = json.loads(path.read_text())
    assert isinstance(definition, dict)
    assert definition["States"]
    assert definition["StartAt"] in definition["States"]


@pytest.mark.parametrize("checker", CHECKERS.values(), ids=CHECKERS.keys())
@pytest.mark.parametrize("path", ASL_FILES, ids=ASL_IDS)
def test_asl_definition_rule_no_violations(
    path: Path, checker: Callable[[Definition], list[str]]
) -> None:
    assert checker(load(path)) == []


def test_asl_definitions_nested_scopes_are_walked() -> None:
    # The Map's inner states count (a walker that stops at the top would pass vacuously).
    where = {w for w, _ in scopes(deploy())}
    assert "/Deploy Each Stage" in where
    assert "/Deploy Each Stage/Deploy Each Region" in where
    assert any(state["Type"] == "Choice" for w, _, state in all_states(deploy()) if w != "<top>")


@pytest.mark.parametrize("path", ASL_FILES, ids=ASL_IDS)
def test_asl_lambda_tasks_present_and_use_invoke_integration(path: Path) -> None:
    tasks = [s for _, _, s in all_states(load(path)) if s["Type"] == "Task"]
    assert tasks
    assert all(s["Resource"] in LAMBDA_INVOKE for s in tasks)


# --------------------------------------------------------------------------- substitutions
def test_template_state_machines_each_use_one_asl_file() -> None:
    machines = state_machines()
    assert set(machines) == {p.name for p in ASL_FILES}
    for name, (_, props) in machines.items():
        assert props["DefinitionUri"] == f"statemachine/{name}"


def substitution_violations(text: str, substitutions: dict[str, Any]) -> list[str]:
    used = set(PLACEHOLDER.findall(text))
    return [f"${{{x}}} not substituted" for x in sorted(used - substitutions.keys())] + [
        f"{x} never used" for x in sorted(substitutions.keys() - used)
    ]


@pytest.mark.parametrize("path", ASL_FILES, ids=ASL_IDS)
def test_asl_placeholders_match_definition_substitutions_exactly(path: Path) -> None:
    _, props = state_machines()[path.name]
    substitutions = props.get("DefinitionSubstitutions", {})
    assert PLACEHOLDER.findall(path.read_text())
    assert substitution_violations(path.read_text(), substitutions) == []


@pytest.mark.parametrize(
    ("extra_text", "drop"),
    [(' "${UnknownFunctionArn}"', None), ("", "LockFunctionArn")],
    ids=["placeholder-not-substituted", "substitution-not-used"],
)
def test_substitution_checker_planted_violation_detected(extra_text: str, drop: str | None) -> None:
    _, props = state_machines()["deploy.asl.json"]
    substitutions = dict(props["DefinitionSubstitutions"])
    text = (STATEMACHINE / "deploy.asl.json").read_text() + extra_text
    if drop:
        substitutions["UnusedFunctionArn"] = substitutions.pop(drop)
        text = text.replace("${" + drop + "}", "arn:aws:lambda:us-east-1:1:function:x")
    assert substitution_violations(text, substitutions) != []


# --------------------------------------------------------------------------- planted
def _first(definition: Definition, kind: str, inner: bool = False) -> dict[str, Any]:
    return next(
        s
        for w, _, s in all_states(definition)
        if s["Type"] == kind and (w != "<top>") == inner and (kind != "Task" or "Catch" in s)
    )


def _inner_states(definition: Definition) -> dict[str, Any]:
    """The per-target chain: inside Deploy Each Stage (waves), Deploy Each Region (targets)."""
    wave = definition["States"]["Deploy Each Stage"]["ItemProcessor"]["States"]
    return wave["Deploy Each Region"]["ItemProcessor"]["States"]


def _plant_inner_dangling_next(d: Definition) -> None:
    _inner_states(d)["Check Stack"]["Next"] = "No Such State"


def _plant_inner_unreachable(d: Definition) -> None:
    _inner_states(d)["Orphan State"] = {"Type": "Succeed"}


def _plant_bad_start(d: Definition) -> None:
    d["States"]["Deploy Each Stage"]["ItemProcessor"]["StartAt"] = "Nowhere"


def _plant_missing_lambda_retry(d: Definition) -> None:
    task = _first(d, "Task", inner=True)
    task["Retry"][0]["ErrorEquals"].remove("Lambda.TooManyRequestsException")


def _plant_states_all_retry(d: Definition) -> None:
    _first(d, "Task")["Retry"].append({"ErrorEquals": ["States.ALL"], "MaxAttempts": 2})


def _plant_catch_all_first(d: Definition) -> None:
    task = _first(d, "Task", inner=True)
    task["Catch"].insert(0, {"ErrorEquals": ["States.ALL"], "Next": task["Catch"][-1]["Next"]})


def _plant_choice_without_default(d: Definition) -> None:
    _first(d, "Choice", inner=True).pop("Default")


def _plant_path_without_dollar_key(d: Definition) -> None:
    _first(d, "Task", inner=True)["Parameters"]["Payload"]["stage"] = "$.stage"


def _plant_dollar_key_literal(d: Definition) -> None:
    _first(d, "Task")["ResultSelector"]["literal.$"] = "not a path"


def _plant_jsonata(d: Definition) -> None:
    _first(d, "Pass")["QueryLanguage"] = "JSONata"


def _plant_lower_case_name(d: Definition) -> None:
    states = _inner_states(d)
    states["check the stack"] = {"Type": "Succeed"}


def _plant_choice_not_question(d: Definition) -> None:
    states = d["States"]
    states["Route Request"] = {"Type": "Choice", "Choices": [], "Default": "Release Failed"}


def _plant_fail_without_cause(d: Definition) -> None:
    fail = _first(d, "Fail", inner=True)
    for key in ("Cause", "CausePath"):
        fail.pop(key, None)


PLANTED: list[tuple[str, Callable[[Definition], None]]] = [
    ("transitions", _plant_inner_dangling_next),
    ("transitions", _plant_bad_start),
    ("reachable", _plant_inner_unreachable),
    ("lambda-retry", _plant_missing_lambda_retry),
    ("no-states-all-retry", _plant_states_all_retry),
    ("catch-order", _plant_catch_all_first),
    ("choice-default", _plant_choice_without_default),
    ("path-keys", _plant_path_without_dollar_key),
    ("path-keys", _plant_dollar_key_literal),
    ("no-jsonata", _plant_jsonata),
    ("state-names", _plant_lower_case_name),
    ("state-names", _plant_choice_not_question),
    ("fail-states", _plant_fail_without_cause),
]


@pytest.mark.parametrize(
    ("rule", "plant"), PLANTED, ids=[p.__name__.removeprefix("_plant_") for _, p in PLANTED]
)
def test_asl_checker_planted_violation_detected(
    rule: str, plant: Callable[[Definition], None]
) -> None:
    # Given the clean deploy definition with one planted violation,
    definition = deploy()
    assert CHECKERS[rule](definition) == []
    planted = copy.deepcopy(definition)
    plant(planted)
    # the checker for that rule reports it.
    assert CHECKERS[rule](planted) != []


# --------------------------------------------------------------------------- asl-validator
def dummy_arn(value: Any, name: str) -> str:
    """A syntactically real ARN for a substitution (Lambda functions by their GetAtt)."""
    target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    if target:
        resource = target[0] if isinstance(target, list) else str(target).split(".")[0]
        return f"arn:aws:lambda:us-east-1:123456789012:function:{resource}"
    return f"arn:aws:states:us-east-1:123456789012:activity:{name}"


def substituted(path: Path) -> str:
    _, props = state_machines()[path.name]
    substitutions = props.get("DefinitionSubstitutions", {})
    return PLACEHOLDER.sub(
        lambda m: dummy_arn(substitutions.get(m.group(1)), m.group(1)), path.read_text()
    )


def run_asl_validator(definition_file: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool(ASL_VALIDATOR, "asl-validator (npm, in .tools)")
    return subprocess.run(
        [tool, "--json-path", str(definition_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("path", ASL_FILES, ids=ASL_IDS)
def test_asl_validator_substituted_definition_valid(path: Path, tmp_path: Path) -> None:
    text = substituted(path)
    assert "${" not in text
    target = tmp_path / path.name
    target.write_text(text)
    result = run_asl_validator(target)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_asl_validator_planted_missing_target_rejected(tmp_path: Path) -> None:
    definition = json.loads(substituted(STATEMACHINE / "deploy.asl.json"))
    _plant_inner_dangling_next(definition)
    target = tmp_path / "broken.asl.json"
    target.write_text(json.dumps(definition))
    result = run_asl_validator(target)
    assert result.returncode != 0
    assert "No Such State" in result.stdout + result.stderr
