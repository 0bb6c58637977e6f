"""Output shapes checked against the ResultSelectors (#13 item 3).

Every Task of statemachine/src/*.asl.yaml that names ``Returns: [...]`` (built into a
ResultSelector over ``$.Payload``) must list exactly the keys its handler returns.
A handler declares what it returns as a TypedDict, ``Result`` (or ``RESULTS[action]``
when one function answers several actions, as the lock does), and mypy checks every
dict the handler builds against it (`make lint`). Here the Returns lists are checked
against those types: a key the handler does not return fails the state at run time
(States.Runtime), a key the ASL does not select is output nobody reads. A planted
mismatch shows the check can fail.
"""

from __future__ import annotations

import ast
import copy
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import ROOT, load_cfn

sys.path.insert(0, str(ROOT / "scripts"))
import build_asl

TEMPLATE = ROOT / "template.yaml"

Task = tuple[str, str, dict[str, Any]]  # (where, function parameter, source state)


def tasks(definition: dict[str, Any], where: str) -> Iterator[Task]:
    for name, state in definition.get("States", {}).items():
        here = f"{where}/{name}"
        if state.get("Type") == "Task" and "Function" in state:
            yield here, state["Function"], state
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from tasks(state[key], here)
        for i, branch in enumerate(state.get("Branches", [])):
            yield from tasks(branch, f"{here}[{i}]")


def source_tasks() -> list[Task]:
    return [
        task
        for source in build_asl.sources()
        for task in tasks(build_asl.load_yaml(source), source.name)
        if "Returns" in task[2]
    ]


def handlers() -> dict[str, str]:
    """``XFunctionArn`` -> the handler module of the function it substitutes."""
    template = load_cfn(TEMPLATE)
    resources = template["Resources"]
    found: dict[str, str] = {}
    for resource in resources.values():
        for name, value in (
            resource.get("Properties", {}).get("DefinitionSubstitutions") or {}
        ).items():
            if isinstance(value, dict) and "Fn::GetAtt" in value:
                target = value["Fn::GetAtt"]
                logical = target[0] if isinstance(target, list) else target.split(".")[0]
                handler = resources[logical]["Properties"]["Handler"]
                found[name] = handler.rsplit(".", 1)[0]
    return found


# Read statically (never imported: a handler reads its settings at import, and this
# process must not fix them for the workflow tests that share it).
FUNCTIONS = ROOT / "functions"


def _module_file(module: str) -> Path:
    return FUNCTIONS / (module.replace(".", "/") + ".py")


def _tree(module: str) -> ast.Module:
    return ast.parse(_module_file(module).read_text())


def _imported(tree: ast.Module, name: str) -> tuple[str, str] | None:
    """(module, name) that ``name`` was imported as, or None."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    if node.module == "stackrelay" and not alias.asname:
                        return f"stackrelay.{alias.name}", ""
                    return node.module, alias.name
    return None


def typed_keys(module: str, name: str) -> list[str]:
    """The keys of the TypedDict ``name`` as ``module`` sees it (defined or imported)."""
    tree = _tree(module)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return [
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            ]
    found = _imported(tree, name)
    if found is None:
        raise LookupError(f"{module} defines no {name}")
    return typed_keys(*found)


def _resolve(module: str, expression: ast.expr) -> list[str]:
    if isinstance(expression, ast.Name):
        return typed_keys(module, expression.id)
    if isinstance(expression, ast.Attribute) and isinstance(expression.value, ast.Name):
        found = _imported(_tree(module), expression.value.id)
        if found is None:
            raise LookupError(f"{module}: {expression.value.id} is not imported")
        return typed_keys(found[0] if not found[1] else f"{found[0]}.{found[1]}", expression.attr)
    raise LookupError(f"{module}: cannot read {ast.dump(expression)}")


def result_keys(module: str, state: dict[str, Any]) -> list[str]:
    """The keys the handler returns for this Task: ``RESULTS[...]`` or ``Result``."""
    for node in _tree(module).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "RESULTS" for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            # The request is told by its payload's action, or by the key it carries.
            payload = state.get("Payload") or {}
            told = {payload.get("action"), *(str(k).removesuffix(".$") for k in payload)}
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in told:
                    return _resolve(module, value)
            raise LookupError(f"{module}: RESULTS has none of {sorted(map(str, told))}")
    return typed_keys(module, "Result")


def mismatches(source: list[Task], modules: dict[str, str]) -> list[str]:
    """Every Task whose Returns differs from its handler's result keys."""
    found = []
    for where, function, state in source:
        returns = list(state["Returns"])
        keys = result_keys(modules[function], state)
        if len(set(returns)) != len(returns):
            found.append(f"{where}: Returns lists a key twice: {returns}")
        missing = sorted(set(returns) - set(keys))
        unread = sorted(set(keys) - set(returns))
        if missing:
            found.append(f"{where}: Returns {missing}, which {modules[function]} never returns")
        if unread:
            found.append(f"{where}: {modules[function]} returns {unread}, which Returns omits")
    return found


@pytest.fixture(scope="module")
def modules() -> dict[str, str]:
    return handlers()


