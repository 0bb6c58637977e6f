"""Shared helpers for the template tests: CloudFormation-aware loading and policy walking.

Used by test_setup_policies.py (setup/ templates) and test_template.py (the
orchestrator's template.yaml). The checkers return a list of findings, empty
when the document is clean, so each rule can be shown to fail on a planted
violation.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint
import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- load
def load_cfn(path: Path) -> dict[str, Any]:
    """A template as cfn-lint reads it: short-form intrinsics as Ref/Fn::* mappings."""
    return cfn_yaml.load(str(path))


# --------------------------------------------------------------------------- walk
def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def as_document(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


def policies(resources: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, kind, document) for every policy document; kind is trust/identity/resource."""
    for name, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            yield name, "trust", as_document(props["AssumeRolePolicyDocument"])
            for inline in props.get("Policies", []):
                yield f"{name}/{inline['PolicyName']}", "identity", inline["PolicyDocument"]
        elif res["Type"] in {"AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"}:
            yield name, "identity", props["PolicyDocument"]
        elif res["Type"] == "AWS::S3::BucketPolicy":
            yield name, "resource", props["PolicyDocument"]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return as_list(document["Statement"])


# --------------------------------------------------------------------------- checks
def wildcard_action_violations(document: dict[str, Any]) -> list[str]:
    """Allow statements granting "*", NotAction, or service:* on Resource "*"."""
    found = []
    for st in statements(document):
        if st["Effect"] != "Allow":
            continue
        if "NotAction" in st or "NotResource" in st:
            found.append(f"{st.get('Sid')}: NotAction/NotResource")
        actions = as_list(st.get("Action", []))
        if "*" in actions:
            found.append(f"{st.get('Sid')}: Action '*'")
        if "*" in as_list(st.get("Resource", [])):
            found += [
                f"{st.get('Sid')}: {a} on '*'"
                for a in actions
                if isinstance(a, str) and a.endswith(":*")
            ]
    return found


def service_wildcard_violations(document: dict[str, Any]) -> list[str]:
    """Allow statements granting service:* on any resource (stricter than the above)."""
    return [
        a
        for st in statements(document)
        if st["Effect"] == "Allow"
        for a in as_list(st.get("Action", []))
        if isinstance(a, str) and (a == "*" or a.endswith(":*"))
    ]


def resource_star_violations(document: dict[str, Any], allowed: Iterable[str]) -> list[str]:
    """Actions allowed on Resource "*" that are not in ``allowed``."""
    allowed = set(allowed)
    found = []
    for st in statements(document):
        if st["Effect"] == "Allow" and "*" in as_list(st.get("Resource", [])):
            found += [a for a in as_list(st["Action"]) if a not in allowed]
    return found


def passrole_violations(document: dict[str, Any]) -> list[str]:
    found = []
    for st in statements(document):
        if st["Effect"] != "Allow":
            continue
        actions = [a.lower() for a in as_list(st.get("Action", [])) if isinstance(a, str)]
        if not any(a in {"iam:passrole", "iam:*", "*", "iam:pass*"} for a in actions):
            continue
        condition = st.get("Condition", {}).get("StringEquals", {})
        if "iam:PassedToService" not in condition:
            found.append(st.get("Sid", "?"))
        if "*" in as_list(st.get("Resource", [])):
            found.append(f"{st.get('Sid')}: PassRole on '*'")
    return found


@cache
def _iam_actions() -> dict[str, dict[str, Any]]:
    data = json.loads(
        (Path(cfnlint.__file__).parent / "data/AdditionalSpecs/Policies.json").read_text()
    )
    return {
        service.lower(): {k.lower(): v for k, v in spec["Actions"].items()}
        for service, spec in data.items()
    }


def iam_action_resource_types(action: str) -> list[Any] | None:
    """The resource types IAM lists for an action (cfn-lint's copy); None if unknown."""
    service, name = action.split(":", 1)
    spec = _iam_actions().get(service.lower(), {}).get(name.lower())
    return None if spec is None else list(spec.get("Resources") or [])


# --------------------------------------------------------------------------- tools
def require_tool(path: str | Path | None, what: str) -> str:
    """The tool's path; a skip where it is missing, a failure in CI (CI=true)."""
    if path and (Path(path).is_file() or shutil.which(str(path))):
        return str(path)
    message = f"{what} is not installed (run `make tools`)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
