"""Every SAM layer is named under its stack, so it falls in its app's scope.

SAM names an ``AWS::Serverless::LayerVersion`` without ``LayerName`` after its
logical id (``DepsLayer``): outside ``sr-<app>-``, and layers cannot be tagged, so
the app's execution policy (setup/target-app.yaml) refuses it on AWS and on the
local engine alike. Publish names such a layer ``${AWS::StackName}-<LogicalId>``
(under the app's stacks, hence its scope) and records what it named under
``Metadata.StackRelay.NamedLayers``, as it does for the permissions boundary
(stackrelay.boundary). A layer with a ``LayerName`` is left alone.

Limit: a layer name has at most 140 characters; a review stack of a very long
branch (up to 128) with a long logical id can exceed it (CloudFormation then says
so); set ``LayerName`` for such a layer.
"""

from __future__ import annotations

from typing import Any

METADATA_KEY = "NamedLayers"
_LAYER = "AWS::Serverless::LayerVersion"


def apply(template: dict[str, Any]) -> list[str]:
    """Name every unnamed SAM layer after its stack; the logical ids it named."""
    named = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != _LAYER:
            continue
        props = resource.setdefault("Properties", {})
        if isinstance(props, dict) and not props.get("LayerName"):
            props["LayerName"] = {"Fn::Sub": "${AWS::StackName}-" + str(logical_id)}
            named.append(str(logical_id))
    if named:
        metadata = template.setdefault("Metadata", {}).setdefault("StackRelay", {})
        metadata[METADATA_KEY] = named
    return named


def applied(template: dict[str, Any]) -> list[str]:
    """The layers ``apply`` named in a (packaged) template."""
    stackrelay = ((template.get("Metadata") or {}).get("StackRelay")) or {}
    value = stackrelay.get(METADATA_KEY)
    return [str(v) for v in value] if isinstance(value, list) else []


def applied_note(named: list[str]) -> str | None:
    """One line for people (publish output)."""
    if not named:
        return None
    return (
        f"StackRelay named the layer(s) {', '.join(named)} ${{AWS::StackName}}-<LogicalId>: "
        "SAM would name them after their logical id, outside the app's names the target "
        "accounts allow. Set LayerName to make this explicit."
    )