@pytest.fixture
def aws_env() -> Iterator[None]:
    """Settings for a plan (the orchestrator's environment)."""
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "DEV_ACCOUNT_ID": "111111111111",
        "STAGING_ACCOUNT_ID": "222222222222",
        "PROD_ACCOUNT_ID": "333333333333",
        "TARGET_REGION": "us-east-1",
        "DEPLOY_ROLE_NAME": "deploy",
        "EXECUTION_ROLE_NAME": "exec",
        "DEFAULT_BRANCH": "main",
        "TABLE_NAME": "table",
        "ARTIFACT_BUCKET": "stackrelay-artifacts",
        "TOKEN_ISSUER": "https://gitlab.example.com",
        "TOKEN_AUDIENCE": "stackrelay",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield


def test_every_task_with_returns_is_checked(modules: dict[str, str]) -> None:
    source = source_tasks()
    assert len(source) >= 20  # the three machines' Lambda tasks with a ResultSelector
    assert {function for _, function, _ in source} <= set(modules)


def test_returns_equal_the_handlers_result_keys(modules: dict[str, str]) -> None:
    assert mismatches(source_tasks(), modules) == []


def test_plan_result_keys_are_what_build_plan_returns(aws_env: None) -> None:
    # The plan's Result is cast from build_plan (plan.py builds a plain dict): check it live.

    from stackrelay.config import Settings
    from stackrelay.model import parse_request
    from stackrelay.plan import build_plan, judge_wave

    event = json.loads((ROOT / "tests" / "events" / "deploy_main.json").read_text())
    plan = build_plan(parse_request(event), Settings.from_env(), "run-1")
    assert list(plan) == typed_keys("stackrelay.tasks.plan", "Result")
    verdict = judge_wave({"name": "prod", "tolerate": 0}, [{"outcome": "failed", "error": "X"}])
    assert list(verdict) == typed_keys("stackrelay.tasks.plan", "Judged")


# -- callback Tasks: the answer's shape against their hand-written ResultSelector ---------

CALLBACK_ANSWERS = {"AwaitStackFunctionArn": ("stackrelay.stackcheck", "CheckResult")}
"""What answers each callback Task: the completion function (or the await task itself)
sends stackcheck.check's result through completion.answer, the same shape Check Stack
returns. (Wait For Approval keeps its whole answer: no ResultSelector.)"""


def callback_tasks() -> list[Task]:
    return [
        task
        for source in build_asl.sources()
        for task in tasks(build_asl.load_yaml(source), source.name)
        if task[2].get("Callback") and "ResultSelector" in task[2]
    ]


def callback_mismatches(source: list[Task]) -> list[str]:
    found = []
    for where, function, state in source:
        if function not in CALLBACK_ANSWERS:
            found.append(f"{where}: no known answer shape for {function} (add CALLBACK_ANSWERS)")
            continue
        selector = state["ResultSelector"]
        keys = typed_keys(*CALLBACK_ANSWERS[function])
        selected = [k.removesuffix(".$") for k in selector]
        paths = [f"{k}: {v}" for k, v in selector.items() if v != f"$.{k.removesuffix('.$')}"]
        if sorted(selected) != sorted(keys):
            found.append(f"{where}: selects {sorted(selected)}, the answer has {sorted(keys)}")
        if paths:
            found.append(f"{where}: keys not read from the answer's own key: {paths}")
    return found


def test_callback_selectors_equal_their_answer() -> None:
    source = callback_tasks()
    assert len(source) >= 2  # Await Stack Event, Await Deletion Event
    assert callback_mismatches(source) == []


def test_planted_callback_selector_mismatch_is_found() -> None:
    source = copy.deepcopy(callback_tasks())
    source[0][2]["ResultSelector"].pop("outputs.$")
    source[1][2]["ResultSelector"]["done.$"] = "$.status"
    found = callback_mismatches(source)
    assert len(found) == 2, found


# -- planted mismatches: the check can fail -------------------------------------------


def _planted(source: list[Task], name: str, change: Any) -> list[Task]:
    planted = []
    for where, function, state in source:
        state = copy.deepcopy(state)
        if where.endswith(f"/{name}"):
            state["Returns"] = change(list(state["Returns"]))
        planted.append((where, function, state))
    return planted


@pytest.mark.parametrize(
    ("name", "change", "says"),
    [
        ("Check Stack", lambda r: [*r, "exit_code"], "never returns"),
        ("Prepare Stack", lambda r: r[1:], "which Returns omits"),
        ("Release Stack Lock", lambda r: [*r, "holder"], "never returns"),
        ("Create Change Set", lambda r: [*r, r[0]], "twice"),
    ],
)
def test_planted_mismatch_is_found(
    modules: dict[str, str], name: str, change: Any, says: str
) -> None:
    found = mismatches(_planted(source_tasks(), name, change), modules)
    assert found and all(name in f for f in found) and any(says in f for f in found)


def test_sources_exist() -> None:
    assert all(isinstance(p, Path) and p.exists() for p in build_asl.sources())
