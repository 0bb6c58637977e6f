"""The state names code relies on (stackrelay.statenames) exist in the built ASL.

The CLI finds a release's plan, headline, outcome lines and waiting step by state
name; if a state is renamed in statemachine/src without its constant, `stackrelay
watch` silently shows less. Each check also runs on a planted violation.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from policy_helpers import ROOT
from stackrelay import statenames

STATEMACHINE = ROOT / "statemachine"

State = dict[str, Any]


def load(machine: str) -> dict[str, Any]:
    return dict(json.loads((STATEMACHINE / f"{machine}.asl.json").read_text()))


def walk(scope: dict[str, Any]) -> Iterator[tuple[str, State]]:
    """Every (name, state) of a definition, nested scopes included."""
    for name, state in scope.get("States", {}).items():
        yield name, state
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from walk(state[key])
        for branch in state.get("Branches", []):
            yield from walk(branch)


def constants() -> dict[str, str]:
    """Every state-name constant of the module (UPPER_CASE str, not a machine's name)."""
    machines = {statenames.DEPLOY, statenames.TEARDOWN, statenames.RECOVER}
    return {
        key: value
        for key, value in vars(statenames).items()
        if key.isupper() and isinstance(value, str) and value not in machines
    }


def missing(machine: str, definition: dict[str, Any]) -> list[str]:
    """Names the code expects in ``machine`` that its definition does not hold."""
    names = {name for name, _ in walk(definition)}
    return sorted(statenames.MACHINES[machine] - names)


def wrong_shapes(definition: dict[str, Any]) -> list[str]:
    """States whose role the code relies on but whose shape does not give it."""
    found = []
    for name, state in walk(definition):
        if name in statenames.STAGE_MAPS and state["Type"] != "Map":
            found.append(f"{name}: the CLI reads its iterations as stages; it is not a Map")
        if name in statenames.RECORD_STATES and state.get("ResultPath") != "$.recorded":
            found.append(f"{name}: the CLI reads $.recorded from it")
        if name == statenames.VALIDATE_INPUT and state.get("ResultPath") != "$.plan":
            found.append(f"{name}: the CLI reads $.plan from it")
        if name == statenames.CHECK_CHANGE_SET and state.get("ResultPath") != "$.change_set":
            found.append(f"{name}: the CLI reads $.change_set.headline from it")
        if name == statenames.WAIT_FOR_APPROVAL and not str(state.get("Resource", "")).endswith(
            ".waitForTaskToken"
        ):
            found.append(f"{name}: the CLI shows it as waiting for a person; it does not wait")
    return found


@pytest.mark.parametrize("machine", sorted(statenames.MACHINES))
def test_every_name_the_code_relies_on_exists(machine: str) -> None:
    assert missing(machine, load(machine)) == []


@pytest.mark.parametrize("machine", sorted(statenames.MACHINES))
def test_named_states_have_the_shape_the_code_reads(machine: str) -> None:
    assert wrong_shapes(load(machine)) == []


def test_every_constant_is_checked_in_some_machine() -> None:
    checked = set().union(*statenames.MACHINES.values())
    unchecked = {key for key, value in constants().items() if value not in checked}
    assert not unchecked, f"add these to statenames.MACHINES: {sorted(unchecked)}"


def test_machines_are_the_shipped_definitions() -> None:
    shipped = {p.name.removesuffix(".asl.json") for p in STATEMACHINE.glob("*.asl.json")}
    assert set(statenames.MACHINES) <= shipped


# -- planted violations: each check can fail ------------------------------------------


def _rename(scope: dict[str, Any], old: str, new: str) -> bool:
    states = scope.get("States", {})
    if old in states:
        states[new] = states.pop(old)
        return True
    for state in states.values():
        for key in ("ItemProcessor", "Iterator"):
            if key in state and _rename(state[key], old, new):
                return True
    return False


@pytest.mark.parametrize(
    "name",
    [statenames.WAIT_FOR_APPROVAL, statenames.VALIDATE_INPUT, statenames.RECORD_DEPLOYMENT],
)
def test_planted_renamed_state_is_missing(name: str) -> None:
    definition = copy.deepcopy(load(statenames.DEPLOY))
    assert _rename(definition, name, name + " Renamed")
    assert missing(statenames.DEPLOY, definition) == [name]


def test_planted_wrong_result_path_is_found() -> None:
    definition = copy.deepcopy(load(statenames.DEPLOY))
    for name, state in walk(definition):
        if name == statenames.RECORD_FAILURE:
            state["ResultPath"] = "$.outcome"
    assert wrong_shapes(definition) == [
        f"{statenames.RECORD_FAILURE}: the CLI reads $.recorded from it"
    ]
