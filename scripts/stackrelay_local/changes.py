"""Change-set ``Changes`` the way CloudFormation reports them.

moto lists only Action/LogicalResourceId/ResourceType. We diff the old and new
(transformed) resource definitions ourselves and derive ``Replacement`` and
``Scope``/``Details`` from a small per-type table of properties whose change
forces a new physical resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Properties whose change replaces the resource ("Always"); others are "Never".
REPLACING_PROPERTIES: dict[str, set[str]] = {
    "AWS::DynamoDB::Table": {"TableName", "KeySchema", "LocalSecondaryIndexes"},
    "AWS::Lambda::Function": {"FunctionName", "PackageType"},
    "AWS::IAM::Role": {"RoleName", "Path"},
    "AWS::IAM::ManagedPolicy": {"ManagedPolicyName", "Path"},
    "AWS::S3::Bucket": {"BucketName"},
    "AWS::SQS::Queue": {"QueueName", "FifoQueue"},
    "AWS::SNS::Topic": {"TopicName", "FifoTopic"},
    "AWS::StepFunctions::StateMachine": {"StateMachineName", "StateMachineType"},
    "AWS::Logs::LogGroup": {"LogGroupName"},
    "AWS::ApiGateway::RestApi": set(),
    "AWS::Events::Rule": {"Name", "EventBusName"},
}
# Properties whose change may or may not replace (depends on the new value).
CONDITIONAL_PROPERTIES: dict[str, set[str]] = {
    "AWS::DynamoDB::Table": {"AttributeDefinitions"},
}


@dataclass
class ResourceChange:
    """Serialised by moto as DescribeChangeSet's ``ResourceChange``."""

    action: str
    logical_resource_id: str
    resource_type: str
    physical_resource_id: str | None = None
    replacement: str | None = None
    scope: list[str] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)


def diff_resources(
    old: dict[str, Any], new: dict[str, Any], physical_ids: dict[str, str] | None = None
) -> list[ResourceChange]:
    """Changes from template ``old`` to ``new`` (both already transformed)."""
    physical_ids = physical_ids or {}
    old_res: dict[str, Any] = old.get("Resources") or {}
    new_res: dict[str, Any] = new.get("Resources") or {}
    changes: list[ResourceChange] = []
    for lid, resource in new_res.items():
        kind = resource.get("Type", "")
        if lid not in old_res:
            changes.append(ResourceChange("Add", lid, kind))
            continue
        before = old_res[lid]
        if before == resource:
            continue
        if before.get("Type") != kind:
            changes.append(
                ResourceChange("Modify", lid, kind, physical_ids.get(lid), "True", ["Properties"])
            )
            continue
        changes.append(_modify(lid, kind, before, resource, physical_ids.get(lid)))
    for lid, resource in old_res.items():
        if lid not in new_res:
            changes.append(
                ResourceChange("Remove", lid, resource.get("Type", ""), physical_ids.get(lid))
            )
    return changes


def _modify(
    lid: str, kind: str, before: dict[str, Any], after: dict[str, Any], physical: str | None
) -> ResourceChange:
    old_props = before.get("Properties") or {}
    new_props = after.get("Properties") or {}
    details: list[dict[str, Any]] = []
    scope: list[str] = []
    replacing = REPLACING_PROPERTIES.get(kind, set())
    conditional = CONDITIONAL_PROPERTIES.get(kind, set())
    verdicts: set[str] = set()
    for name in sorted(set(old_props) | set(new_props)):
        if old_props.get(name) == new_props.get(name):
            continue
        if name in replacing:
            recreation = "Always"
        elif name in conditional:
            recreation = "Conditionally"
        else:
            recreation = "Never"
        verdicts.add(recreation)
        details.append(
            {
                "Target": {
                    "Attribute": "Properties",
                    "Name": name,
                    "RequiresRecreation": recreation,
                },
                "Evaluation": "Static",
                "ChangeSource": "DirectModification",
            }
        )
    if details:
        scope.append("Properties")
    for attribute in ("Metadata", "DeletionPolicy", "UpdateReplacePolicy", "DependsOn"):
        if before.get(attribute) != after.get(attribute):
            scope.append(attribute if attribute != "DependsOn" else "Properties")
    if "Always" in verdicts:
        replacement = "True"
    elif "Conditionally" in verdicts:
        replacement = "Conditional"
    else:
        replacement = "False"
    return ResourceChange("Modify", lid, kind, physical, replacement, sorted(set(scope)), details)
