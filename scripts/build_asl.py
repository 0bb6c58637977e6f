"""Build statemachine/*.asl.json (what template.yaml ships) from statemachine/src/.

The state machines are written once, in YAML, in ``statemachine/src/<name>.asl.yaml``;
the retry and catch policy every Lambda task carries is written once, in
``statemachine/src/policy.yaml``. This script expands a few keys of a Task state and
writes the JSON that ships; ``--check`` only compares (CI and tests/template run it).

Why a small generator and not YAML anchors alone: anchors cannot cross files, so the
policy would still be copied into each of the three machines, and nothing would stop a
new Task from forgetting it. Here a Task gets the policy whether or not its author
remembers, and a Task that declares neither a catch-all nor why it has none is refused.

Keys a Task state may use besides plain ASL (everything else passes through as written):

``Function: XFunctionArn``
    Resource ``arn:aws:states:::lambda:invoke`` and Parameters
    ``{FunctionName: ${XFunctionArn}, Payload: <Payload>}``.
``Payload: {...}``
    The Lambda payload (with ``Function`` only).
``Callback: true``
    Use ``lambda:invoke.waitForTaskToken`` (the payload carries ``$$.Task.Token``) and
    the policy's ``callback_retry``.
``Returns: [a, b]``
    ResultSelector ``{"a.$": "$.Payload.a", "b.$": "$.Payload.b"}``.
``RetryAlso: [...]``
    Domain retriers appended after the policy's retriers (a Task never writes ``Retry``).
``Catch: [...]``
    Specific catchers, kept first.
``OnError: <state>`` or ``{Next: <state>, ResultPath: <path>}``
    The catch-all, appended last: ``States.ALL`` with the policy's ResultPath.
``Uncaught: <why>``
    Instead of ``OnError``: the Task deliberately has no catch-all, and this says why.
    Dropped from the JSON; tests/template/test_asl_source.py reads it.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
STATEMACHINE = ROOT / "statemachine"
SOURCE = STATEMACHINE / "src"
POLICY = SOURCE / "policy.yaml"

INVOKE = "arn:aws:states:::lambda:invoke"
INVOKE_CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"
MACROS = ("Function", "Payload", "Callback", "Returns", "RetryAlso", "OnError", "Uncaught")

State = dict[str, Any]


class SourceError(Exception):
    """The ASL source breaks a rule of this builder; the message names the state."""


def load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SourceError(f"{path.relative_to(ROOT)}: not valid YAML: {exc}") from None


def load_policy(path: Path = POLICY) -> dict[str, Any]:
    policy = load_yaml(path)
    for key in ("retry", "callback_retry", "catch_all"):
        if key not in policy:
            raise SourceError(f"{path.relative_to(ROOT)}: no {key!r}")
    return policy


def sources() -> list[Path]:
    return sorted(SOURCE.glob("*.asl.yaml"))


def target_of(source: Path) -> Path:
    return STATEMACHINE / source.name.replace(".asl.yaml", ".asl.json")


def _task(where: str, state: State, policy: dict[str, Any]) -> State:
    """The plain-ASL Task state for one source Task state."""
    for key in ("Retry",):
        if key in state:
            raise SourceError(f"{where}: write RetryAlso, not Retry (the policy adds Retry)")
    if "Function" in state and ("Resource" in state or "Parameters" in state):
        raise SourceError(f"{where}: Function replaces Resource and Parameters; give one")
    if "Returns" in state and "ResultSelector" in state:
        raise SourceError(f"{where}: Returns replaces ResultSelector; give one")
    if ("OnError" in state) == ("Uncaught" in state):
        raise SourceError(
            f"{where}: give OnError (the catch-all's next state) or Uncaught (why none)"
        )
    callback = bool(state.get("Callback"))
    out: State = {}
    for key, value in state.items():
        if key == "Function":
            out["Resource"] = INVOKE_CALLBACK if callback else INVOKE
            out["Parameters"] = {"FunctionName": "${" + value + "}"}
            if "Payload" in state:
                out["Parameters"]["Payload"] = state["Payload"]
        elif key == "Returns":
            out["ResultSelector"] = {f"{name}.$": f"$.Payload.{name}" for name in value}
        elif key in ("Next", "End"):
            continue
        elif key not in MACROS and key != "Catch":
            out[key] = value
    retry = policy["callback_retry"] if callback else policy["retry"]
    out["Retry"] = copy.deepcopy(retry) + list(state.get("RetryAlso", []))
    catch = list(state.get("Catch", []))
    if "OnError" in state:
        on_error = state["OnError"]
        if isinstance(on_error, str):
            on_error = {"Next": on_error}
        catch.append({**copy.deepcopy(policy["catch_all"]), **on_error})
    if catch:
        out["Catch"] = catch
    for key in ("Next", "End"):
        if key in state:
            out[key] = state[key]
    return out


def _scope(where: str, scope: State, policy: dict[str, Any]) -> State:
    out = dict(scope)
    states = {}
    for name, state in scope.get("States", {}).items():
        here = f"{where}/{name}"
        if not isinstance(state, dict) or "Type" not in state:
            raise SourceError(f"{here}: a state is a mapping with a Type")
        if state["Type"] == "Task":
            state = _task(here, state, policy)
        elif any(key in state for key in MACROS):
            raise SourceError(f"{here}: {', '.join(MACROS)} are for Task states only")
        state = dict(state)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                state[key] = _scope(here, state[key], policy)
        if "Branches" in state:
            state["Branches"] = [
                _scope(f"{here}[{i}]", b, policy) for i, b in enumerate(state["Branches"])
            ]
        states[name] = state
    out["States"] = states
    return out


def build(source: Path, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ASL definition (a dict) that one source file builds to."""
    definition = load_yaml(source)
    if not isinstance(definition, dict) or "States" not in definition:
        raise SourceError(f"{source.relative_to(ROOT)}: no States")
    return _scope(source.name, definition, policy or load_policy())


def render(definition: dict[str, Any]) -> str:
    """The exact text checked in: two-space JSON, one trailing newline."""
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"


def stale() -> list[Path]:
    """Checked-in JSON files that differ from what their source builds (or are missing)."""
    policy = load_policy()
    found = []
    for source in sources():
        target = target_of(source)
        if not target.exists() or target.read_text() != render(build(source, policy)):
            found.append(target)
    built = {target_of(s) for s in sources()}
    found += [p for p in sorted(STATEMACHINE.glob("*.asl.json")) if p not in built]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale JSON files")
    args = parser.parse_args(argv)
    try:
        if args.check:
            found = stale()
            for path in found:
                print(
                    f"{path.relative_to(ROOT)} is not what statemachine/src builds: run `make asl`",
                    file=sys.stderr,
                )
            return 1 if found else 0
        policy = load_policy()
        for source in sources():
            target_of(source).write_text(render(build(source, policy)))
            print(f"built {target_of(source).relative_to(ROOT)}")
    except SourceError as exc:
        print(f"build_asl: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
