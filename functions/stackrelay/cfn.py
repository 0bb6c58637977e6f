"""CloudFormation operations, each taking a client acting in the target account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from stackrelay.errors import ChangeSetFailed

NO_CHANGES_REASONS = (
    "The submitted information didn't contain changes",
    "No updates are to be performed",
)
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def error_message(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Message", str(exc))


def _missing(exc: ClientError) -> bool:
    message = error_message(exc)
    return error_code(exc) in {
        "ValidationError",
        "ChangeSetNotFound",
        "ChangeSetNotFoundException",
    } and ("does not exist" in message or "not found" in message.lower())


def describe_stack(cfn: Any, stack: str) -> dict[str, Any] | None:
    """The stack, or None when there is none (never created, or deleted)."""
    try:
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    return stacks[0]


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def describe_change_set(cfn: Any, stack: str, name: str) -> dict[str, Any] | None:
    """The whole change set (every page of Changes), or None if it is gone."""
    try:
        page = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    changes = list(page.get("Changes") or [])
    while page.get("NextToken"):
        page = cfn.describe_change_set(
            StackName=stack, ChangeSetName=name, NextToken=page["NextToken"]
        )
        changes.extend(page.get("Changes") or [])
    return {**page, "Changes": changes}


def create_change_set(
    cfn: Any,
    *,
    stack: str,
    name: str,
    change_set_type: str,
    template_url: str,
    parameters: dict[str, str],
    tags: dict[str, str],
    role_arn: str | None,
    description: str,
) -> str:
    """Create the change set, or return the one this execution already made."""
    existing = describe_change_set(cfn, stack, name)
    if existing is not None:
        return str(existing["ChangeSetId"])
    request: dict[str, Any] = {
        "StackName": stack,
        "ChangeSetName": name,
        "ChangeSetType": change_set_type,
        "TemplateURL": template_url,
        "Parameters": [
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())
        ],
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        "Capabilities": CAPABILITIES,
        "Description": description[:1024],
    }
    if role_arn:
        request["RoleARN"] = role_arn
    try:
        return str(cfn.create_change_set(**request)["Id"])
    except ClientError as exc:
        if error_code(exc) == "AlreadyExistsException":
            again = describe_change_set(cfn, stack, name)
            if again is not None:
                return str(again["ChangeSetId"])
        if error_code(exc) == "ValidationError":
            message = error_message(exc)
            if role_arn and "cannot be assumed" in message:
                message += (
                    f". {role_arn.rsplit('/', 1)[-1]} is the app's own execution role: "
                    "deploy setup/target-app.yaml for the app in that account "
                    "(docs/setup.md, step 3b)"
                )
            raise ChangeSetFailed(
                f"CloudFormation refused the change set for {stack}: {message}"
            ) from None
        raise


def change_set_template(cfn: Any, stack: str, name: str) -> dict[str, Any] | None:
    """The template a change set was created from (as submitted), or None if unreadable."""
    from stackrelay import templates

    try:
        body = cfn.get_template(StackName=stack, ChangeSetName=name, TemplateStage="Original")[
            "TemplateBody"
        ]
    except ClientError:
        return None
    if isinstance(body, dict):
        return body
    try:
        return templates.load(str(body))
    except ValueError:
        return None


def is_no_changes(change_set: dict[str, Any]) -> bool:
    reason = change_set.get("StatusReason") or ""
    return change_set.get("Status") == "FAILED" and any(r in reason for r in NO_CHANGES_REASONS)


def delete_change_set(cfn: Any, stack: str, name: str) -> None:
    """Delete the change set; one that is already gone is fine."""
    try:
        cfn.delete_change_set(StackName=stack, ChangeSetName=name)
    except ClientError as exc:
        if not _missing(exc):
            raise


def _failed_events(cfn: Any, stack: str, since: datetime | None) -> Iterator[dict[str, Any]]:
    """Every *_FAILED event since ``since``, newest first (CloudFormation's order)."""
    paginator = cfn.get_paginator("describe_stack_events")
    for page in paginator.paginate(StackName=stack):
        for event in page["StackEvents"]:
            if since is not None and event["Timestamp"] < since:
                return
            if event.get("ResourceStatus", "").endswith("_FAILED"):
                yield event


def _is_stack_event(event: dict[str, Any]) -> bool:
    return event.get("ResourceType") == "AWS::CloudFormation::Stack"


def first_failure(cfn: Any, stack: str, since: datetime | None = None) -> tuple[str, str] | None:
    """(logical id, reason) of the first resource that failed, oldest first.

    CloudFormation lists events newest first; the *first* failure is the
    cause, the rest are usually "Resource creation cancelled". Without a
    failed resource, the stack's own failure reason.
    """
    events = list(_failed_events(cfn, stack, since))
    resources = [e for e in events if not _is_stack_event(e)]
    if resources:
        first = resources[-1]
        return first["LogicalResourceId"], first.get("ResourceStatusReason") or "no reason given"
    if events:
        return stack, events[-1].get("ResourceStatusReason") or "no reason given"
    return None


def failed_resources(cfn: Any, stack: str, since: datetime | None = None) -> list[tuple[str, str]]:
    """(logical id, reason) of every resource that failed since ``since``, oldest first.

    A failed delete names each resource that would not go; the stack's own
    event is left out.
    """
    found: dict[str, str] = {}
    for event in _failed_events(cfn, stack, since):
        if not _is_stack_event(event):
            # Newest first: the oldest failure of a resource overwrites later ones.
            found[event["LogicalResourceId"]] = event.get("ResourceStatusReason") or "no reason"
    return list(reversed(list(found.items())))
