"""Every role an app creates carries its app's permissions boundary.

Each app has its own boundary in every target account,
``StackRelayAppPermissionsBoundary-<app>`` (setup/target-app.yaml), which allows
only that app's resources (``sr-<app>-*``). The app's CloudFormation execution role
may create or change roles only when exactly that boundary is attached, so an app
cannot mint a role that escapes it. An app that leaves it out (any `sam init` app)
would fail on AWS with "not authorized to perform: iam:CreateRole".

Decision (issue 12): StackRelay *applies* the app's boundary at publish to every
role-creating resource that has none, and says so: the packaged template records
what it applied under ``Metadata.StackRelay.AppliedPermissionsBoundary`` and the
change summary shows it (``applied_note``). A reference to the shared boundary of
earlier releases (``StackRelayAppPermissionsBoundary`` without an app) is replaced by
the app's the same way (issue 11: per-app isolation). A resource that sets any
*other* boundary is left alone: that is the app's explicit choice, and the execution
role refuses it on AWS and on the local engine alike.
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


def name_for(app: str) -> str:
    """The app's own permissions boundary (a managed policy in each target account)."""
    return f"{DEFAULT_BOUNDARY_NAME}-{app}"


def _is_shared(value: Any) -> bool:
    """A reference to the shared boundary of earlier releases (no app in its name)."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        value = value["Fn::Sub"]
    return isinstance(value, str) and value.endswith(f":policy/{DEFAULT_BOUNDARY_NAME}")


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
    """Set boundary ``name`` on every role-creating resource without one; what changed.

    A reference to the shared boundary (``_is_shared``) is replaced by ``name`` too.
    Mutates ``template`` and records the change in its top-level Metadata.
    """
    changed = missing(template)
    for logical_id in changed:
        resource = template["Resources"][logical_id]
        resource.setdefault("Properties", {})["PermissionsBoundary"] = boundary_arn(name)
    if name != DEFAULT_BOUNDARY_NAME:
        globals_fn = (template.get("Globals") or {}).get("Function") or {}
        if _is_shared(globals_fn.get("PermissionsBoundary")):
            globals_fn["PermissionsBoundary"] = boundary_arn(name)
            changed.append("Globals.Function")
        for logical_id, resource in (template.get("Resources") or {}).items():
            props = (resource or {}).get("Properties") if isinstance(resource, dict) else None
            if isinstance(props, dict) and _is_shared(props.get("PermissionsBoundary")):
                props["PermissionsBoundary"] = boundary_arn(name)
                changed.append(str(logical_id))
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
        f"StackRelay set the permissions boundary {record['boundary']} on the role(s) of "
        f"{names}: the target accounts only allow this app's roles under it. Add "
        "`PermissionsBoundary: !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/"
        f"{record['boundary']}` (Globals.Function for functions) to make this explicit."
    )
