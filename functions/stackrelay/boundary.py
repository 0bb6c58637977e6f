"""Every role an app creates carries the target account's permissions boundary.

The target accounts' CloudFormation execution role may create or change roles
only when the boundary ``StackRelayAppPermissionsBoundary`` is attached
(setup/target-account.yaml). An app that leaves it out (any `sam init` app)
would fail on AWS with "not authorized to perform: iam:CreateRole".

Decision (issue 12): StackRelay *applies* the boundary at publish to every
role-creating resource that has none, and says so: the packaged template
records what it applied under ``Metadata.StackRelay.AppliedPermissionsBoundary``
and the change summary shows it (``applied_note``). A resource that sets a
*different* boundary is left alone: that is the app's explicit choice, and the
execution role refuses it on AWS and on the local engine alike.
"""

from __future__ import annotations

from typing import Any

DEFAULT_BOUNDARY_NAME = "StackRelayAppPermissionsBoundary"
METADATA_KEY = "AppliedPermissionsBoundary"

# Resource type -> the property that, when set, means SAM creates no role (the app
# brings its own, e.g. Role: !GetAtt X.Arn); None when the resource *is* a role.
_ROLE_MAKERS: dict[str, str | None] = {
    "AWS::IAM::Role": None,
    "AWS::Serverless::Function": "Role",
    "AWS::Serverless::StateMachine": "Role",
}


def boundary_arn(name: str = DEFAULT_BOUNDARY_NAME) -> dict[str, str]:
    """The boundary's ARN in whichever account the stack lands (no account id baked in)."""
    return {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/" + name}


def missing(template: dict[str, Any]) -> list[str]:
    """Logical ids of resources that create a role without a permissions boundary."""
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    found = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        if kind not in _ROLE_MAKERS:
            continue
        props = resource.get("Properties") or {}
        own_role = _ROLE_MAKERS[kind]
        if own_role is not None and props.get(own_role):
            continue
        inherited = kind == "AWS::Serverless::Function" and "PermissionsBoundary" in globals_fn
        if "PermissionsBoundary" not in props and not inherited:
            found.append(str(logical_id))
    return found


def apply(template: dict[str, Any], name: str = DEFAULT_BOUNDARY_NAME) -> list[str]:
    """Set the boundary on every role-creating resource without one; what was changed.

    Mutates ``template`` and records the change in its top-level Metadata.
    """
    changed = missing(template)
    for logical_id in changed:
        resource = template["Resources"][logical_id]
        resource.setdefault("Properties", {})["PermissionsBoundary"] = boundary_arn(name)
    if changed:
        metadata = template.setdefault("Metadata", {}).setdefault("StackRelay", {})
        metadata[METADATA_KEY] = {"boundary": name, "resources": changed}
    return changed


def applied(template: dict[str, Any]) -> dict[str, Any] | None:
    """What ``apply`` recorded in a (packaged or deployed) template, if anything."""
    stackrelay = ((template.get("Metadata") or {}).get("StackRelay")) or {}
    value = stackrelay.get(METADATA_KEY)
    return value if isinstance(value, dict) and value.get("resources") else None


def applied_note(record: dict[str, Any] | None) -> str | None:
    """One line for people (publish output, change summary)."""
    if not record:
        return None
    names = ", ".join(record["resources"])
    return (
        f"StackRelay added the permissions boundary {record['boundary']} to the role(s) of "
        f"{names}: the target accounts only allow roles under it. Add "
        "`PermissionsBoundary: !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/"
        f"{record['boundary']}` (Globals.Function for functions) to make this explicit."
    )
