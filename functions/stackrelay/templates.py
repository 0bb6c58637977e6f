"""Reading and writing CloudFormation templates (JSON or YAML with short tags)."""

from __future__ import annotations

import json
from typing import Any

import yaml

# libyaml's parser when PyYAML has it (about ten times the pure-Python one's speed).
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[misc,valid-type]
    """SafeLoader that turns ``!Ref X`` into ``{"Ref": "X"}`` and so on."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _tag)
# Dates stay strings, as CloudFormation reads them (AWSTemplateFormatVersion).
_Loader.yaml_implicit_resolvers = {
    key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in _Loader.yaml_implicit_resolvers.items()
}


def parse(text: str | bytes) -> dict[str, Any]:
    """Parse JSON or YAML (short-form intrinsics) to a mapping; ValueError says why not.

    The one template reader: publish, Verify Artifact and the local engine's
    CloudFormation all read templates through it.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, _Loader)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a CloudFormation template: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a CloudFormation template: it is not a mapping")
    return data


def load(text: str | bytes) -> dict[str, Any]:
    """Parse a template that must have Resources; raises ValueError with the reason."""
    data = parse(text)
    if "Resources" not in data:
        raise ValueError("not a CloudFormation template: it has no Resources section")
    return data


def dump(template: dict[str, Any]) -> str:
    """YAML in long form (``Fn::Sub``), which CloudFormation reads as is."""
    return yaml.safe_dump(template, sort_keys=False, default_flow_style=False)


def declared_parameters(template: dict[str, Any]) -> list[str]:
    return sorted((template.get("Parameters") or {}).keys())
